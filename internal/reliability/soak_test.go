package reliability_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/pgtest"
)

// rss returns the process's resident set size from /proc, or 0.
func rss() uint64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.Fields(rest)[0], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// TestSoak: clients call a mix of tools (execute_sql, list_objects,
// get_object_details, explain_query) while a fault strikes every few
// seconds, in turn: a PostgreSQL restart, pg_terminate_backend of every
// connection, a silent network for 2 s, every connection reset, and
// PostgreSQL down for 2 s. No call fails outside a fault's window (from the
// fault to the first success after it ended), and memory and goroutines
// are the same at the end as at the start. Short form: 30 s, a fault every
// 6 s; long form: PGHERD_SOAK (default 10m), a fault every 30 s.
func TestSoak(t *testing.T) {
	duration, every := 30*time.Second, 6*time.Second
	if long() {
		duration, every = 10*time.Minute, 30*time.Second
		if d, err := time.ParseDuration(os.Getenv("PGHERD_SOAK")); err == nil {
			duration = d
		}
	}
	c, uri := ownCluster(t)
	pgtest.Exec(t, uri, `CREATE TABLE items (id int PRIMARY KEY, name text, price numeric);
INSERT INTO items SELECT g, 'item ' || g, g * 1.5 FROM generate_series(1, 500) g;`)
	px, through := proxied(t, uri)
	s := start(t, `server: {port: 0}
endpoints:
  herd:
    database_uri: "${URI}"
    access_mode: admin_rw
    pool: {max_conns: 10, acquire_timeout: 2s}
    limits: {statement_timeout: 2s, cancel_grace: 1s}
`, map[string]string{"URI": through + "&connect_timeout=2"})
	const workers = 8
	css := sessions(t, s, workers)
	calls := []struct {
		tool string
		args map[string]any
	}{
		{"herd_execute_sql", map[string]any{"sql": "SELECT count(*), sum(price) FROM items WHERE id % 7 = 3"}},
		{"herd_list_objects", map[string]any{}},
		{"herd_get_object_details", map[string]any{"object_name": "items"}},
		{"herd_explain_query", map[string]any{"sql": "SELECT * FROM items WHERE id = 42"}},
		{"herd_execute_sql", map[string]any{"sql": "SELECT id, name FROM items ORDER BY id LIMIT 20"}},
	}
	ctx, stop := context.WithCancel(context.Background())
	var out []outcome
	var wg sync.WaitGroup
	var n atomic.Int64
	wg.Go(func() {
		out = loadRun(ctx, workers, func(ctx context.Context, w int) error {
			c := calls[int(n.Add(1))%len(calls)]
			res, err := css[w].CallTool(ctx, &mcp.CallToolParams{Name: c.tool, Arguments: c.args})
			if err != nil {
				return err
			}
			if res.IsError {
				return fmt.Errorf("%s: tool error: %s", c.tool, firstLine(resultText(res)))
			}
			return nil
		})
	})

	time.Sleep(2 * time.Second) // warm up: pools, caches, sessions
	heapStart, rssStart, goStart := heap(), rss(), runtime.NumGoroutine()
	began := time.Now()
	type fault struct {
		name     string
		from, to time.Time // to: when it was healed
	}
	var faults []fault
	inject := []struct {
		name string
		do   func()
	}{
		{"restart", func() {
			c.Halt()
			if err := c.Resume(context.Background()); err != nil {
				t.Errorf("restart: %v", err)
			}
		}},
		{"terminate", func() {
			pgtest.Exec(t, c.URI("postgres"), "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'herd' AND pid <> pg_backend_pid()")
		}},
		{"blackhole 2s", func() {
			px.Blackhole()
			time.Sleep(2 * time.Second)
			px.Heal()
		}},
		{"reset", px.ResetAll},
		{"down 2s", func() {
			c.Halt()
			time.Sleep(2 * time.Second)
			if err := c.Resume(context.Background()); err != nil {
				t.Errorf("resume: %v", err)
			}
		}},
	}
	for i := 0; time.Since(began)+every <= duration; i++ {
		time.Sleep(every - time.Duration(i%2)*every/10) // not in lockstep with the calls
		f := inject[i%len(inject)]
		from := time.Now()
		f.do()
		faults = append(faults, fault{name: f.name, from: from, to: time.Now()})
	}
	time.Sleep(every)
	stop()
	wg.Wait()

	var windows []window
	var recoveries []string
	for i, f := range faults {
		next := time.Now()
		if i+1 < len(faults) {
			next = faults[i+1].from
		}
		// Recovered from the first call started after the fault was healed
		// from which on every call (until the next fault) succeeded.
		var recovered time.Time
		for _, o := range out {
			if o.start.Before(f.to) || !o.start.Before(next) || o.end.After(next) {
				continue
			}
			if o.err != nil {
				recovered = time.Time{}
			} else if recovered.IsZero() {
				recovered = o.start
			}
		}
		if recovered.IsZero() {
			t.Errorf("fault %d (%s): calls did not recover before the next fault", i+1, f.name)
			recovered = next
		}
		windows = append(windows, window{from: f.from, to: recovered})
		recoveries = append(recoveries, fmt.Sprintf("%s %s", f.name, recovered.Sub(f.to).Round(10*time.Millisecond)))
	}
	during, duringFailed, outside, outsideFailed, errs := classify(out, windows)
	// Let the last fault's leftovers (reapers, closed sessions) settle.
	time.Sleep(2 * time.Second)
	heapEnd, rssEnd, goEnd := heap(), rss(), runtime.NumGoroutine()
	report(t, "soak %s, %d faults (a fault every %s): %d calls, %d in fault windows (%d failed), %d outside (%d failed); recovery after each fault healed: %s",
		duration, len(faults), every, len(out), during, duringFailed, outside, outsideFailed, strings.Join(recoveries, ", "))
	report(t, "soak memory: heap+stacks %.1f → %.1f MiB, RSS %.1f → %.1f MiB, goroutines %d → %d",
		float64(heapStart)/(1<<20), float64(heapEnd)/(1<<20), float64(rssStart)/(1<<20), float64(rssEnd)/(1<<20), goStart, goEnd)
	if outsideFailed > 0 {
		t.Errorf("%d calls failed outside the fault windows: %v", outsideFailed, errs)
	}
	if goEnd > goStart+10 {
		t.Errorf("goroutines grew from %d to %d over the soak", goStart, goEnd)
	}
	if heapEnd > heapStart*3/2+16<<20 {
		t.Errorf("heap grew from %d to %d MiB over the soak", heapStart>>20, heapEnd>>20)
	}
}
