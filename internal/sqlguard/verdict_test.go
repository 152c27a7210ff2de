package sqlguard_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/pgherd/pgherd/internal/access"
	"github.com/pgherd/pgherd/internal/sqlguard"
)

// verdict flags, to keep the tables short.
const (
	ro   = 1 << iota // ReadOnly
	noTx             // NoTransaction
	sess             // SessionState
)

type verdictCase struct {
	mode    access.Mode
	sql     string
	command string
	flags   int
	params  int
}

func checkVerdicts(t *testing.T, tests []verdictCase) {
	t.Helper()
	for _, tt := range tests {
		v, err := sqlguard.Check(tt.sql, tt.mode)
		if err != nil {
			t.Errorf("Check(%q, %s) = %v, want allowed", tt.sql, tt.mode, err)
			continue
		}
		got := 0
		if v.ReadOnly {
			got |= ro
		}
		if v.NoTransaction {
			got |= noTx
		}
		if v.SessionState {
			got |= sess
		}
		if v.Command != tt.command || got != tt.flags || v.Params != tt.params {
			t.Errorf("Check(%q, %s) = %s ro=%t noTx=%t session=%t params=%d, want %s ro=%t noTx=%t session=%t params=%d",
				tt.sql, tt.mode, v.Command, v.ReadOnly, v.NoTransaction, v.SessionState, v.Params,
				tt.command, tt.flags&ro != 0, tt.flags&noTx != 0, tt.flags&sess != 0, tt.params)
		}
	}
}

