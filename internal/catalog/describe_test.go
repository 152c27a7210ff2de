package catalog_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/pgherd/pgherd/internal/catalog"
	"github.com/pgherd/pgherd/internal/pgtest"
)

// describe is Describe that fails the test on error.
func describe(t *testing.T, q catalog.Querier, schema, name string, typ catalog.ObjectType) *catalog.Details {
	t.Helper()
	d, err := catalog.Describe(context.Background(), q, schema, name, typ)
	if err != nil {
		t.Fatalf("Describe(%s, %s, %q): %v", schema, name, typ, err)
	}
	return d
}

func TestDescribeTable(t *testing.T) {
	db := fixture(t)
	tx := readOnlyTx(t, db.URI)

	orders := describe(t, tx, "public", "orders", catalog.TypeTable)
	if len(orders.ForeignKeys) != 1 {
		t.Fatalf("orders has %d foreign keys, want 1: %+v", len(orders.ForeignKeys), orders.ForeignKeys)
	}
	fk := orders.ForeignKeys[0]
	if fk.Name != "orders_customer_fk" || !slices.Equal(fk.Columns, []string{"customer_id", "tenant_id"}) ||
		fk.ReferencedSchema != "public" || fk.ReferencedTable != "customers" ||
		!slices.Equal(fk.ReferencedColumns, []string{"id", "tenant_id"}) ||
		fk.OnDelete != "cascade" || fk.OnUpdate != "restrict" || !fk.Deferrable || !fk.InitiallyDeferred {
		t.Errorf("orders foreign key = %+v", fk)
	}
	if orders.PrimaryKey == nil || orders.PrimaryKey.Name != "orders_pkey" || !slices.Equal(orders.PrimaryKey.Columns, []string{"id"}) {
		t.Errorf("orders primary key = %+v", orders.PrimaryKey)
	}
	if len(orders.CheckConstraints) != 1 || orders.CheckConstraints[0].Expression != "(char_length(note) <= 500)" ||
		orders.CheckConstraints[0].Comment != "Keep notes short" {
		t.Errorf("orders check constraints = %+v", orders.CheckConstraints)
	}

	cols := map[string]catalog.Column{}
	for _, c := range orders.Columns {
		cols[c.Name] = c
	}
	if c := cols["id"]; c.Identity != "by_default" || c.Nullable || c.Position != 1 {
		t.Errorf("orders.id = %+v, want identity by_default, not null, position 1", c)
	}
	if c := cols["tax"]; c.Generated != "stored" || !strings.Contains(c.GenerationExpression, "amount") || c.Default != "" || c.Comment != "Computed VAT" {
		t.Errorf("orders.tax = %+v, want a stored generated column over amount", c)
	}
	if c := cols["status"]; c.Type != "order_status" || c.Default != "'new'::order_status" {
		t.Errorf("orders.status = %+v", c)
	}
	if c := cols["amount"]; c.Type != "positive_amount" || !c.Nullable {
		t.Errorf("orders.amount = %+v", c)
	}

	idx := map[string]catalog.Index{}
	for _, ix := range orders.Indexes {
		idx[ix.Name] = ix
	}
	if ix := idx["orders_open_idx"]; ix.Predicate != "(status = 'new'::order_status)" || ix.Comment != "Orders still waiting" || ix.Unique {
		t.Errorf("partial index = %+v", ix)
	}
	if ix := idx["orders_note_lower_idx"]; !strings.Contains(ix.Definition, "(lower(note))") || ix.Method != "btree" {
		t.Errorf("expression index = %+v", ix)
	}
	if ix := idx["orders_tenant_id_idx"]; !ix.Unique || ix.Primary || !ix.Valid || ix.SizeBytes == nil || ix.Scans == nil {
		t.Errorf("unique index = %+v", ix)
	}
	if ix := idx["orders_customer_placed_idx"]; !strings.Contains(ix.Definition, "(customer_id, placed_at DESC)") {
		t.Errorf("multicolumn index = %+v", ix)
	}
	if ix := idx["orders_pkey"]; !ix.Primary || ix.Constraint != "orders_pkey" {
		t.Errorf("primary key index = %+v", ix)
	}

	trig := map[string]catalog.Trigger{}
	for _, tr := range orders.Triggers {
		trig[tr.Name] = tr
	}
	if tr := trig["orders_touch"]; tr.Timing != "BEFORE" || tr.Level != "ROW" || !slices.Equal(tr.Events, []string{"UPDATE"}) ||
		tr.Condition != "(old.status IS DISTINCT FROM new.status)" || tr.Function != "public.touch_order" || !tr.Enabled {
		t.Errorf("row trigger = %+v", tr)
	}
	if tr := trig["orders_audit"]; tr.Timing != "AFTER" || tr.Level != "STATEMENT" || !slices.Equal(tr.Events, []string{"INSERT", "DELETE"}) || tr.Condition != "" {
		t.Errorf("statement trigger = %+v", tr)
	}
	if tr := trig["orders_audit_disabled"]; tr.Enabled || !slices.Equal(tr.Events, []string{"TRUNCATE"}) {
		t.Errorf("disabled trigger = %+v", tr)
	}
	if orders.Size == nil || orders.Size.TotalBytes != orders.Size.TableBytes+orders.Size.IndexesBytes+orders.Size.ToastBytes || orders.Size.IndexesBytes == 0 {
		t.Errorf("orders size = %+v", orders.Size)
	}
	if orders.RowSecurity == nil || orders.RowSecurity.Enabled {
		t.Errorf("orders row security = %+v, want disabled", orders.RowSecurity)
	}

	customers := describe(t, tx, "public", "customers", catalog.TypeTable)
	var refs []string
	for _, r := range customers.ReferencedBy {
		refs = append(refs, r.Schema+"."+r.Table+"."+r.Name)
	}
	if want := []string{"sales.customer_notes.customer_notes_customer_id_fkey", "public.orders.orders_customer_fk"}; !slices.Equal(refs, want) {
		t.Errorf("customers referenced by %v, want %v", refs, want)
	}
	for _, c := range customers.Columns {
		switch c.Name {
		case "id":
			if c.Identity != "always" {
				t.Errorf("customers.id identity = %q, want always", c.Identity)
			}
		case "email":
			if c.Collation != "C" || c.Comment != "Login e-mail, unique per tenant" {
				t.Errorf("customers.email = %+v, want collation C and a comment", c)
			}
		case "name":
			if c.Default != "'anonymous'::text" {
				t.Errorf("customers.name default = %q", c.Default)
			}
		case "tenant_id":
			if c.Collation != "" {
				t.Errorf("customers.tenant_id collation = %q, want none", c.Collation)
			}
		}
	}
	if len(customers.UniqueConstraints) != 2 {
		t.Errorf("customers unique constraints = %+v, want 2", customers.UniqueConstraints)
	}

	rooms := describe(t, tx, "public", "room_bookings", catalog.TypeTable)
	if len(rooms.ExclusionConstraints) != 1 || rooms.ExclusionConstraints[0].Definition != "EXCLUDE USING gist (room WITH =, during WITH &&)" {
		t.Errorf("exclusion constraints = %+v", rooms.ExclusionConstraints)
	}

	m := describe(t, tx, "public", "measurements", catalog.TypeAll)
	if m.RowEstimate == nil || *m.RowEstimate != 10000 {
		t.Errorf("measurements row estimate = %v, want 10000", m.RowEstimate)
	}
	never := describe(t, tx, "public", "never_analyzed", catalog.TypeTable)
	if never.RowEstimate != nil || !hasNote(never, "never been vacuumed or analyzed") {
		t.Errorf("never analyzed: estimate %v, notes %q", never.RowEstimate, never.Notes)
	}
}

