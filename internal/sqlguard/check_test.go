package sqlguard_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/pgherd/pgherd/internal/access"
	"github.com/pgherd/pgherd/internal/sqlguard"
)

const (
	userRO  = access.UserRO
	userRW  = access.UserRW
	adminRO = access.AdminRO
	adminRW = access.AdminRW
)

// marker marks, inside a test input, the character an error must point at;
// it is removed before the input is checked (as encoding/csv's tests do).
const marker = "§"

// unmark removes the marker and returns the 1-based character position it
// stood at, or 0 when there is none.
func unmark(s string) (string, int) {
	i := strings.Index(s, marker)
	if i < 0 {
		return s, 0
	}
	return s[:i] + s[i+len(marker):], utf8.RuneCountInString(s[:i]) + 1
}

type refusal struct {
	name   string
	mode   access.Mode
	sql    string // § marks the expected position; no § means 0
	reason sqlguard.Reason
	msg    string // a substring the message must contain
}

func checkRefusals(t *testing.T, tests []refusal) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sql, pos := unmark(tt.sql)
			v, err := sqlguard.Check(sql, tt.mode)
			var e *sqlguard.Error
			if !errors.As(err, &e) {
				t.Fatalf("Check(%q, %s) = %+v, %v; want *Error with reason %s", sql, tt.mode, v, err, tt.reason)
			}
			if e.Reason != tt.reason || e.Position != pos {
				t.Errorf("Check(%q, %s): reason %s at %d (%s), want %s at %d", sql, tt.mode, e.Reason, e.Position, e.Message, tt.reason, pos)
			}
			if !strings.Contains(e.Message, tt.msg) {
				t.Errorf("Check(%q, %s): message %q does not contain %q", sql, tt.mode, e.Message, tt.msg)
			}
			if v != nil {
				t.Errorf("Check(%q, %s) returned a verdict with its error", sql, tt.mode)
			}
		})
	}
}

func TestSyntaxAndShape(t *testing.T) {
	checkRefusals(t, []refusal{
		{"syntax error position", userRO, "SELECT 1 §2", sqlguard.Syntax, `syntax error at or near "2"`},
		{"end of input", userRO, "SELECT * FROM §", sqlguard.Syntax, "syntax error at end of input"},
		{"position counts characters not bytes", adminRW, "SELECT 'ééé' §2", sqlguard.Syntax, `at or near "2"`},
		{"unterminated string", adminRW, "SELECT §'abc", sqlguard.Syntax, "unterminated quoted string"},
		{"unterminated comment", adminRW, "SELECT 1 §/* abc", sqlguard.Syntax, "unterminated /* comment"},
		{"NUL byte", adminRW, "SELECT 1§\x00; DROP TABLE t", sqlguard.Syntax, "NUL byte"},
		{"invalid UTF-8", adminRW, "SELECT 'é§\xff'", sqlguard.Syntax, "not valid UTF-8"},
		{"empty", userRO, "", sqlguard.Empty, "holds no statement"},
		{"whitespace", adminRW, " \r\n\t", sqlguard.Empty, "holds no statement"},
		{"comments only", adminRW, "-- one\n/* two /* nested */ */", sqlguard.Empty, "holds no statement"},
		{"semicolons only", adminRW, ";;", sqlguard.Empty, "holds no statement"},
		{"two statements", adminRW, "SELECT 1; §SELECT 2", sqlguard.MultipleStatements, "only one statement"},
		{"second after comments", userRO, "SELECT 1;\n  -- then\n  /* more */ §DROP TABLE accounts", sqlguard.MultipleStatements, "holds 2"},
		{"three statements", userRO, "COMMIT;§DROP TABLE a;DROP TABLE b", sqlguard.MultipleStatements, "holds 3"},
		{"crlf", userRO, "SELECT 1;\r\n§DROP TABLE a", sqlguard.MultipleStatements, "only one statement"},
		{"invalid mode", access.Mode("root"), "SELECT 1", sqlguard.InvalidMode, `"root" is not one of user_ro`},
	})
}

