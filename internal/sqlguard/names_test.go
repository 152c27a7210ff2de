package sqlguard_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/pgherd/pgherd/internal/access"
	"github.com/pgherd/pgherd/internal/sqlguard"
)

// validateRefusals is checkRefusals with options: db names the current
// database, major the server version, priv a privileged login.
type optRefusal struct {
	name   string
	opts   sqlguard.Options
	sql    string // § marks the expected position
	reason sqlguard.Reason
	msg    string
}

func checkOptRefusals(t *testing.T, tests []optRefusal) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sql, pos := unmark(tt.sql)
			v, err := sqlguard.Validate(sql, tt.opts)
			var e *sqlguard.Error
			if !errors.As(err, &e) {
				t.Fatalf("Validate(%q, %+v) = %+v, %v; want *Error with reason %s", sql, tt.opts, v, err, tt.reason)
			}
			if e.Reason != tt.reason || e.Position != pos {
				t.Errorf("Validate(%q, %+v): reason %s at %d (%s), want %s at %d", sql, tt.opts, e.Reason, e.Position, e.Message, tt.reason, pos)
			}
			if !strings.Contains(e.Message, tt.msg) {
				t.Errorf("Validate(%q, %+v): message %q does not contain %q", sql, tt.opts, e.Message, tt.msg)
			}
		})
	}
}

func opts(m access.Mode) sqlguard.Options {
	return sqlguard.Options{Mode: m, Database: "shop", ServerMajor: 15}
}

func privileged(m access.Mode) sqlguard.Options {
	o := opts(m)
	o.PrivilegedLogin = true
	return o
}

// TestNamesResolveLikePostgres pins class 1 of issue #7: a WITH query
// shadows only unqualified names, a three-part name is allowed only for the
// current database and then judged by its last two parts, and admin_ro
// refuses every relation that shows credentials (pg_catalog's and
// information_schema's) however it is spelled.
func TestNamesResolveLikePostgres(t *testing.T) {
	checkOptRefusals(t, []optRefusal{
		{"cte does not shadow a qualified catalog", opts(adminRO),
			"WITH pg_authid AS (SELECT 1) SELECT * FROM §pg_catalog.pg_authid", sqlguard.RelationNotAllowed, "shows credentials"},
		{"cte does not shadow a qualified view", opts(adminRO),
			"WITH pg_shadow AS (SELECT 1) SELECT passwd FROM §pg_catalog.pg_shadow", sqlguard.RelationNotAllowed, "shows credentials"},
		{"cte in a subquery does not shadow a qualified catalog", opts(adminRO),
			"WITH pg_authid AS (SELECT 1) SELECT (SELECT rolpassword FROM §pg_catalog.pg_authid LIMIT 1)", sqlguard.RelationNotAllowed, "shows credentials"},
		{"three-part name of the current database", opts(adminRO),
			"SELECT rolpassword FROM §shop.pg_catalog.pg_authid", sqlguard.RelationNotAllowed, "shows credentials"},
		{"three-part name, quoted current database", opts(adminRO),
			`SELECT rolpassword FROM §"shop".pg_catalog."pg_authid"`, sqlguard.RelationNotAllowed, "shows credentials"},
		{"three-part name of another database", opts(adminRO),
			"SELECT * FROM §other.public.accounts", sqlguard.RelationNotAllowed, "serves database shop"},
		{"three-part name, database unknown", sqlguard.Options{Mode: adminRO},
			"SELECT * FROM §shop.public.accounts", sqlguard.RelationNotAllowed, "not known here"},
		{"three-part name, case matters", opts(userRO),
			`SELECT * FROM §"Shop".public.accounts`, sqlguard.RelationNotAllowed, "serves database shop"},
		{"three-part name outside public in user modes", opts(userRO),
			"SELECT * FROM §shop.secret.tokens", sqlguard.SchemaNotAllowed, "only use the public schema"},
		{"three-part name of the catalog in user modes", opts(userRW),
			"SELECT * FROM §shop.pg_catalog.pg_class", sqlguard.SchemaNotAllowed, "only use the public schema"},
		{"three-part DML target of another database", opts(userRW),
			"INSERT INTO §other.public.accounts VALUES (1)", sqlguard.RelationNotAllowed, "serves database shop"},
		{"information_schema user mapping options", opts(adminRO),
			"SELECT option_value FROM §information_schema.user_mapping_options", sqlguard.RelationNotAllowed, "shows credentials"},
		{"information_schema user mappings, unqualified", opts(adminRO),
			"SELECT * FROM §_pg_user_mappings", sqlguard.RelationNotAllowed, "shows credentials"},
		{"information_schema three-part", opts(adminRO),
			"SELECT * FROM §shop.information_schema._pg_user_mappings", sqlguard.RelationNotAllowed, "shows credentials"},
		{"subscription connection strings", opts(adminRO),
			"TABLE §pg_subscription", sqlguard.RelationNotAllowed, "shows credentials"},
		{"pg_statistic with a privileged login", privileged(adminRO),
			"SELECT stavalues1 FROM §pg_statistic", sqlguard.RelationNotAllowed, "privileged login"},
		{"pg_stats with a privileged login", privileged(adminRO),
			"SELECT * FROM §pg_catalog.pg_stats WHERE tablename = 'pg_authid'", sqlguard.RelationNotAllowed, "privileged login"},
	})
	for _, tc := range []struct {
		opts sqlguard.Options
		sql  string
	}{
		{opts(adminRO), "WITH pg_authid AS (SELECT 1 AS rolname) SELECT rolname FROM pg_authid"},
		{opts(adminRO), "SELECT count(*) FROM shop.public.accounts"},
		{opts(adminRO), `SELECT count(*) FROM "shop"."public"."accounts"`},
		{opts(userRO), "SELECT count(*) FROM shop.public.accounts a JOIN public.orders o ON o.account_id = a.id"},
		{opts(userRW), "UPDATE shop.public.accounts SET balance = 0 WHERE id = 1"},
		{opts(adminRO), "SELECT * FROM pg_roles"},
		{opts(adminRO), "SELECT * FROM information_schema.user_mappings"},
		{opts(adminRO), "SELECT * FROM pg_stats WHERE tablename = 'accounts'"}, // filtered by column privileges for a least-privilege login
		{opts(adminRO), "WITH user_mapping_options AS (SELECT 1) SELECT * FROM user_mapping_options"},
	} {
		if _, err := sqlguard.Validate(tc.sql, tc.opts); err != nil {
			t.Errorf("Validate(%q, %+v) = %v, want allowed", tc.sql, tc.opts, err)
		}
	}
}

