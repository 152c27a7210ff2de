// Package roles writes the SQL that creates the recommended least-privilege
// PostgreSQL login role for each access mode: the third layer of pgherd's
// defence, after the SQL validator (sqlguard) and the executor (pg). Whatever
// those two miss, the role itself cannot do.
//
// Two sets of statements, both run by a superuser connected to the database
// they are for:
//
//   - [Harden], once per database: takes dangerous defaults away from PUBLIC
//     (creating in the public schema, temporary tables, connecting at all,
//     large objects, advisory locks, pg_notify and other side-effecting
//     built-in functions), keeping them for the role that owns the
//     database's objects.
//   - [Statements], once per login role: creates the role (or updates it,
//     password included, when it exists), confines it (no superuser,
//     CREATEDB, CREATEROLE, REPLICATION or BYPASSRLS; a connection limit;
//     role-level statement_timeout, idle_in_transaction_session_timeout and
//     temp_file_limit) and grants exactly what its [access.Mode] needs.
//
// Statements converges: applied to a role that exists, it first takes away
// what any mode would have granted it, then grants what this mode needs, so
// moving a role from user_rw to user_ro leaves no write privilege behind.
//
// [Apply] runs either list in one transaction. docs/security.md shows the
// statements for sample specs; a test keeps it in step with this package.
package roles
