package main_test

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/pgtest"
)

const (
	aliceKey = "alice-key-0123456789abcdef"
	bobKey   = "bob-key-0123456789abcdef0"
)

// serveConfig is a config for pgherd serve on port with the API keys named
// in keys (alice, bob) and one admin_rw endpoint app1.
func serveConfig(port int, keys ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "server: {port: %d, shutdown_timeout: 20s}\nauth:\n  mode: api_key\n  api_keys:\n", port)
	for _, k := range keys {
		fmt.Fprintf(&b, "    - {name: %s, key: \"${%s_KEY}\"}\n", k, strings.ToUpper(k))
	}
	b.WriteString("endpoints:\n  app1: {database_uri: \"${APP1_URI}\", access_mode: admin_rw}\n")
	return b.String()
}

// served is a running pgherd serve process.
type served struct {
	t      *testing.T
	cmd    *exec.Cmd
	base   string // http://127.0.0.1:port
	stderr *lineLog
	exited chan struct{}
	ctx    context.Context // the hang guard
}

// serve starts pgherd serve --config path and waits until it serves HTTP.
// At cleanup a process still running is killed.
func serve(t *testing.T, path string, port int, env ...string) *served {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	s := &served{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", port), stderr: newLineLog(), exited: make(chan struct{}), ctx: ctx}
	s.cmd = exec.Command(bin, "serve", "--config", path)
	s.cmd.Env = hermeticEnv(env...)
	s.cmd.Stderr = s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-s.exited:
		default:
			s.cmd.Process.Kill()
			<-s.exited
		}
		if t.Failed() {
			t.Logf("pgherd serve stderr:\n%s", s.stderr)
		}
	})
	if _, _, err := s.stderr.wait(ctx, s.exited, 0, `"msg":"serving http"`); err != nil {
		t.Fatalf("pgherd serve: %v\nstderr:\n%s", err, s.stderr)
	}
	return s
}

func (s *served) signal(sig os.Signal) {
	s.t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("sending %v: %v", sig, err)
	}
}

// exitCode waits for the process to end and returns its status.
func (s *served) exitCode() int {
	s.t.Helper()
	select {
	case <-s.exited:
		return s.cmd.ProcessState.ExitCode()
	case <-s.ctx.Done():
		s.t.Fatalf("pgherd serve did not exit within the deadline")
		return -1
	}
}

// post sends an MCP initialize request to path with key and returns the
// status code.
func (s *served) post(path, key string) (int, error) {
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, s.base+path, strings.NewReader(initialize))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// connect opens a go-sdk client session to path with key.
func (s *served) connect(path, key string) (*mcp.ClientSession, error) {
	hc := &http.Client{Transport: bearer{key: key, base: http.DefaultTransport}}
	c := mcp.NewClient(&mcp.Implementation{Name: "pgherd-cli-test", Version: "0"}, nil)
	return c.Connect(s.ctx, &mcp.StreamableClientTransport{Endpoint: s.base + path, HTTPClient: hc}, nil)
}

// bearer adds Authorization: Bearer key to every request.
type bearer struct {
	key  string
	base http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.key)
	return b.base.RoundTrip(r)
}

