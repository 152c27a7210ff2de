package pg

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgherd/pgherd/internal/faultproxy"
	"github.com/pgherd/pgherd/internal/pgtest"
)

// proxied creates a database and a fault proxy in front of the server, and
// returns the database, the proxy and the URI through it.
func proxied(t *testing.T) (*pgtest.Database, *faultproxy.Proxy, string) {
	t.Helper()
	db := pgtest.NewDatabase(t)
	cfg, err := pgx.ParseConfig(db.URI)
	if err != nil {
		t.Fatal(err)
	}
	px, err := faultproxy.Start(net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { px.Close() })
	uri, err := px.URI(db.URI)
	if err != nil {
		t.Fatal(err)
	}
	return db, px, uri
}

// faultLimits keep fault tests short: a call's deadline is
// 1s (acquire) + 1s (statement) + 3s (round trips) = 5s.
var faultLimits = PoolOptions{
	MaxConns:       2,
	AcquireTimeout: time.Second,
	ConnectTimeout: 5 * time.Second, // SCRAM on a loaded machine; calls still wait at most AcquireTimeout
	CancelGrace:    time.Second,
	Limits:         Limits{StatementTimeout: time.Second},
}

// callBound is the longest a call may take under faultLimits: its deadline
// plus the wait for an unanswered cancel, plus scheduling slack for a
// loaded machine.
const callBound = 5*time.Second + cancelWait + 1500*time.Millisecond

// waitUntil polls cond until it holds or d passes, and reports how long it
// took.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// TestBlackholeEachPhase: the network goes silent (nothing dropped, nothing
// closed) while connecting, during BEGIN, during the statement and during
// the reset. Every call ends by its deadline with an error that says the
// database did not answer (a read-only call whose reset was cut keeps its
// rows), and once the network heals the pool serves again within seconds.
func TestBlackholeEachPhase(t *testing.T) {
	for _, tc := range []struct {
		phase string
		match func(faultproxy.Message) bool
		sql   string
		ok    bool // the call succeeds despite the fault
	}{
		{"connect", faultproxy.Startup(), "SELECT 1", false},
		{"begin", faultproxy.SQLContains("begin"), "SELECT 1", false},
		{"statement", faultproxy.SQLContains("marker"), "SELECT 1 AS marker", false},
		{"reset", faultproxy.SQLContains("discard all"), "SELECT 1", true},
	} {
		t.Run(tc.phase, func(t *testing.T) {
			t.Parallel()
			_, px, uri := proxied(t)
			p := newPool(t, uri, faultLimits)
			if _, err := p.Run(context.Background(), TxOptions{ReadOnly: true}, Call{SQL: "SELECT 1"}); err != nil {
				t.Fatalf("call before the fault: %v", err)
			}
			if tc.phase == "connect" {
				p.pool.Reset() // the next call must open a connection
			}
			px.BlackholeOn(tc.match)

			start := time.Now()
			res, err := p.Run(context.Background(), TxOptions{ReadOnly: true}, Call{SQL: tc.sql})
			took := time.Since(start)
			if took > callBound {
				t.Errorf("the call took %s, want at most %s (its deadline plus the cancel wait)", took, callBound)
			}
			switch {
			case tc.ok && (err != nil || res == nil || len(res.Rows) != 1):
				t.Errorf("read-only call with its reset cut: %v, %v; want its row", res, err)
			case !tc.ok && err == nil:
				t.Errorf("call during a blackhole succeeded")
			case !tc.ok && !strings.Contains(err.Error(), "unreachable") && !strings.Contains(err.Error(), "no answer from the database"):
				t.Errorf("error %q does not say the database did not answer", err)
			}
			t.Logf("%s: call ended after %s: %v", tc.phase, took.Round(time.Millisecond), err)

			px.Heal()
			healed := time.Now()
			recovered := waitUntil(t, 10*time.Second, "a call succeeds after healing", func() bool {
				_, err := p.Run(context.Background(), TxOptions{ReadOnly: true}, Call{SQL: "SELECT 1"})
				return err == nil
			})
			waitUntil(t, 10*time.Second, "the given-up connection to be released", func() bool { return p.Stat().Reaping == 0 })
			t.Logf("%s: first successful call %s after healing; backends settled %s after", tc.phase, recovered.Round(time.Millisecond), time.Since(healed).Round(time.Millisecond))
		})
	}
}

// TestCommitCutIsReported: when the answer to COMMIT never comes, the call
// says the outcome is unknown instead of claiming success or failure.
func TestCommitCutIsReported(t *testing.T) {
	db, px, uri := proxied(t)
	pgtest.Exec(t, db.URI, "CREATE TABLE t (n int)")
	p := newPool(t, uri, faultLimits)
	px.BlackholeOn(faultproxy.SQLContains("commit"))
	_, err := p.Run(context.Background(), TxOptions{}, Call{SQL: "INSERT INTO t VALUES (1)"})
	if err == nil || !strings.Contains(err.Error(), "may or may not have committed") {
		t.Fatalf("write with its COMMIT cut: %v; want an error saying the outcome is unknown", err)
	}
	px.Heal()
}

