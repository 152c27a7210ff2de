package catalog

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgherd/pgherd/internal/access"
	"github.com/pgherd/pgherd/internal/pgtest"
	"github.com/pgherd/pgherd/internal/sqlguard"
)

// resolveSchema adds, to the attack corpus's fixture
// (testdata/attacks/schema.sql: overloads of allow-listed names, a
// row-type function, an operator, an explicit and an implicit cast, a
// domain whose CHECK calls owner code), every other shape of owner code the
// lookup knows: overloads in another schema, variadic functions and
// defaults, operators with commutators and negators, a prefix operator, an
// operator backed by a built-in function, assignment and binary casts and
// a cast to a user type, domain CHECKs through a function and through an
// operator, domain defaults, a domain over a domain, and extension members
// (citext in public, hstore in a schema of its own: casts, operators and
// functions written in C by a superuser's script).
const resolveSchema = `
CREATE EXTENSION citext;
CREATE SCHEMA ext;
CREATE EXTENSION hstore SCHEMA ext;
CREATE SCHEMA extra;
CREATE FUNCTION extra.lower(public.priority) RETURNS text LANGUAGE sql AS 'SELECT ''x''';
CREATE FUNCTION extra.count(text) RETURNS bigint LANGUAGE sql AS 'SELECT 1::bigint';
CREATE FUNCTION public.nick(public.accounts) RETURNS text LANGUAGE sql AS 'SELECT ''x''';
CREATE FUNCTION public.vsum(VARIADIC integer[]) RETURNS integer LANGUAGE sql AS 'SELECT 1';
CREATE FUNCTION public.dflt(a integer, b integer DEFAULT 1) RETURNS integer LANGUAGE sql AS 'SELECT 1';
CREATE TYPE public.mood AS ENUM ('sad', 'ok');
CREATE FUNCTION public.mood_eq(public.mood, public.mood) RETURNS boolean LANGUAGE sql AS 'SELECT $1::text = $2::text';
CREATE FUNCTION public.mood_ne(public.mood, public.mood) RETURNS boolean LANGUAGE sql AS 'SELECT $1::text <> $2::text';
CREATE OPERATOR public.=== (LEFTARG = public.mood, RIGHTARG = public.mood, FUNCTION = public.mood_eq, COMMUTATOR = ===, NEGATOR = !==);
CREATE OPERATOR public.!== (LEFTARG = public.mood, RIGHTARG = public.mood, FUNCTION = public.mood_ne, COMMUTATOR = !==, NEGATOR = ===);
CREATE FUNCTION public.shout(text) RETURNS text LANGUAGE sql AS 'SELECT upper($1)';
CREATE OPERATOR public.~~~ (RIGHTARG = text, FUNCTION = public.shout);
CREATE FUNCTION public.mood_text_eq(text, public.mood) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = public.mood, FUNCTION = public.mood_text_eq);
CREATE OPERATOR public.<-> (LEFTARG = integer, RIGHTARG = integer, FUNCTION = pg_catalog.int4pl);
CREATE FUNCTION public.mood_int(public.mood) RETURNS integer LANGUAGE sql AS 'SELECT 1';
CREATE CAST (public.mood AS integer) WITH FUNCTION public.mood_int(public.mood) AS ASSIGNMENT;
CREATE FUNCTION public.int_mood(integer) RETURNS public.mood LANGUAGE sql AS 'SELECT ''ok''::public.mood';
CREATE CAST (integer AS public.mood) WITH FUNCTION public.int_mood(integer);
CREATE CAST (public.mood AS text) WITH INOUT;
CREATE FUNCTION public.ok(text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE DOMAIN public.d_check_fn AS text CHECK (public.ok(VALUE));
CREATE DOMAIN public.d_check_op AS text CHECK ((VALUE ### 'x') IS NOT NULL);
CREATE FUNCTION public.next_label() RETURNS text LANGUAGE sql AS 'SELECT ''n''';
CREATE DOMAIN public.d_default AS text DEFAULT public.next_label();
CREATE DOMAIN public.d_builtin AS integer DEFAULT 1 CHECK (VALUE > 0);
CREATE DOMAIN public.d_nested AS public.d_check_fn;
CREATE DOMAIN ext.d_ext AS ext.hstore CHECK (ext.exist(VALUE, 'k'));
CREATE TABLE public.things (id integer, a public.d_check_fn, b public.d_default, c public.d_check_op, m public.mood,
	h ext.hstore, ci public.citext, n public.d_nested, arr public.mood[], e ext.d_ext, bi public.d_builtin);
`

