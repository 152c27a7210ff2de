package app_test

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/app"
	"github.com/pgherd/pgherd/internal/config"
	"github.com/pgherd/pgherd/internal/pgtest"
	"github.com/pgherd/pgherd/internal/testenv"
)

// tenantNames are the tenants of the isolation fixture; tenant i has
// tenantRows[i] marker rows, so a count alone tells whose rows a caller saw.
var (
	tenantNames = []string{"t1", "t2", "t3"}
	tenantRows  = map[string]int{"t1": 3, "t2": 5, "t3": 7}
)

// tenancy is one database shared by three tenants:
//
//   - notes(id, tenant, marker) with row-level security: each tenant's own
//     login role sees its tenant's rows (policy TO that role), the shared
//     role sees the rows of current_setting('app.tenant_id');
//   - private_tN(marker), readable by tenant N's role only;
//   - every marker is "MK_<run>_<tenant>_…": a response containing
//     "MK_<run>_t2" was shown tenant t2's data.
type tenancy struct {
	db        *pgtest.Database
	run       string
	role      map[string]string // tenant → its login role
	roleURI   map[string]string // tenant → URI as that role
	shared    string            // the shared role (tenant_settings + RLS)
	sharedURI string
	markers   map[string][]string // tenant → its notes markers, sorted
	private   map[string]string   // tenant → the marker in private_<tenant>
	keys      map[string][]string // tenant → its API keys (two users each)
}

// newTenancy creates the roles and the database. Roles are created first so
// that cleanup (last in, first out) drops the database before them.
func newTenancy(t *testing.T) *tenancy {
	t.Helper()
	f := &tenancy{
		run:     strings.ToLower(crand.Text()[:8]),
		role:    map[string]string{},
		roleURI: map[string]string{},
		markers: map[string][]string{},
		private: map[string]string{},
		keys:    map[string][]string{},
	}
	passwords := map[string]string{}
	for _, tn := range tenantNames {
		f.role[tn] = "tn_" + f.run + "_" + tn
		passwords[tn] = pgtest.CreateRole(t, f.role[tn], "")
		f.keys[tn] = []string{tn + "-alpha-" + f.run + "-key", tn + "-beta-" + f.run + "-key"}
	}
	f.shared = "tn_" + f.run + "_shared"
	sharedPW := pgtest.CreateRole(t, f.shared, "")
	f.db = pgtest.NewDatabase(t)
	for _, tn := range tenantNames {
		f.roleURI[tn] = pgtest.URIAs(f.db.Name, f.role[tn], passwords[tn])
	}
	f.sharedURI = pgtest.URIAs(f.db.Name, f.shared, sharedPW)

	id := func(s string) string { return pgx.Identifier{s}.Sanitize() }
	var sql strings.Builder
	fmt.Fprintf(&sql, `
CREATE TABLE notes (id serial PRIMARY KEY, tenant text NOT NULL, marker text NOT NULL);
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY by_setting ON notes TO %[1]s USING (tenant = current_setting('app.tenant_id', true));
GRANT SELECT, INSERT, UPDATE, DELETE ON notes TO %[1]s;
GRANT USAGE ON SEQUENCE notes_id_seq TO %[1]s;
`, id(f.shared))
	for _, tn := range tenantNames {
		r := id(f.role[tn])
		fmt.Fprintf(&sql, `
CREATE POLICY %[2]s ON notes TO %[1]s USING (tenant = '%[3]s');
GRANT SELECT ON notes TO %[1]s;
CREATE TABLE private_%[3]s (marker text);
GRANT SELECT ON private_%[3]s TO %[1]s;
INSERT INTO private_%[3]s VALUES ('MK_%[4]s_%[3]s_private');
INSERT INTO notes (tenant, marker) SELECT '%[3]s', 'MK_%[4]s_%[3]s_' || g FROM generate_series(1, %[5]d) g;
`, r, id(tn+"_rows"), tn, f.run, tenantRows[tn])
		for g := 1; g <= tenantRows[tn]; g++ {
			f.markers[tn] = append(f.markers[tn], fmt.Sprintf("MK_%s_%s_%d", f.run, tn, g))
		}
		sort.Strings(f.markers[tn])
		f.private[tn] = fmt.Sprintf("MK_%s_%s_private", f.run, tn)
	}
	sql.WriteString("ANALYZE;\n")
	pgtest.Exec(t, f.db.URI, sql.String())
	return f
}