// TestStaleConnectionsRetried: backends terminated while idle in the pool
// fail no call: BEGIN fails on the dead connection, the pool is reset and
// the call runs again on a fresh one.
func TestStaleConnectionsRetried(t *testing.T) {
	db := pgtest.NewDatabase(t)
	p := newPool(t, db.URI, PoolOptions{MaxConns: 8, ApplicationName: "stale-test"})
	ctx := context.Background()
	for round := range 3 {
		// Fill the pool with idle connections.
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if _, err := p.Run(ctx, TxOptions{ReadOnly: true}, Call{SQL: "SELECT pg_sleep(0.05)"}); err != nil {
					t.Errorf("filling the pool: %v", err)
				}
			})
		}
		wg.Wait()
		n := pgtest.QueryValue[int64](t, pgtest.URI("postgres"),
			"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'stale-test'", db.Name)
		if n == 0 {
			t.Fatal("no backend to terminate")
		}
		// Let the terminations land before the calls (the pool pings only
		// connections idle for a second or more).
		waitUntil(t, 5*time.Second, "the backends to exit", func() bool {
			return pgtest.QueryValue[int64](t, pgtest.URI("postgres"),
				"SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'stale-test'", db.Name) == 0
		})
		var failed atomic.Int64
		for range 8 {
			wg.Go(func() {
				if _, err := p.Run(ctx, TxOptions{ReadOnly: true}, Call{SQL: "SELECT 1"}); err != nil {
					failed.Add(1)
					t.Errorf("round %d: call after terminating %d idle backends: %v", round, n, err)
				}
			})
		}
		wg.Wait()
		t.Logf("round %d: %d idle backends terminated, %d calls failed; stats %+v", round, n, failed.Load(), p.Stat())
	}
	// How many calls needed a retry depends on timing: a connection idle
	// for a second or more is pinged (and replaced) before use instead.
	t.Logf("stats %+v", p.Stat())
}

// stubbornSQL creates a function that ignores cancel requests and
// statement_timeout (it catches query_canceled) but not
// pg_terminate_backend, which cannot be caught: the test stand-in for an
// expression that never reaches an interrupt check.
const stubbornSQL = `CREATE FUNCTION stubborn(secs float8) RETURNS int LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
  WHILE clock_timestamp() - t0 < make_interval(secs => secs) LOOP
    BEGIN
      PERFORM pg_catalog.pg_sleep(0.01);
    EXCEPTION WHEN query_canceled THEN NULL;
    END;
  END LOOP;
  RETURN 1;
END $$`

func stubbornBackends(t *testing.T, db string) int64 {
	t.Helper()
	return pgtest.QueryValue[int64](t, pgtest.URI("postgres"),
		"SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND query LIKE '%stubborn(%' AND query NOT LIKE '%pg_stat_activity%'", db)
}

// TestRunawayBackendKeepsItsConnection: a statement that ignores its
// cancel request returns at its deadline, but its connection stays counted
// busy, and the caller's hold stays held, until the backend is gone: the
// pool terminates it after the grace period. No second backend can start
// meanwhile on a one-connection pool, and pg_stat_activity is clean within
// statement_timeout + 2 s (client backstop) + grace + polling.
func TestRunawayBackendKeepsItsConnection(t *testing.T) {
	db := pgtest.NewDatabase(t)
	pgtest.Exec(t, db.URI, stubbornSQL)
	// The grace outlasts the client backstop by far, so the backend is
	// surely still running when the call returns, even on a busy machine
	// under the race detector (a 1 s grace could end before it).
	opts := PoolOptions{MaxConns: 1, AcquireTimeout: 20 * time.Second, CancelGrace: 5 * time.Second,
		Limits: Limits{StatementTimeout: 500 * time.Millisecond}}
	p := newPool(t, db.URI, opts)
	ctx := context.Background()

	var held atomic.Int64
	hold := func() func() {
		held.Add(1)
		return func() { held.Add(-1) }
	}
	start := time.Now()
	_, err := p.Run(ctx, TxOptions{Hold: hold}, Call{SQL: "SELECT stubborn(60)"})
	returned := time.Since(start)
	if err == nil {
		t.Fatal("the stubborn statement succeeded")
	}
	t.Logf("call returned after %s: %v", returned.Round(time.Millisecond), err)
	if held.Load() != 1 || p.Stat().Reaping != 1 {
		t.Fatalf("after the call: held %d, reaping %d; want the slot and the connection kept", held.Load(), p.Stat().Reaping)
	}
	if n := stubbornBackends(t, db.Name); n != 1 {
		t.Fatalf("%d stubborn backends right after the call, want 1 (still running)", n)
	}

	// A second call waits for the connection instead of starting a second
	// backend beside the runaway one.
	var peak atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if n := stubbornBackends(t, db.Name); n > peak.Load() {
				peak.Store(n)
			}
		}
	})
	_, err = p.Run(ctx, TxOptions{}, Call{SQL: "SELECT 1"})
	waited := time.Since(start)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("call after the runaway one: %v", err)
	}
	// Polling and, on a loaded machine, opening the control connection.
	clean := 500*time.Millisecond + backstopSlack + opts.CancelGrace + 3*time.Second
	if waited > clean {
		t.Errorf("the connection came back %s after the runaway call started, want within %s", waited, clean)
	}
	if peak.Load() > 1 {
		t.Errorf("%d stubborn backends at once, want at most 1", peak.Load())
	}
	if n := stubbornBackends(t, db.Name); n != 0 {
		t.Errorf("%d stubborn backends left", n)
	}
	if held.Load() != 0 || p.Stat().Terminated != 1 {
		t.Errorf("held %d, stats %+v; want the hold released and one backend terminated", held.Load(), p.Stat())
	}
	t.Logf("the backend was gone and its connection reused %s after the call started", waited.Round(time.Millisecond))
}

