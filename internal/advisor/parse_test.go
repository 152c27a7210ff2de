package advisor

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestPrepare(t *testing.T) {
	tests := []struct {
		sql, planned string
		params       int
		kind         string
		err          string
	}{
		{sql: "SELECT * FROM t WHERE a = $1", planned: "SELECT * FROM t WHERE a = $1", params: 1, kind: "SELECT"},
		{sql: "SELECT * FROM t WHERE a = $3 AND b = $1 FOR UPDATE", planned: "SELECT * FROM t WHERE a = $2 AND b = $1", params: 2, kind: "SELECT"},
		{sql: "UPDATE t SET x = $1 WHERE id = $2", planned: "SELECT 1 FROM t WHERE id = $1", params: 1, kind: "UPDATE"},
		{sql: "UPDATE t SET x = s.x FROM s WHERE s.id = t.id AND s.k = 3", planned: "SELECT 1 FROM t, s WHERE s.id = t.id AND s.k = 3", kind: "UPDATE"},
		{sql: "DELETE FROM t USING u WHERE u.id = t.uid AND u.name = 'x'", planned: "SELECT 1 FROM t, u WHERE u.id = t.uid AND u.name = 'x'", kind: "DELETE"},
		{sql: "INSERT INTO t SELECT * FROM s WHERE k > 5", planned: "SELECT * FROM s WHERE k > 5", kind: "INSERT"},
		{sql: "WITH x AS (SELECT id FROM s) INSERT INTO t SELECT id FROM x", planned: "WITH x AS (SELECT id FROM s) SELECT id FROM x", kind: "INSERT"},
		{sql: "INSERT INTO t VALUES (1)", err: "reads no table"},
		{sql: "SELECT a INTO newtable FROM t", err: "creates a table"},
		{sql: "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", err: "data-modifying"},
		{sql: "CREATE TABLE x (a int)", err: "only SELECT, UPDATE, DELETE and INSERT"},
		{sql: "SELEC 1", err: "does not parse"},
		{sql: "SELECT 1; SELECT 2", err: "exactly one statement"},
	}
	for _, tc := range tests {
		p, err := prepare(tc.sql)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want %q", tc.sql, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.sql, err)
			continue
		}
		if p.planned != tc.planned || p.params != tc.params || p.kind != tc.kind {
			t.Errorf("%s: planned %q (%d params, %s), want %q (%d, %s)", tc.sql, p.planned, p.params, p.kind, tc.planned, tc.params, tc.kind)
		}
	}
	if _, err := prepare("CREATE TABLE x (a int)"); !errors.Is(err, errNotAnalyzable) {
		t.Errorf("not analyzable should wrap errNotAnalyzable: %v", err)
	}
}

// fakeCatalog holds tables without a database.
func fakeCatalog(tables ...*table) *catalog {
	c := &catalog{byName: map[string]*table{}}
	for _, t := range tables {
		c.byName["."+t.name] = t
		c.byName[t.schema+"."+t.name] = t
	}
	return c
}

func fakeTable(name string, cols ...string) *table {
	t := &table{qname: "public." + name, schema: "public", name: name, kind: "r", pages: 1000, tuples: 100000, cols: map[string]*column{}}
	for _, c := range cols {
		t.cols[c] = &column{name: c, quoted: c, typ: "integer", btree: true, distinct: 100, hasStats: true}
	}
	return t
}

func colNames(cs []*column) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.name)
	}
	return out
}

func TestUses(t *testing.T) {
	orders := fakeTable("orders", "id", "customer_id", "status", "created_at", "total")
	orders.cols["status"].typ, orders.cols["status"].mcv, orders.cols["status"].mcf = "text", []string{"done", "pending"}, []float64{0.9, 0.05}
	orders.cols["status"].distinct = 3
	orders.cols["customer_id"].distinct = 5000
	items := fakeTable("items", "order_id", "product_id", "qty")
	cat := fakeCatalog(orders, items)

	uses := func(sql string) []*use {
		t.Helper()
		p, err := prepare(sql)
		if err != nil {
			t.Fatal(err)
		}
		return analyzeUses(p.root, cat)
	}

	u := uses(`SELECT o.id FROM orders o WHERE o.status = 'pending' AND o.customer_id = $1 AND created_at >= now() - interval '1 day' ORDER BY created_at LIMIT 5`)
	if len(u) != 1 {
		t.Fatalf("uses: %d", len(u))
	}
	o := u[0]
	if got := colNames(o.eq); !slices.Equal(got, []string{"status", "customer_id"}) {
		t.Errorf("eq %v", got)
	}
	if got := colNames(o.rng); !slices.Equal(got, []string{"created_at"}) {
		t.Errorf("rng %v", got)
	}
	if len(o.order) != 1 || o.order[0].col.name != "created_at" || !o.limit {
		t.Errorf("order %+v limit %v", o.order, o.limit)
	}
	if len(o.lits) != 1 || o.lits[0].sql != "status = 'pending'" || o.lits[0].sel != 0.05 {
		t.Errorf("lits %+v", o.lits)
	}
	if got := colNames(o.refs); !slices.Contains(got, "id") || !slices.Contains(got, "customer_id") {
		t.Errorf("refs %v", got)
	}

	// Join keys, on both sides, and a correlated subquery's key.
	u = uses(`SELECT i.qty FROM items i JOIN orders o ON o.id = i.order_id WHERE o.customer_id = 7
	          AND EXISTS (SELECT 1 FROM items x WHERE x.product_id = i.product_id AND x.qty > 3)`)
	if len(u) != 3 {
		t.Fatalf("uses: %d", len(u))
	}
	if got := colNames(u[0].join); !slices.Equal(got, []string{"order_id"}) {
		t.Errorf("items join %v", got)
	}
	if got := colNames(u[1].join); !slices.Equal(got, []string{"id"}) {
		t.Errorf("orders join %v", got)
	}
	if got := colNames(u[2].join); !slices.Equal(got, []string{"product_id"}) {
		t.Errorf("correlated key %v", got)
	}
	if got := colNames(u[2].rng); !slices.Equal(got, []string{"qty"}) {
		t.Errorf("subquery range %v", got)
	}

	// Candidates: equality columns first (most selective first), then
	// the range; ORDER BY after the equality columns; partial on the
	// selective constant.
	g := newGenerator()
	u = uses(`SELECT id FROM orders WHERE status = 'pending' AND customer_id = 3 AND created_at > $1`)
	g.generate(0, u[0])
	var defs []string
	for _, c := range g.list {
		defs = append(defs, c.def)
	}
	for _, want := range []string{
		"CREATE INDEX ON public.orders USING btree (customer_id, status, created_at)",
		"CREATE INDEX ON public.orders USING btree (customer_id, created_at) WHERE status = 'pending'",
		"CREATE INDEX ON public.orders USING btree (customer_id, status, created_at) INCLUDE (id)",
	} {
		if !slices.Contains(defs, want) {
			t.Errorf("missing candidate %s in\n%s", want, strings.Join(defs, "\n"))
		}
	}
	// An existing index serving the query suppresses the candidate.
	orders.indexes = []*existingIndex{{name: "public.o_c", am: "btree", valid: true, keys: []string{"customer_id", "status", "created_at"}}}
	g = newGenerator()
	g.generate(0, u[0])
	for _, c := range g.list {
		if c.def == "CREATE INDEX ON public.orders USING btree (customer_id, status, created_at)" {
			t.Error("a candidate an existing index already is")
		}
	}
}
