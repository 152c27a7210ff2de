package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pgherd/pgherd/internal/access"
	"github.com/pgherd/pgherd/internal/pgtest"
	"github.com/pgherd/pgherd/internal/tools/dbtools"
)

const fixture = `
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, email text UNIQUE);
COMMENT ON TABLE customers IS 'people who buy';
CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers(id), total numeric(10,2) CHECK (total >= 0));
CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100;
CREATE SCHEMA private;
CREATE TABLE private.secrets (id int, value text);
INSERT INTO customers SELECT g, 'customer ' || g, 'c' || g || '@example.com' FROM generate_series(1, 50) g;
INSERT INTO orders SELECT g, 1 + g % 50, g * 3.5 FROM generate_series(1, 200) g;
INSERT INTO private.secrets VALUES (1, 'top secret');
ANALYZE;
`

// fourModes starts pgherd with one database per access mode, served on
// app1…app4, plus app5 (user_ro) composed into /mcp.
func fourModes(t *testing.T, extra string) *server {
	t.Helper()
	env := map[string]string{}
	var eps strings.Builder
	modes := []string{"user_ro", "user_rw", "admin_ro", "admin_rw", "user_ro"}
	for i, mode := range modes {
		db := pgtest.NewDatabase(t)
		pgtest.Exec(t, db.URI, fixture)
		name := fmt.Sprintf("app%d", i+1)
		env[strings.ToUpper(name)+"_URI"] = db.URI
		served := "true"
		if i == 4 {
			served = "false"
		}
		fmt.Fprintf(&eps, "  %s:\n    database_uri: ${%s_URI}\n    access_mode: %s\n    endpoint: %s\n", name, strings.ToUpper(name), mode, served)
	}
	yaml := "server:\n  port: 0\n  shutdown_timeout: 10s\n" + extra + "endpoints:\n" + eps.String()
	return start(t, yaml, env)
}

func TestToolListsPerEndpoint(t *testing.T) {
	s := fourModes(t, "")
	user := dbtools.Names(access.UserRO)
	admin := dbtools.Names(access.AdminRO)
	prefixed := func(p string, names []string) []string {
		out := make([]string, len(names))
		for i, n := range names {
			out[i] = p + "_" + n
		}
		return sortStrings(out)
	}
	want := map[string][]string{
		"/app1/mcp": prefixed("app1", user),
		"/app2/mcp": prefixed("app2", user),
		"/app3/mcp": prefixed("app3", admin),
		"/app4/mcp": prefixed("app4", admin),
		"/mcp": sortStrings(append([]string{"calculate_stats", "get_server_info", "get_sub_server_config", "herd_health", "list_all_servers"},
			prefixed("app5", user)...)),
	}
	for _, tr := range []transport{streamable, legacySSE} {
		for path, names := range want {
			t.Run(string(tr)+path, func(t *testing.T) {
				cs := s.connect(t, path, tr, nil)
				if got := toolNames(t, cs); !reflect.DeepEqual(got, names) {
					t.Errorf("tools of %s = %v\nwant %v", path, got, names)
				}
			})
		}
	}
	// Composed databases have no path of their own.
	if code, _ := s.get(t, "/app5/health", nil); code != http.StatusNotFound {
		t.Errorf("GET /app5/health = %d, want 404 (app5 is composed into /mcp)", code)
	}
}

