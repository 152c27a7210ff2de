package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/access"
	"github.com/pgherd/pgherd/internal/localpg"
	"github.com/pgherd/pgherd/internal/tools/dbtools"
)

// recorder is a slog handler remembering the attributes the tests look
// for: the throwaway cluster's directory.
type recorder struct {
	mu      *sync.Mutex
	dirs    *[]string
	attrs   []slog.Attr
	started func() // called after the cluster's start is logged
}

func newRecorder() *recorder { return &recorder{mu: new(sync.Mutex), dirs: new([]string)} }

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	if rec.Message != "local postgres started" {
		return nil
	}
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == "dir" {
			r.mu.Lock()
			*r.dirs = append(*r.dirs, a.Value.String())
			r.mu.Unlock()
		}
		return true
	})
	if r.started != nil {
		r.started()
	}
	return nil
}

func (r *recorder) WithAttrs(as []slog.Attr) slog.Handler {
	c := *r
	c.attrs = append(slices.Clip(r.attrs), as...)
	return &c
}

func (r *recorder) WithGroup(string) slog.Handler { return r }

func (r *recorder) clusterDirs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(*r.dirs)
}

// running is a demo started by start.
type running struct {
	base   string
	out    *bytes.Buffer // complete once base is known
	cancel context.CancelFunc
	done   chan error
}

// start runs the demo in the background and waits until it serves.
func start(t *testing.T, opts Options) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	r := &running{out: new(bytes.Buffer), cancel: cancel, done: make(chan error, 1)}
	opts.Out = r.out
	opts.OnReady = func(base string) { ready <- base }
	go func() { r.done <- Run(ctx, opts) }()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	select {
	case r.base = <-ready:
	case err := <-r.done:
		r.done <- err // for the cleanup
		t.Fatalf("Run ended before serving: %v", err)
	case <-time.After(3 * time.Minute):
		t.Fatal("the demo did not start within 3 minutes")
	}
	return r
}

// stop cancels the demo and returns what Run returned.
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		return err
	case <-time.After(time.Minute):
		t.Fatal("Run did not return within a minute of cancellation")
		return nil
	}
}

func connectMCP(t *testing.T, url string) *mcp.ClientSession {
	t.Helper()
	client := mcp.NewClient(&mcp.Implementation{Name: "demo-test", Version: "0"}, nil)
	session, err := client.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: url}, nil)
	if err != nil {
		t.Fatalf("connecting to %s: %v", url, err)
	}
	t.Cleanup(func() { session.Close() })
	return session
}

func toolNames(t *testing.T, s *mcp.ClientSession) []string {
	t.Helper()
	res, err := s.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatalf("listing tools: %v", err)
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
	}
	slices.Sort(names)
	return names
}

// callText calls a tool and returns the text of its content.
func callText(t *testing.T, s *mcp.ClientSession, name string, args map[string]any) string {
	t.Helper()
	res, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("calling %s: %v", name, err)
	}
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	if res.IsError {
		t.Fatalf("%s(%v) is a tool error: %s", name, args, b.String())
	}
	return b.String()
}

func prefixed(prefix string, names ...string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = prefix + "_" + n
	}
	slices.Sort(out)
	return out
}