func hasNote(d *catalog.Details, part string) bool {
	for _, n := range d.Notes {
		if strings.Contains(n, part) {
			return true
		}
	}
	return false
}

func TestDescribeRowSecurity(t *testing.T) {
	db := fixture(t)
	tx := readOnlyTx(t, db.URI)
	d := describe(t, tx, "public", "documents", catalog.TypeTable)
	rs := d.RowSecurity
	if rs == nil || !rs.Enabled || !rs.Forced || len(rs.Policies) != 2 {
		t.Fatalf("row security = %+v", rs)
	}
	want := []catalog.Policy{
		{Name: "documents_owner_write", Command: "INSERT", Permissive: false, Roles: []string{"public"}, WithCheck: "(owner = CURRENT_USER)"},
		{Name: "documents_tenant", Command: "ALL", Permissive: true, Roles: []string{"public"},
			Using: "(tenant_id = (current_setting('app.tenant_id'::text, true))::integer)"},
	}
	for i, p := range rs.Policies {
		if p.Name != want[i].Name || p.Command != want[i].Command || p.Permissive != want[i].Permissive ||
			!slices.Equal(p.Roles, want[i].Roles) || p.Using != want[i].Using || p.WithCheck != want[i].WithCheck {
			t.Errorf("policy %d = %+v, want %+v", i, p, want[i])
		}
	}
}

