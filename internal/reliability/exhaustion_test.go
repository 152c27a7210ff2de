package reliability_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/pgtest"
)

// TestOneTenantExhaustsItsShare: tenant a floods a shared pool (8
// connections) with far more slow calls than its limits.max_concurrent_calls
// (3) allows; its extra calls wait and are refused as busy. Tenant b, on
// the same pool, keeps its latency: its median stays within 2x its baseline
// (plus 5 ms for a loaded machine's noise).
func TestOneTenantExhaustsItsShare(t *testing.T) {
	db := pgtest.NewDatabase(t)
	s := start(t, `server: {port: 0}
auth:
  mode: api_key
  api_keys:
    - {name: a, key: "${A_KEY}", tenant: a}
    - {name: b, key: "${B_KEY}", tenant: b}
endpoints:
  herd:
    database_uri: "${URI}"
    access_mode: admin_rw
    pool: {max_conns: 8, acquire_timeout: 2s}
    limits: {max_concurrent_calls: 3}
`, map[string]string{"URI": db.URI, "A_KEY": "key-of-tenant-a-0123456789", "B_KEY": "key-of-tenant-b-0123456789"})
	b := s.connect(t, "/herd/mcp", "key-of-tenant-b-0123456789")
	ctx := context.Background()
	measure := func(n int) []time.Duration {
		var ds []time.Duration
		for range n {
			start := time.Now()
			if _, err := callSQL(ctx, b, "herd_execute_sql", "SELECT count(*) FROM generate_series(1, 100)"); err != nil {
				t.Errorf("tenant b: %v", err)
			}
			ds = append(ds, time.Since(start))
		}
		return ds
	}
	measure(5) // warm up
	baseline := measure(40)

	const flood = 24
	as := make([]*mcp.ClientSession, flood)
	for i := range as {
		as[i] = s.connect(t, "/herd/mcp", "key-of-tenant-a-0123456789")
	}
	fctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var out []outcome
	wg.Go(func() {
		out = loadRun(fctx, flood, func(ctx context.Context, w int) error {
			_, err := callSQL(ctx, as[w], "herd_execute_sql", "SELECT pg_sleep(0.5)")
			return err
		})
	})
	waitUntil(t, 10*time.Second, "tenant a to hold its share", func() bool {
		return pgtest.QueryValue[int64](t, pgtest.URI("postgres"),
			"SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND query LIKE '%pg_sleep(0.5)%' AND state = 'active'", db.Name) >= 3
	})
	loaded := measure(40)
	peak := pgtest.QueryValue[int64](t, pgtest.URI("postgres"),
		"SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND query LIKE '%pg_sleep(0.5)%' AND state = 'active'", db.Name)
	stop()
	wg.Wait()
	var ok, busy int
	for _, o := range out {
		if o.err == nil {
			ok++
		} else {
			busy++
		}
	}
	b50, b95 := percentile(baseline, 50), percentile(baseline, 95)
	l50, l95 := percentile(loaded, 50), percentile(loaded, 95)
	report(t, "tenant a flooding (%d clients, share 3 of 8 connections; %d calls ran, %d refused busy; %d of its backends active at the end): tenant b p50 %s → %s, p95 %s → %s",
		flood, ok, busy, peak, b50.Round(100*time.Microsecond), l50.Round(100*time.Microsecond), b95.Round(100*time.Microsecond), l95.Round(100*time.Microsecond))
	if peak > 3 {
		t.Errorf("tenant a had %d calls in PostgreSQL at once, more than its max_concurrent_calls 3", peak)
	}
	if l50 > 2*b50+5*time.Millisecond {
		t.Errorf("tenant b's median latency went from %s to %s under tenant a's flood, more than 2x", b50, l50)
	}
}