func TestStatementKinds(t *testing.T) {
	checkRefusals(t, []refusal{
		{"insert in user_ro", userRO, "§INSERT INTO accounts VALUES (1)", sqlguard.StatementNotAllowed, "INSERT is not allowed in user_ro mode; allowed: one SELECT"},
		{"leading space and comment", userRO, "  /* hi */ §UPDATE accounts SET a = 1", sqlguard.StatementNotAllowed, "UPDATE is not allowed"},
		{"delete in admin_ro", adminRO, "§DELETE FROM accounts", sqlguard.StatementNotAllowed, "allowed: one SELECT, VALUES, TABLE, SHOW or EXPLAIN statement"},
		{"merge in user_ro", userRO, "§MERGE INTO a USING b ON true WHEN MATCHED THEN DELETE", sqlguard.StatementNotAllowed, "MERGE is not allowed"},
		{"copy in user_rw", userRW, "§COPY accounts TO STDOUT", sqlguard.StatementNotAllowed, "COPY reads or writes files"},
		{"copy from stdin in admin_rw", adminRW, "§COPY accounts FROM STDIN", sqlguard.StatementNotAllowed, "needs a client data stream"},
		{"copy to stdout in admin_rw", adminRW, "  §COPY (SELECT 1) TO STDOUT", sqlguard.StatementNotAllowed, "use SELECT instead"},
		{"copy program in admin_ro", adminRO, "§COPY (SELECT 1) TO PROGRAM 'id'", sqlguard.StatementNotAllowed, "COPY is not allowed"},
		{"begin", userRW, "§BEGIN", sqlguard.StatementNotAllowed, "each call already runs in its own transaction"},
		{"commit", adminRO, "§COMMIT", sqlguard.StatementNotAllowed, "COMMIT is not allowed"},
		{"set", userRW, "§SET search_path = secret", sqlguard.StatementNotAllowed, "SET is not allowed"},
		{"reset", adminRO, "§RESET ALL", sqlguard.StatementNotAllowed, "RESET is not allowed"},
		{"do", userRW, "§DO $$BEGIN END$$", sqlguard.StatementNotAllowed, "runs code the validator cannot see"},
		{"call", adminRO, "§CALL p()", sqlguard.StatementNotAllowed, "CALL is not allowed"},
		{"lock", userRW, "§LOCK accounts", sqlguard.StatementNotAllowed, "LOCK TABLE is not allowed"},
		{"listen", userRO, "§LISTEN c", sqlguard.StatementNotAllowed, "LISTEN is not allowed"},
		{"notify", userRW, "§NOTIFY c", sqlguard.StatementNotAllowed, "NOTIFY is not allowed"},
		{"prepare", userRW, "§PREPARE p AS SELECT 1", sqlguard.StatementNotAllowed, "PREPARE is not allowed"},
		{"execute", adminRO, "§EXECUTE p", sqlguard.StatementNotAllowed, "EXECUTE is not allowed"},
		{"deallocate", userRO, "§DEALLOCATE ALL", sqlguard.StatementNotAllowed, "DEALLOCATE ALL is not allowed"},
		{"declare", userRO, "§DECLARE c CURSOR FOR SELECT 1", sqlguard.StatementNotAllowed, "DECLARE CURSOR is not allowed"},
		{"fetch", userRW, "§FETCH ALL FROM c", sqlguard.StatementNotAllowed, "FETCH is not allowed"},
		{"create table as", userRW, "§CREATE TABLE x AS SELECT 1", sqlguard.StatementNotAllowed, "it creates a table"},
		{"explain in user mode", userRO, "§EXPLAIN SELECT 1", sqlguard.StatementNotAllowed, "use the explain_query tool instead"},
		{"show in user mode", userRW, "§SHOW search_path", sqlguard.StatementNotAllowed, "SHOW is not allowed"},
		{"truncate", userRW, "§TRUNCATE accounts", sqlguard.StatementNotAllowed, "TRUNCATE TABLE is not allowed"},
		{"vacuum", adminRO, "§VACUUM", sqlguard.StatementNotAllowed, "VACUUM is not allowed"},
		{"grant", userRW, "§GRANT SELECT ON accounts TO PUBLIC", sqlguard.StatementNotAllowed, "GRANT is not allowed"},
		{"alter system", adminRO, "§ALTER SYSTEM SET work_mem = '1GB'", sqlguard.StatementNotAllowed, "ALTER SYSTEM is not allowed"},
		{"select into", userRO, "SELECT * INTO §stolen FROM accounts", sqlguard.SelectInto, "SELECT … INTO creates a table"},
		{"select into temp", adminRO, "SELECT 1 INTO TEMP §t", sqlguard.SelectInto, "remove INTO"},
		{"write in cte", userRO, "WITH §d AS (DELETE FROM orders RETURNING *) SELECT * FROM d", sqlguard.WriteInCTE, "WITH d AS (DELETE …) changes data"},
		{"second cte writes", adminRO, "WITH a AS (SELECT 1), §b AS (INSERT INTO t VALUES (1) RETURNING 1) SELECT 1", sqlguard.WriteInCTE, "(INSERT …)"},
		{"write in nested cte", userRO, "SELECT * FROM (WITH §u AS (UPDATE t SET a = 1 RETURNING 1) SELECT 1) s", sqlguard.WriteInCTE, "(UPDATE …)"},
		{"for update", userRO, "SELECT * FROM accounts §FOR UPDATE", sqlguard.LockingClause, "takes row locks"},
		{"for no key update", adminRO, "SELECT * FROM accounts §FOR NO KEY UPDATE SKIP LOCKED", sqlguard.LockingClause, "takes row locks"},
		{"for share in subquery", userRO, "SELECT * FROM (SELECT * FROM accounts §FOR SHARE) s", sqlguard.LockingClause, "takes row locks"},
		{"for key share in cte", adminRO, "WITH l AS (SELECT 1 FROM accounts §FOR KEY SHARE) SELECT 1", sqlguard.LockingClause, "takes row locks"},
	})
}