func TestMainTools(t *testing.T) {
	s := fourModes(t, "")
	cs := s.connect(t, "/mcp", streamable, nil)

	info := callOK(t, cs, "get_server_info", map[string]any{})
	if info["name"] != "pgherd" || info["version"] != "test" {
		t.Errorf("get_server_info name/version = %v/%v", info["name"], info["version"])
	}
	eps, _ := info["endpoints"].([]any)
	if len(eps) != 6 {
		t.Fatalf("get_server_info lists %d endpoints, want 6 (main + 5): %v", len(eps), eps)
	}
	byName := map[string]map[string]any{}
	for _, e := range eps {
		m := e.(map[string]any)
		byName[m["name"].(string)] = m
	}
	wantURL := map[string]string{"main": s.Base + "/mcp", "app1": s.Base + "/app1/mcp", "app5": s.Base + "/mcp"}
	for name, url := range wantURL {
		if got := byName[name]["url"]; got != url {
			t.Errorf("endpoint %s url = %v, want %s", name, got, url)
		}
	}
	if n := len(dbtools.Names(access.AdminRO)); byName["app3"]["access_mode"] != "admin_ro" || byName["app3"]["tool_count"] != float64(n) {
		t.Errorf("app3 = %v, want admin_ro with %d tools", byName["app3"], n)
	}
	if byName["app5"]["kind"] != "composed" || byName["app5"]["ready"] != true {
		t.Errorf("app5 = %v, want composed and ready", byName["app5"])
	}
	if n := 5 + len(dbtools.Names(access.UserRO)); byName["main"]["tool_count"] != float64(n) {
		t.Errorf("main tool_count = %v, want %d (5 own + the composed user_ro endpoint's)", byName["main"]["tool_count"], n)
	}

	list := callOK(t, cs, "list_all_servers", map[string]any{})
	if servers, _ := list["servers"].([]any); len(servers) != 6 {
		t.Errorf("list_all_servers = %d servers, want 6", len(servers))
	}

	cfg := callOK(t, cs, "get_sub_server_config", map[string]any{"app_name": "app2"})
	uri, _ := cfg["database_uri"].(string)
	if cfg["access_mode"] != "user_rw" || cfg["path"] != "/app2/mcp" || cfg["prefix"] != "app2" {
		t.Errorf("get_sub_server_config(app2) = %v", cfg)
	}
	if !strings.Contains(uri, "REDACTED") || strings.Contains(uri, s.Config.Endpoints["app2"].DatabaseURI.Reveal()) {
		t.Errorf("database_uri %q is not redacted", uri)
	}
	// The config's own keys and durations as written in a config file.
	limits, _ := cfg["limits"].(map[string]any)
	pool, _ := cfg["pool"].(map[string]any)
	if limits["statement_timeout"] != "30s" || limits["max_rows"] == nil || pool["acquire_timeout"] != "5s" || pool["max_conns"] == nil {
		t.Errorf("get_sub_server_config limits %v pool %v, want snake_case keys and durations like 30s", limits, pool)
	}
	raw, _ := json.Marshal(cfg)
	if strings.Contains(string(raw), "StatementTimeout") || strings.Contains(string(raw), "MaxConns") {
		t.Errorf("get_sub_server_config shows Go field names: %s", raw)
	}
	if pw := passwordOf(s.Config.Endpoints["app2"].DatabaseURI.Reveal()); pw == "" || strings.Contains(string(raw), pw) {
		t.Errorf("get_sub_server_config leaks the password: %s", raw)
	}
	msg := callErr(t, cs, "get_sub_server_config", map[string]any{"app_name": "nope"})
	if !strings.Contains(msg, `"nope"`) || !strings.Contains(msg, "app1, app2, app3, app4, app5") {
		t.Errorf("unknown app_name error = %q, want it to name the valid endpoints", msg)
	}

	stats := callOK(t, cs, "calculate_stats", map[string]any{"numbers": []float64{2, 4, 4, 4, 5, 5, 7, 9}})
	want := map[string]float64{"count": 8, "sum": 40, "mean": 5, "median": 4.5, "min": 2, "max": 9,
		"population_variance": 4, "population_stddev": 2, "sample_variance": 32.0 / 7}
	for k, v := range want {
		if got, _ := stats[k].(float64); abs(got-v) > 1e-9 {
			t.Errorf("calculate_stats %s = %v, want %v", k, stats[k], v)
		}
	}
	if msg := callErr(t, cs, "calculate_stats", map[string]any{"numbers": []float64{}}); !strings.Contains(msg, "empty") {
		t.Errorf("empty list error = %q", msg)
	}
	if msg := callErr(t, cs, "calculate_stats", map[string]any{"numbers": []any{1, "two"}}); !strings.Contains(msg, "numbers") {
		t.Errorf("non-number error = %q, want it to point at numbers", msg)
	}
	one := callOK(t, cs, "calculate_stats", map[string]any{"numbers": []float64{3}})
	if one["sample_stddev"] != nil || one["median"] != float64(3) {
		t.Errorf("single number stats = %v, want sample_stddev null and median 3", one)
	}
}

