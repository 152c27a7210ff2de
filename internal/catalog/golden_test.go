package catalog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/pgherd/pgherd/internal/catalog"
	"github.com/pgherd/pgherd/internal/pgtest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the current results")

// volatile names JSON keys whose values change from run to run (sizes,
// counters, timestamps, versions of installed extensions); normalize
// replaces their values with a placeholder but keeps the keys, so a field
// that appears or vanishes still shows.
var volatile = map[string]bool{
	"size_bytes": true, "size": true, "stats": true,
	"scans": true, "tuples_read": true, "tuples_fetched": true,
	"version": true, "default_version": true, "objects": true, "objects_by_kind": true,
}

func normalize(t *testing.T, v any, superuser string) []byte {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var tree any
	if err := json.Unmarshal(raw, &tree); err != nil {
		t.Fatal(err)
	}
	var walk func(any) any
	walk = func(n any) any {
		switch n := n.(type) {
		case map[string]any:
			for k, v := range n {
				switch {
				case k == "objects" && isArray(v):
					n[k] = walk(v) // an object list, not an extension's count
				case volatile[k]:
					n[k] = "<" + k + ">"
				case k == "owner" && v == superuser:
					n[k] = "<superuser>"
				default:
					n[k] = walk(v)
				}
			}
		case []any:
			for i := range n {
				n[i] = walk(n[i])
			}
		}
		return n
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(walk(tree)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func isArray(v any) bool {
	_, ok := v.([]any)
	return ok
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it after review)\n--- got:\n%s\n--- want:\n%s", path, got, want)
	}
}

func TestListObjectsGolden(t *testing.T) {
	db := fixture(t)
	tx := readOnlyTx(t, db.URI)
	su := pgtest.QueryValue[string](t, db.URI, "SELECT current_user::text")
	ctx := context.Background()
	cases := []struct {
		name   string
		schema string
		typ    catalog.ObjectType
	}{
		{"list_public_all", "public", catalog.TypeAll},
		{"list_public_table", "public", catalog.TypeTable},
		{"list_public_view", "public", catalog.TypeView},
		{"list_public_materialized_view", "public", catalog.TypeMaterializedView},
		{"list_public_sequence", "public", catalog.TypeSequence},
		{"list_public_function", "public", catalog.TypeFunction},
		{"list_public_type", "public", catalog.TypeType},
		{"list_public_enum", "public", catalog.TypeEnum},
		{"list_public_foreign_table", "public", catalog.TypeForeignTable},
		{"list_public_index", "public", catalog.TypeIndex},
		{"list_public_extension", "public", catalog.TypeExtension},
		{"list_sales_all", "sales", catalog.TypeAll},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			list, err := catalog.ListObjects(ctx, tx, catalog.ListOptions{Schema: c.schema, Type: c.typ})
			if err != nil {
				t.Fatalf("ListObjects(%s, %q): %v", c.schema, c.typ, err)
			}
			checkGolden(t, c.name, normalize(t, list, su))
		})
	}
}

func TestDescribeGolden(t *testing.T) {
	db := fixture(t)
	tx := readOnlyTx(t, db.URI)
	su := pgtest.QueryValue[string](t, db.URI, "SELECT current_user::text")
	ctx := context.Background()
	cases := []struct {
		schema, name string
		typ          catalog.ObjectType
	}{
		{"public", "orders", catalog.TypeTable},
		{"public", "customers", catalog.TypeTable},
		{"public", "documents", catalog.TypeTable},
		{"public", "room_bookings", catalog.TypeTable},
		{"public", "events", catalog.TypeTable},
		{"public", "events_2024", catalog.TypeTable},
		{"public", "vehicles", catalog.TypeTable},
		{"public", "trucks", catalog.TypeTable},
		{"public", "measurements", catalog.TypeAll},
		{"public", "never_analyzed", catalog.TypeTable},
		{"public", "open_orders", catalog.TypeView},
		{"public", "daily_totals", catalog.TypeMaterializedView},
		{"public", "stale_totals", catalog.TypeMaterializedView},
		{"public", "invoice_number_seq", catalog.TypeSequence},
		{"public", "order_total", catalog.TypeFunction},
		{"public", "archive_orders", catalog.TypeFunction},
		{"public", "product", catalog.TypeFunction},
		{"public", "secure_count", catalog.TypeFunction},
		{"public", "order_status", catalog.TypeEnum},
		{"public", "address", catalog.TypeType},
		{"public", "positive_amount", catalog.TypeType},
		{"public", "floatrange", catalog.TypeType},
		{"public", "pgcrypto", catalog.TypeExtension},
		{"public", "remote_stock", catalog.TypeForeignTable},
		{"public", "orders_open_idx", catalog.TypeIndex},
		{"public", "events_happened_idx", catalog.TypeIndex},
		{"sales", "targets", catalog.TypeTable},
	}
	for _, c := range cases {
		t.Run(c.schema+"."+c.name, func(t *testing.T) {
			d, err := catalog.Describe(ctx, tx, c.schema, c.name, c.typ)
			if err != nil {
				t.Fatalf("Describe(%s, %s, %q): %v", c.schema, c.name, c.typ, err)
			}
			got := normalize(t, d, su)
			checkGolden(t, "describe_"+c.schema+"_"+c.name, got)

			// Without batches, one query per section: the same answer.
			d2, err := catalog.Describe(ctx, oneByOne{tx}, c.schema, c.name, c.typ)
			if err != nil {
				t.Fatalf("Describe without batches: %v", err)
			}
			if got2 := normalize(t, d2, su); !bytes.Equal(got, got2) {
				t.Errorf("Describe without batches differs:\n%s\nwith batches:\n%s", got2, got)
			}
		})
	}
}

func TestListSchemasGolden(t *testing.T) {
	db := fixture(t)
	tx := readOnlyTx(t, db.URI)
	su := pgtest.QueryValue[string](t, db.URI, "SELECT current_user::text")
	schemas, err := catalog.ListSchemas(context.Background(), tx)
	if err != nil {
		t.Fatalf("ListSchemas: %v", err)
	}
	// Only user schemas: the system ones change with the server version.
	var user []catalog.SchemaInfo
	for _, s := range schemas {
		if s.Kind == "user" && s.Name != "tools" {
			user = append(user, s)
		}
	}
	checkGolden(t, "list_schemas_user", normalize(t, user, su))
}
