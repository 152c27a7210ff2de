// Package pg is pgherd's database layer: one connection pool per database
// ([Connect], [Pool]) and the safe executor every tool runs through
// ([Pool.Run], [Pool.Do], [Pool.RunBare]).
//
// The package knows nothing of MCP or of the SQL validator: callers pass in
// what the validator decided (read-only, rollback, public schema only, a
// tenant role and settings, whether a statement may leave session state).
//
// # What a call does
//
// [Pool.Run] acquires a connection (waiting at most PoolOptions.AcquireTimeout,
// then [ErrPoolExhausted]), and in one round trip begins a transaction (BEGIN
// READ ONLY for read-only calls), sets the transaction-local settings that
// differ from the session's (search_path, the tenant settings, the role, and
// timeouts other than the pool's, which are the connections' startup
// parameters), and parses and describes the statement. [Call].Before (the
// owner-code judge) runs next, in the transaction; then the statement
// executes, its rows streamed into a [Result] under the row and byte caps;
// and the transaction ends: COMMIT or ROLLBACK, then DISCARD ALL (a round
// trip of its own). A read-only call that leaves no session state
// (TxOptions.NoSessionState) needs no reset: its ROLLBACK goes with the
// statement's execution, so such a call takes two round trips (three with
// Before's lookups). The connection goes back to the pool, or is destroyed
// when it may carry state (see [Pool.Do]).
//
// # Guarantees
//
//   - User SQL only ever goes through the extended protocol, on the unnamed
//     statement: a string with two statements fails with SQLSTATE 42601, and
//     values are bound as parameters, never spliced into the text. The
//     package never uses the simple protocol or a server-side statement
//     cache for user SQL (a test reads the repository's code to keep it so).
//   - Read-only calls run in a READ ONLY transaction that is rolled back.
//   - Timeouts are transaction-local settings and also the connections'
//     run-time parameters, so statements outside a transaction ([Pool.RunBare])
//     are bounded too.
//   - A cancelled context sends PostgreSQL a cancel request, so the statement
//     stops on the server, not only in the client.
//   - Row and byte caps stop reading at the cap. When nothing is lost by it
//     (a read-only or rolled-back call, or a statement marked ReadOnly) the
//     statement is cancelled on the server and the connection destroyed;
//     a statement that may write is read to its end instead, its extra rows
//     dropped, so a cap never undoes a write.
//   - PoolOptions.MaxMessageBytes caps one protocol message: a larger row is
//     refused from its header, before its body is read ([ErrMessageTooLarge]).
//   - Session state never reaches the next call: DISCARD ALL after every
//     transaction, and destruction of the connection after cancellations,
//     caps, protocol errors, [Tx.Discard], [Call].Discard and [Pool.RunBare].
//     The one exception is a READ ONLY transaction that is rolled back and
//     whose caller promised no session state (TxOptions.NoSessionState, the
//     validator's verdict): its ROLLBACK already undoes every setting, role,
//     LISTEN and cursor it could leave, and READ ONLY refuses temporary
//     objects and sequence values, so the reset is skipped.
//
// # Values
//
// Result values are typed JSON (nil, bool, int64, float64, string,
// json.RawMessage, []any): integers and floats as numbers, int8 and numeric
// beyond float64's exact range as strings, bytea as base64, timestamps as
// ISO 8601, json and jsonb embedded, arrays as JSON arrays, and every other
// type as PostgreSQL's text output. docs/results.md has the full table.
// [Result.Text] renders a result compactly for a language model.
//
// # Errors
//
// Database errors are *[Error] (SQLSTATE, message, detail, hint, position);
// [AsError] finds one in any error chain. The package's own errors wrap
// [ErrPoolExhausted], [ErrPoolClosed], [ErrMessageTooLarge] and [ErrParams]
// and say what to do. No error ever contains a password.
//
// # Trusted SQL
//
// [Tx.Conn] gives code with its own constant SQL (catalog queries, hypopg,
// statistics) the transaction. Such SQL uses parameters for every value. A
// hypopg hypothetical index outlives the transaction and DISCARD ALL: call
// [Tx.Discard] (or hypopg_reset()) after creating one.
package pg