func TestRun(t *testing.T) {
	rec := newRecorder()
	demo := start(t, Options{Version: "test", Logger: slog.New(rec)})

	user := []string{"list_objects", "get_object_details", "execute_sql", "explain_query"}
	// The design document's nine tools of the admin modes.
	admin := append(slices.Clone(user), "list_schemas",
		"analyze_db_health", "get_top_queries", "analyze_query_indexes", "analyze_workload_indexes")
	want := map[string][]string{
		"/mcp":      {"calculate_stats", "get_server_info", "get_sub_server_config", "herd_health", "list_all_servers"},
		"/app1/mcp": prefixed("app1", user...),
		"/app2/mcp": prefixed("app2", user...),
		"/app3/mcp": prefixed("app3", admin...),
		"/app4/mcp": prefixed("app4", admin...),
	}
	sessions := map[string]*mcp.ClientSession{}
	for path, names := range want {
		s := connectMCP(t, demo.base+path)
		sessions[path] = s
		if got := toolNames(t, s); !slices.Equal(got, names) {
			t.Errorf("%s lists %d tools %v, want %d %v", path, len(got), got, len(names), names)
		}
	}

	objects := callText(t, sessions["/app1/mcp"], "app1_list_objects", map[string]any{})
	for _, table := range []string{"customers", "products", "orders", "order_items", "order_totals"} {
		if !strings.Contains(objects, table) {
			t.Errorf("app1_list_objects does not show %s:\n%s", table, objects)
		}
	}
	// Each endpoint runs as its own least-privilege role, not as the
	// superuser.
	for i, mode := range []string{"user_ro", "user_rw", "admin_ro", "admin_rw"} {
		name := fmt.Sprintf("app%d", i+1)
		got := callText(t, sessions["/"+name+"/mcp"], name+"_execute_sql", map[string]any{"sql": "SELECT current_user AS who"})
		if role := name + "_" + mode; !strings.Contains(got, role) {
			t.Errorf("%s_execute_sql(SELECT current_user) = %s, want %s", name, got, role)
		}
	}

	// The database intelligence tools work on the demo data, as the
	// admin endpoints' least-privilege roles.
	for _, name := range []string{"app3", "app4"} {
		s := sessions["/"+name+"/mcp"]
		health := callText(t, s, name+"_analyze_db_health", map[string]any{})
		if !strings.Contains(health, "Database") || strings.Contains(health, "UNKNOWN") {
			t.Errorf("%s_analyze_db_health on the demo:\n%s", name, health)
		}
		top := callText(t, s, name+"_get_top_queries", map[string]any{"sort_by": "calls"})
		if !strings.Contains(top, "statements in database") {
			t.Errorf("%s_get_top_queries on the demo:\n%s", name, top)
		}
		advice := callText(t, s, name+"_analyze_query_indexes", map[string]any{"queries": []string{
			"SELECT o.id, o.ordered_at FROM orders o WHERE o.customer_id = 42 AND o.status = 'shipped'",
			"SELECT p.name, sum(i.quantity) FROM order_items i JOIN products p ON p.id = i.product_id WHERE p.category = 'kitchen' GROUP BY p.name",
		}})
		if !strings.Contains(advice, "analyzed queries") || strings.Contains(advice, "not analyzed") {
			t.Errorf("%s_analyze_query_indexes on the demo:\n%s", name, advice)
		}
		workload := callText(t, s, name+"_analyze_workload_indexes", map[string]any{})
		if !strings.Contains(workload, "Workload:") {
			t.Errorf("%s_analyze_workload_indexes on the demo:\n%s", name, workload)
		}
	}
	herd := callText(t, sessions["/mcp"], "herd_health", map[string]any{})
	if !strings.Contains(herd, "app3:") || !strings.Contains(herd, "app4:") {
		t.Errorf("herd_health on the demo:\n%s", herd)
	}

	out := demo.out.String()
	for _, want := range []string{demo.base + "/app1/mcp", "user_ro", "admin_rw", `"mcpServers"`, `"type": "http"`, "mcp-remote"} {
		if !strings.Contains(out, want) {
			t.Errorf("the banner lacks %q:\n%s", want, out)
		}
	}
	// psql and stdio lines with each endpoint's own login role (never the
	// superuser), which work as printed.
	for i, mode := range []string{"user_ro", "user_rw", "admin_ro", "admin_rw"} {
		name := fmt.Sprintf("app%d", i+1)
		m := regexp.MustCompile(`psql '(postgres://` + name + `_` + mode + `:[^']+)'`).FindStringSubmatch(out)
		if m == nil {
			t.Errorf("the banner has no psql line for %s as %s_%s:\n%s", name, name, mode, out)
			continue
		}
		if !strings.Contains(out, "stdio --database-url '"+m[1]+"' --access-mode "+mode) {
			t.Errorf("the banner has no stdio line for %s:\n%s", name, out)
		}
		conn, err := pgx.Connect(context.Background(), m[1])
		if err != nil {
			t.Errorf("connecting with the printed psql URI of %s: %v", name, err)
			continue
		}
		var who string
		conn.QueryRow(context.Background(), "SELECT current_user").Scan(&who)
		conn.Close(context.Background())
		if who != name+"_"+mode {
			t.Errorf("the printed URI of %s logs in as %q", name, who)
		}
	}
	if regexp.MustCompile(`postgres://postgres[:@]`).MatchString(out) {
		t.Errorf("the banner shows the superuser's URI:\n%s", out)
	}
	// A user mode's instructions name no schema it cannot read.
	if ins := sessions["/app1/mcp"].InitializeResult().Instructions; strings.Contains(ins, "analytics") {
		t.Errorf("app1 (user_ro) instructions mention the analytics schema: %s", ins)
	}
	if ins := sessions["/app3/mcp"].InitializeResult().Instructions; !strings.Contains(ins, "analytics") {
		t.Errorf("app3 (admin_ro) instructions do not mention the analytics schema: %s", ins)
	}

	if err := demo.stop(t); err != nil {
		t.Fatalf("Run returned %v after cancellation, want nil", err)
	}
	dirs := rec.clusterDirs()
	if len(dirs) != 1 {
		t.Fatalf("the demo logged %d cluster directories %v, want 1", len(dirs), dirs)
	}
	if _, err := os.Stat(dirs[0]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cluster directory %s still exists after Run returned (stat: %v)", dirs[0], err)
	}
}

