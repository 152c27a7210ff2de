package app_test

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	neturl "net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgherd/pgherd/internal/access"
	"github.com/pgherd/pgherd/internal/pgtest"
)

// TestPrivilegedLoginRefused pins class 4 of issue #7: an endpoint in a
// validated mode whose login role escapes privilege checks does not start;
// the error names the endpoint, the role, the attribute and the fix. In
// admin_rw (the role is the boundary, the operator chose it) it starts.
func TestPrivilegedLoginRefused(t *testing.T) {
	t.Parallel()
	run := strings.ToLower(rand.Text()[:6])
	db := pgtest.NewDatabase(t)
	type login struct {
		name, attr, uri string
	}
	logins := []login{{"postgres", "SUPERUSER", db.URI}}
	for _, c := range []struct{ options, grant, attr string }{
		{"BYPASSRLS", "", "BYPASSRLS"},
		{"", "pg_read_all_data", "member of pg_read_all_data"},
		{"", "pg_write_all_data", "member of pg_write_all_data"},
		{"", "pg_read_server_files", "member of pg_read_server_files"},
		{"", "pg_write_server_files", "member of pg_write_server_files"},
		{"", "pg_execute_server_program", "member of pg_execute_server_program"},
	} {
		name := "priv_" + run + "_" + strings.TrimPrefix(strings.ToLower(c.grant+c.options), "pg_")
		pw := pgtest.CreateRole(t, name, c.options)
		if c.grant != "" {
			pgtest.Exec(t, pgtest.URI("postgres"), "GRANT "+c.grant+" TO "+pgx.Identifier{name}.Sanitize())
		}
		logins = append(logins, login{name, c.attr, pgtest.URIAs(db.Name, name, pw)})
	}
	for _, l := range logins {
		for _, m := range access.Modes {
			t.Run(l.attr+"/"+string(m), func(t *testing.T) {
				yaml := fmt.Sprintf("server: {port: 0}\nendpoints:\n  shop:\n    database_uri: %q\n    access_mode: %s\n    allow_privileged_role: false\n", l.uri, m)
				a, err := appNew(t, yaml)
				if m == access.AdminRW {
					if err != nil {
						t.Fatalf("admin_rw refused to start: %v", err)
					}
					return
				}
				if err == nil {
					a.Close()
					t.Fatalf("started with a login that is %s in %s", l.attr, m)
				}
				for _, want := range []string{"endpoint shop", fmt.Sprintf("%q", l.name), l.attr, string(m),
					"least-privilege", "endpoints.shop.allow_privileged_role: true"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not name %q", err, want)
					}
				}
			})
		}
	}
}

// TestPrivilegedLoginAllowed: allow_privileged_role starts the endpoint,
// warns in the log and in get_server_info, and leaves every other layer in
// place (the validator still refuses what the mode does not allow).
func TestPrivilegedLoginAllowed(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	pgtest.Exec(t, db.URI, "CREATE SCHEMA secret; CREATE TABLE secret.tokens (t text); INSERT INTO secret.tokens VALUES ('s3cret')")
	s := start(t, fmt.Sprintf(`server: {port: 0}
endpoints:
  shop: {database_uri: %q, access_mode: user_ro, allow_privileged_role: true}
`, db.URI), nil)
	if !strings.Contains(s.Logs.String(), `"msg":"privileged login role"`) || !strings.Contains(s.Logs.String(), "SUPERUSER") {
		t.Errorf("no warning in the log:\n%s", tail(s.Logs.String(), 20))
	}
	main := s.connect(t, "/mcp", streamable, nil)
	info := callOK(t, main, "get_server_info", nil)
	raw, _ := json.Marshal(info["endpoints"])
	if !strings.Contains(string(raw), `"warnings":["endpoint shop:`) || !strings.Contains(string(raw), "allow_privileged_role") {
		t.Errorf("get_server_info does not warn: %s", raw)
	}
	cs := s.connect(t, "/shop/mcp", streamable, nil)
	if msg := callErr(t, cs, "shop_execute_sql", map[string]any{"sql": "SELECT t FROM secret.tokens"}); !strings.Contains(msg, "schema secret") {
		t.Errorf("the validator did not refuse another schema with a superuser login: %s", msg)
	}
}

// TestTenantSettingsNeedRowLevelSecurity: tenant_settings on a login that
// bypasses row-level security is refused in every mode, even where the
// role is otherwise allowed; allow_privileged_role lets it start.
func TestTenantSettingsNeedRowLevelSecurity(t *testing.T) {
	t.Parallel()
	run := strings.ToLower(rand.Text()[:6])
	db := pgtest.NewDatabase(t)
	name := "bypass_" + run
	pw := pgtest.CreateRole(t, name, "BYPASSRLS")
	pgtest.Exec(t, db.URI, "GRANT CONNECT ON DATABASE "+pgx.Identifier{db.Name}.Sanitize()+" TO "+pgx.Identifier{name}.Sanitize())
	uri := pgtest.URIAs(db.Name, name, pw)
	for _, allow := range []bool{false, true} {
		yaml := fmt.Sprintf(`server: {port: 0}
auth:
  mode: none
  required: false
  anonymous: {tenant: acme}
endpoints:
  crm:
    database_uri: %q
    access_mode: admin_rw
    tenant_settings: {app.tenant_id: "{tenant}"}
    allow_privileged_role: %t
`, uri, allow)
		a, err := appNew(t, yaml)
		switch {
		case !allow && err == nil:
			a.Close()
			t.Errorf("tenant_settings on a BYPASSRLS login started")
		case !allow && (!strings.Contains(err.Error(), "tenant_settings") || !strings.Contains(err.Error(), "bypasses row-level security") ||
			!strings.Contains(err.Error(), "allow_privileged_role")):
			t.Errorf("error %q does not explain tenant_settings on a BYPASSRLS login", err)
		case allow && err != nil:
			t.Errorf("allow_privileged_role: %v", err)
		}
	}
}

// TestDatabaseLoginPrivilegedCaller: with database_login, a caller who logs
// in as a superuser to a validated endpoint gets 403 and no pool.
func TestDatabaseLoginPrivilegedCaller(t *testing.T) {
	t.Parallel()
	run := strings.ToLower(rand.Text()[:6])
	name := "su_" + run
	pw := pgtest.CreateRole(t, name, "SUPERUSER")
	db := pgtest.NewDatabase(t)
	u, err := neturl.Parse(pgtest.URI(db.Name))
	if err != nil {
		t.Fatal(err)
	}
	u.User = nil
	s := start(t, fmt.Sprintf(`
server: {port: 0}
endpoints:
  login:
    database_uri: %q
    access_mode: user_ro
    allow_privileged_role: false
    auth: {mode: database_login}
`, u.String()), nil)
	resp := s.rawRequest(t, http.MethodPost, "/login/mcp", []string{basicAuth(name, pw)}, nil, initializeBody)
	if resp.status != http.StatusForbidden || !strings.Contains(resp.body, "SUPERUSER") || !strings.Contains(resp.body, "least-privilege") {
		t.Errorf("status %d, body %s; want 403 explaining the privileged login", resp.status, resp.body)
	}
}
