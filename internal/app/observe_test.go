package app_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/pgherd/pgherd/internal/pgtest"
)

// observeFixture is the table the observability tests query.
const observeFixture = `CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO items SELECT g, 'item-secret-' || g FROM generate_series(1, 5) g;`

const (
	obsAliceKey  = "alice-key-0123456789abcdef"
	metricsToken = "metrics-token-0123456789abcdef"
)

// metricsFamilies is one scrape, parsed by the Prometheus text parser.
type metricsFamilies map[string]*dto.MetricFamily

// scrape fetches url and parses it; it fails the test unless the status is
// 200.
func scrape(t *testing.T, url string, header http.Header) metricsFamilies {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("GET %s: Content-Type %q, want the text format", url, ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parsing %s: %v\n%s", url, err, body)
	}
	return fams
}

// find returns the metric of family name whose labels include want.
func (m metricsFamilies) find(name string, want map[string]string) *dto.Metric {
	fam := m[name]
	if fam == nil {
		return nil
	}
next:
	for _, metric := range fam.GetMetric() {
		got := map[string]string{}
		for _, l := range metric.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		return metric
	}
	return nil
}

// value is a counter's, gauge's or untyped metric's value, or a
// histogram's sample count; 0 when the series does not exist.
func (m metricsFamilies) value(name string, labels map[string]string) float64 {
	metric := m.find(name, labels)
	switch {
	case metric == nil:
		return 0
	case metric.Counter != nil:
		return metric.Counter.GetValue()
	case metric.Gauge != nil:
		return metric.Gauge.GetValue()
	case metric.Histogram != nil:
		return float64(metric.Histogram.GetSampleCount())
	case metric.Untyped != nil:
		return metric.Untyped.GetValue()
	}
	return 0
}

