package catalog_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/pgherd/pgherd/internal/catalog"
)

func names(list *catalog.ObjectList) []string {
	var out []string
	for _, o := range list.Objects {
		out = append(out, o.Name)
	}
	return out
}

func TestListPatterns(t *testing.T) {
	db := fixture(t)
	tx := readOnlyTx(t, db.URI)
	ctx := context.Background()
	cases := []struct {
		name    string
		pattern string
		want    []string
	}{
		{"prefix, any case", "user%", []string{"user_a", "User_B", "userxa"}},
		{"underscore is one character", "user_a", []string{"user_a", "userxa"}},
		{"escaped underscore", `user\_a`, []string{"user_a"}},
		{"escaped percent", `100\%%`, []string{"100%_done"}},
		{"percent inside", "%_done", []string{"100%_done"}},
		{"upper case pattern", "USER_B", []string{"User_B"}},
		{"everything", "%", []string{"100%_done", "customer_notes", "regions", "targets", "user_a", "User_B", "userxa"}},
		{"no match", "nothing%", nil},
		{"quote injection", "%' OR '1'='1", nil},
		{"statement injection", "x'; DROP TABLE sales.regions; --", nil},
		{"comment injection", "%/*", nil},
		{"dollar quoting", "$$ OR true $$", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			list, err := catalog.ListObjects(ctx, tx, catalog.ListOptions{Schema: "sales", Type: catalog.TypeTable, Pattern: c.pattern})
			if err != nil {
				t.Fatalf("ListObjects(pattern %q): %v", c.pattern, err)
			}
			if got := names(list); !slices.Equal(got, c.want) {
				t.Errorf("pattern %q: %q, want %q", c.pattern, got, c.want)
			}
			if list.Total != len(c.want) || list.Truncated {
				t.Errorf("pattern %q: total %d, truncated %v", c.pattern, list.Total, list.Truncated)
			}
		})
	}
	// The injection attempts were patterns, nothing else: sales.regions is
	// still there.
	if list, err := catalog.ListObjects(ctx, tx, catalog.ListOptions{Schema: "sales", Pattern: "regions"}); err != nil || len(list.Objects) != 1 {
		t.Errorf("sales.regions after injection attempts: %v, %v", list, err)
	}
}