func TestDescribePartitionsAndInheritance(t *testing.T) {
	db := fixture(t)
	tx := readOnlyTx(t, db.URI)

	events := describe(t, tx, "public", "events", catalog.TypeTable)
	p := events.Partitioning
	if events.Kind != "partitioned" || p == nil || p.Strategy != "range" || p.Key != "RANGE (happened_at)" || p.PartitionCount != 2 || len(p.Partitions) != 2 {
		t.Fatalf("events kind %q, partitioning %+v", events.Kind, p)
	}
	if p.Partitions[0].Name != "events_2024" || p.Partitions[0].Bound != "FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')" {
		t.Errorf("first partition = %+v", p.Partitions[0])
	}
	if events.RowEstimate == nil || *events.RowEstimate != 1000 {
		t.Errorf("events row estimate = %v, want the partitions' sum 1000", events.RowEstimate)
	}
	if events.Size == nil || events.Size.TableBytes == 0 {
		t.Errorf("events size = %+v, want the partitions' sum", events.Size)
	}
	if len(events.Indexes) != 1 || !events.Indexes[0].Partitioned || events.Indexes[0].SizeBytes == nil || *events.Indexes[0].SizeBytes == 0 {
		t.Errorf("events indexes = %+v", events.Indexes)
	}
	if events.Inherits != nil || events.InheritedBy != nil {
		t.Errorf("partitions listed as inheritance: %+v %+v", events.Inherits, events.InheritedBy)
	}

	part := describe(t, tx, "public", "events_2025", catalog.TypeTable)
	if part.Kind != "partition" || part.PartitionOf == nil || part.PartitionOf.Table != "events" ||
		part.PartitionOf.Bound != "FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')" || part.Inherits != nil {
		t.Errorf("partition: kind %q, of %+v, inherits %+v", part.Kind, part.PartitionOf, part.Inherits)
	}

	trucks := describe(t, tx, "public", "trucks", catalog.TypeTable)
	if len(trucks.Inherits) != 1 || trucks.Inherits[0] != (catalog.RelationRef{Schema: "public", Name: "vehicles"}) || trucks.PartitionOf != nil {
		t.Errorf("trucks inherits %+v, partition of %+v", trucks.Inherits, trucks.PartitionOf)
	}
	if len(trucks.CheckConstraints) != 1 || !trucks.CheckConstraints[0].Inherited {
		t.Errorf("trucks check constraints = %+v, want one inherited", trucks.CheckConstraints)
	}
	vehicles := describe(t, tx, "public", "vehicles", catalog.TypeTable)
	if len(vehicles.InheritedBy) != 1 || vehicles.InheritedBy[0].Name != "trucks" {
		t.Errorf("vehicles inherited by %+v", vehicles.InheritedBy)
	}
}

func TestDescribeViewsAndSequences(t *testing.T) {
	db := fixture(t)
	tx := readOnlyTx(t, db.URI)

	v := describe(t, tx, "public", "open_orders", catalog.TypeView)
	if v.View == nil || !strings.Contains(v.View.Definition, "'new'::order_status") || v.View.Populated != nil || len(v.Columns) != 4 {
		t.Errorf("view = %+v, columns %d", v.View, len(v.Columns))
	}
	mv := describe(t, tx, "public", "daily_totals", catalog.TypeMaterializedView)
	if mv.View == nil || mv.View.Populated == nil || !*mv.View.Populated || len(mv.Indexes) != 1 || mv.Indexes[0].Name != "daily_totals_day_idx" {
		t.Errorf("materialized view = %+v, indexes %+v", mv.View, mv.Indexes)
	}
	stale := describe(t, tx, "public", "stale_totals", catalog.TypeMaterializedView)
	if stale.View == nil || stale.View.Populated == nil || *stale.View.Populated || !hasNote(stale, "never been refreshed") {
		t.Errorf("unpopulated materialized view = %+v, notes %q", stale.View, stale.Notes)
	}

	seq := describe(t, tx, "public", "invoice_number_seq", catalog.TypeSequence)
	s := seq.Sequence
	if s == nil || s.DataType != "integer" || s.Start != 1000 || s.Increment != 5 || s.Min != 1000 || s.Max != 999999 ||
		s.Cache != 10 || !s.Cycle || s.Identity {
		t.Fatalf("sequence = %+v", s)
	}
	if s.OwnedBy == nil || *s.OwnedBy != (catalog.ColumnRef{Schema: "public", Table: "invoices", Column: "number"}) {
		t.Errorf("sequence owned by %+v", s.OwnedBy)
	}
	if s.LastValue == nil || *s.LastValue < 1005 {
		t.Errorf("sequence last value = %v, want at least 1005", s.LastValue)
	}
	ident := describe(t, tx, "public", "customers_id_seq", catalog.TypeSequence)
	if ident.Sequence == nil || !ident.Sequence.Identity || ident.Sequence.OwnedBy == nil || ident.Sequence.OwnedBy.Column != "id" || ident.Sequence.LastValue != nil {
		t.Errorf("identity sequence = %+v, notes %q", ident.Sequence, ident.Notes)
	}
}