func resolveFixture(t testing.TB) *pgtest.Database {
	t.Helper()
	db := pgtest.NewDatabase(t)
	corpus, err := os.ReadFile(filepath.Join("..", "..", "testdata", "attacks", "schema.sql"))
	if err != nil {
		t.Fatal(err)
	}
	pgtest.Exec(t, db.URI, string(corpus)+resolveSchema)
	return db
}

// resolveStatements reach every kind of candidate (and a few that find
// none); each is validated in every mode that accepts it.
var resolveStatements = []string{
	"SELECT id, name FROM accounts ORDER BY id LIMIT 10",
	"SELECT lower(a) FROM accounts a",
	"SELECT lower(name), upper(priority), length(status) FROM orders, accounts",
	"SELECT a.nick, (a).nick FROM accounts a",
	"SELECT a FROM accounts a",
	"SELECT 'a' ### 'b'",
	"SELECT ~~~ 'x'",
	"SELECT priority::text, CAST(priority AS text) FROM orders",
	"SELECT score + 1 FROM ratings",
	"SELECT 'x'::label_text",
	"SELECT 'x'::d_check_op, 'y'::d_nested, 'z'::d_check_fn",
	"SELECT 1::d_builtin",
	"INSERT INTO things (id) VALUES (1)",
	"INSERT INTO labels VALUES (2, 'x')",
	"UPDATE things SET a = 'x', m = 1",
	"SELECT m::integer, 1::mood, m = 'ok', 'ok' = m FROM things",
	"SELECT m === m, m !== 'sad' FROM things",
	"SELECT h, ci = 'X', e, arr FROM things",
	"SELECT t FROM things t",
	"SELECT id FROM accounts WHERE name IN ('a', 'b') AND id BETWEEN 1 AND 2 AND name LIKE 'A%'",
	"SELECT count(*), sum(amount), max(amount) FROM orders GROUP BY account_id",
	"SELECT CASE priority WHEN 'low' THEN 1 END FROM orders",
	"SELECT 1 <-> 2",
	"SELECT * FROM jsonb_populate_record(NULL::labels, '{\"label\": \"x\"}')",
}

// resolveSearchPaths are the search paths the comparison runs under: the
// user modes' (public), one with every schema of the fixture and
// information_schema (initdb's own functions, outside pg_catalog), and one
// that puts pg_catalog last.
var resolveSearchPaths = []string{"public", `"$user", public, extra, ext, information_schema`, "extra, public, pg_catalog"}