func passwordOf(uri string) string {
	at := strings.LastIndex(uri, "@")
	colon := strings.LastIndex(uri[:max(at, 0)], ":")
	if at < 0 || colon < 0 {
		return ""
	}
	return uri[colon+1 : at]
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func TestSchemaToolsRespectMode(t *testing.T) {
	s := fourModes(t, "")
	user := s.connect(t, "/app1/mcp", streamable, nil)
	got := callOK(t, user, "app1_list_objects", map[string]any{})
	names := objectNames(got)
	for _, want := range []string{"customers", "orders", "big_orders"} {
		if !names[want] {
			t.Errorf("app1_list_objects lacks %s: %v", want, names)
		}
	}
	if names["secrets"] {
		t.Errorf("user_ro list_objects shows private.secrets")
	}
	if msg := callErr(t, user, "app1_list_objects", map[string]any{"schema_name": "private"}); !strings.Contains(msg, "public") {
		t.Errorf("user mode other schema error = %q", msg)
	}
	if msg := callErr(t, user, "app1_get_object_details", map[string]any{"schema_name": "private", "object_name": "secrets"}); !strings.Contains(msg, "public") {
		t.Errorf("user mode get_object_details on private = %q", msg)
	}
	det := callOK(t, user, "app1_get_object_details", map[string]any{"object_name": "orders"})
	raw, _ := json.Marshal(det)
	for _, want := range []string{"customer_id", `"referenced_table":"customers"`, "orders_total_check", "numeric(10,2)"} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("details of orders lack %q: %s", want, raw)
		}
	}

	admin := s.connect(t, "/app3/mcp", streamable, nil)
	priv := objectNames(callOK(t, admin, "app3_list_objects", map[string]any{"schema_name": "private"}))
	if !priv["secrets"] {
		t.Errorf("admin_ro list_objects(private) = %v, want secrets", priv)
	}
	schemas := callOK(t, admin, "app3_list_schemas", map[string]any{})
	raw, _ = json.Marshal(schemas)
	if !strings.Contains(string(raw), `"private"`) || !strings.Contains(string(raw), `"pg_catalog"`) {
		t.Errorf("list_schemas = %s, want private and pg_catalog", raw)
	}
}

func objectNames(list map[string]any) map[string]bool {
	out := map[string]bool{}
	objs, _ := list["objects"].([]any)
	for _, o := range objs {
		if m, ok := o.(map[string]any); ok {
			out[m["name"].(string)] = true
		}
	}
	return out
}

func TestHealthAndReady(t *testing.T) {
	s := fourModes(t, "")
	code, body := s.get(t, "/health", nil)
	if code != http.StatusOK || !strings.Contains(body, `"status": "ok"`) {
		t.Errorf("/health = %d %s", code, body)
	}
	code, body = s.get(t, "/ready", nil)
	if code != http.StatusOK || !strings.Contains(body, `"app4"`) || !strings.Contains(body, `"latency_ms"`) {
		t.Errorf("/ready = %d %s", code, body)
	}
	if code, body = s.get(t, "/app2/health", nil); code != http.StatusOK || !strings.Contains(body, `"ready": true`) {
		t.Errorf("/app2/health = %d %s", code, body)
	}
	if code, _ = s.get(t, "/nowhere", nil); code != http.StatusNotFound {
		t.Errorf("/nowhere = %d, want 404", code)
	}
}

