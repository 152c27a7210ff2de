// Package deploy_test checks the packaging in deploy/ and the Dockerfile the
// way CI can without a container runtime or a cluster: the Dockerfile's
// stages run as a script, the compose file's database script and pgherd
// configuration run against a real PostgreSQL, the Helm chart is rendered
// and its manifests checked, the systemd unit verified.
package deploy_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/app"
	"github.com/pgherd/pgherd/internal/config"
	"github.com/pgherd/pgherd/internal/pgtest"
)

var update = flag.Bool("update", false, "rewrite generated files (deploy/compose/demo.sql)")

func TestMain(m *testing.M) { pgtest.Main(m) }

// serve runs pgherd in process on a free loopback port with yaml and
// returns its base URL; stop shuts it down.
func serve(t *testing.T, yaml string, env map[string]string) (base string, stop func()) {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatalf("config: %v\n%s", err, yaml)
	}
	return serveConfig(t, cfg)
}

func serveConfig(t *testing.T, cfg *config.Config) (base string, stop func()) {
	t.Helper()
	var logs bytes.Buffer
	for _, ep := range cfg.Endpoints {
		ep.AllowPrivilegedRole = true // the test cluster's superuser (issue #7, class 4)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, app.Options{Version: "test", Logger: slog.New(slog.NewTextHandler(&logs, nil))})
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
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, l) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		a.Close()
	}
	t.Cleanup(stop)
	return "http://" + l.Addr().String(), stop
}

// TestDockerfile builds the image's binary by running the build stage's
// steps as a script, then checks the runtime stage: a non-root user, an
// entrypoint that runs, a HEALTHCHECK that passes against a serving pgherd
// and fails against none, and a listen address that demands authentication.
func TestDockerfile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	df := parseDockerfile(t, "../Dockerfile")
	build, runtime := df.stage(t, "build"), df.stage(t, "runtime")
	if !strings.HasPrefix(build.Base, "golang:") {
		t.Errorf("build stage FROM %s, want a golang image (cgo needs gcc)", build.Base)
	}
	if !strings.Contains(runtime.Base, "distroless") {
		t.Errorf("runtime stage FROM %s, want a small image without a shell (distroless)", runtime.Base)
	}
	stages := map[string]*image{}
	stages["build"] = runStage(t, df, build, "..", stages, map[string]string{"VERSION": "v9.9.9-dockertest"})
	rt := runStage(t, df, runtime, "..", stages, nil)

	uid, _, _ := strings.Cut(rt.User, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("USER %q, want a numeric non-root uid (Kubernetes runAsNonRoot checks it)", rt.User)
	}
	if rt.Env["HTTP_HOST"] != "0.0.0.0" {
		t.Errorf("ENV HTTP_HOST = %q, want 0.0.0.0 (a container must listen beyond loopback)", rt.Env["HTTP_HOST"])
	}
	if len(rt.Entrypoint) != 1 || len(rt.Cmd) < 2 || rt.Cmd[0] != "serve" {
		t.Fatalf("ENTRYPOINT %q CMD %q, want the binary and serve --config …", rt.Entrypoint, rt.Cmd)
	}
	bin := rt.path(rt.Entrypoint[0])
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "v9.9.9-dockertest") {
		t.Fatalf("%s version: %v: %s (want the VERSION build argument)", rt.Entrypoint[0], err, out)
	}

	// The image's own environment, as docker run would give it.
	imageEnv := func(extra ...string) []string {
		env := []string{"PATH=/usr/bin:/bin"}
		for k, v := range rt.Env {
			env = append(env, k+"="+v)
		}
		return append(env, extra...)
	}

	// HEALTHCHECK against a serving pgherd, then against nothing.
	if len(rt.Healthcheck) == 0 || rt.Healthcheck[0] != rt.Entrypoint[0] {
		t.Fatalf("HEALTHCHECK CMD %q, want the pgherd binary (the image has no shell or curl)", rt.Healthcheck)
	}
	for _, f := range []string{"interval", "timeout", "retries"} {
		if rt.HealthFlags[f] == "" {
			t.Errorf("HEALTHCHECK has no --%s", f)
		}
	}
	db := pgtest.NewDatabase(t)
	base, stop := serve(t, "server: {port: 0}\nendpoints:\n  shop: {database_uri: \"${URI}\"}\n", map[string]string{"URI": db.URI})
	port := base[strings.LastIndex(base, ":")+1:]
	hc := exec.Command(bin, rt.Healthcheck[1:]...)
	hc.Env = imageEnv("HTTP_PORT=" + port)
	if out, err := hc.CombinedOutput(); err != nil || !strings.Contains(string(out), `"ok"`) {
		t.Errorf("healthcheck against a serving pgherd: %v: %s", err, out)
	}
	stop()
	hc = exec.Command(bin, rt.Healthcheck[1:]...)
	hc.Env = imageEnv("HTTP_PORT=" + port)
	if out, err := hc.CombinedOutput(); err == nil {
		t.Errorf("healthcheck with nothing listening passed: %s", out)
	}

	// The image listens on 0.0.0.0: a configuration without authentication
	// is refused by name, not served to the network.
	cfgPath := t.TempDir() + "/pgherd.yaml"
	os.WriteFile(cfgPath, []byte("endpoints:\n  shop: {database_uri: \"postgres://u@db/shop\"}\n"), 0o600)
	cc := exec.Command(bin, "check-config", cfgPath)
	cc.Env = imageEnv()
	out, err = cc.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(out), "needs auth") {
		t.Errorf("check-config without auth in the image's environment: %v: %s; want exit 2 and \"needs auth\"", err, out)
	}
}

// connect opens an MCP session on url with an Authorization header.
func connect(t *testing.T, url, authorization string) *mcp.ClientSession {
	t.Helper()
	hc := &http.Client{Transport: authTransport{authorization}}
	c := mcp.NewClient(&mcp.Implementation{Name: "deploy-test", Version: "0"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: hc}, nil)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

type authTransport struct{ value string }

func (a authTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", a.value)
	return http.DefaultTransport.RoundTrip(r)
}

func callTool(t *testing.T, cs *mcp.ClientSession, name string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return res
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

func must[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Sprint(err))
	}
	return v
}
