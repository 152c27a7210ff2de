package app_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/app"
	"github.com/pgherd/pgherd/internal/config"
	"github.com/pgherd/pgherd/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// server is a running pgherd for one test.
type server struct {
	Base   string // http://127.0.0.1:port
	Config *config.Config
	App    *app.App
	Logs   *syncBuffer

	cancel context.CancelFunc
	done   chan error
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

// start loads yaml (with env), starts pgherd on a free port and stops it when
// the test ends.
func start(t *testing.T, yaml string, env map[string]string) *server {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), mapEnv(env))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, yaml)
	}
	allowSuperuser(cfg, yaml)
	return startConfig(t, cfg)
}

// allowSuperuser sets allow_privileged_role on every endpoint unless the
// test's YAML says something about it: most tests log in as the test
// cluster's superuser (pgtest.NewDatabase's URI), which a validated mode
// refuses by default. The login check itself is tested where the YAML
// names the key (privileged_test.go), and the attack replay runs with
// least-privilege roles as well as with a superuser.
func allowSuperuser(cfg *config.Config, yaml string) {
	if strings.Contains(yaml, "allow_privileged_role") {
		return
	}
	for _, ep := range cfg.Endpoints {
		ep.AllowPrivilegedRole = true
	}
}

func startConfig(t *testing.T, cfg *config.Config) *server {
	t.Helper()
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
		t.Fatalf("listen: %v", err)
	}
	s := &server{Base: "http://" + l.Addr().String(), Config: cfg, App: a, Logs: logs, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- a.Serve(ctx, l) }()
	t.Cleanup(func() {
		s.stop(t)
		if t.Failed() {
			t.Logf("server log:\n%s", tail(logs.String(), 60))
		}
	})
	return s
}

// stop shuts the server down and waits for Serve to return.
func (s *server) stop(t *testing.T) error {
	t.Helper()
	s.cancel()
	var err error
	select {
	case err = <-s.done:
		s.done <- err // stop is idempotent
	case <-time.After(30 * time.Second):
		t.Errorf("Serve did not return within 30s of shutdown")
	}
	s.App.Close()
	return err
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func mapEnv(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// transport names how a client reaches an endpoint.
type transport string

const (
	streamable transport = "streamable"
	legacySSE  transport = "sse"
)

// headerTransport adds fixed headers to every request.
type headerTransport struct {
	header http.Header
	base   http.RoundTripper
}

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h.header {
		r.Header[k] = v
	}
	return h.base.RoundTrip(r)
}

// connect opens an MCP client session on path ("/mcp", "/app1/mcp") over tr.
func (s *server) connect(t *testing.T, path string, tr transport, header http.Header) *mcp.ClientSession {
	t.Helper()
	return s.connectVersion(t, path, tr, header, "")
}

// connectVersion is connect with a protocol version ("" = the client's latest).
func (s *server) connectVersion(t *testing.T, path string, tr transport, header http.Header, version string) *mcp.ClientSession {
	t.Helper()
	cs, err := s.tryConnect(path, tr, header, version)
	if err != nil {
		t.Fatalf("connect %s over %s: %v", path, tr, err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func (s *server) tryConnect(path string, tr transport, header http.Header, version string) (*mcp.ClientSession, error) {
	// The legacy SSE client keeps its event stream on the Connect context:
	// it must outlive Connect, so no deadline here (the session is closed at
	// cleanup).
	ctx := context.Background()
	hc := &http.Client{Transport: headerTransport{header: header, base: http.DefaultTransport}}
	var t mcp.Transport
	switch tr {
	case streamable:
		t = &mcp.StreamableClientTransport{Endpoint: s.Base + path, HTTPClient: hc}
	case legacySSE:
		t = &mcp.SSEClientTransport{Endpoint: s.Base + strings.TrimSuffix(path, "/mcp") + "/sse", HTTPClient: hc}
	default:
		return nil, fmt.Errorf("unknown transport %q", tr)
	}
	c := mcp.NewClient(&mcp.Implementation{Name: "pgherd-test", Version: "0"}, nil)
	return c.Connect(ctx, t, &mcp.ClientSessionOptions{ProtocolVersion: version})
}

// toolNames lists the tools of a session, sorted.
func toolNames(t *testing.T, cs *mcp.ClientSession) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var names []string
	for tool, err := range cs.Tools(ctx, nil) {
		if err != nil {
			t.Fatalf("listing tools: %v", err)
		}
		names = append(names, tool.Name)
	}
	return sortStrings(names)
}

func sortStrings(s []string) []string {
	out := append([]string(nil), s...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// call runs a tool and returns its result; protocol errors fail the test.
func call(t *testing.T, cs *mcp.ClientSession, name string, args any) *mcp.CallToolResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("calling %s: %v", name, err)
	}
	return res
}

// callOK runs a tool that must succeed and returns its structured content.
func callOK(t *testing.T, cs *mcp.ClientSession, name string, args any) map[string]any {
	t.Helper()
	res := call(t, cs, name, args)
	if res.IsError {
		t.Fatalf("%s(%v) failed: %s", name, args, text(res))
	}
	m, ok := res.StructuredContent.(map[string]any)
	if !ok {
		t.Fatalf("%s: structured content is %T, want an object", name, res.StructuredContent)
	}
	return m
}

// callErr runs a tool that must fail with a tool error and returns its text.
func callErr(t *testing.T, cs *mcp.ClientSession, name string, args any) string {
	t.Helper()
	res := call(t, cs, name, args)
	if !res.IsError {
		t.Fatalf("%s(%v) succeeded, want a tool error; got %s", name, args, text(res))
	}
	return text(res)
}

func text(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// get fetches path and returns status and body.
func (s *server) get(t *testing.T, path string, header http.Header) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.Base+path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

// appNew builds an app from yaml without serving it.
func appNew(t *testing.T, yaml string) (*app.App, error) {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), mapEnv(nil))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	allowSuperuser(cfg, yaml)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, err := app.New(ctx, cfg, app.Options{Version: "test"})
	if err == nil {
		t.Cleanup(a.Close)
	}
	return a, err
}

// waitFor polls cond every few milliseconds until it holds or 10s pass: for
// states the server exposes no signal for (a call being in flight).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
