package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/pgtest"
	"github.com/pgherd/pgherd/internal/redistest"
)

// rateYAML serves endpoint shop (and composed endpoint side) with two API
// keys of two tenants and a rate limit of 0.2 calls/s, burst 2: the third
// call within a few seconds is over.
func rateYAML(uri, extraServer string) string {
	return fmt.Sprintf(`server:
  port: 0
  rate_limit: {rate: 0.2, burst: 2%s}
auth:
  mode: api_key
  api_keys:
    - {name: a, key: "${KEY_A}", tenant: acme}
    - {name: b, key: "${KEY_B}", tenant: globex}
endpoints:
  shop: {database_uri: %q}
  side: {database_uri: %q, endpoint: false}
  free: {database_uri: %q, limits: {rate: 0}}
`, extraServer, uri, uri, uri)
}

var rateKeys = map[string]string{"KEY_A": "key-a-0123456789abcdef", "KEY_B": "key-b-0123456789abcdef"}

func bearer(key string) http.Header { return http.Header{"Authorization": {"Bearer " + key}} }

// postCall sends one tools/call as a raw Streamable HTTP POST (stateless)
// and returns the response.
func postCall(t *testing.T, url, key, tool string) *http.Response {
	t.Helper()
	body := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":%q,"arguments":{"sql":"SELECT 1"},`+
		`"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},`+
		`"io.modelcontextprotocol/clientInfo":{"name":"raw","version":"0"}}}}`, tool)
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2026-07-28")
	req.Header.Set("Mcp-Method", "tools/call")
	req.Header.Set("Mcp-Name", tool)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// TestRateLimitHTTP: over Streamable HTTP the call over the limit gets 429
