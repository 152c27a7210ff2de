package console_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pgherd/pgherd/internal/app"
	"github.com/pgherd/pgherd/internal/config"
	"github.com/pgherd/pgherd/internal/pgtest"
)

const opsKey = "ops-key-0123456789abcdef0123"

// startSignin serves one endpoint with API keys and the console turned on,
// so operators must sign in, and returns its base URL.
func startSignin(t *testing.T) string {
	t.Helper()
	db := pgtest.NewDatabase(t)
	yaml := `
server:
  host: 127.0.0.1
  console: {enabled: true}
auth:
  mode: api_key
  api_keys:
    - {name: ops, key: "${OPS}", tenant: ops, scopes: [console, read]}
endpoints:
  app1: {database_uri: "` + db.URI + `", access_mode: user_ro, allow_privileged_role: true}
`
	cfg, err := config.Parse([]byte(yaml), func(k string) (string, bool) { return opsKey, k == "OPS" })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, app.Options{Version: "test", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	l, err := a.Listen()
	if err != nil {
		cancel()
		a.Close()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		<-done
		a.Close()
	})
	return "http://" + l.Addr().String()
}

// TestBrowserSignin: with API keys, the console sends a browser to its
// sign-in page, refuses a wrong key, and lets the operator in with a key
// that has the console scope; on a phone-sized screen.
func TestBrowserSignin(t *testing.T) {
	base := startSignin(t)
	b := newBrowser(t, 390, 844)

	b.run(t, "opening the console", 30*time.Second,
		chromedp.Navigate(base+"/ui/"),
		chromedp.WaitVisible(chromedp.CSS(`#key`)))
	var where string
	eval(t, b, `location.pathname`, &where)
	if where != "/ui/signin" {
		t.Errorf("the console without a session is at %s, want /ui/signin", where)
	}
	b.screenshot(t, "signin")

	b.run(t, "signing in with a wrong key", 20*time.Second,
		chromedp.SendKeys(chromedp.CSS(`#key`), "wrong-key-0123456789abcdef"),
		chromedp.Click(chromedp.CSS(`#signin`)),
		chromedp.WaitVisible(chromedp.CSS(`#problem`)))
	var problem string
	eval(t, b, `document.getElementById('problem').textContent`, &problem)
	if !strings.Contains(problem, "not valid") {
		t.Errorf("a wrong key shows %q", problem)
	}

	b.run(t, "signing in with the ops key", 30*time.Second,
		chromedp.SendKeys(chromedp.CSS(`#key`), opsKey),
		chromedp.Click(chromedp.CSS(`#signin`)),
		chromedp.WaitVisible(chromedp.CSS(`#herd-cards [data-endpoint="app1"]`)))
	b.waitJS(t, "app1 ready", `document.querySelector('#herd-cards [data-endpoint="app1"] .state.st-ready') !== null`, 15*time.Second)
	var cookie string
	eval(t, b, `document.cookie`, &cookie)
	if cookie != "" {
		t.Errorf("the page's script can read cookies %q; the session cookie must be HttpOnly", cookie)
	}
	var wide bool
	eval(t, b, `document.documentElement.scrollWidth > window.innerWidth + 1`, &wide)
	if wide {
		t.Error("the Herd page scrolls sideways on a 390 px wide screen")
	}
	b.screenshot(t, "herd-phone")
	if out := b.outside(base); len(out) > 0 {
		t.Errorf("the pages requested other hosts than pgherd's: %q", out)
	}
}
