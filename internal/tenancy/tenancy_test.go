package tenancy_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgherd/pgherd/internal/auth"
	"github.com/pgherd/pgherd/internal/config"
	"github.com/pgherd/pgherd/internal/faultproxy"
	"github.com/pgherd/pgherd/internal/pg"
	"github.com/pgherd/pgherd/internal/pgtest"
	"github.com/pgherd/pgherd/internal/tenancy"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// endpointConfig parses yaml (one endpoint named ep) with env.
func endpointConfig(t *testing.T, yaml string, env map[string]string) *config.Endpoint {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatalf("config: %v\n%s", err, yaml)
	}
	return cfg.Endpoints["ep"]
}

func proxy(t *testing.T, uri string) (*faultproxy.Proxy, string) {
	t.Helper()
	cfg, err := pgx.ParseConfig(uri)
	if err != nil {
		t.Fatal(err)
	}
	px, err := faultproxy.Start(net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { px.Close() })
	through, err := px.URI(uri)
	if err != nil {
		t.Fatal(err)
	}
	return px, through
}

// TestUnreachableTenantStallsNoOne: one tenant's database does not answer
// (its connect is silenced). Another tenant's calls and the readiness check
// go on meanwhile — no lock is held over the stuck connect — the check says
// "database unreachable" within its deadline, and once the network heals the
// tenant connects on its next call.
func TestUnreachableTenantStallsNoOne(t *testing.T) {
	db := pgtest.NewDatabase(t)
	px, slow := proxy(t, db.URI)
	px.Blackhole()
	ep := endpointConfig(t, `
server: {start_degraded: true}
auth:
  mode: api_key
  api_keys:
    - {name: k, key: "${K}", tenant: fast}
endpoints:
  ep:
    access_mode: user_ro
    allow_privileged_role: true  # the test cluster's superuser
    pool: {acquire_timeout: 3s}
    tenants:
      slow: {database_uri: "${SLOW}"}
      fast: {database_uri: "${FAST}"}
`, map[string]string{"SLOW": slow + "&connect_timeout=3", "FAST": db.URI, "K": "0123456789abcdef0123"})
	ctx := context.Background()
	start := time.Now()
	d, err := tenancy.Open(ctx, ep, tenancy.OpenOptions{Degraded: true})
	if err != nil {
		t.Fatalf("Open degraded: %v", err)
	}
	defer d.Close()
	t.Logf("Open with one tenant silenced took %s", time.Since(start).Round(time.Millisecond))

	// The slow tenant's next call starts a new connect that hangs.
	slowDone := make(chan error, 1)
	time.Sleep(1100 * time.Millisecond) // past the fail-fast window of the first attempt
	go func() {
		h, err := d.Resolve(ctx, &auth.Principal{Tenant: "slow", User: "u"})
		if err == nil {
			h.Done()
		}
		slowDone <- err
	}()
	time.Sleep(100 * time.Millisecond)

	start = time.Now()
	h, err := d.Resolve(ctx, &auth.Principal{Tenant: "fast", User: "u"})
	if err != nil {
		t.Fatalf("fast tenant: %v", err)
	}
	if _, err := h.Pool.Run(ctx, h.Tx, pg.Call{SQL: "SELECT 1"}); err != nil {
		t.Fatalf("fast tenant's call: %v", err)
	}
	h.Done()
	if d := time.Since(start); d > time.Second {
		t.Errorf("the fast tenant waited %s behind the silenced one", d)
	}

	cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	start = time.Now()
	st := d.Check(cctx)
	cancel()
	if took := time.Since(start); took > time.Second {
		t.Errorf("Check took %s with a 500ms deadline", took)
	}
	if st.Ready || !strings.Contains(st.Error, "database unreachable") {
		t.Errorf("Check = %+v, want not ready, database unreachable", st)
	}

	if err := <-slowDone; err == nil || !strings.Contains(err.Error(), "unavailable") {
		t.Errorf("slow tenant during the blackhole: %v, want database unavailable", err)
	}
	px.Heal()
	time.Sleep(1100 * time.Millisecond) // the last failure is reported for a second
	h, err = d.Resolve(ctx, &auth.Principal{Tenant: "slow", User: "u"})
	if err != nil {
		t.Fatalf("slow tenant after healing: %v", err)
	}
	h.Done()
	cctx, cancel = context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if st := d.Check(cctx); !st.Ready {
		t.Errorf("Check after healing = %+v", st)
	}
}

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

