// Package catalog answers schema-exploration questions from PostgreSQL's
// system catalogs: which objects a schema holds ([ListObjects]), everything
// about one object ([Describe]) and which schemas exist ([ListSchemas]). The
// MCP tools list_objects, get_object_details and list_schemas return these
// typed, JSON-tagged results as structured content; the field names are
// written for the AI agent that reads them.
//
// # Queries
//
// Every query reads pg_catalog directly (not information_schema, which hides
// objects the role does not own and is slow), so an object the role has no
// privilege on is still described. Caller strings — schema, name, pattern —
// only ever travel as query parameters; the SQL text is fixed, assembled
// from constant fragments chosen by object type. The queries work on
// PostgreSQL 13 to 17 without version checks.
//
// [Describe] runs one query per section (columns, constraints, indexes,
// triggers, policies …) and sends them in a single batch when the [Querier]
// can (pgx.Tx, *pgx.Conn and *pgxpool.Pool all can): two round trips for a
// table, one to find the object and one for its sections.
//
// # Transactions
//
// Callers run these functions inside a read-only transaction. A failed
// statement would abort that transaction, so nothing here relies on
// catching an error: values the role may not read (a sequence's last value
// without SELECT or USAGE) are guarded in SQL with has_*_privilege and come
// back absent with a note; arguments PostgreSQL would reject (invalid UTF-8,
// NUL bytes, a LIKE pattern ending in an escape) are refused before any
// query runs, as an [*InvalidArgumentError].
//
// # Locks
//
// Size functions and PostgreSQL's deparsing functions (pg_get_expr,
// pg_get_indexdef, pg_get_viewdef, check constraints, WHEN conditions,
// partition bounds) open the relation and would queue behind another
// session's ACCESS EXCLUSIVE lock (ALTER TABLE, VACUUM FULL, REINDEX), as
// would pg_partition_tree, which this package therefore never calls. When
// such a lock is held or awaited on a relation (its indexes, its TOAST table,
// or for a view the relations it reads), the answer leaves out those values
// and says so in a note; everything read from the catalog alone is still
// there. The caller's lock_timeout bounds the remaining race (a lock taken
// between the check and the read).
//
// Queries call catalog functions without schema qualification: they assume
// pg_catalog is searched first, as it is unless search_path names it later.
//
// # Secrets
//
// User mappings, which hold remote credentials, are never read. Foreign
// server, table and column options whose name suggests a secret (password,
// token, key …) are masked.
//
// # Errors
//
// A missing schema or object is a [*NotFoundError] carrying similar names
// and the kinds that exist under the requested name; a bad argument is an
// [*InvalidArgumentError]. Both messages tell the agent what to try next.
// Database errors are wrapped with what was being read.
package catalog