func labels(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// observeServer serves one user_ro endpoint app1 on a fresh database with
// the fixture, API-key authentication (alice, tenant acme, who has a pool
// of her own) and extra YAML appended under the top level.
func observeServer(t *testing.T, extra string) (*server, *pgtest.Database) {
	t.Helper()
	db := pgtest.NewDatabase(t)
	pgtest.Exec(t, db.URI, observeFixture)
	yaml := `server: {port: 0, session_mode: stateful, shutdown_timeout: 5s, metrics: {auth: {token: "${METRICS_TOKEN}"}}}
auth:
  mode: api_key
  api_keys:
    - {name: alice, key: "${ALICE_KEY}", tenant: acme}
endpoints:
  app1:
    database_uri: "${URI}"
    access_mode: user_ro
    pool: {max_conns: 2}
    tenants:
      acme: {database_uri: "${URI}"}
` + extra
	return start(t, yaml, map[string]string{"URI": db.URI, "ALICE_KEY": obsAliceKey, "METRICS_TOKEN": metricsToken}), db
}

// knownCalls makes a known sequence of tool calls on cs: three successful
// SELECTs, one statement the validator refuses, one PostgreSQL error
// (division by zero: an unknown table would add a lookup of similar names), one
// list_objects.
func knownCalls(t *testing.T, cs *mcp.ClientSession) {
	t.Helper()
	for range 3 {
		callOK(t, cs, "app1_execute_sql", map[string]any{"sql": "SELECT id, name FROM items WHERE id <= $1", "params": []any{2}})
	}
	callErr(t, cs, "app1_execute_sql", map[string]any{"sql": "DELETE FROM items"})
	callErr(t, cs, "app1_execute_sql", map[string]any{"sql": "SELECT 1 / (id - id) FROM items"})
	callOK(t, cs, "app1_list_objects", map[string]any{})
}

// authFailures sends one request without credentials and one with a wrong
// key to /app1/mcp.
func authFailures(t *testing.T, s *server) {
	t.Helper()
	for _, h := range []http.Header{nil, bearer("wrong-key-0123456789abcdef")} {
		req, _ := http.NewRequest(http.MethodPost, s.Base+"/app1/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		for k, v := range h {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("POST with %v: %d, want 401", h, resp.StatusCode)
		}
	}
}

// After a known sequence of calls, /metrics holds exactly their counts,
// histogram counts and the pool's gauges and counters.
func TestMetricsAfterKnownCalls(t *testing.T) {
	s, _ := observeServer(t, "")
	url := s.Base + "/metrics"
	before := scrape(t, url, bearer(metricsToken))

	cs := s.connect(t, "/app1/mcp", streamable, bearer(obsAliceKey))
	knownCalls(t, cs)
	authFailures(t, s)
	after := scrape(t, url, bearer(metricsToken))

	exec := labels("endpoint", "app1", "tool", "execute_sql")
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"pgherd_tool_calls_total", labels("endpoint", "app1", "tool", "execute_sql", "outcome", "ok"), 3},
		{"pgherd_tool_calls_total", labels("endpoint", "app1", "tool", "execute_sql", "outcome", "refused"), 1},
		{"pgherd_tool_calls_total", labels("endpoint", "app1", "tool", "execute_sql", "outcome", "sql_error"), 1},
		{"pgherd_tool_calls_total", labels("endpoint", "app1", "tool", "list_objects", "outcome", "ok"), 1},
		{"pgherd_tool_call_duration_seconds", exec, 5},
		{"pgherd_tool_call_duration_seconds", labels("endpoint", "app1", "tool", "list_objects"), 1},
		{"pgherd_tool_result_bytes", exec, 3},
		{"pgherd_tool_call_queue_wait_seconds", labels("endpoint", "app1"), 6},
		{"pgherd_tool_calls_in_flight", labels("endpoint", "app1"), 0},
		{"pgherd_validator_refusals_total", labels("endpoint", "app1", "reason", "statement_not_allowed"), 1},
		{"pgherd_auth_failures_total", labels("endpoint", "app1", "reason", "missing_credentials"), 1},
		{"pgherd_auth_failures_total", labels("endpoint", "app1", "reason", "invalid_credentials"), 1},
		{"pgherd_mcp_requests_total", labels("endpoint", "app1", "method", "tools/call", "outcome", "ok"), 4},
		{"pgherd_mcp_requests_total", labels("endpoint", "app1", "method", "tools/call", "outcome", "tool_error"), 2},
		{"pgherd_mcp_requests_total", labels("endpoint", "app1", "method", "initialize", "outcome", "ok"), 1},
		{"pgherd_sessions_open", labels("endpoint", "app1"), 1},
		{"pgherd_sessions_open", labels("endpoint", "main"), 0},
		{"pgherd_build_info", labels("version", "test"), 1},
		// Every call that reached the database made its round trips: five
		// calls (the refused one never did), at least three each.
		{"pgherd_pool_max_connections", labels("endpoint", "app1", "pool", "acme"), 2},
		{"pgherd_pool_max_connections", labels("endpoint", "app1", "pool", "default"), 2},
		{"pgherd_pool_connections", labels("endpoint", "app1", "pool", "acme", "state", "acquired"), 0},
	} {
		if got := after.value(tc.name, tc.labels); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	// Counters that existed before: exact deltas.
	acme := labels("endpoint", "app1", "pool", "acme")
	if d := after.value("pgherd_pool_acquires_total", acme) - before.value("pgherd_pool_acquires_total", acme); d != 5 {
		t.Errorf("acme pool acquires grew by %v, want 5 (one per call that reached the database)", d)
	}
	def := labels("endpoint", "app1", "pool", "default")
	if d := after.value("pgherd_pool_acquires_total", def) - before.value("pgherd_pool_acquires_total", def); d != 0 {
		t.Errorf("default pool acquires grew by %v, want 0 (alice's calls use her tenant's pool)", d)
	}
	if idle := after.value("pgherd_pool_connections", labels("endpoint", "app1", "pool", "acme", "state", "idle")); idle < 1 || idle > 2 {
		t.Errorf("acme pool idle connections = %v, want 1 or 2", idle)
	}
	if n := after.value("pgherd_db_round_trips_total", labels("endpoint", "app1")); n < 15 {
		t.Errorf("round trips = %v, want at least 15", n)
	}
	// Histogram buckets: 1 ms to 60 s (and +Inf); every call of this test
	// took well under 60 s.
	h := after.find("pgherd_tool_call_duration_seconds", exec).GetHistogram()
	if b := h.GetBucket(); len(b) != 16 || b[0].GetUpperBound() != 0.001 || b[14].GetUpperBound() != 60 || b[14].GetCumulativeCount() != 5 {
		t.Errorf("duration buckets = %v, want 1ms to 60s holding all 5 calls", b)
	}
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_cpu_seconds_total"} {
		if after[name] == nil {
			t.Errorf("no %s: the runtime collectors are missing", name)
		}
	}
	// No SQL text or user id anywhere in the labels.
	for name, fam := range after {
		for _, m := range fam.GetMetric() {
			for _, l := range m.GetLabel() {
				if v := l.GetValue(); strings.Contains(v, "SELECT") || v == "alice" || v == "acme" && l.GetName() != "pool" {
					t.Errorf("%s has label %s=%q", name, l.GetName(), v)
				}
			}
		}
	}
}