func TestFunctions(t *testing.T) {
	checkRefusals(t, []refusal{
		{"set_config", userRO, "SELECT §set_config('a', 'b', false)", sqlguard.FunctionNotAllowed,
			"function pg_catalog.set_config is not allowed in user_ro mode (it changes settings); allowed: built-in read-only functions"},
		{"in where", userRW, "SELECT 1 FROM accounts WHERE §pg_sleep(1) IS NULL", sqlguard.FunctionNotAllowed, "(it sleeps)"},
		{"qualified", adminRO, "SELECT §pg_catalog.pg_sleep(1)", sqlguard.FunctionNotAllowed, "pg_catalog.pg_sleep"},
		{"in from", userRO, "SELECT * FROM §pg_ls_dir('.')", sqlguard.FunctionNotAllowed, "lists server directories"},
		{"rows from", userRO, "SELECT * FROM ROWS FROM (generate_series(1, 2), §pg_read_file('x'))", sqlguard.FunctionNotAllowed, "reads server files"},
		{"lateral", userRO, "SELECT * FROM accounts a, LATERAL (SELECT §pg_notify('c', a.name)) s", sqlguard.FunctionNotAllowed, "sends notifications"},
		{"join qual", userRO, "SELECT 1 FROM a JOIN b ON §pg_advisory_lock(1) IS NULL", sqlguard.FunctionNotAllowed, "advisory locks"},
		{"group by", userRO, "SELECT 1 FROM a GROUP BY §nextval('s')", sqlguard.FunctionNotAllowed, "sequence state"},
		{"having", userRO, "SELECT 1 FROM a HAVING §txid_current() > 0", sqlguard.FunctionNotAllowed, "assigns a transaction ID"},
		{"order by", userRO, "SELECT 1 FROM a ORDER BY §lo_import('/etc/passwd')", sqlguard.FunctionNotAllowed, "large objects"},
		{"window", userRO, "SELECT row_number() OVER (PARTITION BY §pg_backend_pid()) FROM a", sqlguard.FunctionNotAllowed, "reads the system catalogs or server state"},
		{"window clause", userRO, "SELECT sum(1) OVER w FROM a WINDOW w AS (ORDER BY §setseed(0))", sqlguard.FunctionNotAllowed, "changes session state"},
		{"case", userRO, "SELECT CASE WHEN true THEN §pg_terminate_backend(1) END", sqlguard.FunctionNotAllowed, "signals or controls"},
		{"coalesce argument", userRO, "SELECT coalesce(NULL, §pg_reload_conf())", sqlguard.FunctionNotAllowed, "signals"},
		{"values", userRO, "VALUES (1), (§pg_switch_wal())", sqlguard.FunctionNotAllowed, "writes WAL"},
		{"array constructor", userRO, "SELECT ARRAY[§pg_stat_reset()]", sqlguard.FunctionNotAllowed, "resets statistics"},
		{"array subquery", userRO, "SELECT ARRAY(SELECT §query_to_xml('select 1', true, true, ''))", sqlguard.FunctionNotAllowed, "runs SQL text"},
		{"row constructor", userRO, "SELECT ROW(1, §table_to_xml('t', true, true, ''))", sqlguard.FunctionNotAllowed, "runs SQL text"},
		{"cast operand", userRO, "SELECT §ts_stat('select 1')::text", sqlguard.FunctionNotAllowed, "runs SQL text"},
		{"aggregate filter", userRO, "SELECT count(*) FILTER (WHERE §dblink_exec('x') IS NULL) FROM a", sqlguard.FunctionNotAllowed, "other databases"},
		{"aggregate order by", userRO, "SELECT string_agg(name, ',' ORDER BY §lo_get(1)) FROM a", sqlguard.FunctionNotAllowed, "large objects"},
		{"limit", userRO, "SELECT 1 LIMIT §pg_backend_pid()", sqlguard.FunctionNotAllowed, "server state"},
		{"tablesample argument", userRO, "SELECT 1 FROM a TABLESAMPLE SYSTEM (§pg_backend_pid())", sqlguard.FunctionNotAllowed, "not allowed"},
		{"cte body", userRO, "WITH s AS (SELECT §set_config('a', 'b', true)) SELECT * FROM s", sqlguard.FunctionNotAllowed, "changes settings"},
		{"insert values", userRW, "INSERT INTO t VALUES (§pg_read_binary_file('x'))", sqlguard.FunctionNotAllowed, "reads server files"},
		{"insert select", userRW, "INSERT INTO t SELECT §currval('s')", sqlguard.FunctionNotAllowed, "sequence state"},
		{"on conflict", userRW, "INSERT INTO t VALUES (1) ON CONFLICT (a) DO UPDATE SET b = §lastval()", sqlguard.FunctionNotAllowed, "sequence state"},
		{"on conflict where", userRW, "INSERT INTO t VALUES (1) ON CONFLICT (a) DO UPDATE SET b = 1 WHERE §pg_sleep(1) IS NULL", sqlguard.FunctionNotAllowed, "sleeps"},
		{"returning", userRW, "DELETE FROM t RETURNING §set_config('a', 'b', false)", sqlguard.FunctionNotAllowed, "changes settings"},
		{"update set", userRW, "UPDATE t SET a = §setval('s', 1)", sqlguard.FunctionNotAllowed, "sequence state"},
		{"update from", userRW, "UPDATE t SET a = 1 FROM §pg_ls_waldir() w", sqlguard.FunctionNotAllowed, "lists server directories"},
		{"merge when", userRW, "MERGE INTO t USING s ON true WHEN MATCHED AND §pg_sleep(1) IS NULL THEN DELETE", sqlguard.FunctionNotAllowed, "sleeps"},
		{"merge insert", userRW, "MERGE INTO t USING s ON false WHEN NOT MATCHED THEN INSERT VALUES (§pg_notify('a', 'b'))", sqlguard.FunctionNotAllowed, "notifications"},
		{"user function", userRO, "SELECT §log_note('x')", sqlguard.FunctionNotAllowed, "not on the list of built-in read-only functions"},
		{"public function", userRW, "SELECT §public.double_it(1)", sqlguard.FunctionNotAllowed, "only built-in functions may be called"},
		{"pg_temp function", adminRO, "SELECT §pg_temp.f()", sqlguard.FunctionNotAllowed, "function pg_temp.f"},
		{"three-part function", adminRO, "SELECT §a.b.c()", sqlguard.FunctionNotAllowed, "function a.b.c"},
		{"quoted upper case", userRO, `SELECT §"LOWER"('A')`, sqlguard.FunctionNotAllowed, `pg_catalog."LOWER"`},
		{"quoted schema", userRO, `SELECT §"PG_CATALOG".lower('A')`, sqlguard.FunctionNotAllowed, `"PG_CATALOG".lower`},
		{"unicode escape", userRO, `SELECT §U&"\0073et_config"('a', 'b', false)`, sqlguard.FunctionNotAllowed, "set_config"},
		{"admin function in user mode", userRO, "SELECT §pg_relation_size('accounts')", sqlguard.FunctionNotAllowed, "reads the system catalogs or server state"},
		{"catalog probe function", userRW, "SELECT §to_regclass('secret.tokens')", sqlguard.FunctionNotAllowed, "system catalogs"},
		{"current_setting in user mode", userRO, "SELECT §current_setting('app.tenant_id')", sqlguard.FunctionNotAllowed, "server state"},
		{"ts_rewrite with a query", userRO, "SELECT §ts_rewrite('a'::tsquery, 'SELECT 1')", sqlguard.FunctionNotAllowed, "with a query argument"},
		{"hypopg", adminRO, "SELECT * FROM §hypopg_create_index('CREATE INDEX ON t (a)')", sqlguard.FunctionNotAllowed, "use explain_query's hypothetical_indexes"},
		{"tablesample method", userRO, "SELECT * FROM a TABLESAMPLE §system_rows (10)", sqlguard.FunctionNotAllowed, "TABLESAMPLE method system_rows"},
		{"tablesample qualified", adminRO, "SELECT * FROM a TABLESAMPLE §public.bernoulli (10)", sqlguard.FunctionNotAllowed, "public.bernoulli"},
		{"operator in other schema", userRO, "SELECT 1 §OPERATOR(secret.+) 1", sqlguard.OperatorNotAllowed, "operator secret.+"},
		{"operator in public", adminRO, "SELECT 1 §OPERATOR(public.===) 1", sqlguard.OperatorNotAllowed, "operator public.==="},
		{"operator in any", userRO, "SELECT 1 §OPERATOR(secret.=) ANY (SELECT 1)", sqlguard.OperatorNotAllowed, "operator secret.="},
		{"order by using", userRO, "SELECT a FROM t ORDER BY a USING §OPERATOR(secret.<)", sqlguard.OperatorNotAllowed, "operator secret.<"},
		{"explain checks functions", adminRO, "EXPLAIN SELECT §pg_sleep(1)", sqlguard.FunctionNotAllowed, "sleeps"},
		{"show has no expressions", adminRO, "§SET x = 1", sqlguard.StatementNotAllowed, "SET is not allowed"},
	})
}

