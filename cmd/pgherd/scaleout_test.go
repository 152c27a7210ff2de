package main_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/pgtest"
	"github.com/pgherd/pgherd/internal/redistest"
)

// balancer is a round-robin reverse proxy over replicas, with the passive
// health check every load balancer has: a backend whose connection fails is
// skipped (here: for the rest of the test).
type balancer struct {
	backends []*url.URL
	next     atomic.Uint64
	served   []atomic.Int64 // requests proxied to each backend
	down     []atomic.Bool
}

func newBalancer(t *testing.T, bases []string) (*balancer, *httptest.Server) {
	b := &balancer{served: make([]atomic.Int64, len(bases)), down: make([]atomic.Bool, len(bases))}
	for _, base := range bases {
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		b.backends = append(b.backends, u)
	}
	type pickKey struct{}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			i := pr.In.Context().Value(pickKey{}).(int)
			pr.SetURL(b.backends[i])
			pr.Out.Host = pr.In.Host
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			// A transport error (refused, reset, EOF) takes the backend out
			// of rotation, as nginx's proxy_next_upstream error or Envoy's
			// outlier detection do; a 5xx answer from pgherd would not.
			b.down[r.Context().Value(pickKey{}).(int)].Store(true)
			http.Error(w, "bad gateway: "+err.Error(), http.StatusBadGateway)
		},
		FlushInterval: -1, // event streams pass through at once
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := b.pick()
		b.served[i].Add(1)
		proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), pickKey{}, i)))
	}))
	t.Cleanup(srv.Close)
	return b, srv
}

func (b *balancer) pick() int {
	for range 2 * len(b.backends) {
		i := int(b.next.Add(1) % uint64(len(b.backends)))
		if !b.down[i].Load() {
			return i
		}
	}
	return 0
}

func (b *balancer) counts() []int64 {
	out := make([]int64, len(b.served))
	for i := range b.served {
		out[i] = b.served[i].Load()
	}
	return out
}

const (
	loadKey   = "load-key-0123456789abcdef"
	cappedKey = "capped-key-0123456789abcd"
	extraKey  = "extra-key-0123456789abcdef"
)

// replicaConfig is one replica's configuration: a free endpoint and a capped
// one (capRate calls/s, burst capBurst, shared through Redis), two tenants.
func replicaConfig(port int, redisURL string, capRate float64, capBurst int, extraKey bool) string {
	keys := "    - {name: load, key: \"${LOAD_KEY}\", tenant: load}\n    - {name: capped, key: \"${CAPPED_KEY}\", tenant: capped}\n"
	if extraKey {
		keys += "    - {name: extra, key: \"${EXTRA_KEY}\", tenant: extra}\n"
	}
	return fmt.Sprintf(`server:
  port: %d
  shutdown_timeout: 10s
  rate_limit: {backend: redis, redis_url: %q, failure_mode: closed}
auth:
  mode: api_key
  api_keys:
%sendpoints:
  free: {database_uri: "${DB_URI}", limits: {rate: 0}, allow_privileged_role: true}
  capped: {database_uri: "${DB_URI}", limits: {rate: %g, burst: %d}, allow_privileged_role: true}
`, port, redisURL, keys, capRate, capBurst)
}

// clientSession opens a go-sdk client session through url with key.
func clientSession(t *testing.T, url, key string) *mcp.ClientSession {
	t.Helper()
	hc := &http.Client{Transport: bearerTransport{key}, Timeout: 30 * time.Second}
	c := mcp.NewClient(&mcp.Implementation{Name: "scaleout", Version: "0"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: hc}, nil)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

type bearerTransport struct{ key string }

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.key)
	return http.DefaultTransport.RoundTrip(r)
}

// callOnce calls free_execute_sql and reports a protocol or tool failure.
func callOnce(cs *mcp.ClientSession) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "free_execute_sql", Arguments: map[string]any{"sql": "SELECT count(*) FROM t"}})
	if err != nil {
		return err
	}
	if res.IsError {
		return fmt.Errorf("tool error: %v", res.Content)
	}
	return nil
}

// loadRun makes calls from workers sessions until stop is closed (or total
// calls are made), retrying each failed call once. It returns the calls made,
// the failures the retry hid, and the calls that failed twice.
type loadResult struct {
	calls, retried, failed int64
	errs                   []string
}

func loadRun(sessions []*mcp.ClientSession, total int64, during func(done int64)) loadResult {
	var r loadResult
	var calls, retried, failed atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, cs := range sessions {
		wg.Go(func() {
			for {
				n := calls.Add(1)
				if n > total {
					return
				}
				if during != nil {
					during(n)
				}
				if err := callOnce(cs); err != nil {
					retried.Add(1)
					if err2 := callOnce(cs); err2 != nil {
						failed.Add(1)
						mu.Lock()
						r.errs = append(r.errs, err.Error()+" / retry: "+err2.Error())
						mu.Unlock()
					}
				}
			}
		})
	}
	wg.Wait()
	r.calls, r.retried, r.failed = total, retried.Load(), failed.Load()
	return r
}

