package catalog

// PrettySize exposes prettySize to the external tests, which compare it
// with the server's pg_size_pretty.
var PrettySize = prettySize
