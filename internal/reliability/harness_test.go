package reliability_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/app"
	"github.com/pgherd/pgherd/internal/config"
	"github.com/pgherd/pgherd/internal/faultproxy"
	"github.com/pgherd/pgherd/internal/localpg"
	"github.com/pgherd/pgherd/internal/pgtest"
	"github.com/pgherd/pgherd/internal/testenv"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// long reports whether the long form of the scenarios was asked for:
// PGHERD_LONG=1, the switch of every heavy test, or PGHERD_RELIABILITY=long
// (testenv.Long).
func long() bool { return testenv.Long() }

// pick returns short, or long in the long form.
func pick[T any](short, long_ T) T {
	if long() {
		return long_
	}
	return short
}

// ownCluster starts a PostgreSQL cluster for one test (restarts and outages
// must not touch the cluster other tests share) and a database in it.
func ownCluster(t *testing.T) (*localpg.Cluster, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := localpg.Start(ctx, localpg.Options{})
	if err != nil {
		if os.Getenv("PGHERD_CI") == "" && os.Getenv(pgtest.EnvURL) != "" {
			t.Skipf("restart scenarios need local PostgreSQL server binaries: %v", err)
		}
		t.Fatalf("starting a cluster: %v", err)
	}
	t.Cleanup(func() { c.Stop() })
	if err := c.CreateDatabase(ctx, "herd"); err != nil {
		t.Fatal(err)
	}
	return c, c.URI("herd")
}

// proxied puts a fault proxy in front of the server of uri.
func proxied(t *testing.T, uri string) (*faultproxy.Proxy, string) {
	t.Helper()
	cfg, err := pgx.ParseConfig(uri)
	if err != nil {
		t.Fatal(err)
	}
	px, err := faultproxy.Start(net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { px.Close() })
	through, err := px.URI(uri)
	if err != nil {
		t.Fatal(err)
	}
	return px, through
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// server is a pgherd serving HTTP in this process.
type server struct {
	Base string
	App  *app.App
	Logs *syncBuffer

	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// start parses yaml (with env), serves it on a free port and stops it at
// cleanup.
func start(t *testing.T, yaml string, env map[string]string) *server {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatalf("config: %v\n%s", err, yaml)
	}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, app.Options{Version: "test", Logger: logger})
	if err != nil {
		cancel()
		t.Fatalf("app.New: %v", err)
	}
	l, err := a.Listen()
	if err != nil {
		cancel()
		a.Close()
		t.Fatal(err)
	}
	s := &server{Base: "http://" + l.Addr().String(), App: a, Logs: logs, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- a.Serve(ctx, l) }()
	t.Cleanup(func() {
		s.stop()
		if dumpLogs != "" {
			os.WriteFile(dumpLogs, []byte(logs.String()), 0o644)
		}
		if t.Failed() {
			t.Logf("server log (tail):\n%s", tail(logs.String(), 40))
		}
	})
	return s
}

// stop shuts the server down and returns what Serve returned.
func (s *server) stop() error {
	s.once.Do(func() {
		s.cancel()
		select {
		case s.err = <-s.done:
		case <-time.After(60 * time.Second):
			s.err = fmt.Errorf("Serve did not return within 60s of shutdown")
		}
		s.App.Close()
	})
	return s.err
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// bearer adds a fixed Authorization header.
type bearer struct {
	key  string
	base http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	if b.key != "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+b.key)
	}
	return b.base.RoundTrip(r)
}

// connect opens a Streamable HTTP client session on path with key ("" for
// none), closed at cleanup.
func (s *server) connect(t *testing.T, path, key string) *mcp.ClientSession {
	t.Helper()
	hc := &http.Client{Transport: bearer{key: key, base: http.DefaultTransport}}
	c := mcp.NewClient(&mcp.Implementation{Name: "reliability", Version: "0"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: s.Base + path, HTTPClient: hc}, nil)
	if err != nil {
		t.Fatalf("connect %s: %v", path, err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// callSQL runs execute_sql (tool name prefixed) and returns the result's
// text and whether it failed (a tool error or a protocol error).
func callSQL(ctx context.Context, cs *mcp.ClientSession, tool, sql string) (string, error) {
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: map[string]any{"sql": sql}})
	if err != nil {
		return "", err
	}
	text := resultText(res)
	if res.IsError {
		return text, fmt.Errorf("tool error: %s", firstLine(text))
	}
	return text, nil
}

func resultText(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// outcome is one call made under load.
type outcome struct {
	worker     int
	start, end time.Time
	err        error
}

// loadRun runs fn in n workers until ctx ends and returns every call's
// outcome, in start order.
func loadRun(ctx context.Context, n int, fn func(ctx context.Context, worker int) error) []outcome {
	var mu sync.Mutex
	var out []outcome
	var wg sync.WaitGroup
	for w := range n {
		wg.Go(func() {
			for ctx.Err() == nil {
				o := outcome{worker: w, start: time.Now()}
				cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 60*time.Second)
				o.err = fn(cctx, w)
				cancel()
				o.end = time.Now()
				if ctx.Err() != nil && o.err != nil {
					return // cut by the end of the run, not by a fault
				}
				mu.Lock()
				out = append(out, o)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	sort.Slice(out, func(i, j int) bool { return out[i].start.Before(out[j].start) })
	return out
}

// window is a span of time in which a fault was active (from its start to
// the first successful call after it ended).
type window struct{ from, to time.Time }

// classify splits outcomes into calls that overlapped a window and calls
// that did not, counting failures of each.
func classify(out []outcome, windows []window) (during, duringFailed, outside, outsideFailed int, outsideErrs []string) {
	for _, o := range out {
		in := false
		for _, w := range windows {
			if o.start.Before(w.to) && o.end.After(w.from) {
				in = true
				break
			}
		}
		if in {
			during++
			if o.err != nil {
				duringFailed++
			}
			continue
		}
		outside++
		if o.err != nil {
			outsideFailed++
			if len(outsideErrs) < 5 {
				outsideErrs = append(outsideErrs, o.err.Error())
			}
		}
	}
	return
}

// percentile returns the p-th percentile (0..100) of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(float64(len(s)-1) * p / 100)
	return s[i]
}

// waitUntil polls cond every 20 ms until it holds or d passes, and returns
// how long it took.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// get fetches path and returns the status code and body.
func (s *server) get(path string) (int, string, time.Duration) {
	start := time.Now()
	resp, err := http.Get(s.Base + path)
	if err != nil {
		return 0, err.Error(), time.Since(start)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String(), time.Since(start)
}

// report records a scenario's figures in the test log, one line per
// figure, for docs/reliability.md.
func report(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Logf("FIGURE "+format, args...)
}

func init() {
	if f := os.Getenv("RELIAB_DUMP"); f != "" {
		dumpLogs = f
	}
}

var dumpLogs string
