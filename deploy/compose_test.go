package deploy_test

import (
	"context"
	"crypto/rand"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"go.yaml.in/yaml/v3"

	"github.com/pgherd/pgherd/internal/config"
	"github.com/pgherd/pgherd/internal/demo"
	"github.com/pgherd/pgherd/internal/localpg"
	"github.com/pgherd/pgherd/internal/pgtest"
)

// compose is the part of a compose file this test reads.
type compose struct {
	Services map[string]struct {
		Build *struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
		} `yaml:"build"`
		Image       string            `yaml:"image"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
		Ports       []string          `yaml:"ports"`
		DependsOn   map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
		Healthcheck *struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
	} `yaml:"services"`
}

// composeDefault evaluates compose's ${VAR:-default} with VAR unset.
var composeVar = regexp.MustCompile(`\$\{([A-Z_][A-Z0-9_]*)(:-([^}]*))?\}`)

func composeDefault(s string) string {
	return composeVar.ReplaceAllString(s, "$3")
}

// TestCompose checks deploy/docker-compose.yaml without docker: the file's
// shape, the demo script it loads into PostgreSQL (generated from
// internal/demo, and run here with the compose file's own init script
// against a real server), and pgherd's configuration with the compose
// file's default environment, serving the four demo endpoints.
func TestCompose(t *testing.T) {
	data, err := os.ReadFile("docker-compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c compose
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatalf("docker-compose.yaml: %v", err)
	}
	pg, ok := c.Services["postgres"]
	if !ok {
		t.Fatal("no postgres service")
	}
	ph, ok := c.Services["pgherd"]
	if !ok {
		t.Fatal("no pgherd service")
	}
	if ph.Build == nil || ph.Build.Context != ".." || ph.Build.Dockerfile != "Dockerfile" {
		t.Errorf("pgherd builds from %+v, want the repository's Dockerfile (context ..)", ph.Build)
	}
	if ph.DependsOn["postgres"].Condition != "service_healthy" || pg.Healthcheck == nil {
		t.Errorf("pgherd must wait for a healthy postgres (depends_on condition service_healthy, and a healthcheck)")
	}
	for _, p := range ph.Ports {
		if !strings.HasPrefix(p, "127.0.0.1:") {
			t.Errorf("pgherd publishes %q: bind the host side to 127.0.0.1 for a demo", p)
		}
	}
	if len(pg.Ports) > 0 {
		t.Errorf("postgres publishes %v: the database needs no host port", pg.Ports)
	}
	mounts := map[string]string{}
	for _, svc := range []string{"postgres", "pgherd"} {
		for _, v := range c.Services[svc].Volumes {
			src, dst, _ := strings.Cut(v, ":")
			dst, _, _ = strings.Cut(dst, ":")
			if strings.HasPrefix(src, "./") {
				if _, err := os.Stat(src); err != nil {
					t.Errorf("service %s mounts %s, which does not exist: %v", svc, src, err)
				}
				mounts[dst] = src
			}
		}
	}

	// The demo script is generated; -update rewrites it.
	want := demo.Script("")
	sqlPath := mounts["/pgherd/demo.sql"]
	if sqlPath == "" {
		t.Fatal("postgres does not mount the demo script at /pgherd/demo.sql")
	}
	if *update {
		if err := os.WriteFile(sqlPath, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := os.ReadFile(sqlPath); string(got) != want {
		t.Errorf("%s is not what internal/demo.Script generates; run go test ./deploy/ -run TestCompose -update", sqlPath)
	}

	// Run the compose file's init script with psql, as the postgres image
	// would, on a prefixed copy of the script (the test server may be
	// shared).
	prefix := "cmp" + strings.ToLower(rand.Text()[:6]) + "_"
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/demo.sql", []byte(demo.Script(prefix)), 0o644); err != nil {
		t.Fatal(err)
	}
	initPath := ""
	for dst, src := range mounts {
		if strings.HasPrefix(dst, "/docker-entrypoint-initdb.d/") {
			initPath = src
		}
	}
	script, err := os.ReadFile(initPath)
	if err != nil {
		t.Fatalf("init script: %v", err)
	}
	if !strings.Contains(string(script), "/pgherd/demo.sql") {
		t.Fatalf("%s does not run /pgherd/demo.sql", initPath)
	}
	os.WriteFile(dir+"/init.sh", []byte(strings.ReplaceAll(string(script), "/pgherd/demo.sql", dir+"/demo.sql")), 0o755)
	pgtest.NewDatabase(t) // starts the server
	super, _ := url.Parse(pgtest.URI("postgres"))
	binDir, err := localpg.FindBinDir("")
	if err != nil {
		t.Fatalf("psql: %v", err)
	}
	env := map[string]string{}
	for k, v := range pg.Environment {
		env[k] = composeDefault(v)
	}
	for k, v := range ph.Environment {
		env[k] = composeDefault(v)
	}
	password, _ := super.User.Password()
	t.Cleanup(func() { dropDemo(t, prefix) })
	run := exec.Command("sh", dir+"/init.sh")
	run.Env = append(os.Environ(), "PATH="+binDir+":"+os.Getenv("PATH"), "POSTGRES_USER="+super.User.Username(),
		"PGHOST="+super.Hostname(), "PGPORT="+super.Port(), "PGPASSWORD="+password,
		"PGHERD_DEMO_PASSWORD="+env["PGHERD_DEMO_PASSWORD"])
	if out, err := run.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", initPath, err, out)
	}

	// pgherd's configuration from the compose file, with its default
	// environment, pointed at the test server.
	cfgPath := mounts["/etc/pgherd/pgherd.yaml"]
	if cfgPath == "" || len(ph.Command) < 3 || ph.Command[2] != "/etc/pgherd/pgherd.yaml" {
		t.Fatalf("pgherd must run serve --config /etc/pgherd/pgherd.yaml, mounted from deploy/compose; got %v, mounts %v", ph.Command, mounts)
	}
	text := string(must(os.ReadFile(cfgPath)))
	text = strings.ReplaceAll(text, "://app", "://"+prefix+"app")
	text = strings.ReplaceAll(text, "}/app", "}/"+prefix+"app")
	text = strings.Replace(text, "port: 8000", "port: 0", 1)
	env["PGHERD_DB_HOST"], env["PGHERD_DB_PORT"] = super.Hostname(), super.Port()
	cfg, err := config.Parse([]byte(text), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatalf("%s with the compose environment: %v", cfgPath, err)
	}
	cfg.Server.Host = "127.0.0.1" // the container's 0.0.0.0, on loopback here
	base, _ := serveConfig(t, cfg)
	key := "Bearer " + env["PGHERD_API_KEY"]
	for _, ep := range demo.Layout("") {
		cs := connect(t, base+"/"+ep.Name+"/mcp", key)
		res := callTool(t, cs, ep.Name+"_execute_sql", map[string]any{"sql": "SELECT count(*) AS n FROM customers"})
		if res.IsError {
			t.Errorf("%s: %s", ep.Name, resultText(res))
		}
	}
	cs := connect(t, base+"/app1/mcp", key)
	if res := callTool(t, cs, "app1_execute_sql", map[string]any{"sql": "DELETE FROM customers"}); !res.IsError {
		t.Errorf("app1 (user_ro) ran a DELETE: %s", resultText(res))
	}
}

// dropDemo removes what the prefixed demo script created.
func dropDemo(t *testing.T, prefix string) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.URI("postgres"))
	if err != nil {
		t.Errorf("dropping the demo: %v", err)
		return
	}
	defer conn.Close(ctx)
	for _, ep := range demo.Layout(prefix) {
		conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{ep.Database}.Sanitize()+" WITH (FORCE)")
	}
	for _, ep := range demo.Layout(prefix) {
		for _, r := range []string{ep.Login, ep.Database + "_owner"} {
			conn.Exec(ctx, "DROP ROLE IF EXISTS "+pgx.Identifier{r}.Sanitize())
		}
	}
}
