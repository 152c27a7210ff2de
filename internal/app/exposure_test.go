package app_test

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/pgherd/pgherd/internal/pgtest"
)

// TestHostCheckEverywhere pins class 7 of issue #7: every route — /ready,
// /health, the RFC 9728 metadata, legacy SSE, not only Streamable HTTP —
// refuses a request that reached the loopback listener with a Host that is
// not a loopback name (DNS rebinding).
func TestHostCheckEverywhere(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	key := rand.Text()
	s := start(t, `server: {port: 0}
auth:
  mode: api_key
  api_keys: [{name: ops, key: "${KEY}", tenant: ops}]
endpoints:
  shop: {database_uri: "${URI}", access_mode: user_ro}
`, map[string]string{"URI": db.URI, "KEY": key})
	for _, path := range []string{"/ready", "/health", "/shop/health", "/.well-known/oauth-protected-resource/shop/mcp",
		"/.well-known/oauth-protected-resource/mcp", "/shop/sse", "/shop/mcp", "/mcp"} {
		for _, host := range []string{"evil.example", "evil.example:8000", "10.0.0.1"} {
			req, _ := http.NewRequest(http.MethodGet, s.Base+path, nil)
			req.Host = host
			req.Header.Set("Authorization", "Bearer "+key)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("GET %s with Host %s: %d, want 403", path, host, resp.StatusCode)
			}
		}
		// The loopback names still work.
		req, _ := http.NewRequest(http.MethodGet, s.Base+path, nil)
		req.Host = strings.Replace(strings.TrimPrefix(s.Base, "http://"), "127.0.0.1", "localhost", 1)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusForbidden {
			t.Errorf("GET %s with Host localhost: 403", path)
		}
	}
}

// TestReadyShowsNamesToTrustedCallers: /ready lists the endpoints only to
// callers on this machine or with a credential; others learn whether the
// server is ready, not which databases it serves.
func TestReadyShowsNamesToTrustedCallers(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	key := rand.Text()
	s := start(t, `server: {port: 0}
auth:
  mode: api_key
  api_keys: [{name: ops, key: "${KEY}", tenant: ops}]
endpoints:
  secretdb: {database_uri: "${URI}", access_mode: user_ro}
`, map[string]string{"URI": db.URI, "KEY": key})
	proxied := http.Header{"X-Forwarded-For": {"203.0.113.9"}}
	for _, tc := range []struct {
		name   string
		header http.Header
		names  bool
	}{
		{"loopback", nil, true},
		{"through a proxy", proxied, false},
		{"through a proxy, wrong key", http.Header{"X-Forwarded-For": {"203.0.113.9"}, "Authorization": {"Bearer nope"}}, false},
		{"through a proxy, authenticated", http.Header{"X-Forwarded-For": {"203.0.113.9"}, "Authorization": {"Bearer " + key}}, true},
		{"Forwarded header", http.Header{"Forwarded": {"for=203.0.113.9"}}, false},
	} {
		status, body := s.get(t, "/ready", tc.header)
		var got map[string]any
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatalf("%s: %d %s", tc.name, status, body)
		}
		if status != http.StatusOK || got["status"] != "ready" {
			t.Errorf("%s: %d %s, want 200 ready", tc.name, status, body)
		}
		if shows := strings.Contains(body, "secretdb"); shows != tc.names {
			t.Errorf("%s: /ready shows the endpoint names = %v, want %v: %s", tc.name, shows, tc.names, body)
		}
	}
}

// TestErrorsHideConnectionDetails: what a client sees of a database that
// cannot be reached or refuses the login — tool errors, /health,
// get_server_info — names neither the database user nor the host nor the
// port (issue #7, class 7); the log keeps them for the operator.
func TestErrorsHideConnectionDetails(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	const user = "hidden_login_name"
	pgtest.CreateRole(t, user, "")
	wrongPassword := pgtest.URIAs(db.Name, user, "not-the-password")
	s := start(t, `server: {port: 0, start_degraded: true}
endpoints:
  down: {database_uri: "postgres://hidden_login_name:pw@127.0.0.1:1/nowhere_db?connect_timeout=2", access_mode: user_ro}
  refused: {database_uri: "${WRONG}", access_mode: user_ro}
`, map[string]string{"WRONG": wrongPassword})
	hostPort := strings.TrimPrefix(strings.Split(strings.SplitN(wrongPassword, "@", 2)[1], "/")[0], "")
	secrets := []string{user, "127.0.0.1", ":1/", "127.0.0.1:1", hostPort, "user=", "nowhere_db"}
	check := func(where, got string) {
		t.Helper()
		for _, s := range secrets {
			if strings.Contains(got, s) {
				t.Errorf("%s shows %q: %s", where, s, got)
			}
		}
		if !strings.Contains(got, "cannot connect to the database server") {
			t.Errorf("%s does not say what failed: %s", where, got)
		}
	}
	for _, ep := range []string{"down", "refused"} {
		cs := s.connect(t, "/"+ep+"/mcp", streamable, nil)
		check(ep+"_execute_sql", callErr(t, cs, ep+"_execute_sql", map[string]any{"sql": "SELECT 1"}))
		check(ep+"_list_objects", callErr(t, cs, ep+"_list_objects", map[string]any{}))
		_, body := s.get(t, "/"+ep+"/health", nil)
		check("/"+ep+"/health", body)
	}
	main := s.connect(t, "/mcp", streamable, nil)
	info := callOK(t, main, "get_server_info", nil)
	eps, _ := info["endpoints"].([]any)
	for _, e := range eps {
		ep, _ := e.(map[string]any)
		if msg, _ := ep["error"].(string); msg != "" {
			check("get_server_info's "+fmt.Sprint(ep["name"]), msg)
		}
	}
	if !strings.Contains(s.Logs.String(), user) {
		t.Errorf("the log lost the details the operator needs")
	}
}
