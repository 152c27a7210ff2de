package console_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/demo"
	"github.com/pgherd/pgherd/internal/pgtest"
	"github.com/pgherd/pgherd/internal/testenv"
)

// screenshots is where the browser tests write a screenshot of each page
// (a test artifact); go test ./internal/console -run TestBrowser -args
// -screenshots ../../docs/console rewrites the documentation's.
var screenshots = flag.String("screenshots", "", "directory for the pages' screenshots (default: $PGHERD_ARTIFACTS/console, else a temporary directory)")

func artifactDir(t *testing.T) string {
	t.Helper()
	dir := *screenshots
	if dir == "" {
		if a := os.Getenv("PGHERD_ARTIFACTS"); a != "" {
			dir = filepath.Join(a, "console")
		} else {
			dir = filepath.Join(os.TempDir(), "pgherd-console-screenshots")
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browser is a headless Chromium driven over the DevTools protocol, with
// every request the page makes recorded.
type browser struct {
	ctx  context.Context
	mu   sync.Mutex
	urls []string
}

// newBrowser starts Debian's chromium for t (skipped locally, failed in
// CI, when it is missing) with the flags this machine needs: no sandbox
// (root), no GPU, and no background networking of Chromium's own.
func newBrowser(t *testing.T, width, height int64) *browser {
	t.Helper()
	path := testenv.LookPath(t, "chromium", "install Debian's chromium package (scripts/deps.sh test does, as root)", "/usr/bin")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.WindowSize(int(width), int(height)),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	b := &browser{}
	bctx, cancelB := chromedp.NewContext(actx, chromedp.WithListener(func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			b.mu.Lock()
			b.urls = append(b.urls, e.Request.URL)
			b.mu.Unlock()
		}
	}))
	t.Cleanup(func() {
		cancelB()
		cancelA()
	})
	b.ctx = bctx
	// The first Do starts the browser and lives as long as bctx: it gets
	// no deadline of its own (that would end the browser), so a watchdog
	// ends a start that hangs.
	started := make(chan error, 1)
	go func() {
		started <- chromedp.Do(bctx,
			chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{})
				return err
			}),
			chromedp.EmulateViewport(width, height, func(p *emulation.SetDeviceMetricsOverrideParams, _ *emulation.SetTouchEmulationEnabledParams) {
				p.Mobile = width < 600
			}))
	}()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("starting chromium: %v", err)
		}
	case <-time.After(60 * time.Second):
		cancelB()
		t.Fatal("chromium did not start within 60s")
	}
	return b
}

// run runs actions with a deadline, failing t with what was being done.
func (b *browser) run(t *testing.T, what string, timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression into out.
func eval[T any](t *testing.T, b *browser, js string, out *T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluating %s: %v", js, err)
	}
	*out = v
}

// screenshot writes the viewport as name.png into the artifacts.
func (b *browser) screenshot(t *testing.T, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(artifactDir(t), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s (%d KiB)", path, len(png)/1024)
}

// outside returns the requests the page made to any host but base's.
func (b *browser) outside(base string) []string {
	u, _ := url.Parse(base)
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, raw := range b.urls {
		r, err := url.Parse(raw)
		if err != nil || (r.Scheme != "data" && r.Scheme != "about" && r.Host != u.Host) {
			out = append(out, raw)
		}
	}
	return out
}

// requests returns how many requests the page made.
func (b *browser) requests() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.urls)
}

// startDemo starts pgherd demo on the test cluster and returns a func
// that waits until it serves and returns its base URL (so the browser
// starts meanwhile).
func startDemo(t *testing.T) func() string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- demo.Run(ctx, demo.Options{DatabaseURL: pgtest.URI("postgres"), Version: "test",
			OnReady: func(base string) { ready <- base }})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return func() string {
		t.Helper()
		select {
		case base := <-ready:
			return base
		case err := <-done:
			done <- err
			t.Fatalf("the demo ended before serving: %v", err)
		case <-time.After(3 * time.Minute):
			t.Fatal("the demo did not start within 3 minutes")
		}
		return ""
	}
}

// mcpClient connects a go-sdk client to an MCP endpoint.
func mcpClient(t *testing.T, endpoint string, header map[string]string) *mcp.ClientSession {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "console-test", Version: "1"}, nil)
	tr := &mcp.StreamableClientTransport{Endpoint: endpoint, DisableStandaloneSSE: true}
	if len(header) > 0 {
		tr.HTTPClient = http0{header: header}.client()
	}
	s, err := client.Connect(ctx, tr, nil)
	if err != nil {
		t.Fatalf("connecting to %s: %v", endpoint, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// countNodes counts the nodes of an EXPLAIN (FORMAT JSON) plan tree.
func countNodes(n map[string]any) int {
	c := 1
	kids, _ := n["Plans"].([]any)
	for _, k := range kids {
		if m, ok := k.(map[string]any); ok {
			c += countNodes(m)
		}
	}
	return c
}

// waitJS polls a boolean JavaScript expression until it is true or
// timeout passes, and returns how long it took.
func (b *browser) waitJS(t *testing.T, what, js string, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingInterval(20*time.Millisecond))); err != nil {
		t.Fatalf("%s: %s did not become true within %s: %v", what, js, timeout, err)
	}
	return time.Since(start)
}

