// Package httpserver serves pgherd's MCP endpoints over HTTP.
//
// Routes, for the main endpoint and for every database endpoint served on its
// own path:
//
//	/mcp, /{name}/mcp           Streamable HTTP (stateless or stateful, per server.session_mode)
//	/sse, /{name}/sse           legacy HTTP+SSE stream (protocol 2024-11-05)
//	/message, /{name}/message   legacy HTTP+SSE client messages (?sessionid=…)
//	/health                     liveness: the process is up
//	/ready                      readiness: every database answers (503 otherwise)
//	/{name}/health              one endpoint's database state
//	/.well-known/oauth-protected-resource/{path}   RFC 9728 metadata of each MCP path
//
// Every MCP path goes through the same chain: request id → cross-origin
// protection → authentication (auth.Policy) → per-tool scope check →
// the go-sdk handler. The *mcp.Server behind each path is built once at
// start-up; nothing is constructed per request.
package httpserver