func TestReadyWithDatabaseDown(t *testing.T) {
	up := pgtest.NewDatabase(t)
	// A port nothing listens on: the endpoint starts degraded.
	down := "postgres://nobody:secretpw@127.0.0.1:1/none?sslmode=disable&connect_timeout=2"
	s := start(t, `
server: {port: 0, start_degraded: true}
endpoints:
  up: {database_uri: "${UP}"}
  down: {database_uri: "${DOWN}"}
`, map[string]string{"UP": up.URI, "DOWN": down})
	code, body := s.get(t, "/ready", nil)
	if code != http.StatusServiceUnavailable {
		t.Errorf("/ready = %d, want 503\n%s", code, body)
	}
	var report struct {
		Status    string
		Endpoints map[string]struct {
			Ready bool
			Error string
		}
	}
	if err := json.Unmarshal([]byte(body), &report); err != nil {
		t.Fatalf("/ready body: %v\n%s", err, body)
	}
	if !report.Endpoints["up"].Ready || report.Endpoints["down"].Ready || report.Endpoints["down"].Error == "" {
		t.Errorf("/ready endpoints = %+v, want up ready and down not ready with an error", report.Endpoints)
	}
	if strings.Contains(body, "secretpw") {
		t.Errorf("/ready leaks the password: %s", body)
	}
	if code, _ := s.get(t, "/down/health", nil); code != http.StatusServiceUnavailable {
		t.Errorf("/down/health = %d, want 503", code)
	}
	cs := s.connect(t, "/down/mcp", streamable, nil)
	if msg := callErr(t, cs, "down_list_objects", map[string]any{}); !strings.Contains(msg, "unavailable") {
		t.Errorf("call on a down database = %q, want 'database unavailable'", msg)
	}
	if code, _ := s.get(t, "/health", nil); code != http.StatusOK {
		t.Errorf("/health = %d with a database down, want 200 (liveness)", code)
	}
}

func TestStartFailsOnUnreachableDatabase(t *testing.T) {
	_, err := appNew(t, `
server: {port: 0}
endpoints:
  down: {database_uri: "postgres://nobody:secretpw@127.0.0.1:1/none?sslmode=disable&connect_timeout=2"}
`)
	if err == nil || !strings.Contains(err.Error(), "down") {
		t.Fatalf("start with an unreachable database: err = %v, want an error naming endpoint down", err)
	}
	if strings.Contains(err.Error(), "secretpw") {
		t.Errorf("start-up error leaks the password: %v", err)
	}
}

