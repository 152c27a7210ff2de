package app_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/config"
	"github.com/pgherd/pgherd/internal/pgtest"
)

// TestSessionModesAndVersions runs the same calls in both session modes and
// with every protocol revision the client can speak over each transport.
func TestSessionModesAndVersions(t *testing.T) {
	for _, mode := range []string{"stateless", "stateful"} {
		t.Run(mode, func(t *testing.T) {
			db := pgtest.NewDatabase(t)
			pgtest.Exec(t, db.URI, fixture)
			s := start(t, fmt.Sprintf("server: {port: 0, session_mode: %s}\nendpoints:\n  shop: {database_uri: \"${URI}\", access_mode: user_ro}\n", mode),
				map[string]string{"URI": db.URI})
			cases := []struct {
				tr      transport
				version string
			}{
				{streamable, ""}, {streamable, "2026-07-28"}, {streamable, "2025-11-25"}, {streamable, "2025-06-18"},
				{streamable, "2025-03-26"}, {legacySSE, "2025-03-26"}, {legacySSE, "2024-11-05"},
			}
			for _, c := range cases {
				t.Run(fmt.Sprintf("%s/%s", c.tr, c.version), func(t *testing.T) {
					cs := s.connectVersion(t, "/shop/mcp", c.tr, nil, c.version)
					want := c.version
					if mode == "stateful" && (want == "2026-07-28" || want == "") {
						// 2026-07-28 is the sessionless revision: a stateful
						// server answers its discovery with the newest
						// session-based one.
						want = "2025-11-25"
					} else if want == "" {
						want = "2026-07-28"
					}
					if got := cs.InitializeResult().ProtocolVersion; got != want {
						t.Errorf("negotiated %s, want %s", got, want)
					}
					res := callOK(t, cs, "shop_execute_sql", map[string]any{"sql": "SELECT count(*) AS n FROM customers"})
					if rows, _ := res["rows"].([]any); len(rows) != 1 || fmt.Sprint(rows[0]) != "[50]" {
						t.Errorf("rows = %v, want [[50]]", res["rows"])
					}
					sid := cs.ID()
					if mode == "stateful" && c.tr == streamable && sid == "" {
						t.Errorf("stateful mode gave no session id")
					}
					if mode == "stateless" && c.tr == streamable && sid != "" {
						t.Errorf("stateless mode gave session id %q", sid)
					}
				})
			}
		})
	}
}

// TestGracefulShutdown: SIGTERM-equivalent while a call runs — the call
// finishes with its result, new connections are refused, Serve returns nil,
// and the pools are closed (no connections left on the server).
func TestGracefulShutdown(t *testing.T) {
	for _, mode := range []string{"stateless", "stateful"} {
		t.Run(mode, func(t *testing.T) {
			db := pgtest.NewDatabase(t)
			s := start(t, fmt.Sprintf("server: {port: 0, session_mode: %s, shutdown_timeout: 20s}\nendpoints:\n  w: {database_uri: \"${URI}\", access_mode: admin_rw}\n", mode),
				map[string]string{"URI": db.URI})
			cs := s.connect(t, "/w/mcp", streamable, nil)
			type result struct {
				res *mcp.CallToolResult
				err error
			}
			done := make(chan result, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "w_execute_sql", Arguments: map[string]any{"sql": "SELECT pg_sleep(1.5), 'finished' AS state"}})
				done <- result{res, err}
			}()
			waitFor(t, "the call to run in PostgreSQL", func() bool {
				return pgtest.QueryValue[int64](t, pgtest.URI("postgres"),
					"SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND query LIKE '%pg_sleep(1.5)%'", db.Name) > 0
			})
			if err := s.stop(t); err != nil {
				t.Errorf("Serve after shutdown = %v, want nil", err)
			}
			r := <-done
			if r.err != nil || r.res.IsError || !strings.Contains(text(r.res), "finished") {
				t.Fatalf("in-flight call: err=%v result=%v", r.err, r.res)
			}
			if _, err := http.Get(s.Base + "/health"); err == nil {
				t.Errorf("server still accepts connections after shutdown")
			}
			n := pgtest.QueryValue[int64](t, pgtest.URI("postgres"), "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", db.Name)
			if n != 0 {
				t.Errorf("%d connections to %s left after shutdown, want 0", n, db.Name)
			}
		})
	}
}