// TestNewerSyntax pins class 2(b) of issue #7: syntax of the parser's
// grammar that an older server reads as a plain function call is refused
// on that server, and allowed where the server has it.
func TestNewerSyntax(t *testing.T) {
	on := func(major int) sqlguard.Options {
		return sqlguard.Options{Mode: userRO, Database: "shop", ServerMajor: major}
	}
	checkOptRefusals(t, []optRefusal{
		{"JSON_ARRAY on 15", on(15), "SELECT §json_array(1)", sqlguard.NewerSyntax, "PostgreSQL 16 and later"},
		{"JSON_OBJECT on 15", on(15), "SELECT §JSON_OBJECT('a': 1)", sqlguard.NewerSyntax, "json_build_object"},
		{"JSON_ARRAYAGG on 15", on(15), "SELECT §json_arrayagg(id) FROM accounts", sqlguard.NewerSyntax, "json_agg"},
		{"JSON_OBJECTAGG on 15", on(15), "SELECT §json_objectagg(k: v) FROM t", sqlguard.NewerSyntax, "json_object_agg"},
		{"IS JSON on 15", on(15), "SELECT §'{}' IS JSON", sqlguard.NewerSyntax, "IS JSON"},
		{"JSON_SCALAR on 16", on(16), "SELECT §json_scalar(1)", sqlguard.NewerSyntax, "PostgreSQL 17 and later"},
		{"JSON_QUERY on 16", on(16), "SELECT §json_query('{}'::jsonb, '$.a')", sqlguard.NewerSyntax, "jsonb_path_query_first"},
		{"JSON_TABLE on 16", on(16), "SELECT * FROM §JSON_TABLE('[1]'::jsonb, '$[*]' COLUMNS (a int PATH '$'))", sqlguard.NewerSyntax, "JSON_TABLE"},
		{"JSON() on 16", on(16), "SELECT §json('{}')", sqlguard.NewerSyntax, "::json"},
		{"unknown version is the oldest", sqlguard.Options{Mode: userRO}, "SELECT §json_array(1)", sqlguard.NewerSyntax, "runs PostgreSQL 13"},
	})
	for _, tc := range []struct {
		major int
		sql   string
	}{
		{16, "SELECT json_array(1), JSON_OBJECT('a': 1), '{}' IS JSON"},
		{17, "SELECT json_scalar(1), json_query('{}'::jsonb, '$.a')"},
		{17, "SELECT * FROM JSON_TABLE('[1]'::jsonb, '$[*]' COLUMNS (a int PATH '$'))"},
		{15, "SELECT json_object('{a,1}')"}, // the legacy call: a function on every version
		{15, "SELECT json_build_array(1), json_agg(id) FROM accounts GROUP BY status"},
	} {
		if _, err := sqlguard.Validate(tc.sql, on(tc.major)); err != nil {
			t.Errorf("Validate(%q) on PostgreSQL %d = %v, want allowed", tc.sql, tc.major, err)
		}
	}
	// admin_rw validates shape only.
	if _, err := sqlguard.Validate("SELECT json_array(1)", sqlguard.Options{Mode: adminRW, ServerMajor: 15}); err != nil {
		t.Errorf("admin_rw refused newer syntax: %v", err)
	}
	// On PostgreSQL 15 the legacy json_object(…) is a call by name, which
	// the parser's grammar qualifies with pg_catalog: it must still be looked up.
	v, err := sqlguard.Validate("SELECT json_object('{a,1}')", on(15))
	if err != nil {
		t.Fatal(err)
	}
	if v.Lookup == nil || len(v.Lookup.Functions) != 1 || v.Lookup.Functions[0].Name != "json_object" {
		t.Errorf("json_object on PostgreSQL 15: lookup %+v, want the function json_object", v.Lookup)
	}
}

