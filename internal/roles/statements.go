package roles

import (
	"fmt"
	"strings"

	"github.com/pgherd/pgherd/internal/access"
)

// Statements returns the SQL a superuser runs, connected to s.Database, to
// create (or update) the login role s.Role and confine it to s.Mode. Run it
// with [Apply], after [Harden] has run once on the database. Every name is
// quoted as an identifier and the password as a string constant; a spec
// with a problem (an empty name, a NUL byte, an admin_rw Owner that is not
// the Role, …) is refused with every problem listed.
//
// What each mode gets:
//
//   - every mode: LOGIN, NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION
//     NOBYPASSRLS, a connection limit, role-level statement_timeout,
//     idle_in_transaction_session_timeout and temp_file_limit, CONNECT on
//     the database; membership in no predefined pg_* role beyond the
//     mode's; TEMPORARY and CREATE only in admin_rw;
//   - user_ro: USAGE on schema public, SELECT on its tables, views and
//     sequences, default privileges for the Owner's future ones,
//     default_transaction_read_only = on;
//   - user_rw: as user_ro plus INSERT, UPDATE, DELETE on public's tables and
//     USAGE on its sequences, without the read-only default;
//   - admin_ro: USAGE on every user schema and SELECT on every table, view
//     and sequence in them, default privileges for the Owner's future
//     schemas, tables and sequences, pg_monitor,
//     default_transaction_read_only = on. Not pg_read_all_data: it would
//     also let the role read pg_authid (every role's password verifier)
//     and pg_user_mapping (foreign-server passwords). That is all the
//     database intelligence tools need (health checks, pg_stat_statements,
//     hypopg index advice): pg_monitor brings pg_read_all_stats and
//     pg_read_all_settings, SELECT brings the planner statistics
//     (docs/intelligence.md; internal/dbhealth tests it);
//   - admin_rw: the role owns the database (so it may create schemas and
//     temporary tables), may create in public, and is in pg_monitor.
//
// Applied to an existing role, the statements first take away what any
// mode grants (privileges on every user schema and what is in it,
// predefined-role memberships, default privileges), so the role ends up
// with exactly this mode's. A schema created later by another role than
// Owner is not covered until the statements run again. A role in a
// mode other than admin_rw must own nothing: the statements fail if it does.
func Statements(s Spec) ([]string, error) {
	s, err := s.withDefaults()
	if err != nil {
		return nil, err
	}
	role, db, owner := ident(s.Role), ident(s.Database), ident(s.Owner)
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }

	out = append(out, prepare(s))

	attrs := fmt.Sprintf("ALTER ROLE %s WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT CONNECTION LIMIT %d", role, s.ConnectionLimit)
	if s.Password != "" {
		attrs += " PASSWORD " + mustLiteral(s.Password)
	}
	out = append(out, attrs)
	add("ALTER ROLE %s SET statement_timeout = %s", role, mustLiteral(setting(s.StatementTimeout)))
	add("ALTER ROLE %s SET idle_in_transaction_session_timeout = %s", role, mustLiteral(setting(s.IdleInTransactionTimeout)))
	add("ALTER ROLE %s SET temp_file_limit = %s", role, mustLiteral(s.TempFileLimit))
	if s.Mode.ReadOnly() {
		add("ALTER ROLE %s SET default_transaction_read_only = on", role)
	} else {
		add("ALTER ROLE %s RESET default_transaction_read_only", role)
	}

	out = append(out, revokeMemberships(s))
	if s.Mode != access.AdminRW {
		// Whatever an earlier mode granted goes first.
		add("REVOKE ALL ON DATABASE %s FROM %s", db, role)
		out = append(out, revokeSchemas(s))
		for _, kind := range []string{"SCHEMAS", "TABLES", "SEQUENCES"} {
			add("ALTER DEFAULT PRIVILEGES FOR ROLE %s REVOKE ALL ON %s FROM %s", owner, kind, role)
		}
		for _, kind := range []string{"TABLES", "SEQUENCES"} {
			add("ALTER DEFAULT PRIVILEGES FOR ROLE %s IN SCHEMA public REVOKE ALL ON %s FROM %s", owner, kind, role)
		}
	}
	add("GRANT CONNECT ON DATABASE %s TO %s", db, role)

	switch s.Mode {
	case access.UserRO, access.UserRW:
		tables, sequences := "SELECT", "SELECT"
		if s.Mode == access.UserRW {
			tables, sequences = "SELECT, INSERT, UPDATE, DELETE", "SELECT, USAGE"
		}
		add("GRANT USAGE ON SCHEMA public TO %s", role)
		add("GRANT %s ON ALL TABLES IN SCHEMA public TO %s", tables, role)
		add("GRANT %s ON ALL SEQUENCES IN SCHEMA public TO %s", sequences, role)
		add("ALTER DEFAULT PRIVILEGES FOR ROLE %s IN SCHEMA public GRANT %s ON TABLES TO %s", owner, tables, role)
		add("ALTER DEFAULT PRIVILEGES FOR ROLE %s IN SCHEMA public GRANT %s ON SEQUENCES TO %s", owner, sequences, role)
	case access.AdminRO:
		out = append(out, readSchemas(s))
		add("ALTER DEFAULT PRIVILEGES FOR ROLE %s GRANT USAGE ON SCHEMAS TO %s", owner, role)
		add("ALTER DEFAULT PRIVILEGES FOR ROLE %s GRANT SELECT ON TABLES TO %s", owner, role)
		add("ALTER DEFAULT PRIVILEGES FOR ROLE %s GRANT SELECT ON SEQUENCES TO %s", owner, role)
		add("GRANT pg_monitor TO %s", role)
	case access.AdminRW:
		add("ALTER DATABASE %s OWNER TO %s", db, role)
		add("GRANT USAGE, CREATE ON SCHEMA public TO %s", role)
		add("GRANT pg_monitor TO %s", role)
	}
	return out, nil
}