func TestOriginRejected(t *testing.T) {
	s := fourModes(t, "  allowed_origins: [\"https://good.example\"]\n")
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`
	for _, tc := range []struct {
		path, method, origin string
		want                 int
	}{
		{"/mcp", "POST", "https://evil.example", http.StatusForbidden},
		{"/app1/mcp", "POST", "https://evil.example", http.StatusForbidden},
		{"/app1/mcp", "GET", "https://evil.example", http.StatusForbidden},
		{"/app1/sse", "GET", "https://evil.example", http.StatusForbidden},
		{"/app1/mcp", "POST", "null", http.StatusForbidden},
		{"/app1/mcp", "POST", "https://good.example", http.StatusOK},
		{"/app1/mcp", "POST", "", http.StatusOK},
	} {
		t.Run(tc.method+tc.path+" "+tc.origin, func(t *testing.T) {
			var req *http.Request
			if tc.method == "POST" {
				req, _ = http.NewRequest("POST", s.Base+tc.path, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", "application/json, text/event-stream")
			} else {
				req, _ = http.NewRequest("GET", s.Base+tc.path, nil)
				req.Header.Set("Accept", "text/event-stream")
			}
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			resp, err := http.DefaultClient.Do(req.WithContext(ctx))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("status = %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
}

// TestBadJSONRPCOverHTTP: malformed or invalid JSON-RPC gets a JSON-RPC
// error (or a 4xx for transport-level mistakes), never a hang or a crash, and
// the server keeps serving.
func TestBadJSONRPCOverHTTP(t *testing.T) {
	s := fourModes(t, "")
	for _, tc := range []struct {
		name, body, contentType string
		status                  int
		code                    string // JSON-RPC error code expected in the body, "" for none
	}{
		{"invalid json", `{not json`, "application/json", http.StatusBadRequest, "-32700"},
		{"not an object", `42`, "application/json", http.StatusBadRequest, "-32600"},
		{"no method", `{"jsonrpc":"2.0","id":3}`, "application/json", http.StatusBadRequest, "-32600"},
		{"wrong content type", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, "text/plain", http.StatusUnsupportedMediaType, ""},
		{"huge body", `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"x":"` + strings.Repeat("a", 5<<20) + `"}}`, "application/json", http.StatusRequestEntityTooLarge, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", s.Base+"/app1/mcp", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", tc.contentType)
			req.Header.Set("Accept", "application/json, text/event-stream")
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			resp, err := http.DefaultClient.Do(req.WithContext(ctx))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var b strings.Builder
			buf := make([]byte, 4096)
			n, _ := resp.Body.Read(buf)
			b.Write(buf[:n])
			if resp.StatusCode != tc.status {
				t.Errorf("status = %d, want %d; body %s", resp.StatusCode, tc.status, b.String())
			}
			if tc.code != "" && !strings.Contains(b.String(), tc.code) {
				t.Errorf("body %q lacks JSON-RPC code %s", b.String(), tc.code)
			}
		})
	}
	cs := s.connect(t, "/app1/mcp", streamable, nil)
	callOK(t, cs, "app1_execute_sql", map[string]any{"sql": "SELECT 1"})
	callErr(t, cs, "app1_execute_sql", map[string]any{"sql": "SELECT * FROM no_such_table"})
	// One log line per call, with the row count, and the SQLSTATE of a failure.
	logs := s.Logs.String()
	if !strings.Contains(logs, `"tool":"app1_execute_sql"`) || !strings.Contains(logs, `"rows":1`) {
		t.Errorf("no tool call log line with the row count:\n%s", tail(logs, 20))
	}
	if !strings.Contains(logs, `"sqlstate":"42P01"`) {
		t.Errorf("no tool call log line with the SQLSTATE of the failure:\n%s", tail(logs, 20))
	}
}

// TestUserModeDetailsStayInPublic: get_object_details in a user mode names
// nothing of another schema that refers to the public object.
func TestUserModeDetailsStayInPublic(t *testing.T) {
	db := pgtest.NewDatabase(t)
	pgtest.Exec(t, db.URI, `
CREATE TYPE mood AS ENUM ('ok', 'bad');
CREATE TABLE parent (id int PRIMARY KEY, m mood);
CREATE SCHEMA hidden;
CREATE TABLE hidden.refs (parent_id int REFERENCES parent(id), m mood);
CREATE TABLE hidden.child () INHERITS (parent);
`)
	s := start(t, "server: {port: 0}\nendpoints:\n  u: {database_uri: \"${URI}\", access_mode: user_ro}\n  a: {database_uri: \"${URI}\", access_mode: admin_ro}\n",
		map[string]string{"URI": db.URI})
	for _, c := range []struct {
		path, tool string
		hidden     bool
	}{{"/u/mcp", "u_get_object_details", true}, {"/a/mcp", "a_get_object_details", false}} {
		cs := s.connect(t, c.path, streamable, nil)
		for _, name := range []string{"parent", "mood"} {
			raw, _ := json.Marshal(callOK(t, cs, c.tool, map[string]any{"object_name": name}))
			if shows := strings.Contains(string(raw), "hidden"); shows == c.hidden {
				t.Errorf("%s(%s) mentions schema hidden: %v, want %v\n%s", c.tool, name, shows, !c.hidden, raw)
			}
		}
	}
}
