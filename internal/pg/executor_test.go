package pg

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgherd/pgherd/internal/pgtest"
)

// wantSQLState fails unless err is a database error with SQLSTATE code.
func wantSQLState(t *testing.T, err error, code string) *Error {
	t.Helper()
	e, ok := AsError(err)
	if !ok {
		t.Fatalf("error = %v, want SQLSTATE %s", err, code)
	}
	if e.SQLState != code {
		t.Fatalf("SQLSTATE = %s (%v), want %s", e.SQLState, e, code)
	}
	return e
}

var readOnly = TxOptions{ReadOnly: true, Rollback: true}

func TestMultipleStatementsRefused(t *testing.T) {
	db := pgtest.NewDatabase(t)
	pgtest.Exec(t, db.URI, "CREATE TABLE t (id int)")
	p := newPool(t, db.URI, PoolOptions{})
	ctx := context.Background()
	for _, sql := range []string{
		"SELECT 1; DROP TABLE t",
		"SELECT 1;DROP TABLE t;",
		"COMMIT; DROP TABLE t",
		"SELECT 1; -- comment\nDROP TABLE t",
		"SELECT $$;$$; DROP TABLE t",
	} {
		for _, opts := range []TxOptions{readOnly, {}} {
			_, err := p.Run(ctx, opts, Call{SQL: sql})
			wantSQLState(t, err, "42601")
		}
		_, err := p.RunBare(ctx, TxOptions{}, Call{SQL: sql})
		wantSQLState(t, err, "42601")
	}
	if n := pgtest.QueryValue[int64](t, db.URI, "SELECT count(*) FROM pg_class WHERE relname = 't'"); n != 1 {
		t.Fatalf("table t is gone")
	}
}

func TestReadOnlyTransaction(t *testing.T) {
	db := pgtest.NewDatabase(t)
	pgtest.Exec(t, db.URI, "CREATE TABLE t (id int)")
	p := newPool(t, db.URI, PoolOptions{})
	ctx := context.Background()
	for _, sql := range []string{
		"INSERT INTO t VALUES (1)",
		"WITH x AS (INSERT INTO t VALUES (2) RETURNING id) SELECT * FROM x",
		"CREATE TABLE u (id int)",
		"SELECT nextval('s')",
	} {
		_, err := p.Run(ctx, TxOptions{ReadOnly: true}, Call{SQL: sql})
		if e, ok := AsError(err); !ok || (e.SQLState != "25006" && e.SQLState != "42P01") {
			t.Errorf("Run(%q) = %v, want SQLSTATE 25006", sql, err)
		}
	}
	if n := pgtest.QueryValue[int64](t, db.URI, "SELECT count(*) FROM t"); n != 0 {
		t.Fatalf("t has %d rows after read-only calls, want 0", n)
	}
	if n := pgtest.QueryValue[int64](t, db.URI, "SELECT count(*) FROM pg_class WHERE relname = 'u'"); n != 0 {
		t.Fatal("table u was created by a read-only call")
	}
}

