// Package console is pgherd's operator console: web pages served from the
// binary at server.console.path (/ui) that show the herd at a glance
// (endpoints, state, pools, call rates, worst health finding), the tool
// calls running and finished (live, over server-sent events, with a cancel
// button that cancels the statement in PostgreSQL), each endpoint's health
// checks and top queries, and a plan viewer that draws explain_query's
// plan as a tree.
//
// # What it reuses
//
// The console adds no second path to the databases. Live calls come from
// the observe seam ([Live] is one more observer of every call record).
// Health, top queries and plans are tool calls — analyze_db_health,
// get_top_queries, explain_query — made by an in-process MCP client
// through the server's own HTTP handler with the operator's credential, so
// they pass the same authentication, scopes, rate limits, SQL validation
// and access mode as any client's, and show up in the log, metrics, audit
// and live calls as the operator's.
//
// # Access
//
// With auth.mode none on a loopback address the console needs no sign-in.
// Otherwise an operator signs in with an API key or JWT that the
// server-wide authentication accepts and that has the "console" scope;
// the session lives in memory (HttpOnly, SameSite=Strict cookie; the key
// is checked again on every request, so a revoked key ends the session),
// every action carries the session's CSRF token, and the HTTP layer
// applies the same Host and Origin checks as on the MCP paths.
//
// The pages are plain HTML, CSS and JavaScript embedded with embed: no
// build step, no external resources (the Content-Security-Policy allows
// this origin only).
package console