func TestRelations(t *testing.T) {
	checkRefusals(t, []refusal{
		{"catalog", userRO, "SELECT * FROM §pg_authid", sqlguard.RelationNotAllowed, "resolves to the system catalog pg_catalog.pg_authid"},
		{"catalog hint", userRW, "SELECT * FROM §pg_notes", sqlguard.RelationNotAllowed, "write public.pg_notes"},
		{"qualified catalog", userRO, "SELECT * FROM §pg_catalog.pg_class", sqlguard.SchemaNotAllowed, "schema pg_catalog"},
		{"information_schema", userRO, "SELECT * FROM §information_schema.tables", sqlguard.SchemaNotAllowed, "may only use the public schema"},
		{"other schema", userRW, "SELECT * FROM §secret.tokens", sqlguard.SchemaNotAllowed, "relation secret.tokens is in schema secret"},
		{"pg_temp", userRO, "SELECT * FROM §pg_temp.t", sqlguard.SchemaNotAllowed, "schema pg_temp"},
		{"pg_toast", userRO, "SELECT * FROM §pg_toast.pg_toast_1262", sqlguard.SchemaNotAllowed, "schema pg_toast"},
		{"quoted public", userRO, `SELECT * FROM §"PUBLIC".accounts`, sqlguard.SchemaNotAllowed, `"PUBLIC"`},
		{"three-part name", userRO, "SELECT * FROM §db.public.accounts", sqlguard.RelationNotAllowed, "three-part name"},
		{"extension view", userRO, "SELECT * FROM §public.pg_stat_statements", sqlguard.RelationNotAllowed, "belongs to an extension"},
		{"hypopg view", userRW, "SELECT * FROM §hypopg_list_indexes", sqlguard.RelationNotAllowed, "belongs to an extension"},
		{"join", userRO, "SELECT 1 FROM accounts a JOIN §secret.tokens t ON true", sqlguard.SchemaNotAllowed, "secret.tokens"},
		{"subquery in where", userRO, "SELECT 1 FROM accounts WHERE EXISTS (SELECT 1 FROM §pg_roles)", sqlguard.RelationNotAllowed, "pg_roles"},
		{"scalar subquery in target", userRO, "SELECT (SELECT rolpassword FROM §pg_authid LIMIT 1)", sqlguard.RelationNotAllowed, "pg_authid"},
		{"cte body", userRO, "WITH x AS (SELECT * FROM §pg_shadow) SELECT * FROM x", sqlguard.RelationNotAllowed, "pg_shadow"},
		{"cte cannot see itself", userRO, "WITH pg_user AS (SELECT * FROM §pg_user) SELECT * FROM pg_user", sqlguard.RelationNotAllowed, "pg_user"},
		{"cte cannot see later ones", userRO, "WITH a AS (SELECT * FROM §pg_b), pg_b AS (SELECT 1) SELECT * FROM a", sqlguard.RelationNotAllowed, "pg_b"},
		{"cte name does not cover qualified", userRO, "WITH pg_class AS (SELECT 1) SELECT * FROM §pg_catalog.pg_class", sqlguard.SchemaNotAllowed, "pg_catalog"},
		{"cte scope ends with its query", userRO, "SELECT * FROM (WITH pg_class AS (SELECT 1) SELECT * FROM pg_class) s, §pg_class", sqlguard.RelationNotAllowed, "pg_class"},
		{"update target is never a cte", userRW, "WITH pg_class AS (SELECT 1) UPDATE §pg_class SET relname = 'x'", sqlguard.RelationNotAllowed, "pg_class"},
		{"insert target is never a cte", userRW, "WITH pg_x AS (SELECT 1) INSERT INTO §pg_x SELECT * FROM pg_x", sqlguard.RelationNotAllowed, "pg_x"},
		{"delete target", userRW, "DELETE FROM §secret.tokens", sqlguard.SchemaNotAllowed, "secret.tokens"},
		{"delete using", userRW, "DELETE FROM t USING §pg_class c", sqlguard.RelationNotAllowed, "pg_class"},
		{"update from", userRW, "UPDATE t SET a = 1 FROM §secret.tokens", sqlguard.SchemaNotAllowed, "secret.tokens"},
		{"insert select", userRW, "INSERT INTO t SELECT * FROM §pg_settings", sqlguard.RelationNotAllowed, "pg_settings"},
		{"merge target", userRW, "MERGE INTO §secret.tokens t USING accounts a ON true WHEN MATCHED THEN DELETE", sqlguard.SchemaNotAllowed, "secret.tokens"},
		{"merge source", userRW, "MERGE INTO accounts a USING §pg_authid t ON true WHEN MATCHED THEN DELETE", sqlguard.RelationNotAllowed, "pg_authid"},
		{"table statement", userRO, "TABLE §pg_class", sqlguard.RelationNotAllowed, "pg_class"},
		{"tablesample relation", userRO, "SELECT * FROM §pg_class TABLESAMPLE SYSTEM (1)", sqlguard.RelationNotAllowed, "pg_class"},
		{"function argument subquery", userRO, "SELECT length((SELECT relname FROM §pg_class LIMIT 1))", sqlguard.RelationNotAllowed, "pg_class"},
		{"regclass cast", userRO, "SELECT 'pg_authid'::§regclass", sqlguard.TypeNotAllowed, "type regclass is not allowed in user_ro mode"},
		{"regclass array", userRO, "SELECT '{pg_authid}'::§regclass[]", sqlguard.TypeNotAllowed, "regclass"},
		{"cast syntax", userRW, "SELECT CAST('set_config' AS §regproc)", sqlguard.TypeNotAllowed, "regproc"},
		{"qualified reg type", userRO, "SELECT 'secret'::§pg_catalog.regnamespace", sqlguard.TypeNotAllowed, "regnamespace"},
		{"typed literal", userRO, "SELECT §regtype 'int4'", sqlguard.TypeNotAllowed, "regtype"},
		{"type in other schema", userRO, "SELECT NULL::§secret.tokens", sqlguard.SchemaNotAllowed, "type secret.tokens"},
		{"column definition list", userRO, "SELECT * FROM json_to_record('{}') AS x(a §secret.t)", sqlguard.SchemaNotAllowed, "type secret.t"},
		{"collation in other schema", userRO, "SELECT 'a' §COLLATE secret.c", sqlguard.SchemaNotAllowed, "collation secret.c"},
		{"admin_ro credentials", adminRO, "SELECT rolpassword FROM §pg_authid", sqlguard.RelationNotAllowed, "shows credentials"},
		{"admin_ro qualified credentials", adminRO, "SELECT * FROM §pg_catalog.pg_shadow", sqlguard.RelationNotAllowed, "shows credentials"},
		{"admin_ro user mappings", adminRO, "SELECT umoptions FROM §pg_user_mappings", sqlguard.RelationNotAllowed, "shows credentials"},
	})
}

