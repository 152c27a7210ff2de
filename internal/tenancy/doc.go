// Package tenancy maps a caller to the database handle its call uses: the
// pool (the endpoint's own, or the tenant's own when it has credentials of
// its own), the transaction options that confine the call (read-only,
// search_path, role, tenant settings), and a concurrency slot. Tools import
// it; it imports pg, auth and config, never MCP or HTTP.
//
// Pools connect on their own: a database that does not answer delays only
// the calls that need it, never another tenant's pool or a readiness check,
// and no lock is held across network I/O. A slot is released when the call
// is over and its database backend is known to be idle or gone (see
// pg.TxOptions.Hold).
package tenancy