func TestWriteCommitsAndRollback(t *testing.T) {
	db := pgtest.NewDatabase(t)
	pgtest.Exec(t, db.URI, "CREATE TABLE t (id int)")
	p := newPool(t, db.URI, PoolOptions{})
	ctx := context.Background()

	res, err := p.Run(ctx, TxOptions{}, Call{SQL: "INSERT INTO t VALUES (1), (2), (3)"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Command != "INSERT 0 3" || res.RowsAffected == nil || *res.RowsAffected != 3 {
		t.Errorf("command %q, rows affected %v; want INSERT 0 3, 3", res.Command, res.RowsAffected)
	}
	if _, err := p.Run(ctx, TxOptions{Rollback: true}, Call{SQL: "DELETE FROM t"}); err != nil {
		t.Fatal(err)
	}
	if n := pgtest.QueryValue[int64](t, db.URI, "SELECT count(*) FROM t"); n != 3 {
		t.Fatalf("t has %d rows, want 3 (insert committed, delete rolled back)", n)
	}
	// A failing statement leaves nothing behind.
	_, err = p.Run(ctx, TxOptions{}, Call{SQL: "INSERT INTO t SELECT 1/(3-g) FROM generate_series(1, 5) g"})
	wantSQLState(t, err, "22012")
	if n := pgtest.QueryValue[int64](t, db.URI, "SELECT count(*) FROM t"); n != 3 {
		t.Fatalf("t has %d rows after a failed insert, want 3", n)
	}
}

func TestStatementTimeout(t *testing.T) {
	db := pgtest.NewDatabase(t)
	p := newPool(t, db.URI, PoolOptions{MaxConns: 1})
	ctx := context.Background()
	_, err := p.Run(ctx, TxOptions{ReadOnly: true, Limits: Limits{StatementTimeout: 200 * time.Millisecond}},
		Call{SQL: "SELECT pg_sleep(10)"})
	e := wantSQLState(t, err, "57014")
	if !strings.Contains(e.Message, "statement timeout") {
		t.Errorf("message %q does not mention the statement timeout", e.Message)
	}
	// The only connection is still usable (or was replaced).
	res, err := p.Run(ctx, readOnly, Call{SQL: "SELECT current_setting('statement_timeout')"})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Rows[0][0]; got != "30s" {
		t.Errorf("statement_timeout after the call = %v, want the pool's 30s", got)
	}
}

func TestLimitsAreTransactionLocal(t *testing.T) {
	db := pgtest.NewDatabase(t)
	p := newPool(t, db.URI, PoolOptions{MaxConns: 1, Limits: Limits{StatementTimeout: 7 * time.Second}})
	ctx := context.Background()
	q := Call{SQL: "SELECT current_setting('statement_timeout'), current_setting('lock_timeout'), current_setting('idle_in_transaction_session_timeout')"}
	res, err := p.Run(ctx, TxOptions{Limits: Limits{StatementTimeout: 1500 * time.Millisecond, LockTimeout: time.Second}}, q)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Rows[0]; got[0] != "1500ms" || got[1] != "1s" || got[2] != "1min" {
		t.Errorf("inside the call: %v, want [1500ms 1s 1min]", got)
	}
	// Outside a transaction the session values are the pool's run-time
	// parameters.
	res, err = p.RunBare(ctx, TxOptions{}, q)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Rows[0]; got[0] != "7s" || got[1] != "5s" || got[2] != "1min" {
		t.Errorf("session values: %v, want [7s 5s 1min]", got)
	}
}

// runningQueries counts backends running a statement that contains marker.
func runningQueries(t *testing.T, uri, marker string) int64 {
	t.Helper()
	return pgtest.QueryValue[int64](t, uri,
		"SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid() AND query LIKE '%' || $1 || '%'", marker)
}

func TestCancelReachesServer(t *testing.T) {
	db := pgtest.NewDatabase(t)
	p := newPool(t, db.URI, PoolOptions{MaxConns: 1})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := p.Run(ctx, readOnly, Call{SQL: "SELECT pg_sleep(30) /* cancel-me */"})
		done <- err
	}()
	// Wait until the statement runs on the server, then cancel.
	waitFor(t, func() bool { return runningQueries(t, db.URI, "cancel-me") == 1 })
	cancel()
	err := <-done
	if err == nil {
		t.Fatal("Run returned no error after cancellation")
	}
	if n := runningQueries(t, db.URI, "cancel-me"); n != 0 {
		t.Fatalf("%d backends still run the cancelled statement", n)
	}
	if st := p.Stat(); st.Destroyed != 1 {
		t.Errorf("destroyed = %d, want 1 (a cancelled connection is not reused)", st.Destroyed)
	}
	if _, err := p.Run(context.Background(), readOnly, Call{SQL: "SELECT 1"}); err != nil {
		t.Fatalf("pool unusable after a cancel: %v", err)
	}
}

// waitFor polls cond against the database until it holds; the test's
// deadline bounds it.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 20s")
		}
		// Each cond is a database round trip, which paces the loop.
	}
}