func TestExplainRefusals(t *testing.T) {
	checkRefusals(t, []refusal{
		{"analyze delete", adminRO, "EXPLAIN §ANALYZE DELETE FROM t", sqlguard.ExplainAnalyzeWrite, "it is a DELETE"},
		{"analyze in option list", adminRO, "EXPLAIN (FORMAT JSON, §ANALYZE) UPDATE t SET a = 1", sqlguard.ExplainAnalyzeWrite, "it is an UPDATE"},
		{"analyze true", adminRO, "EXPLAIN (§ANALYZE true) INSERT INTO t VALUES (1)", sqlguard.ExplainAnalyzeWrite, "use EXPLAIN without ANALYZE"},
		{"analyze 1", adminRO, "EXPLAIN (§ANALYZE 1) MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE", sqlguard.ExplainAnalyzeWrite, "MERGE"},
		{"analyze repeated", adminRO, "EXPLAIN (ANALYZE off, §ANALYZE on) DELETE FROM t", sqlguard.ExplainAnalyzeWrite, "DELETE"},
		{"analyze write cte", adminRO, "EXPLAIN §ANALYZE WITH d AS (DELETE FROM t RETURNING 1) SELECT 1", sqlguard.ExplainAnalyzeWrite, "it can change data or state"},
		{"analyze for update", adminRO, "EXPLAIN §ANALYZE SELECT * FROM t FOR UPDATE", sqlguard.ExplainAnalyzeWrite, "it can change data or state"},
		{"analyze create table as", adminRO, "EXPLAIN §ANALYZE CREATE TABLE x AS SELECT 1", sqlguard.ExplainNotAllowed, "CREATE TABLE AS cannot be explained here"},
		{"explain execute", adminRO, "EXPLAIN §EXECUTE p", sqlguard.ExplainNotAllowed, "EXECUTE cannot be explained here"},
		{"select into under explain", adminRO, "EXPLAIN SELECT 1 INTO §x", sqlguard.SelectInto, "creates a table"},
	})
}