// TestResolveMatchesReference checks that the owner-code lookup's queries
// answer exactly what their previous, slower definitions
// (resolve_ref_test.go) answer — on a database holding only what initdb
// made and on one full of owner code and extension members, under several
// search paths: the casts and domains, the functions and operators of
// every name the database has (and of none), and the candidates for
// statements that reach every kind.
func TestResolveMatchesReference(t *testing.T) {
	ctx := context.Background()
	dbs := []struct {
		name string
		db   *pgtest.Database
	}{{"initdb only", pgtest.NewDatabase(t)}, {"owner code", resolveFixture(t)}}
	for _, d := range dbs {
		t.Run(d.name, func(t *testing.T) {
			conn, err := pgx.Connect(ctx, d.db.URI)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			var major int
			if err := conn.QueryRow(ctx, "SELECT current_setting('server_version_num')::int / 10000").Scan(&major); err != nil {
				t.Fatal(err)
			}
			var names, ops []string
			if err := conn.QueryRow(ctx, `SELECT array_agg(DISTINCT proname::text), (SELECT array_agg(DISTINCT oprname::text) FROM pg_operator) FROM pg_proc`).
				Scan(&names, &ops); err != nil {
				t.Fatal(err)
			}
			owned := d.name == "owner code"
			for _, path := range resolveSearchPaths {
				t.Run(path, func(t *testing.T) {
					tx, err := conn.Begin(ctx)
					if err != nil {
						t.Fatal(err)
					}
					defer tx.Rollback(ctx)
					if _, err := tx.Exec(ctx, "SELECT set_config('search_path', $1, true)", path); err != nil {
						t.Fatal(err)
					}

					hot := sameRows(t, tx, "casts and domains", refHotCodeSQL, hotCodeSQL)
					if owned && hot < 6 {
						t.Errorf("casts and domains: %d rows, want at least 6 (the fixture's): the comparison is vacuous", hot)
					}
					argSets := [][]any{
						{names, names, ops},
						{[]string{"lower", "count", "nick", "vsum", "dflt"}, []string{"nick", "lower"}, []string{"=", "===", "~~~", "###", "<->", "->", "<=", ">="}},
						{[]string{}, []string{}, []string{}},
						{[]string(nil), []string(nil), []string{"="}},
					}
					for i, args := range argSets {
						n := sameRows(t, tx, fmt.Sprintf("functions and operators (argument set %d)", i), refNamedCodeSQL, namedCodeSQL, args...)
						if i == 2 && n != 0 {
							t.Errorf("functions and operators of no name: %d rows, want none (Resolve leaves the query out then)", n)
						}
						if owned && i < 2 && n == 0 {
							t.Errorf("functions and operators (argument set %d): no rows: the comparison is vacuous", i)
						}
					}

					found := 0
					for _, sql := range resolveStatements {
						for _, m := range []access.Mode{access.UserRO, access.UserRW, access.AdminRO} {
							v, err := sqlguard.Validate(sql, sqlguard.Options{Mode: m, Database: d.db.Name, ServerMajor: major})
							if err != nil || v.Lookup == nil {
								continue
							}
							want, err := resolve(ctx, tx, v.Lookup, refNamedCodeSQL, refHotCodeSQL)
							if err != nil {
								t.Fatalf("%s in %s, reference: %v", sql, m, err)
							}
							got, err := Resolve(ctx, tx, v.Lookup)
							if err != nil {
								t.Fatalf("%s in %s: %v", sql, m, err)
							}
							if w, g := candidateSet(want), candidateSet(got); !slices.Equal(w, g) {
								t.Errorf("%s in %s:\n got %q\nwant %q", sql, m, g, w)
							}
							if (v.Judge(want) == nil) != (v.Judge(got) == nil) {
								t.Errorf("%s in %s: verdict %v, reference %v", sql, m, v.Judge(got), v.Judge(want))
							}
							found += len(got)
						}
					}
					if owned && found == 0 {
						t.Error("no statement found a candidate: the comparison is vacuous")
					}
				})
			}
		})
	}
}

// sameRows runs the reference and the current query with args and reports
// a difference in their rows (as sets: neither orders them); it returns the
// number of rows.
func sameRows(t *testing.T, tx pgx.Tx, what, ref, cur string, args ...any) int {
	t.Helper()
	want, got := queryRows(t, tx, ref, args...), queryRows(t, tx, cur, args...)
	if !slices.Equal(want, got) {
		t.Errorf("%s:\n got %d rows %q\nwant %d rows %q", what, len(got), got, len(want), want)
	}
	return len(got)
}

func queryRows(t *testing.T, tx pgx.Tx, sql string, args ...any) []string {
	t.Helper()
	rows, err := tx.Query(context.Background(), sql, args...)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprint(vals...))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func candidateSet(cs []sqlguard.Candidate) []string {
	var out []string
	for _, c := range cs {
		out = append(out, fmt.Sprintf("%+v", c))
	}
	slices.Sort(out)
	return out
}

// resolveBenchCases are the statements BenchmarkResolve looks up: the
// issue #14 workloads W3 (a plain read of one table: no names to look up)
// and W4 (an aggregate join: functions and operators by name), and one
// that meets owner code.
var resolveBenchCases = []struct{ name, sql string }{
	{"W3", "SELECT id, name, status, created_at, balance, tenant FROM accounts ORDER BY id LIMIT 1000"},
	{"W4", "SELECT o.account_id, count(*) AS n, sum(o.amount * 2) AS revenue FROM orders o JOIN accounts a ON a.id = o.account_id " +
		"WHERE o.account_id <= 100 GROUP BY o.account_id ORDER BY revenue DESC, o.account_id LIMIT 50"},
	{"casts", "SELECT priority::text, lower(status) FROM orders WHERE priority = 'low'"},
}