// TestServeHealthAndPortInUse: serve answers /health, and a second process
// on the same port exits 1 naming the address and what to do.
func TestServeHealthAndPortInUse(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	port := freePort(t)
	path := writeFile(t, "pgherd.yaml", serveConfig(port, "alice"))
	env := []string{"APP1_URI=" + db.URI, "ALICE_KEY=" + aliceKey}
	s := serve(t, path, port, env...)

	resp, err := http.Get(s.base + "/health")
	if err != nil {
		t.Fatalf("GET /health: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"status": "ok"`) || !strings.Contains(string(body), testVersion) {
		t.Errorf("GET /health = %d %s, want 200 with status ok and version %s", resp.StatusCode, body, testVersion)
	}

	r := runCLI(t, "", env, "serve", "--config", path)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if r.code != 1 || !strings.Contains(r.stderr, addr) || !strings.Contains(r.stderr, "choose another server.port") {
		t.Errorf("second pgherd serve on %s: exit %d, stderr %q; want exit 1 naming the address and the fix", addr, r.code, r.stderr)
	}

	// The first one is unharmed.
	if code, err := s.post("/app1/mcp", aliceKey); err != nil || code != http.StatusOK {
		t.Errorf("first server after the second one failed: %d %v, want 200", code, err)
	}
}

// TestServeGracefulSIGTERM: SIGTERM while a call runs lets the call finish
// with its result, then the process exits 0.
func TestServeGracefulSIGTERM(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	port := freePort(t)
	path := writeFile(t, "pgherd.yaml", serveConfig(port, "alice"))
	s := serve(t, path, port, "APP1_URI="+db.URI, "ALICE_KEY="+aliceKey)

	cs, err := s.connect("/app1/mcp", aliceKey)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer cs.Close()
	type outcome struct {
		res *mcp.CallToolResult
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := cs.CallTool(s.ctx, &mcp.CallToolParams{Name: "app1_execute_sql",
			Arguments: map[string]any{"sql": "SELECT pg_sleep(1), 'finished' AS state"}})
		done <- outcome{res, err}
	}()
	// The server gives no signal for "a call is in PostgreSQL"; watch
	// pg_stat_activity for it.
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for pgtest.QueryValue[int64](t, pgtest.URI("postgres"),
		"SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND query LIKE '%pg_sleep(1)%' AND state = 'active'", db.Name) == 0 {
		select {
		case <-tick.C:
		case o := <-done:
			t.Fatalf("the call ended before it was seen running: %v %v", o.err, o.res)
		case <-s.ctx.Done():
			t.Fatal("the call never showed up in pg_stat_activity")
		}
	}
	s.signal(syscall.SIGTERM)

	var o outcome
	select {
	case o = <-done:
	case <-s.ctx.Done():
		t.Fatal("the in-flight call did not finish")
	}
	if o.err != nil || o.res.IsError || !strings.Contains(resultText(o.res), "finished") {
		t.Errorf("in-flight call across SIGTERM: err %v, result %v; want its rows", o.err, o.res)
	}
	if code := s.exitCode(); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0", code)
	}
	// grace_period: durations in JSON logs read as in the config ("20s"), not nanoseconds.
	for _, want := range []string{`"msg":"shutting down"`, `"grace_period":"20s"`, `"in_flight":1`, `"msg":"http stopped"`} {
		if !strings.Contains(s.stderr.String(), want) {
			t.Errorf("stderr has no %s", want)
		}
	}
}

// TestServeReloadOnSIGHUP: after the config drops alice's key and the
// process gets SIGHUP, alice gets 401 and bob keeps working; a config that
// needs a restart is refused and the keys in effect stay.
func TestServeReloadOnSIGHUP(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	port := freePort(t)
	path := writeFile(t, "pgherd.yaml", serveConfig(port, "alice", "bob"))
	s := serve(t, path, port, "APP1_URI="+db.URI, "ALICE_KEY="+aliceKey, "BOB_KEY="+bobKey)

	expect := func(step string, want map[string]int) {
		t.Helper()
		for key, code := range want {
			if got, err := s.post("/app1/mcp", key); err != nil || got != code {
				t.Errorf("%s: POST /app1/mcp with key %.5s…: %d %v, want %d", step, key, got, err, code)
			}
		}
	}
	expect("before reload", map[string]int{aliceKey: 200, bobKey: 200, "": 401})
	bob, err := s.connect("/app1/mcp", bobKey)
	if err != nil {
		t.Fatalf("connect as bob: %v", err)
	}
	defer bob.Close()

	// A change that needs a restart (another port): refused, logged, keys
	// unchanged.
	if err := os.WriteFile(path, []byte(serveConfig(port+1, "bob")), 0o600); err != nil {
		t.Fatal(err)
	}
	s.signal(syscall.SIGHUP)
	line, next, err := s.stderr.wait(s.ctx, s.exited, 0, `"msg":"reload failed`)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(line, "need a restart: server") {
		t.Errorf("reload failure does not name the part that needs a restart: %s", line)
	}
	expect("after refused reload", map[string]int{aliceKey: 200, bobKey: 200})

	if err := os.WriteFile(path, []byte(serveConfig(port, "bob")), 0o600); err != nil {
		t.Fatal(err)
	}
	s.signal(syscall.SIGHUP)
	if _, _, err := s.stderr.wait(s.ctx, s.exited, next, `"msg":"configuration reloaded"`); err != nil {
		t.Fatal(err)
	}
	expect("after reload", map[string]int{aliceKey: 401, bobKey: 200})
	// bob's session, opened before the reload, keeps working.
	res, err := bob.CallTool(s.ctx, &mcp.CallToolParams{Name: "app1_execute_sql", Arguments: map[string]any{"sql": "SELECT 1 AS one"}})
	if err != nil || res.IsError {
		t.Errorf("bob's call after reload: %v %v", err, res)
	}

	s.signal(syscall.SIGTERM)
	if code := s.exitCode(); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0", code)
	}
}

