package sqlguard_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgherd/pgherd/internal/access"
	"github.com/pgherd/pgherd/internal/catalog"
	"github.com/pgherd/pgherd/internal/pgtest"
	"github.com/pgherd/pgherd/internal/roles"
	"github.com/pgherd/pgherd/internal/sqlguard"
)

// fixture is a database loaded with testdata/attacks/schema.sql and one login
// role per access mode, set up the way vectors.yaml's header describes.
type fixture struct {
	db    *pgtest.Database
	roles map[access.Mode]string // URI per mode
}

// Limits the test executor applies; vectors.yaml's header promises the
// end-to-end executor's are at least this strict.
const (
	testTimeout  = 200 * time.Millisecond
	testMaxRows  = 1000
	testMaxBytes = 1 << 20
)

func newFixture(t testing.TB) *fixture {
	t.Helper()
	suffix := strings.ToLower(rand.Text()[:8])
	name := func(m access.Mode) string { return "sg_" + string(m) + "_" + suffix }
	pw := map[access.Mode]string{}
	// Roles first, so that their cleanup runs after the database is dropped.
	for _, m := range access.Modes {
		pw[m] = pgtest.CreateRole(t, name(m), "")
	}
	db := pgtest.NewDatabase(t)
	owner := pgx.Identifier{name(access.AdminRW)}.Sanitize()
	pgtest.Exec(t, db.URI, fmt.Sprintf("ALTER DATABASE %s OWNER TO %s", pgx.Identifier{db.Name}.Sanitize(), owner))
	schema, err := os.ReadFile(filepath.Join(corpusDir, "schema.sql"))
	if err != nil {
		t.Fatalf("reading schema.sql: %v", err)
	}
	ownerURI := pgtest.URIAs(db.Name, name(access.AdminRW), pw[access.AdminRW])
	pgtest.Exec(t, ownerURI, string(schema))
	ro := pgx.Identifier{name(access.UserRO)}.Sanitize()
	rw := pgx.Identifier{name(access.UserRW)}.Sanitize()
	pgtest.Exec(t, ownerURI, fmt.Sprintf(`
		GRANT USAGE ON SCHEMA public TO %[1]s, %[2]s;
		GRANT SELECT ON ALL TABLES IN SCHEMA public TO %[1]s, %[2]s;
		GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO %[1]s, %[2]s;
		GRANT INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO %[2]s;
		GRANT USAGE, UPDATE ON ALL SEQUENCES IN SCHEMA public TO %[2]s;`, ro, rw))
	// admin_ro gets what internal/roles grants it (USAGE and SELECT on the
	// user schemas, pg_monitor), which the corpus's expectations assume.
	stmts, err := roles.Statements(roles.Spec{Role: name(access.AdminRO), Password: pgtest.Secret(pw[access.AdminRO]),
		Mode: access.AdminRO, Database: db.Name, Owner: name(access.AdminRW)})
	if err != nil {
		t.Fatalf("admin_ro role: %v", err)
	}
	su, err := pgx.Connect(context.Background(), db.URI)
	if err != nil {
		t.Fatal(err)
	}
	defer su.Close(context.Background())
	if err := roles.Apply(context.Background(), su, stmts); err != nil {
		t.Fatalf("admin_ro role: %v", err)
	}
	// Hardened as a served database is: EXECUTE on the owner's routines
	// revoked from PUBLIC, CONNECT only for the roles that serve it.
	if err := roles.Apply(context.Background(), su, roles.Harden(db.Name, name(access.AdminRW))); err != nil {
		t.Fatalf("hardening: %v", err)
	}
	pgtest.Exec(t, db.URI, fmt.Sprintf("GRANT CONNECT ON DATABASE %s TO %s, %s", pgx.Identifier{db.Name}.Sanitize(), ro, rw))
	f := &fixture{db: db, roles: map[access.Mode]string{}}
	for _, m := range access.Modes {
		f.roles[m] = pgtest.URIAs(db.Name, name(m), pw[m])
	}
	return f
}

// connect opens a connection as mode's role. Statements run through the
// extended protocol with unnamed statements, as the executor runs user SQL.
func (f *fixture) connect(t testing.TB, ctx context.Context, m access.Mode) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(f.roles[m])
	if err != nil {
		t.Fatalf("parsing URI: %v", err)
	}
	cfg.DefaultQueryExecMode = pgx.QueryExecModeDescribeExec
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("connecting as %s: %v", m, err)
	}
	return conn
}

// execute runs sql on conn the way the executor would for mode and reports
// the outcome with the error that decided it (nil when it succeeded or hit a
// cap); setup is a failure to start the call. The transaction is always
// rolled back, so the fixture survives for the next vector; statements that
// cannot run in a transaction block run on their own (those in the corpus
// leave nothing behind that matters to later vectors).
func execute(ctx context.Context, conn *pgx.Conn, m access.Mode, v *sqlguard.Verdict, sql string) (_ outcome, cause, setup error) {
	return executeWithin(ctx, conn, m, v, sql, testTimeout, nil)
}

