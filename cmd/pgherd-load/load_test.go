package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pgherd/pgherd/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestSummarize(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // 100 … 1, unsorted
	}
	cases := []struct {
		name string
		in   []time.Duration
		want Summary
	}{
		{"empty", nil, Summary{}},
		{"one", ms(7), Summary{N: 1, Mean: 7 * time.Millisecond, P50: 7 * time.Millisecond, P90: 7 * time.Millisecond,
			P99: 7 * time.Millisecond, Max: 7 * time.Millisecond}},
		// Nearest rank: p50 of 4 is the 2nd, p90 and p99 the 4th.
		{"four", ms(4, 1, 3, 2), Summary{N: 4, Mean: 2500 * time.Microsecond, P50: 2 * time.Millisecond, P90: 4 * time.Millisecond,
			P99: 4 * time.Millisecond, Max: 4 * time.Millisecond}},
		{"hundred", ms(hundred...), Summary{N: 100, Mean: 50500 * time.Microsecond, P50: 50 * time.Millisecond,
			P90: 90 * time.Millisecond, P99: 99 * time.Millisecond, Max: 100 * time.Millisecond}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := summarize(c.in); got != c.want {
				t.Errorf("summarize(%v) = %+v, want %+v", c.in, got, c.want)
			}
		})
	}
}

func TestFlags(t *testing.T) {
	cases := []struct {
		args []string
		want string // in stderr
	}{
		{[]string{"--args", "{nope"}, "--args: invalid character"},
		{[]string{"--args", "[1]"}, "--args: json: cannot unmarshal array"},
		{[]string{"--transport", "websocket"}, `--transport "websocket": use streamable, sse or stdio`},
		{[]string{"--transport", "stdio"}, "--transport stdio: give the server's command after --"},
		{[]string{"--client", "fat"}, `--client "fat": use lean or sdk`},
		{[]string{"--method", "ping"}, `--method "ping": use tools/call or tools/list`},
		{[]string{"--raw-dsn", "postgres://x", "--method", "tools/list"}, "--raw-dsn runs a statement"},
		{[]string{"--expect", "maybe"}, `--expect "maybe"`},
		{[]string{"--sessions", "0"}, "--sessions 0: use 1 or more"},
		{[]string{"--calls", "-1"}, "--calls -1"},
		{[]string{"--duration", "0s"}, "--duration must be positive"},
		{[]string{"--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"--workload", "idle"}, "--workload idle reads the server's memory: give --server-pid"},
		{[]string{"--workload", "idle", "--server-pid", "1", "--transport", "sse"}, "--workload idle opens Streamable HTTP sessions"},
		{[]string{"--workload", "busy"}, `--workload "busy": use W1, W2, W3, W4 or idle`},
		{[]string{"--cold-start", "3"}, "--cold-start: give the server's command after --"},
		{[]string{"--cold-start", "-1"}, "--cold-start -1"},
		{[]string{"--cold-start", "3", "--client", "sdk", "--", "pgherd"}, "--cold-start runs with the lean client"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(c.args, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), c.want) {
				t.Errorf("pgherd-load %s: exit %d, stderr %q; want 2 and %q", strings.Join(c.args, " "), code, stderr.String(), c.want)
			}
		})
	}
}

func TestPidCPU(t *testing.T) {
	if got := pidCPU(0); got != -1 {
		t.Errorf("pidCPU(0) = %v, want -1", got)
	}
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc: not Linux")
	}
	deadline := time.Now().Add(50 * time.Millisecond)
	for time.Now().Before(deadline) { // burn CPU so the tick count moves
	}
	got := pidCPU(os.Getpid())
	if got < 0 || got > processCPU()+clockTick {
		t.Errorf("pidCPU(self) = %v; want between 0 and getrusage's %v", got, processCPU())
	}
}

// testServer serves a fresh seeded database in process in mode.
func testServer(t *testing.T, mode string) *selfServer {
	t.Helper()
	db := pgtest.NewDatabase(t)
	ctx := context.Background()
	if err := seed(ctx, db.URI); err != nil {
		t.Fatal(err)
	}
	s, err := serveInProcess(ctx, db.URI, mode, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stopping: %v", err)
		}
	})
	return s
}