// resolvePlainSchema has the tables resolveBenchCases read, with the
// fixture's column types but no code of the owner's: the common case.
const resolvePlainSchema = `
CREATE TYPE public.priority AS ENUM ('low', 'normal', 'high');
CREATE TABLE public.accounts (id integer PRIMARY KEY, tenant text NOT NULL, name text NOT NULL, balance numeric(12, 2) NOT NULL,
	status text NOT NULL, created_at timestamptz NOT NULL);
CREATE TABLE public.orders (id serial PRIMARY KEY, account_id integer NOT NULL REFERENCES public.accounts (id),
	amount numeric(12, 2) NOT NULL, status text NOT NULL, priority public.priority NOT NULL);
`

// BenchmarkResolve measures the owner-code lookup (one round trip, on a
// read-only transaction as execute_sql runs it) for resolveBenchCases, on a
// database without owner code (resolvePlainSchema) and on
// one full of it (resolveFixture, where "casts" is refused), with the queries planned on every call
// (what the executor does while statements are not prepared) and with
// prepared statements (plans cached on the connection), each with the
// current queries and their previous definitions (ref). Besides the wall
// time of a lookup it reports the database's planning and execution time
// per lookup (dbStats); docs/benchmarks.md ("Owner-code lookup cost") has
// the figures.
func BenchmarkResolve(b *testing.B) {
	ctx := context.Background()
	plain := pgtest.NewDatabase(b)
	pgtest.Exec(b, plain.URI, resolvePlainSchema)
	owned := resolveFixture(b)
	for _, db := range []struct {
		name string
		db   *pgtest.Database
	}{{"plain", plain}, {"owner-code", owned}} {
		for _, mode := range []struct {
			name string
			exec pgx.QueryExecMode
		}{{"planned", pgx.QueryExecModeExec}, {"prepared", pgx.QueryExecModeCacheStatement}} {
			tx := resolveTx(b, db.db.URI, mode.exec)
			stats := newDBStats(b, tx, db.db.Name)
			for _, c := range resolveBenchCases {
				v, err := sqlguard.Validate(c.sql, sqlguard.Options{Mode: access.UserRO, Database: db.db.Name, ServerMajor: 13})
				if err != nil || v.Lookup == nil {
					b.Fatalf("%s: %v (lookup %v)", c.sql, err, v)
				}
				for _, q := range []struct{ name, named, hot string }{{"current", namedCodeSQL, hotCodeSQL}, {"ref", refNamedCodeSQL, refHotCodeSQL}} {
					b.Run(db.name+"/"+mode.name+"/"+c.name+"/"+q.name, func(b *testing.B) {
						// Once first: the connection's first use of the catalogs
						// fills its caches.
						if _, err := resolve(ctx, tx, v.Lookup, q.named, q.hot); err != nil {
							b.Fatal(err)
						}
						stats.reset(b)
						for b.Loop() {
							if _, err := resolve(ctx, tx, v.Lookup, q.named, q.hot); err != nil {
								b.Fatal(err)
							}
						}
						stats.report(b)
					})
				}
			}
		}
	}
}

// dbStats reads what PostgreSQL spent on a database's statements from
// pg_stat_statements (which the test cluster preloads), planning included:
// BenchmarkResolve reports it per lookup as db-plan-µs/op and
// db-exec-µs/op. Without the extension it reports nothing.
type dbStats struct {
	conn *pgx.Conn // to database postgres, where the extension is created
	db   string
}

func newDBStats(b *testing.B, tx pgx.Tx, db string) *dbStats {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.URI("postgres"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close(ctx) })
	if _, err := conn.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"); err != nil {
		b.Logf("no database figures: %v", err)
		return nil
	}
	// Until the transaction ends (superuser only).
	if _, err := tx.Exec(ctx, "SET pg_stat_statements.track_planning = on"); err != nil {
		b.Fatal(err)
	}
	return &dbStats{conn: conn, db: db}
}

func (s *dbStats) reset(b *testing.B) {
	if s == nil {
		return
	}
	if _, err := s.conn.Exec(context.Background(), "SELECT pg_stat_statements_reset()"); err != nil {
		b.Fatal(err)
	}
}

func (s *dbStats) report(b *testing.B) {
	if s == nil {
		return
	}
	var plan, exec float64
	err := s.conn.QueryRow(context.Background(), `SELECT coalesce(sum(s.total_plan_time), 0), coalesce(sum(s.total_exec_time), 0)
		FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = $1`, s.db).Scan(&plan, &exec)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(plan*1000/float64(b.N), "db-plan-µs/op")
	b.ReportMetric(exec*1000/float64(b.N), "db-exec-µs/op")
}

