package sqlguard_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/jackc/pgx/v5"

	"github.com/pgherd/pgherd/internal/access"
	"github.com/pgherd/pgherd/internal/catalog"
	"github.com/pgherd/pgherd/internal/pg"
	"github.com/pgherd/pgherd/internal/pgtest"
	"github.com/pgherd/pgherd/internal/sqlguard"
)

// extraSeeds add shapes the corpus lacks: odd lexical forms and deep nesting.
var extraSeeds = []string{
	"SELECT $1::int + $2",
	"SELECT U&'d\\0061t\\+000061' UESCAPE '\\'",
	"SELECT B'1010', X'ff', 1e10, .5, 0x1F, 1_000",
	"SELECT * FROM (VALUES (1)) v(a) WHERE a IN (SELECT generate_series(1, 3))",
	"WITH RECURSIVE t(n) AS (VALUES (1) UNION ALL SELECT n + 1 FROM t WHERE n < 10) SEARCH DEPTH FIRST BY n SET o SELECT * FROM t",
	"SELECT JSON_OBJECT('a': 1), JSON_ARRAY(1, 2), '{}'::jsonb IS JSON OBJECT",
	"SELECT * FROM JSON_TABLE('[1]'::jsonb, '$[*]' COLUMNS (a int PATH '$'))",
	"SELECT ((((((((((1))))))))))",
	"EXPLAIN (ANALYZE, FORMAT JSON) WITH x AS MATERIALIZED (SELECT 1) SELECT * FROM x",
}

// FuzzCheck checks that Check never panics and keeps its promises on any
// input and mode: errors are *Error with a known reason and a position inside
// the text; verdicts in the read-only modes are read-only; and a statement
// accepted as read-only is still accepted as read-only after being deparsed
// and parsed again (so the verdict depends on the statement, not its
// spelling).
func FuzzCheck(f *testing.F) {
	for _, v := range loadCorpus(f) {
		f.Add(v.SQL, uint8(0))
		f.Add(v.SQL, uint8(2))
	}
	for _, s := range extraSeeds {
		f.Add(s, uint8(0))
	}
	for _, s := range ownerCodeSeeds {
		f.Add(s, uint8(1))
		f.Add(s, uint8(6))
	}
	f.Fuzz(func(t *testing.T, sql string, mode uint8) {
		m := access.Modes[int(mode)%len(access.Modes)]
		// The server version varies with the mode byte too: 15, 16, 17.
		opts := sqlguard.Options{Mode: m, Database: corpusDB, ServerMajor: 15 + int(mode/4)%3}
		v, err := sqlguard.Validate(sql, opts)
		checkResult(t, sql, m, v, err)
		if err != nil {
			return
		}
		if v.Lookup != nil && m != access.AdminRW {
			// Untrusted code found for any entry refuses, pointing into the text.
			for _, fn := range v.Lookup.Functions {
				found := []sqlguard.Candidate{{Kind: sqlguard.CandidateFunction, Name: fn.Name, Function: "public.x()", Schema: "public", Language: "sql"}}
				var e *sqlguard.Error
				if err := v.Judge(found); !errors.As(err, &e) || e.Reason != sqlguard.CodeNotAllowed ||
					e.Position < 0 || e.Position > utf8.RuneCountInString(sql)+1 {
					t.Fatalf("Validate(%q, %s): Judge of an overload of %s = %v, want code_not_allowed inside the text", sql, m, fn.Name, err)
				}
			}
			if err := v.Judge(nil); err != nil {
				t.Fatalf("Validate(%q, %s): Judge(nil) = %v", sql, m, err)
			}
		}
		if m.ReadOnly() && !v.ReadOnly {
			t.Fatalf("Check(%q, %s) accepted a statement it judges not read-only: %+v", sql, m, v)
		}
		for _, analyze := range []bool{false, true} {
			ev, eerr := sqlguard.ValidateExplain(sql, opts, analyze)
			checkResult(t, sql, m, ev, eerr)
			if eerr == nil && analyze && !ev.ReadOnly {
				t.Fatalf("CheckExplain(%q, %s, true) accepted a statement that is not read-only: %+v", sql, m, ev)
			}
		}
		if !v.ReadOnly {
			return
		}
		tree, err := pg_query.Parse(sql)
		if err != nil {
			t.Fatalf("Check accepted %q but pg_query.Parse fails: %v", sql, err)
		}
		again, err := pg_query.Deparse(tree)
		if err != nil {
			return // the deparser cannot print every tree; nothing to compare
		}
		if _, err := pg_query.Parse(again); err != nil {
			return // the deparser's own bug (its output does not parse), not ours
		}
		v2, err := sqlguard.Validate(again, opts)
		if err != nil {
			t.Fatalf("Check(%q, %s) accepted, but its deparsed form %q is refused: %v", sql, m, again, err)
		}
		if !v2.ReadOnly || v2.Command != v.Command {
			t.Fatalf("Check(%q, %s) = %+v, but its deparsed form %q gives %+v", sql, m, v, again, v2)
		}
	})
}