// executeWithin is execute with another statement timeout and the
// validator's catalog lookup: judged (when set) gets the lookup's verdict,
// found in the call's transaction before the statement runs; a refusal
// ends the call as refused.
func executeWithin(ctx context.Context, conn *pgx.Conn, m access.Mode, v *sqlguard.Verdict, sql string, timeout time.Duration, judged *error) (_ outcome, cause, setup error) {
	set := fmt.Sprintf("SET LOCAL statement_timeout = %d; SET LOCAL lock_timeout = %d", timeout.Milliseconds(), timeout.Milliseconds())
	if m.PublicOnly() {
		set += "; SET LOCAL search_path = public"
	}
	if v.NoTransaction {
		if _, err := conn.Exec(ctx, strings.ReplaceAll(set, "LOCAL ", "")); err != nil {
			return "", nil, err
		}
	} else {
		begin := "BEGIN"
		if m.ReadOnly() {
			begin = "BEGIN READ ONLY"
		}
		if _, err := conn.Exec(ctx, begin+"; "+set); err != nil {
			return "", nil, err
		}
		defer conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
	}
	if judged != nil && v.Lookup != nil {
		// The lookup is trusted SQL; the test's tight timeout is for the
		// statement (on a loaded machine the catalog queries can take
		// longer than it).
		if _, err := conn.Exec(ctx, "SET LOCAL statement_timeout = '60s'"); err != nil {
			return "", nil, err
		}
		found, err := catalog.Resolve(ctx, conn, v.Lookup)
		if err != nil {
			return "", nil, err
		}
		if _, err := conn.Exec(ctx, fmt.Sprintf("SET LOCAL statement_timeout = %d", timeout.Milliseconds())); err != nil {
			return "", nil, err
		}
		if *judged = v.Judge(found); *judged != nil {
			return refused, *judged, nil
		}
	}
	qctx, cancel := context.WithTimeout(ctx, 10*timeout) // backstop; statement_timeout fires first
	defer cancel()
	rows, err := conn.Query(qctx, sql)
	if err != nil {
		return classifyErr(err), err, nil
	}
	n, size := 0, 0
	for rows.Next() {
		n++
		for _, b := range rows.RawValues() {
			size += len(b)
		}
		if n > testMaxRows || size > testMaxBytes {
			cancel() // stop the query as the executor does at its caps
			rows.Close()
			return bounded, nil, nil
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return classifyErr(err), err, nil
	}
	return allowed, nil, nil
}

func classifyErr(err error) outcome {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "57014" { // query_canceled: statement_timeout
		return bounded
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return bounded
	}
	return refused
}

// TestCorpusPostgres replays every vector the validator lets through against
// the fixture, as each mode's least-privileged role, and checks PostgreSQL's
// outcome against the corpus: this keeps the expectations in vectors.yaml
// honest (a vector marked allowed must really run, one marked refused with a
// guard of allowed must really fail in PostgreSQL). The full end-to-end replay
// through MCP lives with the tools; this is the validator's half of it.
func TestCorpusPostgres(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("replays the corpus against PostgreSQL")
	}
	vectors := loadCorpus(t)
	f := newFixture(t)
	ctx := context.Background()
	su, err := pgx.Connect(ctx, f.db.URI)
	if err != nil {
		t.Fatal(err)
	}
	defer su.Close(ctx)
	for _, v := range vectors {
		if v.Category == "output_size" {
			continue // decided by pgherd's caps, which this test's executor does not have; the end-to-end replay checks them
		}
		for _, m := range access.Modes {
			sql := v.sqlFor(f.db.Name)
			opts := corpusOptions(m)
			opts.Database = f.db.Name
			verdict, err := sqlguard.Validate(sql, opts)
			if err != nil {
				continue // TestCorpusGuard checks the refusals
			}
			conn := f.connect(t, ctx, m)
			sessionBefore := fingerprintSession(t, ctx, conn)
			var before string
			if m.ReadOnly() {
				before = fingerprintDB(t, ctx, su)
			}
			var judged error
			got, cause, err := executeWithin(ctx, conn, m, verdict, sql, testTimeout, &judged)
			if err != nil {
				t.Fatalf("%s in %s: setting up: %v", v.Name, m, err)
			}
			if judged != nil {
				// The validator refused it after looking in the catalog.
				if want := v.guardOutcome(m); want != refused {
					t.Errorf("%s in %s: the validator's catalog lookup refused it (%v), corpus expects %s\n%s", v.Name, m, judged, want, sql)
				}
				conn.Close(ctx)
				continue
			}
			if v.guardOutcome(m) == refused && v.checkOutcome(m) == allowed {
				t.Errorf("%s in %s: the validator's catalog lookup let it through, corpus expects it refused\n%s", v.Name, m, sql)
			}
			if want := v.Expect[m]; got != want {
				t.Errorf("%s in %s: PostgreSQL outcome %s (%v), corpus expects %s\n%s", v.Name, m, got, cause, want, v.SQL)
			}
			if m.ReadOnly() {
				// Whatever a read-only mode let through must leave nothing
				// behind, on the connection or in the database.
				if after := fingerprintSession(t, ctx, conn); after != sessionBefore && !conn.IsClosed() {
					t.Errorf("%s in %s: session state changed:\nbefore %s\nafter  %s", v.Name, m, sessionBefore, after)
				}
				if after := fingerprintDB(t, ctx, su); after != before {
					t.Errorf("%s in %s: database changed:\nbefore %s\nafter  %s", v.Name, m, before, after)
				}
			}
			conn.Close(ctx)
		}
	}
}