func TestAllowedQueries(t *testing.T) {
	checkVerdicts(t, []verdictCase{
		{userRO, "SELECT 1", "SELECT", ro, 0},
		{userRO, "select 1;", "SELECT", ro, 0},
		{userRO, "VALUES (1), (2)", "SELECT", ro, 0},
		{userRO, "TABLE accounts", "SELECT", ro, 0},
		{userRO, "SELECT * FROM public.accounts a JOIN orders o ON o.account_id = a.id", "SELECT", ro, 0},
		{userRO, "SELECT * FROM public.pg_notes", "SELECT", ro, 0},
		{userRO, "SELECT * FROM accounts WHERE id = $1 AND name = $3", "SELECT", ro, 3},
		{userRO, "WITH x AS (SELECT $2::int AS n) SELECT n FROM x", "SELECT", ro, 2},
		{userRO, "WITH pg_class AS (SELECT 1 AS a) SELECT a FROM pg_class", "SELECT", ro, 0},
		{userRO, "WITH a AS (SELECT 1), pg_b AS (SELECT * FROM a) SELECT * FROM pg_b", "SELECT", ro, 0},
		{userRO, "WITH RECURSIVE pg_r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM pg_r WHERE n < 5) SELECT * FROM pg_r", "SELECT", ro, 0},
		{userRO, "WITH RECURSIVE a AS (SELECT * FROM pg_b), pg_b AS (SELECT 1) SELECT * FROM a", "SELECT", ro, 0},
		{userRO, "WITH pg_x AS (SELECT 1) SELECT (SELECT count(*) FROM pg_x), * FROM (SELECT * FROM pg_x) s", "SELECT", ro, 0},
		{userRO, "SELECT lower(name), pg_catalog.upper(name), now(), count(*) OVER () FROM accounts", "SELECT", ro, 0},
		{userRO, "SELECT extract(year FROM created_at), trim(name), position('a' IN name), substring(name FROM 1 FOR 2), created_at AT TIME ZONE 'UTC', name COLLATE \"C\", name SIMILAR TO 'a%' FROM accounts", "SELECT", ro, 0},
		{userRO, "SELECT coalesce(a, b), nullif(a, b), greatest(a, b), least(a, b), current_date, current_user, a IS DISTINCT FROM b FROM t", "SELECT", ro, 0},
		{userRO, "SELECT xmlelement(name x, xmlattributes(1 AS a)), xmlforest(1 AS a), xmlparse(document '<a/>'), xmlserialize(content '<a/>'::xml AS text)", "SELECT", ro, 0},
		{userRO, "SELECT ts_rewrite('a'::tsquery, 'a'::tsquery, 'b'::tsquery), to_tsvector('english', 'x')", "SELECT", ro, 0},
		{userRO, "SELECT NULL::priority, NULL::public.priority, NULL::pg_catalog.int4, '1'::integer, NULL::pg_authid", "SELECT", ro, 0},
		{userRO, "SELECT * FROM orders TABLESAMPLE BERNOULLI (10) REPEATABLE (42)", "SELECT", ro, 0},
		{userRO, "SELECT 1 OPERATOR(pg_catalog.+) 1, 1 = ANY (ARRAY[1]), 'a' ~ 'b'", "SELECT", ro, 0},
		{userRO, "SELECT ctid, xmin, tableoid FROM accounts", "SELECT", ro, 0},
		{userRW, "SELECT * FROM accounts FOR UPDATE", "SELECT", 0, 0},
		{userRW, "SELECT * FROM accounts FOR NO KEY UPDATE SKIP LOCKED", "SELECT", 0, 0},
		{userRW, "INSERT INTO accounts (name) VALUES ($1) RETURNING id", "INSERT", 0, 1},
		{userRW, "INSERT INTO accounts (name, email) VALUES ('a', 'b') ON CONFLICT (email) DO UPDATE SET name = EXCLUDED.name", "INSERT", 0, 0},
		{userRW, "UPDATE accounts SET balance = balance + $2 WHERE id = $1", "UPDATE", 0, 2},
		{userRW, "DELETE FROM orders o USING accounts a WHERE a.id = o.account_id", "DELETE", 0, 0},
		{userRW, "MERGE INTO accounts a USING (VALUES (1)) v(id) ON a.id = v.id WHEN MATCHED THEN DELETE", "MERGE", 0, 0},
		{userRW, "WITH d AS (DELETE FROM orders RETURNING *) INSERT INTO public.pg_notes SELECT id, status FROM d", "INSERT", 0, 0},
		{userRW, "WITH d AS (DELETE FROM orders RETURNING *) SELECT count(*) FROM d", "SELECT", 0, 0},
		{userRW, "WITH pg_x AS (SELECT 1 AS a) INSERT INTO public.pg_notes (id) SELECT a FROM pg_x", "INSERT", 0, 0},
		{adminRO, "SELECT * FROM pg_class JOIN pg_namespace n ON n.oid = relnamespace", "SELECT", ro, 0},
		{adminRO, "SELECT * FROM secret.tokens, information_schema.tables", "SELECT", ro, 0},
		{adminRO, "SELECT pg_size_pretty(pg_total_relation_size('accounts'::regclass)), has_table_privilege('accounts', 'SELECT'), pg_stat_get_numscans(1)", "SELECT", ro, 0},
		{adminRO, "SELECT pg_catalog.pg_get_viewdef('account_totals'), current_setting('work_mem'), version()", "SELECT", ro, 0},
		{adminRO, "SHOW work_mem", "SHOW", ro, 0},
		{adminRO, "SHOW ALL", "SHOW", ro, 0},
		{adminRO, "EXPLAIN SELECT * FROM orders WHERE id = $1", "EXPLAIN", ro, 1},
		{adminRO, "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT count(*) FROM orders", "EXPLAIN", ro, 0},
		{adminRO, "EXPLAIN ANALYZE VERBOSE SELECT 1", "EXPLAIN", ro, 0},
		{adminRO, "EXPLAIN DELETE FROM orders", "EXPLAIN", ro, 0},
		{adminRO, "WITH pg_authid AS (SELECT 1 AS a) SELECT a FROM pg_authid", "SELECT", ro, 0},
	})
}

