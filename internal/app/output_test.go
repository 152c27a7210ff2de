package app_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/pgherd/pgherd/internal/pgtest"
)

// TestOutputCaps pins class 6 of issue #7 through MCP: max_result_bytes
// bounds the encoded tool result (text and structured copies, escaping
// counted) for execute_sql and explain_query alike; an error that quotes
// megabytes is cut with a marker; one huge value is cut instead of ending
// the rows.
func TestOutputCaps(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	const maxBytes = 16 << 10
	s := start(t, fmt.Sprintf(`server: {port: 0}
endpoints:
  app: {database_uri: "${URI}", access_mode: admin_ro, limits: {max_result_bytes: %d, max_rows: 100000}}
`, maxBytes), map[string]string{"URI": db.URI})
	cs := s.connect(t, "/app/mcp", streamable, nil)
	size := func(v any) int {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return len(b)
	}
	const slack = 256 // the JSON-RPC envelope go-sdk adds around the result
	for _, sql := range []string{
		"SELECT repeat(chr(1), 100000)",
		`SELECT repeat('"<>&', 300) FROM generate_series(1, 500)`,
		"SELECT g, repeat(chr(10), 50) FROM generate_series(1, 5000) g",
		"SELECT jsonb_agg(repeat('\"', 10)) FROM generate_series(1, 20000)",
	} {
		res := call(t, cs, "app_execute_sql", map[string]any{"sql": sql})
		if res.IsError {
			t.Fatalf("%s: %s", sql, text(res))
		}
		if n := size(res); n > maxBytes+slack {
			t.Errorf("%.40s…: the result takes %d bytes encoded, cap %d", sql, n, maxBytes)
		}
	}

	// An error quoting 3 MB of input.
	res := call(t, cs, "app_execute_sql", map[string]any{"sql": "SELECT repeat('x', 3000000)::int"})
	if !res.IsError || !strings.Contains(text(res), "pgherd cut this text") || size(res) > 10_000 {
		t.Errorf("huge error: isError %v, %d bytes, %.300s", res.IsError, size(res), text(res))
	}
	// A syntax error quoting the rest of the text.
	res = call(t, cs, "app_execute_sql", map[string]any{"sql": "SELECT '" + strings.Repeat("y", 1000000)})
	if !res.IsError || !strings.Contains(text(res), "pgherd cut this text") || size(res) > 10_000 {
		t.Errorf("huge syntax error: isError %v, %d bytes, %.300s", res.IsError, size(res), text(res))
	}

	// explain_query obeys the endpoint's cap: a plan with a long filter.
	values := make([]string, 3000)
	for i := range values {
		values[i] = fmt.Sprintf("'value-number-%d'", i)
	}
	pgtest.Exec(t, db.URI, "CREATE TABLE t (x text)")
	plan := call(t, cs, "app_explain_query", map[string]any{"sql": "SELECT * FROM t WHERE x IN (" + strings.Join(values, ", ") + ")"})
	if n := size(plan); n > maxBytes+slack {
		t.Errorf("explain_query result takes %d bytes encoded, cap %d", n, maxBytes)
	}
	if plan.IsError && !strings.Contains(text(plan), "max_result_bytes") {
		t.Errorf("explain_query error does not name the cap: %s", text(plan))
	}

	// One huge value between small ones: cut, and every row returned.
	rows := callOK(t, cs, "app_execute_sql", map[string]any{"sql": "SELECT g, CASE WHEN g = 2 THEN repeat('x', 3000000) ELSE 'small' END AS v FROM generate_series(1, 5) g"})
	if rows["row_count"] != float64(5) || rows["truncated"] != false || rows["cut_values"] != float64(1) {
		t.Errorf("huge value: row_count %v, truncated %v, cut_values %v; want 5 rows, one value cut", rows["row_count"], rows["truncated"], rows["cut_values"])
	}
}