// env holds the URIs and keys the YAML refers to.
func (f *tenancy) env() map[string]string {
	env := map[string]string{"SHARED_URI": f.sharedURI}
	for _, tn := range tenantNames {
		u := strings.ToUpper(tn)
		env[u+"_URI"] = f.roleURI[tn]
		env[u+"_KEY_A"] = f.keys[tn][0]
		env[u+"_KEY_B"] = f.keys[tn][1]
	}
	return env
}

// apiKeys is the api_keys list: two keys (users alpha and beta) per tenant.
func (f *tenancy) apiKeys() string {
	var b strings.Builder
	for _, tn := range tenantNames {
		u := strings.ToUpper(tn)
		fmt.Fprintf(&b, "    - {name: %s-alpha, key: \"${%s_KEY_A}\", tenant: %s}\n", tn, u, tn)
		fmt.Fprintf(&b, "    - {name: %s-beta, key: \"${%s_KEY_B}\", tenant: %s}\n", tn, u, tn)
	}
	return b.String()
}

// foreign returns the marker prefix of every tenant but tn.
func (f *tenancy) foreign(tn string) []string {
	var out []string
	for _, o := range tenantNames {
		if o != tn {
			out = append(out, "MK_"+f.run+"_"+o)
		}
	}
	return out
}

// isolationYAML serves the tenancy database twice: /roles/mcp maps each
// tenant to its own login role (tenants.T.database_uri), /shared/mcp uses
// one role and tenant_settings for the RLS policy.
func (f *tenancy) isolationYAML(mode config.SessionMode) string {
	return fmt.Sprintf(`
server: {port: 0, session_mode: %s, shutdown_timeout: 10s}
auth:
  mode: api_key
  api_keys:
%sendpoints:
  roles:
    access_mode: user_ro
    pool: {max_conns: 4, acquire_timeout: 30s}
    tenants:
      t1: {database_uri: "${T1_URI}"}
      t2: {database_uri: "${T2_URI}"}
      t3: {database_uri: "${T3_URI}"}
  shared:
    database_uri: "${SHARED_URI}"
    access_mode: user_ro
    pool: {max_conns: 6, acquire_timeout: 30s}
    tenant_settings: {app.tenant_id: "{tenant}"}
`, mode, f.apiKeys())
}

// idRecorder is an http.RoundTripper that adds fixed headers and records
// the JSON-RPC id of every tools/call the client sends.
type idRecorder struct {
	header http.Header
	base   http.RoundTripper

	mu  sync.Mutex
	ids []string
}

func (r *idRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	for k, v := range r.header {
		req.Header[k] = v
	}
	if req.Body != nil && req.Method == http.MethodPost {
		body, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		var msg struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
		}
		if json.Unmarshal(body, &msg) == nil && msg.Method == "tools/call" {
			r.mu.Lock()
			r.ids = append(r.ids, string(msg.ID))
			r.mu.Unlock()
		}
	}
	return r.base.RoundTrip(req)
}