func checkResult(t *testing.T, sql string, m access.Mode, v *sqlguard.Verdict, err error) {
	t.Helper()
	if err != nil {
		var e *sqlguard.Error
		if !errors.As(err, &e) {
			t.Fatalf("Check(%q, %s) returned %T %v, want *sqlguard.Error", sql, m, err, err)
		}
		if e.Reason < sqlguard.Syntax || e.Reason > sqlguard.TooLarge || e.Message == "" {
			t.Fatalf("Check(%q, %s) returned %+v: unknown reason or empty message", sql, m, e)
		}
		if e.Position < 0 || e.Position > utf8.RuneCountInString(sql)+1 {
			t.Fatalf("Check(%q, %s) returned position %d outside the text", sql, m, e.Position)
		}
		if v != nil {
			t.Fatalf("Check(%q, %s) returned both a verdict and an error", sql, m)
		}
		return
	}
	if v == nil || v.Command == "" || v.Params < 0 {
		t.Fatalf("Check(%q, %s) = %+v, want a verdict with a command", sql, m, v)
	}
	if (v.Command == "EXPLAIN") != (v.Explain != nil) || (v.Explain != nil && v.Explain.Inner == nil) {
		t.Fatalf("Check(%q, %s) = %+v: Explain must be set exactly for EXPLAIN", sql, m, v)
	}
}

// FuzzReadOnlyExecutes runs every input Check accepts in user_ro against the
// attack fixture, as a role that owns nothing, inside BEGIN READ ONLY with a
// short statement timeout, and checks that the database and the connection
// are exactly as before: row contents, relations, sequences, large objects,
// advisory locks, prepared transactions and statements, cursors, LISTEN
// channels and settings.
func FuzzReadOnlyExecutes(f *testing.F) {
	if testing.Short() {
		f.Skip("needs PostgreSQL")
	}
	for _, v := range loadCorpus(f) {
		if v.Expect[access.UserRO] != refused {
			f.Add(v.SQL)
		}
	}
	for _, s := range extraSeeds {
		f.Add(s)
	}
	fx := newFixture(f)
	ctx := context.Background()
	su, err := pgx.Connect(ctx, fx.db.URI)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { su.Close(context.Background()) })
	dbBefore := fingerprintDB(f, ctx, su)
	var conn *pgx.Conn
	var sessionBefore string
	f.Cleanup(func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	})
	f.Fuzz(func(t *testing.T, sql string) {
		v, err := sqlguard.Check(sql, access.UserRO)
		if err != nil {
			return
		}
		if conn == nil || conn.IsClosed() {
			conn = fx.connect(t, ctx, access.UserRO)
			sessionBefore = fingerprintSession(t, ctx, conn)
		}
		if _, _, err := execute(ctx, conn, access.UserRO, v, sql); err != nil {
			conn.Close(ctx)
			conn = nil
			return // the connection broke while starting the call; not a finding
		}
		if after := fingerprintSession(t, ctx, conn); !conn.IsClosed() && after != sessionBefore {
			t.Fatalf("%q changed the session:\nbefore %s\nafter  %s", sql, sessionBefore, after)
		}
		if after := fingerprintDB(t, ctx, su); after != dbBefore {
			t.Fatalf("%q changed the database:\nbefore %s\nafter  %s", sql, dbBefore, after)
		}
	})
}