func TestAdminRWClassification(t *testing.T) {
	checkVerdicts(t, []verdictCase{
		{adminRW, "SELECT 1", "SELECT", ro, 0},
		{adminRW, "SELECT pg_relation_size('t'), lower('A')", "SELECT", ro, 0},
		{adminRW, "SELECT * FROM t FOR UPDATE", "SELECT", 0, 0},
		{adminRW, "SELECT my_function()", "SELECT", sess, 0},
		{adminRW, "SELECT public.lower('A')", "SELECT", sess, 0},
		{adminRW, "SELECT set_config('a', 'b', false)", "SELECT", sess, 0},
		{adminRW, "SELECT set_config('a', 'b', true)", "SELECT", 0, 0},
		{adminRW, "SELECT set_config('a', 'b', $1)", "SELECT", sess, 1},
		{adminRW, "SELECT pg_advisory_lock(1)", "SELECT", sess, 0},
		{adminRW, "SELECT setseed(0.5)", "SELECT", sess, 0},
		{adminRW, "SELECT * INTO x FROM t", "SELECT", 0, 0},
		{adminRW, "SELECT * INTO TEMP x FROM t", "SELECT", sess, 0},
		{adminRW, "SELECT * FROM t TABLESAMPLE system_rows (1)", "SELECT", sess, 0},
		{adminRW, "WITH d AS (DELETE FROM t RETURNING 1) SELECT 1", "SELECT", 0, 0},
		{adminRW, "SELECT * FROM pg_temp.t", "SELECT", ro | sess, 0},
		{adminRW, "INSERT INTO t VALUES ($1)", "INSERT", 0, 1},
		{adminRW, "UPDATE t SET a = 1", "UPDATE", 0, 0},
		{adminRW, "DELETE FROM t", "DELETE", 0, 0},
		{adminRW, "MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE", "MERGE", 0, 0},
		{adminRW, "SHOW work_mem", "SHOW", ro, 0},
		{adminRW, "EXPLAIN SELECT 1", "EXPLAIN", ro, 0},
		{adminRW, "EXPLAIN SELECT my_function()", "EXPLAIN", sess, 0},
		{adminRW, "EXPLAIN ANALYZE DELETE FROM t", "EXPLAIN", 0, 0},
		{adminRW, "EXPLAIN ANALYZE SELECT set_config('a', 'b', false)", "EXPLAIN", sess, 0},
		{adminRW, "BEGIN", "BEGIN", noTx | sess, 0},
		{adminRW, "START TRANSACTION ISOLATION LEVEL SERIALIZABLE", "START TRANSACTION", noTx | sess, 0},
		{adminRW, "COMMIT", "COMMIT", noTx | sess, 0},
		{adminRW, "END", "COMMIT", noTx | sess, 0},
		{adminRW, "ROLLBACK", "ROLLBACK", noTx | sess, 0},
		{adminRW, "ABORT", "ROLLBACK", noTx | sess, 0},
		{adminRW, "SAVEPOINT s", "SAVEPOINT", noTx | sess, 0},
		{adminRW, "RELEASE SAVEPOINT s", "RELEASE", noTx | sess, 0},
		{adminRW, "ROLLBACK TO SAVEPOINT s", "ROLLBACK", noTx | sess, 0},
		{adminRW, "PREPARE TRANSACTION 'x'", "PREPARE TRANSACTION", noTx | sess, 0},
		{adminRW, "COMMIT PREPARED 'x'", "COMMIT PREPARED", noTx | sess, 0},
		{adminRW, "ROLLBACK PREPARED 'x'", "ROLLBACK PREPARED", noTx | sess, 0},
		{adminRW, "SET work_mem = '1MB'", "SET", sess, 0},
		{adminRW, "SET SESSION work_mem = '1MB'", "SET", sess, 0},
		{adminRW, "SET LOCAL work_mem = '1MB'", "SET", 0, 0},
		{adminRW, "SET TIME ZONE 'UTC'", "SET", sess, 0},
		{adminRW, "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", "SET", 0, 0},
		{adminRW, "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", "SET", sess, 0},
		{adminRW, "SET ROLE other", "SET", sess, 0},
		{adminRW, "SET LOCAL ROLE other", "SET", 0, 0},
		{adminRW, "SET SESSION AUTHORIZATION other", "SET", sess, 0},
		{adminRW, "RESET work_mem", "RESET", sess, 0},
		{adminRW, "RESET ALL", "RESET", sess, 0},
		{adminRW, "PREPARE p AS SELECT 1", "PREPARE", sess, 0},
		{adminRW, "PREPARE p(int) AS SELECT $1", "PREPARE", sess, 0},
		{adminRW, "CREATE FUNCTION f(int) RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT $1; END", "CREATE FUNCTION", 0, 0},
		{adminRW, "DECLARE c CURSOR FOR SELECT $2", "DECLARE CURSOR", 0, 2},
		{adminRW, "EXECUTE p", "EXECUTE", 0, 0},
		{adminRW, "DEALLOCATE p", "DEALLOCATE", sess, 0},
		{adminRW, "DEALLOCATE ALL", "DEALLOCATE ALL", sess, 0},
		{adminRW, "DECLARE c CURSOR FOR SELECT 1", "DECLARE CURSOR", 0, 0},
		{adminRW, "DECLARE c SCROLL CURSOR WITH HOLD FOR SELECT 1", "DECLARE CURSOR", sess, 0},
		{adminRW, "FETCH 10 FROM c", "FETCH", 0, 0},
		{adminRW, "MOVE LAST IN c", "MOVE", 0, 0},
		{adminRW, "CLOSE c", "CLOSE CURSOR", 0, 0},
		{adminRW, "CLOSE ALL", "CLOSE CURSOR ALL", 0, 0},
		{adminRW, "LISTEN c", "LISTEN", sess, 0},
		{adminRW, "UNLISTEN *", "UNLISTEN", sess, 0},
		{adminRW, "NOTIFY c, 'x'", "NOTIFY", 0, 0},
		{adminRW, "LOAD 'auto_explain'", "LOAD", sess, 0},
		{adminRW, "DISCARD ALL", "DISCARD ALL", noTx | sess, 0},
		{adminRW, "DISCARD PLANS", "DISCARD PLANS", sess, 0},
		{adminRW, "DISCARD TEMP", "DISCARD TEMP", sess, 0},
		{adminRW, "DO $$BEGIN END$$", "DO", sess, 0},
		{adminRW, "CALL p()", "CALL", sess, 0},
		{adminRW, "VACUUM", "VACUUM", noTx, 0},
		{adminRW, "VACUUM (ANALYZE, VERBOSE) t", "VACUUM", noTx, 0},
		{adminRW, "ANALYZE t", "ANALYZE", 0, 0},
		{adminRW, "CLUSTER", "CLUSTER", noTx, 0},
		{adminRW, "CLUSTER t USING i", "CLUSTER", 0, 0},
		{adminRW, "REINDEX TABLE t", "REINDEX", 0, 0},
		{adminRW, "REINDEX TABLE CONCURRENTLY t", "REINDEX", noTx, 0},
		{adminRW, "REINDEX (CONCURRENTLY) INDEX i", "REINDEX", noTx, 0},
		{adminRW, "REINDEX (CONCURRENTLY false) INDEX i", "REINDEX", 0, 0},
		{adminRW, "REINDEX SCHEMA s", "REINDEX", noTx, 0},
		{adminRW, "REINDEX DATABASE d", "REINDEX", noTx, 0},
		{adminRW, "REINDEX SYSTEM d", "REINDEX", noTx, 0},
		{adminRW, "CREATE INDEX i ON t (a)", "CREATE INDEX", 0, 0},
		{adminRW, "CREATE UNIQUE INDEX CONCURRENTLY i ON t (a)", "CREATE INDEX", noTx, 0},
		{adminRW, "DROP INDEX CONCURRENTLY i", "DROP INDEX", noTx, 0},
		{adminRW, "DROP INDEX i", "DROP INDEX", 0, 0},
		{adminRW, "CREATE DATABASE d", "CREATE DATABASE", noTx, 0},
		{adminRW, "DROP DATABASE d", "DROP DATABASE", noTx, 0},
		{adminRW, "ALTER DATABASE d SET TABLESPACE ts", "ALTER DATABASE", noTx, 0},
		{adminRW, "ALTER DATABASE d SET work_mem = '1MB'", "ALTER DATABASE", 0, 0},
		{adminRW, "ALTER DATABASE d RENAME TO e", "ALTER DATABASE", 0, 0},
		{adminRW, "CREATE TABLESPACE ts LOCATION '/tmp'", "CREATE TABLESPACE", noTx, 0},
		{adminRW, "DROP TABLESPACE ts", "DROP TABLESPACE", noTx, 0},
		{adminRW, "ALTER SYSTEM SET work_mem = '1MB'", "ALTER SYSTEM", noTx, 0},
		{adminRW, "CREATE SUBSCRIPTION s CONNECTION 'x' PUBLICATION p", "CREATE SUBSCRIPTION", noTx, 0},
		{adminRW, "DROP SUBSCRIPTION s", "DROP SUBSCRIPTION", noTx, 0},
		{adminRW, "ALTER TABLE p DETACH PARTITION c CONCURRENTLY", "ALTER TABLE", noTx, 0},
		{adminRW, "ALTER TABLE p DETACH PARTITION c", "ALTER TABLE", 0, 0},
		{adminRW, "CREATE TABLE t (a int)", "CREATE TABLE", 0, 0},
		{adminRW, "CREATE TEMP TABLE t (a int)", "CREATE TABLE", sess, 0},
		{adminRW, "CREATE TABLE pg_temp.t (a int)", "CREATE TABLE", sess, 0},
		{adminRW, "CREATE UNLOGGED TABLE t (a int)", "CREATE TABLE", 0, 0},
		{adminRW, "CREATE TABLE t AS SELECT 1", "CREATE TABLE AS", 0, 0},
		{adminRW, "CREATE TEMP TABLE t AS SELECT 1", "CREATE TABLE AS", sess, 0},
		{adminRW, "CREATE MATERIALIZED VIEW m AS SELECT 1", "CREATE MATERIALIZED VIEW", 0, 0},
		{adminRW, "REFRESH MATERIALIZED VIEW CONCURRENTLY m", "REFRESH MATERIALIZED VIEW", 0, 0},
		{adminRW, "CREATE VIEW v AS SELECT 1", "CREATE VIEW", 0, 0},
		{adminRW, "CREATE TEMP VIEW v AS SELECT 1", "CREATE VIEW", sess, 0},
		{adminRW, "CREATE TEMP SEQUENCE s", "CREATE SEQUENCE", sess, 0},
		{adminRW, "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'", "CREATE FUNCTION", 0, 0},
		{adminRW, "CREATE FUNCTION pg_temp.f() RETURNS int LANGUAGE sql AS 'SELECT 1'", "CREATE FUNCTION", sess, 0},
		{adminRW, "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END", "CREATE FUNCTION", 0, 0},
		{adminRW, "CREATE PROCEDURE p() LANGUAGE sql AS 'SELECT 1'", "CREATE PROCEDURE", 0, 0},
		{adminRW, "ALTER FUNCTION f() OWNER TO r", "ALTER FUNCTION", 0, 0},
		{adminRW, "ALTER FUNCTION f() STABLE", "ALTER FUNCTION", 0, 0},
		{adminRW, "ALTER PROCEDURE p() SECURITY DEFINER", "ALTER PROCEDURE", 0, 0},
		{adminRW, "DROP TABLE t", "DROP TABLE", 0, 0},
		{adminRW, "DROP VIEW v", "DROP VIEW", 0, 0},
		{adminRW, "DROP MATERIALIZED VIEW m", "DROP MATERIALIZED VIEW", 0, 0},
		{adminRW, "DROP FUNCTION f()", "DROP FUNCTION", 0, 0},
		{adminRW, "DROP SCHEMA s CASCADE", "DROP SCHEMA", 0, 0},
		{adminRW, "DROP TYPE e", "DROP TYPE", 0, 0},
		{adminRW, "DROP ROLE r", "DROP ROLE", 0, 0},
		{adminRW, "ALTER TABLE t ADD COLUMN b int", "ALTER TABLE", 0, 0},
		{adminRW, "ALTER TABLE t RENAME COLUMN a TO b", "ALTER TABLE", 0, 0},
		{adminRW, "ALTER TABLE t RENAME TO u", "ALTER TABLE", 0, 0},
		{adminRW, "ALTER INDEX i RENAME TO j", "ALTER INDEX", 0, 0},
		{adminRW, "ALTER VIEW v RENAME TO w", "ALTER VIEW", 0, 0},
		{adminRW, "ALTER SEQUENCE s RESTART", "ALTER SEQUENCE", 0, 0},
		{adminRW, "ALTER TABLE t SET SCHEMA s", "ALTER TABLE", 0, 0},
		{adminRW, "ALTER TABLE t OWNER TO r", "ALTER TABLE", 0, 0},
		{adminRW, "ALTER SCHEMA s OWNER TO r", "ALTER SCHEMA", 0, 0},
		{adminRW, "ALTER TYPE e ADD VALUE 'x'", "ALTER TYPE", 0, 0},
		{adminRW, "ALTER TYPE c RENAME ATTRIBUTE a TO b", "ALTER TYPE", 0, 0},
		{adminRW, "ALTER DOMAIN d RENAME CONSTRAINT a TO b", "ALTER DOMAIN", 0, 0},
		{adminRW, "CREATE SCHEMA s", "CREATE SCHEMA", 0, 0},
		{adminRW, "CREATE TYPE e AS ENUM ('a')", "CREATE TYPE", 0, 0},
		{adminRW, "CREATE TYPE c AS (a int)", "CREATE TYPE", 0, 0},
		{adminRW, "CREATE TYPE r AS RANGE (subtype = int4)", "CREATE TYPE", 0, 0},
		{adminRW, "CREATE DOMAIN d AS int", "CREATE DOMAIN", 0, 0},
		{adminRW, "CREATE AGGREGATE a (int) (sfunc = int4pl, stype = int)", "CREATE AGGREGATE", 0, 0},
		{adminRW, "CREATE OPERATOR === (function = int4eq, leftarg = int, rightarg = int)", "CREATE OPERATOR", 0, 0},
		{adminRW, "CREATE COLLATION c (locale = 'C')", "CREATE COLLATION", 0, 0},
		{adminRW, "CREATE EXTENSION hypopg", "CREATE EXTENSION", 0, 0},
		{adminRW, "CREATE ROLE r", "CREATE ROLE", 0, 0},
		{adminRW, "CREATE USER u", "CREATE ROLE", 0, 0},
		{adminRW, "ALTER ROLE r SET work_mem = '1MB'", "ALTER ROLE", 0, 0},
		{adminRW, "ALTER USER u PASSWORD 'x'", "ALTER ROLE", 0, 0},
		{adminRW, "GRANT SELECT ON t TO r", "GRANT", 0, 0},
		{adminRW, "REVOKE SELECT ON t FROM r", "REVOKE", 0, 0},
		{adminRW, "GRANT r TO u", "GRANT", 0, 0},
		{adminRW, "REVOKE r FROM u", "REVOKE", 0, 0},
		{adminRW, "ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO r", "ALTER DEFAULT PRIVILEGES", 0, 0},
		{adminRW, "DROP OWNED BY r", "DROP OWNED", 0, 0},
		{adminRW, "REASSIGN OWNED BY r TO s", "REASSIGN OWNED", 0, 0},
		{adminRW, "TRUNCATE t", "TRUNCATE TABLE", 0, 0},
		{adminRW, "COMMENT ON TABLE t IS 'x'", "COMMENT", 0, 0},
		{adminRW, "COPY t FROM '/tmp/t.csv'", "COPY", 0, 0},
		{adminRW, "COPY (SELECT 1) TO PROGRAM 'id'", "COPY", 0, 0},
		{adminRW, "LOCK TABLE t IN ACCESS EXCLUSIVE MODE", "LOCK TABLE", 0, 0},
		{adminRW, "SET CONSTRAINTS ALL DEFERRED", "SET CONSTRAINTS", 0, 0},
		{adminRW, "CHECKPOINT", "CHECKPOINT", 0, 0},
		{adminRW, "CREATE TRIGGER tr AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()", "CREATE TRIGGER", 0, 0},
		{adminRW, "CREATE EVENT TRIGGER e ON ddl_command_start EXECUTE FUNCTION f()", "CREATE EVENT TRIGGER", 0, 0},
		{adminRW, "CREATE POLICY p ON t USING (true)", "CREATE POLICY", 0, 0},
		{adminRW, "CREATE RULE r AS ON INSERT TO t DO NOTHING", "CREATE RULE", 0, 0},
		{adminRW, "CREATE STATISTICS s ON a, b FROM t", "CREATE STATISTICS", 0, 0},
		{adminRW, "CREATE PUBLICATION p FOR ALL TABLES", "CREATE PUBLICATION", 0, 0},
		{adminRW, "CREATE SERVER s FOREIGN DATA WRAPPER w", "CREATE SERVER", 0, 0},
		{adminRW, "CREATE FOREIGN TABLE f (a int) SERVER s", "CREATE FOREIGN TABLE", 0, 0},
		{adminRW, "IMPORT FOREIGN SCHEMA s FROM SERVER x INTO public", "IMPORT FOREIGN SCHEMA", 0, 0},
		{adminRW, "CREATE CAST (int AS text) WITH INOUT", "CREATE CAST", 0, 0},
		{adminRW, "SECURITY LABEL ON TABLE t IS 'x'", "SECURITY LABEL", 0, 0},
	})
}