// waitDrawn waits until the output box out holds an element matching
// want, failing t with the page's error box when it shows one instead.
func (b *browser) waitDrawn(t *testing.T, what, out, want string, timeout time.Duration) {
	t.Helper()
	b.waitJS(t, what, `document.querySelector(`+jsString(out+" "+want)+`) !== null || document.querySelector(`+jsString(out+" .error-box")+`) !== null`, timeout)
	var errText string
	eval(t, b, `(document.querySelector(`+jsString(out+" .error-box")+`) || {textContent: ""}).textContent`, &errText)
	if errText != "" {
		t.Fatalf("%s: the page shows the error %q", what, errText)
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestBrowserDemo drives the console of pgherd demo (loopback, auth none:
// no sign-in) through every page in a real Chromium.
func TestBrowserDemo(t *testing.T) {
	demoReady := startDemo(t)
	b := newBrowser(t, 1280, 860)
	start := time.Now()
	base := demoReady()
	t.Logf("the demo served %s after the browser started", time.Since(start).Round(time.Millisecond))

	// Herd: the demo's four endpoints with their modes, all ready.
	b.run(t, "opening the console", 30*time.Second, chromedp.Navigate(base+"/ui/"),
		chromedp.WaitVisible(chromedp.CSS(`#herd-cards [data-endpoint="app4"]`)))
	b.waitJS(t, "herd states", `document.querySelectorAll('#herd-cards .state.st-ready').length === 4`, 15*time.Second)
	var herd []string
	eval(t, b, `Array.from(document.querySelectorAll('#herd-cards [data-endpoint]')).map(c => c.dataset.endpoint + " " + c.querySelector('.mode').textContent + " " + c.querySelector('.state').textContent)`, &herd)
	want := []string{"app1 user_ro ready", "app2 user_rw ready", "app3 admin_ro ready", "app4 admin_rw ready"}
	if strings.Join(herd, ",") != strings.Join(want, ",") {
		t.Errorf("Herd page lists %q, want %q", herd, want)
	}
	b.screenshot(t, "herd")

	// Live calls: a call made through MCP appears within a second, its
	// SQL (with a <script> in it) shown as text.
	b.run(t, "opening Live calls", 20*time.Second, chromedp.Navigate(base+"/ui/#live"),
		chromedp.WaitVisible(chromedp.CSS(`#page-live`)))
	b.waitJS(t, "event stream", `document.getElementById('live-state').textContent === 'live'`, 10*time.Second)
	app1 := mcpClient(t, base+"/app1/mcp", nil)
	marker := fmt.Sprintf("console-%d", time.Now().UnixNano())
	sql := "SELECT '<script>window.pwned = 1</script>' AS x, '" + marker + "' AS marker"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := app1.CallTool(ctx, &mcp.CallToolParams{Name: "app1_execute_sql", Arguments: map[string]any{"sql": sql}})
	if err != nil || res.IsError {
		t.Fatalf("execute_sql: %v %v", err, res)
	}
	took := b.waitJS(t, "the call in Live calls",
		`Array.from(document.querySelectorAll('#finished tbody tr')).some(r => r.textContent.includes(`+jsString(marker)+`))`, 5*time.Second)
	if took > time.Second {
		t.Errorf("the call appeared in Live calls %s after it returned, want within 1s", took)
	}
	var shown struct {
		Text    string `json:"text"`
		Scripts int    `json:"scripts"`
		Pwned   bool   `json:"pwned"`
	}
	eval(t, b, `(() => { const r = Array.from(document.querySelectorAll('#finished tbody tr')).find(r => r.textContent.includes(`+jsString(marker)+`));
		return {text: r.querySelector('.sql').textContent, scripts: document.querySelectorAll('main script').length, pwned: window.pwned === 1}; })()`, &shown)
	if shown.Text != sql || shown.Scripts != 0 || shown.Pwned {
		t.Errorf("Live calls shows the SQL as %q (%d script elements in the page, pwned %v); want the text %q and no script", shown.Text, shown.Scripts, shown.Pwned, sql)
	}

	// Cancel a pg_sleep from the page: the statement ends in PostgreSQL.
	app4 := mcpClient(t, base+"/app4/mcp", nil)
	sleepDone := make(chan *mcp.CallToolResult, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		r, err := app4.CallTool(ctx, &mcp.CallToolParams{Name: "app4_execute_sql", Arguments: map[string]any{"sql": "SELECT pg_sleep(60) AS " + "slept_" + marker[8:]}})
		if err != nil {
			r = &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: err.Error()}}}
		}
		sleepDone <- r
	}()
	sleeping := `SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()`
	waitDB(t, "pg_sleep running in PostgreSQL", sleeping, 1, 20*time.Second)
	b.waitJS(t, "the running call", `document.querySelector('#running [data-cancel]') !== null && document.querySelector('#running .sql').textContent.includes('pg_sleep(60)')`, 10*time.Second)
	b.screenshot(t, "live")
	// The running table is redrawn every second (durations), so a
	// protocol-level click can hit a node that was just replaced: the
	// page clicks its current button itself.
	var clicked bool
	eval(t, b, `(() => { const c = document.querySelector('#running [data-cancel]'); if (c) c.click(); return c !== null; })()`, &clicked)
	if !clicked {
		t.Fatal("no Cancel button on the running call")
	}
	select {
	case r := <-sleepDone:
		if !r.IsError {
			t.Errorf("the cancelled pg_sleep call succeeded: %v", r.Content)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the pg_sleep call did not end within 20s of Cancel")
	}
	waitDB(t, "pg_sleep gone from pg_stat_activity", sleeping, 0, 10*time.Second)
	b.waitJS(t, "the cancelled call listed", `Array.from(document.querySelectorAll('#finished tbody tr')).some(r => r.textContent.includes('pg_sleep(60)') && r.textContent.includes('cancelled by operator'))`, 5*time.Second)

	// Plan viewer: the drawn tree has the plan's nodes, and the
	// hypothetical index is marked as used.
	planSQL := "SELECT o.id, c.name FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.customer_id = 42 ORDER BY o.id"
	app3 := mcpClient(t, base+"/app3/mcp", nil)
	hypo := []map[string]any{{"table": "orders", "columns": []string{"customer_id"}}}
	ex, err := app3.CallTool(ctx, &mcp.CallToolParams{Name: "app3_explain_query", Arguments: map[string]any{"sql": planSQL, "hypothetical_indexes": hypo}})
	if err != nil || ex.IsError {
		t.Fatalf("explain_query: %v %v", err, ex)
	}
	var plan struct {
		Plan map[string]any `json:"plan"`
	}
	raw, _ := json.Marshal(ex.StructuredContent)
	json.Unmarshal(raw, &plan)
	wantNodes := countNodes(plan.Plan)

	b.run(t, "explaining in the plan viewer", 30*time.Second,
		chromedp.Navigate(base+"/ui/#plan"),
		chromedp.WaitReady(chromedp.CSS(`#p-endpoint option[value="app3"]`)),
		chromedp.SetValue(chromedp.CSS(`#p-endpoint`), "app3"),
		chromedp.SetValue(chromedp.CSS(`#p-sql`), planSQL),
		chromedp.Click(chromedp.CSS(`#p-hypo-add`)),
		chromedp.SendKeys(chromedp.CSS(`#p-hypo-rows .h-table`), "orders"),
		chromedp.SendKeys(chromedp.CSS(`#p-hypo-rows .h-columns`), "customer_id"),
		chromedp.Click(chromedp.CSS(`#p-run`)),
	)
	b.waitDrawn(t, "the plan", "#plan-out", ".plan-node", 30*time.Second)
	var drawn struct {
		Nodes int  `json:"nodes"`
		Hypo  bool `json:"hypo"`
		Used  bool `json:"used"`
	}
	eval(t, b, `({nodes: document.querySelectorAll('#plan-out .plan-node').length,
		hypo: document.querySelector('#plan-out .plan-node[data-hypothetical]') !== null,
		used: document.querySelector('#plan-out .plan-hypo li.used') !== null})`, &drawn)
	if drawn.Nodes != wantNodes || !drawn.Hypo || !drawn.Used {
		t.Errorf("plan viewer drew %d nodes (hypothetical index node %v, listed as used %v); want %d nodes, the index used", drawn.Nodes, drawn.Hypo, drawn.Used, wantNodes)
	}
	b.run(t, "clicking the hypothetical index's node", 10*time.Second,
		chromedp.Click(chromedp.CSS(`#plan-out .plan-node[data-hypothetical]`)),
		chromedp.WaitVisible(chromedp.CSS(`#plan-out .plan-details table`)))
	b.screenshot(t, "plan")

	// Health: the admin endpoint's checks and top queries.
	b.run(t, "checking health", 60*time.Second,
		chromedp.Navigate(base+"/ui/#health"),
		chromedp.WaitReady(chromedp.CSS(`#h-endpoint option[value="app3"]`)),
		chromedp.SetValue(chromedp.CSS(`#h-endpoint`), "app3"),
		chromedp.Click(chromedp.CSS(`#h-run`)),
	)
	b.waitDrawn(t, "the health checks", "#health-out", ".checks", 60*time.Second)
	b.screenshot(t, "health")

	if out := b.outside(base); len(out) > 0 {
		t.Errorf("the pages requested other hosts than pgherd's: %q", out)
	}
	t.Logf("%d requests, all to %s", b.requests(), base)

	planApp(t, b, app3, ex, wantNodes)
	if out := b.outside(base); len(out) > 0 {
		t.Errorf("the plan App requested other hosts: %q", out)
	}
}

// planApp plays an MCP host that renders UI resources: explain_query
// names its App in _meta.ui.resourceUri, the host reads that ui://
// resource and shows it in a sandboxed frame, answers its ui/initialize
// and sends it the tool's result; the App draws the plan's nodes.
func planApp(t *testing.T, b *browser, cs *mcp.ClientSession, result *mcp.CallToolResult, wantNodes int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var uri string
	for tool, err := range cs.Tools(ctx, nil) {
		if err != nil {
			t.Fatal(err)
		}
		if tool.Name == "app3_explain_query" {
			ui, _ := tool.Meta["ui"].(map[string]any)
			uri, _ = ui["resourceUri"].(string)
		}
	}
	if uri != "ui://pgherd/app3/plan" {
		t.Fatalf("app3_explain_query's _meta.ui.resourceUri = %q, want ui://pgherd/app3/plan", uri)
	}
	res, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: uri})
	if err != nil || len(res.Contents) != 1 {
		t.Fatalf("reading %s: %v %+v", uri, err, res)
	}
	page := res.Contents[0]
	if page.MIMEType != "text/html;profile=mcp-app" || !strings.Contains(page.Text, "PgherdPlan") {
		t.Fatalf("%s: MIME type %q, %d bytes", uri, page.MIMEType, len(page.Text))
	}
	raw, _ := json.Marshal(result)
	b.run(t, "hosting the plan App", 20*time.Second, chromedp.Navigate("about:blank"))
	var started bool
	eval(t, b, `(() => {
		const f = document.createElement("iframe");
		f.id = "app";
		f.setAttribute("sandbox", "allow-scripts allow-same-origin");
		f.style.cssText = "width: 1260px; height: 840px; border: 0";
		window.seen = [];
		window.addEventListener("message", e => {
			if (e.source !== f.contentWindow) return;
			const m = e.data;
			window.seen.push(m.method || "response");
			if (m.method === "ui/initialize") {
				f.contentWindow.postMessage({jsonrpc: "2.0", id: m.id, result: {protocolVersion: "2026-01-26",
					hostInfo: {name: "pgherd-test-host", version: "1"}, hostCapabilities: {}, hostContext: {}}}, "*");
			} else if (m.method === "ui/notifications/initialized") {
				f.contentWindow.postMessage({jsonrpc: "2.0", method: "ui/notifications/tool-result", params: `+string(raw)+`}, "*");
			}
		});
		f.srcdoc = `+jsString(page.Text)+`;
		document.body.style.margin = "0";
		document.body.appendChild(f);
		return true;
	})()`, &started)
	b.waitJS(t, "the App's drawn plan", `(() => { const d = document.getElementById("app").contentDocument; return d !== null && d.querySelectorAll(".plan-node").length > 0; })()`, 15*time.Second)
	var drawn struct {
		Nodes int      `json:"nodes"`
		Used  bool     `json:"used"`
		Seen  []string `json:"seen"`
	}
	eval(t, b, `(() => { const d = document.getElementById("app").contentDocument;
		return {nodes: d.querySelectorAll(".plan-node").length, used: d.querySelector(".plan-hypo li.used") !== null, seen: window.seen}; })()`, &drawn)
	if drawn.Nodes != wantNodes || !drawn.Used {
		t.Errorf("the plan App drew %d nodes (hypothetical index used %v), want %d and used", drawn.Nodes, drawn.Used, wantNodes)
	}
	if len(drawn.Seen) < 2 || drawn.Seen[0] != "ui/initialize" || drawn.Seen[1] != "ui/notifications/initialized" {
		t.Errorf("the App sent %q, want ui/initialize then ui/notifications/initialized", drawn.Seen)
	}
	b.screenshot(t, "plan-app")
}

// waitDB polls a count query on the test server until it returns want.
func waitDB(t *testing.T, what, sql string, want int64, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		got := pgtest.QueryValue[int64](t, pgtest.URI("postgres"), sql)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s returned %d for %s, want %d", what, sql, got, timeout, want)
		}
		<-tick.C
	}
}
