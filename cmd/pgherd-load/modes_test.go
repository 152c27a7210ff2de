package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgherd/pgherd/internal/pgtest"
)

// TestIdle: the idle workload opens every session (with and without the
// event stream), reads the server's memory before and after from /proc and
// its metrics, and closes every session at the end. The server is the test
// process itself, so the figures are not judged: they are the benchmark's.
func TestIdle(t *testing.T) {
	s := testServer(t, expectStateful)
	for _, stream := range []bool{true, false} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			rep, err := RunIdle(context.Background(), IdleOptions{URL: s.Base + "/app1/mcp", Sessions: 20, Stream: stream,
				ServerPID: os.Getpid(), MetricsURL: metricsURLFor(s.Base + "/app1/mcp")})
			if err != nil {
				t.Fatalf("RunIdle: %v", err)
			}
			if rep.Sessions != 20 || rep.Open.N != 20 || rep.Protocol != protocolSession || rep.Stream != stream {
				t.Errorf("report %+v; want 20 sessions opened with protocol %s, stream %v", rep, protocolSession, stream)
			}
			for name, m := range map[string]MemoryReading{"before": rep.Before, "after": rep.After} {
				if m.RSS <= 0 || m.HeapInuse <= 0 || m.StackInuse <= 0 || m.Goroutines <= 0 {
					t.Errorf("%s: %+v; want RSS from /proc and heap, stacks and goroutines from the metrics", name, m)
				}
			}
			if rep.After.Goroutines <= rep.Before.Goroutines {
				t.Errorf("goroutines %d → %d with 20 idle sessions; want more", rep.Before.Goroutines, rep.After.Goroutines)
			}
			for n := range s.app.Herd().Nodes() {
				for ss := range n.Server.Sessions() {
					t.Errorf("session %s still open after the run; every session should be closed (DELETE)", ss.ID())
				}
			}
		})
	}
	t.Run("stateless", func(t *testing.T) {
		st := testServer(t, expectStateless)
		_, err := RunIdle(context.Background(), IdleOptions{URL: st.Base + "/app1/mcp", Sessions: 2, ServerPID: os.Getpid()})
		if err == nil || !strings.Contains(err.Error(), "server.session_mode: stateful") {
			t.Errorf("RunIdle against a stateless server: %v; want an error naming server.session_mode", err)
		}
	})
}

// TestColdStart starts the pgherd binary over HTTP (stateless and stateful)
// and over stdio, twice each, and checks every run reached its first
// answered call, in order: listening, handshake, call.
func TestColdStart(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "pgherd")
	if out, err := exec.Command("go", "build", "-o", bin, "../pgherd").CombinedOutput(); err != nil {
		t.Fatalf("building pgherd: %v\n%s", err, out)
	}
	db := pgtest.NewDatabase(t)
	if err := seed(context.Background(), db.URI); err != nil {
		t.Fatal(err)
	}
	args := json.RawMessage(`{"sql":"SELECT count(*) FROM customers"}`)
	for _, mode := range []string{expectStateless, expectStateful, transportStdio} {
		t.Run(mode, func(t *testing.T) {
			opts := ColdOptions{Transport: transportStreamable, Runs: 2, Method: methodCallTool, Tool: "app1_execute_sql", Args: args}
			if mode == transportStdio {
				opts.Transport = transportStdio
				opts.Command = []string{bin, "stdio", "--database-url", db.URI, "--allow-privileged-role"}
				opts.Tool = "execute_sql" // --database-url: one endpoint, tools without a prefix
			} else {
				port := freePort(t)
				cfg := filepath.Join(t.TempDir(), "pgherd.yaml")
				yaml := fmt.Sprintf("server: {port: %d, session_mode: %s}\nlog: {level: warn}\nendpoints:\n  app1: {database_uri: %q, access_mode: user_ro, allow_privileged_role: true}\n",
					port, mode, db.URI)
				if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
					t.Fatal(err)
				}
				opts.Command = []string{bin, "serve", "--config", cfg}
				opts.URL = fmt.Sprintf("http://127.0.0.1:%d/app1/mcp", port)
			}
			rep, err := RunColdStart(context.Background(), opts)
			if err != nil {
				t.Fatalf("RunColdStart: %v", err)
			}
			if len(rep.Runs) != 2 || rep.Protocol == "" {
				t.Fatalf("report %+v; want 2 runs and the negotiated protocol", rep)
			}
			for i, r := range rep.Runs {
				listened := r.Listen > 0 || mode == transportStdio
				if !listened || r.Handshake < r.Listen || r.FirstCall < r.Handshake || r.RSS <= 0 || r.ServerCPU <= 0 {
					t.Errorf("run %d: %+v; want listening ≤ handshake ≤ first call, and the server's CPU and RSS", i+1, r)
				}
			}
		})
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