// TestCloseLetsGoOfRunaways: closing the pool while a backend is watched
// terminates it at once and does not wait for the grace period.
func TestCloseLetsGoOfRunaways(t *testing.T) {
	db := pgtest.NewDatabase(t)
	pgtest.Exec(t, db.URI, stubbornSQL)
	p, err := Connect(context.Background(), "test", db.URI, PoolOptions{MaxConns: 1, CancelGrace: time.Hour,
		Limits: Limits{StatementTimeout: 200 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Run(context.Background(), TxOptions{}, Call{SQL: "SELECT stubborn(60)"}); err == nil {
		t.Fatal("the stubborn statement succeeded")
	}
	start := time.Now()
	p.Close()
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Close took %s with a runaway backend", d)
	}
	waitUntil(t, 5*time.Second, "the runaway backend to be gone", func() bool { return stubbornBackends(t, db.Name) == 0 })
}

// TestProbeIsHonest: Probe takes no pool capacity (it answers while every
// connection is busy), reports an unreachable database as such, within its
// context's deadline, and recovers when the database does.
func TestProbeIsHonest(t *testing.T) {
	_, px, uri := proxied(t)
	p := newPool(t, uri, PoolOptions{MaxConns: 1, AcquireTimeout: time.Second, ConnectTimeout: time.Second})
	ctx := context.Background()
	busy := make(chan error, 1)
	go func() {
		_, err := p.Run(ctx, TxOptions{}, Call{SQL: "SELECT pg_sleep(1)"})
		busy <- err
	}()
	waitUntil(t, 5*time.Second, "the pool to be busy", func() bool { return p.Stat().AcquiredConns == 1 })
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	if _, err := p.Probe(pctx); err != nil {
		t.Errorf("Probe while the pool is busy: %v", err)
	}
	cancel()
	if err := <-busy; err != nil {
		t.Fatal(err)
	}

	for _, fault := range []string{"refuse", "blackhole"} {
		if fault == "refuse" {
			px.Refuse()
			px.ResetAll()
		} else {
			px.Blackhole()
		}
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		start := time.Now()
		_, err := p.Probe(pctx)
		cancel()
		if err == nil || !strings.Contains(err.Error(), "database unreachable") {
			t.Errorf("%s: Probe = %v, want database unreachable", fault, err)
		}
		if d := time.Since(start); d > 1500*time.Millisecond {
			t.Errorf("%s: Probe took %s with a 1s deadline", fault, d)
		}
		px.Heal()
		waitUntil(t, 5*time.Second, fault+": Probe recovers", func() bool {
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			_, err := p.Probe(pctx)
			return err == nil
		})
	}
}

// TestConnectTimeoutDefault: a URI without connect_timeout still cannot
// hang: connecting into a silent network fails after ConnectTimeout.
func TestConnectTimeoutDefault(t *testing.T) {
	_, px, uri := proxied(t)
	px.Blackhole()
	start := time.Now()
	_, err := Connect(context.Background(), "test", uri, PoolOptions{ConnectTimeout: 500 * time.Millisecond, AcquireTimeout: 10 * time.Second})
	if err == nil {
		t.Fatal("Connect through a blackhole succeeded")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Connect took %s with a 500ms connect timeout", d)
	}
	if !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "timeout") {
		t.Errorf("Connect through a blackhole: %v, want a timeout", err)
	}
	px.Heal()
}