// TestReloadRevokesKey: a key removed from the config stops working at the
// next request after Reload; other keys keep working; changes that need a
// restart are refused and change nothing.
func TestReloadRevokesKey(t *testing.T) {
	db := pgtest.NewDatabase(t)
	const alice, bob = "alice-key-0123456789abcdef", "bob-key-0123456789abcdef0"
	yaml := func(keys string) string {
		return `
server: {port: 0}
auth:
  mode: api_key
  api_keys:
` + keys + `
endpoints:
  shop: {database_uri: "${URI}"}
`
	}
	both := "    - {name: alice, key: \"${ALICE}\"}\n    - {name: bob, key: \"${BOB}\"}\n"
	env := map[string]string{"URI": db.URI, "ALICE": alice, "BOB": bob}
	s := start(t, yaml(both), env)
	bearer := func(k string) http.Header { return http.Header{"Authorization": {"Bearer " + k}} }
	for _, k := range []string{alice, bob} {
		if code, _ := s.get(t, "/.well-known/oauth-protected-resource/shop/mcp", nil); code != http.StatusOK {
			t.Fatalf("metadata = %d", code)
		}
		cs := s.connect(t, "/shop/mcp", streamable, bearer(k))
		callOK(t, cs, "shop_execute_sql", map[string]any{"sql": "SELECT 1"})
	}

	next, err := config.Parse([]byte(yaml("    - {name: bob, key: \"${BOB}\"}\n")), mapEnv(env))
	if err != nil {
		t.Fatal(err)
	}
	allowSuperuser(next, "")
	if err := s.App.Reload(next); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if _, err := s.tryConnect("/shop/mcp", streamable, bearer(alice), ""); err == nil || !strings.Contains(err.Error(), "Unauthorized") {
		t.Errorf("revoked key: connect err = %v, want 401", err)
	}
	cs := s.connect(t, "/shop/mcp", streamable, bearer(bob))
	callOK(t, cs, "shop_execute_sql", map[string]any{"sql": "SELECT 1"})

	moved, err := config.Parse([]byte(strings.Replace(yaml(both), "server: {port: 0}", "server: {port: 0, session_mode: stateful}", 1)), mapEnv(env))
	if err != nil {
		t.Fatal(err)
	}
	allowSuperuser(moved, "")
	if err := s.App.Reload(moved); err == nil || !strings.Contains(err.Error(), "server.session_mode") {
		t.Errorf("Reload with another session mode = %v, want a restart-needed error naming server.session_mode", err)
	}
	if _, err := s.tryConnect("/shop/mcp", streamable, bearer(alice), ""); err == nil {
		t.Errorf("refused reload still changed the keys: alice is accepted again")
	}
}

// TestConcurrencyPerTenant: limits.max_concurrent_calls bounds each tenant
// on a shared pool, so one busy tenant does not hold back another.
func TestConcurrencyPerTenant(t *testing.T) {
	db := pgtest.NewDatabase(t)
	const ka, kb = "tenant-a-key-0123456789", "tenant-b-key-0123456789"
	s := start(t, `
server: {port: 0}
auth:
  mode: api_key
  api_keys:
    - {name: a, key: "${KA}", tenant: ta}
    - {name: b, key: "${KB}", tenant: tb}
endpoints:
  w:
    database_uri: ${URI}
    access_mode: admin_rw
    tenant_settings: {app.tenant: "{tenant}"}
    pool: {max_conns: 4, acquire_timeout: 1s}
    limits: {max_concurrent_calls: 1}
`, map[string]string{"URI": db.URI, "KA": ka, "KB": kb})
	bearer := func(k string) http.Header { return http.Header{"Authorization": {"Bearer " + k}} }
	a1 := s.connect(t, "/w/mcp", streamable, bearer(ka))
	a2 := s.connect(t, "/w/mcp", streamable, bearer(ka))
	b := s.connect(t, "/w/mcp", streamable, bearer(kb))

	done := make(chan *mcp.CallToolResult, 1)
	go func() {
		res, _ := a1.CallTool(context.Background(), &mcp.CallToolParams{Name: "w_execute_sql", Arguments: map[string]any{"sql": "SELECT pg_sleep(2.5)"}})
		done <- res
	}()
	waitFor(t, "tenant a's call to run", func() bool {
		return pgtest.QueryValue[int64](t, pgtest.URI("postgres"),
			"SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND query LIKE '%pg_sleep(2.5)%'", db.Name) > 0
	})
	if msg := callErr(t, a2, "w_execute_sql", map[string]any{"sql": "SELECT 1"}); !strings.Contains(msg, "tenant ta") || !strings.Contains(msg, "max_concurrent_calls") {
		t.Errorf("tenant a's second call: %q, want a busy error naming the tenant and the limit", msg)
	}
	got := callOK(t, b, "w_execute_sql", map[string]any{"sql": "SELECT current_setting('app.tenant') AS t"})
	if fmt.Sprint(got["rows"]) != "[[tb]]" {
		t.Errorf("tenant b's call = %v, want [[tb]] while tenant a is busy", got["rows"])
	}
	if res := <-done; res == nil || res.IsError {
		t.Errorf("tenant a's long call failed: %v", res)
	}
	callOK(t, a2, "w_execute_sql", map[string]any{"sql": "SELECT 1"}) // the slot is free again
}