// Protected metrics refuse unauthenticated scrapes, and count them.
func TestMetricsAuth(t *testing.T) {
	s, _ := observeServer(t, "")
	for _, h := range []http.Header{nil, bearer("wrong-token-0123456789"), {"Authorization": {metricsToken}}} {
		code, body := s.get(t, "/metrics", h)
		if code != http.StatusUnauthorized || strings.Contains(body, "pgherd_") {
			t.Errorf("GET /metrics with %v: %d %s, want 401 without metrics", h, code, body)
		}
	}
	m := scrape(t, s.Base+"/metrics", bearer(metricsToken))
	if got := m.value("pgherd_auth_failures_total", labels("endpoint", "metrics", "reason", "missing_credentials")); got != 1 {
		t.Errorf("metrics auth failures (missing) = %v, want 1", got)
	}
	if got := m.value("pgherd_auth_failures_total", labels("endpoint", "metrics", "reason", "invalid_credentials")); got != 2 {
		t.Errorf("metrics auth failures (invalid) = %v, want 2", got)
	}
	if strings.Contains(s.Logs.String(), metricsToken) {
		t.Error("the metrics token is in the server log")
	}
}

// server.metrics.listen serves the metrics on their own address, and not
// on the main listener; enabled: false serves none.
func TestMetricsListenAndDisabled(t *testing.T) {
	db := pgtest.NewDatabase(t)
	s := start(t, `server: {port: 0, metrics: {listen: "127.0.0.1:0", path: /internal/metrics}}
endpoints: {app1: {database_uri: "${URI}"}}`, map[string]string{"URI": db.URI})
	addr := s.App.MetricsAddr()
	if addr == nil {
		t.Fatal("no metrics listener")
	}
	if code, _ := s.get(t, "/internal/metrics", nil); code != http.StatusNotFound {
		t.Errorf("main listener /internal/metrics: %d, want 404", code)
	}
	m := scrape(t, "http://"+addr.String()+"/internal/metrics", nil)
	if m.value("pgherd_pool_max_connections", labels("endpoint", "app1", "pool", "default")) != 10 {
		t.Errorf("pool gauge missing on the metrics listener")
	}

	off := start(t, `server: {port: 0, metrics: {enabled: false}}
endpoints: {app1: {database_uri: "${URI}"}}`, map[string]string{"URI": db.URI})
	if code, _ := off.get(t, "/metrics", nil); code != http.StatusNotFound {
		t.Errorf("metrics disabled: /metrics %d, want 404", code)
	}
}

// The audit log holds exactly one record per tool call and per refused
// authentication, with who, what and how it ended, and none of the result
// data, parameter values or credentials.
func TestAuditLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	s, db := observeServer(t, "audit: {enabled: true, path: \""+path+"\"}\n")
	cs := s.connect(t, "/app1/mcp", streamable, bearer(obsAliceKey))
	knownCalls(t, cs)
	callOK(t, cs, "app1_execute_sql", map[string]any{"sql": "SELECT $1::text AS echoed", "params": []any{"needle-param-value"}})
	authFailures(t, s)
	s.stop(t) // flushes the audit log

	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var calls, auths []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var r map[string]any
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		switch r["kind"] {
		case "tool_call":
			calls = append(calls, r)
		case "auth_failure":
			auths = append(auths, r)
		default:
			t.Errorf("record of kind %v", r["kind"])
		}
	}
	if len(calls) != 7 || len(auths) != 2 {
		t.Fatalf("%d tool_call and %d auth_failure records, want 7 and 2:\n%s", len(calls), len(auths), data)
	}
	ids := map[any]bool{}
	outcomes := map[string]int{}
	for _, r := range calls {
		ids[r["request_id"]] = true
		outcomes[r["tool"].(string)+" "+r["outcome"].(string)]++
		for k, want := range map[string]any{"endpoint": "app1", "server": "app1", "tenant": "acme", "user": "alice",
			"auth_method": "api_key", "mode": "user_ro", "transport": "http"} {
			if r[k] != want {
				t.Errorf("record %v: %s = %v, want %v", r["request_id"], k, r[k], want)
			}
		}
		for _, k := range []string{"time", "request_id", "duration_ms", "rows"} {
			if _, ok := r[k]; !ok {
				t.Errorf("record has no %s: %v", k, r)
			}
		}
	}
	if len(ids) != 7 {
		t.Errorf("%d distinct request ids for 7 calls", len(ids))
	}
	want := map[string]int{"app1_execute_sql ok": 4, "app1_execute_sql refused": 1, "app1_execute_sql sql_error": 1, "app1_list_objects ok": 1}
	for k, n := range want {
		if outcomes[k] != n {
			t.Errorf("outcomes = %v, want %v", outcomes, want)
			break
		}
	}
	first := calls[0]
	if first["sql"] != "SELECT id, name FROM items WHERE id <= $1" || first["command"] != "SELECT" || first["read_only"] != true || first["rows"] != 2.0 {
		t.Errorf("first call record = %v", first)
	}
	if calls[4]["sqlstate"] != "22012" || calls[3]["refusal"] != "statement_not_allowed" {
		t.Errorf("refused/error records = %v / %v", calls[3], calls[4])
	}
	reasons := []any{auths[0]["reason"], auths[1]["reason"]}
	if reasons[0] != "missing_credentials" || reasons[1] != "invalid_credentials" || auths[0]["status"] != 401.0 || auths[0]["endpoint"] != "app1" {
		t.Errorf("auth failure records = %v", auths)
	}
	for _, secret := range []string{"item-secret-", "needle-param-value", obsAliceKey, "wrong-key-0123456789abcdef", metricsToken, db.URI} {
		if strings.Contains(string(data), secret) {
			t.Errorf("the audit log contains %q:\n%s", secret, data)
		}
	}
}