// TestServeWatchConfig: with server.watch_config, changing the file is
// enough: pgherd reloads without a signal (here adding an endpoint, a
// generation reload), and an invalid edit is logged and changes nothing.
func TestServeWatchConfig(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	port := freePort(t)
	config := func(extra string) string {
		return strings.Replace(serveConfig(port, "bob"), "server: {", "server: {watch_config: true, ", 1) + extra
	}
	path := writeFile(t, "pgherd.yaml", config(""))
	s := serve(t, path, port, "APP1_URI="+db.URI, "BOB_KEY="+bobKey)
	if code, err := s.post("/app2/mcp", bobKey); err != nil || code != http.StatusNotFound {
		t.Fatalf("/app2/mcp before the edit: %d %v, want 404", code, err)
	}
	if err := os.WriteFile(path, []byte(config("  app2: {database_uri: \"${APP1_URI}\", access_mode: user_ro, allow_privileged_role: true}\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	_, next, err := s.stderr.wait(s.ctx, s.exited, 0, `"msg":"configuration reloaded"`)
	if err != nil {
		t.Fatal(err)
	}
	if code, err := s.post("/app2/mcp", bobKey); err != nil || code != http.StatusOK {
		t.Errorf("/app2/mcp after the edit: %d %v, want 200", code, err)
	}
	if err := os.WriteFile(path, []byte(config("  app3: {access_mode: sideways}\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	line, _, err := s.stderr.wait(s.ctx, s.exited, next, `"msg":"reload failed`)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(line, "endpoints.app3") || !strings.Contains(line, "file changed") {
		t.Errorf("the invalid edit's log line does not name the key and the trigger: %s", line)
	}
	if code, err := s.post("/app2/mcp", bobKey); err != nil || code != http.StatusOK {
		t.Errorf("/app2/mcp after an invalid edit: %d %v, want 200 (the running configuration stays)", code, err)
	}
}

// TestServeHeapProfile: with PGHERD_HEAP_PROFILE set, SIGUSR1 writes a heap
// profile (a gzipped pprof protobuf) to the file, again at every signal,
// and the server goes on serving.
func TestServeHeapProfile(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	port := freePort(t)
	path := writeFile(t, "pgherd.yaml", serveConfig(port, "alice"))
	profile := filepath.Join(t.TempDir(), "heap.prof")
	s := serve(t, path, port, "APP1_URI="+db.URI, "ALICE_KEY="+aliceKey, "PGHERD_HEAP_PROFILE="+profile)
	from := 0
	for i := range 2 {
		if err := s.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		_, n, err := s.stderr.wait(s.ctx, s.exited, from, `"msg":"heap profile written"`)
		if err != nil {
			t.Fatalf("signal %d: %v\nstderr:\n%s", i+1, err, s.stderr)
		}
		from = n + 1
		f, err := os.Open(profile)
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(f)
		var data []byte
		if err == nil {
			data, err = io.ReadAll(zr)
		}
		f.Close()
		if err != nil || len(data) == 0 {
			t.Errorf("signal %d: %s is %d bytes of gzip (%v); want a pprof profile", i+1, profile, len(data), err)
		}
	}
	if resp, err := http.Get(s.base + "/health"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("GET /health after the signals: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
}