func TestDescribeFunctions(t *testing.T) {
	db := fixture(t)
	long := strings.Repeat("é", catalog.MaxDefinitionLength)
	pgtest.Exec(t, db.URI, "CREATE FUNCTION public.long_one() RETURNS text LANGUAGE sql AS $$ SELECT '"+long+"' $$")
	tx := readOnlyTx(t, db.URI)

	d := describe(t, tx, "public", "order_total", catalog.TypeFunction)
	if len(d.Functions) != 2 {
		t.Fatalf("order_total overloads = %d, want 2", len(d.Functions))
	}
	f0, f1 := d.Functions[0], d.Functions[1]
	if f0.Signature != "order_total(p_order bigint)" || !f0.Strict || f0.Parallel != "safe" || f0.Volatility != "stable" ||
		f0.Language != "sql" || f0.Comment != "Amount plus tax" || !strings.HasPrefix(f0.Definition, "CREATE OR REPLACE FUNCTION public.order_total(p_order bigint)") {
		t.Errorf("first overload = %+v", f0)
	}
	if f1.Arguments != "p_order bigint, p_discount numeric DEFAULT 0" || f1.Result != "numeric" || f1.Strict {
		t.Errorf("second overload = %+v", f1)
	}

	agg := describe(t, tx, "public", "product", catalog.TypeFunction).Functions[0]
	if agg.Kind != "aggregate" || agg.Definition != "" || agg.Aggregate == nil || agg.Aggregate.TransitionFunction != "numeric_mul" ||
		agg.Aggregate.InitialCondition != "1" || agg.Aggregate.StateType != "numeric" {
		t.Errorf("aggregate = %+v / %+v", agg, agg.Aggregate)
	}
	proc := describe(t, tx, "public", "archive_orders", catalog.TypeAll).Functions[0]
	if proc.Kind != "procedure" || proc.Result != "" || proc.Language != "plpgsql" {
		t.Errorf("procedure = %+v", proc)
	}
	sec := describe(t, tx, "public", "secure_count", catalog.TypeFunction).Functions[0]
	if !sec.SecurityDefiner || !slices.Contains(sec.Settings, "search_path=pg_catalog, public") {
		t.Errorf("security definer function = %+v", sec)
	}
	set := describe(t, tx, "public", "set_of_ids", catalog.TypeFunction).Functions[0]
	if !set.ReturnsSet || set.Result != "SETOF integer" {
		t.Errorf("set-returning function = %+v", set)
	}
	// Window functions: describe a built-in one.
	win := describe(t, tx, "pg_catalog", "row_number", catalog.TypeFunction).Functions[0]
	if win.Kind != "window" {
		t.Errorf("row_number kind = %q, want window", win.Kind)
	}

	lf := describe(t, tx, "public", "long_one", catalog.TypeFunction)
	f := lf.Functions[0]
	if !f.DefinitionTruncated || utf8.RuneCountInString(f.Definition) != catalog.MaxDefinitionLength || !hasNote(lf, "cut at") {
		t.Errorf("long definition: truncated %v, %d characters, notes %q", f.DefinitionTruncated, utf8.RuneCountInString(f.Definition), lf.Notes)
	}
}