// TestRunCounts: a run makes exactly the calls asked, counts every failure
// by kind, and keeps failures out of the latency figures.
func TestRunCounts(t *testing.T) {
	stateless, stateful := testServer(t, expectStateless), testServer(t, expectStateful)
	cases := []struct {
		name     string
		server   *selfServer
		opts     Options
		ok       int
		toolErr  int
		protoErr int
		message  string // in the first error message
		mode     string // observed session mode
	}{
		{
			name: "select", server: stateless, ok: 40, mode: expectStateless,
			opts: Options{Args: json.RawMessage(`{"sql":"SELECT 1"}`), Sessions: 4, Calls: 40, Expect: expectStateless},
		},
		{
			name: "100 rows stateful", server: stateful, ok: 30, mode: expectStateful,
			opts: Options{Args: json.RawMessage(`{"sql":"SELECT * FROM customers ORDER BY id LIMIT 100"}`), Sessions: 3, Calls: 30, Expect: expectStateful},
		},
		{
			name: "sdk client", server: stateful, ok: 12, mode: expectStateful,
			opts: Options{Client: clientSDK, Args: json.RawMessage(`{"sql":"SELECT 1"}`), Sessions: 2, Calls: 12, Expect: expectStateful},
		},
		{
			name: "tools/list", server: stateless, ok: 10, mode: expectStateless,
			opts: Options{Method: methodListTools, Sessions: 2, Calls: 10},
		},
		{
			name: "legacy sse", server: stateless, ok: 10, mode: expectStateful,
			opts: Options{Transport: transportSSE, Args: json.RawMessage(`{"sql":"SELECT 1"}`), Sessions: 2, Calls: 10},
		},
		{
			name: "tool errors", server: stateless, toolErr: 20, message: "tool: DELETE is not allowed in user_ro mode", mode: expectStateless,
			opts: Options{Args: json.RawMessage(`{"sql":"DELETE FROM customers"}`), Sessions: 2, Calls: 20},
		},
		{
			name: "unknown tool", server: stateless, protoErr: 10, message: "protocol: ", mode: expectStateless,
			opts: Options{Tool: "nope", Sessions: 2, Calls: 10},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := c.opts
			o.URL = c.server.Base + "/app1/mcp"
			if o.Transport == transportSSE {
				o.URL = c.server.Base + "/app1/sse"
			}
			if o.Tool == "" {
				o.Tool = "app1_execute_sql"
			}
			o.Warmup = 20 * time.Millisecond
			rep, err := Run(context.Background(), o)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if rep.Calls != o.Calls || rep.OK != c.ok || rep.ToolErrors != c.toolErr || rep.ProtocolErrors != c.protoErr {
				t.Errorf("calls %d ok %d tool errors %d protocol errors %d; want %d %d %d %d\nerrors: %v",
					rep.Calls, rep.OK, rep.ToolErrors, rep.ProtocolErrors, o.Calls, c.ok, c.toolErr, c.protoErr, rep.Errors)
			}
			if rep.Latency.N != rep.OK {
				t.Errorf("latency covers %d calls, want the %d successful ones", rep.Latency.N, rep.OK)
			}
			if c.message != "" && (len(rep.Errors) == 0 || !strings.HasPrefix(rep.Errors[0].Message, c.message) ||
				rep.Errors[0].Count != c.toolErr+c.protoErr) {
				t.Errorf("errors = %v, want %d× %q…", rep.Errors, c.toolErr+c.protoErr, c.message)
			}
			if rep.SessionMode != c.mode {
				t.Errorf("session mode %s, want %s", rep.SessionMode, c.mode)
			}
			if rep.Window <= 0 || rep.CallsPerSec <= 0 {
				t.Errorf("window %v, %v calls/s; want both positive", rep.Window, rep.CallsPerSec)
			}
		})
	}
}

// TestRunRaw: the pgx baseline runs the statement with its parameters and
// counts a database error as a failed call.
func TestRunRaw(t *testing.T) {
	db := pgtest.NewDatabase(t)
	if err := seed(context.Background(), db.URI); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args   string
		ok     int
		failed int
	}{
		{`{"sql":"SELECT * FROM customers WHERE id <= $1","params":[100]}`, 20, 0},
		{`{"sql":"SELECT * FROM nope"}`, 0, 6},
	}
	for _, c := range cases {
		t.Run(c.args, func(t *testing.T) {
			rep, err := Run(context.Background(), Options{RawDSN: db.URI, Args: json.RawMessage(c.args), Sessions: 2, Calls: c.ok + c.failed})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if rep.OK != c.ok || rep.ToolErrors+rep.ProtocolErrors != c.failed || rep.SessionMode != modeRaw {
				t.Errorf("ok %d failed %d mode %s; want %d %d %s (errors %v)", rep.OK, rep.ToolErrors+rep.ProtocolErrors, rep.SessionMode, c.ok, c.failed, modeRaw, rep.Errors)
			}
		})
	}
}

// TestRunExpect: a server in the other session mode is an error before
// any call.
func TestRunExpect(t *testing.T) {
	cases := []struct{ mode, expect, want string }{
		{expectStateful, expectStateless, "expected a stateless server, but it issued session id"},
		{expectStateless, expectStateful, "expected a stateful server, but it issued no session id"},
	}
	for _, c := range cases {
		t.Run(c.expect, func(t *testing.T) {
			s := testServer(t, c.mode)
			_, err := Run(context.Background(), Options{URL: s.Base + "/app1/mcp", Tool: "app1_execute_sql", Sessions: 2, Calls: 1, Expect: c.expect})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Run against a %s server expecting %s: %v, want %q", c.mode, c.expect, err, c.want)
			}
		})
	}
}