// TestScaleOut runs three stateless `pgherd serve` replicas behind a
// round-robin proxy, sharing rate limits through one Redis, and shows: calls
// spread over every replica; a limit of N calls/s holds across the three; a
// reload of one replica disturbs no call; with one replica killed mid-run,
// every call succeeds on its first retry at the latest.
func TestScaleOut(t *testing.T) {
	calls := int64(150)
	if testing.Short() {
		calls = 60
	}
	db := pgtest.NewDatabase(t)
	pgtest.Exec(t, db.URI, "CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 10);")
	redis := redistest.Start(t)
	const capRate, capBurst = 20.0, 10
	var replicas []*served
	var paths []string
	var bases []string
	for range 3 {
		port := freePort(t)
		path := writeFile(t, "pgherd.yaml", replicaConfig(port, redis.URL, capRate, capBurst, false))
		replicas = append(replicas, serve(t, path, port, "DB_URI="+db.URI, "LOAD_KEY="+loadKey, "CAPPED_KEY="+cappedKey, "EXTRA_KEY="+extraKey))
		paths = append(paths, path)
		bases = append(bases, fmt.Sprintf("http://127.0.0.1:%d", port))
	}
	lb, front := newBalancer(t, bases)

	// 1. Calls spread over all replicas; any replica answers any request.
	sessions := []*mcp.ClientSession{}
	for range 4 {
		sessions = append(sessions, clientSession(t, front.URL+"/free/mcp", loadKey))
	}
	before := lb.counts()
	res := loadRun(sessions, calls, nil)
	if res.retried != 0 {
		t.Errorf("%d of %d calls failed with every replica up: %v", res.retried, res.calls, res.errs)
	}
	after := lb.counts()
	for i := range after {
		if got := after[i] - before[i]; got < calls/3-calls/10 {
			t.Errorf("replica %d served %d of %d requests, want about a third (round robin)", i, got, calls)
		}
	}
	t.Logf("requests per replica: %v", after)

	// 2. A limit of capRate calls/s per tenant holds across the three:
	// calls from 6 workers hammer it for a while through the proxy.
	const window = 3 * time.Second
	var allowed, refused, other atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(window)
	for range 6 {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				switch code := rawCall(t, front.URL+"/capped/mcp", cappedKey, "capped_execute_sql"); code {
				case http.StatusOK:
					allowed.Add(1)
				case http.StatusTooManyRequests:
					refused.Add(1)
				default:
					other.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	ceiling := float64(capBurst) + capRate*elapsed.Seconds()
	got := float64(allowed.Load())
	t.Logf("shared limit: %d allowed, %d refused (429) in %v across 3 replicas; bucket allows %.1f", allowed.Load(), refused.Load(), elapsed, ceiling)
	// Tolerance: the bucket is exact (one Redis script, Redis's clock); the
	// window is measured by the client, so allow one call of slack above
	// and 25% below (calls in flight when the window closes, a loaded
	// machine's pauses between calls).
	if got > ceiling+1 || got < 0.75*ceiling || refused.Load() == 0 || other.Load() != 0 {
		t.Errorf("%v calls allowed in %v, want %.1f (burst %d + %g/s), -25%%/+1; %d refused, %d other statuses",
			got, elapsed, ceiling, capBurst, capRate, refused.Load(), other.Load())
	}

	// 3. A reload of replica 0 (a new API key) under load disturbs no
	// call on any replica, and only replica 0 reloads.
	os.WriteFile(paths[0], []byte(replicaConfig(freePortOf(bases[0]), redis.URL, capRate, capBurst, true)), 0o600)
	var reloaded atomic.Bool
	res = loadRun(sessions, calls, func(n int64) {
		if n == calls/3 && reloaded.CompareAndSwap(false, true) {
			replicas[0].signal(syscall.SIGHUP)
		}
	})
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	if _, _, err := replicas[0].stderr.wait(wctx, replicas[0].exited, 0, "configuration reloaded"); err != nil {
		t.Fatalf("replica 0 did not reload: %v\n%s", err, replicas[0].stderr)
	}
	if res.retried != 0 {
		t.Errorf("%d calls failed while replica 0 reloaded: %v", res.retried, res.errs)
	}
	for i := 1; i < 3; i++ {
		if strings.Contains(replicas[i].stderr.String(), "configuration reloaded") {
			t.Errorf("replica %d reloaded too", i)
		}
	}
	if code := rawCall(t, bases[0]+"/free/mcp", extraKey, "free_execute_sql"); code != http.StatusOK {
		t.Errorf("the reloaded key on replica 0: HTTP %d", code)
	}

	// 4. Replica 1 is killed mid-run: calls in flight there fail once and
	// succeed on their retry; none fails twice.
	res = loadRun(sessions, calls, func(n int64) {
		if n == calls/3 {
			replicas[1].cmd.Process.Kill()
		}
	})
	if res.failed != 0 {
		t.Errorf("%d calls failed after their retry with replica 1 killed: %v", res.failed, res.errs)
	}
	t.Logf("replica 1 killed mid-run: %d calls, %d retried, %d failed after the retry; requests per replica %v",
		res.calls, res.retried, res.failed, lb.counts())
}

func freePortOf(base string) int {
	var port int
	fmt.Sscanf(base[strings.LastIndex(base, ":")+1:], "%d", &port)
	return port
}

// rawCall sends one stateless tools/call POST and returns the HTTP status.
func rawCall(t *testing.T, url, key, tool string) int {
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
		t.Errorf("POST %s: %v", url, err)
		return 0
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}