func TestDescribeTypesAndExtensions(t *testing.T) {
	db := fixture(t)
	tx := readOnlyTx(t, db.URI)

	enum := describe(t, tx, "public", "order_status", catalog.TypeEnum)
	// 'refunded' was added BEFORE 'cancelled' after the fact: the order
	// must follow enumsortorder, not the labels' creation.
	if want := []string{"new", "paid", "shipped", "refunded", "cancelled"}; enum.DataType == nil || !slices.Equal(enum.DataType.Labels, want) {
		t.Errorf("enum labels = %+v, want %v", enum.DataType, want)
	}
	if enum.Kind != "enum" || len(enum.DataType.UsedBy) != 1 || enum.DataType.UsedBy[0] != (catalog.ColumnRef{Schema: "public", Table: "orders", Column: "status"}) {
		t.Errorf("enum kind %q used by %+v", enum.Kind, enum.DataType.UsedBy)
	}

	comp := describe(t, tx, "public", "address", catalog.TypeType)
	var attrs []string
	for _, a := range comp.DataType.Attributes {
		attrs = append(attrs, a.Name+" "+a.Type)
	}
	if want := []string{"street text", "city text", "zip character varying(10)"}; comp.Kind != "composite" || !slices.Equal(attrs, want) {
		t.Errorf("composite %q attributes %v, want %v", comp.Kind, attrs, want)
	}

	dom := describe(t, tx, "public", "positive_amount", catalog.TypeType).DataType
	if dom.Kind != "domain" || dom.BaseType != "numeric(12,2)" || !dom.NotNull || dom.Default != "0" || len(dom.Constraints) != 1 ||
		dom.Constraints[0].Name != "positive_amount_check" || !strings.Contains(dom.Constraints[0].Expression, "VALUE >=") {
		t.Errorf("domain = %+v", dom)
	}

	rng := describe(t, tx, "public", "floatrange", catalog.TypeAll)
	if rng.Type != catalog.TypeType || rng.DataType.Kind != "range" || rng.DataType.Subtype != "double precision" || rng.DataType.SubtypeDiff != "float8mi" {
		t.Errorf("range = %+v", rng.DataType)
	}
	if !slices.Equal(rng.OtherTypesWithName, []catalog.ObjectType{catalog.TypeFunction}) {
		t.Errorf("floatrange other types = %v, want [function] (its constructor)", rng.OtherTypesWithName)
	}

	ext := describe(t, tx, "public", "pgcrypto", catalog.TypeExtension)
	if ext.Extension == nil || ext.Extension.Version == "" || ext.Extension.Schema != "public" || ext.Extension.Objects == 0 ||
		ext.Extension.ObjectsByKind["functions"] == 0 || ext.Extension.Description == "" {
		t.Errorf("extension = %+v", ext.Extension)
	}
	if pgtest.HasHypoPG() {
		h := describe(t, tx, "tools", "hypopg", catalog.TypeExtension)
		if h.Type != catalog.TypeExtension || h.Extension.Schema != "tools" {
			t.Errorf("hypopg = %+v", h.Extension)
		}
		// hypopg also has a function hypopg(): without a type the function
		// wins, and the extension is named as another kind.
		h = describe(t, tx, "tools", "hypopg", catalog.TypeAll)
		if h.Type != catalog.TypeFunction || !slices.Contains(h.OtherTypesWithName, catalog.TypeExtension) {
			t.Errorf("hypopg without type: %q, others %v", h.Type, h.OtherTypesWithName)
		}
	}

	ix := describe(t, tx, "public", "orders_open_idx", catalog.TypeIndex)
	if ix.Index == nil || ix.Index.Table != "orders" || ix.Index.Schema != "public" || ix.Index.Predicate == "" || ix.Comment != "Orders still waiting" {
		t.Errorf("index = %+v", ix.Index)
	}
}

func TestDescribeKindFallback(t *testing.T) {
	db := fixture(t)
	tx := readOnlyTx(t, db.URI)
	// An agent asking for a "table" that is a view gets the view, told so.
	d := describe(t, tx, "public", "open_orders", catalog.TypeTable)
	if d.Type != catalog.TypeView || !hasNote(d, "is a view") {
		t.Errorf("type %q, notes %q", d.Type, d.Notes)
	}
	// Not across unrelated kinds: a view is not a function.
	_, err := catalog.Describe(context.Background(), tx, "public", "open_orders", catalog.TypeFunction)
	var nf *catalog.NotFoundError
	if !errors.As(err, &nf) || !slices.Equal(nf.ExistsAs, []catalog.ObjectType{catalog.TypeView}) {
		t.Errorf("Describe(open_orders, function) = %v, want not found, exists as view", err)
	}
}

