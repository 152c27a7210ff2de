package roles

import (
	"errors"
	"fmt"
	"strings"
)

// revokedFunctions selects the built-in functions (every overload) whose
// EXECUTE [Harden] takes away from PUBLIC: each one changes something a
// read-only role must not change, and several work even inside a READ ONLY
// transaction (lo_create, pg_notify, txid_current, the advisory locks).
// lo_import and lo_export are excluded: they read and write server files,
// are superuser-only already, and must not be handed to the owner.
const revokedFunctions = `p.pronamespace = 'pg_catalog'::regnamespace
      AND (p.proname ~ '^(lo_|pg_advisory_|pg_try_advisory_)'
           OR p.proname IN ('loread', 'lowrite', 'pg_notify',
                            'txid_current', 'pg_current_xact_id', 'pg_logical_emit_message',
                            'pg_cancel_backend', 'pg_terminate_backend'))
      AND p.proname NOT IN ('lo_import', 'lo_export')`

// ownRoutines selects the routines the database's users wrote: every
// function and procedure in a schema other than pg_catalog and
// information_schema that no extension installed. PostgreSQL runs such
// code without a call the SQL validator sees (an operator, a cast, a
// domain CHECK, an overload of a built-in name, attribute notation), so
// [Harden] takes EXECUTE on them away from PUBLIC.
const ownRoutines = `p.pronamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
      AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                       WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')`

// Harden returns the statements a superuser runs once per database,
// connected to it, before creating roles with [Statements]. They take
// dangerous defaults away from PUBLIC and keep them for owner, the role that
// owns the database's objects:
//
//   - CREATE on schema public (already PostgreSQL 15's default);
//   - CONNECT and TEMPORARY on the database: only roles granted CONNECT
//     (each pgherd role, the owner) may connect, and only the owner may
//     create temporary tables;
//   - EXECUTE on the large-object functions (lo_*, loread, lowrite), the
//     advisory-lock functions (pg_advisory*, pg_try_advisory*), pg_notify,
//     the XID- and WAL-writing txid_current, pg_current_xact_id and
//     pg_logical_emit_message, and pg_cancel_backend / pg_terminate_backend
//     (which would let one pooled session stop another's query), every
//     overload, enumerated from pg_proc;
//   - EXECUTE on the database's own routines: every function and procedure
//     outside pg_catalog and information_schema that no extension installed,
//     whoever owns it, and, by default privileges, every routine owner
//     creates later. Their owners keep EXECUTE; grant it explicitly to the
//     roles that need one (a view or a column default calling an owner
//     function needs EXECUTE for whoever uses it). Extension functions keep
//     PUBLIC's EXECUTE: an operator of citext or PostGIS must keep working.
//
// The statements check that they run as a superuser (a REVOKE on a built-in
// function by anyone else does nothing but warn) and in database. Running
// them again changes nothing. Names that cannot be valid (empty, NUL, too
// long) give a list whose only statement fails with the reason.
func Harden(database, owner string) []string {
	if err := errors.Join(checkName(database), checkName(owner)); err != nil {
		msg := fmt.Sprintf("roles: cannot harden database %q for owner %q: %v", database, owner, err)
		msg = strings.ToValidUTF8(strings.ReplaceAll(msg, "\x00", `\x00`), "?")
		return []string{"DO " + dollarQuote(fmt.Sprintf("BEGIN\n  RAISE EXCEPTION '%%', %s;\nEND", mustLiteral(msg)))}
	}
	db, own := ident(database), ident(owner)
	preflight := "BEGIN\n" +
		"  IF NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN\n" +
		"    RAISE EXCEPTION 'role % is not a superuser', current_user\n" +
		"      USING HINT = 'only a superuser can revoke EXECUTE on built-in functions (anyone else gets a warning and no effect): connect as one';\n" +
		"  END IF;\n" +
		checkDatabase(database) +
		"END"
	functions := fmt.Sprintf(`DECLARE
  f regprocedure;
BEGIN
  FOR f IN
    SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
     WHERE %s
  LOOP
    EXECUTE format('REVOKE EXECUTE ON FUNCTION %%s FROM PUBLIC', f);
    EXECUTE format('GRANT EXECUTE ON FUNCTION %%s TO %%I', f, %s);
  END LOOP;
END`, revokedFunctions, mustLiteral(owner))
	routines := fmt.Sprintf(`DECLARE
  f regprocedure;
BEGIN
  FOR f IN
    SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
     WHERE %s
  LOOP
    EXECUTE format('REVOKE EXECUTE ON ROUTINE %%s FROM PUBLIC', f);
  END LOOP;
END`, ownRoutines)
	return []string{
		"DO " + dollarQuote(preflight),
		"REVOKE CREATE ON SCHEMA public FROM PUBLIC",
		"GRANT USAGE, CREATE ON SCHEMA public TO " + own,
		"REVOKE CONNECT, TEMPORARY ON DATABASE " + db + " FROM PUBLIC",
		"GRANT CONNECT, TEMPORARY ON DATABASE " + db + " TO " + own,
		"DO " + dollarQuote(functions),
		"DO " + dollarQuote(routines),
		"ALTER DEFAULT PRIVILEGES FOR ROLE " + own + " REVOKE EXECUTE ON ROUTINES FROM PUBLIC",
	}
}
