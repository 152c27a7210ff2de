package catalog_test

import (
	"context"
	"crypto/rand"
	"slices"
	"strings"
	"testing"

	"github.com/pgherd/pgherd/internal/catalog"
	"github.com/pgherd/pgherd/internal/pgtest"
)

// TestLeastPrivilegedRole runs every query as a role with nothing but USAGE
// on public and SELECT on one table, inside BEGIN READ ONLY, as the tools
// will for a restricted tenant: no call may fail (a failure would abort the
// caller's transaction), and what the role may not read is absent, with a
// note.
func TestLeastPrivilegedRole(t *testing.T) {
	db := fixture(t)
	role := "catalog_reader_" + strings.ToLower(rand.Text()[:8])
	pw := pgtest.CreateRole(t, role, "")
	t.Cleanup(func() { pgtest.Exec(t, db.URI, "DROP OWNED BY "+role) })
	pgtest.Exec(t, db.URI, "GRANT USAGE ON SCHEMA public TO "+role+"; GRANT SELECT ON public.documents TO "+role)

	tx := readOnlyTx(t, pgtest.URIAs(db.Name, role, pw))
	ctx := context.Background()

	schemas, err := catalog.ListSchemas(ctx, tx)
	if err != nil {
		t.Fatalf("ListSchemas: %v", err)
	}
	if !slices.ContainsFunc(schemas, func(s catalog.SchemaInfo) bool { return s.Name == "sales" && s.Tables == 7 }) {
		t.Errorf("sales (no USAGE) missing or miscounted: %+v", schemas)
	}

	described := 0
	for _, schema := range []string{"public", "sales"} {
		for _, typ := range append(catalog.ObjectTypes(), catalog.TypeAll) {
			list, err := catalog.ListObjects(ctx, tx, catalog.ListOptions{Schema: schema, Type: typ, IncludeExtensionObjects: typ == catalog.TypeFunction})
			if err != nil {
				t.Fatalf("ListObjects(%s, %q): %v", schema, typ, err)
			}
			if typ != catalog.TypeAll {
				continue
			}
			for _, o := range list.Objects {
				if _, err := catalog.Describe(ctx, tx, schema, o.Name, o.Type); err != nil {
					t.Errorf("Describe(%s, %s, %s): %v", schema, o.Name, o.Type, err)
				}
				described++
			}
		}
	}
	if described < 40 {
		t.Errorf("described %d objects, want every object of public and sales", described)
	}
	for _, name := range []string{"orders_open_idx", "events_happened_idx"} {
		describe(t, tx, "public", name, catalog.TypeIndex)
	}
	if _, err := catalog.Describe(ctx, tx, "public", "no_such_thing", catalog.TypeAll); err == nil {
		t.Errorf("Describe(no_such_thing) succeeded")
	}

	docs := describe(t, tx, "public", "documents", catalog.TypeTable)
	if !slices.Equal(docs.CurrentRolePrivileges, []string{"SELECT"}) {
		t.Errorf("documents privileges = %q, want [SELECT]", docs.CurrentRolePrivileges)
	}
	if rs := docs.RowSecurity; rs == nil || !rs.ActiveForCurrentRole || len(rs.Policies) != 2 || rs.Policies[1].Using == "" {
		t.Errorf("documents row security for a plain role = %+v", rs)
	}

	orders := describe(t, tx, "public", "orders", catalog.TypeTable)
	if len(orders.CurrentRolePrivileges) != 0 || !hasNote(orders, "no privilege") {
		t.Errorf("orders: privileges %q, notes %q", orders.CurrentRolePrivileges, orders.Notes)
	}
	if len(orders.Columns) != 8 || len(orders.Indexes) != 5 || len(orders.Triggers) != 3 || orders.Size == nil {
		t.Errorf("orders not described from the catalog: %d columns, %d indexes, %d triggers, size %v",
			len(orders.Columns), len(orders.Indexes), len(orders.Triggers), orders.Size)
	}

	seq := describe(t, tx, "public", "invoice_number_seq", catalog.TypeSequence)
	if seq.Sequence == nil || seq.Sequence.LastValue != nil || !hasNote(seq, "neither SELECT nor USAGE") || seq.Sequence.Increment != 5 {
		t.Errorf("sequence without privilege: %+v, notes %q", seq.Sequence, seq.Notes)
	}

	fn := describe(t, tx, "public", "secure_count", catalog.TypeFunction)
	if fn.Functions[0].Definition == "" {
		t.Errorf("function definition hidden from a role that may not execute it")
	}
	view := describe(t, tx, "public", "open_orders", catalog.TypeView)
	if view.View == nil || view.View.Definition == "" {
		t.Errorf("view definition = %+v", view.View)
	}
	ft := describe(t, tx, "public", "remote_stock", catalog.TypeForeignTable)
	if ft.ForeignTable == nil || ft.ForeignTable.Server != "remote_pg" {
		t.Errorf("foreign table = %+v", ft.ForeignTable)
	}

	// System schemas: every kind lists, and their objects describe.
	var toast string
	for _, schema := range []string{"pg_catalog", "information_schema", "pg_toast"} {
		for _, typ := range append(catalog.ObjectTypes(), catalog.TypeAll) {
			list, err := catalog.ListObjects(ctx, tx, catalog.ListOptions{Schema: schema, Type: typ, Limit: catalog.MaxListLimit})
			if err != nil {
				t.Fatalf("ListObjects(%s, %q): %v", schema, typ, err)
			}
			if schema == "pg_toast" && typ == catalog.TypeTable && len(list.Objects) > 0 {
				toast = list.Objects[0].Name
			}
		}
	}
	system := []struct {
		schema, name string
		typ          catalog.ObjectType
	}{
		{"pg_catalog", "pg_class", catalog.TypeTable},
		{"pg_catalog", "pg_authid", catalog.TypeTable},
		{"pg_catalog", "pg_roles", catalog.TypeView},
		{"pg_catalog", "pg_class_oid_index", catalog.TypeIndex},
		{"pg_catalog", "int4", catalog.TypeType},
		{"pg_catalog", "anyelement", catalog.TypeType},
		{"pg_catalog", "int4range", catalog.TypeType},
		{"pg_catalog", "count", catalog.TypeFunction},
		{"pg_catalog", "plpgsql", catalog.TypeExtension},
		{"information_schema", "tables", catalog.TypeView},
		{"information_schema", "cardinal_number", catalog.TypeType},
		{"pg_toast", toast, catalog.TypeTable},
	}
	for _, s := range system {
		d := describe(t, tx, s.schema, s.name, s.typ)
		if d.Type != s.typ {
			t.Errorf("%s.%s described as %s", s.schema, s.name, d.Type)
		}
	}
	if k := describe(t, tx, "pg_catalog", "int4", catalog.TypeType).DataType; k.Kind != "base" || k.InternalLength == nil || *k.InternalLength != 4 {
		t.Errorf("int4 = %+v", k)
	}
	if toastD := describe(t, tx, "pg_toast", toast, catalog.TypeTable); toastD.Kind != "toast" {
		t.Errorf("toast table kind %q", toastD.Kind)
	}

	// After all of it the transaction is still healthy.
	var one int
	if err := tx.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		t.Errorf("transaction aborted: %v", err)
	}
}
