package catalog

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseObjectType(t *testing.T) {
	cases := []struct {
		in   string
		want ObjectType
	}{
		{"", TypeAll}, {"all", TypeAll}, {" ANY ", TypeAll},
		{"table", TypeTable}, {"Tables", TypeTable}, {"partitioned table", TypeTable},
		{"view", TypeView}, {"VIEWS", TypeView},
		{"materialized_view", TypeMaterializedView}, {"materialized view", TypeMaterializedView},
		{"Materialized-Views", TypeMaterializedView}, {"matview", TypeMaterializedView},
		{"sequence", TypeSequence}, {"seq", TypeSequence},
		{"extension", TypeExtension}, {"extensions", TypeExtension},
		{"function", TypeFunction}, {"procedure", TypeFunction}, {"aggregates", TypeFunction},
		{"type", TypeType}, {"domain", TypeType}, {"composite type", TypeType},
		{"enum", TypeEnum}, {"ENUMS", TypeEnum},
		{"foreign_table", TypeForeignTable}, {"foreign table", TypeForeignTable},
		{"index", TypeIndex}, {"indexes", TypeIndex}, {"indices", TypeIndex},
	}
	for _, c := range cases {
		got, err := ParseObjectType(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseObjectType(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, s := range objectTypes {
		if got, err := ParseObjectType(string(s)); err != nil || got != s {
			t.Errorf("ParseObjectType(%q) = %q, %v: canonical names must round-trip", s, got, err)
		}
	}
	bad := []struct{ in, hint string }{
		{"tabel", `did you mean "table"`},
		{"sequnce", `did you mean "sequence"`},
		{"trigger", "use one of table, view, materialized_view"},
		{"table; drop", "use one of"},
	}
	for _, c := range bad {
		_, err := ParseObjectType(c.in)
		var ia *InvalidArgumentError
		if !errors.As(err, &ia) || ia.Argument != "object_type" || !strings.Contains(err.Error(), c.hint) {
			t.Errorf("ParseObjectType(%q) error = %v, want one containing %q", c.in, err, c.hint)
		}
	}
}

func TestRankSimilar(t *testing.T) {
	candidates := []string{"orders", "order_items", "customers", "Orders", "ord", "zebra", "customer_orders", "orders_2024", "ordx"}
	cases := []struct {
		want string
		n    int
		out  []string
	}{
		{"ORDERS", 3, []string{"Orders", "orders", "ord"}},
		{"ordrs", 3, []string{"orders", "Orders", "ord"}},
		{"customer", 2, []string{"customers", "customer_orders"}},
		{"zzz", 5, []string{}},
	}
	for _, c := range cases {
		got := rankSimilar(c.want, candidates, c.n)
		if !slices.Equal(got, c.out) {
			t.Errorf("rankSimilar(%q) = %q, want %q", c.want, got, c.out)
		}
	}
	if got := rankSimilar("orders", candidates, 5); slices.Contains(got, "orders") {
		t.Errorf("rankSimilar suggests the name itself: %q", got)
	}
}

func TestPrettySize(t *testing.T) {
	cases := []struct {
		in   int64
		want string
	}{
		{0, "0 bytes"}, {8192, "8192 bytes"}, {10239, "10239 bytes"}, {10240, "10 kB"},
		{729088, "712 kB"}, {20479 * 512, "10 MB"}, {20478*512 + 511, "10239 kB"}, {10 * 1024 * 1024, "10 MB"},
		{5 << 40, "5120 GB"}, {-20480, "-20 kB"}, {1 << 62, "4096 PB"},
	}
	for _, c := range cases {
		if got := prettySize(c.in); got != c.want {
			t.Errorf("prettySize(%d) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestTriggerCondition(t *testing.T) {
	cases := []struct{ def, want string }{
		{"CREATE TRIGGER t BEFORE UPDATE ON public.x FOR EACH ROW WHEN ((old.a IS DISTINCT FROM new.a)) EXECUTE FUNCTION f()",
			"(old.a IS DISTINCT FROM new.a)"},
		{"CREATE TRIGGER t AFTER INSERT ON public.x FOR EACH ROW WHEN ((new.note = ') EXECUTE x'::text)) EXECUTE FUNCTION f()",
			"(new.note = ') EXECUTE x'::text)"},
		{"CREATE TRIGGER t AFTER INSERT ON public.x FOR EACH STATEMENT EXECUTE FUNCTION f()", ""},
		{`CREATE TRIGGER "WHEN (" AFTER INSERT ON public.x FOR EACH ROW WHEN ((new.a > 1)) EXECUTE FUNCTION f()`, "(new.a > 1)"},
	}
	for _, c := range cases {
		if got := triggerCondition(c.def); got != c.want {
			t.Errorf("triggerCondition(%q) = %q, want %q", c.def, got, c.want)
		}
	}
}

func TestMaskOptions(t *testing.T) {
	in := []string{"host=db", "password=p", "PassWord=q", "api_token=t", "sslkey=/k", "user=u", "client_secret=s", "dbname=x=y"}
	want := []string{"host=db", "password=********", "PassWord=********", "api_token=********", "sslkey=********", "user=u", "client_secret=********", "dbname=x=y"}
	if got := maskOptions(in); !slices.Equal(got, want) {
		t.Errorf("maskOptions = %q, want %q", got, want)
	}
	if maskOptions(nil) != nil {
		t.Errorf("maskOptions(nil) not nil")
	}
}

func TestCheckPattern(t *testing.T) {
	ok := []string{"", "%", "a_b", `a\%`, `a\\`, `\\\\`, strings.Repeat("x", maxNameBytes)}
	for _, p := range ok {
		if err := checkPattern(p); err != nil {
			t.Errorf("checkPattern(%q) = %v, want nil", p, err)
		}
	}
	bad := []string{`\`, `a\`, `a\\\`, "a\x00", "\xc3\x28", strings.Repeat("x", maxNameBytes+1)}
	for _, p := range bad {
		if err := checkPattern(p); err == nil {
			t.Errorf("checkPattern(%q) = nil, want an error", p)
		}
	}
}

func TestNotFoundMessages(t *testing.T) {
	cases := []struct {
		err  NotFoundError
		want string
	}{
		{NotFoundError{Schema: "publc", SchemaMissing: true, Similar: []string{"public"}},
			`schema "publc" does not exist; similar schemas: public`},
		{NotFoundError{Schema: "x", SchemaMissing: true},
			`schema "x" does not exist; list the schemas to see which exist`},
		{NotFoundError{Schema: "public", Name: "ordrs", Type: TypeMaterializedView, Similar: []string{"orders"}},
			`materialized view "ordrs" not found in schema "public"; similar names: orders`},
		{NotFoundError{Schema: "public", Name: "v", Type: TypeTable, ExistsAs: []ObjectType{TypeFunction}},
			`table "v" not found in schema "public"; "v" exists there as: function (ask for that object type, or leave the type empty)`},
		{NotFoundError{Schema: "public", Name: "q"},
			`object "q" not found in schema "public"; list the schema's objects to find the right name (names are case-sensitive)`},
	}
	for _, c := range cases {
		if got := c.err.Error(); got != c.want {
			t.Errorf("Error() = %q\nwant      %q", got, c.want)
		}
	}
}
