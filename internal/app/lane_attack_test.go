package app_test

// The attack replay's machinery: the fixture (a template database loaded
// with testdata/attacks/schema.sql and the least-privilege roles of
// internal/roles), lanes (one copy of the template, one way of running SQL
// on it as one mode's role, and the watchers that look for side effects),
// and the snapshot that finds them.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.yaml.in/yaml/v3"

	"github.com/pgherd/pgherd/internal/access"
	"github.com/pgherd/pgherd/internal/catalog"
	"github.com/pgherd/pgherd/internal/config"
	"github.com/pgherd/pgherd/internal/pg"
	"github.com/pgherd/pgherd/internal/pgtest"
	"github.com/pgherd/pgherd/internal/roles"
	"github.com/pgherd/pgherd/internal/sqlguard"
	dbtenancy "github.com/pgherd/pgherd/internal/tenancy"
)

// atkOutcome is what a vector did in one mode.
type atkOutcome string

const (
	atkRefused atkOutcome = "refused"
	atkBounded atkOutcome = "bounded"
	atkAllowed atkOutcome = "allowed"
)

// atkVector is one entry of testdata/attacks/vectors.yaml.
type atkVector struct {
	Name     string                     `yaml:"name"`
	Category string                     `yaml:"category"`
	SQL      string                     `yaml:"sql"`
	Expect   map[access.Mode]atkOutcome `yaml:"expect"`
	Guard    map[access.Mode]atkOutcome `yaml:"guard"`
	Check    map[access.Mode]atkOutcome `yaml:"check"`
}

// guard is the validator's verdict on v in m (its catalog lookups included).
func (v *atkVector) guard(m access.Mode) atkOutcome {
	if g, ok := v.Guard[m]; ok {
		return g
	}
	return v.Expect[m]
}

// sqlFor is v's SQL for a lane in database db ({db} is its name).
func (v *atkVector) sqlFor(db string) string { return strings.ReplaceAll(v.SQL, "{db}", db) }

const atkDir = "../../testdata/attacks"

