package tenancy

import (
	"fmt"
	"strings"

	"github.com/pgherd/pgherd/internal/config"
	"github.com/pgherd/pgherd/internal/pg"
)

// CheckLogin decides whether an endpoint may use a connection logged in as
// login (who says which: "its login role", "tenant acme's login role", "the
// caller's login"). In the validated modes (user_ro, user_rw, admin_ro) the
// login role is the layer that holds when the SQL validator and executor
// miss something, so a role that escapes privilege checks — a superuser, a
// BYPASSRLS role, a member of pg_read_all_data, pg_write_all_data,
// pg_read_server_files, pg_write_server_files or pg_execute_server_program
// — is refused. tenant_settings confine callers through row-level
// security, so a login that bypasses it is refused in every mode.
//
// endpoints.NAME.allow_privileged_role: true turns each refusal into a
// warning, which the caller logs and reports (get_server_info).
func CheckLogin(ep *config.Endpoint, who string, login pg.LoginRole) (warning string, err error) {
	var problems []string
	if privs := login.Privileges(); len(privs) > 0 && !ep.AccessMode.Unrestricted() {
		problems = append(problems, fmt.Sprintf("%s %q is privileged (%s), and %s mode relies on a least-privilege role: "+
			"with it the database no longer stops what the SQL validator lets through",
			who, login.Name, strings.Join(privs, ", "), ep.AccessMode))
	}
	if len(ep.TenantSettings) > 0 && login.BypassesRLS() {
		attr := "BYPASSRLS"
		if login.Superuser {
			attr = "SUPERUSER"
		}
		problems = append(problems, fmt.Sprintf("tenant_settings confine each caller through row-level security, "+
			"but %s %q bypasses row-level security (%s): every tenant would read every tenant's rows", who, login.Name, attr))
	}
	if len(problems) == 0 {
		return "", nil
	}
	msg := strings.Join(problems, "; and ")
	if ep.AllowPrivilegedRole {
		return fmt.Sprintf("endpoint %s: %s (allowed by endpoints.%s.allow_privileged_role)", ep.Name, msg, ep.Name), nil
	}
	// No "endpoint NAME:" prefix: the callers' errors name the endpoint.
	return "", fmt.Errorf("%s. Log in as a least-privilege role for the mode, without BYPASSRLS "+
		"(docs/security.md, layer 3: the statements of internal/roles create one; pgherd demo uses them), "+
		"or set endpoints.%s.allow_privileged_role: true to start anyway (pgherd stdio --database-url: --allow-privileged-role)",
		msg, ep.Name)
}
