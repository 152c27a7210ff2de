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