func TestCheckExplain(t *testing.T) {
	tests := []struct {
		sql     string
		mode    access.Mode
		analyze bool
		reason  sqlguard.Reason // 0: allowed
		inner   string          // inner command when allowed
		params  int
	}{
		{"SELECT 1", userRO, false, 0, "SELECT", 0},
		{"SELECT * FROM accounts WHERE id = $2", userRO, true, 0, "SELECT", 2},
		{"VALUES (1)", userRO, true, 0, "SELECT", 0},
		{"TABLE accounts", userRW, true, 0, "SELECT", 0},
		{"DELETE FROM orders", userRO, false, sqlguard.StatementNotAllowed, "", 0},
		{"DELETE FROM orders", userRW, false, 0, "DELETE", 0},
		{"DELETE FROM orders", userRW, true, sqlguard.ExplainAnalyzeWrite, "", 0},
		{"WITH d AS (DELETE FROM orders RETURNING 1) SELECT 1", userRO, false, sqlguard.WriteInCTE, "", 0},
		{"WITH d AS (DELETE FROM orders RETURNING 1) SELECT 1", userRW, false, 0, "SELECT", 0},
		{"WITH d AS (DELETE FROM orders RETURNING 1) SELECT 1", userRW, true, sqlguard.ExplainAnalyzeWrite, "", 0},
		{"SELECT * FROM accounts FOR UPDATE", userRW, true, sqlguard.ExplainAnalyzeWrite, "", 0},
		{"SELECT * FROM accounts FOR UPDATE", userRO, false, sqlguard.LockingClause, "", 0},
		{"UPDATE accounts SET a = 1", adminRO, false, 0, "UPDATE", 0},
		{"UPDATE accounts SET a = 1", adminRO, true, sqlguard.ExplainAnalyzeWrite, "", 0},
		{"INSERT INTO t VALUES (1)", adminRW, true, sqlguard.ExplainAnalyzeWrite, "", 0},
		{"INSERT INTO t VALUES ($1)", adminRW, false, 0, "INSERT", 1},
		{"SELECT my_function()", adminRW, true, sqlguard.ExplainAnalyzeWrite, "", 0},
		{"SELECT my_function()", adminRW, false, 0, "SELECT", 0},
		{"SELECT pg_sleep(1)", userRO, false, sqlguard.FunctionNotAllowed, "", 0},
		{"SELECT * FROM secret.tokens", userRW, false, sqlguard.SchemaNotAllowed, "", 0},
		{"SELECT * FROM secret.tokens", adminRO, true, 0, "SELECT", 0},
		{"EXPLAIN SELECT 1", adminRW, false, sqlguard.ExplainNotAllowed, "", 0},
		{"explain analyze select 1", userRO, true, sqlguard.ExplainNotAllowed, "", 0},
		{"VACUUM", adminRW, false, sqlguard.ExplainNotAllowed, "", 0},
		{"CREATE TABLE x AS SELECT 1", adminRW, false, sqlguard.ExplainNotAllowed, "", 0},
		{"SHOW work_mem", adminRO, false, sqlguard.ExplainNotAllowed, "", 0},
		{"SELECT 1; SELECT 2", adminRO, false, sqlguard.MultipleStatements, "", 0},
		{"", userRO, false, sqlguard.Empty, "", 0},
	}
	for _, tt := range tests {
		v, err := sqlguard.CheckExplain(tt.sql, tt.mode, tt.analyze)
		if tt.reason != 0 {
			var e *sqlguard.Error
			if !errors.As(err, &e) || e.Reason != tt.reason {
				t.Errorf("CheckExplain(%q, %s, %t) = %v, want reason %s", tt.sql, tt.mode, tt.analyze, err, tt.reason)
			}
			continue
		}
		if err != nil {
			t.Errorf("CheckExplain(%q, %s, %t) = %v, want allowed", tt.sql, tt.mode, tt.analyze, err)
			continue
		}
		if v.Command != "EXPLAIN" || v.Explain == nil || v.Explain.Analyze != tt.analyze || v.Explain.Inner == nil ||
			v.Explain.Inner.Command != tt.inner || v.Params != tt.params || v.Explain.Inner.Params != tt.params {
			t.Errorf("CheckExplain(%q, %s, %t) = %+v (explain %+v), want EXPLAIN of %s with %d params", tt.sql, tt.mode, tt.analyze, v, v.Explain, tt.inner, tt.params)
		}
		if tt.analyze && (!v.ReadOnly || !slices.Contains(v.Explain.Options, "analyze")) {
			t.Errorf("CheckExplain(%q, %s, true) = %+v (explain %+v), want read-only with the analyze option", tt.sql, tt.mode, v, v.Explain)
		}
	}
}

