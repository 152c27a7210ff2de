// Package config holds pgherd's configuration: the types that mirror the YAML
// file, loading with ${VAR} expansion and environment overrides, defaults,
// validation with the key path in every error, and redaction of secrets.
//
// # The file
//
// A YAML mapping with four keys: server (listener and process), log, auth
// (the server-wide authentication default) and endpoints (a map from
// endpoint name to its database):
//
//	server:
//	  host: 0.0.0.0
//	  public_url: https://mcp.example.com
//	auth:
//	  mode: api_key
//	  api_keys:
//	    - name: alice
//	      key: ${ALICE_KEY}
//	endpoints:
//	  app1:
//	    database_uri: ${APP1_DATABASE_URI}
//	    access_mode: user_ro
//
// testdata/example.yaml shows every key with its default and meaning.
// Decoding is strict: an unknown key is an error that suggests the key it
// looks like, and a value of the wrong shape is an error at its key path.
// Anchors, aliases and << merge keys work as in any YAML; top-level keys
// starting with x- are ignored, a place to define anchors
// (x-pool: &pool {max_conns: 20}).
//
// # Environment
//
// Values (never keys) may use ${VAR}, replaced by the variable's value, and
// ${VAR:-default}, which uses default when VAR is unset or empty; $$ is a
// literal $. A variable that is unset, with no default, is an error. The
// replacement is text inside one value, so a variable cannot add keys.
// API keys may be written in plain text only as one whole ${VAR}; otherwise
// the file holds their key_hash.
//
// After the file, these variables override it: TRANSPORT_MODE (stdio, http,
// sse) or MCP_TRANSPORT (stdio, http, streamable-http, sse) set
// server.transport; HTTP_HOST or MCP_HOST server.host; HTTP_PORT or MCP_PORT
// server.port; REQUIRE_AUTH_HEADER (true/false) the required flag of every
// auth block; DATABASE_URI the database of the file's only endpoint, or of an
// endpoint named db when the file has none. Empty values count as unset.
//
// # Errors
//
// [Load] and [Parse] report every problem at once, as [Errors]: one [Error]
// per problem, its Path the key path (endpoints.app1.pool.max_conns,
// auth.api_keys[0].key, or env HTTP_PORT for a variable) and its Message what
// is wrong and how to fix it. Messages never contain a secret.
//
// # Secrets
//
// Connection URIs, API keys and the HS256 secret are [Secret] values: they
// print redacted through fmt (%v, %+v, %#v), slog and encoding/json, and
// [Config.Redacted] gives the whole effective configuration as YAML with
// URIs reduced to user, host and database. [Secret.Reveal] is for the one
// place that connects.
package config
