package app_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/config"
	"github.com/pgherd/pgherd/internal/pgtest"
)

// TestReloadAddRemoveUnderLoad: while clients call an unchanged endpoint
// without pause, a reload adds one endpoint and removes another. No call on
// the unchanged endpoint fails, the unchanged endpoint keeps its pool (its
// backend connections are the same ones), the added endpoint serves at
// once, the removed one answers 404, and no connection of the removed
// endpoint is left in pg_stat_activity. A reload that cannot connect a new
// database, or an invalid one, changes nothing.
func TestReloadAddRemoveUnderLoad(t *testing.T) {
	keep, gone, added := pgtest.NewDatabase(t), pgtest.NewDatabase(t), pgtest.NewDatabase(t)
	for _, db := range []*pgtest.Database{keep, gone, added} {
		pgtest.Exec(t, db.URI, fixture)
	}
	env := map[string]string{"KEEP": keep.URI, "GONE": gone.URI, "ADDED": added.URI, "BAD": "postgres://nobody@127.0.0.1:1/none?connect_timeout=2"}
	yaml := func(endpoints string) string {
		return "server: {port: 0, shutdown_timeout: 10s}\nendpoints:\n  keep: {database_uri: \"${KEEP}\", pool: {min_conns: 2}}\n" + endpoints
	}
	s := start(t, yaml("  gone: {database_uri: \"${GONE}\"}\n  side: {database_uri: \"${KEEP}\", endpoint: false}\n"), env)
	cs := s.connect(t, "/gone/mcp", streamable, nil)
	callOK(t, cs, "gone_execute_sql", map[string]any{"sql": "SELECT 1"})
	pids := func() string {
		return pgtest.QueryValue[string](t, pgtest.URI("postgres"),
			"SELECT coalesce(string_agg(pid::text, ',' ORDER BY pid), '') FROM pg_stat_activity WHERE datname = $1", keep.Name)
	}
	keepPIDs := pids()

	// Load on the unchanged endpoint, over both session modes of the client.
	var calls, failures atomic.Int64
	var errMu sync.Mutex
	var errs []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		c := s.connect(t, "/keep/mcp", streamable, nil)
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				res, err := c.CallTool(ctx, &mcp.CallToolParams{Name: "keep_execute_sql", Arguments: map[string]any{"sql": "SELECT count(*) FROM customers"}})
				cancel()
				calls.Add(1)
				if err != nil || res.IsError {
					failures.Add(1)
					errMu.Lock()
					errs = append(errs, fmt.Sprint(err, res))
					errMu.Unlock()
				}
			}
		})
	}
	waitFor(t, "calls under way", func() bool { return calls.Load() >= 20 })

	parse := func(y string) *config.Config {
		cfg, err := config.Parse([]byte(y), mapEnv(env))
		if err != nil {
			t.Fatal(err)
		}
		allowSuperuser(cfg, y)
		return cfg
	}
	// A new database that does not answer: refused, nothing changes.
	if err := s.App.Reload(parse(yaml("  gone: {database_uri: \"${GONE}\"}\n  bad: {database_uri: \"${BAD}\"}\n"))); err == nil || !strings.Contains(err.Error(), "running configuration stays") {
		t.Errorf("reload with an unreachable new database: %v, want it refused", err)
	}
	if code, _ := s.get(t, "/bad/health", nil); code != http.StatusNotFound {
		t.Errorf("/bad/health = %d after a refused reload, want 404", code)
	}
	// A restart-only change is refused by name.
	if err := s.App.Reload(parse(strings.Replace(yaml(""), "port: 0", "port: 0, host: 127.0.0.2", 1))); err == nil || !strings.Contains(err.Error(), "server.host") {
		t.Errorf("reload with another host: %v, want a restart-needed error naming server.host", err)
	}

	before := calls.Load()
	if err := s.App.Reload(parse(yaml("  added: {database_uri: \"${ADDED}\", access_mode: user_ro}\n"))); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	waitFor(t, "calls after the reload", func() bool { return calls.Load() >= before+20 })
	close(stop)
	wg.Wait()
	if failures.Load() != 0 {
		t.Errorf("%d of %d calls on the unchanged endpoint failed across the reload: %v", failures.Load(), calls.Load(), errs)
	}
	t.Logf("%d calls on the unchanged endpoint across the reload, %d failed", calls.Load(), failures.Load())

	// The added endpoint serves; the removed ones are gone.
	ca := s.connect(t, "/added/mcp", streamable, nil)
	callOK(t, ca, "added_execute_sql", map[string]any{"sql": "SELECT count(*) FROM customers"})
	if code, _ := s.get(t, "/gone/health", nil); code != http.StatusNotFound {
		t.Errorf("/gone/health = %d after removing it, want 404", code)
	}
	if _, err := s.tryConnect("/gone/mcp", streamable, nil, ""); err == nil {
		t.Errorf("the removed endpoint still accepts sessions")
	}
	main := s.connect(t, "/mcp", streamable, nil)
	if names := strings.Join(toolNames(t, main), " "); strings.Contains(names, "side_") {
		t.Errorf("/mcp still lists the removed composed endpoint's tools: %s", names)
	}
	if n := pgtest.QueryValue[int64](t, pgtest.URI("postgres"), "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", gone.Name); n != 0 {
		t.Errorf("%d connections of the removed endpoint left in pg_stat_activity", n)
	}
	// The unchanged endpoint kept its pool: backends from before the reload
	// still serve it (a new pool would have closed them all; the pool
	// itself may replace one now and then).
	after, kept := pids(), 0
	for _, pid := range strings.Split(keepPIDs, ",") {
		if pid != "" && strings.Contains(","+after+",", ","+pid+",") {
			kept++
		}
	}
	if kept < 2 {
		t.Errorf("%d backends of the unchanged endpoint survived the reload (before %s, after %s): its pool was replaced", kept, keepPIDs, after)
	}
}
