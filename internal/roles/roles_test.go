package roles

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgherd/pgherd/internal/access"
	"github.com/pgherd/pgherd/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// fixtureSQL is what the owner creates: a public table, view and sequence,
// and a table in a schema the user modes must not reach.
const fixtureSQL = `
CREATE TABLE public.items (id serial PRIMARY KEY, name text NOT NULL);
INSERT INTO public.items (name) VALUES ('apple'), ('pear'), ('plum');
CREATE VIEW public.item_names AS SELECT name FROM public.items;
CREATE SEQUENCE public.counter;
CREATE SCHEMA secret;
CREATE TABLE secret.tokens (token text);
INSERT INTO secret.tokens VALUES ('s3cr3t');
`

// fixture is a fresh database whose objects belong to owner, hardened.
type fixture struct {
	db    *pgtest.Database
	owner string
}

// uniqueRole returns a cluster-wide unique role name and drops the role when
// the test ends (after the test's databases, so nothing it owns is left).
// Call it before pgtest.NewDatabase: cleanups run last-registered first.
func uniqueRole(t *testing.T, base string) string {
	t.Helper()
	name := base + "_" + strings.ToLower(rand.Text()[:8])
	t.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, pgtest.URI("postgres"))
		if err != nil {
			t.Errorf("dropping role %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP ROLE IF EXISTS "+ident(name)); err != nil {
			t.Errorf("dropping role %s: %v", name, err)
		}
	})
	return name
}

// newFixture creates the owner role (NOLOGIN; Statements gives an admin_rw
// owner its LOGIN), a database owned by it with the fixture objects, and
// hardens the database.
func newFixture(t *testing.T, owner string) *fixture {
	t.Helper()
	pgtest.Exec(t, pgtest.URI("postgres"), "CREATE ROLE "+ident(owner)+" NOLOGIN")
	db := pgtest.NewDatabase(t)
	pgtest.Exec(t, db.URI, "ALTER DATABASE "+ident(db.Name)+" OWNER TO "+ident(owner))
	pgtest.Exec(t, db.URI, "SET ROLE "+ident(owner)+";"+fixtureSQL)
	f := &fixture{db: db, owner: owner}
	f.apply(t, Harden(db.Name, owner))
	return f
}

// apply runs stmts as the superuser, failing the test on error.
func (f *fixture) apply(t *testing.T, stmts []string) {
	t.Helper()
	if err := f.tryApply(t, stmts); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) tryApply(t *testing.T, stmts []string) error {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, f.db.URI)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	return Apply(ctx, conn, stmts)
}

