package sqlguard_test

import (
	"context"
	"errors"
	"testing"
	"unicode/utf8"

	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/jackc/pgx/v5"

	"github.com/pgherd/pgherd/internal/access"
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
	f.Fuzz(func(t *testing.T, sql string, mode uint8) {
		m := access.Modes[int(mode)%len(access.Modes)]
		v, err := sqlguard.Check(sql, m)
		checkResult(t, sql, m, v, err)
		if err != nil {
			return
		}
		if m.ReadOnly() && !v.ReadOnly {
			t.Fatalf("Check(%q, %s) accepted a statement it judges not read-only: %+v", sql, m, v)
		}
		for _, analyze := range []bool{false, true} {
			ev, eerr := sqlguard.CheckExplain(sql, m, analyze)
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
		v2, err := sqlguard.Check(again, m)
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
