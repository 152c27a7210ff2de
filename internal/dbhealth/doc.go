// Package dbhealth inspects one PostgreSQL database the way a DBA would and
// reports what needs attention: invalid, duplicate, unused and bloated
// indexes; tables without primary keys; foreign keys without supporting
// indexes; sequences near exhaustion; wraparound age; vacuum and analyze
// staleness; connections, idle transactions, long queries and lock waits;
// cache hit ratios; replication lag and slots retaining WAL; NOT VALID
// constraints.
//
// Every check is a function of one transaction (the caller's read-only,
// rolled-back transaction from pg.Pool.Do) and the [Thresholds]. It runs
// only constant, trusted SQL and returns typed [Finding]s: a status (ok,
// warning, critical), the evidence (numbers, object names) and a remedy that
// is safe to copy (statements that run one by one, and advice where the fix
// is a setting or a restart). A check whose views the role cannot read
// reports the missing privilege instead of failing the whole run: each check
// runs inside its own savepoint.
//
// docs/intelligence.md explains each check and its thresholds.
package dbhealth