// TestRunawayKeepsItsSlot: statements that ignore cancellation return at
// their deadline, but each keeps its max_concurrent_calls slot until its
// backend is gone; so however many calls a client fires, no more backends
// run than the slots allow, and pg_stat_activity is clean within
// statement_timeout + 2 s (the client backstop) + cancel_grace + polling.
func TestRunawayKeepsItsSlot(t *testing.T) {
	db := pgtest.NewDatabase(t)
	pgtest.Exec(t, db.URI, stubbornSQL)
	ep := endpointConfig(t, `
endpoints:
  ep:
    database_uri: "${URI}"
    access_mode: admin_rw
    pool: {max_conns: 10, acquire_timeout: 1s}
    limits: {statement_timeout: 500ms, max_concurrent_calls: 2, cancel_grace: 1s}
`, map[string]string{"URI": db.URI})
	ctx := context.Background()
	d, err := tenancy.Open(ctx, ep, tenancy.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()

	count := func() int64 {
		return pgtest.QueryValue[int64](t, pgtest.URI("postgres"),
			"SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND query LIKE '%stubborn(%' AND query NOT LIKE '%pg_stat_activity%'", db.Name)
	}
	var peak atomic.Int64
	stop := make(chan struct{})
	var watch sync.WaitGroup
	watch.Go(func() {
		for {
			if n := count(); n > peak.Load() {
				peak.Store(n)
			}
			select {
			case <-stop:
				return
			case <-time.After(25 * time.Millisecond):
			}
		}
	})

	start := time.Now()
	var wg sync.WaitGroup
	var ran, busy atomic.Int64
	for i := range 6 {
		wg.Go(func() {
			h, err := d.Resolve(ctx, nil)
			if err != nil {
				if strings.Contains(err.Error(), "busy") {
					busy.Add(1)
					return
				}
				t.Errorf("call %d: %v", i, err)
				return
			}
			defer h.Done()
			ran.Add(1)
			if _, err := h.Pool.Run(ctx, h.Tx, pg.Call{SQL: fmt.Sprintf("SELECT stubborn(60) /* %d */", i)}); err == nil {
				t.Errorf("call %d: the stubborn statement succeeded", i)
			}
		})
	}
	wg.Wait()
	clean := time.Duration(0)
	for count() > 0 {
		if time.Since(start) > 20*time.Second {
			t.Fatal("stubborn backends still running after 20s")
		}
		time.Sleep(25 * time.Millisecond)
	}
	clean = time.Since(start)
	close(stop)
	watch.Wait()
	t.Logf("6 calls: %d ran, %d refused busy; at most %d stubborn backends at once; clean after %s", ran.Load(), busy.Load(), peak.Load(), clean.Round(time.Millisecond))
	if peak.Load() > 2 {
		t.Errorf("%d stubborn backends ran at once, want at most max_concurrent_calls = 2", peak.Load())
	}
	if busy.Load() == 0 {
		t.Errorf("no call was refused while the runaway ones held their slots")
	}
	// Calls that got a slot started within the first acquire timeout; each
	// is clean within 0.5s + 2s backstop + 1s grace + polling of its start.
	if bound := time.Second + 500*time.Millisecond + 2*time.Second + time.Second + 1500*time.Millisecond; clean > bound {
		t.Errorf("backends gone after %s, want within %s", clean, bound)
	}
	// The slots are free again.
	h, err := d.Resolve(ctx, nil)
	if err != nil {
		t.Fatalf("after the runaways: %v", err)
	}
	h.Done()
}