func TestDescribeNotFound(t *testing.T) {
	db := fixture(t)
	tx := readOnlyTx(t, db.URI)
	ctx := context.Background()
	cases := []struct {
		schema, name  string
		typ           catalog.ObjectType
		schemaMissing bool
		firstSimilar  string
		existsAs      []catalog.ObjectType
		inMessage     string
	}{
		{"public", "ordrs", catalog.TypeAll, false, "orders", nil, `similar names: orders`},
		{"public", "Customers", catalog.TypeTable, false, "customers", nil, `table "Customers" not found in schema "public"`},
		{"public", "order", catalog.TypeAll, false, "orders", nil, "order"},
		{"public", "order_status", catalog.TypeTable, false, "", []catalog.ObjectType{catalog.TypeType}, "exists there as: type"},
		{"public", "order_total", catalog.TypeSequence, false, "", []catalog.ObjectType{catalog.TypeFunction}, "exists there as: function"},
		{"public", "zzzzzzzzzzzzzz", catalog.TypeAll, false, "", nil, "list the schema's objects"},
		{"publik", "orders", catalog.TypeAll, true, "public", nil, `schema "publik" does not exist; similar schemas: public`},
		{"sales", "user_b", catalog.TypeTable, false, "User_B", nil, "User_B"},
	}
	for _, c := range cases {
		t.Run(c.schema+"."+c.name, func(t *testing.T) {
			_, err := catalog.Describe(ctx, tx, c.schema, c.name, c.typ)
			var nf *catalog.NotFoundError
			if !errors.As(err, &nf) {
				t.Fatalf("Describe(%s, %s) error = %v, want *NotFoundError", c.schema, c.name, err)
			}
			if nf.SchemaMissing != c.schemaMissing || !slices.Equal(nf.ExistsAs, c.existsAs) || len(nf.Similar) > 5 {
				t.Errorf("got %+v", nf)
			}
			if c.firstSimilar != "" && (len(nf.Similar) == 0 || nf.Similar[0] != c.firstSimilar) {
				t.Errorf("similar = %q, want %q first", nf.Similar, c.firstSimilar)
			}
			if !strings.Contains(err.Error(), c.inMessage) {
				t.Errorf("message %q does not contain %q", err.Error(), c.inMessage)
			}
		})
	}
	// The transaction is still usable: nothing above failed in PostgreSQL.
	describe(t, tx, "public", "orders", catalog.TypeTable)
}

func TestDescribeInvalidArguments(t *testing.T) {
	db := pgtest.NewDatabase(t)
	tx := readOnlyTx(t, db.URI)
	ctx := context.Background()
	cases := []struct {
		name, schema, object string
		typ                  catalog.ObjectType
		arg                  string
	}{
		{"empty schema", "", "x", catalog.TypeAll, "schema"},
		{"empty name", "public", "", catalog.TypeAll, "name"},
		{"NUL in name", "public", "a\x00b", catalog.TypeAll, "name"},
		{"bad UTF-8", "public\xff", "x", catalog.TypeAll, "schema"},
		{"unknown type", "public", "x", "tabel", "object_type"},
		{"huge name", "public", strings.Repeat("x", 5000), catalog.TypeAll, "name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := catalog.Describe(ctx, tx, c.schema, c.object, c.typ)
			var ia *catalog.InvalidArgumentError
			if !errors.As(err, &ia) || ia.Argument != c.arg {
				t.Errorf("Describe error = %v, want an invalid %s", err, c.arg)
			}
		})
	}
	var one int
	if err := tx.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		t.Errorf("transaction unusable after invalid arguments: %v", err)
	}
}

