package sqlguard_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgherd/pgherd/internal/pgtest"
	"github.com/pgherd/pgherd/internal/sqlguard"
)

// newerThan15 are allow-listed functions that PostgreSQL 15 does not have
// yet; the lists are written for the versions pgherd supports up to 18.
var newerThan15 = []string{
	"any_value", "array_sample", "array_shuffle", "random_normal", "erf", "erfc", "date_add", "date_subtract",
	"json_agg_strict", "json_object_agg_strict", "json_object_agg_unique", "json_object_agg_unique_strict",
	"jsonb_agg_strict", "jsonb_object_agg_strict", "jsonb_object_agg_unique", "jsonb_object_agg_unique_strict",
	"xmltext", "pg_input_is_valid", "pg_input_error_info", "system_user", "pg_split_walfile_name", // 16
	"to_bin", "to_oct", "uuid_extract_timestamp", "uuid_extract_version", "jsonb_populate_record_valid", "to_regtypemod", // 17
	"gamma", "lgamma", "casefold", "crc32", "crc32c", "array_reverse", "array_sort", "uuidv4", "uuidv7",
	"pg_get_acl", "pg_get_loaded_modules", "pg_numa_available", // 18
}

// volatileButHarmless are the user-mode functions PostgreSQL marks volatile:
// they read the clock or a random source and change nothing that matters.
var volatileButHarmless = []string{
	"random", "random_normal", "gen_random_uuid", "uuidv4", "uuidv7", "clock_timestamp", "timeofday",
	"array_shuffle", "array_sample",
}

func catalogNames(t *testing.T, db *pgtest.Database, sql string) map[string]string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db.URI)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, sql)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		m[k] = v
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestAllowListsAgainstCatalog checks the allow-lists against a real
// pg_catalog: every name exists (as a function, or as a type for
// function-style casts), and no user-mode function is volatile unless it is
// known to be harmless.
func TestAllowListsAgainstCatalog(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	// provolatile per name: 'v' if any overload is volatile.
	procs := catalogNames(t, db, `SELECT proname::text, max(provolatile::text) FROM pg_proc
		WHERE pronamespace = 'pg_catalog'::regnamespace GROUP BY proname`)
	types := catalogNames(t, db, `SELECT typname::text, '' FROM pg_type WHERE typnamespace = 'pg_catalog'::regnamespace`)
	user, admin := sqlguard.AllowedFunctions()
	for _, name := range append(user, admin...) {
		_, isFunc := procs[name]
		_, isType := types[name]
		if !isFunc && !isType && !slices.Contains(newerThan15, name) {
			t.Errorf("allow-listed %q is neither a pg_catalog function nor a type on this server", name)
		}
	}
	for _, name := range user {
		// ts_rewrite(query, text) runs SQL and makes the name volatile; only
		// the immutable three-tsquery form passes the validator.
		if procs[name] == "v" && !slices.Contains(volatileButHarmless, name) && name != "ts_rewrite" {
			t.Errorf("user-mode function %q is volatile: is it really free of side effects? (add it to volatileButHarmless if so)", name)
		}
	}
}

// TestDangerousFunctionsRefused walks every function of the server's
// pg_catalog whose name belongs to a dangerous family and checks that no
// validated mode allows it: a new function in one of these families stays
// out even if nobody updates the lists.
func TestDangerousFunctionsRefused(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	procs := catalogNames(t, db, `SELECT proname::text, '' FROM pg_proc WHERE pronamespace = 'pg_catalog'::regnamespace`)
	families := []string{"pg_sleep", "set_config", "pg_read", "pg_ls_", "pg_stat_file", "lo_", "pg_advisory", "pg_try_advisory",
		"nextval", "setval", "currval", "lastval", "pg_logical", "pg_switch_wal",
		"pg_create_", "pg_drop_", "pg_copy_", "pg_replication_", "pg_notify", "pg_stat_reset", "pg_terminate", "pg_cancel",
		"pg_reload", "pg_rotate", "pg_promote", "pg_log_", "pg_wal_replay", "pg_backup", "pg_import", "query_to_xml",
		"cursor_to_xml", "table_to_xml", "schema_to_xml", "database_to_xml", "ts_stat", "dblink", "binary_upgrade",
		"pg_export_snapshot", "setseed", "pg_file_", "brin_summarize", "brin_desummarize", "gin_clean", "pg_nextoid"}
	exact := []string{"txid_current", "pg_current_xact_id"} // their _if_assigned forms assign nothing
	checked := 0
	for name := range procs {
		dangerous := slices.Contains(exact, name) || slices.ContainsFunc(families, func(f string) bool {
			return strings.HasPrefix(name, f)
		})
		if !dangerous {
			continue
		}
		checked++
		for _, admin := range []bool{false, true} {
			if sqlguard.FunctionAllowed(name, admin) {
				t.Errorf("dangerous function %q is allowed (admin list: %t)", name, admin)
			}
		}
	}
	if checked < 50 {
		t.Errorf("only %d dangerous functions found in pg_catalog; is the query right?", checked)
	}
}

