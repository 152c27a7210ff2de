package app_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgherd/pgherd/internal/access"
	"github.com/pgherd/pgherd/internal/pgtest"
	"github.com/pgherd/pgherd/internal/roles"
)

// adviceFixture: orders without an index on customer_id, big enough for
// one to matter.
const adviceFixture = `
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
CREATE EXTENSION IF NOT EXISTS hypopg;
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, region text NOT NULL);
CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES customers, status text NOT NULL,
                     created_at timestamptz NOT NULL, total numeric NOT NULL, pad text);
INSERT INTO customers SELECT g, 'customer ' || g, 'r' || g % 10 FROM generate_series(1, 20000) g;
INSERT INTO orders SELECT g, 1 + (g::bigint * 7877) % 20000, (ARRAY['new','paid','shipped','done'])[1 + g % 4],
       timestamptz '2024-01-01' + g * interval '3 minutes', g % 1000, repeat('p', 60)
  FROM generate_series(1, 120000) g;
`

// adviceEndpoint serves a fixture database on an admin_ro endpoint whose
// login role internal/roles created, the least-privilege way.
func adviceEndpoint(t *testing.T) (*server, *pgtest.Database) {
	t.Helper()
	needHypoPG(t)
	login := "advice_ro_" + strings.ToLower(t.Name()[len(t.Name())-6:])
	pw := pgtest.CreateRole(t, login, "")
	owner := login + "_owner"
	pgtest.CreateRole(t, owner, "")
	db := pgtest.NewDatabase(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db.URI)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "GRANT CREATE ON SCHEMA public TO "+owner+"; SET ROLE "+owner+";"+strings.Replace(adviceFixture, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements;\nCREATE EXTENSION IF NOT EXISTS hypopg;", "", 1)+"RESET ROLE;"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements; CREATE EXTENSION IF NOT EXISTS hypopg;"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "VACUUM ANALYZE"); err != nil {
		t.Fatal(err)
	}
	if err := roles.Apply(ctx, conn, roles.Harden(db.Name, owner)); err != nil {
		t.Fatal(err)
	}
	stmts, err := roles.Statements(roles.Spec{Role: login, Password: pw, Mode: access.AdminRO, Database: db.Name, Owner: owner})
	if err != nil {
		t.Fatal(err)
	}
	if err := roles.Apply(ctx, conn, stmts); err != nil {
		t.Fatal(err)
	}
	yaml := "server: {port: 0}\nendpoints:\n  shop: {database_uri: \"${URI}\", access_mode: admin_ro}\n  owner: {database_uri: \"${SU}\", access_mode: admin_rw}\n"
	return start(t, yaml, map[string]string{"URI": pgtest.URIAs(db.Name, login, pw), "SU": db.URI}), db
}

