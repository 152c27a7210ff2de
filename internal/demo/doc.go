// Package demo runs `pgherd demo`: a complete pgherd on one machine, with
// nothing to configure. It starts a throwaway PostgreSQL cluster from the
// local server binaries (or uses an existing server), creates four
// databases holding the same small shop (customers, products, orders, an
// analytics schema), gives each its own least-privilege login role from
// package roles, and serves them as the four endpoints of the
// multi-endpoint design:
//
//	/app1/mcp  user_ro    /app2/mcp  user_rw
//	/app3/mcp  admin_ro   /app4/mcp  admin_rw
//	/mcp       the main endpoint (server information, calculate_stats)
//
// It prints the endpoints and ready-to-paste client configuration, serves
// until its context ends, then removes everything it created. Connection
// URIs, which carry the roles' random passwords, reach the configuration
// through an environment function only: they are never written to disk or
// printed.
package demo
