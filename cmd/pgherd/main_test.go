package main_test

// These tests run the pgherd binary the way users and MCP clients do: built
// once by TestMain, started as a child process, spoken to over its stdin and
// stdout, its HTTP port and its signals; exit codes and stderr are part of
// what they check.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgherd/pgherd/internal/pgtest"
)

// testVersion is stamped into the binary with -ldflags, as the Makefile does.
const testVersion = "v0.0.0-clitest"

// bin is the path of the pgherd binary built by TestMain.
var bin string

func TestMain(m *testing.M) { os.Exit(run(m)) }

// run builds the binary, runs the tests and removes the binary. It does what
// pgtest.Main does (stop the cluster at the end) and more, which Main's
// os.Exit would not let it do: the cluster starts on the first
// pgtest.NewDatabase, so tests that need no database do not wait for one.
func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "pgherd-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "creating the build directory:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin = filepath.Join(dir, "pgherd")
	build := exec.Command("go", "build", "-ldflags", "-X main.version="+testVersion, "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building pgherd: %v\n%s", err, out)
		return 1
	}
	defer func() {
		if c := pgtest.Cluster(); c != nil {
			c.Stop()
		}
	}()
	return m.Run()
}

// hermeticEnv is the test process's environment without the variables that
// override a config file (config/env.go) or tune the runtime, plus extra
// (KEY=VALUE).
func hermeticEnv(extra ...string) []string {
	drop := map[string]bool{
		"TRANSPORT_MODE": true, "MCP_TRANSPORT": true, "HTTP_HOST": true, "MCP_HOST": true, "HTTP_PORT": true,
		"MCP_PORT": true, "REQUIRE_AUTH_HEADER": true, "DATABASE_URI": true, "GOGC": true, "GOMEMLIMIT": true,
	}
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !drop[k] {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// result is how a finished pgherd run ended.
type result struct {
	code           int
	stdout, stderr string
}

// runCLI runs pgherd with args and stdin to completion. A run that takes
// longer than 30s is killed and fails the test (a hang guard, not a
// synchronisation).
func runCLI(t *testing.T, stdin string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = hermeticEnv(env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("pgherd %s did not finish within 30s\nstderr:\n%s", strings.Join(args, " "), stderr.String())
	case err != nil && !errors.As(err, &exit):
		t.Fatalf("running pgherd %s: %v", strings.Join(args, " "), err)
	}
	return result{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
}

// writeFile writes content to name in a fresh temporary directory and
// returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// freePort returns a TCP port that was free a moment ago on 127.0.0.1: the
// config needs a fixed port, since the process does not report one it picks.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// lineLog collects a child process's output line by line and lets a test
// wait for a line containing some text: log lines are the process's signals
// ("serving http", "configuration reloaded").
type lineLog struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	lines   []string
	changed chan struct{} // closed and replaced on every new line
}

func newLineLog() *lineLog { return &lineLog{changed: make(chan struct{})} }

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	for {
		line, err := l.buf.ReadString('\n')
		if err != nil {
			// Keep the incomplete line for the next Write.
			rest := []byte(line)
			l.buf.Reset()
			l.buf.Write(rest)
			break
		}
		l.lines = append(l.lines, strings.TrimSuffix(line, "\n"))
		close(l.changed)
		l.changed = make(chan struct{})
	}
	return len(p), nil
}

// String returns every complete line so far.
func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// wait returns the first line at or after line index from that contains
// substr, and the index after it; it gives up when ctx ends or exited is
// closed (the process ended without printing it).
func (l *lineLog) wait(ctx context.Context, exited <-chan struct{}, from int, substr string) (string, int, error) {
	for {
		l.mu.Lock()
		for i := from; i < len(l.lines); i++ {
			if strings.Contains(l.lines[i], substr) {
				line := l.lines[i]
				l.mu.Unlock()
				return line, i + 1, nil
			}
		}
		from = len(l.lines)
		changed := l.changed
		l.mu.Unlock()
		select {
		case <-changed:
		case <-exited:
			// Output written just before exit may still be pending in the
			// copying goroutine; Wait has returned by now, so it is in.
			l.mu.Lock()
			n := len(l.lines)
			l.mu.Unlock()
			if n > from {
				continue
			}
			return "", from, fmt.Errorf("the process exited without logging %q", substr)
		case <-ctx.Done():
			return "", from, fmt.Errorf("no log line with %q: %w", substr, context.Cause(ctx))
		}
	}
}