func BenchmarkCheck(b *testing.B) {
	statements := []struct {
		name string
		mode access.Mode
		sql  string
	}{
		{"point", access.UserRO, "SELECT id, name, email FROM accounts WHERE id = $1"},
		{"analytics", access.UserRO, `WITH monthly AS (
			SELECT account_id, date_trunc('month', created_at) AS month, sum(amount) AS revenue, count(*) AS orders
			FROM orders WHERE status <> 'refunded' AND created_at >= now() - interval '1 year'
			GROUP BY 1, 2)
		SELECT a.name, m.month, m.revenue, m.orders,
		       rank() OVER (PARTITION BY m.month ORDER BY m.revenue DESC) AS rank,
		       m.revenue - lag(m.revenue) OVER (PARTITION BY a.id ORDER BY m.month) AS growth
		FROM monthly m JOIN accounts a ON a.id = m.account_id
		WHERE a.status = 'active'
		ORDER BY m.month DESC, rank
		LIMIT 100`},
		{"upsert", access.UserRW, `INSERT INTO accounts (tenant, name, email) VALUES ($1, $2, $3)
		ON CONFLICT (email) DO UPDATE SET name = EXCLUDED.name, balance = accounts.balance + 1 RETURNING id`},
		{"catalog", access.AdminRO, `SELECT n.nspname, c.relname, pg_size_pretty(pg_total_relation_size(c.oid)), obj_description(c.oid, 'pg_class')
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
		ORDER BY pg_total_relation_size(c.oid) DESC LIMIT 20`},
		{"ddl", access.AdminRW, "CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_created_at_idx ON orders (created_at)"},
	}
	for _, s := range statements {
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := sqlguard.Check(s.sql, s.mode); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// ownerCodeSchema plants code of the database's users wherever PostgreSQL
// runs it without a call the allow-list sees — overloads of allow-listed
// names, operators, casts (explicit and implicit), a domain CHECK, row-type
// functions, names pg_catalog lacks on this server, SQL/JSON function names
// — each a tripwire that raises TRIPWIRE when it runs. The database also
// defaults standard_conforming_strings to off (pgherd pins it on).
const ownerCodeSchema = `
CREATE FUNCTION public.trip() RETURNS text LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'TRIPWIRE'; END$$;
CREATE TYPE public.kind AS ENUM ('a', 'b');
CREATE FUNCTION public.trip_bool(text) RETURNS boolean LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'TRIPWIRE'; END$$;
CREATE DOMAIN public.label AS text CHECK (public.trip_bool(VALUE));
CREATE TABLE public.items (id int PRIMARY KEY, name text, k public.kind, tags text[], doc jsonb);
CREATE TABLE public.labelled (id int, l public.label);
INSERT INTO public.items VALUES (1, 'one', 'a', '{x}', '{"a": 1}'), (2, 'two', 'b', '{}', '[]');
CREATE FUNCTION public.lower(public.items) RETURNS text LANGUAGE sql AS 'SELECT public.trip()';
CREATE FUNCTION public.upper(public.kind) RETURNS text LANGUAGE sql AS 'SELECT public.trip()';
CREATE FUNCTION public.length(public.kind) RETURNS int LANGUAGE sql AS 'SELECT length(public.trip())';
CREATE FUNCTION public.format(public.kind, text) RETURNS text LANGUAGE sql AS 'SELECT public.trip()';
CREATE FUNCTION public.casefold(text) RETURNS text LANGUAGE sql AS 'SELECT public.trip()';
CREATE FUNCTION public.any_value(public.kind) RETURNS text LANGUAGE sql AS 'SELECT public.trip()';
CREATE FUNCTION public.json_array(int) RETURNS text LANGUAGE sql AS 'SELECT public.trip()';
CREATE FUNCTION public.json_scalar(int) RETURNS text LANGUAGE sql AS 'SELECT public.trip()';
CREATE FUNCTION public.json_object(public.kind) RETURNS text LANGUAGE sql AS 'SELECT public.trip()';
CREATE FUNCTION public.nick(public.items) RETURNS text LANGUAGE sql AS 'SELECT public.trip()';
CREATE FUNCTION public.op_text(text, text) RETURNS text LANGUAGE sql AS 'SELECT public.trip()';
CREATE OPERATOR public.### (LEFTARG = text, RIGHTARG = text, FUNCTION = public.op_text);
CREATE FUNCTION public.op_kind(public.kind, int) RETURNS int LANGUAGE sql AS 'SELECT length(public.trip())';
CREATE OPERATOR public.+ (LEFTARG = public.kind, RIGHTARG = int, FUNCTION = public.op_kind);
CREATE FUNCTION public.kind_text(public.kind) RETURNS text LANGUAGE sql AS 'SELECT public.trip()';
CREATE CAST (public.kind AS text) WITH FUNCTION public.kind_text(public.kind);
CREATE FUNCTION public.kind_int(public.kind) RETURNS int LANGUAGE sql AS 'SELECT length(public.trip())';
CREATE CAST (public.kind AS int) WITH FUNCTION public.kind_int(public.kind) AS IMPLICIT;
`

// ownerCodeSeeds reach every tripwire, and the differentials class 2 of
// issue #7 is about.
var ownerCodeSeeds = []string{
	"SELECT lower(i) FROM items i",
	"SELECT upper(k), length(k), format(k, 'x') FROM items",
	"SELECT casefold(name) FROM items",
	"SELECT any_value(k) FROM items",
	"SELECT json_array(1), json_scalar(2)",
	"SELECT json_object(k) FROM items",
	"SELECT i.nick, (i).nick FROM items i",
	"SELECT 'a' ### 'b'",
	"SELECT k + 1 FROM items",
	"SELECT k::text, CAST(k AS text) FROM items",
	"SELECT 'a'::kind::text",
	"SELECT 'x'::label",
	"SELECT * FROM jsonb_populate_record(NULL::labelled, '{\"l\": \"x\"}')",
	"INSERT INTO labelled VALUES (1, 'x')",
	"UPDATE labelled SET l = 'y'",
	"SELECT id FROM items WHERE k = 'a' AND name = 'one' ORDER BY id",
	"SELECT lower(name), upper(name), length(name) FROM items",
	"SELECT '\\' AS a, ' AS b, (SELECT lower(i) FROM items i LIMIT 1) AS c --'",
	"SELECT '\\' AS a, ' , upper(k) FROM items --'",
	"SELECT name FROM items WHERE name IN ('one', 'two') AND id BETWEEN 1 AND 2",
	"SELECT CASE k WHEN 'a' THEN 1 END FROM items",
	"SELECT pg_catalog.lower(name), pg_catalog.upper(name) FROM items",
}

// FuzzOwnerCodeNeverRuns runs what the validator accepts, through pgherd's
// executor (startup parameters pinned) and its catalog lookup, against a
// database full of tripwires (ownerCodeSchema) with a superuser login —
// nothing but the validator and executor stand in the way — in user_ro,
// user_rw and admin_ro. No accepted statement may set one off. Without
// -fuzz it runs the seeds.
func FuzzOwnerCodeNeverRuns(f *testing.F) {
	if testing.Short() {
		f.Skip("needs PostgreSQL")
	}
	for _, s := range ownerCodeSeeds {
		for m := range 3 {
			f.Add(s, uint8(m))
		}
	}
	for _, v := range loadCorpus(f) {
		if v.Category == "owner_code" || v.Category == "parser_differential" {
			f.Add(v.SQL, uint8(0))
		}
	}
	db := pgtest.NewDatabase(f)
	pgtest.Exec(f, db.URI, ownerCodeSchema+"ALTER DATABASE "+pgx.Identifier{db.Name}.Sanitize()+" SET standard_conforming_strings = off")
	pool, err := pg.Connect(context.Background(), "fuzz", db.URI, pg.PoolOptions{MaxConns: 2,
		Limits: pg.Limits{StatementTimeout: 2 * time.Second, MaxRows: 100, MaxResultBytes: 1 << 20}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(pool.Close)
	// Unguarded, the seeds do set the tripwires off: the property below is
	// not vacuous.
	for _, sql := range []string{"SELECT lower(i) FROM items i", "SELECT 'a' ### 'b'", "SELECT k + 1 FROM items", "SELECT 'x'::label", "SELECT i.nick FROM items i"} {
		_, err := pool.Run(context.Background(), pg.TxOptions{ReadOnly: true, Rollback: true, PublicOnly: true}, pg.Call{SQL: sql})
		if err == nil || !strings.Contains(err.Error(), "TRIPWIRE") {
			f.Fatalf("the fixture's tripwire did not fire for %q without the validator: %v", sql, err)
		}
	}
	modes := []access.Mode{access.UserRO, access.UserRW, access.AdminRO}
	f.Fuzz(func(t *testing.T, sql string, mode uint8) {
		m := modes[int(mode)%len(modes)]
		v, err := sqlguard.Validate(sql, sqlguard.Options{Mode: m, Database: pool.Database(), ServerMajor: pool.ServerMajor(),
			PrivilegedLogin: len(pool.Login().Privileges()) > 0})
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		opts := pg.TxOptions{ReadOnly: m.ReadOnly(), Rollback: true, PublicOnly: m.PublicOnly()}
		err = pool.Do(ctx, opts, func(ctx context.Context, tx *pg.Tx) error {
			if v.Lookup != nil {
				found, err := catalog.Resolve(ctx, tx.Conn(), v.Lookup)
				if err != nil {
					return err
				}
				if err := v.Judge(found); err != nil {
					return err
				}
			}
			_, err := tx.Query(ctx, pg.Call{SQL: sql, ReadOnly: v.ReadOnly, Discard: v.SessionState})
			return err
		})
		if err != nil && strings.Contains(err.Error(), "TRIPWIRE") {
			t.Fatalf("%q in %s ran code of the database's users: %v", sql, m, err)
		}
	})
}