// connectAs opens a connection to the fixture database as role.
func (f *fixture) connectAs(t *testing.T, role, password string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.URIAs(f.db.Name, role, password))
	if err != nil {
		t.Fatalf("connecting as %s: %v", role, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// sqlstate runs sql (trusted test SQL) and returns its SQLSTATE, "" on
// success.
func sqlstate(conn *pgx.Conn, sql string) string {
	_, err := conn.Exec(context.Background(), sql)
	if err == nil {
		return ""
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return err.Error()
}

func show(t *testing.T, conn *pgx.Conn, setting string) string {
	t.Helper()
	var v string
	if err := conn.QueryRow(context.Background(), "SHOW "+setting).Scan(&v); err != nil {
		t.Fatalf("SHOW %s: %v", setting, err)
	}
	return v
}

// probe is one statement run as the role, and the SQLSTATE it must end
// with ("" for success).
type probe struct {
	sql  string
	want string
}

const denied = "42501" // insufficient_privilege

// sideEffects are what the refused probes would have left behind.
var sideEffects = []probe{
	{"SELECT count(*) FROM pg_largeobject_metadata", "large objects"},
	{"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'", "advisory locks"},
	{"SELECT count(*) FROM pg_class WHERE relname LIKE 'probe%'", "probe relations"},
	{"SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'probe%'", "probe schemas"},
}

// confined are refused to every mode but admin_rw.
var confined = []probe{
	{"SELECT lo_create(0)", denied},
	{"SELECT lo_from_bytea(0, 'x')", denied},
	{"SELECT pg_advisory_lock(1)", denied},
	{"SELECT pg_try_advisory_lock(1, 2)", denied},
	{"SELECT pg_advisory_xact_lock(1)", denied},
	{"SELECT pg_notify('probe', 'x')", denied},
	{"SELECT txid_current()", denied},
	{"SELECT pg_cancel_backend(pg_backend_pid())", denied},
	{"CREATE TABLE public.probe_table (x int)", denied},
	{"CREATE TEMP TABLE probe_temp (x int)", denied},
	{"CREATE SCHEMA probe_schema", denied},
	{"SELECT pg_read_file('PG_VERSION')", denied},
	{"COPY (SELECT 1) TO PROGRAM 'true'", denied},
	{"SELECT * FROM pg_authid", denied},
	{"TRUNCATE public.items", denied},
	{"SET temp_file_limit = -1", denied},
}

// notSuperuser are refused to every mode.
var notSuperuser = []probe{
	{"SELECT pg_read_file('PG_VERSION')", denied},
	{"SELECT lo_import('/etc/hostname')", denied},
	{"COPY (SELECT 1) TO PROGRAM 'true'", denied},
	{"ALTER SYSTEM SET work_mem = '1MB'", denied},
	{"SELECT * FROM pg_authid", denied},
	{"SET temp_file_limit = -1", denied},
	{"CREATE ROLE probe_role", denied},
	{"CREATE DATABASE probe_db", denied},
}

func TestModes(t *testing.T) {
	writes := []probe{
		{"SET default_transaction_read_only = off", ""}, // a role may, so the privileges must hold alone
		{"INSERT INTO public.items (name) VALUES ('fig')", denied},
		{"UPDATE public.items SET name = 'fig'", denied},
		{"DELETE FROM public.items", denied},
		{"SELECT nextval('public.counter')", denied},
	}
	reads := []probe{
		{"SELECT count(*) FROM public.items", ""},
		{"SELECT * FROM public.item_names", ""},
		{"SELECT last_value FROM public.counter", ""},
	}
	tests := []struct {
		mode       access.Mode
		readOnly   string // SHOW default_transaction_read_only
		secret     string // SELECT from secret.tokens
		monitor    bool   // sees other sessions' queries
		probes     [][]probe
		itemsAfter int // rows in public.items after the probes
	}{
		{access.UserRO, "on", denied, false, [][]probe{reads, writes, confined, notSuperuser}, 3},
		{access.UserRW, "off", denied, false, [][]probe{reads, confined, notSuperuser, {
			{"INSERT INTO public.items (name) VALUES ('fig')", ""},
			{"UPDATE public.items SET name = upper(name) WHERE name = 'fig'", ""},
			{"DELETE FROM public.items WHERE name = 'FIG'", ""},
			{"SELECT nextval('public.counter')", ""},
			{"INSERT INTO secret.tokens VALUES ('x')", denied},
		}}, 3},
		{access.AdminRO, "on", "", true, [][]probe{reads, writes, confined, notSuperuser, {
			{"INSERT INTO secret.tokens VALUES ('x')", denied},
			{"SELECT count(*) FROM pg_stat_activity", ""},
		}}, 3},
		{access.AdminRW, "off", "", true, [][]probe{reads, notSuperuser, {
			{"CREATE TABLE public.probe_made (x int)", ""},
			{"INSERT INTO public.probe_made VALUES (1)", ""},
			{"DROP TABLE public.probe_made", ""},
			{"CREATE TEMP TABLE probe_temp (x int)", ""},
			{"DROP TABLE probe_temp", ""},
			{"CREATE SCHEMA probe_schema", ""},
			{"DROP SCHEMA probe_schema", ""},
			{"INSERT INTO public.items (name) VALUES ('fig')", ""},
			{"DELETE FROM public.items WHERE name = 'fig'", ""},
			{"SELECT lo_create(0)", ""}, // the owner keeps large objects…
			{"SELECT lo_unlink(oid) FROM pg_largeobject_metadata", ""},
			{"SELECT pg_advisory_xact_lock(1)", ""}, // …and advisory locks
		}}, 3},
	}
	for _, tt := range tests {
		t.Run(string(tt.mode), func(t *testing.T) {
			t.Parallel()
			owner := uniqueRole(t, "owner")
			role := owner
			if tt.mode != access.AdminRW {
				role = uniqueRole(t, string(tt.mode))
			}
			f := newFixture(t, owner)
			stmts, err := Statements(Spec{Role: role, Password: "pw-" + role, Mode: tt.mode, Database: f.db.Name, Owner: owner})
			if err != nil {
				t.Fatal(err)
			}
			f.apply(t, stmts)

			// A table the owner creates later is covered by the default
			// privileges (user modes) or pg_read_all_data (admin_ro).
			pgtest.Exec(t, f.db.URI, "SET ROLE "+ident(owner)+"; CREATE TABLE public.later (x int); INSERT INTO public.later VALUES (1)")

			var attrs struct {
				super, createDB, createRole, replication, bypassRLS, login bool
				connLimit                                                  int
			}
			su := connect(t, f.db.URI)
			err = su.QueryRow(context.Background(), `SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, rolcanlogin, rolconnlimit
				FROM pg_roles WHERE rolname = $1`, role).Scan(&attrs.super, &attrs.createDB, &attrs.createRole, &attrs.replication, &attrs.bypassRLS, &attrs.login, &attrs.connLimit)
			if err != nil {
				t.Fatal(err)
			}
			if attrs.super || attrs.createDB || attrs.createRole || attrs.replication || attrs.bypassRLS || !attrs.login || attrs.connLimit != DefaultConnectionLimit {
				t.Errorf("role attributes = %+v, want login only, connection limit %d", attrs, DefaultConnectionLimit)
			}
			// Something for pg_stat_activity to show.
			if _, err := su.Exec(context.Background(), "SELECT 'pgherd-probe-marker'"); err != nil {
				t.Fatal(err)
			}

			conn := f.connectAs(t, role, "pw-"+role)
			for setting, want := range map[string]string{
				"default_transaction_read_only":       tt.readOnly,
				"statement_timeout":                   "1min",
				"idle_in_transaction_session_timeout": "1min",
				"temp_file_limit":                     "256MB",
			} {
				if got := show(t, conn, setting); got != want {
					t.Errorf("SHOW %s = %q, want %q", setting, got, want)
				}
			}
			for _, list := range tt.probes {
				for _, p := range list {
					if got := sqlstate(conn, p.sql); got != p.want {
						t.Errorf("%s: SQLSTATE %q, want %q", p.sql, got, p.want)
					}
				}
			}
			if got := sqlstate(conn, "SELECT * FROM secret.tokens"); got != tt.secret {
				t.Errorf("SELECT * FROM secret.tokens: SQLSTATE %q, want %q", got, tt.secret)
			}
			if got := sqlstate(conn, "SELECT * FROM public.later"); got != "" {
				t.Errorf("SELECT * FROM public.later (created after the grants): SQLSTATE %q, want success", got)
			}
			var query string
			if err := conn.QueryRow(context.Background(), "SELECT query FROM pg_stat_activity WHERE pid = $1", su.PgConn().PID()).Scan(&query); err != nil {
				t.Fatal(err)
			}
			if sees := strings.Contains(query, "pgherd-probe-marker"); sees != tt.monitor {
				t.Errorf("another session's query as seen in pg_stat_activity = %q; want it visible: %v", query, tt.monitor)
			}

			// Checked while the role's session is still open: a session-level
			// advisory lock would still be held.
			for _, e := range sideEffects {
				var n int
				if err := su.QueryRow(context.Background(), e.sql).Scan(&n); err != nil {
					t.Fatal(err)
				}
				if n != 0 {
					t.Errorf("%d %s left behind (%s)", n, e.want, e.sql)
				}
			}
			if n := pgtest.QueryValue[int](t, f.db.URI, "SELECT count(*)::int FROM public.items"); n != tt.itemsAfter {
				t.Errorf("public.items has %d rows, want %d", n, tt.itemsAfter)
			}
		})
	}
}

func connect(t *testing.T, uri string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), uri)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestHarden(t *testing.T) {
	owner := uniqueRole(t, "owner")
	other := uniqueRole(t, "other")
	f := newFixture(t, owner)
	f.apply(t, Harden(f.db.Name, owner)) // again: idempotent
	pgtest.Exec(t, pgtest.URI("postgres"), "CREATE ROLE "+ident(other)+" LOGIN PASSWORD 'pw'")

	// Every overload, not only the common ones.
	n := pgtest.QueryValue[int](t, f.db.URI, `SELECT count(*)::int FROM pg_proc p WHERE `+revokedFunctions+`
		AND has_function_privilege('public', p.oid, 'EXECUTE')`)
	if n != 0 {
		t.Errorf("PUBLIC may still execute %d hardened functions", n)
	}
	total := pgtest.QueryValue[int](t, f.db.URI, `SELECT count(*)::int FROM pg_proc p WHERE `+revokedFunctions)
	if total < 40 {
		t.Errorf("only %d functions matched; the selection looks broken", total)
	}
	for _, c := range []struct {
		role, fn string
		want     bool
	}{
		{owner, "lo_create(oid)", true},
		{owner, "pg_advisory_lock(bigint)", true},
		{owner, "pg_notify(text,text)", true},
		{owner, "lo_import(text)", false}, // server files: never handed out
		{owner, "lo_export(oid,text)", false},
		{other, "lo_create(oid)", false},
		{other, "lo_put(oid,bigint,bytea)", false},
		{other, "pg_try_advisory_xact_lock_shared(integer,integer)", false},
		{other, "pg_logical_emit_message(boolean,text,text)", false},
		{other, "pg_terminate_backend(integer,bigint)", false},
		{other, "now()", true}, // the rest is untouched
	} {
		got := pgtest.QueryValue[bool](t, f.db.URI, "SELECT has_function_privilege($1, $2, 'EXECUTE')", c.role, c.fn)
		if got != c.want {
			t.Errorf("has_function_privilege(%s, %s) = %v, want %v", c.role, c.fn, got, c.want)
		}
	}
	for _, c := range []struct {
		sql  string
		want bool
	}{
		{"SELECT has_database_privilege('public', current_database(), 'CONNECT')", false},
		{"SELECT has_database_privilege('public', current_database(), 'TEMPORARY')", false},
		{"SELECT has_schema_privilege('public', 'public', 'CREATE')", false},
		{"SELECT has_database_privilege('" + owner + "', current_database(), 'CONNECT, TEMPORARY')", true},
		{"SELECT has_schema_privilege('" + owner + "', 'public', 'CREATE')", true},
	} {
		if got := pgtest.QueryValue[bool](t, f.db.URI, c.sql); got != c.want {
			t.Errorf("%s = %v, want %v", c.sql, got, c.want)
		}
	}
	// A role nobody granted CONNECT cannot even connect.
	_, err := pgx.Connect(context.Background(), pgtest.URIAs(f.db.Name, other, "pw"))
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != denied {
		t.Errorf("connecting as a role without CONNECT: %v, want SQLSTATE %s", err, denied)
	}
}

func TestHardenRefuses(t *testing.T) {
	owner := uniqueRole(t, "owner")
	f := newFixture(t, owner)
	tests := []struct {
		name  string
		stmts []string
		uri   string
		want  string
	}{
		{"wrong database", Harden("postgres", owner), f.db.URI, "but these statements are for database postgres"},
		{"invalid name", Harden("bad\x00name", owner), f.db.URI, `cannot harden database "bad\x00name"`},
		{"not a superuser", Harden(f.db.Name, owner), "", "is not a superuser"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			uri := tt.uri
			if uri == "" {
				pgtest.Exec(t, f.db.URI, "ALTER ROLE "+ident(owner)+" LOGIN PASSWORD 'pw'")
				uri = pgtest.URIAs(f.db.Name, owner, "pw")
			}
			conn := connect(t, uri)
			err := Apply(context.Background(), conn, tt.stmts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Apply = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestStatementsAgain applies Statements over an existing role: the password
// changes, and a change of mode leaves nothing of the old one behind.
func TestStatementsAgain(t *testing.T) {
	owner := uniqueRole(t, "owner")
	role := uniqueRole(t, "again")
	f := newFixture(t, owner)
	spec := Spec{Role: role, Password: "first", Mode: access.UserRO, Database: f.db.Name, Owner: owner}
	steps := []struct {
		mode     access.Mode
		password string
		insert   string // SQLSTATE of an INSERT after SET default_transaction_read_only = off
		secret   string
		readOnly string
	}{
		{access.UserRO, "first", denied, denied, "on"},
		{access.UserRO, "second", denied, denied, "on"},
		{access.UserRW, "third", "", denied, "off"},
		{access.AdminRO, "fourth", denied, "", "on"},
		{access.UserRO, "fifth", denied, denied, "on"},
	}
	previous := ""
	for _, s := range steps {
		spec.Mode, spec.Password = s.mode, s.password
		stmts, err := Statements(spec)
		if err != nil {
			t.Fatal(err)
		}
		f.apply(t, stmts)
		if previous != "" {
			_, err := pgx.Connect(context.Background(), pgtest.URIAs(f.db.Name, role, previous))
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != "28P01" {
				t.Errorf("%s: logging in with the old password: %v, want SQLSTATE 28P01", s.mode, err)
			}
		}
		previous = s.password
		conn := f.connectAs(t, role, s.password)
		if got := show(t, conn, "default_transaction_read_only"); got != s.readOnly {
			t.Errorf("%s: default_transaction_read_only = %q, want %q", s.mode, got, s.readOnly)
		}
		sqlstate(conn, "SET default_transaction_read_only = off")
		if got := sqlstate(conn, "INSERT INTO public.items (name) VALUES ('again')"); got != s.insert {
			t.Errorf("%s: INSERT: SQLSTATE %q, want %q", s.mode, got, s.insert)
		}
		if got := sqlstate(conn, "SELECT * FROM secret.tokens"); got != s.secret {
			t.Errorf("%s: SELECT secret.tokens: SQLSTATE %q, want %q", s.mode, got, s.secret)
		}
		conn.Close(context.Background())
	}
}

func TestStatementsRefuseAnOwner(t *testing.T) {
	owner := uniqueRole(t, "owner")
	role := uniqueRole(t, "owning")
	f := newFixture(t, owner)
	pgtest.Exec(t, f.db.URI, "CREATE ROLE "+ident(role)+"; CREATE TABLE public.mine (x int); ALTER TABLE public.mine OWNER TO "+ident(role))
	stmts, err := Statements(Spec{Role: role, Password: "pw", Mode: access.UserRO, Database: f.db.Name, Owner: owner})
	if err != nil {
		t.Fatal(err)
	}
	err = f.tryApply(t, stmts)
	if err == nil || !strings.Contains(err.Error(), "owns objects") || !strings.Contains(err.Error(), "REASSIGN OWNED BY") {
		t.Fatalf("Apply = %v, want a refusal naming REASSIGN OWNED BY", err)
	}
}

// TestStatementsAllowAUserMapping: a user mapping for the role is recorded
// as owned by it, and is no reason to refuse it.
func TestStatementsAllowAUserMapping(t *testing.T) {
	owner := uniqueRole(t, "owner")
	role := uniqueRole(t, "mapped")
	f := newFixture(t, owner)
	pgtest.Exec(t, f.db.URI, "CREATE ROLE "+ident(role)+`;
		CREATE FOREIGN DATA WRAPPER w; CREATE SERVER s FOREIGN DATA WRAPPER w;
		CREATE USER MAPPING FOR `+ident(role)+" SERVER s OPTIONS (password 'x')")
	t.Cleanup(func() { pgtest.Exec(t, f.db.URI, "DROP SERVER s CASCADE; DROP FOREIGN DATA WRAPPER w") })
	stmts, err := Statements(Spec{Role: role, Password: "pw", Mode: access.AdminRO, Database: f.db.Name, Owner: owner})
	if err != nil {
		t.Fatal(err)
	}
	f.apply(t, stmts)
}

// TestHardenRevokesOwnRoutines pins the role half of issue #7's class 3:
// the database's own routines (whoever owns them, created before Harden or,
// by the owner, after it) are not executable by PUBLIC; their owner keeps
// EXECUTE, and extension functions keep PUBLIC's.
func TestHardenRevokesOwnRoutines(t *testing.T) {
	owner := uniqueRole(t, "owner")
	f := newFixture(t, owner) // hardened here
	ownerURI := pgtest.URIAs(f.db.Name, owner, "owner-pw")
	pgtest.Exec(t, pgtest.URI("postgres"), "ALTER ROLE "+ident(owner)+" LOGIN PASSWORD 'owner-pw'")
	pgtest.Exec(t, f.db.URI, "GRANT CONNECT ON DATABASE "+ident(f.db.Name)+" TO "+ident(owner))
	// Created by the owner after Harden: the default privileges apply.
	pgtest.Exec(t, ownerURI, `CREATE FUNCTION public.after_harden(int) RETURNS int LANGUAGE sql AS 'SELECT $1';
		CREATE PROCEDURE public.proc_after() LANGUAGE sql AS 'SELECT 1';
		CREATE SCHEMA app; CREATE FUNCTION app.in_other_schema() RETURNS int LANGUAGE sql AS 'SELECT 1'`)
	// Created by someone else before Harden runs again.
	pgtest.Exec(t, f.db.URI, "CREATE FUNCTION public.by_superuser() RETURNS int LANGUAGE sql AS 'SELECT 1'")
	withExtension := pgtest.QueryValue[bool](t, f.db.URI, "SELECT EXISTS (SELECT FROM pg_available_extensions WHERE name = 'citext')")
	if withExtension {
		pgtest.Exec(t, f.db.URI, "CREATE EXTENSION citext")
	}
	f.apply(t, Harden(f.db.Name, owner))
	for _, c := range []struct {
		role, fn string
		want     bool
	}{
		{"public", "public.after_harden(int)", false},
		{"public", "public.proc_after()", false},
		{"public", "app.in_other_schema()", false},
		{"public", "public.by_superuser()", false},
		{owner, "public.after_harden(int)", true},
		{"public", "pg_catalog.lower(text)", true},
	} {
		got := pgtest.QueryValue[bool](t, f.db.URI, "SELECT has_function_privilege($1, $2::regprocedure, 'EXECUTE')", c.role, c.fn)
		if got != c.want {
			t.Errorf("has_function_privilege(%s, %s) = %v, want %v", c.role, c.fn, got, c.want)
		}
	}
	if withExtension {
		if !pgtest.QueryValue[bool](t, f.db.URI, "SELECT has_function_privilege('public', 'public.citext_eq(citext,citext)'::regprocedure, 'EXECUTE')") {
			t.Errorf("Harden took EXECUTE on an extension's function from PUBLIC")
		}
	} else if os.Getenv("PGHERD_CI") != "" {
		t.Errorf("the citext extension is not available; CI installs postgresql-15, whose contrib modules include it")
	}
}

// TestApplyIsAtomic: a statement failing late leaves nothing of the earlier
// ones (here: the role is not created).
func TestApplyIsAtomic(t *testing.T) {
	owner := uniqueRole(t, "owner")
	role := uniqueRole(t, "atomic")
	f := newFixture(t, owner)
	stmts, err := Statements(Spec{Role: role, Password: "topsecret", Mode: access.UserRO, Database: f.db.Name, Owner: "no_such_owner"})
	if err != nil {
		t.Fatal(err)
	}
	err = f.tryApply(t, stmts)
	if err == nil {
		t.Fatal("Apply succeeded with an owner that does not exist")
	}
	if strings.Contains(err.Error(), "topsecret") {
		t.Errorf("error shows the password: %v", err)
	}
	if n := pgtest.QueryValue[int](t, f.db.URI, "SELECT count(*)::int FROM pg_roles WHERE rolname = $1", role); n != 0 {
		t.Errorf("role %s exists after a failed Apply", role)
	}
}

// TestHostileNames: quotes, backslashes, dollar quotes and percent signs in
// names and password survive the round trip to a working login.
func TestHostileNames(t *testing.T) {
	owner := uniqueRole(t, `own'er"$$`)
	role := uniqueRole(t, `ro\le'%s$do$"`)
	f := newFixture(t, owner)
	password := `pa'ss\word$$ "%`
	for _, mode := range []access.Mode{access.UserRW, access.UserRO} {
		stmts, err := Statements(Spec{Role: role, Password: password, Mode: mode, Database: f.db.Name, Owner: owner})
		if err != nil {
			t.Fatal(err)
		}
		f.apply(t, stmts)
	}
	conn := f.connectAs(t, role, password)
	var who string
	if err := conn.QueryRow(context.Background(), "SELECT current_user").Scan(&who); err != nil || who != role {
		t.Fatalf("current_user = %q, %v; want %q", who, err, role)
	}
	if got := sqlstate(conn, "SELECT count(*) FROM public.items"); got != "" {
		t.Errorf("SELECT: SQLSTATE %q", got)
	}
}
