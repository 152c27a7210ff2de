package main_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/pgtest"
)

// TestServeObservability: the built binary with every observer on — the
// metrics behind a token, the audit log in a file, traces to an OTLP
// receiver named by OTEL_EXPORTER_OTLP_ENDPOINT — records a tool call in
// each, and flushes the audit log and the spans when SIGTERM stops it.
func TestServeObservability(t *testing.T) {
	t.Parallel()
	var exports atomic.Int64
	otlp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/v1/traces" && n > 0 {
			exports.Add(1)
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer otlp.Close()

	db := pgtest.NewDatabase(t)
	port := freePort(t)
	audit := filepath.Join(t.TempDir(), "audit.jsonl")
	cfg := serveConfig(port, "alice") + fmt.Sprintf("audit: {enabled: true, path: %q}\ntracing: {trace_sql: true}\n", audit)
	cfg = strings.Replace(cfg, "shutdown_timeout: 20s}", "shutdown_timeout: 20s, metrics: {auth: {token: \"${METRICS_TOKEN}\"}}}", 1)
	path := writeFile(t, "pgherd.yaml", cfg)
	const token = "metrics-token-0123456789abcdef"
	s := serve(t, path, port, "APP1_URI="+db.URI, "ALICE_KEY="+aliceKey, "METRICS_TOKEN="+token, "OTEL_EXPORTER_OTLP_ENDPOINT="+otlp.URL)

	cs, err := s.connect("/app1/mcp", aliceKey)
	if err != nil {
		t.Fatal(err)
	}
	res, err := cs.CallTool(s.ctx, &mcp.CallToolParams{Name: "app1_execute_sql", Arguments: map[string]any{"sql": "SELECT 42 AS answer"}})
	if err != nil || res.IsError {
		t.Fatalf("call: %v %v", err, res)
	}
	cs.Close()

	get := func(token string) (int, string) {
		req, _ := http.NewRequestWithContext(s.ctx, http.MethodGet, s.base+"/metrics", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get(""); code != http.StatusUnauthorized {
		t.Errorf("GET /metrics without the token: %d, want 401", code)
	}
	code, body := get(token)
	if want := `pgherd_tool_calls_total{endpoint="app1",outcome="ok",tool="execute_sql"} 1`; code != http.StatusOK || !strings.Contains(body, want) {
		t.Errorf("GET /metrics: %d, want 200 with %s", code, want)
	}
	if !strings.Contains(s.stderr.String(), `"msg":"tracing on: exporting spans over OTLP"`) {
		t.Errorf("no tracing-on line in the log")
	}

	s.signal(syscall.SIGTERM)
	if code := s.exitCode(); code != 0 {
		t.Fatalf("exit %d after SIGTERM, want 0", code)
	}
	data, err := os.ReadFile(audit)
	if err != nil {
		t.Fatal(err)
	}
	// The call, and the scrape refused for want of the token.
	if n := bytes.Count(data, []byte("\n")); n != 2 || !bytes.Contains(data, []byte(`"sql":"SELECT 42 AS answer"`)) ||
		!bytes.Contains(data, []byte(`"user":"alice"`)) || !bytes.Contains(data, []byte(`"kind":"auth_failure","request_id"`)) {
		t.Errorf("audit log after SIGTERM (%d lines), want the call and the refused scrape:\n%s", n, data)
	}
	if bytes.Contains(data, []byte(token)) || bytes.Contains(data, []byte(aliceKey)) {
		t.Errorf("the audit log holds a credential:\n%s", data)
	}
	if exports.Load() == 0 {
		t.Errorf("the OTLP receiver got no spans by the time pgherd exited")
	}
}
