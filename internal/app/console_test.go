package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/pgtest"
)

// Keys of the console tests.
const (
	opsKey    = "ops-key-0123456789abcdef0123" // scopes console, read, admin
	noConsole = "plain-key-0123456789abcdef01" // scopes read: no console
)

const consoleYAML = `
server:
  host: 127.0.0.1
  console: {enabled: true}
auth:
  mode: api_key
  api_keys:
    - {name: ops, key: "${OPS}", tenant: ops, scopes: [console, read, admin]}
    - {name: plain, key: "${PLAIN}", tenant: acme, scopes: [read]}
endpoints:
  app1: {database_uri: "${DB}", access_mode: user_ro}
`

// consoleClient is a browser-like HTTP client: a cookie jar, redirects not
// followed (the tests look at them).
func consoleClient(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type consoleResp struct {
	status int
	header http.Header
	body   string
}

func consoleDo(t *testing.T, c *http.Client, method, u string, body io.Reader, header map[string]string) consoleResp {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		if k == "Host" {
			req.Host = v
		}
		req.Header.Set(k, v)
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return consoleResp{res.StatusCode, res.Header, string(b)}
}

var signinToken = regexp.MustCompile(`name="token" value="([^"]+)"`)
var csrfMeta = regexp.MustCompile(`name="pgherd-csrf" content="([^"]+)"`)

// consoleSignin fetches the sign-in form and posts key with its token.
func consoleSignin(t *testing.T, c *http.Client, base, key string, header ...string) consoleResp {
	t.Helper()
	page := consoleDo(t, c, "GET", base+"/ui/signin", nil, nil)
	m := signinToken.FindStringSubmatch(page.body)
	if page.status != http.StatusOK || m == nil {
		t.Fatalf("GET /ui/signin: %d, no form token:\n%s", page.status, page.body)
	}
	form := url.Values{"token": {m[1]}, "key": {key}}
	h := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	for i := 0; i+1 < len(header); i += 2 {
		h[header[i]] = header[i+1]
	}
	return consoleDo(t, c, "POST", base+"/ui/signin", strings.NewReader(form.Encode()), h)
}

func TestConsoleSignin(t *testing.T) {
	db := pgtest.NewDatabase(t)
	pgtest.Exec(t, db.URI, fixture)
	s := start(t, consoleYAML, map[string]string{"DB": db.URI, "OPS": opsKey, "PLAIN": noConsole})
	c := consoleClient(t)

	// Nothing without a session.
	if r := consoleDo(t, c, "GET", s.Base+"/ui/", nil, nil); r.status != http.StatusSeeOther || r.header.Get("Location") != "/ui/signin" {
		t.Errorf("GET /ui/ without a session: %d to %q, want 303 to /ui/signin", r.status, r.header.Get("Location"))
	}
	for _, p := range []string{"/ui/api/herd", "/ui/api/calls", "/ui/api/me", "/ui/api/events"} {
		if r := consoleDo(t, c, "GET", s.Base+p, nil, nil); r.status != http.StatusUnauthorized {
			t.Errorf("GET %s without a session: %d, want 401", p, r.status)
		}
	}
	// A key on the Authorization header is not a session either.
	if r := consoleDo(t, c, "GET", s.Base+"/ui/api/herd", nil, map[string]string{"Authorization": "Bearer " + opsKey}); r.status != http.StatusUnauthorized {
		t.Errorf("GET /ui/api/herd with a bearer key and no session: %d, want 401", r.status)
	}

	// Refused: a wrong key, a key without the console scope, a form
	// without its token (or posted from another site).
	if r := consoleSignin(t, c, s.Base, "wrong-key-0123456789abcdef"); r.status != http.StatusUnauthorized || !strings.Contains(r.body, "not valid") {
		t.Errorf("sign-in with a wrong key: %d\n%s", r.status, r.body)
	}
	if r := consoleSignin(t, c, s.Base, noConsole); r.status != http.StatusForbidden || !strings.Contains(r.body, "console") {
		t.Errorf("sign-in with a key without the console scope: %d\n%s", r.status, r.body)
	}
	form := url.Values{"token": {"made-up"}, "key": {opsKey}}
	if r := consoleDo(t, c, "POST", s.Base+"/ui/signin", strings.NewReader(form.Encode()),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"}); r.status != http.StatusForbidden {
		t.Errorf("sign-in without the form's token: %d, want 403", r.status)
	}
	if r := consoleSignin(t, c, s.Base, opsKey, "Origin", "https://evil.example"); r.status != http.StatusForbidden || !strings.Contains(r.body, "forbidden_origin") {
		t.Errorf("sign-in posted from another origin: %d, want 403 forbidden_origin\n%s", r.status, r.body)
	}
	if r := consoleSignin(t, c, s.Base, opsKey, "Host", "evil.example"); r.status == http.StatusSeeOther {
		t.Errorf("sign-in through another Host name (DNS rebinding) succeeded")
	}
	if r := consoleDo(t, c, "GET", s.Base+"/ui/", nil, nil); r.status != http.StatusSeeOther {
		t.Errorf("GET /ui/ after refused sign-ins: %d, want 303", r.status)
	}

	// Signed in: an HttpOnly, SameSite=Strict cookie, never the key.
	r := consoleSignin(t, c, s.Base, opsKey)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/ui/" {
		t.Fatalf("sign-in with the ops key: %d to %q\n%s", r.status, r.header.Get("Location"), r.body)
	}
	var session *http.Cookie
	for _, ck := range (&http.Response{Header: r.header}).Cookies() {
		if ck.Name == "pgherd_console" && ck.Value != "" {
			session = ck
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Path != "/ui/" {
		t.Fatalf("session cookie %+v, want HttpOnly, SameSite=Strict, Path /ui/", session)
	}
	if strings.Contains(session.Value, opsKey) {
		t.Error("the session cookie holds the key")
	}
	page := consoleDo(t, c, "GET", s.Base+"/ui/", nil, nil)
	m := csrfMeta.FindStringSubmatch(page.body)
	if page.status != http.StatusOK || m == nil {
		t.Fatalf("GET /ui/ signed in: %d, no CSRF token\n%s", page.status, page.body)
	}
	csrf := m[1]
	if csp := page.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	me := consoleDo(t, c, "GET", s.Base+"/ui/api/me", nil, nil)
	herd := consoleDo(t, c, "GET", s.Base+"/ui/api/herd", nil, nil)
	if me.status != 200 || herd.status != 200 || !strings.Contains(me.body, `"key":"ops"`) || !strings.Contains(herd.body, `"app1"`) {
		t.Errorf("signed in: /api/me %d %s; /api/herd %d %s", me.status, me.body, herd.status, herd.body)
	}
	for _, b := range []string{page.body, me.body, herd.body} {
		if strings.Contains(b, opsKey) || strings.Contains(b, db.URI) || strings.Contains(b, "password") {
			t.Errorf("a console response shows a key, the database URI or a password:\n%s", b)
		}
	}

	// CSRF: every action needs the session's token in its header.
	plan := `{"endpoint":"app1","sql":"SELECT * FROM customers WHERE id = 1"}`
	for name, h := range map[string]map[string]string{
		"no token":    {"Content-Type": "application/json"},
		"wrong token": {"Content-Type": "application/json", "X-Pgherd-Csrf": strings.Repeat("A", len(csrf))},
	} {
		if r := consoleDo(t, c, "POST", s.Base+"/ui/api/plan", strings.NewReader(plan), h); r.status != http.StatusForbidden {
			t.Errorf("POST /ui/api/plan with %s: %d, want 403\n%s", name, r.status, r.body)
		}
	}
	if r := consoleDo(t, c, "POST", s.Base+"/ui/api/plan", strings.NewReader(plan),
		map[string]string{"Content-Type": "application/json", "X-Pgherd-Csrf": csrf, "Origin": "https://evil.example"}); r.status != http.StatusForbidden {
		t.Errorf("POST /ui/api/plan from another origin: %d, want 403", r.status)
	}
	r = consoleDo(t, c, "POST", s.Base+"/ui/api/plan", strings.NewReader(plan), map[string]string{"Content-Type": "application/json", "X-Pgherd-Csrf": csrf})
	var got struct {
		Plan  map[string]any `json:"plan"`
		Error string         `json:"error"`
	}
	if err := json.Unmarshal([]byte(r.body), &got); err != nil || r.status != 200 || got.Plan == nil {
		t.Errorf("POST /ui/api/plan with the token: %d %v\n%s", r.status, err, r.body)
	}

	// SQL text is data: the JSON escapes <, > and &, and the pages build
	// the DOM with textContent (the browser test checks that).
	cs := s.connect(t, "/app1/mcp", streamable, http.Header{"Authorization": {"Bearer " + opsKey}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "app1_execute_sql", Arguments: map[string]any{"sql": "SELECT '<script>alert(1)</script>' AS x"}})
	if err != nil || res.IsError {
		t.Fatalf("execute_sql: %v %+v", err, res)
	}
	calls := consoleDo(t, c, "GET", s.Base+"/ui/api/calls", nil, nil)
	if !strings.Contains(calls.body, `\u003cscript\u003ealert(1)\u003c/script\u003e`) || strings.Contains(calls.body, "<script>") {
		t.Errorf("/ui/api/calls does not escape the SQL text:\n%s", calls.body)
	}
	if ct := calls.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("/ui/api/calls Content-Type %q", ct)
	}

	// Signing out ends the session (with the token, like any action).
	if r := consoleDo(t, c, "POST", s.Base+"/ui/signout", nil, map[string]string{"X-Pgherd-Csrf": csrf}); r.status != 200 {
		t.Errorf("sign out: %d %s", r.status, r.body)
	}
	if r := consoleDo(t, c, "GET", s.Base+"/ui/api/herd", nil, nil); r.status != http.StatusUnauthorized {
		t.Errorf("GET /ui/api/herd after signing out: %d, want 401", r.status)
	}
}

// TestConsoleOffByDefault: with auth configured and no server.console
// block, /ui is not served at all.
func TestConsoleOffByDefault(t *testing.T) {
	db := pgtest.NewDatabase(t)
	yaml := strings.Replace(consoleYAML, "  console: {enabled: true}\n", "", 1)
	s := start(t, yaml, map[string]string{"DB": db.URI, "OPS": opsKey, "PLAIN": noConsole})
	c := consoleClient(t)
	for _, p := range []string{"/ui/", "/ui/signin", "/ui/api/herd"} {
		if r := consoleDo(t, c, "GET", s.Base+p, nil, nil); r.status != http.StatusNotFound {
			t.Errorf("GET %s with the console off: %d, want 404", p, r.status)
		}
	}
	if u := s.App.ConsoleURL(); u != "" {
		t.Errorf("ConsoleURL() = %q with the console off", u)
	}
}