func TestDepthLimits(t *testing.T) {
	// Parser work only (a minute of CPU under the race detector on a busy
	// machine): beside the tests that wait on PostgreSQL, not before them.
	t.Parallel()
	big := func(prefix, unit, suffix string, n int) string {
		return prefix + strings.Repeat(unit, n) + suffix
	}
	tooDeep := []struct{ name, sql string }{
		// Each of these overflows libpg_query's C stack (killing the
		// process) if it reaches the parser; they must be refused first.
		{"plus chain", big("SELECT 1", "+1", "", 30000)},
		{"cast chain", big("SELECT 1", "::int", "", 30000)},
		{"join chain", big("SELECT 1 FROM t", " JOIN t ON true", "", 30000)},
		{"union chain", big("SELECT 1", " UNION SELECT 1", "", 70000)},
		{"concat chain", big("SELECT 'a'", "||'a'", "", 30000)},
		// Too deep for the tree to be decoded, though the parser survives.
		{"plus chain below the screen", big("SELECT 1", "+1", "", 8000)},
		// The parser's own stack limit.
		{"parentheses", big("SELECT ", "(", "1", 20000) + strings.Repeat(")", 20000)},
		{"nested calls", big("SELECT ", "lower(", "'a'", 10000) + strings.Repeat(")", 10000)},
	}
	for _, tt := range tooDeep {
		for _, m := range []access.Mode{userRO, adminRW} {
			_, err := sqlguard.Check(tt.sql, m)
			var e *sqlguard.Error
			if !errors.As(err, &e) || e.Reason != sqlguard.TooComplex {
				t.Errorf("%s in %s: Check = %v, want reason too_complex", tt.name, m, err)
			}
		}
	}
	// Long but flat statements stay allowed: lists do not nest.
	var in, neg, values strings.Builder
	for i := range 50000 {
		if i > 0 {
			in.WriteString(",")
			neg.WriteString(",")
			values.WriteString(",")
		}
		in.WriteString("1")
		neg.WriteString("-1")
		values.WriteString("(1, 'x', true, NULL)")
	}
	for _, sql := range []string{
		"SELECT 1 FROM accounts WHERE id IN (" + in.String() + ")",
		"SELECT 1 FROM accounts WHERE id IN (" + neg.String() + ")",
		"VALUES " + values.String(),
		big("SELECT 1 FROM accounts WHERE ", "id = 1 OR ", "false", sqlguard.MaxChainTokens-10),
	} {
		// admin_rw: what the parser handles safely. The validated modes
		// bound operators much lower (TestOperatorBound).
		if _, err := sqlguard.Check(sql, adminRW); err != nil {
			t.Errorf("Check(%d-byte flat statement) = %v, want allowed", len(sql), err)
		}
	}
}

func TestExplainAnalyzeOffIsPlanOnly(t *testing.T) {
	for _, sql := range []string{
		"EXPLAIN (ANALYZE off) DELETE FROM t",
		"EXPLAIN (ANALYZE false, COSTS off) UPDATE t SET a = 1",
		"EXPLAIN (ANALYZE 0) INSERT INTO t VALUES (1)",
		"EXPLAIN (ANALYZE no) DELETE FROM t",
		"EXPLAIN DELETE FROM t",
	} {
		v, err := sqlguard.Check(sql, adminRO)
		if err != nil {
			t.Errorf("Check(%q, admin_ro) = %v, want allowed", sql, err)
			continue
		}
		if v.Explain == nil || v.Explain.Analyze || !v.ReadOnly || v.Explain.Inner.ReadOnly {
			t.Errorf("Check(%q, admin_ro) = %+v (explain %+v), want plan-only EXPLAIN of a write", sql, v, v.Explain)
		}
	}
}
