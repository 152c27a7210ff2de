package app_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/config"
	"github.com/pgherd/pgherd/internal/pgtest"
)

// exampleRoles are the roles examples/multi-tenant.sql creates.
var exampleRoles = []string{"acme_login", "globex_login", "crm_agent", "crm_owner"}

// TestMultiTenantExample runs examples/multi-tenant.yaml on the database
// examples/multi-tenant.sql builds, and checks what docs/multi-tenant.md
// says it does: per-tenant roles on /crm/mcp, tenant_settings on
// /crm_shared/mcp, JWT on /crm_sso/mcp, key scopes and endpoint limits,
// and the curl request the document shows.
func TestMultiTenantExample(t *testing.T) {
	setup, err := os.ReadFile("../../examples/multi-tenant.sql")
	if err != nil {
		t.Fatal(err)
	}
	// The example's role names are fixed: drop leftovers first, and drop
	// them after the database (cleanups run last in, first out).
	dropRoles := func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, pgtest.URI("postgres"))
		if err != nil {
			return
		}
		defer conn.Close(ctx)
		for _, r := range exampleRoles {
			conn.Exec(ctx, "DROP ROLE IF EXISTS "+pgx.Identifier{r}.Sanitize())
		}
	}
	dropRoles()
	t.Cleanup(dropRoles)
	db := pgtest.NewDatabase(t)
	pgtest.Exec(t, db.URI, string(setup))

	iss := newTestIssuer(t)
	acmeKey, globexKey := rand.Text(), rand.Text()
	const auditorKey = "acme-auditor-demo-key-change-me" // its hash is in the example
	env := map[string]string{
		"HTTP_HOST": "127.0.0.1", "HTTP_PORT": "0",
		"ACME_KEY": acmeKey, "GLOBEX_KEY": globexKey,
		"ACME_DATABASE_URI":       pgtest.URIAs(db.Name, "acme_login", "change-me-acme"),
		"GLOBEX_DATABASE_URI":     pgtest.URIAs(db.Name, "globex_login", "change-me-globex"),
		"CRM_SHARED_DATABASE_URI": pgtest.URIAs(db.Name, "crm_agent", "change-me-agent"),
		"JWT_ISSUER":              iss.iss,
		"JWKS_URL":                iss.jwksURL,
	}
	cfg, err := config.Load("../../examples/multi-tenant.yaml", mapEnv(env))
	if err != nil {
		t.Fatalf("examples/multi-tenant.yaml: %v", err)
	}
	s := startConfig(t, cfg)
	bearer := func(k string) http.Header { return http.Header{"Authorization": {"Bearer " + k}} }
	names := func(cs *mcp.ClientSession, tool string) string {
		t.Helper()
		res := callOK(t, cs, tool, map[string]any{"sql": "SELECT name FROM customers ORDER BY id"})
		return fmt.Sprint(res["rows"])
	}
	const acmeRows, globexRows = "[[Wile E. Coyote] [Road Runner Ltd]]", "[[Hank Scorpio]]"

	t.Run("crm: own login role per tenant", func(t *testing.T) {
		acme := s.connect(t, "/crm/mcp", streamable, bearer(acmeKey))
		if got := names(acme, "crm_execute_sql"); got != acmeRows {
			t.Errorf("acme sees %s, want %s", got, acmeRows)
		}
		who := callOK(t, acme, "crm_execute_sql", map[string]any{"sql": "SELECT current_user"})
		if fmt.Sprint(who["rows"]) != "[[acme_login]]" {
			t.Errorf("acme runs as %v, want acme_login", who["rows"])
		}
		callOK(t, acme, "crm_execute_sql", map[string]any{"sql": "INSERT INTO customers (tenant, name) VALUES ('acme', 'Acme Anvils')"})
		msg := callErr(t, acme, "crm_execute_sql", map[string]any{"sql": "INSERT INTO customers (tenant, name) VALUES ('globex', 'Planted')"})
		if !strings.Contains(msg, "row-level security") {
			t.Errorf("acme writing a globex row: %q, want a row-level security error", msg)
		}
		globex := s.connect(t, "/crm/mcp", legacySSE, bearer(globexKey))
		if got := names(globex, "crm_execute_sql"); got != globexRows {
			t.Errorf("globex sees %s, want %s", got, globexRows)
		}
	})

	t.Run("crm: read-only key", func(t *testing.T) {
		auditor := s.connect(t, "/crm/mcp", streamable, bearer(auditorKey))
		want := []string{"crm_explain_query", "crm_get_object_details", "crm_list_objects"}
		if got := toolNames(t, auditor); !reflect.DeepEqual(got, want) {
			t.Errorf("tools of the read-scoped key = %v, want %v", got, want)
		}
	})

	t.Run("crm_shared: tenant_settings", func(t *testing.T) {
		acme := s.connect(t, "/crm_shared/mcp", legacySSE, bearer(acmeKey))
		if got := names(acme, "crm_shared_execute_sql"); got != "[[Wile E. Coyote] [Road Runner Ltd] [Acme Anvils]]" {
			t.Errorf("acme sees %s through the shared role", got)
		}
		if _, err := s.tryConnect("/crm_shared/mcp", streamable, bearer(globexKey), ""); err == nil || !strings.Contains(err.Error(), "Forbidden") {
			t.Errorf("globex key limited to [crm] on /crm_shared/mcp: err = %v, want 403", err)
		}
	})

	t.Run("crm_sso: JWT", func(t *testing.T) {
		c := iss.claims("https://mcp.example.com/crm_sso/mcp") // public_url + path
		c["tenant"] = "globex"
		cs := s.connect(t, "/crm_sso/mcp", streamable, bearer(iss.sign(t, c)))
		if got := names(cs, "crm_sso_execute_sql"); got != globexRows {
			t.Errorf("globex user of the identity provider sees %s, want %s", got, globexRows)
		}
		resp := s.rawRequest(t, http.MethodPost, "/crm_sso/mcp", []string{"Bearer " + acmeKey}, nil, initializeBody)
		if resp.status != http.StatusUnauthorized ||
			!strings.Contains(resp.header.Get("WWW-Authenticate"), `resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/crm_sso/mcp"`) {
			t.Errorf("API key on the JWT endpoint: %d %q", resp.status, resp.header.Get("WWW-Authenticate"))
		}
	})

	t.Run("curl", func(t *testing.T) {
		// The request docs/multi-tenant.md shows: a stateless server answers
		// a tools/call without a session.
		body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"crm_execute_sql","arguments":{"sql":"SELECT name FROM customers"}}}`
		resp := s.rawRequest(t, http.MethodPost, "/crm/mcp", []string{"Bearer " + globexKey}, nil, body)
		if resp.status != http.StatusOK || !strings.Contains(resp.body, "Hank Scorpio") || strings.Contains(resp.body, "Coyote") {
			t.Errorf("curl tools/call = %d\n%s", resp.status, resp.body)
		}
	})
}