// TestCatalogRelationsArePrefixed checks the premise of the user-mode
// relation rule: every relation in pg_catalog is named pg_*, so refusing
// unqualified pg_* names keeps catalog relations out.
func TestCatalogRelationsArePrefixed(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	rels := catalogNames(t, db, `SELECT relname::text, relkind::text FROM pg_class
		WHERE relnamespace = 'pg_catalog'::regnamespace AND relname NOT LIKE 'pg\_%'`)
	if len(rels) > 0 {
		t.Errorf("pg_catalog relations not named pg_*: %v", rels)
	}
	total := catalogNames(t, db, `SELECT 'n', count(*)::text FROM pg_class WHERE relnamespace = 'pg_catalog'::regnamespace`)
	if total["n"] == "0" {
		t.Error("no pg_catalog relations found")
	}
}

// sampleValues gives a literal for each argument type the allow-listed
// functions take; overloads with other argument types are skipped.
var sampleValues = map[string]string{
	"smallint": "1", "integer": "2", "bigint": "3", "numeric": "1.5", "real": "1.5", "double precision": "0.5",
	"text": "'abc'", "character varying": "'abc'", "character": "'a'", `"char"`: "'a'", "name": "'abc'",
	"boolean": "true", "date": "'2024-01-31'", "timestamp without time zone": "'2024-01-31 12:00'",
	"timestamp with time zone": "'2024-01-31 12:00+00'", "interval": "'1 day'", "time without time zone": "'12:00'",
	"time with time zone": "'12:00+00'", "json": `'{"a": [1, 2]}'`, "jsonb": `'{"a": [1, 2]}'`, "jsonpath": "'$.a[*]'",
	"bytea": `'\x0102'`, "uuid": "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'", "tsvector": "'a:1 b:2'", "tsquery": "'a & b'",
	"regconfig": "'simple'", "inet": "'10.1.2.3/8'", "cidr": "'10.0.0.0/8'", "macaddr": "'08:00:2b:01:02:03'",
	"macaddr8": "'08:00:2b:01:02:03:04:05'", "point": "'(1,2)'", "box": "'((0,0),(1,1))'", "circle": "'<(0,0),1>'",
	"line": "'{1,-1,0}'", "lseg": "'[(0,0),(1,1)]'", "path": "'[(0,0),(1,1),(2,0)]'", "polygon": "'((0,0),(1,1),(1,0))'",
	"xml": "'<a><b>x</b></a>'", "bit": "B'101'", "bit varying": "B'101'", "money": "'1.5'", "oid": "1",
	"anyelement": "1", "anycompatible": "1", "anynonarray": "1", "anycompatiblenonarray": "1", `"any"`: "'abc'",
	"anyarray": "ARRAY[1, 2]", "anycompatiblearray": "ARRAY[1, 2]", "anyrange": "int4range(1, 5)",
	"anycompatiblerange": "int4range(1, 5)", "anymultirange": "int4multirange(int4range(1, 5))",
	"anycompatiblemultirange": "int4multirange(int4range(1, 5))", "anyenum": "'low'::priority", "record": "ROW(1, 'a')",
	"text[]": "ARRAY['a', 'b']", "integer[]": "ARRAY[1, 2]", "double precision[]": "ARRAY[0.5]", "numeric[]": "ARRAY[1.5]",
	"jsonb[]": `ARRAY['{}'::jsonb]`, "int4range": "'[1,5)'", "int8range": "'[1,5)'", "numrange": "'[1,5)'",
	"daterange": "'[2024-01-01,2024-02-01)'", "tsrange": "'[2024-01-01,2024-02-01)'", "tstzrange": "'[2024-01-01,2024-02-01)'",
	"regclass": "", // refused in user modes: skip
}

