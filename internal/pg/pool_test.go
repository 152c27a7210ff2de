package pg

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgherd/pgherd/internal/pgtest"
)

func TestConnectErrors(t *testing.T) {
	db := pgtest.NewDatabase(t)
	const pw = "s3cr3t-Pa55"
	rolePw := pgtest.CreateRole(t, "pool_test_login", "")
	wrongPassword := pgtest.URIAs(db.Name, "pool_test_login", pw)
	missingDB := pgtest.URIAs("no_such_db", "pool_test_login", rolePw)
	u, _ := url.Parse(db.URI)
	tests := []struct {
		name, uri string
		want      []string // substrings of the error
	}{
		{"wrong password", wrongPassword, []string{`database "app"`, "connecting", "password authentication failed"}},
		{"missing database", missingDB, []string{`database "app"`, `"no_such_db" does not exist`}},
		{"bad port in URL", "postgres://u:" + pw + "@localhost:notaport/db", []string{`database "app"`, "parsing the database URI"}},
		{"bad URL escape", "postgres://u:" + pw + "%zz@localhost/db", []string{`database "app"`, "parsing"}},
		{"keyword form", "host=localhost port=abc user=u password=" + pw, []string{`database "app"`, "parsing"}},
		{"nothing listening", "postgres://u:" + pw + "@127.0.0.1:1/db?connect_timeout=5", []string{`database "app"`, "connecting"}},
		{"bad option", "postgres://u:" + pw + "@" + u.Host + "/" + db.Name + "?sslmode=bogus", []string{`database "app"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Connect(context.Background(), "app", tt.uri, PoolOptions{})
			if err == nil {
				p.Close()
				t.Fatal("Connect succeeded")
			}
			msg := err.Error()
			if strings.Contains(msg, pw) || strings.Contains(msg, url.QueryEscape(pw)) || strings.Contains(msg, rolePw) {
				t.Errorf("error shows the password: %s", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
		})
	}
}

// A password that happens to appear in the driver's message is masked, and
// the server's error is still there for callers that branch on SQLSTATE.
func TestConnectErrorKeepsSQLState(t *testing.T) {
	db := pgtest.NewDatabase(t)
	pgtest.CreateRole(t, "pool_test_login2", "")
	const pw = "authentication" // also a word of the server's message
	_, err := Connect(context.Background(), "app", pgtest.URIAs(db.Name, "pool_test_login2", pw), PoolOptions{})
	if err == nil {
		t.Fatal("Connect succeeded with a wrong password")
	}
	if strings.Contains(err.Error(), pw) {
		t.Errorf("error shows the password: %v", err)
	}
	if e, ok := AsError(err); !ok || e.SQLState != "28P01" {
		t.Errorf("AsError(%v) = %v, %v; want SQLSTATE 28P01", err, e, ok)
	}
}

func TestRedact(t *testing.T) {
	tests := []struct{ msg, uri, want string }{
		{"bad pw1 here", "postgres://u:pw1@h/db", "bad xxxxx here"},
		{"x p%40ss y", "postgres://u:p%40ss@h/db", "x xxxxx y"},
		{"x p@ss y", "postgres://u:p@ss@h:bad/db", "x xxxxx y"},
		{"x hunter2 y", "host=h password=hunter2 port=x", "x xxxxx y"},
		{"x two words y", "host=h password='two words'", "x xxxxx y"},
		{"nothing", "postgres://u@h/db", "nothing"},
	}
	for _, tt := range tests {
		if got := redact(tt.msg, tt.uri); got != tt.want {
			t.Errorf("redact(%q, %q) = %q, want %q", tt.msg, tt.uri, got, tt.want)
		}
	}
}

func TestPingStatClose(t *testing.T) {
	db := pgtest.NewDatabase(t)
	p := newPool(t, db.URI, PoolOptions{MaxConns: 3})
	ctx := context.Background()
	if p.Name() != "test" {
		t.Errorf("Name = %q", p.Name())
	}
	if p.ServerVersion() == "" {
		t.Error("ServerVersion is empty")
	}
	d, err := p.Ping(ctx)
	if err != nil || d <= 0 {
		t.Fatalf("Ping = %v, %v", d, err)
	}
	st := p.Stat()
	if st.MaxConns != 3 || st.TotalConns < 1 || st.AcquiredConns != 0 || st.IdleConns != st.TotalConns {
		t.Errorf("Stat = %+v", st)
	}
	p.Close()
	p.Close() // idempotent
	for _, call := range []func() error{
		func() error { _, err := p.Run(ctx, readOnly, Call{SQL: "SELECT 1"}); return err },
		func() error { _, err := p.RunBare(ctx, TxOptions{}, Call{SQL: "SELECT 1"}); return err },
		func() error { _, err := p.Ping(ctx); return err },
	} {
		if err := call(); !errors.Is(err, ErrPoolClosed) {
			t.Errorf("after Close: %v, want ErrPoolClosed", err)
		}
	}
}

func TestAcquireTimeout(t *testing.T) {
	db := pgtest.NewDatabase(t)
	p := newPool(t, db.URI, PoolOptions{MaxConns: 1, AcquireTimeout: 100 * time.Millisecond})
	ctx := context.Background()
	held, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- p.Do(ctx, readOnly, func(context.Context, *Tx) error {
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	_, err := p.Run(ctx, readOnly, Call{SQL: "SELECT 1"})
	if !errors.Is(err, ErrPoolExhausted) {
		t.Fatalf("Run with the only connection busy = %v, want ErrPoolExhausted", err)
	}
	for _, w := range []string{`database "test"`, "all 1 connections", "100ms", "max_conns"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
	// The caller's own cancellation is not reported as exhaustion.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := p.Run(cctx, readOnly, Call{SQL: "SELECT 1"}); errors.Is(err, ErrPoolExhausted) || !errors.Is(err, context.Canceled) {
		t.Errorf("Run with a cancelled context = %v, want context.Canceled", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := p.Stat(); st.Exhausted != 1 {
		t.Errorf("exhausted = %d, want 1", st.Exhausted)
	}
	if _, err := p.Run(ctx, readOnly, Call{SQL: "SELECT 1"}); err != nil {
		t.Fatalf("Run after the connection came back: %v", err)
	}
}

// Many goroutines on a small pool: every call gets its own answer, caps
// and timeouts stay per call, and the pool ends with no connection in use.
// Run with -race.
func TestConcurrentCalls(t *testing.T) {
	db := pgtest.NewDatabase(t)
	pgtest.Exec(t, db.URI, "CREATE TABLE t (id int)")
	p := newPool(t, db.URI, PoolOptions{MaxConns: 3, AcquireTimeout: 30 * time.Second})
	ctx := context.Background()
	const workers, calls = 24, 15
	var wg sync.WaitGroup
	errs := make(chan error, workers*calls)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range calls {
				n := w*calls + i
				var err error
				switch n % 5 {
				case 0: // echo a parameter
					var res *Result
					res, err = p.Run(ctx, readOnly, Call{SQL: "SELECT $1::int + 1, $2::text", Args: []any{float64(n), fmt.Sprint(n)}})
					if err == nil && (res.Rows[0][0] != int64(n+1) || res.Rows[0][1] != fmt.Sprint(n)) {
						err = fmt.Errorf("call %d got %v", n, res.Rows[0])
					}
				case 1: // capped
					var res *Result
					res, err = p.Run(ctx, readOnly, Call{SQL: "SELECT generate_series(1, 1000000)", MaxRows: 3})
					if err == nil && (len(res.Rows) != 3 || !res.Truncated) {
						err = fmt.Errorf("call %d: %d rows, truncated %v", n, len(res.Rows), res.Truncated)
					}
				case 2: // timeout
					_, err = p.Run(ctx, TxOptions{ReadOnly: true, Limits: Limits{StatementTimeout: 20 * time.Millisecond}}, Call{SQL: "SELECT pg_sleep(1)"})
					if e, ok := AsError(err); ok && e.SQLState == "57014" {
						err = nil
					} else {
						err = fmt.Errorf("call %d: timeout gave %v", n, err)
					}
				case 3: // write
					_, err = p.Run(ctx, TxOptions{}, Call{SQL: "INSERT INTO t VALUES ($1)", Args: []any{float64(n)}})
				case 4: // cancelled by the caller
					cctx, cancel := context.WithCancel(ctx)
					cancel()
					_, err = p.Run(cctx, readOnly, Call{SQL: "SELECT 1"})
					if errors.Is(err, context.Canceled) {
						err = nil
					}
				}
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	want := int64(0)
	for n := range workers * calls {
		if n%5 == 3 {
			want++
		}
	}
	if got := pgtest.QueryValue[int64](t, db.URI, "SELECT count(*) FROM t"); got != want {
		t.Errorf("t has %d rows, want %d", got, want)
	}
	if st := p.Stat(); st.AcquiredConns != 0 || st.TotalConns > 3 {
		t.Errorf("after the calls: %+v", st)
	}
	t.Logf("stats %+v", p.Stat())
}