// TestOperatorBound pins the validator half of class 5 of issue #7.
func TestOperatorBound(t *testing.T) {
	chain := func(n int) string { return "SELECT " + strings.Repeat("1 + ", n) + "1" }
	for _, m := range []access.Mode{userRO, userRW, adminRO} {
		if _, err := sqlguard.Validate(chain(400), opts(m)); err != nil {
			t.Errorf("400 operators in %s: %v, want allowed", m, err)
		}
		_, err := sqlguard.Validate(chain(600), opts(m))
		var e *sqlguard.Error
		if !errors.As(err, &e) || e.Reason != sqlguard.TooLarge {
			t.Errorf("600 operators in %s: %v, want too_large", m, err)
		}
	}
	if _, err := sqlguard.Validate(chain(600), opts(adminRW)); err != nil {
		t.Errorf("600 operators in admin_rw: %v, want allowed", err)
	}
	// Many rows of VALUES are evaluated one at a time: each row counts alone.
	rows := strings.Repeat("(now() + interval '1 day', lower('x') || 'y'), ", 999) + "(now(), 'z')"
	if _, err := sqlguard.Validate("INSERT INTO t (a, b) VALUES "+rows, opts(userRW)); err != nil {
		t.Errorf("1000-row VALUES: %v, want allowed", err)
	}
	// Spread over many columns, they are evaluated together.
	wide := "SELECT " + strings.Repeat("lower(name) || upper(name), ", 250) + "1 FROM accounts"
	if _, err := sqlguard.Validate(wide, opts(userRO)); err == nil {
		t.Errorf("750 operators over 250 columns: allowed, want too_large")
	}
}

// TestCatalogLookupTypesRefused pins class 7's type rule of issue #7.
func TestCatalogLookupTypesRefused(t *testing.T) {
	for _, sql := range []string{
		"SELECT 'english'::§regconfig",
		"SELECT 'simple'::§regdictionary",
		"SELECT '=r/postgres'::§aclitem",
		"SELECT '{=r/postgres}'::§aclitem[]",
		"SELECT CAST('english' AS §pg_catalog.regconfig)",
		"SELECT '{english}'::§_regconfig",
		"SELECT 'pg_catalog'::§regnamespace",
	} {
		checkRefusals(t, []refusal{{sql, userRO, sql, sqlguard.TypeNotAllowed, "looks names up in the system catalogs"}})
	}
	for _, sql := range []string{"SELECT 'english'::regconfig", "SELECT '=r/postgres'::aclitem"} {
		if _, err := sqlguard.Validate(sql, opts(adminRO)); err != nil {
			t.Errorf("Validate(%q, admin_ro) = %v, want allowed", sql, err)
		}
	}
}