// loadAttackVectors reads the corpus strictly.
func loadAttackVectors(t *testing.T) []*atkVector {
	t.Helper()
	data, err := os.ReadFile(atkDir + "/vectors.yaml")
	if err != nil {
		t.Fatalf("reading the attack corpus: %v", err)
	}
	var file struct {
		Vectors []*atkVector `yaml:"vectors"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil {
		t.Fatalf("decoding vectors.yaml: %v", err)
	}
	for i, v := range file.Vectors {
		if v.Name == "" || len(v.Expect) != len(access.Modes) {
			t.Fatalf("vectors[%d] (%q): needs a name and an expectation for each of the %d modes", i, v.Name, len(access.Modes))
		}
	}
	return file.Vectors
}

// Limits every lane runs under: tight, so resource attacks end quickly.
const (
	atkStatementTimeout = 2 * time.Second
	atkMaxRows          = 1000
	atkMaxResultBytes   = 1 << 20
)

// atkEndpointYAML configures the one endpoint of a lane. One pooled
// connection: the probe after a vector runs on the very connection the
// vector used, if it was kept.
const atkEndpointYAML = `server: {port: 0, shutdown_timeout: 5s}
endpoints:
  atk:
    database_uri: "${URI}"
    access_mode: %s
    pool: {max_conns: 1, acquire_timeout: 10s}
    limits: {statement_timeout: 2s, lock_timeout: 1s, max_rows: %d, max_result_bytes: %d}
`

// atkPrivilegedYAML is the line a superuser lane adds to its endpoint.
const atkPrivilegedYAML = "    allow_privileged_role: true\n"

// atkFixture is the template database and the roles: the owner (the
// admin_rw login role, which loaded the fixture and owns every object) and
// one login role per other mode, all made by internal/roles.
type atkFixture struct {
	template string // never connected to after set-up (CREATE DATABASE … TEMPLATE needs that)
	owner    string
	role     map[access.Mode]string
	// super is a superuser login role: the privileged lanes log in as it,
	// with allow_privileged_role, to show what holds without the roles.
	super    string
	password string
	// mu serialises roles.Apply: the statement lists ALTER the (shared)
	// roles, and concurrent updates of one pg_authid row fail.
	mu sync.Mutex
}

func newAttackFixture(t *testing.T) *atkFixture {
	t.Helper()
	suffix := strings.ToLower(rand.Text()[:8])
	f := &atkFixture{owner: "atk_owner_" + suffix, super: "atk_super_" + suffix, role: map[access.Mode]string{}, password: rand.Text()}
	for _, m := range access.Modes {
		f.role[m] = "atk_" + string(m) + "_" + suffix
	}
	f.role[access.AdminRW] = f.owner
	// Registered before any database exists, so it runs after they are all
	// dropped (cleanups run last in, first out).
	t.Cleanup(func() {
		for _, r := range []string{f.role[access.UserRO], f.role[access.UserRW], f.role[access.AdminRO], f.role[access.AdminRW], f.super} {
			if _, err := atkSuperExec(context.Background(), "postgres", "DROP ROLE IF EXISTS "+pgx.Identifier{r}.Sanitize()); err != nil {
				t.Errorf("dropping role %s: %v", r, err)
			}
		}
	})
	db := pgtest.NewDatabase(t)
	f.template = db.Name
	f.apply(t, db.Name, access.AdminRW)
	f.harden(t, db.Name)
	schema, err := os.ReadFile(atkDir + "/schema.sql")
	if err != nil {
		t.Fatalf("reading the fixture: %v", err)
	}
	pgtest.Exec(t, pgtest.URIAs(db.Name, f.owner, f.password), string(schema))
	for _, m := range []access.Mode{access.UserRO, access.UserRW, access.AdminRO} {
		f.apply(t, db.Name, m)
	}
	f.privileged(t, db.Name)
	return f
}

// privileged adds what only a superuser can set up: the superuser login
// role; user mappings that hold a password (for PUBLIC, the admin_ro role
// and the superuser, so both pg_user_mappings and information_schema show
// it to them); statistics on pg_authid (pg_statistic and pg_stats then hold
// password verifiers); and standard_conforming_strings = off as the default
// of every role the lanes log in as, which pgherd must override.
func (f *atkFixture) privileged(t *testing.T, db string) {
	t.Helper()
	super := pgx.Identifier{f.super}.Sanitize()
	stmts := []string{
		fmt.Sprintf("CREATE ROLE %s LOGIN SUPERUSER PASSWORD %s", super, quoteLiteral(f.password)),
		"CREATE FOREIGN DATA WRAPPER atk_fdw",
		"CREATE SERVER atk_server FOREIGN DATA WRAPPER atk_fdw OPTIONS (host 'db.internal')",
		"CREATE USER MAPPING FOR PUBLIC SERVER atk_server OPTIONS (user 'remote', password 'atk-mapping-secret-public')",
		fmt.Sprintf("CREATE USER MAPPING FOR %s SERVER atk_server OPTIONS (user 'remote', password 'atk-mapping-secret-admin')", pgx.Identifier{f.role[access.AdminRO]}.Sanitize()),
		fmt.Sprintf("CREATE USER MAPPING FOR %s SERVER atk_server OPTIONS (user 'remote', password 'atk-mapping-secret-super')", super),
		"ANALYZE pg_catalog.pg_authid",
	}
	for _, r := range []string{f.role[access.UserRO], f.role[access.UserRW], f.role[access.AdminRO], f.role[access.AdminRW], f.super} {
		stmts = append(stmts, fmt.Sprintf("ALTER ROLE %s SET standard_conforming_strings = off", pgx.Identifier{r}.Sanitize()))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, sql := range stmts {
		if _, err := atkSuperExec(ctx, db, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
}

// login is the role a lane of kind logs in as for mode m.
func (f *atkFixture) login(m access.Mode, kind laneKind) string {
	if kind == throughMCPPrivileged {
		return f.super
	}
	return f.role[m]
}

func (f *atkFixture) spec(db string, m access.Mode) roles.Spec {
	s := roles.Spec{Role: f.role[m], Password: f.password, Mode: m, Database: db, Owner: f.owner,
		// Every lane of a mode logs in as the same role: room for the
		// lanes running at once, each with a pool and a sentinel.
		ConnectionLimit: 60}
	if m == access.AdminRW {
		s.Owner = ""
	}
	return s
}

// apply runs roles.Statements for mode's role in db, as the superuser.
func (f *atkFixture) apply(t *testing.T, db string, m access.Mode) {
	t.Helper()
	stmts, err := roles.Statements(f.spec(db, m))
	if err != nil {
		t.Fatalf("roles.Statements: %v", err)
	}
	f.run(t, db, stmts)
}

func (f *atkFixture) harden(t *testing.T, db string) {
	t.Helper()
	f.run(t, db, roles.Harden(db, f.owner))
}

func (f *atkFixture) run(t *testing.T, db string, stmts []string) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, pgtest.URI(db))
	if err != nil {
		t.Fatalf("connecting to %s: %v", db, err)
	}
	defer conn.Close(ctx)
	if err := roles.Apply(ctx, conn, stmts); err != nil {
		t.Fatalf("roles.Apply in %s: %v", db, err)
	}
}

// copyFor creates a copy of the template for a lane of mode m: hardened
// (database privileges are not copied by CREATE DATABASE … TEMPLATE), and
// with m's role set up in it as internal/roles would. It is dropped when t
// ends.
func (f *atkFixture) copyFor(t *testing.T, m access.Mode) string {
	t.Helper()
	name := "t_" + strings.ToLower(rand.Text()[:12])
	ctx := context.Background()
	sql := fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s OWNER %s STRATEGY FILE_COPY",
		pgx.Identifier{name}.Sanitize(), pgx.Identifier{f.template}.Sanitize(), pgx.Identifier{f.owner}.Sanitize())
	if _, err := atkSuperExec(ctx, "postgres", sql); err != nil {
		t.Fatalf("copying the template: %v", err)
	}
	t.Cleanup(func() {
		// A prepared transaction would keep the database from being dropped.
		if _, err := atkSuperExec(ctx, "postgres", "DO $$DECLARE g text; BEGIN FOR g IN SELECT gid FROM pg_prepared_xacts WHERE database = "+
			quoteLiteral(name)+" LOOP EXECUTE format('ROLLBACK PREPARED %L', g); END LOOP; END$$"); err != nil {
			t.Errorf("rolling back prepared transactions in %s: %v", name, err)
		}
		if _, err := atkSuperExec(ctx, "postgres", "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("dropping %s: %v", name, err)
		}
	})
	f.harden(t, name)
	f.apply(t, name, m)
	return name
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// atkSuperExec runs trusted SQL as the superuser in db.
func atkSuperExec(ctx context.Context, db, sql string) (pgconn.CommandTag, error) {
	conn, err := pgx.Connect(ctx, pgtest.URI(db))
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	defer conn.Close(ctx)
	return conn.Exec(ctx, sql)
}

// atkAttempt is what one run of a statement gave.
type atkAttempt struct {
	Outcome atkOutcome
	// By says who decided: for refused, "validator", "executor" or
	// "postgres"; for bounded, "statement_timeout", "max_rows",
	// "max_result_bytes" or "message cap"; for allowed, "".
	By       string
	SQLState string
	Detail   string // the error's first line, or a summary of the result
	// Broken is set when the call itself failed (a protocol error, not a
	// tool error): a finding in every case.
	Broken string
	// Leak names what the result or error showed that the mode's login
	// must not read (see atkLeak).
	Leak string
	// Size is the encoded size of the tool result (text and structured
	// content, as JSON): what max_result_bytes must bound.
	Size int
}

// atkRLSMarker matches the title of a documents row (hidden by row-level
// security from every role but the owner when app.tenant_id is unset, as
// it always is here) and not the secret tokens, which start the same way.
var atkRLSMarker = regexp.MustCompile(`tenant_[ab]_marker([^-]|$)`)

// atkVerifier matches a password verifier as pg_authid stores it.
var atkVerifier = regexp.MustCompile(`SCRAM-SHA-256\$|md5[0-9a-f]{32}`)

// atkLeak says what out, a result or an error as the caller sees it, shows
// that mode's login must not read: rows row-level security hides (all but
// admin_rw, whose role owns the table and so is not subject to its policy;
// and not with a superuser login, which bypasses row-level security:
// rlsApplies is false then), in the user modes anything from
// secret.tokens, and in every validated mode a password verifier or a user
// mapping's password.
func atkLeak(m access.Mode, rlsApplies bool, out string) string {
	var leaks []string
	if m != access.AdminRW && rlsApplies && atkRLSMarker.MatchString(out) {
		leaks = append(leaks, "documents rows row-level security hides")
	}
	if m.PublicOnly() && strings.Contains(out, "secret-token") {
		leaks = append(leaks, "secret.tokens")
	}
	if m != access.AdminRW && atkVerifier.MatchString(out) {
		leaks = append(leaks, "a password verifier")
	}
	if m != access.AdminRW && strings.Contains(out, "atk-mapping-secret") {
		leaks = append(leaks, "a user mapping's password")
	}
	return strings.Join(leaks, " and ")
}

func (a atkAttempt) String() string {
	s := string(a.Outcome)
	if a.By != "" {
		s += " by " + a.By
	}
	if a.SQLState != "" {
		s += " (" + a.SQLState + ")"
	}
	return s
}

var sqlstateRE = regexp.MustCompile(`\(SQLSTATE ([0-9A-Z]{5})\)`)

// atkClassifyText classifies a tool error's text. guardErr is what
// sqlguard.Check said of the statement in the mode: the tool returns the
// validator's message as is, and PostgreSQL's as "ERROR: … (SQLSTATE …)".
func atkClassifyText(msg string, guardErr error) atkAttempt {
	first, _, _ := strings.Cut(msg, "\n")
	a := atkAttempt{Outcome: atkRefused, Detail: first}
	if m := sqlstateRE.FindStringSubmatch(first); m != nil && strings.HasPrefix(first, "ERROR: ") {
		a.SQLState = m[1]
	}
	switch {
	case a.SQLState == "57014":
		a.Outcome, a.By = atkBounded, "statement_timeout"
	case a.SQLState == "53400" && strings.Contains(first, "temp_file_limit"):
		a.Outcome, a.By = atkBounded, "temp_file_limit"
	case strings.Contains(msg, pg.ErrMessageTooLarge.Error()):
		a.Outcome, a.By = atkBounded, "message cap"
	case guardErr != nil && msg == guardErr.Error():
		a.By = "validator"
	case a.SQLState != "":
		a.By = "postgres"
	default:
		a.By = "executor"
	}
	return a
}

// atkRunner runs one statement (or the probe) on a lane.
type atkRunner interface {
	run(ctx context.Context, sql string) atkAttempt
	// probe runs sql the same way and returns its rows as JSON.
	probe(ctx context.Context, sql string) (string, error)
}

// mcpRunner calls execute_sql through a go-sdk client session: the real path.
type mcpRunner struct {
	cs    *mcp.ClientSession
	mode  access.Mode
	db    string
	rls   bool // the login is subject to row-level security
	priv  bool // the login bypasses privileges
	watch func() *pgx.Conn
}

func (r *mcpRunner) call(ctx context.Context, sql string) (*mcp.CallToolResult, error) {
	return r.cs.CallTool(ctx, &mcp.CallToolParams{Name: "atk_execute_sql", Arguments: map[string]any{"sql": sql}})
}

func (r *mcpRunner) run(ctx context.Context, sql string) atkAttempt {
	res, err := r.call(ctx, sql)
	if err != nil {
		return atkAttempt{Broken: fmt.Sprintf("calling execute_sql: %v", err)}
	}
	size := 0
	if b, err := json.Marshal(res); err == nil {
		size = len(b)
	}
	if res.IsError {
		a := atkClassifyText(text(res), r.guardErr(ctx, sql))
		a.Leak, a.Size = atkLeak(r.mode, r.rls, text(res)), size
		return a
	}
	sc, _ := res.StructuredContent.(map[string]any)
	if sc == nil {
		return atkAttempt{Broken: fmt.Sprintf("execute_sql returned no structured content: %s", text(res))}
	}
	a := atkAttempt{Outcome: atkAllowed, Detail: fmt.Sprintf("%v rows", sc["row_count"]), Leak: atkLeak(r.mode, r.rls, text(res)), Size: size}
	if c, _ := sc["command"].(string); c != "" {
		a.Detail = c
	}
	if sc["truncated"] == true {
		a.Outcome = atkBounded
		a.By, _ = sc["truncated_by"].(string)
	}
	return a
}

// guardErr is what the validator says of sql, with what the lane's
// endpoint knows of its server, its catalog lookup included (run by the
// lane's watcher in the lane's database, with the search_path the
// executor gives the mode).
func (r *mcpRunner) guardErr(ctx context.Context, sql string) error {
	v, err := sqlguard.Validate(sql, sqlguard.Options{Mode: r.mode, Database: r.db, ServerMajor: atkServerMajor, PrivilegedLogin: r.priv})
	if err != nil || v.Lookup == nil || r.watch == nil {
		return err
	}
	tx, err := r.watch().Begin(ctx)
	if err != nil {
		return nil
	}
	defer tx.Rollback(ctx)
	if r.mode.PublicOnly() {
		if _, err := tx.Exec(ctx, "SET LOCAL search_path = public"); err != nil {
			return nil
		}
	}
	found, err := catalog.Resolve(ctx, tx, v.Lookup)
	if err != nil {
		return nil
	}
	return v.Judge(found)
}

// atkServerMajor is the major version of the test server (Debian's
// postgresql-15, as the corpus's expectations assume).
const atkServerMajor = 15

func (r *mcpRunner) probe(ctx context.Context, sql string) (string, error) {
	res, err := r.call(ctx, sql)
	if err != nil {
		return "", err
	}
	if res.IsError {
		return "", errors.New(text(res))
	}
	sc, _ := res.StructuredContent.(map[string]any)
	b, err := json.Marshal(sc["rows"])
	return string(b), err
}

// directRunner runs statements with the validator switched off: through
// the endpoint's own pool and transaction options (tenancy.Database.Resolve,
// as dbtools gets them), with what dbtools does after sqlguard.Check and
// without the check. With no verdict, nothing says the statement leaves
// session state (Discard) or must run outside a transaction (RunBare): the
// statement runs in the mode's transaction, and in admin_rw a statement
// PostgreSQL refuses there (SQLSTATE 25001) runs again with RunBare, as a
// NoTransaction verdict would have it.
type directRunner struct {
	db   *dbtenancy.Database
	mode access.Mode
}

func (r *directRunner) exec(ctx context.Context, sql string) (*pg.Result, error) {
	h, err := r.db.Resolve(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer h.Done()
	call := pg.Call{SQL: sql, MaxRows: atkMaxRows}
	opts := h.Tx
	opts.Rollback = r.mode.ReadOnly()
	res, err := h.Pool.Run(ctx, opts, call)
	if pe, ok := pg.AsError(err); ok && pe.SQLState == "25001" && r.mode.Unrestricted() {
		res, err = h.Pool.RunBare(ctx, h.Tx, call)
	}
	return res, err
}

func (r *directRunner) run(ctx context.Context, sql string) atkAttempt {
	res, err := r.exec(ctx, sql)
	if err != nil {
		a := atkAttempt{Outcome: atkRefused, By: "executor", Detail: strings.SplitN(err.Error(), "\n", 2)[0]}
		if pe, ok := pg.AsError(err); ok {
			a.By, a.SQLState = "postgres", pe.SQLState
			switch {
			case pe.SQLState == "57014":
				a.Outcome, a.By = atkBounded, "statement_timeout"
			case pe.SQLState == "53400" && strings.Contains(pe.Message, "temp_file_limit"):
				a.Outcome, a.By = atkBounded, "temp_file_limit"
			}
		}
		switch {
		case errors.Is(err, pg.ErrMessageTooLarge):
			a.Outcome, a.By = atkBounded, "message cap"
		case errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil:
			// Nothing in pgherd or PostgreSQL ended it: only the
			// caller's deadline did.
			a.Outcome, a.By = atkBounded, "caller's deadline only (hung)"
		}
		return a
	}
	a := atkAttempt{Outcome: atkAllowed, Detail: fmt.Sprintf("%d rows", res.RowCount)}
	if res.Command != "" {
		a.Detail = res.Command
	}
	if b, err := json.Marshal(res.Rows); err == nil {
		a.Leak = atkLeak(r.mode, true, string(b))
	}
	if a.Leak != "" {
		a.Detail += "; read " + a.Leak
	}
	if res.Truncated {
		a.Outcome, a.By = atkBounded, res.TruncatedBy
	}
	return a
}

func (r *directRunner) probe(ctx context.Context, sql string) (string, error) {
	res, err := r.exec(ctx, sql)
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(res.Rows)
	return string(b), err
}

// The probes run after every vector through the lane's runner, on the
// pool's one connection: any session state the vector left there (a
// setting, a prepared statement, a cursor, a LISTEN, an advisory lock, a
// temporary table) changes their answer. The user modes may only use
// public tables and allow-listed functions, so theirs reads state through
// what it changes: the rows row-level security lets through (app.tenant_id)
// and the output format of values (TimeZone, DateStyle, extra_float_digits,
// bytea_output, IntervalStyle).
const atkUserProbe = `SELECT (SELECT count(*) FROM documents) AS rls_rows,
	timestamptz '2024-01-02 03:04:05+00'::text AS timestamptz_text, 0.1::float8::text AS float_text,
	'\x01'::bytea::text AS bytea_text, interval '1 day 02:03:04'::text AS interval_text`

const atkAdminProbe = `SELECT (SELECT count(*) FROM pg_catalog.pg_prepared_statements) AS prepared_statements,
	(SELECT count(*) FROM pg_catalog.pg_cursors) AS cursors,
	(SELECT count(*) FROM pg_catalog.pg_listening_channels() c) AS listening,
	(SELECT count(*) FROM pg_catalog.pg_locks WHERE pid = pg_catalog.pg_backend_pid() AND locktype = 'advisory') AS advisory_locks,
	(SELECT count(*) FROM pg_catalog.pg_class WHERE relpersistence = 't') AS temporary_relations,
	pg_catalog.current_setting('search_path') AS search_path,
	coalesce(nullif(pg_catalog.current_setting('app.tenant_id', true), ''), '-') AS tenant_id,
	coalesce(nullif(pg_catalog.current_setting('app.x', true), ''), '-') AS app_x,
	pg_catalog.current_setting('work_mem') AS work_mem, pg_catalog.current_setting('role') AS role,
	current_user AS current_user, session_user AS session_user,
	(SELECT count(*) FROM documents) AS rls_rows, timestamptz '2024-01-02 03:04:05+00'::text AS timestamptz_text,
	0.1::float8::text AS float_text, '\x01'::bytea::text AS bytea_text, interval '1 day 02:03:04'::text AS interval_text`

func atkProbeSQL(m access.Mode) string {
	if m.Admin() {
		return atkAdminProbe
	}
	return atkUserProbe
}

// atkFiles are the server files the corpus tries to write (COPY TO, lo_export,
// TO PROGRAM): none may appear.
var atkFiles = []string{"/tmp/pgherd_accounts.csv", "/tmp/pgherd_pwned", "/tmp/pgherd_lo"}

// atkNotifyChannels are the channels the corpus notifies; the sentinel
// listens on them.
var atkNotifyChannels = []string{"pgherd", "chan", "c"}

// lane is one database (a copy of the template), a way of running SQL on
// it as one mode's role, and what watches it: a superuser connection that
// takes snapshots, and a sentinel session of the mode's role that must
// survive every vector and hear no notification.
type lane struct {
	mode   access.Mode
	kind   laneKind
	db     string
	runner atkRunner

	watch       *pgx.Conn
	watchPID    uint32
	sentinel    *pgx.Conn
	sentinelPID uint32
	notified    atomic.Int64

	snapSQL   string
	base      atkSnapshot
	baseProbe string
	closers   []func()
}

// laneKind says how a lane runs statements.
type laneKind int

const (
	throughMCP           laneKind = iota // go-sdk client → HTTP → pgherd → PostgreSQL
	validatorOff                         // pg.Pool.Run with the endpoint's options, no sqlguard
	throughMCPPrivileged                 // throughMCP, logged in as a superuser with allow_privileged_role
)

// newLane copies the template for mode m and opens everything a lane needs;
// it all goes away when t ends (or at close).
func newLane(t *testing.T, f *atkFixture, m access.Mode, kind laneKind) *lane {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l := &lane{mode: m, kind: kind, db: f.copyFor(t, m)}
	login := f.login(m, kind)
	uri := pgtest.URIAs(l.db, login, f.password)
	yaml := fmt.Sprintf(atkEndpointYAML, m, atkMaxRows, atkMaxResultBytes)
	switch kind {
	case throughMCP, throughMCPPrivileged:
		if kind == throughMCPPrivileged {
			yaml += atkPrivilegedYAML
		}
		s := start(t, yaml, map[string]string{"URI": uri})
		cs := s.connect(t, "/atk/mcp", streamable, nil)
		l.runner = &mcpRunner{cs: cs, mode: m, db: l.db, rls: kind == throughMCP, priv: kind == throughMCPPrivileged,
			watch: func() *pgx.Conn { return l.watch }}
		l.closers = append(l.closers, func() { cs.Close(); s.stop(t) })
	case validatorOff:
		cfg, err := config.Parse([]byte(yaml), mapEnv(map[string]string{"URI": uri}))
		if err != nil {
			t.Fatalf("config: %v", err)
		}
		db, err := dbtenancy.Open(ctx, cfg.Endpoints["atk"], dbtenancy.OpenOptions{})
		if err != nil {
			t.Fatalf("opening the endpoint's database: %v", err)
		}
		l.runner = &directRunner{db: db, mode: m}
		l.closers = append(l.closers, db.Close)
	}

	var err error
	if l.watch, err = pgx.Connect(ctx, pgtest.URI(l.db)); err != nil {
		t.Fatalf("watcher: %v", err)
	}
	l.watchPID = l.watch.PgConn().PID()
	scfg, err := pgx.ParseConfig(uri)
	if err != nil {
		t.Fatal(err)
	}
	scfg.OnNotification = func(*pgconn.PgConn, *pgconn.Notification) { l.notified.Add(1) }
	if l.sentinel, err = pgx.ConnectConfig(ctx, scfg); err != nil {
		t.Fatalf("sentinel as %s: %v", login, err)
	}
	l.sentinelPID = l.sentinel.PgConn().PID()
	for _, ch := range atkNotifyChannels {
		if _, err := l.sentinel.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			t.Fatalf("sentinel LISTEN: %v", err)
		}
	}
	l.closers = append(l.closers, func() {
		l.watch.Close(context.Background())
		l.sentinel.Close(context.Background())
	})
	t.Cleanup(l.close)

	if l.snapSQL, err = atkSnapshotSQL(ctx, l.watch, login, l.sentinelPID); err != nil {
		t.Fatalf("building the snapshot query: %v", err)
	}
	if l.base, err = l.snapshot(ctx); err != nil {
		t.Fatalf("baseline snapshot: %v", err)
	}
	if l.baseProbe, err = l.runner.probe(ctx, atkProbeSQL(m)); err != nil {
		t.Fatalf("baseline probe in %s: %v", m, err)
	}
	return l
}

func (l *lane) close() {
	for i := len(l.closers) - 1; i >= 0; i-- {
		l.closers[i]()
	}
	l.closers = nil
}

// atkSnapshot maps a named aspect of the database to its state.
type atkSnapshot map[string]string

// Aspects of a snapshot that are about sessions, not stored state: checked
// after every vector, including those expected to write.
var atkHygiene = map[string]bool{"locks": true, "activity": true, "extra_sessions": true, "sentinel": true, "probe": true}

// atkSnapshotSQL builds the snapshot query for the database conn is in:
// the catalog parts are fixed, the data part covers every table there is
// now.
func atkSnapshotSQL(ctx context.Context, conn *pgx.Conn, role string, sentinelPID uint32) (string, error) {
	rows, err := conn.Query(ctx, `SELECT n.nspname, c.relname FROM pg_catalog.pg_class c
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'p', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
		ORDER BY 1, 2`)
	if err != nil {
		return "", err
	}
	tables, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (pgx.Identifier, error) {
		var s, n string
		err := r.Scan(&s, &n)
		return pgx.Identifier{s, n}, err
	})
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(atkCatalogSnapshot)
	fmt.Fprintf(&b, `,
	coalesce((SELECT string_agg(format('%%s:%%s', a.usename, a.state), ' ' ORDER BY a.pid)
		FROM pg_catalog.pg_stat_activity a WHERE a.datname = current_database() AND a.backend_type = 'client backend'
		AND a.pid NOT IN (pg_catalog.pg_backend_pid(), %d) AND a.state <> 'idle'), '') AS activity,
	(SELECT greatest(count(*) - 1, 0)::text FROM pg_catalog.pg_stat_activity a WHERE a.datname = current_database()
		AND a.backend_type = 'client backend' AND a.usename = %s AND a.pid <> %d) AS extra_sessions`, sentinelPID, quoteLiteral(role), sentinelPID)
	for _, tb := range tables {
		// Through query_to_xml (the watcher is a superuser), so that a
		// table a vector dropped reads as missing instead of failing the
		// snapshot.
		q := fmt.Sprintf("SELECT count(*) || ' rows, md5 ' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '-') AS r FROM %s t", tb.Sanitize())
		fmt.Fprintf(&b, `,
	CASE WHEN to_regclass(%s) IS NULL THEN 'missing'
		ELSE (xpath('/table/row/r/text()', query_to_xml(%s, false, false, '')))[1]::text END AS %s`,
			quoteLiteral(tb.Sanitize()), quoteLiteral(q), pgx.Identifier{"rows " + strings.Join(tb, ".")}.Sanitize())
	}
	return b.String(), nil
}

// atkCatalogSnapshot lists what a vector could change in the catalogs and
// the server, as text: relations and their privileges, columns, functions,
// schemas, types, constraints, triggers, policies, rules, comments, default
// privileges, extensions, the database's own settings and privileges, the
// cluster's roles, memberships, databases, role settings and ALTER SYSTEM
// file, sequence positions, large objects, prepared transactions,
// replication slots, and the locks held by other sessions in the database.
const atkCatalogSnapshot = `SELECT
	(SELECT coalesce(string_agg(x, ' ' ORDER BY x), '') FROM (SELECT format('%s.%s:%s:%s:%s:%s:%s', n.nspname, c.relname, c.relkind, c.relowner::regrole, c.relacl, c.relrowsecurity, c.relforcerowsecurity) AS x
		FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast') s) AS relations,
	(SELECT coalesce(md5(string_agg(x, ' ' ORDER BY x)), '') FROM (SELECT format('%s.%s.%s:%s:%s:%s:%s', n.nspname, c.relname, a.attnum, a.attname, a.atttypid::regtype, a.attnotnull, pg_get_expr(d.adbin, d.adrelid)) AS x
		FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
		WHERE a.attnum > 0 AND NOT a.attisdropped AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast') s) AS columns,
	(SELECT coalesce(string_agg(x, ' ' ORDER BY x), '') FROM (SELECT format('%s:%s:%s:%s', p.oid::regprocedure, p.prokind, p.prosecdef, p.proacl) AS x
		FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
		WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')) s) AS functions,
	(SELECT coalesce(md5(string_agg(x, ' ' ORDER BY x)), '') FROM (SELECT format('%s:%s', p.oid, p.proacl) AS x
		FROM pg_catalog.pg_proc p WHERE p.proacl IS NOT NULL AND p.pronamespace = 'pg_catalog'::regnamespace) s) AS builtin_function_privileges,
	(SELECT coalesce(string_agg(x, ' ' ORDER BY x), '') FROM (SELECT format('%s:%s:%s', nspname, nspowner::regrole, nspacl) AS x FROM pg_catalog.pg_namespace) s) AS schemas,
	(SELECT coalesce(md5(string_agg(x, ' ' ORDER BY x)), '') FROM (SELECT format('%s.%s:%s:%s', n.nspname, t.typname, t.typtype, t.typacl) AS x
		FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
		WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast') s) AS types,
	(SELECT coalesce(string_agg(x, ' ' ORDER BY x), '') FROM (SELECT format('%s:%s:%s', conrelid::regclass, conname, pg_get_constraintdef(oid)) AS x
		FROM pg_catalog.pg_constraint WHERE connamespace <> 'pg_catalog'::regnamespace) s) AS constraints,
	(SELECT coalesce(string_agg(x, ' ' ORDER BY x), '') FROM (SELECT format('%s:%s:%s', tgrelid::regclass, tgname, tgenabled) AS x FROM pg_catalog.pg_trigger WHERE NOT tgisinternal) s) AS triggers,
	(SELECT coalesce(string_agg(x, ' ' ORDER BY x), '') FROM (SELECT format('%s:%s:%s:%s', polrelid::regclass, polname, polcmd, pg_get_expr(polqual, polrelid)) AS x FROM pg_catalog.pg_policy) s) AS policies,
	(SELECT coalesce(string_agg(x, ' ' ORDER BY x), '') FROM (SELECT format('%s:%s', ev_class::regclass, rulename) AS x FROM pg_catalog.pg_rewrite WHERE ev_class >= 16384) s) AS rules,
	(SELECT coalesce(md5(string_agg(x, ' ' ORDER BY x)), '') FROM (SELECT format('%s:%s:%s:%s', classoid, objoid, objsubid, description) AS x FROM pg_catalog.pg_description WHERE objoid >= 16384) s) AS comments,
	(SELECT coalesce(string_agg(x, ' ' ORDER BY x), '') FROM (SELECT format('%s:%s:%s:%s', defaclrole::regrole, defaclnamespace, defaclobjtype, defaclacl) AS x FROM pg_catalog.pg_default_acl) s) AS default_privileges,
	(SELECT coalesce(string_agg(x, ' ' ORDER BY x), '') FROM (SELECT extname || ' ' || extversion AS x FROM pg_catalog.pg_extension) s) AS extensions,
	(SELECT format('%s:%s:%s:%s', datdba::regrole, datacl, datconnlimit, datallowconn) FROM pg_catalog.pg_database WHERE datname = current_database()) AS database,
	(SELECT coalesce(string_agg(x, ' ' ORDER BY x), '') FROM (SELECT format('%s:%s%s%s%s%s%s%s:%s:%s', rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication, rolbypassrls, rolconnlimit, rolconfig) AS x FROM pg_catalog.pg_roles) s) AS roles,
	(SELECT coalesce(string_agg(x, ' ' ORDER BY x), '') FROM (SELECT format('%s>%s:%s', roleid::regrole, member::regrole, admin_option) AS x FROM pg_catalog.pg_auth_members) s) AS memberships,
	(SELECT coalesce(string_agg(datname, ' ' ORDER BY datname), '') FROM pg_catalog.pg_database WHERE datname !~ '^t_') AS databases,
	(SELECT coalesce(string_agg(x, ' ' ORDER BY x), '') FROM (SELECT format('%s:%s:%s', setdatabase, setrole::regrole, setconfig) AS x FROM pg_catalog.pg_db_role_setting
		WHERE setdatabase IN (0, (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database()))) s) AS role_settings,
	(SELECT count(*)::text FROM pg_catalog.pg_file_settings WHERE sourcefile LIKE '%postgresql.auto.conf') AS alter_system,
	(SELECT coalesce(string_agg(x, ' ' ORDER BY x), '') FROM (SELECT format('%s.%s=%s', schemaname, sequencename, last_value) AS x FROM pg_catalog.pg_sequences) s) AS sequences,
	(SELECT count(*)::text FROM pg_catalog.pg_largeobject_metadata) AS large_objects,
	(SELECT count(*)::text FROM pg_catalog.pg_prepared_xacts WHERE database = current_database()) AS prepared_transactions,
	(SELECT count(*)::text FROM pg_catalog.pg_replication_slots) AS replication_slots,
	(SELECT coalesce(string_agg(x, ' ' ORDER BY x), '') FROM (SELECT format('%s:%s:%s:%s', l.locktype, l.mode, l.granted, a.usename) AS x
		FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
		WHERE a.datname = current_database() AND a.backend_type = 'client backend' AND l.pid <> pg_catalog.pg_backend_pid()) s) AS locks`

// snapshot reads the lane's state: the catalog and data snapshot, the
// sentinels, notifications heard and the files the corpus tries to write.
func (l *lane) snapshot(ctx context.Context) (atkSnapshot, error) {
	s := atkSnapshot{}
	rows, err := l.watch.Query(ctx, l.snapSQL)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	fields := rows.FieldDescriptions()
	if !rows.Next() {
		rows.Close()
		return nil, fmt.Errorf("snapshot: no row: %v", rows.Err())
	}
	vals, err := rows.Values()
	rows.Close()
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	for i, f := range fields {
		s[f.Name] = fmt.Sprint(vals[i])
	}
	var pid uint32
	if err := l.sentinel.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		s["sentinel"] = "sentinel session failed: " + err.Error()
	} else if pid != l.sentinelPID {
		s["sentinel"] = "sentinel session replaced"
	} else {
		s["sentinel"] = "alive"
	}
	s["notifications"] = fmt.Sprint(l.notified.Load())
	var files []string
	for _, f := range atkFiles {
		if _, err := os.Stat(f); err == nil {
			files = append(files, f)
		}
	}
	s["files"] = strings.Join(files, " ")
	return s, nil
}

// check compares the lane with its baseline after a vector: stored state
// (data, catalogs, sequences, large objects, …) and session hygiene
// (locks, running statements, extra sessions, the sentinel, and the probe
// through the lane's own pool). States that settle on their own (a
// destroyed connection's backend exiting) are polled for a few seconds; a
// side effect never settles.
func (l *lane) check(ctx context.Context) []string {
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var diffs []string
	for {
		now, err := l.snapshot(ctx)
		if err != nil {
			return []string{err.Error()}
		}
		diffs = atkDiff(l.base, now)
		settled := true
		for _, d := range diffs {
			if atkHygiene[strings.SplitN(d, ":", 2)[0]] {
				settled = false
			}
		}
		if settled || time.Now().After(deadline) {
			break
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return append(diffs, ctx.Err().Error())
		}
	}
	probe, err := l.runner.probe(ctx, atkProbeSQL(l.mode))
	switch {
	case err != nil:
		diffs = append(diffs, fmt.Sprintf("probe: the endpoint fails after the vector: %v", err))
	case probe != l.baseProbe:
		diffs = append(diffs, fmt.Sprintf("probe: session state changed: %s, was %s", probe, l.baseProbe))
	}
	return diffs
}

func atkDiff(base, now atkSnapshot) []string {
	keys := make([]string, 0, len(now))
	for k := range now {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		if base[k] != now[k] {
			out = append(out, fmt.Sprintf("%s: %s, was %s", k, atkShort(now[k]), atkShort(base[k])))
		}
	}
	return out
}

func atkShort(s string) string {
	if s == "" {
		return `""`
	}
	if r := []rune(s); len(r) > 160 {
		return string(r[:160]) + "…"
	}
	return s
}