func TestRowCapStopsServer(t *testing.T) {
	db := pgtest.NewDatabase(t)
	p := newPool(t, db.URI, PoolOptions{MaxConns: 1})
	ctx := context.Background()
	for _, opts := range []TxOptions{readOnly, {Rollback: true}} {
		res, err := p.Run(ctx, opts, Call{SQL: "SELECT generate_series(1, 9223372036854775807) /* row-cap */", MaxRows: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Rows) != 10 || res.RowCount != 10 || !res.Truncated || res.TruncatedBy != TruncatedByRows {
			t.Fatalf("rows %d, row_count %d, truncated %v by %q; want 10, 10, true, max_rows",
				len(res.Rows), res.RowCount, res.Truncated, res.TruncatedBy)
		}
		if res.Rows[9][0] != int64(10) {
			t.Errorf("row 10 = %v, want 10", res.Rows[9][0])
		}
		if n := runningQueries(t, db.URI, "row-cap"); n != 0 {
			t.Fatalf("the capped statement still runs on %d backends", n)
		}
	}
	// Exactly max_rows rows is not truncated.
	res, err := p.Run(ctx, readOnly, Call{SQL: "SELECT generate_series(1, 10)", MaxRows: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 10 || res.Truncated || res.Command != "SELECT 10" {
		t.Errorf("10 rows with max_rows 10: got %d rows, truncated %v, command %q", len(res.Rows), res.Truncated, res.Command)
	}
}

// TestRowCapStopsServer's statement never ends by itself: reading it to its
// end instead of cancelling it would hang the test.

// A cap must never undo a write: the statement is read to its end.
func TestRowCapKeepsWrites(t *testing.T) {
	db := pgtest.NewDatabase(t)
	pgtest.Exec(t, db.URI, "CREATE TABLE t (id int)")
	p := newPool(t, db.URI, PoolOptions{MaxConns: 1})
	res, err := p.Run(context.Background(), TxOptions{},
		Call{SQL: "INSERT INTO t SELECT generate_series(1, 5000) RETURNING id", MaxRows: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 10 || !res.Truncated || res.Command != "INSERT 0 5000" {
		t.Errorf("rows %d, truncated %v, command %q; want 10, true, INSERT 0 5000", len(res.Rows), res.Truncated, res.Command)
	}
	if n := pgtest.QueryValue[int64](t, db.URI, "SELECT count(*) FROM t"); n != 5000 {
		t.Fatalf("t has %d rows, want 5000", n)
	}
	if st := p.Stat(); st.Destroyed != 0 {
		t.Errorf("destroyed = %d, want 0 (the statement was read to its end)", st.Destroyed)
	}
}

func TestByteCap(t *testing.T) {
	db := pgtest.NewDatabase(t)
	p := newPool(t, db.URI, PoolOptions{})
	ctx := context.Background()
	const maxBytes = 10_000
	res, err := p.Run(ctx, readOnly, Call{SQL: "SELECT repeat('x', 300) FROM generate_series(1, 100000)", MaxBytes: maxBytes})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Truncated || res.TruncatedBy != TruncatedByBytes {
		t.Fatalf("truncated %v by %q, want max_result_bytes", res.Truncated, res.TruncatedBy)
	}
	// Each row costs ["xxx…"] twice (the structured copy and the text
	// copy, escaped once more): about 2 × 305 bytes of the 10,000.
	if len(res.Rows) < 12 || len(res.Rows) > 16 || res.CutValues != 0 {
		t.Errorf("%d rows (%d cut) under a 10000-byte cap, want about 15, none cut", len(res.Rows), res.CutValues)
	}
	if n := responseSize(t, res); n > maxBytes {
		t.Errorf("the response takes %d bytes, over the %d-byte cap", n, maxBytes)
	}
}

func TestSettingsAndRole(t *testing.T) {
	db := pgtest.NewDatabase(t)
	pgtest.CreateRole(t, "tenant_role_test", "NOINHERIT")
	pgtest.Exec(t, db.URI, "GRANT tenant_role_test TO CURRENT_USER")
	p := newPool(t, db.URI, PoolOptions{MaxConns: 1})
	ctx := context.Background()
	opts := TxOptions{
		ReadOnly: true, Rollback: true, PublicOnly: true, Role: "tenant_role_test",
		Settings: []Setting{{"app.tenant_id", "42"}, {"app.user", "o'brien"}},
	}
	q := Call{SQL: "SELECT current_setting('app.tenant_id', true), current_setting('app.user', true), current_user::text, current_setting('search_path')"}
	res, err := p.Run(ctx, opts, q)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Rows[0]; got[0] != "42" || got[1] != "o'brien" || got[2] != "tenant_role_test" || got[3] != "public" {
		t.Errorf("inside: %v, want [42 o'brien tenant_role_test public]", got)
	}
	res, err = p.Run(ctx, readOnly, q)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Rows[0]; (got[0] != nil && got[0] != "") || (got[1] != nil && got[1] != "") || got[2] == "tenant_role_test" || got[3] == "public" {
		t.Errorf("next call: %v, want settings unset, the login role and the default search_path", got)
	}
	if st := p.Stat(); st.Destroyed != 0 {
		t.Errorf("destroyed = %d, want 0 (transaction-local state needs no new connection)", st.Destroyed)
	}
	// A setting that is not a custom one is refused before any SQL runs.
	for _, name := range []string{"statement_timeout", "role", "app.", ".x", "app.x; DROP", ""} {
		err := p.Do(ctx, TxOptions{Settings: []Setting{{name, "0"}}}, func(context.Context, *Tx) error { return nil })
		if err == nil {
			t.Errorf("setting %q accepted", name)
		}
	}
	// A role the login role is not a member of fails the call.
	_, err = p.Run(ctx, TxOptions{Role: "pg_database_owner_x"}, Call{SQL: "SELECT 1"})
	wantSQLState(t, err, "22023")
}

// Nothing a call does to its session reaches the next call on the same
// connection.
func TestSessionStateDoesNotLeak(t *testing.T) {
	db := pgtest.NewDatabase(t)
	p := newPool(t, db.URI, PoolOptions{MaxConns: 1})
	ctx := context.Background()
	check := Call{SQL: `SELECT current_setting('work_mem'),
		(SELECT count(*) FROM pg_prepared_statements),
		(SELECT count(*) FROM pg_listening_channels()),
		EXISTS (SELECT FROM pg_class WHERE relnamespace = pg_my_temp_schema()),
		COALESCE(current_setting('app.leak', true), ''),
		(SELECT count(*) FROM pg_cursors),
		(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()),
		current_user::text = session_user::text,
		current_setting('statement_timeout'), current_setting('application_name'), current_setting('search_path')`}
	baseline, err := p.Run(ctx, readOnly, check)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		run  func() error
	}{
		{"SET in a committed transaction", func() error {
			_, err := p.Run(ctx, TxOptions{}, Call{SQL: "SET work_mem = '77MB'"})
			return err
		}},
		{"SET bare", func() error {
			_, err := p.RunBare(ctx, TxOptions{}, Call{SQL: "SET work_mem = '77MB'"})
			return err
		}},
		{"SET with Discard", func() error {
			_, err := p.Run(ctx, TxOptions{}, Call{SQL: "SET work_mem = '77MB'", Discard: true})
			return err
		}},
		{"PREPARE", func() error {
			_, err := p.Run(ctx, readOnly, Call{SQL: "PREPARE leak AS SELECT 1"})
			return err
		}},
		{"LISTEN", func() error {
			_, err := p.Run(ctx, TxOptions{}, Call{SQL: "LISTEN leak"})
			return err
		}},
		{"CREATE TEMP TABLE", func() error {
			_, err := p.Run(ctx, TxOptions{}, Call{SQL: "CREATE TEMP TABLE leak (id int)"})
			return err
		}},
		{"set_config session", func() error {
			_, err := p.Run(ctx, TxOptions{}, Call{SQL: "SELECT set_config('work_mem', '77MB', false)"})
			return err
		}},
		{"set_config of a tenant setting", func() error {
			// The pool knows app.leak from a call that set it locally.
			if _, err := p.Run(ctx, TxOptions{Settings: []Setting{{"app.leak", "mine"}}}, Call{SQL: "SELECT 1"}); err != nil {
				return err
			}
			_, err := p.Run(ctx, TxOptions{}, Call{SQL: "SELECT set_config('app.leak', 'x', false)"})
			return err
		}},
		{"cursor WITH HOLD", func() error {
			_, err := p.Run(ctx, TxOptions{}, Call{SQL: "DECLARE leak CURSOR WITH HOLD FOR SELECT 1"})
			return err
		}},
		{"advisory lock", func() error {
			_, err := p.Run(ctx, readOnly, Call{SQL: "SELECT pg_advisory_lock(42)"})
			return err
		}},
		{"SET ROLE session", func() error {
			_, err := p.Run(ctx, TxOptions{}, Call{SQL: "SET ROLE pg_monitor"})
			return err
		}},
		{"SET search_path", func() error {
			_, err := p.Run(ctx, TxOptions{}, Call{SQL: "SET search_path = pg_catalog"})
			return err
		}},
		{"RESET ALL", func() error {
			_, err := p.Run(ctx, TxOptions{}, Call{SQL: "RESET ALL"})
			return err
		}},
		{"timeout", func() error {
			_, err := p.Run(ctx, TxOptions{Limits: Limits{StatementTimeout: 50 * time.Millisecond}},
				Call{SQL: "SELECT set_config('work_mem', '77MB', false), pg_sleep(5)"})
			wantSQLState(t, err, "57014")
			return nil
		}},
		{"cancelled", func() error {
			cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			defer cancel()
			_, err := p.Run(cctx, TxOptions{}, Call{SQL: "SELECT set_config('work_mem', '77MB', false), pg_sleep(5)"})
			if err == nil {
				t.Error("cancelled call returned no error")
			}
			return nil
		}},
		{"Do leaving a setting (session check)", func() error {
			return p.Do(ctx, TxOptions{}, func(ctx context.Context, tx *Tx) error {
				_, err := tx.Conn().Exec(ctx, "SELECT set_config('work_mem', '77MB', false)")
				return err
			})
		}},
	}
	if got := baseline.Rows[0][8]; got != "30s" {
		t.Fatalf("baseline statement_timeout %v, want the pool's 30s", got)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.run(); err != nil {
				t.Fatal(err)
			}
			res, err := p.Run(ctx, readOnly, check)
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range res.Rows[0] {
				if v != baseline.Rows[0][i] {
					t.Errorf("%s: column %d of the check = %v, want %v as before", res.Columns[i].Name, i+1, v, baseline.Rows[0][i])
				}
			}
		})
	}
}

// A read-only call that promises no session state (TxOptions.NoSessionState,
// the validator's verdict) skips DISCARD ALL: its rollback must undo every
// session change it could still make, even the ones the validator would
// have flagged, and the next call on the connection must see nothing. The
// changes a rollback does not undo (PREPARE, session advisory locks) are
// the validator's SessionState, which destroys the connection (Discard);
// and a transaction that is not READ ONLY is reset whatever it promised.
func TestNoSessionStateKeepsNothing(t *testing.T) {
	db := pgtest.NewDatabase(t)
	pgtest.Exec(t, db.URI, "CREATE SEQUENCE s")
	p := newPool(t, db.URI, PoolOptions{MaxConns: 1})
	ctx := context.Background()
	kept := readOnly
	kept.NoSessionState = true
	check := Call{SQL: `SELECT current_setting('work_mem'),
		(SELECT count(*) FROM pg_prepared_statements),
		(SELECT count(*) FROM pg_listening_channels()),
		EXISTS (SELECT FROM pg_class WHERE relnamespace = pg_my_temp_schema()),
		COALESCE(current_setting('app.leak', true), ''),
		(SELECT count(*) FROM pg_cursors),
		(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()),
		current_user::text = session_user::text,
		current_setting('statement_timeout'), current_setting('search_path'),
		current_setting('transaction_read_only'), pg_backend_pid()`}
	baseline, err := p.Run(ctx, kept, check)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		opts    TxOptions
		call    Call
		destroy bool // the connection must be destroyed (Discard)
	}{
		// Undone by the rollback alone.
		{"set_config session", kept, Call{SQL: "SELECT set_config('work_mem', '77MB', false)"}, false},
		{"set_config of a custom setting", kept, Call{SQL: "SELECT set_config('app.leak', 'x', false)"}, false},
		{"SET", kept, Call{SQL: "SET work_mem = '77MB'"}, false},
		{"SET search_path", kept, Call{SQL: "SET search_path = pg_catalog"}, false},
		{"SET ROLE", kept, Call{SQL: "SET ROLE pg_monitor"}, false},
		{"SET SESSION AUTHORIZATION", kept, Call{SQL: "SET SESSION AUTHORIZATION pg_monitor"}, false},
		{"SET statement_timeout", kept, Call{SQL: "SET statement_timeout = '1ms'"}, false},
		{"SET transaction_read_only", kept, Call{SQL: "SELECT set_config('default_transaction_read_only', 'off', false)"}, false},
		{"LISTEN", kept, Call{SQL: "LISTEN leak"}, false},
		{"cursor WITH HOLD", kept, Call{SQL: "DECLARE leak CURSOR WITH HOLD FOR SELECT 1"}, false},
		{"CREATE TEMP TABLE (refused in READ ONLY)", kept, Call{SQL: "CREATE TEMP TABLE leak (id int)"}, false},
		{"nextval (refused in READ ONLY)", kept, Call{SQL: "SELECT nextval('s')"}, false},
		{"a failing statement", kept, Call{SQL: "SELECT set_config('work_mem', '77MB', false), 1/0"}, false},
		{"tenant settings and role", TxOptions{ReadOnly: true, Rollback: true, NoSessionState: true, Role: "pg_monitor",
			Settings: []Setting{{"app.leak", "mine"}}}, Call{SQL: "SELECT current_setting('app.leak')"}, false},
		// Not undone by a rollback: the validator reports them as
		// SessionState, which destroys the connection.
		{"PREPARE", kept, Call{SQL: "PREPARE leak AS SELECT 1", Discard: true}, true},
		{"advisory lock", kept, Call{SQL: "SELECT pg_advisory_lock(42)", Discard: true}, true},
		// Not READ ONLY: reset as always, whatever the promise.
		{"read-write rollback", TxOptions{Rollback: true, NoSessionState: true}, Call{SQL: "SELECT nextval('s'), set_config('app.leak', 'x', false)"}, false},
		{"read-write commit", TxOptions{NoSessionState: true}, Call{SQL: "SELECT nextval('s'), set_config('app.leak', 'x', false)"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := p.Stat()
			_, _ = p.Run(ctx, tt.opts, tt.call) // refused or not, nothing may stay
			after := p.Stat()
			if destroyed := after.Destroyed > before.Destroyed; destroyed != tt.destroy {
				t.Errorf("connection destroyed: %t, want %t", destroyed, tt.destroy)
			}
			res, err := p.Run(ctx, kept, check)
			if err != nil {
				t.Fatal(err)
			}
			last := len(res.Rows[0]) - 1
			for i, v := range res.Rows[0][:last] {
				if v != baseline.Rows[0][i] {
					t.Errorf("%s: column %d of the check = %v, want %v as before", res.Columns[i].Name, i+1, v, baseline.Rows[0][i])
				}
			}
			if !tt.destroy && res.Rows[0][last] != baseline.Rows[0][last] {
				t.Errorf("the check ran on backend %v, want the same connection (%v)", res.Rows[0][last], baseline.Rows[0][last])
			}
			baseline.Rows[0][last] = res.Rows[0][last]
			// The read-only calls kept their session; the others reset it.
			wantKept := int64(1)
			if tt.opts.ReadOnly && !tt.destroy {
				wantKept = 2
			}
			if got := p.Stat().KeptSessions - before.KeptSessions; got != wantKept {
				t.Errorf("%d sessions kept without reset, want %d", got, wantKept)
			}
		})
	}
	// lastval after a read-write call with the promise: still reset.
	_, err = p.Run(ctx, kept, Call{SQL: "SELECT lastval()"})
	wantSQLState(t, err, "55000")
}

// Sequence state (lastval) is session state too: the next tenant must not
// read the value another one drew.
func TestSequenceStateDoesNotLeak(t *testing.T) {
	db := pgtest.NewDatabase(t)
	pgtest.Exec(t, db.URI, "CREATE SEQUENCE s")
	p := newPool(t, db.URI, PoolOptions{MaxConns: 1})
	ctx := context.Background()
	if _, err := p.Run(ctx, TxOptions{}, Call{SQL: "SELECT nextval('s')"}); err != nil {
		t.Fatal(err)
	}
	_, err := p.Run(ctx, readOnly, Call{SQL: "SELECT lastval()"})
	wantSQLState(t, err, "55000")
	if st := p.Stat(); st.Destroyed != 0 {
		t.Errorf("destroyed = %d, want 0 (DISCARD ALL resets the session)", st.Destroyed)
	}
}

// A COMMIT sent as the call's statement ends the call's transaction: the
// call fails and the connection is not reused.
func TestTransactionControlInsideCall(t *testing.T) {
	db := pgtest.NewDatabase(t)
	p := newPool(t, db.URI, PoolOptions{MaxConns: 1})
	ctx := context.Background()
	for _, sql := range []string{"COMMIT", "ROLLBACK", "END"} {
		_, err := p.Run(ctx, readOnly, Call{SQL: sql})
		if err == nil || !strings.Contains(err.Error(), "ended the transaction") {
			t.Errorf("Run(%q) = %v, want an error saying the statement ended the transaction", sql, err)
		}
	}
	if st := p.Stat(); st.Destroyed != 3 {
		t.Errorf("destroyed = %d, want 3", st.Destroyed)
	}
	// BEGIN inside the transaction is only a warning; the call stays read-only.
	if _, err := p.Run(ctx, readOnly, Call{SQL: "BEGIN"}); err != nil {
		t.Fatal(err)
	}
}

// Several statements in one Do share the transaction; a read-only
// statement capped in a committing transaction is cancelled only while
// nothing was written before it.
func TestDoSeveralStatements(t *testing.T) {
	db := pgtest.NewDatabase(t)
	pgtest.Exec(t, db.URI, "CREATE TABLE t (id int)")
	p := newPool(t, db.URI, PoolOptions{MaxConns: 1})
	ctx := context.Background()
	err := p.Do(ctx, TxOptions{}, func(ctx context.Context, tx *Tx) error {
		res, err := tx.Query(ctx, Call{SQL: "SELECT generate_series(1, 9223372036854775807)", MaxRows: 2, ReadOnly: true})
		if err != nil {
			return err
		}
		if !res.Truncated || len(res.Rows) != 2 {
			return fmt.Errorf("capped query: %d rows, truncated %v", len(res.Rows), res.Truncated)
		}
		// The cancel aborted the transaction: PostgreSQL says so.
		_, err = tx.Query(ctx, Call{SQL: "SELECT 1"})
		wantSQLState(t, err, "25P02")
		return nil
	})
	// Nothing was written before the cap: the transaction is rolled back
	// instead of committed, and the capped rows stand as the result (a
	// regression: COMMIT used to fail and turn them into an error).
	if err != nil {
		t.Fatalf("Do = %v, want nil (rolled back quietly)", err)
	}
	res, err := p.Run(ctx, TxOptions{}, Call{SQL: "SELECT generate_series(1, 9223372036854775807)", MaxRows: 3, ReadOnly: true})
	if err != nil || !res.Truncated || len(res.Rows) != 3 {
		t.Fatalf("capped read in a read-write transaction: %v, %+v", err, res)
	}
	err = p.Do(ctx, TxOptions{}, func(ctx context.Context, tx *Tx) error {
		if _, err := tx.Query(ctx, Call{SQL: "INSERT INTO t VALUES (1)"}); err != nil {
			return err
		}
		// After a write, a capped read is drained, not cancelled: the
		// insert must survive.
		res, err := tx.Query(ctx, Call{SQL: "SELECT generate_series(1, 5000)", MaxRows: 2, ReadOnly: true})
		if err != nil {
			return err
		}
		if !res.Truncated || res.Command != "SELECT 5000" {
			return fmt.Errorf("drained query: truncated %v, command %q", res.Truncated, res.Command)
		}
		_, err = tx.Query(ctx, Call{SQL: "INSERT INTO t VALUES (2)"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := pgtest.QueryValue[int64](t, db.URI, "SELECT count(*) FROM t"); n != 2 {
		t.Fatalf("t has %d rows, want 2", n)
	}
	// Tx must not be used after Do returns.
	var kept *Tx
	if err := p.Do(ctx, readOnly, func(_ context.Context, tx *Tx) error { kept = tx; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := kept.Query(ctx, Call{SQL: "SELECT 1"}); err == nil {
		t.Error("Query on a finished Tx succeeded")
	}
}

func TestDoDiscardAndPanic(t *testing.T) {
	db := pgtest.NewDatabase(t)
	p := newPool(t, db.URI, PoolOptions{MaxConns: 1})
	ctx := context.Background()
	pid := func() int64 {
		res, err := p.Run(ctx, readOnly, Call{SQL: "SELECT pg_backend_pid()"})
		if err != nil {
			t.Fatal(err)
		}
		return res.Rows[0][0].(int64)
	}
	first := pid()
	if second := pid(); second != first {
		t.Fatalf("a clean connection was not reused: pid %d then %d", first, second)
	}
	if err := p.Do(ctx, readOnly, func(ctx context.Context, tx *Tx) error { tx.Discard(); return nil }); err != nil {
		t.Fatal(err)
	}
	third := pid()
	if third == first {
		t.Fatal("Discard did not destroy the connection")
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("panic not propagated")
			}
		}()
		p.Do(ctx, TxOptions{}, func(ctx context.Context, tx *Tx) error { panic("boom") })
	}()
	if fourth := pid(); fourth == third {
		t.Fatal("a connection whose transaction panicked was reused")
	}
	// fn's own error is returned as is and rolls back.
	sentinel := errors.New("mine")
	err := p.Do(ctx, TxOptions{}, func(ctx context.Context, tx *Tx) error {
		if _, err := tx.Conn().Exec(ctx, "CREATE TABLE t (id int)"); err != nil {
			return err
		}
		return sentinel
	})
	if !errors.Is(err, sentinel) {
		t.Fatalf("Do = %v, want fn's error", err)
	}
	if n := pgtest.QueryValue[int64](t, db.URI, "SELECT count(*) FROM pg_class WHERE relname = 't'"); n != 0 {
		t.Fatal("fn failed but its transaction committed")
	}
}

// The round trips of a kept read-only call (TxOptions.NoSessionState):
// Call.Before runs after the parse and before the execution, in the call's
// transaction; a statement that fails to parse never reaches it; a
// statement that ends the transaction is caught even when the ROLLBACK
// went with it; trusted SQL gets savepoints; and after a failed start
// nothing runs, not even outside the transaction.
func TestPipelinedCall(t *testing.T) {
	db := pgtest.NewDatabase(t)
	pgtest.Exec(t, db.URI, "CREATE TABLE t (n int)")
	p := newPool(t, db.URI, PoolOptions{MaxConns: 1})
	ctx := context.Background()
	kept := readOnly
	kept.NoSessionState = true

	t.Run("Before runs between parse and execution", func(t *testing.T) {
		before := p.Stat().KeptSessions
		var inTx string
		var res *Result
		err := p.Do(ctx, kept, func(ctx context.Context, tx *Tx) error {
			var err error
			res, err = tx.Query(ctx, Call{SQL: "SELECT n FROM t", Last: true, Before: func(ctx context.Context) error {
				return tx.Conn().QueryRow(ctx, "SELECT current_setting('transaction_read_only')").Scan(&inTx)
			}})
			return err
		})
		if err != nil || res.RowCount != 0 || inTx != "on" {
			t.Fatalf("call: %v, %+v; Before saw transaction_read_only=%q, want on", err, res, inTx)
		}
		if p.Stat().KeptSessions != before+1 {
			t.Errorf("the session was reset")
		}
	})
	t.Run("Before refuses", func(t *testing.T) {
		refused := errors.New("refused by Before")
		err := p.Do(ctx, kept, func(ctx context.Context, tx *Tx) error {
			_, err := tx.Query(ctx, Call{SQL: "SELECT 1/0", Last: true, Before: func(context.Context) error { return refused }})
			return err
		})
		if !errors.Is(err, refused) {
			t.Errorf("error %v, want Before's (the statement must not run)", err)
		}
	})
	t.Run("parse error skips Before", func(t *testing.T) {
		called := false
		err := p.Do(ctx, kept, func(ctx context.Context, tx *Tx) error {
			_, err := tx.Query(ctx, Call{SQL: "SELECT nope FROM t", Last: true, Before: func(context.Context) error { called = true; return nil }})
			return err
		})
		wantSQLState(t, err, "42703")
		if called {
			t.Error("Before ran for a statement that did not parse")
		}
	})
	t.Run("transaction control", func(t *testing.T) {
		for _, sql := range []string{"COMMIT", "ROLLBACK"} {
			_, err := p.Run(ctx, kept, Call{SQL: sql})
			if err == nil || !strings.Contains(err.Error(), "ended the transaction") {
				t.Errorf("Run(%q) = %v, want an error saying the statement ended the transaction", sql, err)
			}
		}
	})
	t.Run("savepoints", func(t *testing.T) {
		err := p.Do(ctx, TxOptions{}, func(ctx context.Context, tx *Tx) error {
			q := tx.Conn()
			if err := q.Commit(ctx); err == nil {
				return errors.New("Commit of the call's own transaction accepted")
			}
			sp, err := q.Begin(ctx)
			if err != nil {
				return err
			}
			if _, err := sp.Exec(ctx, "INSERT INTO t VALUES (1)"); err != nil {
				return err
			}
			if err := sp.Rollback(ctx); err != nil {
				return err
			}
			if err := sp.Rollback(ctx); !errors.Is(err, pgx.ErrTxClosed) {
				return fmt.Errorf("second Rollback: %v, want ErrTxClosed", err)
			}
			sp, err = q.Begin(ctx)
			if err != nil {
				return err
			}
			if _, err := sp.Exec(ctx, "INSERT INTO t VALUES ($1)", 2); err != nil {
				return err
			}
			return sp.Commit(ctx)
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := pgtest.QueryValue[int64](t, db.URI, "SELECT coalesce(sum(n), 0) FROM t"); got != 2 {
			t.Errorf("sum(n) = %d, want 2 (the rolled-back savepoint's row gone, the released one's kept)", got)
		}
		pgtest.Exec(t, db.URI, "TRUNCATE t")
	})
	t.Run("failed start", func(t *testing.T) {
		opts := TxOptions{Role: "pg_database_owner_x"}
		err := p.Do(ctx, opts, func(ctx context.Context, tx *Tx) error {
			if _, err := tx.Conn().Exec(ctx, "INSERT INTO t VALUES (3)"); err == nil {
				return errors.New("trusted SQL ran after a failed start")
			}
			if _, err := tx.Query(ctx, Call{SQL: "INSERT INTO t VALUES (4)"}); err == nil {
				return errors.New("a statement ran after a failed start")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n := pgtest.QueryValue[int64](t, db.URI, "SELECT count(*) FROM t"); n != 0 {
			t.Errorf("t has %d rows after a failed start, want 0", n)
		}
	})
}

// The pool's timeouts and search_path are the connections' startup
// parameters: a call that keeps them sets nothing per transaction, one
// that overrides them sets them for its transaction only.
func TestStartupParameters(t *testing.T) {
	db := pgtest.NewDatabase(t)
	p := newPool(t, db.URI, PoolOptions{MaxConns: 1, SearchPath: "public"})
	if !p.timeoutsAtStartup || !p.searchPathAtStartup {
		t.Fatalf("startup parameters not seen at connect: timeouts %t, search_path %t", p.timeoutsAtStartup, p.searchPathAtStartup)
	}
	tx := &Tx{p: p, limits: p.limits}
	if names, _ := tx.settings(TxOptions{PublicOnly: true}); len(names) != 0 {
		t.Errorf("settings for a call with the pool's limits: %v, want none", names)
	}
	tx.limits.StatementTimeout = 5 * time.Second
	if names, _ := tx.settings(TxOptions{PublicOnly: true, Role: "r"}); !slices.Equal(names, []string{"statement_timeout", "role"}) {
		t.Errorf("settings with another statement timeout and a role: %v", names)
	}
	other := newPool(t, db.URI, PoolOptions{MaxConns: 1})
	if names, _ := (&Tx{p: other, limits: other.limits}).settings(TxOptions{PublicOnly: true}); !slices.Equal(names, []string{"search_path"}) {
		t.Errorf("settings on a pool without a startup search_path: %v, want search_path", names)
	}

	ctx := context.Background()
	kept := TxOptions{ReadOnly: true, Rollback: true, NoSessionState: true, PublicOnly: true}
	check := Call{SQL: "SELECT current_setting('statement_timeout'), current_setting('search_path')"}
	for _, tc := range []struct {
		opts    TxOptions
		timeout string
	}{
		{kept, "30s"},
		{TxOptions{ReadOnly: true, Rollback: true, NoSessionState: true, PublicOnly: true, Limits: Limits{StatementTimeout: 5 * time.Second}}, "5s"},
		{kept, "30s"},
	} {
		res, err := p.Run(ctx, tc.opts, check)
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Rows[0]; got[0] != tc.timeout || got[1] != "public" {
			t.Errorf("statement_timeout, search_path = %v, want [%s public]", got, tc.timeout)
		}
	}
}