// TestRunCancelledWhileStarting: Ctrl-C during start-up is a clean stop
// that leaves nothing behind.
func TestRunCancelledWhileStarting(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec := newRecorder()
	rec.started = cancel
	served := false
	err := Run(ctx, Options{Logger: slog.New(rec), OnReady: func(string) { served = true }})
	if err != nil || served {
		t.Fatalf("Run = %v (served: %v), want nil without serving", err, served)
	}
	dirs := rec.clusterDirs()
	if len(dirs) != 1 {
		t.Fatalf("the demo logged %d cluster directories %v, want 1", len(dirs), dirs)
	}
	if _, err := os.Stat(dirs[0]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cluster directory %s still exists after Run returned (stat: %v)", dirs[0], err)
	}
}

// TestRunOnExistingServer: with DatabaseURL the demo creates prefixed
// databases and roles, removes what an earlier killed demo left, refuses to
// touch what it did not create, and drops everything when it stops.
func TestRunOnExistingServer(t *testing.T) {
	ctx := context.Background()
	c, err := localpg.Start(ctx, localpg.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop() })
	exec := func(t *testing.T, sql string) {
		t.Helper()
		conn, err := pgx.Connect(ctx, c.URI("postgres"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	count := func(sql string) int {
		t.Helper()
		conn, err := pgx.Connect(ctx, c.URI("postgres"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var n int
		if err := conn.QueryRow(ctx, sql).Scan(&n); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return n
	}
	const demoDatabases = "SELECT count(*)::int FROM pg_database WHERE datname LIKE 'pgherd\\_demo\\_%'"
	const demoRoles = "SELECT count(*)::int FROM pg_roles WHERE rolname LIKE 'pgherd\\_demo\\_%'"

	// Leftovers of a killed demo.
	exec(t, "CREATE ROLE pgherd_demo_app3_owner; COMMENT ON ROLE pgherd_demo_app3_owner IS '"+marker+"'")
	exec(t, "CREATE DATABASE pgherd_demo_app3 OWNER pgherd_demo_app3_owner")
	exec(t, "COMMENT ON DATABASE pgherd_demo_app3 IS '"+marker+"'")

	demo := start(t, Options{DatabaseURL: c.URI("postgres")})
	if got := toolNames(t, connectMCP(t, demo.base+"/app3/mcp")); len(got) != len(dbtools.Names(access.AdminRO)) {
		t.Errorf("/app3/mcp lists %v, want the %d admin tools", got, len(dbtools.Names(access.AdminRO)))
	}
	if n := count(demoDatabases); n != 4 {
		t.Errorf("%d demo databases while serving, want 4", n)
	}
	if !strings.Contains(demo.out.String(), "pgherd_demo_app1") {
		t.Errorf("the banner does not name the databases:\n%s", demo.out.String())
	}
	if err := demo.stop(t); err != nil {
		t.Fatalf("Run returned %v after cancellation, want nil", err)
	}
	if n := count(demoDatabases); n != 0 {
		t.Errorf("%d demo databases left after the demo stopped", n)
	}
	if n := count(demoRoles); n != 0 {
		t.Errorf("%d demo roles left after the demo stopped", n)
	}

	refusals := []struct {
		name      string
		setup     []string
		url, want string
	}{
		{"a database it did not create", []string{"CREATE DATABASE pgherd_demo_app2"}, c.URI("postgres"),
			"database pgherd_demo_app2 already exists and was not created by pgherd demo"},
		{"a role it did not create", []string{"DROP DATABASE pgherd_demo_app2", "CREATE ROLE pgherd_demo_app4_admin_rw"}, c.URI("postgres"),
			"role pgherd_demo_app4_admin_rw already exists and was not created by pgherd demo"},
		{"not a superuser", []string{"CREATE ROLE plain LOGIN PASSWORD 'pw'"}, localpg.URI("plain", "pw", c.Port(), "postgres"),
			`connects as "plain", which is not a superuser`},
		{"not a URI", nil, "host=localhost user=postgres password=hunter2",
			"is not a postgres://user:password@host:port/database URI"},
	}
	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) {
			for _, sql := range r.setup {
				exec(t, sql)
			}
			err := Run(ctx, Options{DatabaseURL: r.url})
			if err == nil || !strings.Contains(err.Error(), r.want) {
				t.Fatalf("Run = %v, want an error containing %q", err, r.want)
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "pw@") {
				t.Errorf("the error shows a password: %v", err)
			}
		})
	}
	if n := count(demoRoles); n != 1 { // only the one the test made
		t.Errorf("%d demo roles after the refusals, want 1", n)
	}
}

func TestRunPortTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	err = Run(context.Background(), Options{Port: port})
	want := fmt.Sprintf("port %d on 127.0.0.1 is already in use", port)
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "--port") {
		t.Fatalf("Run = %v, want an error containing %q and advising --port", err, want)
	}
}