// analyze_query_indexes through MCP as the least-privilege admin_ro role:
// it recommends, it plans parameterized queries and UPDATE/DELETE row
// searches, it refuses what is not a query, it never executes anything,
// and it leaves no hypothetical index behind.
func TestAnalyzeQueryIndexes(t *testing.T) {
	s, db := adviceEndpoint(t)
	cs, log := s.connectProgress(t, "/shop/mcp", streamable, nil)
	res := callProgress(t, cs, "shop_analyze_query_indexes", map[string]any{
		"queries": []string{
			"SELECT id, total FROM orders WHERE customer_id = $1",
			"DELETE FROM orders WHERE customer_id = 17",
			"UPDATE customers SET name = 'changed' WHERE id = 5",
			"INSERT INTO customers VALUES (999999, 'x', 'y')",
			"SELECT 1; DROP TABLE orders",
			"SELECT * FROM no_such_table WHERE a = 1",
		},
	}, "advice-1")
	out := res.StructuredContent.(map[string]any)
	recs := out["recommendations"].([]any)
	if len(recs) != 1 {
		t.Fatalf("recommendations: %s", text(res))
	}
	rec := recs[0].(map[string]any)
	if cols := rec["columns"].([]any); cols[0] != "customer_id" || !strings.HasPrefix(rec["create_sql"].(string), "CREATE INDEX CONCURRENTLY orders_customer_id_idx ON public.orders") {
		t.Errorf("recommendation %v", rec)
	}
	if len(rec["helps"].([]any)) != 2 {
		t.Errorf("the index should help the parameterized SELECT and the DELETE: %v", rec["helps"])
	}
	qs := out["queries"].([]any)
	want := []string{"", "", "", "INSERT … VALUES reads no table", "only one statement", "does not plan: relation \"no_such_table\" does not exist"}
	for i, w := range want {
		q := qs[i].(map[string]any)
		got, _ := q["not_analyzed"].(string)
		if (w == "") != (got == "") || !strings.Contains(got, w) {
			t.Errorf("query %d: not_analyzed %q, want %q", i+1, got, w)
		}
	}
	if m := qs[0].(map[string]any)["planning_method"]; m != "prepare_force_generic_plan" && m != "explain_generic_plan" {
		t.Errorf("the parameterized query was planned with %v", m)
	}
	if qs[1].(map[string]any)["planned_as"] == nil {
		t.Errorf("the DELETE should say what was planned: %v", qs[1])
	}
	checkProgress(t, log, "advice-1", 0)
	t.Log(text(res))

	// Nothing ran: the rows are still there and unchanged.
	if n := pgtest.QueryValue[int64](t, db.URI, `SELECT count(*) FROM orders WHERE customer_id = 17`); n == 0 {
		t.Error("the analyzed DELETE deleted rows")
	}
	if name := pgtest.QueryValue[string](t, db.URI, `SELECT name FROM customers WHERE id = 5`); name != "customer 5" {
		t.Errorf("the analyzed UPDATE changed a row: %q", name)
	}
	if n := pgtest.QueryValue[int64](t, db.URI, `SELECT count(*) FROM pg_indexes WHERE tablename = 'orders'`); n != 1 {
		t.Errorf("an index was created: %d indexes on orders", n)
	}

	// In admin_ro the planned SELECT must pass execute_sql's rules.
	res = call(t, cs, "shop_analyze_query_indexes", map[string]any{"queries": []string{"SELECT lo_import('/etc/passwd')"}})
	if q := res.StructuredContent.(map[string]any)["queries"].([]any)[0].(map[string]any); !strings.Contains(fmt.Sprint(q["not_analyzed"]), "refused by this endpoint's SQL rules") {
		t.Errorf("a function admin_ro may not call: %v", q)
	}
	if msg := callErr(t, cs, "shop_analyze_query_indexes", map[string]any{"queries": []string{}}); !strings.Contains(msg, "give 1-100 statements") {
		t.Errorf("no queries: %s", msg)
	}
	if msg := callErr(t, cs, "shop_analyze_query_indexes", map[string]any{"queries": []string{"SELECT 1"}, "max_indexes": 99}); !strings.Contains(msg, "max_indexes 99 is out of range") {
		t.Errorf("max_indexes: %s", msg)
	}

	// Hypothetical indexes live in the backend: the connection that held
	// them is gone, no other one has any.
	owner := s.connect(t, "/owner/mcp", streamable, nil)
	for range 5 {
		got := callOK(t, owner, "owner_execute_sql", map[string]any{"sql": "SELECT count(*) AS n FROM hypopg_list_indexes"})
		if !strings.Contains(fmt.Sprint(got["rows"]), "[0]") {
			t.Fatalf("a pooled connection holds hypothetical indexes: %v", got["rows"])
		}
	}
}

// analyze_workload_indexes reads the workload from pg_stat_statements
// (constants become $n, planned generically) and recommends the index the
// heavy statement needs.
func TestAnalyzeWorkloadIndexes(t *testing.T) {
	s, db := adviceEndpoint(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db.URI)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for i := range 30 {
		if _, err := conn.Exec(ctx, fmt.Sprintf("SELECT id, total FROM orders WHERE customer_id = %d", i)); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, fmt.Sprintf("SELECT name FROM customers WHERE id = %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	cs, log := s.connectProgress(t, "/shop/mcp", streamable, nil)
	res := callProgress(t, cs, "shop_analyze_workload_indexes", map[string]any{"min_calls": 10}, "workload-1")
	out := res.StructuredContent.(map[string]any)
	advice := out["advice"].(map[string]any)
	recs := advice["recommendations"].([]any)
	if len(recs) != 1 || !strings.Contains(recs[0].(map[string]any)["create_sql"].(string), "(customer_id)") {
		t.Fatalf("workload advice:\n%s", text(res))
	}
	found := false
	for _, q := range advice["queries"].([]any) {
		m := q.(map[string]any)
		if strings.Contains(m["sql"].(string), "customer_id = $1") && m["improvement_percent"].(float64) > 90 {
			found = true
		}
	}
	if !found {
		t.Errorf("the normalized statement was not analyzed: %s", text(res))
	}
	if !strings.Contains(text(res), "Workload: the") {
		t.Errorf("text: %s", text(res))
	}
	checkProgress(t, log, "workload-1", 0)
}
