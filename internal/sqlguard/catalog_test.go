package sqlguard_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgherd/pgherd/internal/access"
	"github.com/pgherd/pgherd/internal/pgtest"
	"github.com/pgherd/pgherd/internal/roles"
	"github.com/pgherd/pgherd/internal/sqlguard"
)

// TestCredentialRelations generates the list of relations that show
// credentials from the server itself (issue #7, class 1): it plants a
// marker in every kind of secret PostgreSQL keeps — a password verifier, a
// user mapping's options, a subscription's connection string — analyzes
// the catalogs that hold them, then reads every table and view of
// pg_catalog and information_schema as a superuser and lists those whose
// rows show a marker. That list must be exactly the validator's. Read as
// the least-privilege admin_ro role, only relations of the validator's
// always-refused part may show one (pg_stats filters what the role cannot
// read, which is why it is refused for privileged logins only).
func TestCredentialRelations(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	t.Parallel()
	ctx := context.Background()
	suffix := strings.ToLower(rand.Text()[:8])
	marker := "mk" + suffix
	verifier := "md5" + strings.Repeat("0", 24) + fmt.Sprintf("%08x", []byte(suffix[:4])) // 32 hex digits
	role := "cred_" + suffix
	adminPW := pgtest.CreateRole(t, "cred_admin_"+suffix, "")
	pgtest.CreateRole(t, role, "")
	db := pgtest.NewDatabase(t)
	owner := "cred_owner_" + suffix
	pgtest.CreateRole(t, owner, "")
	stmts, err := roles.Statements(roles.Spec{Role: "cred_admin_" + suffix, Password: adminPW, Mode: access.AdminRO, Database: db.Name, Owner: owner})
	if err != nil {
		t.Fatal(err)
	}
	su, err := pgx.Connect(ctx, db.URI)
	if err != nil {
		t.Fatal(err)
	}
	defer su.Close(ctx)
	if err := roles.Apply(ctx, su, stmts); err != nil {
		t.Fatal(err)
	}
	sub := "cred_sub_" + suffix
	for _, sql := range []string{
		fmt.Sprintf("ALTER ROLE %s PASSWORD '%s'", role, verifier),
		"CREATE FOREIGN DATA WRAPPER cred_fdw",
		"CREATE SERVER cred_server FOREIGN DATA WRAPPER cred_fdw",
		fmt.Sprintf("CREATE USER MAPPING FOR PUBLIC SERVER cred_server OPTIONS (password '%s-public')", marker),
		fmt.Sprintf("CREATE USER MAPPING FOR cred_admin_%s SERVER cred_server OPTIONS (password '%s-admin')", suffix, marker),
		"CREATE PUBLICATION cred_pub",
		fmt.Sprintf("CREATE SUBSCRIPTION %s CONNECTION 'host=localhost dbname=none password=%s-sub' PUBLICATION cred_pub WITH (connect = false)", sub, marker),
		"ANALYZE pg_catalog.pg_authid",
		"ANALYZE pg_catalog.pg_user_mapping",
		"ANALYZE pg_catalog.pg_subscription",
	} {
		if _, err := su.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), db.URI)
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close(context.Background())
		for _, sql := range []string{"ALTER SUBSCRIPTION " + sub + " DISABLE", "ALTER SUBSCRIPTION " + sub + " SET (slot_name = NONE)", "DROP SUBSCRIPTION " + sub} {
			if _, err := c.Exec(context.Background(), sql); err != nil {
				t.Errorf("%s: %v", sql, err)
			}
		}
	})
	pattern := marker + "|" + verifier
	scan := func(conn *pgx.Conn) []string {
		rows, err := conn.Query(ctx, `SELECT format('%s.%s', n.nspname, c.relname), format('%I.%I', n.nspname, c.relname)
			FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname IN ('pg_catalog', 'information_schema') AND c.relkind IN ('r', 'v', 'm', 'p', 'f') ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		type rel struct{ Name, Quoted string }
		rels, err := pgx.CollectRows(rows, pgx.RowToStructByPos[rel])
		if err != nil {
			t.Fatal(err)
		}
		var found []string
		for _, r := range rels {
			r := struct{ name, quoted string }{r.Name, r.Quoted}
			// The pattern travels as a parameter: query texts that
			// pg_stat_activity shows do not hold it.
			var n int64
			tx, err := conn.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			err = tx.QueryRow(ctx, "SELECT count(*) FROM "+r.quoted+" t WHERE t::text ~ $1", pattern).Scan(&n)
			tx.Rollback(ctx)
			if err == nil && n > 0 {
				found = append(found, r.name)
			}
		}
		return found
	}
	always, priv := sqlguard.CredentialRelations()
	want := slices.Sorted(slices.Values(append(slices.Clone(always), priv...)))
	if got := scan(su); !slices.Equal(got, want) {
		t.Errorf("relations showing a planted secret to a superuser:\n  %q\nthe validator refuses (admin_ro, privileged login):\n  %q", got, want)
	}
	admin, err := pgx.Connect(ctx, pgtest.URIAs(db.Name, "cred_admin_"+suffix, adminPW))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	for _, rel := range scan(admin) {
		if !slices.Contains(always, rel) {
			t.Errorf("%s shows a planted secret to the least-privilege admin_ro role, and the validator refuses it only for privileged logins", rel)
		}
	}
}

// TestCatalogLookupTypes: every reg* type of the server (the types whose
// input looks a name up in the catalogs), and their arrays, are refused in
// the user modes.
func TestCatalogLookupTypes(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	t.Parallel()
	db := pgtest.NewDatabase(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db.URI)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT t.typname::text FROM pg_catalog.pg_type t
		WHERE t.typnamespace = 'pg_catalog'::regnamespace AND (t.typname ~ '^_?reg' OR t.typname IN ('aclitem', '_aclitem'))`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(names) < 20 {
		t.Fatalf("only %d reg* types found: %q", len(names), names)
	}
	for _, n := range names {
		if !sqlguard.CatalogLookupType(n) {
			t.Errorf("type %s looks names up in the catalogs, and user modes allow casting to it", n)
		}
	}
}