// fingerprintDB summarises what a statement could change in the database:
// every user table's content, the relations, functions and types outside
// the system schemas (temporary ones included), sequence positions, large
// objects, advisory locks and prepared transactions (both counted for this
// database only, as other tests run beside this one).
func fingerprintDB(t testing.TB, ctx context.Context, su *pgx.Conn) string {
	t.Helper()
	rows, err := su.Query(ctx, `SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'p') AND n.nspname IN ('public', 'secret') ORDER BY 1`)
	if err != nil {
		t.Fatalf("fingerprint: %v", err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("fingerprint: %v", err)
	}
	// One round trip for the rest: a subquery per table, then the
	// catalog-wide parts.
	var parts []string
	for _, tbl := range tables {
		parts = append(parts, fmt.Sprintf("'%s=' || (SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') FROM %s t)",
			strings.ReplaceAll(tbl, "'", "''"), tbl))
	}
	for _, q := range []string{
		`SELECT coalesce(string_agg(format('%s.%s:%s', n.nspname, c.relname, c.relkind), ',' ORDER BY n.nspname, c.relname), '') FROM pg_class c
			JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')`,
		`SELECT count(*)::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')`,
		`SELECT count(*)::text FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')`,
		`SELECT coalesce(string_agg(format('%s.%s=%s', schemaname, sequencename, last_value), ',' ORDER BY schemaname, sequencename), '') FROM pg_sequences`,
		`SELECT 'lo=' || count(*) FROM pg_largeobject_metadata`,
		`SELECT 'advisory=' || count(*) FROM pg_locks WHERE locktype = 'advisory'
			AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
		`SELECT 'xacts=' || count(*) FROM pg_prepared_xacts WHERE database = current_database()`,
		`SELECT 'acl=' || coalesce(md5(string_agg(relacl::text, ',' ORDER BY oid)), '') FROM pg_class WHERE relnamespace IN ('public'::regnamespace, 'secret'::regnamespace)`,
	} {
		parts = append(parts, "("+q+")")
	}
	var s string
	q := "SELECT concat_ws(' ', " + strings.Join(parts, ", ") + ")"
	if err := su.QueryRow(ctx, q).Scan(&s); err != nil {
		t.Fatalf("fingerprint: %v\n%s", err, q)
	}
	return s
}

// fingerprintSession summarises the state a statement could leave on its
// connection: settings, prepared statements, cursors, LISTEN channels.
func fingerprintSession(t testing.TB, ctx context.Context, conn *pgx.Conn) string {
	t.Helper()
	if conn.IsClosed() {
		return "closed"
	}
	var s string
	err := conn.QueryRow(ctx, `SELECT
		(SELECT coalesce(string_agg(name || '=' || setting, ',' ORDER BY name), '') FROM pg_settings WHERE source NOT IN ('default', 'override', 'configuration file', 'environment variable'))
		|| ' prepared=' || (SELECT count(*) FROM pg_prepared_statements)
		|| ' cursors=' || (SELECT count(*) FROM pg_cursors)
		|| ' listen=' || (SELECT count(*) FROM pg_listening_channels())
		|| ' txn=' || (SELECT count(*) FROM pg_locks WHERE locktype = 'transactionid' AND pid = pg_backend_pid())`).Scan(&s)
	if err != nil {
		return "error: " + err.Error()
	}
	return s
}

// TestFingerprintsDetectEffects makes sure the fingerprints the corpus and
// fuzz tests rely on do notice the effects that survive a rollback.
func TestFingerprintsDetectEffects(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	su, err := pgx.Connect(ctx, f.db.URI)
	if err != nil {
		t.Fatal(err)
	}
	defer su.Close(ctx)
	for _, sql := range []string{
		"SELECT nextval('invoice_seq')",
		"SELECT pg_advisory_lock(7)",
		"PREPARE p AS SELECT 1",
		"SELECT lo_create(0)", // rolled back: must NOT be reported
	} {
		v, err := sqlguard.Check(sql, adminRW)
		if err != nil {
			t.Fatal(err)
		}
		conn := f.connect(t, ctx, adminRW)
		session, db := fingerprintSession(t, ctx, conn), fingerprintDB(t, ctx, su)
		if got, cause, err := execute(ctx, conn, adminRW, v, sql); err != nil || got != allowed {
			t.Fatalf("%s: %s %v %v", sql, got, cause, err)
		}
		changed := fingerprintSession(t, ctx, conn) != session || fingerprintDB(t, ctx, su) != db
		if want := sql != "SELECT lo_create(0)"; changed != want {
			t.Errorf("%s: fingerprints changed = %t, want %t", sql, changed, want)
		}
		conn.Close(ctx)
	}
}