// TestSizesSkipLockedRelations pins the lock guard: while another session
// holds ACCESS EXCLUSIVE on a table (as ALTER TABLE does), listing and
// describing it must answer, without the size, instead of queueing behind
// the lock. lock_timeout turns a regression into an error, not a hang.
func TestSizesSkipLockedRelations(t *testing.T) {
	db := fixture(t)
	ctx := context.Background()
	locker := readOnlyTx(t, db.URI)
	// A read-only transaction may still take table locks.
	if _, err := locker.Exec(ctx, "LOCK TABLE public.orders, public.events_2025 IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	tx := readOnlyTx(t, db.URI)
	if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '10s'"); err != nil {
		t.Fatal(err)
	}
	d := describe(t, tx, "public", "orders", catalog.TypeTable)
	if d.Size != nil || !hasNote(d, "exclusive lock") {
		t.Errorf("locked table: size %+v, notes %q", d.Size, d.Notes)
	}
	for _, ix := range d.Indexes {
		if ix.SizeBytes != nil {
			t.Errorf("index %s of a locked table has size %d", ix.Name, *ix.SizeBytes)
		}
	}
	if len(d.Columns) == 0 || len(d.Indexes) == 0 {
		t.Errorf("locked table still described from the catalog: %d columns, %d indexes", len(d.Columns), len(d.Indexes))
	}
	// A view over the locked table: its definition would wait too.
	for _, name := range []string{"open_orders", "daily_totals"} {
		v := describe(t, tx, "public", name, catalog.TypeAll)
		if v.View == nil || v.View.Definition != "" || !hasNote(v, "exclusive lock") || len(v.Columns) == 0 {
			t.Errorf("view %s over a locked table: %+v, notes %q", name, v.View, v.Notes)
		}
	}
	// A locked partition: the parent answers, without that partition's
	// bound and without the summed size.
	ev := describe(t, tx, "public", "events", catalog.TypeTable)
	if ev.Partitioning == nil || len(ev.Partitioning.Partitions) != 2 {
		t.Fatalf("events partitioning = %+v", ev.Partitioning)
	}
	if b := ev.Partitioning.Partitions[0].Bound; b == "" {
		t.Errorf("unlocked partition lost its bound")
	}
	if b := ev.Partitioning.Partitions[1].Bound; b != "" {
		t.Errorf("locked partition bound = %q, want it left out", b)
	}
	if ev.Size != nil {
		t.Errorf("events size = %+v while a partition is locked", ev.Size)
	}
	// The locked partition itself: still a partition of events, bound left out.
	if p := describe(t, tx, "public", "events_2025", catalog.TypeTable); p.PartitionOf == nil || p.PartitionOf.Table != "events" ||
		p.PartitionOf.Bound != "" || p.Inherits != nil {
		t.Errorf("locked partition: of %+v, inherits %+v", p.PartitionOf, p.Inherits)
	}
	// Another table stays fully described.
	if c := describe(t, tx, "public", "customers", catalog.TypeTable); c.Size == nil || c.PrimaryKey == nil || c.PrimaryKey.Definition == "" {
		t.Errorf("unlocked table: size %+v, primary key %+v", c.Size, c.PrimaryKey)
	}
	list, err := catalog.ListObjects(ctx, tx, catalog.ListOptions{Schema: "public", Type: catalog.TypeTable})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range list.Objects {
		if o.Name == "orders" && o.SizeBytes != nil {
			t.Errorf("locked table listed with size %d", *o.SizeBytes)
		}
		if o.Name == "customers" && o.SizeBytes == nil {
			t.Errorf("unlocked table listed without size")
		}
	}
	schemas, err := catalog.ListSchemas(ctx, tx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range schemas {
		if s.Name == "public" && !s.SizeIncomplete {
			t.Errorf("public schema size not marked incomplete while orders is locked")
		}
	}
}

// TestSecretsNeverShown checks that option values that look like secrets
// are masked and user mappings never read.
func TestSecretsNeverShown(t *testing.T) {
	db := fixture(t)
	// A wrapper without validator accepts any option name.
	pgtest.Exec(t, db.URI, `
		CREATE FOREIGN DATA WRAPPER loose;
		CREATE SERVER loose_srv FOREIGN DATA WRAPPER loose OPTIONS (host 'h', api_token 'tok-secret-1');
		CREATE USER MAPPING FOR CURRENT_USER SERVER loose_srv OPTIONS (password 'map-secret-2');
		CREATE FOREIGN TABLE public.loose_ft (a int OPTIONS (auth_key 'col-secret-3')) SERVER loose_srv OPTIONS (password 'tbl-secret-4', path '/x');
	`)
	tx := readOnlyTx(t, db.URI)
	var out strings.Builder
	for _, name := range []string{"loose_ft", "remote_stock"} {
		d := describe(t, tx, "public", name, catalog.TypeForeignTable)
		b, _ := json.Marshal(d)
		out.Write(b)
	}
	list, err := catalog.ListObjects(context.Background(), tx, catalog.ListOptions{Schema: "public"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(list)
	out.Write(b)
	for _, secret := range []string{"tok-secret-1", "map-secret-2", "col-secret-3", "tbl-secret-4", "hunter2"} {
		if strings.Contains(out.String(), secret) {
			t.Errorf("output contains the secret %q", secret)
		}
	}
	d := describe(t, tx, "public", "loose_ft", catalog.TypeForeignTable)
	if want := []string{"password=********", "path=/x"}; !slices.Equal(d.ForeignTable.Options, want) {
		t.Errorf("table options = %q, want %q", d.ForeignTable.Options, want)
	}
	if want := []string{"host=h", "api_token=********"}; !slices.Equal(d.ForeignTable.ServerOptions, want) {
		t.Errorf("server options = %q, want %q", d.ForeignTable.ServerOptions, want)
	}
}

// TestForeignKeysAcrossPartitions pins that the per-partition copies
// PostgreSQL keeps of a foreign key never show as extra keys.
func TestForeignKeysAcrossPartitions(t *testing.T) {
	db := pgtest.NewDatabase(t)
	pgtest.Exec(t, db.URI, `
		CREATE TABLE p_ref (id int PRIMARY KEY) PARTITION BY RANGE (id);
		CREATE TABLE p_ref_1 PARTITION OF p_ref FOR VALUES FROM (0) TO (100);
		CREATE TABLE p_ref_2 PARTITION OF p_ref FOR VALUES FROM (100) TO (200) PARTITION BY RANGE (id);
		CREATE TABLE p_ref_2a PARTITION OF p_ref_2 FOR VALUES FROM (100) TO (150);
		CREATE TABLE p_src (ref int REFERENCES p_ref (id)) PARTITION BY RANGE (ref);
		CREATE TABLE p_src_1 PARTITION OF p_src FOR VALUES FROM (0) TO (1000);
		CREATE TABLE plain_src (ref int CONSTRAINT plain_src_fk REFERENCES p_ref (id));
		CREATE TABLE self_ref (id int PRIMARY KEY, parent int CONSTRAINT self_ref_parent REFERENCES self_ref (id));
		INSERT INTO p_ref SELECT g FROM generate_series(0, 149) g;
		ANALYZE;
	`)
	tx := readOnlyTx(t, db.URI)
	fks := func(list []catalog.ForeignKey) []string {
		var out []string
		for _, fk := range list {
			out = append(out, fk.Table+"->"+fk.ReferencedTable)
		}
		return out
	}
	cases := []struct {
		table        string
		out, in      []string
		inheritedOut bool
	}{
		{"p_ref", nil, []string{"p_src->p_ref", "plain_src->p_ref"}, false},
		{"p_ref_1", nil, nil, false},
		{"p_src", []string{"p_src->p_ref"}, nil, false},
		{"p_src_1", []string{"p_src_1->p_ref"}, nil, true},
		{"plain_src", []string{"plain_src->p_ref"}, nil, false},
		{"self_ref", []string{"self_ref->self_ref"}, []string{"self_ref->self_ref"}, false},
	}
	for _, c := range cases {
		d := describe(t, tx, "public", c.table, catalog.TypeTable)
		if got := fks(d.ForeignKeys); !slices.Equal(got, c.out) {
			t.Errorf("%s foreign keys = %q, want %q", c.table, got, c.out)
		}
		if got := fks(d.ReferencedBy); !slices.Equal(got, c.in) {
			t.Errorf("%s referenced by = %q, want %q", c.table, got, c.in)
		}
		if len(d.ForeignKeys) == 1 && d.ForeignKeys[0].Inherited != c.inheritedOut {
			t.Errorf("%s foreign key inherited = %v, want %v", c.table, d.ForeignKeys[0].Inherited, c.inheritedOut)
		}
	}

	// Two levels of partitions: the sums reach the leaves.
	d := describe(t, tx, "public", "p_ref", catalog.TypeTable)
	if d.RowEstimate == nil || *d.RowEstimate != 150 {
		t.Errorf("p_ref row estimate = %v, want 150 from both leaves", d.RowEstimate)
	}
	if p := d.Partitioning; p == nil || len(p.Partitions) != 2 || !p.Partitions[1].Partitioned || p.Partitions[1].Name != "p_ref_2" {
		t.Errorf("p_ref partitioning = %+v", d.Partitioning)
	}
	if !hasNote(d, "sums over the 2 leaf partitions") {
		t.Errorf("notes %q", d.Notes)
	}
	list, err := catalog.ListObjects(context.Background(), tx, catalog.ListOptions{Schema: "public", Pattern: "p_ref"})
	if err != nil || len(list.Objects) != 1 || list.Objects[0].RowEstimate == nil || *list.Objects[0].RowEstimate != 150 {
		t.Errorf("listed p_ref = %+v, %v", list, err)
	}
}
