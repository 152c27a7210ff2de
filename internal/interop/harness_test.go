package interop_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgherd/pgherd/internal/app"
	"github.com/pgherd/pgherd/internal/config"
	"github.com/pgherd/pgherd/internal/pgtest"
	"github.com/pgherd/pgherd/internal/testenv"
)

// bin is the pgherd binary built by TestMain, for stdio clients.
var bin string

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "pgherd-interop-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin = filepath.Join(dir, "pgherd")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/pgherd").CombinedOutput(); err != nil {
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

// npmBin returns testdata/node_modules/.bin (absolute), where node (22) and
// the clients' commands are, or skips (fails in CI) when it is not there.
func npmBin(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("testdata/node_modules/.bin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node")); err != nil {
		testenv.Missing(t, "the interop tests' npm packages (internal/interop/testdata/node_modules)", "run scripts/deps.sh test (npm ci in internal/interop/testdata)")
	}
	return dir
}

// nodeRun runs a program of node_modules/.bin (or node itself) with args,
// with Node 22 first on PATH and a throwaway HOME, and returns its stdout.
// It fails the test with stderr when the program fails or outlives
// timeout.
func nodeRun(t *testing.T, timeout time.Duration, prog string, args ...string) string {
	t.Helper()
	out, stderr, err := nodeTry(t, timeout, nil, prog, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", prog, strings.Join(args, " "), err, tail(out, 40), tail(stderr, 40))
	}
	return out
}

// nodeTry is nodeRun that returns the error; env adds KEY=VALUE pairs.
func nodeTry(t *testing.T, timeout time.Duration, env []string, prog string, args ...string) (string, string, error) {
	t.Helper()
	binDir := npmBin(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, prog), args...)
	cmd.Dir = "testdata"
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"), "HOME="+home,
		"MCP_REMOTE_CONFIG_DIR="+filepath.Join(home, "mcp-remote"), "MCP_CATALOG_PATH="+filepath.Join(home, "catalog.json"),
		"NO_COLOR=1", "FORCE_COLOR=0", "CI=true")
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (ran longer than %s)", err, timeout)
	}
	return stdout.String(), stderr.String(), err
}

// client runs testdata/clients/<script> with its options as JSON and decodes
// the JSON it prints.
func client(t *testing.T, script string, opts map[string]any) map[string]any {
	t.Helper()
	arg, _ := json.Marshal(opts)
	out := nodeRun(t, 2*time.Minute, "node", "clients/"+script, string(arg))
	var res map[string]any
	if err := json.Unmarshal([]byte(lastLine(out)), &res); err != nil {
		t.Fatalf("%s printed no JSON: %v\n%s", script, err, out)
	}
	return res
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// server is a pgherd serving HTTP in this process for one test.
type server struct {
	Base string
	Logs *syncBuffer
}

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

// start serves the config yaml (with ${VAR} from env) on a free port until
// the test ends; opts.Extend may add to the servers before they serve.
func start(t *testing.T, yaml string, env map[string]string, opts app.Options) *server {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatalf("config: %v\n%s", err, yaml)
	}
	if !strings.Contains(yaml, "allow_privileged_role") {
		// The tests log in as the test cluster's superuser, which a
		// validated mode refuses unless allowed (issue #7, class 4).
		for _, ep := range cfg.Endpoints {
			ep.AllowPrivilegedRole = true
		}
	}
	logs := &syncBuffer{}
	opts.Version = "interop-test"
	opts.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, opts)
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
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Errorf("pgherd did not stop within 30s")
		}
		a.Close()
		if t.Failed() {
			t.Logf("pgherd log:\n%s", tail(logs.String(), 40))
		}
	})
	return &server{Base: "http://" + l.Addr().String(), Logs: logs}
}

// shop creates a database with a small table and returns its URI.
func shop(t *testing.T) string {
	t.Helper()
	db := pgtest.NewDatabase(t)
	pgtest.Exec(t, db.URI, `CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, tags text[]);
INSERT INTO items VALUES (1, 'apple', '{fruit,red}'), (2, 'bread', '{bakery}');`)
	return db.URI
}