// connectRecorded is connect with an idRecorder and a shared HTTP
// transport (so 64 clients reuse their connections).
func (s *server) connectRecorded(t *testing.T, path string, tr transport, rec *idRecorder) *mcp.ClientSession {
	t.Helper()
	hc := &http.Client{Transport: rec}
	var ct mcp.Transport
	switch tr {
	case streamable:
		ct = &mcp.StreamableClientTransport{Endpoint: s.Base + path, HTTPClient: hc}
	case legacySSE:
		ct = &mcp.SSEClientTransport{Endpoint: s.Base + strings.TrimSuffix(path, "/mcp") + "/sse", HTTPClient: hc}
	}
	c := mcp.NewClient(&mcp.Implementation{Name: "pgherd-tenant-test", Version: "0"}, nil)
	cs, err := c.Connect(context.Background(), ct, nil)
	if err != nil {
		t.Fatalf("connect %s over %s: %v", path, tr, err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// tenantClient is one of the concurrent clients.
type tenantClient struct {
	n        int
	tenant   string
	endpoint string // roles or shared
	kind     string
	session  *mcp.ClientSession
	rec      *idRecorder
	calls    int
}

// TestTenantIsolationUnderConcurrency is issue 4's headline test: 64
// concurrent go-sdk clients of three tenants — stateless Streamable HTTP,
// stateful Streamable HTTP and legacy SSE on both — make 10,000 tool calls
// (768 by default, every client, kind, endpoint and tenant still in play;
// 10,000 with PGHERD_LONG=1, see testenv.Long) in a random mix on an endpoint that maps each tenant to its own login
// role and on one that uses a shared role with tenant_settings for RLS.
// Their JSON-RPC ids collide (each go-sdk session counts from 1). No
// response may carry another tenant's marker, and every answer must be
// exactly the caller's own data.
//
// list_objects reads the system catalogs, which every role may read: it
// names every table in public, the other tenants' private tables included
// (names, owners, row estimates and sizes — never rows). Isolation is
// therefore checked on data: marker rows never cross tenants, and
// get_object_details shows a privilege on the caller's own private table
// only.
func TestTenantIsolationUnderConcurrency(t *testing.T) {
	const clients = 64
	// 12 calls per client by default: enough for every session's JSON-RPC
	// ids to collide with the other tenants' many times over. The long form
	// is the 10,000.
	totalCalls, deadline := 768, 5*time.Minute
	if testenv.Long() {
		totalCalls, deadline = 10_000, 30*time.Minute
	}
	// The servers run in this process: give them pgherd serve's GOGC
	// (cmd/pgherd tuneGC; DESIGN.md §6) unless the environment chose one.
	if os.Getenv("GOGC") == "" && os.Getenv("GOMEMLIMIT") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(400))
	}
	f := newTenancy(t)
	servers := map[config.SessionMode]*server{
		config.Stateless: start(t, f.isolationYAML(config.Stateless), f.env()),
		config.Stateful:  start(t, f.isolationYAML(config.Stateful), f.env()),
	}
	base := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 128, IdleConnTimeout: time.Minute}
	t.Cleanup(base.CloseIdleConnections)
	kinds := []struct {
		name string
		mode config.SessionMode
		tr   transport
	}{
		{"stateless", config.Stateless, streamable},
		{"stateful", config.Stateful, streamable},
		{"sse-on-stateless", config.Stateless, legacySSE},
		{"sse-on-stateful", config.Stateful, legacySSE},
	}
	endpoints := []string{"roles", "shared"}

	all := make([]*tenantClient, clients)
	for i := range all {
		tn := tenantNames[i%len(tenantNames)]
		k := kinds[i%len(kinds)]
		c := &tenantClient{n: i, tenant: tn, endpoint: endpoints[(i/12)%2], kind: k.name,
			rec:   &idRecorder{header: http.Header{"Authorization": {"Bearer " + f.keys[tn][(i/3)%2]}}, base: base},
			calls: totalCalls / clients}
		if i < totalCalls%clients {
			c.calls++
		}
		c.session = servers[k.mode].connectRecorded(t, "/"+c.endpoint+"/mcp", k.tr, c.rec)
		all[i] = c
	}

	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	var (
		done, leaks, wrong atomic.Int64
		reportMu           sync.Mutex
		reports            []string
	)
	report := func(format string, args ...any) {
		reportMu.Lock()
		defer reportMu.Unlock()
		if len(reports) < 20 {
			reports = append(reports, fmt.Sprintf(format, args...))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	began := time.Now()
	var wg sync.WaitGroup
	for _, c := range all {
		rng := rand.New(rand.NewPCG(uint64(seed), uint64(c.n)))
		wg.Go(func() {
			for range c.calls {
				name, args, check := f.randomCall(rng, c)
				res, err := c.session.CallTool(ctx, &mcp.CallToolParams{Name: c.endpoint + "_" + name, Arguments: args})
				done.Add(1)
				if err != nil {
					wrong.Add(1)
					report("client %d (%s, %s, %s) %s(%v): %v", c.n, c.tenant, c.endpoint, c.kind, name, args, err)
					if ctx.Err() != nil {
						return
					}
					continue
				}
				raw, _ := json.Marshal(res)
				for _, m := range f.foreign(c.tenant) {
					if bytes.Contains(raw, []byte(m)) {
						leaks.Add(1)
						report("LEAK: client %d (%s, %s, %s) %s(%v) shows %s: %s", c.n, c.tenant, c.endpoint, c.kind, name, args, m, raw)
					}
				}
				if msg := check(res); msg != "" {
					wrong.Add(1)
					report("client %d (%s, %s, %s) %s(%v): %s", c.n, c.tenant, c.endpoint, c.kind, name, args, msg)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(began)
	t.Logf("%d calls by %d clients in %v: %.0f calls/s", done.Load(), clients, elapsed.Round(time.Millisecond), float64(done.Load())/elapsed.Seconds())
	for _, r := range reports {
		t.Error(r)
	}
	if done.Load() != int64(totalCalls) || leaks.Load() != 0 || wrong.Load() != 0 {
		t.Fatalf("%d calls made (want %d), %d leaked another tenant's rows, %d other failures", done.Load(), totalCalls, leaks.Load(), wrong.Load())
	}

	// The ids did collide: go-sdk numbers each session's requests from 1, so
	// the same id was in use by clients of different tenants at once.
	byID := map[string]map[string]bool{}
	recorded := 0
	for _, c := range all {
		c.rec.mu.Lock()
		recorded += len(c.rec.ids)
		for _, id := range c.rec.ids {
			if byID[id] == nil {
				byID[id] = map[string]bool{}
			}
			byID[id][c.tenant] = true
		}
		c.rec.mu.Unlock()
	}
	if recorded != totalCalls {
		t.Errorf("recorded %d tools/call requests, want %d", recorded, totalCalls)
	}
	shared := 0
	for _, tenants := range byID {
		if len(tenants) == len(tenantNames) {
			shared++
		}
	}
	if shared < totalCalls/clients/2 {
		t.Errorf("only %d JSON-RPC ids were used by clients of all three tenants; the test means ids to collide", shared)
	}
	t.Logf("%d distinct JSON-RPC ids, %d of them used by all three tenants", len(byID), shared)
}

// randomCall picks a tool call for c and returns the check its result must
// pass ("" when it does).
func (f *tenancy) randomCall(rng *rand.Rand, c *tenantClient) (string, map[string]any, func(*mcp.CallToolResult) string) {
	other := tenantNames[rng.IntN(len(tenantNames))]
	// Catalog tools cost PostgreSQL 15-35 ms each (execute_sql about 1 ms):
	// they get 6% of the calls so that 10,000 calls stay within a minute.
	switch n := rng.IntN(100); {
	case n < 50: // everything visible in notes
		return "execute_sql", map[string]any{"sql": "SELECT tenant, marker FROM notes ORDER BY marker"}, func(res *mcp.CallToolResult) string {
			return f.wantMarkers(res, f.markers[c.tenant])
		}
	case n < 65 && c.endpoint == "roles": // a private table, own or not
		return "execute_sql", map[string]any{"sql": "SELECT marker FROM private_" + other}, func(res *mcp.CallToolResult) string {
			if other == c.tenant {
				return f.wantMarkers(res, []string{f.private[c.tenant]})
			}
			if !res.IsError || !strings.Contains(text(res), "permission denied") {
				return "reading another tenant's private table: want a permission denied tool error, got " + text(res)
			}
			return ""
		}
	case n < 80 && c.endpoint == "roles": // the login role in use
		return "execute_sql", map[string]any{"sql": "SELECT current_user AS u"}, func(res *mcp.CallToolResult) string {
			return wantSingle(res, f.role[c.tenant])
		}
	case n < 80: // an aggregate over what the policy lets through
		return "execute_sql", map[string]any{"sql": "SELECT count(*) AS n FROM notes"}, func(res *mcp.CallToolResult) string {
			return wantSingle(res, fmt.Sprint(tenantRows[c.tenant]))
		}
	case n < 83:
		return "list_objects", map[string]any{}, func(res *mcp.CallToolResult) string {
			if res.IsError || !strings.Contains(text(res), "notes") {
				return "list_objects lacks notes: " + text(res)
			}
			return ""
		}
	case n < 85:
		table := "private_" + other
		return "get_object_details", map[string]any{"object_name": table}, func(res *mcp.CallToolResult) string {
			m, _ := res.StructuredContent.(map[string]any)
			if res.IsError || m == nil {
				return "get_object_details failed: " + text(res)
			}
			privs, _ := m["current_role_privileges"].([]any)
			own := c.endpoint == "roles" && other == c.tenant
			if has := slices.Contains(privs, any("SELECT")); has != own {
				return fmt.Sprintf("privileges on %s = %v, want SELECT: %v", table, privs, own)
			}
			return ""
		}
	case n < 86:
		return "get_object_details", map[string]any{"object_name": "notes"}, func(res *mcp.CallToolResult) string {
			if res.IsError {
				return "get_object_details(notes) failed: " + text(res)
			}
			return ""
		}
	default: // EXPLAIN ANALYZE counts the rows the policy let through
		return "explain_query", map[string]any{"sql": "SELECT * FROM notes", "analyze": true}, func(res *mcp.CallToolResult) string {
			m, _ := res.StructuredContent.(map[string]any)
			top, _ := m["plan"].(map[string]any) // the top plan node
			if res.IsError || top == nil {
				return "explain_query failed: " + text(res)
			}
			if got := top["Actual Rows"]; got != float64(tenantRows[c.tenant]) {
				return fmt.Sprintf("EXPLAIN ANALYZE saw %v rows, want %d (tenant %s's own)", got, tenantRows[c.tenant], c.tenant)
			}
			return ""
		}
	}
}

// wantMarkers checks that an execute_sql result's last column holds exactly
// want, in order.
func (f *tenancy) wantMarkers(res *mcp.CallToolResult, want []string) string {
	m, _ := res.StructuredContent.(map[string]any)
	if res.IsError || m == nil {
		return "execute_sql failed: " + text(res)
	}
	rows, _ := m["rows"].([]any)
	var got []string
	for _, r := range rows {
		cols, _ := r.([]any)
		if len(cols) > 0 {
			got = append(got, fmt.Sprint(cols[len(cols)-1]))
		}
	}
	if !slices.Equal(got, want) {
		return fmt.Sprintf("rows %v, want %v", got, want)
	}
	return ""
}

// wantSingle checks that an execute_sql result is one row of one value.
func wantSingle(res *mcp.CallToolResult, want string) string {
	m, _ := res.StructuredContent.(map[string]any)
	rows, _ := m["rows"].([]any)
	if res.IsError || len(rows) != 1 || fmt.Sprint(rows[0]) != "["+want+"]" {
		return fmt.Sprintf("got %s, want one row [%s]", text(res), want)
	}
	return ""
}

// newApp builds an app from yaml and env without serving HTTP.
func newApp(t *testing.T, yaml string, env map[string]string) *app.App {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), mapEnv(env))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, yaml)
	}
	allowSuperuser(cfg, yaml)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, err := app.New(ctx, cfg, app.Options{Version: "test"})
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	t.Cleanup(a.Close)
	return a
}

// TestStdioIdentity: over stdio there is no HTTP request and no header; the
// identity is the endpoint's configured anonymous one. It selects the
// tenant's own login role (tenants) and fills tenant_settings, so the agent
// sees that tenant's rows only.
func TestStdioIdentity(t *testing.T) {
	f := newTenancy(t)
	a := newApp(t, `
server: {port: 0}
endpoints:
  shared:
    database_uri: "${SHARED_URI}"
    tenant_settings: {app.tenant_id: "{tenant}"}
    auth: {mode: none, required: false, anonymous: {tenant: t1, user: agent}}
  roles:
    tenants:
      t1: {database_uri: "${T1_URI}"}
      t2: {database_uri: "${T2_URI}"}
      t3: {database_uri: "${T3_URI}"}
    # mode api_key only to get past config validation: see
    # TestStdioIdentityModeNoneTenants.
    auth:
      mode: api_key
      required: false
      api_keys: [{name: t2-alpha, key: "${T2_KEY_A}", tenant: t2}]
      anonymous: {tenant: t2}
`, f.env())

	for _, tc := range []struct {
		endpoint, tenant, check, want string
	}{
		{"shared", "t1", "SELECT count(*) FROM notes", fmt.Sprint(tenantRows["t1"])},
		{"roles", "t2", "SELECT current_user", f.role["t2"]},
	} {
		t.Run(tc.endpoint, func(t *testing.T) {
			cs := runStdio(t, a, tc.endpoint)
			res := callOK(t, cs, tc.endpoint+"_execute_sql", map[string]any{"sql": "SELECT tenant, marker FROM notes ORDER BY marker"})
			if msg := f.wantMarkers(&mcp.CallToolResult{StructuredContent: res}, f.markers[tc.tenant]); msg != "" {
				t.Errorf("notes over stdio: %s", msg)
			}
			res = callOK(t, cs, tc.endpoint+"_execute_sql", map[string]any{"sql": tc.check})
			if msg := wantSingle(&mcp.CallToolResult{StructuredContent: res}, tc.want); msg != "" {
				t.Errorf("%s over stdio: %s", tc.check, msg)
			}
		})
	}
}

// runStdio serves endpoint over a pair of pipes with App.RunStdio and
// returns a client session on the other end; cleanup closes the client and
// waits for RunStdio to return.
func runStdio(t *testing.T, a *app.App, endpoint string) *mcp.ClientSession {
	t.Helper()
	clientIn, serverOut := io.Pipe()
	serverIn, clientOut := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.RunStdio(ctx, endpoint, serverIn, serverOut) }()
	c := mcp.NewClient(&mcp.Implementation{Name: "pgherd-stdio-test", Version: "0"}, nil)
	cs, err := c.Connect(ctx, &mcp.IOTransport{Reader: clientIn, Writer: clientOut}, nil)
	if err != nil {
		cancel()
		t.Fatalf("connect over stdio: %v", err)
	}
	t.Cleanup(func() {
		cs.Close()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("RunStdio: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("RunStdio did not return after the client closed")
		}
		cancel()
	})
	return cs
}

// TestStdioIdentityModeNoneTenants: a stdio endpoint whose tenants have
// their own login roles, with auth mode none and an anonymous tenant, is a
// working setup (every call runs as the anonymous tenant, on its own role)
// and must pass config validation.
func TestStdioIdentityModeNoneTenants(t *testing.T) {
	f := newTenancy(t)
	a := newApp(t, `
server: {port: 0}
endpoints:
  roles:
    tenants:
      t1: {database_uri: "${T1_URI}"}
      t2: {database_uri: "${T2_URI}"}
    auth: {mode: none, required: false, anonymous: {tenant: t2}}
`, f.env())
	cs := runStdio(t, a, "roles")
	res := callOK(t, cs, "roles_execute_sql", map[string]any{"sql": "SELECT current_user"})
	if msg := wantSingle(&mcp.CallToolResult{StructuredContent: res}, f.role["t2"]); msg != "" {
		t.Errorf("current_user over stdio: %s", msg)
	}
}

// settingAttempts are statements by which tenant t1 tries to read tenant
// t2's rows by changing app.tenant_id, the setting the RLS policy reads
// (or by getting around the policy some other way).
var settingAttempts = []string{
	"SELECT set_config('app.tenant_id', 't2', false)",
	"SELECT set_config('app.tenant_id', 't2', true)",
	"SELECT pg_catalog.set_config('app.tenant_id', 't2', true)",
	`SELECT "set_config"('app.tenant_id', 't2', true)`,
	"SELECT PG_CATALOG.SET_CONFIG('app.tenant_id', 't2', true)",
	"SELECT set_config('app.tenant_id', 't2', true), * FROM notes",
	"WITH s AS MATERIALIZED (SELECT set_config('app.tenant_id', 't2', true) AS v) SELECT n.* FROM s, LATERAL (SELECT * FROM notes WHERE s.v IS NOT NULL OFFSET 0) n",
	"SELECT n.* FROM set_config('app.tenant_id', 't2', true) s, notes n",
	"SELECT * FROM ROWS FROM (set_config('app.tenant_id', 't2', true))",
	"SELECT n.* FROM notes n, LATERAL (SELECT set_config('app.tenant_id', 't2', true)) s",
	"SELECT (SELECT set_config('app.tenant_id', 't2', true)), (SELECT count(*) FROM notes)",
	"VALUES (set_config('app.tenant_id', 't2', true))",
	"SELECT * FROM notes WHERE set_config('app.tenant_id', 't2', true) IS NOT NULL",
	"SELECT * FROM notes ORDER BY set_config('app.tenant_id', 't2', true)",
	"SELECT * FROM notes WHERE tenant = (SELECT set_config('app.tenant_id', 't2', true))",
	"SELECT set_config(name, 't2', true) FROM pg_settings WHERE name = 'search_path'",
	"SELECT set_config('row_security', 'off', true), * FROM notes",
	"SELECT set_config('role', 'postgres', true)",
	"SET app.tenant_id = 't2'",
	"SET LOCAL app.tenant_id = 't2'",
	"SET SESSION app.tenant_id TO 't2'",
	"SET row_security = off",
	"RESET app.tenant_id",
	"RESET ALL",
	"SET ROLE NONE",
	"RESET ROLE",
	"SET SESSION AUTHORIZATION DEFAULT",
	"SET search_path = pg_temp, public",
	"COMMIT",
	"ROLLBACK",
	"SELECT 1; SELECT set_config('app.tenant_id', 't2', false)",
	"DO $$ BEGIN PERFORM set_config('app.tenant_id', 't2', false); END $$",
	"PREPARE p AS SELECT set_config('app.tenant_id', 't2', false)",
	"DECLARE c CURSOR WITH HOLD FOR SELECT set_config('app.tenant_id', 't2', false)",
	"ALTER ROLE CURRENT_USER SET app.tenant_id = 't2'",
	"CREATE FUNCTION public.t2() RETURNS text LANGUAGE sql AS $$ SELECT set_config('app.tenant_id', 't2', false) $$",
	"COPY (SELECT set_config('app.tenant_id', 't2', false)) TO STDOUT",
	"EXPLAIN ANALYZE SELECT set_config('app.tenant_id', 't2', false)",
	// Not a setting change, and allowed: it must just find nothing.
	"SELECT * FROM notes WHERE tenant = 't2'",
	// Writes (user_rw): the policy's USING also checks new rows.
	"INSERT INTO notes (tenant, marker) VALUES ('t2', 'planted')",
	"UPDATE notes SET tenant = 't2'",
	"INSERT INTO notes (tenant, marker) VALUES ('t1', 'x') RETURNING set_config('app.tenant_id', 't2', true)",
	"WITH u AS (UPDATE notes SET marker = marker RETURNING set_config('app.tenant_id', 't2', true)) SELECT * FROM u",
	"DELETE FROM notes WHERE set_config('app.tenant_id', 't2', true) IS NOT NULL",
}

// TestTenantSettingCannotBeChanged: on an endpoint using one shared role
// and tenant_settings, tenant t1 cannot change app.tenant_id (or get around
// the RLS policy) with any statement, in every mode where SQL is validated:
// each attempt is refused, or runs without effect, and the next call on the
// same connection (max_conns 1) still sees t1's rows only. In admin_rw,
// where SQL is not validated, the setting is no boundary; the last subtest
// shows it, as docs/security.md says.
func TestTenantSettingCannotBeChanged(t *testing.T) {
	f := newTenancy(t)
	var eps strings.Builder
	for _, mode := range []string{"user_ro", "user_rw", "admin_ro", "admin_rw"} {
		fmt.Fprintf(&eps, `
  %s:
    database_uri: "${SHARED_URI}"
    access_mode: %s
    pool: {max_conns: 1}
    tenant_settings: {app.tenant_id: "{tenant}"}`, strings.ReplaceAll(mode, "_", ""), mode)
	}
	s := start(t, fmt.Sprintf(`
server: {port: 0}
auth:
  mode: api_key
  api_keys:
%sendpoints:%s
`, f.apiKeys(), eps.String()), f.env())
	t1 := http.Header{"Authorization": {"Bearer " + f.keys["t1"][0]}}

	for _, ep := range []string{"userro", "userrw", "adminro"} {
		t.Run(ep, func(t *testing.T) {
			cs := s.connect(t, "/"+ep+"/mcp", streamable, t1)
			var refused, ran []string
			for _, sql := range settingAttempts {
				for _, tool := range []string{"execute_sql", "explain_query"} {
					args := map[string]any{"sql": sql}
					if tool == "explain_query" {
						args["analyze"] = true
					}
					res := call(t, cs, ep+"_"+tool, args)
					raw, _ := json.Marshal(res)
					for _, m := range f.foreign("t1") {
						if bytes.Contains(raw, []byte(m)) {
							t.Errorf("%s(%q) shows another tenant's rows: %s", tool, sql, raw)
						}
					}
					if tool == "execute_sql" {
						if res.IsError {
							refused = append(refused, sql)
						} else {
							ran = append(ran, sql)
						}
					}
					// The next call runs on the same connection (one per
					// pool) and must see t1's rows only.
					after := call(t, cs, ep+"_execute_sql", map[string]any{"sql": "SELECT tenant, marker FROM notes WHERE marker LIKE 'MK%' ORDER BY marker"})
					if msg := f.wantMarkers(after, f.markers["t1"]); msg != "" {
						t.Errorf("after %s(%q): %s", tool, sql, msg)
					}
				}
			}
			if ep == "adminro" {
				got := callOK(t, cs, ep+"_execute_sql", map[string]any{"sql": "SELECT current_setting('app.tenant_id')"})
				if msg := wantSingle(&mcp.CallToolResult{StructuredContent: got}, "t1"); msg != "" {
					t.Errorf("app.tenant_id after every attempt: %s", msg)
				}
			}
			t.Logf("%s: %d attempts refused, %d ran without effect: %q", ep, len(refused), len(ran), ran)
		})
	}

	t.Run("admin_rw is no boundary", func(t *testing.T) {
		cs := s.connect(t, "/adminrw/mcp", streamable, t1)
		res := callOK(t, cs, "adminrw_execute_sql", map[string]any{"sql": settingAttempts[6]}) // the MATERIALIZED CTE
		raw, _ := json.Marshal(res)
		if !bytes.Contains(raw, []byte("MK_"+f.run+"_t2")) {
			t.Errorf("admin_rw: the CTE that sets app.tenant_id first did not read t2's rows (%s); "+
				"if admin_rw now protects the setting, update docs/security.md", raw)
		}
		// The next call starts from the verified identity again.
		after := callOK(t, cs, "adminrw_execute_sql", map[string]any{"sql": "SELECT tenant, marker FROM notes ORDER BY marker"})
		if msg := f.wantMarkers(&mcp.CallToolResult{StructuredContent: after}, f.markers["t1"]); msg != "" {
			t.Errorf("admin_rw, next call: %s", msg)
		}
	})
}

// TestStdioIdentityScopes: the configured identity over stdio is the whole
// identity, scopes included: with anonymous scopes [read] on a user_rw
// endpoint, execute_sql (tagged write) is absent from tools/list and
// refused as a tool error, as it is over HTTP for the same anonymous
// identity.
func TestStdioIdentityScopes(t *testing.T) {
	f := newTenancy(t)
	yaml := `
server: {port: 0}
endpoints:
  shared:
    database_uri: "${SHARED_URI}"
    access_mode: user_rw
    tenant_settings: {app.tenant_id: "{tenant}"}
    auth: {mode: none, required: false, anonymous: {tenant: t1, scopes: [read]}}
`
	want := []string{"shared_explain_query", "shared_get_object_details", "shared_list_objects"}
	httpSession := start(t, yaml, f.env()).connect(t, "/shared/mcp", streamable, nil)
	if got := toolNames(t, httpSession); !slices.Equal(got, want) {
		t.Fatalf("tools over HTTP for the anonymous identity with scopes [read] = %v, want %v", got, want)
	}

	cs := runStdio(t, newApp(t, yaml, f.env()), "shared")
	if got := toolNames(t, cs); !slices.Equal(got, want) {
		t.Errorf("tools over stdio for an identity with scopes [read] = %v, want %v", got, want)
	}
	res := call(t, cs, "shared_execute_sql", map[string]any{"sql": "SELECT 1"})
	if !res.IsError || !strings.Contains(text(res), "write") {
		t.Errorf("execute_sql (write) over stdio with scopes [read]: %s, want a tool error naming the scope", text(res))
	}
}