func TestExplainOptions(t *testing.T) {
	v, err := sqlguard.Check("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT 1", adminRO)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"analyze", "buffers", "format"}; !slices.Equal(v.Explain.Options, want) || !v.Explain.Analyze {
		t.Errorf("Explain = %+v, want analyze with options %v", v.Explain, want)
	}
	if v.Explain.Inner.Command != "SELECT" || !v.Explain.Inner.ReadOnly {
		t.Errorf("Inner = %+v, want a read-only SELECT", v.Explain.Inner)
	}
}

func TestReasonStrings(t *testing.T) {
	seen := map[string]bool{}
	for r := sqlguard.Syntax; r <= sqlguard.InvalidMode; r++ {
		s := r.String()
		if s == "" || seen[s] || s[0] == 'r' && s[:6] == "reason" {
			t.Errorf("Reason(%d).String() = %q: want a unique name", int(r), s)
		}
		seen[s] = true
	}
	if got := sqlguard.Reason(99).String(); got != "reason(99)" {
		t.Errorf("Reason(99).String() = %q", got)
	}
	e := &sqlguard.Error{Reason: sqlguard.Syntax, Message: "bad", Position: 3}
	if e.Error() != "bad (at character 3)" {
		t.Errorf("Error() = %q", e.Error())
	}
	e.Position = 0
	if e.Error() != "bad" {
		t.Errorf("Error() = %q", e.Error())
	}
}