// prepare checks the connection is to the right database, creates the role
// unless it exists and, outside admin_rw, refuses a role that owns
// something: ownership would bypass every GRANT.
func prepare(s Spec) string {
	var b strings.Builder
	b.WriteString("BEGIN\n")
	b.WriteString(checkDatabase(s.Database))
	fmt.Fprintf(&b, "  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = %s) THEN\n", mustLiteral(s.Role))
	fmt.Fprintf(&b, "    CREATE ROLE %s;\n", ident(s.Role))
	b.WriteString("  END IF;\n")
	if s.Mode != access.AdminRW {
		hint := fmt.Sprintf("hand its objects to the owner first, in every database: REASSIGN OWNED BY %s TO %s", ident(s.Role), ident(s.Owner))
		// A user mapping for the role is recorded as owned by it, but is no
		// object whose owner escapes a GRANT.
		b.WriteString("  IF EXISTS (SELECT FROM pg_catalog.pg_shdepend d JOIN pg_catalog.pg_roles r ON r.oid = d.refobjid\n")
		fmt.Fprintf(&b, "             WHERE d.refclassid = 'pg_catalog.pg_authid'::regclass AND d.deptype = 'o' AND r.rolname = %s\n", mustLiteral(s.Role))
		b.WriteString("               AND d.classid <> 'pg_catalog.pg_user_mapping'::regclass) THEN\n")
		fmt.Fprintf(&b, "    RAISE EXCEPTION 'role %% owns objects; in mode %% it must own nothing', %s, %s\n", mustLiteral(s.Role), mustLiteral(string(s.Mode)))
		fmt.Fprintf(&b, "      USING HINT = %s;\n", mustLiteral(hint))
		b.WriteString("  END IF;\n")
	}
	b.WriteString("END")
	return "DO " + dollarQuote(b.String())
}

// checkDatabase is a PL/pgSQL fragment failing when the session is not
// connected to database: grants on schemas, tables and functions land in the
// database the session is connected to.
func checkDatabase(database string) string {
	return fmt.Sprintf("  IF current_database() <> %[1]s THEN\n"+
		"    RAISE EXCEPTION 'connected to database %%, but these statements are for database %%', current_database(), %[1]s\n"+
		"      USING HINT = %[2]s;\n"+
		"  END IF;\n", mustLiteral(database), mustLiteral("connect to "+database+" and run them again"))
}

// revokeMemberships takes the role out of every predefined pg_* role (they
// all grant powers: reading or writing everything, server files, signalling
// backends) and, outside admin_rw, out of the owner role; the mode's own
// memberships are granted again afterwards.
func revokeMemberships(s Spec) string {
	owner := ""
	if s.Mode != access.AdminRW {
		owner = " OR g.rolname = " + mustLiteral(s.Owner)
	}
	body := fmt.Sprintf(`DECLARE
  granted name;
BEGIN
  FOR granted IN
    SELECT g.rolname FROM pg_catalog.pg_auth_members m
      JOIN pg_catalog.pg_roles g ON g.oid = m.roleid
      JOIN pg_catalog.pg_roles r ON r.oid = m.member
     WHERE r.rolname = %[1]s AND (left(g.rolname, 3) = 'pg_'%[2]s)
  LOOP
    EXECUTE format('REVOKE %%I FROM %%I', granted, %[1]s);
  END LOOP;
END`, mustLiteral(s.Role), owner)
	return "DO " + dollarQuote(body)
}

// userSchemas selects the schemas that hold user data: every one but
// pg_catalog, information_schema, the TOAST and temporary ones.
const userSchemas = "SELECT nspname FROM pg_catalog.pg_namespace\n     WHERE left(nspname, 3) <> 'pg_' AND nspname <> 'information_schema'"

// forEachSchema is a DO statement running each of format's statements (a
// format() string whose %I are the schema, then the role) on every user
// schema.
func forEachSchema(role string, formats ...string) string {
	var b strings.Builder
	b.WriteString("DECLARE\n  s name;\nBEGIN\n  FOR s IN\n    " + userSchemas + "\n  LOOP\n")
	for _, f := range formats {
		fmt.Fprintf(&b, "    EXECUTE format(%s, s, %s);\n", mustLiteral(f), mustLiteral(role))
	}
	b.WriteString("  END LOOP;\nEND")
	return "DO " + dollarQuote(b.String())
}

// revokeSchemas takes away every privilege on every user schema and on the
// tables and sequences in it.
func revokeSchemas(s Spec) string {
	return forEachSchema(s.Role,
		"REVOKE ALL ON SCHEMA %I FROM %I",
		"REVOKE ALL ON ALL TABLES IN SCHEMA %I FROM %I",
		"REVOKE ALL ON ALL SEQUENCES IN SCHEMA %I FROM %I")
}

// readSchemas grants admin_ro read access to every user schema, in place of
// pg_read_all_data, which would also let it read pg_authid (every role's
// password verifier) and pg_user_mapping (foreign-server passwords).
func readSchemas(s Spec) string {
	return forEachSchema(s.Role,
		"GRANT USAGE ON SCHEMA %I TO %I",
		"GRANT SELECT ON ALL TABLES IN SCHEMA %I TO %I",
		"GRANT SELECT ON ALL SEQUENCES IN SCHEMA %I TO %I")
}