// TestAllowedFunctionsLeaveNoTrace calls every overload of every
// allow-listed function with sample arguments, as that mode's role inside
// READ ONLY, and checks that the database and the session are unchanged
// after each call. It also proves the allow-list is usable: most calls must
// succeed.
func TestAllowedFunctionsLeaveNoTrace(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("calls every allow-listed function against PostgreSQL")
	}
	f := newFixture(t)
	ctx := context.Background()
	su, err := pgx.Connect(ctx, f.db.URI)
	if err != nil {
		t.Fatal(err)
	}
	defer su.Close(ctx)
	user, admin := sqlguard.AllowedFunctions()
	type overload struct {
		name, kind string
		args       []string
	}
	var calls []overload
	rows, err := su.Query(ctx, `SELECT p.proname::text, p.prokind::text, coalesce(a.aggkind::text, ''),
			coalesce((SELECT array_agg(format_type(t, NULL) ORDER BY i) FROM unnest(p.proargtypes) WITH ORDINALITY AS u(t, i)), '{}')
		FROM pg_proc p LEFT JOIN pg_aggregate a ON a.aggfnoid = p.oid
		WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.proname = ANY($1) ORDER BY 1, 4`, append(user, admin...))
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var o overload
		var aggkind string
		if err := rows.Scan(&o.name, &o.kind, &aggkind, &o.args); err != nil {
			t.Fatal(err)
		}
		if aggkind == "o" || aggkind == "h" {
			continue // ordered-set aggregates need WITHIN GROUP; the corpus covers them
		}
		calls = append(calls, o)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	ok, failed, skipped := 0, 0, 0
	// The database before each call is the database after the one before:
	// unchanged, it stays unchanged when that call's connection closes
	// (whatever a session holds, advisory locks or temporary tables, is in
	// the fingerprint), so it is read again only after a change.
	dbBefore := fingerprintDB(t, ctx, su)
	for _, o := range calls {
		args := make([]string, len(o.args))
		usable := true
		for i, typ := range o.args {
			v, known := sampleValues[typ]
			if !known || v == "" {
				usable = false
				break
			}
			if strings.HasPrefix(typ, "any") || typ == `"any"` || typ == "record" || strings.HasSuffix(v, "]") || strings.Contains(v, "(") {
				args[i] = v
			} else {
				args[i] = v + "::" + typ
			}
		}
		if !usable {
			skipped++
			continue
		}
		if o.name == "ts_rewrite" && len(args) != 3 {
			continue // the query form is refused by design
		}
		// Quoted, the name is always a function call (numeric(…), time(…)
		// and position(…) are grammar of their own otherwise).
		call := `"` + o.name + `"(` + strings.Join(args, ", ") + ")"
		sql := "SELECT " + call
		switch o.kind {
		case "a":
			sql = "SELECT " + call + " FROM generate_series(1, 3)"
		case "w":
			sql = "SELECT " + call + " OVER () FROM generate_series(1, 3)"
		}
		sql += " LIMIT 50" // set-returning functions (pg_timezone_names, …) stay under the row cap
		mode := userRO
		// User modes refuse a cast to a type whose input looks names up
		// ('simple'::regconfig): those overloads are swept in admin_ro.
		if !slices.Contains(user, o.name) || slices.Contains(o.args, "regconfig") || slices.Contains(o.args, "regdictionary") {
			mode = adminRO
		}
		v, err := sqlguard.Check(sql, mode)
		if err != nil {
			t.Errorf("Check(%q, %s) = %v: an allow-listed function is refused", sql, mode, err)
			continue
		}
		conn := f.connect(t, ctx, mode)
		sessionBefore := fingerprintSession(t, ctx, conn)
		got, cause, err := execute(ctx, conn, mode, v, sql)
		if err == nil && got == bounded {
			// A first call may be slow for reasons of its own (loading the
			// JIT library on a busy machine): only a function that also
			// outlasts a timeout 20 times longer is unbounded.
			got, cause, err = executeWithin(ctx, conn, mode, v, sql, 20*testTimeout, nil)
		}
		if err != nil {
			t.Fatalf("%s: setting up: %v", sql, err)
		}
		switch got {
		case allowed:
			ok++
		case bounded:
			t.Errorf("%s in %s hit a limit: %v", sql, mode, cause)
		default:
			failed++
			t.Logf("%s in %s: %v", sql, mode, cause)
		}
		if after := fingerprintSession(t, ctx, conn); after != sessionBefore && !conn.IsClosed() {
			t.Errorf("%s in %s changed the session:\nbefore %s\nafter  %s", sql, mode, sessionBefore, after)
		}
		after := fingerprintDB(t, ctx, su)
		if after != dbBefore {
			t.Errorf("%s in %s changed the database:\nbefore %s\nafter  %s", sql, mode, dbBefore, after)
		}
		conn.Close(ctx)
		if after != dbBefore {
			dbBefore = fingerprintDB(t, ctx, su)
		}
	}
	t.Logf("%d overloads ran, %d failed (argument values), %d skipped (argument types without a sample)", ok, failed, skipped)
	if ok < 3*(ok+failed)/4 {
		t.Errorf("only %d of %d calls ran: the sample values need work", ok, ok+failed)
	}
}