func TestListRefusesBadPatterns(t *testing.T) {
	db := fixture(t)
	tx := readOnlyTx(t, db.URI)
	ctx := context.Background()
	for _, p := range []string{`abc\`, `\`, `a\\\`, "a\x00b", "\xff"} {
		_, err := catalog.ListObjects(ctx, tx, catalog.ListOptions{Schema: "public", Pattern: p})
		var ia *catalog.InvalidArgumentError
		if !errors.As(err, &ia) || ia.Argument != "pattern" {
			t.Errorf("pattern %q: error %v, want an invalid pattern", p, err)
		}
	}
	// Two backslashes are an escaped backslash: a valid pattern.
	if _, err := catalog.ListObjects(ctx, tx, catalog.ListOptions{Schema: "public", Pattern: `a\\`}); err != nil {
		t.Errorf(`pattern a\\: %v`, err)
	}
	// Nothing reached PostgreSQL as an error: the transaction still works.
	if _, err := catalog.ListObjects(ctx, tx, catalog.ListOptions{Schema: "public"}); err != nil {
		t.Errorf("transaction broken after refused patterns: %v", err)
	}
}

func TestListLimit(t *testing.T) {
	db := fixture(t)
	tx := readOnlyTx(t, db.URI)
	ctx := context.Background()
	all, err := catalog.ListObjects(ctx, tx, catalog.ListOptions{Schema: "sales"})
	if err != nil {
		t.Fatal(err)
	}
	if all.Truncated || all.Total != len(all.Objects) || all.Note != "" {
		t.Fatalf("full list: total %d, %d objects, truncated %v", all.Total, len(all.Objects), all.Truncated)
	}
	cases := []struct {
		limit, want int
	}{{1, 1}, {3, 3}, {0, all.Total}, {-5, all.Total}, {catalog.MaxListLimit * 10, all.Total}, {all.Total, all.Total}}
	for _, c := range cases {
		list, err := catalog.ListObjects(ctx, tx, catalog.ListOptions{Schema: "sales", Limit: c.limit})
		if err != nil {
			t.Fatalf("limit %d: %v", c.limit, err)
		}
		if len(list.Objects) != c.want || list.Total != all.Total {
			t.Errorf("limit %d: %d objects of %d, want %d of %d", c.limit, len(list.Objects), list.Total, c.want, all.Total)
		}
		cut := c.want < all.Total
		if list.Truncated != cut || (list.Note != "") != cut {
			t.Errorf("limit %d: truncated %v, note %q", c.limit, list.Truncated, list.Note)
		}
		// A cut list is the head of the full one.
		if !slices.Equal(names(list), names(all)[:c.want]) {
			t.Errorf("limit %d: %q is not the start of %q", c.limit, names(list), names(all))
		}
	}
}

func TestListTypes(t *testing.T) {
	db := fixture(t)
	tx := readOnlyTx(t, db.URI)
	ctx := context.Background()
	for _, typ := range catalog.ObjectTypes() {
		list, err := catalog.ListObjects(ctx, tx, catalog.ListOptions{Schema: "public", Type: typ})
		if err != nil {
			t.Fatalf("type %s: %v", typ, err)
		}
		if len(list.Objects) == 0 {
			t.Errorf("type %s: nothing listed in public", typ)
		}
		for _, o := range list.Objects {
			want := typ
			if typ == catalog.TypeEnum {
				want = catalog.TypeType
			}
			if o.Type != want || typ == catalog.TypeEnum && o.Kind != "enum" {
				t.Errorf("type %s lists %s %q of kind %q", typ, o.Type, o.Name, o.Kind)
			}
		}
	}
	// Aliases are accepted as they are by ParseObjectType.
	list, err := catalog.ListObjects(ctx, tx, catalog.ListOptions{Schema: "public", Type: "Materialized Views"})
	if err != nil || len(list.Objects) != 2 {
		t.Errorf("type alias: %v, %v", list, err)
	}
	_, err = catalog.ListObjects(ctx, tx, catalog.ListOptions{Schema: "public", Type: "tabel"})
	var ia *catalog.InvalidArgumentError
	if !errors.As(err, &ia) || !strings.Contains(err.Error(), `did you mean "table"`) {
		t.Errorf("unknown type: %v", err)
	}
}

func TestListDetails(t *testing.T) {
	db := fixture(t)
	tx := readOnlyTx(t, db.URI)
	ctx := context.Background()
	list, err := catalog.ListObjects(ctx, tx, catalog.ListOptions{Schema: "public"})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]catalog.Object{}
	for _, o := range list.Objects {
		if o.Type == catalog.TypeIndex {
			t.Errorf("index %s listed without asking for indexes", o.Name)
		}
		byName[o.Name+"/"+string(o.Type)] = o
	}
	if o := byName["measurements/table"]; o.RowEstimate == nil || *o.RowEstimate != 10000 || o.SizeBytes == nil || *o.SizeBytes < 8192*40 || o.Size == "" {
		t.Errorf("measurements = %+v", o)
	}
	if o := byName["never_analyzed/table"]; o.RowEstimate != nil {
		t.Errorf("never analyzed table has estimate %d", *o.RowEstimate)
	}
	if o := byName["events/table"]; o.Kind != "partitioned" || o.RowEstimate == nil || *o.RowEstimate != 1000 || o.SizeBytes == nil || *o.SizeBytes == 0 {
		t.Errorf("partitioned table = %+v", o)
	}
	if o := byName["events_2024/table"]; o.Kind != "partition" || o.PartitionOf != "public.events" {
		t.Errorf("partition = %+v", o)
	}
	if o := byName["order_status/type"]; !slices.Equal(o.Labels, []string{"new", "paid", "shipped", "refunded", "cancelled"}) {
		t.Errorf("enum labels = %q", o.Labels)
	}
	if o := byName["remote_stock/foreign_table"]; o.Server != "remote_pg" || o.Comment != "Stock levels in the warehouse" {
		t.Errorf("foreign table = %+v", o)
	}
	if o := byName["pgcrypto/extension"]; o.Version == "" || o.Description == "" {
		t.Errorf("extension = %+v", o)
	}
	if o := byName["secure_count/function"]; o.Arguments == nil || *o.Arguments != "" || o.Result != "bigint" || o.Language != "plpgsql" {
		t.Errorf("function = %+v", o)
	}
	// Extension members (pgcrypto's digest, btree_gist's support functions)
	// are hidden unless asked for.
	if _, ok := byName["digest/function"]; ok {
		t.Errorf("extension function digest listed by default")
	}
	with, err := catalog.ListObjects(ctx, tx, catalog.ListOptions{Schema: "public", Type: catalog.TypeFunction, Pattern: "digest", IncludeExtensionObjects: true})
	if err != nil || len(with.Objects) == 0 {
		t.Errorf("digest with extension objects: %v, %v", with, err)
	}
	// Range constructors belong to the range type, not to the list.
	for k := range byName {
		if strings.HasPrefix(k, "floatmultirange/") || k == "floatrange/function" {
			t.Errorf("range constructor %s listed", k)
		}
	}
}

func TestListMissingSchema(t *testing.T) {
	db := fixture(t)
	tx := readOnlyTx(t, db.URI)
	_, err := catalog.ListObjects(context.Background(), tx, catalog.ListOptions{Schema: "Sales"})
	var nf *catalog.NotFoundError
	if !errors.As(err, &nf) || !nf.SchemaMissing || len(nf.Similar) == 0 || nf.Similar[0] != "sales" {
		t.Errorf("ListObjects(Sales) = %v, want schema not found, similar sales", err)
	}
	// An existing but empty schema is an empty list, not an error.
	list, err := catalog.ListObjects(context.Background(), tx, catalog.ListOptions{Schema: "sales", Type: catalog.TypeMaterializedView})
	if err != nil || list.Objects == nil || len(list.Objects) != 0 {
		t.Errorf("empty list = %+v, %v", list, err)
	}
	_, err = catalog.ListObjects(context.Background(), tx, catalog.ListOptions{})
	var ia *catalog.InvalidArgumentError
	if !errors.As(err, &ia) || ia.Argument != "schema" {
		t.Errorf("no schema: %v", err)
	}
}
