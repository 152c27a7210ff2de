package app_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/pgtest"
	"github.com/pgherd/pgherd/internal/testenv"
)

// intelFixture is a database with problems the health checks find and
// statements pg_stat_statements records.
const intelFixture = `
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
CREATE EXTENSION IF NOT EXISTS hypopg;
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE orders (id serial PRIMARY KEY, customer_id int REFERENCES customers(id), status text, total numeric);
CREATE INDEX orders_status_a ON orders (status);
CREATE INDEX orders_status_b ON orders (status);
CREATE TABLE audit_log (at timestamptz, what text);
INSERT INTO customers SELECT g, 'customer ' || g FROM generate_series(1, 500) g;
INSERT INTO orders (customer_id, status, total) SELECT 1 + g % 500, (ARRAY['new','paid','shipped'])[1 + g % 3], g FROM generate_series(1, 5000) g;
ANALYZE;
`

// progressLog collects a client's progress notifications.
type progressLog struct {
	mu    sync.Mutex
	notes []*mcp.ProgressNotificationParams
}

func (p *progressLog) handler(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.notes = append(p.notes, req.Params)
}

func (p *progressLog) all() []*mcp.ProgressNotificationParams {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*mcp.ProgressNotificationParams(nil), p.notes...)
}

// connectProgress is connect with a client that records progress.
func (s *server) connectProgress(t *testing.T, path string, tr transport, header http.Header) (*mcp.ClientSession, *progressLog) {
	t.Helper()
	log := &progressLog{}
	hc := &http.Client{Transport: headerTransport{header: header, base: http.DefaultTransport}}
	var mt mcp.Transport
	switch tr {
	case streamable:
		mt = &mcp.StreamableClientTransport{Endpoint: s.Base + path, HTTPClient: hc}
	case legacySSE:
		mt = &mcp.SSEClientTransport{Endpoint: s.Base + strings.TrimSuffix(path, "/mcp") + "/sse", HTTPClient: hc}
	}
	c := mcp.NewClient(&mcp.Implementation{Name: "pgherd-test", Version: "0"}, &mcp.ClientOptions{ProgressNotificationHandler: log.handler})
	cs, err := c.Connect(context.Background(), mt, nil)
	if err != nil {
		t.Fatalf("connect %s over %s: %v", path, tr, err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs, log
}

// callProgress calls a tool with a progress token.
func callProgress(t *testing.T, cs *mcp.ClientSession, name string, args map[string]any, token string) *mcp.CallToolResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	params := &mcp.CallToolParams{Name: name, Arguments: args}
	params.SetProgressToken(token)
	res, err := cs.CallTool(ctx, params)
	if err != nil {
		t.Fatalf("calling %s: %v", name, err)
	}
	if res.IsError {
		t.Fatalf("%s failed: %s", name, text(res))
	}
	return res
}

// checkProgress asserts the notifications for token rise and end at total.
// The client handles notifications on its own goroutine, so the last one
// may be handled just after the call returned.
func checkProgress(t *testing.T, log *progressLog, token string, total float64) {
	t.Helper()
	var got []*mcp.ProgressNotificationParams
	collect := func() bool {
		got = got[:0]
		for _, n := range log.all() {
			if n.ProgressToken == token {
				got = append(got, n)
			}
		}
		return len(got) > 0 && (total == 0 || got[len(got)-1].Progress >= total)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !collect() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if len(got) == 0 {
		t.Fatalf("no progress notifications for token %s", token)
	}
	for i := 1; i < len(got); i++ {
		if got[i].Progress <= got[i-1].Progress {
			t.Errorf("progress did not rise: %v then %v", got[i-1].Progress, got[i].Progress)
		}
	}
	if last := got[len(got)-1]; total > 0 && (last.Progress != total || last.Total != total) {
		t.Errorf("last progress %v of %v, want %v of %v", last.Progress, last.Total, total, total)
	}
}

// needHypoPG skips (fails in CI) a test that needs hypopg when the server
// lacks it.
func needHypoPG(t *testing.T) {
	t.Helper()
	if !pgtest.HasHypoPG() {
		testenv.Missing(t, "the hypopg extension", "run scripts/deps.sh (Debian: apt-get install postgresql-15-hypopg)")
	}
}

func intelServer(t *testing.T, mode string) (*server, *pgtest.Database) {
	t.Helper()
	needHypoPG(t)
	db := pgtest.NewDatabase(t)
	pgtest.Exec(t, db.URI, intelFixture)
	yaml := fmt.Sprintf("server: {port: 0, session_mode: %s}\nendpoints:\n  shop: {database_uri: \"${URI}\", access_mode: admin_ro, health: {foreign_key_min_rows: 0}}\n", mode)
	return start(t, yaml, map[string]string{"URI": db.URI}), db
}

// analyze_db_health and get_top_queries through the go-sdk client, with
// progress, on Streamable HTTP (stateless and stateful) and legacy SSE.
func TestHealthToolsOverHTTP(t *testing.T) {
	for _, mode := range []string{"stateless", "stateful"} {
		s, _ := intelServer(t, mode)
		trs := []transport{streamable}
		if mode == "stateful" {
			trs = append(trs, legacySSE)
		}
		for _, tr := range trs {
			t.Run(mode+"/"+string(tr), func(t *testing.T) {
				cs, log := s.connectProgress(t, "/shop/mcp", tr, nil)
				res := callProgress(t, cs, "shop_analyze_db_health", map[string]any{}, "health-1")
				rep := res.StructuredContent.(map[string]any)
				if rep["status"] != "warning" {
					t.Errorf("status %v", rep["status"])
				}
				out := text(res)
				for _, want := range []string{"duplicate_indexes", "orders_status_", "DROP INDEX CONCURRENTLY", "foreign_key_indexes", "public.orders", "primary_keys", "audit_log"} {
					if !strings.Contains(out, want) {
						t.Errorf("text lacks %q:\n%s", want, out)
					}
				}
				checkProgress(t, log, "health-1", 16)

				res = callProgress(t, cs, "shop_analyze_db_health", map[string]any{"checks": "sequences, locks"}, "health-2")
				if checks := res.StructuredContent.(map[string]any)["checks"].([]any); len(checks) != 2 {
					t.Errorf("two checks asked, %d ran", len(checks))
				}
				checkProgress(t, log, "health-2", 2)

				msg := callErr(t, cs, "shop_analyze_db_health", map[string]any{"checks": "sequence"})
				if !strings.Contains(msg, "did you mean sequences?") {
					t.Errorf("bad check name: %s", msg)
				}

				top := callOK(t, cs, "shop_get_top_queries", map[string]any{"sort_by": "calls", "limit": 5})
				stmts, _ := top["statements"].([]any)
				if len(stmts) == 0 || top["sort_by"] != "calls" {
					t.Fatalf("get_top_queries: %v", top)
				}
				msg = callErr(t, cs, "shop_get_top_queries", map[string]any{"sort_by": "speed"})
				if !strings.Contains(msg, "total_time, mean_time, calls, io, temp") {
					t.Errorf("bad sort_by: %s", msg)
				}
			})
		}
	}
}

// Over stdio there is no HTTP stream: progress travels on stdout.
func TestHealthProgressOverStdio(t *testing.T) {
	needHypoPG(t)
	db := pgtest.NewDatabase(t)
	pgtest.Exec(t, db.URI, intelFixture)
	a, err := appNew(t, fmt.Sprintf("endpoints:\n  shop: {database_uri: %q, access_mode: admin_rw}\n", db.URI))
	if err != nil {
		t.Fatal(err)
	}
	clientIn, serverOut := io.Pipe()
	serverIn, clientOut := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.RunStdio(ctx, "shop", serverIn, serverOut)
	log := &progressLog{}
	c := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "0"}, &mcp.ClientOptions{ProgressNotificationHandler: log.handler})
	cs, err := c.Connect(ctx, &mcp.IOTransport{Reader: clientIn, Writer: clientOut}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	callProgress(t, cs, "shop_analyze_db_health", map[string]any{"checks": "all"}, "stdio-1")
	checkProgress(t, log, "stdio-1", 16)
}

// get_top_queries says exactly what to do when pg_stat_statements is not
// created in the database.
func TestTopQueriesWithoutExtension(t *testing.T) {
	db := pgtest.NewDatabase(t)
	s := start(t, "server: {port: 0}\nendpoints:\n  bare: {database_uri: \"${URI}\", access_mode: admin_ro}\n", map[string]string{"URI": db.URI})
	cs := s.connect(t, "/bare/mcp", streamable, nil)
	msg := callErr(t, cs, "bare_get_top_queries", map[string]any{})
	if !strings.Contains(msg, "CREATE EXTENSION pg_stat_statements in database "+db.Name) {
		t.Errorf("error: %s", msg)
	}
}

// herd_health checks every admin endpoint the caller may use, ranks the
// findings, and get_server_info then shows each endpoint's worst finding
// to callers who may see it.
func TestHerdHealth(t *testing.T) {
	needHypoPG(t)
	env := map[string]string{}
	for _, name := range []string{"shop", "billing", "web"} {
		db := pgtest.NewDatabase(t)
		pgtest.Exec(t, db.URI, intelFixture)
		env[strings.ToUpper(name)] = db.URI
	}
	pgtest.Exec(t, env["BILLING"], `CREATE SEQUENCE invoice_seq AS integer; SELECT setval('invoice_seq', 2100000000);`)
	yaml := `server: {port: 0}
auth:
  mode: api_key
  api_keys:
    - {name: ops, key: "${OPS_KEY}", tenant: ops}
    - {name: shopkeeper, key: "${SHOP_KEY}", tenant: shop, endpoints: [main, shop]}
    - {name: reader, key: "${READ_KEY}", tenant: r, scopes: [read]}
endpoints:
  shop: {database_uri: "${SHOP}", access_mode: admin_ro}
  billing: {database_uri: "${BILLING}", access_mode: admin_rw, endpoint: false}
  web: {database_uri: "${WEB}", access_mode: user_ro}
`
	env["OPS_KEY"], env["SHOP_KEY"], env["READ_KEY"] = "ops-key-0123456789abcdef", "shop-key-0123456789abcdef", "read-key-0123456789abcdef"
	s := start(t, yaml, env)
	bearer := func(k string) http.Header { return http.Header{"Authorization": {"Bearer " + k}} }

	ops, log := s.connectProgress(t, "/mcp", streamable, bearer(env["OPS_KEY"]))
	info := callOK(t, ops, "get_server_info", map[string]any{})
	if !strings.Contains(fmt.Sprint(info), "not checked yet") {
		t.Errorf("before any run get_server_info should say not checked: %v", info)
	}
	res := callProgress(t, ops, "herd_health", map[string]any{}, "herd-1")
	out := res.StructuredContent.(map[string]any)
	eps := out["endpoints"].([]any)
	if len(eps) != 2 || out["status"] != "critical" {
		t.Fatalf("herd_health: %v", out)
	}
	findings := out["findings"].([]any)
	first := findings[0].(map[string]any)
	if first["endpoint"] != "billing" || first["check"] != "sequences" || first["status"] != "critical" {
		t.Errorf("the critical sequence should rank first: %v", first)
	}
	checkProgress(t, log, "herd-1", 2)
	if !strings.Contains(text(res), "CRITICAL billing/sequences") {
		t.Errorf("text:\n%s", text(res))
	}

	info = callOK(t, ops, "get_server_info", map[string]any{})
	health := map[string]any{}
	for _, e := range info["endpoints"].([]any) {
		m := e.(map[string]any)
		if h, ok := m["health"]; ok {
			health[m["name"].(string)] = h
		}
	}
	if b, _ := health["billing"].(map[string]any); b == nil || b["status"] != "critical" || b["check"] != "sequences" {
		t.Errorf("get_server_info billing health = %v", health["billing"])
	}
	if _, ok := health["web"]; ok {
		t.Errorf("a user_ro endpoint has no health checks: %v", health["web"])
	}

	// A key for main and shop only checks shop (billing is composed into
	// main, but the key may not use it: it is restricted to shop).
	shop := s.connect(t, "/mcp", streamable, bearer(env["SHOP_KEY"]))
	out = callOK(t, shop, "herd_health", map[string]any{"checks": "all"})
	if eps := out["endpoints"].([]any); len(eps) != 2 {
		// main is allowed, so the composed billing endpoint is reachable.
		t.Errorf("shop key: %v", out)
	}
	// A read-only key may not run admin tools at all (the HTTP layer
	// answers 403 insufficient_scope).
	reader := s.connect(t, "/mcp", streamable, bearer(env["READ_KEY"]))
	if _, err := reader.CallTool(context.Background(), &mcp.CallToolParams{Name: "herd_health", Arguments: map[string]any{}}); err == nil || !strings.Contains(err.Error(), "Forbidden") {
		t.Errorf("reader calling herd_health: %v", err)
	}
	reader = s.connect(t, "/mcp", streamable, bearer(env["READ_KEY"]))
	info = callOK(t, reader, "get_server_info", map[string]any{})
	if strings.Contains(fmt.Sprint(info), "invoice_seq") {
		t.Errorf("a caller who may not check an endpoint sees its findings: %v", info)
	}
	if msg := callErr(t, ops, "herd_health", map[string]any{"endpoints": []string{"web"}}); !strings.Contains(msg, "not an admin-mode endpoint") {
		t.Errorf("web: %s", msg)
	}
}