func TestClientConfigs(t *testing.T) {
	eps := endpoints("http://127.0.0.1:8000", (&server{}).plan())
	claude, cursor, vscode, err := clientConfigs(eps)
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		MCPServers map[string]struct {
			Command string   `json:"command"`
			Args    []string `json:"args"`
		} `json:"mcpServers"`
	}
	var cur struct {
		MCPServers map[string]map[string]string `json:"mcpServers"`
	}
	var v struct {
		Servers map[string]map[string]string `json:"servers"`
	}
	for _, x := range []struct {
		data []byte
		into any
	}{{claude, &c}, {cursor, &cur}, {vscode, &v}} {
		if err := json.Unmarshal(x.data, x.into); err != nil {
			t.Fatalf("%s: %v", x.data, err)
		}
	}
	app2 := "http://127.0.0.1:8000/app2/mcp"
	if got := c.MCPServers["pgherd-app2"]; got.Command != "npx" || !slices.Equal(got.Args, []string{"-y", "mcp-remote", app2}) {
		t.Errorf("Claude Desktop entry = %+v", got)
	}
	if got := cur.MCPServers["pgherd-app2"]; got["url"] != app2 || len(got) != 1 {
		t.Errorf("Cursor entry = %v", got)
	}
	if got := v.Servers["pgherd-main"]; got["type"] != "http" || got["url"] != "http://127.0.0.1:8000/mcp" {
		t.Errorf("VS Code entry = %v", got)
	}
	if len(c.MCPServers) != 5 || len(cur.MCPServers) != 5 || len(v.Servers) != 5 {
		t.Errorf("entries: Claude %d, Cursor %d, VS Code %d; want 5 each", len(c.MCPServers), len(cur.MCPServers), len(v.Servers))
	}
}

func TestConfigYAMLHasNoSecrets(t *testing.T) {
	dbs := (&server{}).plan()
	y := configYAML(dbs, 8000)
	for _, d := range dbs {
		if strings.Contains(y, d.password) {
			t.Fatalf("the YAML holds a password:\n%s", y)
		}
		if !strings.Contains(y, "${"+envName(d.Endpoint)+"}") {
			t.Errorf("the YAML does not take %s's URI from %s:\n%s", d.Endpoint, envName(d.Endpoint), y)
		}
	}
}