// otlpReceiver is an in-process OTLP/HTTP trace receiver.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []*tracepb.Span
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "want protobuf on /v1/traces", http.StatusBadRequest)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	data, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req collectortrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(data, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			o.spans = append(o.spans, ss.GetSpans()...)
		}
	}
	o.mu.Unlock()
	out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(out)
}

func (o *otlpReceiver) all() []*tracepb.Span {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]*tracepb.Span(nil), o.spans...)
}

func attr(s *tracepb.Span, key string) any {
	for _, kv := range s.GetAttributes() {
		if kv.GetKey() == key {
			v := kv.GetValue()
			switch {
			case v.GetStringValue() != "":
				return v.GetStringValue()
			case v.GetIntValue() != 0:
				return v.GetIntValue()
			}
			return v.String()
		}
	}
	return nil
}

// Traces reach an OTLP receiver: a server span per MCP request, parented
// by the client's traceparent (from _meta, or else the HTTP header), a
// tool-call span under it, and a client span per database round trip
// under that, with the statement text when trace_sql is on.
func TestTracesToOTLP(t *testing.T) {
	recv := &otlpReceiver{}
	otlp := httptest.NewServer(recv)
	defer otlp.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
	t.Setenv("OTEL_SERVICE_NAME", "pgherd-test")

	s, db := observeServer(t, "tracing: {trace_sql: true}\n")
	const (
		metaTrace   = "4bf92f3577b34da6a3ce929d0e0e4736"
		metaSpan    = "00f067aa0ba902b7"
		headerTrace = "0af7651916cd43dd8448eb211c80319c"
		headerSpan  = "b7ad6b7169203331"
	)
	header := bearer(obsAliceKey)
	header.Set("Traceparent", "00-"+headerTrace+"-"+headerSpan+"-01")
	cs := s.connect(t, "/app1/mcp", streamable, header)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	params := &mcp.CallToolParams{Name: "app1_execute_sql", Arguments: map[string]any{"sql": "SELECT name FROM items WHERE id = 1"}}
	params.SetMeta(map[string]any{"traceparent": "00-" + metaTrace + "-" + metaSpan + "-01"})
	if res, err := cs.CallTool(ctx, params); err != nil || res.IsError {
		t.Fatalf("call with _meta traceparent: %v %v", err, res)
	}
	// Without _meta the HTTP header's context is the parent.
	callErr(t, cs, "app1_execute_sql", map[string]any{"sql": "DELETE FROM items"})
	s.stop(t) // flushes the spans

	spans := recv.all()
	byID := map[string]*tracepb.Span{}
	for _, sp := range spans {
		byID[hex.EncodeToString(sp.GetSpanId())] = sp
	}
	children := func(parent *tracepb.Span) []*tracepb.Span {
		var out []*tracepb.Span
		for _, sp := range spans {
			if bytes.Equal(sp.GetParentSpanId(), parent.GetSpanId()) && len(sp.GetParentSpanId()) > 0 {
				out = append(out, sp)
			}
		}
		return out
	}
	find := func(name, trace string) *tracepb.Span {
		for _, sp := range spans {
			if sp.GetName() == name && hex.EncodeToString(sp.GetTraceId()) == trace {
				return sp
			}
		}
		return nil
	}

	req := find("tools/call app1_execute_sql", metaTrace)
	if req == nil {
		t.Fatalf("no tools/call span in the client's trace %s; spans: %v", metaTrace, names(spans))
	}
	if got := hex.EncodeToString(req.GetParentSpanId()); got != metaSpan {
		t.Errorf("request span parent = %s, want the client's span %s", got, metaSpan)
	}
	if req.GetKind() != tracepb.Span_SPAN_KIND_SERVER {
		t.Errorf("request span kind = %v, want server", req.GetKind())
	}
	for k, want := range map[string]any{"mcp.method.name": "tools/call", "gen_ai.tool.name": "app1_execute_sql",
		"gen_ai.operation.name": "execute_tool", "network.transport": "tcp", "network.protocol.name": "http", "mcp.protocol.version": "2025-11-25"} {
		if got := attr(req, k); got != want {
			t.Errorf("request span %s = %v, want %v", k, got, want)
		}
	}
	if attr(req, "mcp.session.id") == nil {
		t.Error("request span has no mcp.session.id (the session is stateful)")
	}
	if l := req.GetLinks(); len(l) != 1 || hex.EncodeToString(l[0].GetTraceId()) != headerTrace {
		t.Errorf("request span links = %v, want the HTTP request's context %s", l, headerTrace)
	}

	kids := children(req)
	if len(kids) != 1 || kids[0].GetName() != "execute_tool app1_execute_sql" {
		t.Fatalf("request span children = %v, want the tool call span", names(kids))
	}
	callSpan := kids[0]
	if attr(callSpan, "pgherd.tenant") != "acme" || attr(callSpan, "pgherd.outcome") != "ok" || attr(callSpan, "pgherd.rows") != int64(1) {
		t.Errorf("call span attributes = %v", callSpan.GetAttributes())
	}
	var dbNames []string
	var stmt *tracepb.Span
	for _, sp := range children(callSpan) {
		dbNames = append(dbNames, sp.GetName())
		if sp.GetKind() != tracepb.Span_SPAN_KIND_CLIENT || attr(sp, "db.system.name") != "postgresql" || attr(sp, "db.namespace") != db.Name {
			t.Errorf("database span %s: kind %v, attributes %v", sp.GetName(), sp.GetKind(), sp.GetAttributes())
		}
		if sp.GetName() == "SELECT" {
			stmt = sp
		}
	}
	// The first SELECT: the validator's catalog lookup of the code the
	// statement may run (here the = operator), in the call's transaction,
	// after BEGIN (which parsed the statement too) and before the statement
	// runs; the ROLLBACK travels with the statement's execution but is
	// reported on its own.
	if strings.Join(dbNames, ",") != "BEGIN,SELECT,SELECT,ROLLBACK" {
		t.Errorf("database spans = %v, want BEGIN, SELECT (the catalog lookup), SELECT, ROLLBACK", dbNames)
	}
	if stmt != nil && attr(stmt, "db.query.text") != "SELECT name FROM items WHERE id = 1" {
		t.Errorf("statement span db.query.text = %v", attr(stmt, "db.query.text"))
	}

	refused := find("tools/call app1_execute_sql", headerTrace)
	if refused == nil {
		t.Fatalf("no tools/call span in the HTTP header's trace %s; spans: %v", headerTrace, names(spans))
	}
	if got := hex.EncodeToString(refused.GetParentSpanId()); got != headerSpan {
		t.Errorf("refused call's request span parent = %s, want the header's %s", got, headerSpan)
	}
	if attr(refused, "error.type") != "tool_error" || refused.GetStatus().GetCode() != tracepb.Status_STATUS_CODE_ERROR {
		t.Errorf("refused call's request span: error.type %v, status %v", attr(refused, "error.type"), refused.GetStatus())
	}

	// The call's log line carries the trace id.
	var logged bool
	for _, line := range strings.Split(s.Logs.String(), "\n") {
		if strings.Contains(line, `"msg":"tool call"`) && strings.Contains(line, `"trace_id":"`+metaTrace+`"`) {
			logged = true
		}
	}
	if !logged {
		t.Errorf("no tool call log line with trace_id %s", metaTrace)
	}
}

func names(spans []*tracepb.Span) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.GetName())
	}
	return out
}