// with Retry-After before MCP; other tenants, other endpoints and endpoints
// with rate 0 are unaffected; the client's session survives; a forged
// X-Pgherd-Rate-Checked header changes nothing.
func TestRateLimitHTTP(t *testing.T) {
	db := pgtest.NewDatabase(t)
	s := start(t, rateYAML(db.URI, ""), rateKeys)
	csA := s.connect(t, "/shop/mcp", streamable, bearer(rateKeys["KEY_A"]))
	for i := range 2 {
		if res := call(t, csA, "shop_execute_sql", map[string]any{"sql": "SELECT 1"}); res.IsError {
			t.Fatalf("call %d within the burst: %s", i+1, text(res))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := csA.CallTool(ctx, &mcp.CallToolParams{Name: "shop_execute_sql", Arguments: map[string]any{"sql": "SELECT 1"}})
	if err == nil || !strings.Contains(err.Error(), "429") && !strings.Contains(err.Error(), "Too Many") {
		t.Fatalf("third call: err = %v, want HTTP 429", err)
	}
	resp := postCall(t, s.Base+"/shop/mcp", rateKeys["KEY_A"], "shop_execute_sql")
	if resp.StatusCode != http.StatusTooManyRequests {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("raw POST over the limit: %s %s", resp.Status, b)
	}
	ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || ra < 1 || ra > 5 {
		t.Errorf("Retry-After = %q, want 1-5 seconds at 0.2 calls/s", resp.Header.Get("Retry-After"))
	}
	var body struct {
		Error        string `json:"error"`
		RetryAfterMS int64  `json:"retry_after_ms"`
	}
	json.NewDecoder(resp.Body).Decode(&body)
	if body.Error != "rate_limited" || body.RetryAfterMS <= 0 || body.RetryAfterMS > 5000 {
		t.Errorf("429 body = %+v, want rate_limited with retry_after_ms in (0, 5000]", body)
	}
	// Forging the header the HTTP layer sets does not skip the limit.
	req, _ := http.NewRequest(http.MethodPost, s.Base+"/shop/mcp", bytes.NewReader([]byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"shop_execute_sql","arguments":{"sql":"SELECT 1"}}}`)))
	for k, v := range resp.Request.Header {
		req.Header[k] = v
	}
	req.Header.Set("X-Pgherd-Rate-Checked", "1")
	if r2, err := http.DefaultClient.Do(req); err != nil || r2.StatusCode != http.StatusTooManyRequests {
		t.Errorf("forged X-Pgherd-Rate-Checked: %v %v, want 429", err, r2.Status)
	} else {
		r2.Body.Close()
	}

	// Other things still work: the same session on other tools of tenant
	// acme is refused per endpoint, another tenant has its own bucket,
	// rate 0 means no limit.
	csB := s.connect(t, "/shop/mcp", streamable, bearer(rateKeys["KEY_B"]))
	if res := call(t, csB, "shop_execute_sql", map[string]any{"sql": "SELECT 1"}); res.IsError {
		t.Errorf("tenant globex refused because acme is over: %s", text(res))
	}
	csFree := s.connect(t, "/free/mcp", streamable, bearer(rateKeys["KEY_A"]))
	for range 5 {
		if res := call(t, csFree, "free_execute_sql", map[string]any{"sql": "SELECT 1"}); res.IsError {
			t.Fatalf("endpoint free (rate 0) refused: %s", text(res))
		}
	}
	// Calls that are not tool calls are never limited.
	toolNames(t, csA)

	// /metrics counts each refusal once (the HTTP layer's; the tool does
	// not check again), by endpoint.
	m := scrape(t, s.Base+"/metrics", nil)
	for _, c := range []struct {
		labels map[string]string
		want   float64
	}{
		{labels("endpoint", "shop", "reason", "over_limit"), 3},
		{labels("endpoint", "shop", "reason", "backend_failed"), 0},
		{labels("endpoint", "free"), 0},
	} {
		if got := m.value("pgherd_rate_limit_refusals_total", c.labels); got != c.want {
			t.Errorf("pgherd_rate_limit_refusals_total%v = %v, want %v", c.labels, got, c.want)
		}
	}
	if m["pgherd_rate_limit_backend_errors_total"] != nil && len(m["pgherd_rate_limit_backend_errors_total"].GetMetric()) > 0 {
		t.Errorf("backend errors counted with the in-memory limiter: %v", m["pgherd_rate_limit_backend_errors_total"])
	}
}

// TestRateLimitAtTheTool: over legacy SSE (and for tools composed into /mcp
// reached that way) the refusal is a tool error with retry_after_ms, and
// the session goes on.
func TestRateLimitAtTheTool(t *testing.T) {
	db := pgtest.NewDatabase(t)
	s := start(t, rateYAML(db.URI, ""), rateKeys)
	cs := s.connect(t, "/mcp", legacySSE, bearer(rateKeys["KEY_A"]))
	for range 2 {
		callOK(t, cs, "side_execute_sql", map[string]any{"sql": "SELECT 1"})
	}
	res := call(t, cs, "side_execute_sql", map[string]any{"sql": "SELECT 1"})
	if !res.IsError || !strings.Contains(text(res), "rate limit") {
		t.Fatalf("third call over legacy SSE: %s, want a rate-limit tool error", text(res))
	}
	sc, _ := res.StructuredContent.(map[string]any)
	if ms, _ := sc["retry_after_ms"].(float64); ms <= 0 || ms > 5000 {
		t.Errorf("retry_after_ms = %v, want in (0, 5000]", sc["retry_after_ms"])
	}
	// The session still answers: admin tools of /mcp are not limited.
	callOK(t, cs, "get_server_info", map[string]any{})
	m := scrape(t, s.Base+"/metrics", nil)
	if got := m.value("pgherd_rate_limit_refusals_total", labels("endpoint", "side", "reason", "over_limit")); got != 1 {
		t.Errorf("refusals of endpoint side on /metrics = %v, want 1", got)
	}
}

// TestRateLimitSharedThroughRedis: two pgherd processes ("replicas") on one
// Redis share each tenant's bucket: a burst of 2 holds across both; with
// Redis gone, failure_mode closed refuses (429, Retry-After 1) and open lets
// calls through.
func TestRateLimitSharedThroughRedis(t *testing.T) {
	db := pgtest.NewDatabase(t)
	redis := redistest.Start(t)
	for _, mode := range []string{"closed", "open"} {
		t.Run(mode, func(t *testing.T) {
			extra := fmt.Sprintf(", backend: redis, redis_url: %q, failure_mode: %s", redis.URL, mode)
			if mode == "open" {
				// A fresh Redis-backed pair after the server is gone.
				extra = fmt.Sprintf(", backend: redis, redis_url: %q, failure_mode: open, redis_timeout: 200ms", redis.URL)
			}
			s1 := start(t, rateYAML(db.URI, extra), rateKeys)
			s2 := start(t, rateYAML(db.URI, extra), rateKeys)
			if mode == "closed" {
				key := rateKeys["KEY_B"]
				codes := []int{}
				for i := range 4 {
					srv := []*server{s1, s2}[i%2]
					codes = append(codes, postCall(t, srv.Base+"/shop/mcp", key, "shop_execute_sql").StatusCode)
				}
				if fmt.Sprint(codes) != "[200 200 429 429]" {
					t.Fatalf("calls alternating between two replicas: %v, want [200 200 429 429] (one shared burst of 2)", codes)
				}
				redis.Stop()
				resp := postCall(t, s1.Base+"/shop/mcp", rateKeys["KEY_A"], "shop_execute_sql")
				if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" {
					t.Errorf("Redis down, failure_mode closed: %s Retry-After %q, want 429 and 1", resp.Status, resp.Header.Get("Retry-After"))
				}
				// s1 refused one call over the shared limit and one
				// because Redis was gone.
				m := scrape(t, s1.Base+"/metrics", nil)
				for _, c := range []struct {
					name   string
					labels map[string]string
				}{
					{"pgherd_rate_limit_refusals_total", labels("endpoint", "shop", "reason", "over_limit")},
					{"pgherd_rate_limit_refusals_total", labels("endpoint", "shop", "reason", "backend_failed")},
					{"pgherd_rate_limit_backend_errors_total", labels("endpoint", "shop", "result", "refused")},
				} {
					if got := m.value(c.name, c.labels); got != 1 {
						t.Errorf("%s%v = %v, want 1", c.name, c.labels, got)
					}
				}
				return
			}
			for range 4 {
				if resp := postCall(t, s1.Base+"/shop/mcp", rateKeys["KEY_A"], "shop_execute_sql"); resp.StatusCode != http.StatusOK {
					b, _ := io.ReadAll(resp.Body)
					t.Fatalf("Redis down, failure_mode open: %s %s, want 200", resp.Status, b)
				}
			}
			if !strings.Contains(s1.Logs.String(), "rate limiter unavailable") {
				t.Errorf("no warning about the unavailable limiter in the log")
			}
			m := scrape(t, s1.Base+"/metrics", nil)
			if got := m.value("pgherd_rate_limit_backend_errors_total", labels("endpoint", "shop", "result", "allowed")); got != 4 {
				t.Errorf("backend errors (allowed) on /metrics = %v, want 4", got)
			}
			if got := m.value("pgherd_rate_limit_refusals_total", labels("endpoint", "shop")); got != 0 {
				t.Errorf("refusals with failure_mode open = %v, want 0", got)
			}
		})
	}
}