// TestResolveBenchCases runs BenchmarkResolve's lookups once each, so that
// the benchmark's statements stay valid and its cases keep finding what
// they are about (make test runs no benchmarks): nothing on the plain
// database; on the fixture, the owner's cast for "casts" only.
func TestResolveBenchCases(t *testing.T) {
	ctx := context.Background()
	plain := pgtest.NewDatabase(t)
	pgtest.Exec(t, plain.URI, resolvePlainSchema)
	for _, db := range []*pgtest.Database{plain, resolveFixture(t)} {
		tx := resolveTx(t, db.URI, pgx.QueryExecModeCacheStatement)
		for _, c := range resolveBenchCases {
			v, err := sqlguard.Validate(c.sql, sqlguard.Options{Mode: access.UserRO, Database: db.Name, ServerMajor: 13})
			if err != nil || v.Lookup == nil {
				t.Fatalf("%s: %v (lookup %v)", c.sql, err, v)
			}
			want := db != plain && c.name == "casts"
			for range 2 { // the second run uses the prepared statements
				found, err := Resolve(ctx, tx, v.Lookup)
				if err != nil {
					t.Fatal(err)
				}
				if refused := v.Judge(found) != nil; refused != want {
					t.Errorf("%s: refused %v (%v), want %v", c.name, refused, v.Judge(found), want)
				}
			}
		}
	}
}

// resolveTx connects to uri with exec mode and opens a read-only
// transaction with the user modes' search_path; both end with the test.
func resolveTx(t testing.TB, uri string, exec pgx.QueryExecMode) pgx.Tx {
	t.Helper()
	ctx := context.Background()
	cfg, err := pgx.ParseConfig(uri)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DefaultQueryExecMode = exec
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback(ctx) })
	if _, err := tx.Exec(ctx, "SET LOCAL search_path = public"); err != nil {
		t.Fatal(err)
	}
	return tx
}

// TestResolveDomainDefaultThroughOperator pins a case the previous queries
// (resolve_ref_test.go) missed: a domain whose DEFAULT calls owner code
// through an operator runs it when a row is written without that column.
// pg_depend records the default's dependency on the operator, not on its
// function. Without the lookup the tripwire fires; with it the statement
// is refused and nothing is written.
func TestResolveDomainDefaultThroughOperator(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDatabase(t)
	pgtest.Exec(t, db.URI, `
CREATE FUNCTION public.trip_op(a text, b text) RETURNS text LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'TRIPWIRE'; END$$;
CREATE OPERATOR public.### (LEFTARG = text, RIGHTARG = text, FUNCTION = public.trip_op);
CREATE DOMAIN public.d_opdef AS text DEFAULT ('a' ### 'b');
CREATE TABLE public.t (id integer, v public.d_opdef);`)
	conn, err := pgx.Connect(ctx, db.URI)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, sql := range []string{"INSERT INTO t (id) VALUES (1)", "INSERT INTO t VALUES (1, DEFAULT)"} {
		if _, err := conn.Exec(ctx, sql); err == nil || !strings.Contains(err.Error(), "TRIPWIRE") {
			t.Fatalf("%s without the lookup: %v, want the tripwire to fire (the fixture is wrong)", sql, err)
		}
		v, err := sqlguard.Validate(sql, sqlguard.Options{Mode: access.UserRW, Database: db.Name})
		if err != nil || v.Lookup == nil {
			t.Fatalf("%s: %v (lookup %v)", sql, err, v)
		}
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		found, err := Resolve(ctx, tx, v.Lookup)
		if err != nil {
			t.Fatal(err)
		}
		err = v.Judge(found)
		if err == nil {
			_, err = tx.Exec(ctx, sql)
			t.Errorf("%s: not refused (found %+v); run: %v", sql, found, err)
		} else if !strings.Contains(err.Error(), "default of domain d_opdef calls public.trip_op(text,text)") {
			t.Errorf("%s: refused with %q, want it to name the domain's default and its function", sql, err)
		}
		tx.Rollback(ctx)
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil || n != 0 {
		t.Errorf("t has %d rows (%v), want none", n, err)
	}
}
