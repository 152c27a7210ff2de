package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/access"
	"github.com/pgherd/pgherd/internal/pgtest"
	"github.com/pgherd/pgherd/internal/tools/dbtools"
)

// sqlFixture is the database the tool tests query. events.kind has no
// index, so a hypothetical one on it is worth using.
const sqlFixture = `
CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, qty int);
INSERT INTO items SELECT g, 'item ' || g, g % 7 FROM generate_series(1, 30) g;
CREATE TABLE scratch (id int);
CREATE SEQUENCE counter;
CREATE TABLE events (id int PRIMARY KEY, kind text NOT NULL, payload text);
INSERT INTO events SELECT g, 'k' || (g % 2000), repeat('p', 20) FROM generate_series(1, 40000) g;
CREATE SCHEMA private;
CREATE TABLE private.notes (id int, body text);
ANALYZE;
`

// Limits of the tool-test endpoints: small enough to reach in a test.
const (
	sqlMaxRows  = 50
	sqlMaxBytes = 16 << 10
)

// sqlEndpoints maps each access mode to its endpoint (and tool prefix) in
// sqlServer.
var sqlEndpoints = map[access.Mode]string{access.UserRO: "ro", access.UserRW: "rw", access.AdminRO: "aro", access.AdminRW: "arw"}

// sqlServer serves one database with the fixture (and hypopg, when the
// server has it) through one endpoint per access mode, each with one
// pooled connection, plus "nohypo": admin_rw on a database without the
// extension. It returns the server and the main database.
func sqlServer(t *testing.T) (*server, *pgtest.Database) {
	t.Helper()
	db := pgtest.NewDatabase(t)
	pgtest.Exec(t, db.URI, sqlFixture)
	// The tests time statements out after 1 s; JIT-compiling the plan of a
	// billion-row cross join can take that long on a busy machine before
	// the first row (PostgreSQL's jit_above_cost), which is not what they test.
	pgtest.Exec(t, db.URI, "ALTER DATABASE "+pgx.Identifier{db.Name}.Sanitize()+" SET jit = off")
	if pgtest.HasHypoPG() {
		pgtest.Exec(t, db.URI, "CREATE EXTENSION hypopg")
	}
	bare := pgtest.NewDatabase(t)
	pgtest.Exec(t, bare.URI, "CREATE TABLE events (id int, kind text)")
	var b strings.Builder
	b.WriteString("server: {port: 0, shutdown_timeout: 5s}\nendpoints:\n")
	for _, m := range access.Modes {
		fmt.Fprintf(&b, "  %s:\n    database_uri: \"${URI}\"\n    access_mode: %s\n    pool: {max_conns: 1}\n"+
			"    limits: {statement_timeout: 1s, max_rows: %d, max_result_bytes: %d}\n", sqlEndpoints[m], m, sqlMaxRows, sqlMaxBytes)
	}
	b.WriteString("  nohypo:\n    database_uri: \"${BARE}\"\n    access_mode: admin_rw\n")
	return start(t, b.String(), map[string]string{"URI": db.URI, "BARE": bare.URI}), db
}

// sqlSessions connects to every endpoint of s, keyed by mode.
func sqlSessions(t *testing.T, s *server) map[access.Mode]*mcp.ClientSession {
	t.Helper()
	out := map[access.Mode]*mcp.ClientSession{}
	for m, ep := range sqlEndpoints {
		out[m] = s.connect(t, "/"+ep+"/mcp", streamable, nil)
	}
	return out
}

// execSQL calls the endpoint's execute_sql with args (sql plus extras).
func execSQL(t *testing.T, cs *mcp.ClientSession, m access.Mode, sql string, extra map[string]any) *mcp.CallToolResult {
	t.Helper()
	args := map[string]any{"sql": sql}
	for k, v := range extra {
		args[k] = v
	}
	return call(t, cs, sqlEndpoints[m]+"_execute_sql", args)
}

// structured returns a successful result's structured content.
func structured(t *testing.T, res *mcp.CallToolResult, what string) map[string]any {
	t.Helper()
	if res.IsError {
		t.Fatalf("%s failed: %s", what, text(res))
	}
	m, ok := res.StructuredContent.(map[string]any)
	if !ok {
		t.Fatalf("%s: structured content is %T, want an object", what, res.StructuredContent)
	}
	return m
}

// canonJSON encodes a decoded value, and re-encodes a JSON text given as
// jsonText, so the two can be compared.
func canonJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func jsonText(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad JSON in the test: %q: %v", s, err)
	}
	return v
}

func TestExecuteSQLResultShape(t *testing.T) {
	s, _ := sqlServer(t)
	cs := sqlSessions(t, s)[access.UserRO]
	res := execSQL(t, cs, access.UserRO, "SELECT id, name AS \"item name\" FROM items WHERE id <= 2 ORDER BY id", nil)
	sc := structured(t, res, "SELECT")
	keys := make([]string, 0, len(sc))
	for k := range sc {
		keys = append(keys, k)
	}
	if got, want := sortStrings(keys), []string{"columns", "command", "elapsed_ms", "row_count", "rows", "truncated"}; !reflect.DeepEqual(got, want) {
		t.Errorf("structured content keys = %v, want %v", got, want)
	}
	for _, c := range []struct{ key, want string }{
		{"columns", `[{"name":"id","type":"integer"},{"name":"item name","type":"text"}]`},
		{"rows", `[[1,"item 1"],[2,"item 2"]]`},
		{"row_count", `2`},
		{"truncated", `false`},
		{"command", `"SELECT 2"`},
	} {
		if got := canonJSON(t, sc[c.key]); got != canonJSON(t, jsonText(t, c.want)) {
			t.Errorf("%s = %s, want %s", c.key, got, c.want)
		}
	}
	if ms, ok := sc["elapsed_ms"].(float64); !ok || ms < 0 || ms > 10_000 {
		t.Errorf("elapsed_ms = %v, want a small non-negative number", sc["elapsed_ms"])
	}
	wantText := "columns: id integer, \"item name\" text\n[1,\"item 1\"]\n[2,\"item 2\"]\n2 rows"
	if got := text(res); got != wantText {
		t.Errorf("text =\n%s\nwant\n%s", got, wantText)
	}
}

// TestExecuteSQLValues checks the JSON form of values end to end (the full
// table is docs/results.md, tested in internal/pg).
func TestExecuteSQLValues(t *testing.T) {
	s, _ := sqlServer(t)
	cs := sqlSessions(t, s)[access.UserRO]
	for _, tc := range []struct {
		name, sql, typ, want string
	}{
		{"int8 within 2^53", "SELECT 9007199254740992::int8", "bigint", `9007199254740992`},
		{"int8 beyond 2^53", "SELECT 9007199254740993::int8", "bigint", `"9007199254740993"`},
		{"int8 min", "SELECT (-9223372036854775808)::int8", "bigint", `"-9223372036854775808"`},
		{"numeric exact in a double", "SELECT 1.50::numeric", "numeric", `1.5`},
		{"numeric beyond a double", "SELECT 12345678901234567890.123456789::numeric", "numeric", `"12345678901234567890.123456789"`},
		{"numeric whose text a double keeps", "SELECT 0.1::numeric + 0.2::numeric", "numeric", `0.3`},
		{"numeric digits a double loses", "SELECT 0.12345678901234567890::numeric", "numeric", `"0.12345678901234567890"`},
		{"numeric NaN", "SELECT 'NaN'::numeric", "numeric", `"NaN"`},
		{"float8", "SELECT 0.1::float8", "double precision", `0.1`},
		{"float8 infinity", "SELECT 'Infinity'::float8", "double precision", `"Infinity"`},
		{"bytea as base64", `SELECT '\x00ff41'::bytea`, "bytea", `"AP9B"`},
		{"timestamptz in UTC", "SELECT timestamptz '2024-01-02 03:04:05.5+02'", "timestamp with time zone", `"2024-01-02T01:04:05.5Z"`},
		{"timestamp", "SELECT timestamp '2024-01-02 03:04:05.123456'", "timestamp without time zone", `"2024-01-02T03:04:05.123456"`},
		{"date", "SELECT date '2024-02-29'", "date", `"2024-02-29"`},
		{"jsonb embedded", `SELECT '{"a": [1, 2.5, null], "b": "x"}'::jsonb`, "jsonb", `{"a":[1,2.5,null],"b":"x"}`},
		{"json keeps its text numbers", `SELECT '[12345678901234567890]'::json`, "json", `[12345678901234567890]`},
		{"array of int", "SELECT ARRAY[[1, 2], [3, NULL]]", "integer[]", `[[1,2],[3,null]]`},
		{"array of text", "SELECT ARRAY['a', 'b c']", "text[]", `["a","b c"]`},
		{"boolean", "SELECT true", "boolean", `true`},
		{"null", "SELECT NULL::int", "integer", `null`},
		{"uuid", "SELECT 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'::uuid", "uuid", `"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"`},
		{"interval as text", "SELECT interval '1 day 2 hours'", "interval", `"1 day 02:00:00"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := execSQL(t, cs, access.UserRO, tc.sql, nil)
			sc := structured(t, res, tc.sql)
			rows, _ := sc["rows"].([]any)
			cols, _ := sc["columns"].([]any)
			if len(rows) != 1 || len(cols) != 1 {
				t.Fatalf("%s: rows %v columns %v, want one value", tc.sql, sc["rows"], sc["columns"])
			}
			if typ := cols[0].(map[string]any)["type"]; typ != tc.typ {
				t.Errorf("%s: column type %v, want %s", tc.sql, typ, tc.typ)
			}
			if got, want := canonJSON(t, rows[0].([]any)[0]), canonJSON(t, jsonText(t, tc.want)); got != want {
				t.Errorf("%s = %s in the structured content, want %s", tc.sql, got, want)
			}
			// The text rendering holds the row exactly as the server
			// encoded it: digits a float64 would lose must be there.
			if lines := strings.Split(text(res), "\n"); len(lines) != 3 || lines[1] != "["+tc.want+"]" {
				t.Errorf("%s: text %q, want the row [%s]", tc.sql, text(res), tc.want)
			}
		})
	}
}

func TestExecuteSQLParams(t *testing.T) {
	s, _ := sqlServer(t)
	cs := sqlSessions(t, s)[access.UserRO]
	for _, tc := range []struct {
		name    string
		sql     string
		params  []any
		want    string // the rows, as JSON; empty when an error is expected
		wantErr []string
	}{
		{name: "several types",
			sql:    "SELECT $1::text, $2::int, $3::numeric, $4::bool, $5::jsonb, $6::int[], $7::text IS NULL, $8::date, $9::float8, $10::int8",
			params: []any{"x", 42, 1.25, true, map[string]any{"k": []any{1, 2}}, []any{1, 2, 3}, nil, "2024-01-02", 0.5, "9007199254740993"},
			want:   `[["x",42,1.25,true,{"k":[1,2]},[1,2,3],true,"2024-01-02",0.5,"9007199254740993"]]`},
		{name: "in a filter", sql: "SELECT name FROM items WHERE id = $1 OR name = $2 ORDER BY id", params: []any{2, "item 5"},
			want: `[["item 2"],["item 5"]]`},
		{name: "a string is never SQL", sql: "SELECT count(*) FROM items WHERE name = $1", params: []any{"x' OR '1'='1"},
			want: `[[0]]`},
		{name: "too few", sql: "SELECT $1::int + $2::int", params: []any{1},
			wantErr: []string{"2 parameter", "1 value", "params"}},
		{name: "none given", sql: "SELECT $1::int", params: nil,
			wantErr: []string{"1 parameter", "0 value", "params"}},
		{name: "too many", sql: "SELECT 1", params: []any{1},
			wantErr: []string{"0 parameter", "1 value", "params"}},
		{name: "fraction for an integer is not rounded", sql: "SELECT $1::int", params: []any{3.5},
			wantErr: []string{"3.5"}},
		{name: "text that is not an integer", sql: "SELECT $1::int", params: []any{"abc"},
			wantErr: []string{"SQLSTATE 22P02", "abc"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := execSQL(t, cs, access.UserRO, tc.sql, map[string]any{"params": tc.params})
			if tc.wantErr != nil {
				if !res.IsError {
					t.Fatalf("%s with %v succeeded (%s), want an error", tc.sql, tc.params, text(res))
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(text(res), w) {
						t.Errorf("%s with %v: error %q does not mention %q", tc.sql, tc.params, text(res), w)
					}
				}
				return
			}
			sc := structured(t, res, tc.sql)
			if got := canonJSON(t, sc["rows"]); got != canonJSON(t, jsonText(t, tc.want)) {
				t.Errorf("%s with %v: rows %s, want %s", tc.sql, tc.params, got, tc.want)
			}
		})
	}
}

func TestExecuteSQLCaps(t *testing.T) {
	s, _ := sqlServer(t)
	cs := sqlSessions(t, s)[access.UserRO]
	for _, tc := range []struct {
		name      string
		sql       string
		maxRows   any // the max_rows argument; nil leaves it out
		rows      int
		truncated string // truncated_by, or "" for a complete result
	}{
		{"endpoint cap", "SELECT g FROM generate_series(1, 100) g", nil, sqlMaxRows, "max_rows"},
		{"smaller max_rows", "SELECT g FROM generate_series(1, 100) g", 10, 10, "max_rows"},
		{"max_rows above the endpoint's is capped", "SELECT g FROM generate_series(1, 100) g", 500, sqlMaxRows, "max_rows"},
		{"exactly max_rows is complete", "SELECT g FROM generate_series(1, 10) g", 10, 10, ""},
		{"fewer rows than max_rows", "SELECT g FROM generate_series(1, 30) g", 40, 30, ""},
		// 16 KiB for both copies of ~1 KB rows (structured and text): the byte cap comes first.
		{"byte cap", "SELECT repeat('x', 1000) FROM generate_series(1, 40)", nil, 7, "max_result_bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			extra := map[string]any{}
			if tc.maxRows != nil {
				extra["max_rows"] = tc.maxRows
			}
			res := execSQL(t, cs, access.UserRO, tc.sql, extra)
			sc := structured(t, res, tc.sql)
			rows, _ := sc["rows"].([]any)
			if len(rows) != tc.rows || sc["row_count"] != float64(tc.rows) {
				t.Errorf("%d rows (row_count %v), want %d", len(rows), sc["row_count"], tc.rows)
			}
			if got := sc["truncated"] == true; got != (tc.truncated != "") {
				t.Errorf("truncated = %v, want %v", sc["truncated"], tc.truncated != "")
			}
			if tc.truncated != "" {
				if sc["truncated_by"] != tc.truncated {
					t.Errorf("truncated_by = %v, want %s", sc["truncated_by"], tc.truncated)
				}
				if want := "(truncated by " + tc.truncated + "; more rows exist)"; !strings.Contains(text(res), want) {
					t.Errorf("text does not say %q:\n%s", want, tail(text(res), 2))
				}
			}
		})
	}
	if msg := text(execSQL(t, cs, access.UserRO, "SELECT 1", map[string]any{"max_rows": -1})); !strings.Contains(msg, "max_rows") {
		t.Errorf("max_rows -1: %q, want an error about max_rows", msg)
	}
}

// TestExecuteSQLRowCapInWriteModes: in the write modes a read-only SELECT
// over max_rows returns its first rows, truncated, like in the read-only
// modes — also when it is still running when the cap is reached (a
// streaming cross join of 1.6 billion rows is; 100 rows of generate_series
// are done before the cancel arrives); a write with RETURNING runs to its
// end and reports every row it wrote.
func TestExecuteSQLRowCapInWriteModes(t *testing.T) {
	s, db := sqlServer(t)
	sessions := sqlSessions(t, s)
	for _, m := range []access.Mode{access.UserRW, access.AdminRW} {
		for _, sql := range []string{
			"SELECT g FROM generate_series(1, 100) g",
			"SELECT a.id, b.id FROM events a CROSS JOIN events b",
		} {
			t.Run(string(m)+"/"+sql, func(t *testing.T) {
				res := execSQL(t, sessions[m], m, sql, nil)
				sc := structured(t, res, "SELECT over max_rows")
				if rows, _ := sc["rows"].([]any); len(rows) != sqlMaxRows || sc["truncated"] != true {
					t.Errorf("%d rows, truncated %v; want %d, true", len(rows), sc["truncated"], sqlMaxRows)
				}
			})
		}
		t.Run(string(m)+"/insert returning", func(t *testing.T) {
			pgtest.Exec(t, db.URI, "TRUNCATE scratch")
			res := execSQL(t, sessions[m], m, "INSERT INTO scratch SELECT g FROM generate_series(1, 100) g RETURNING id", map[string]any{"max_rows": 10})
			sc := structured(t, res, "INSERT … RETURNING over max_rows")
			if rows, _ := sc["rows"].([]any); len(rows) != 10 || sc["truncated"] != true || sc["command"] != "INSERT 0 100" || sc["rows_affected"] != float64(100) {
				t.Errorf("%d rows, truncated %v, command %v, rows_affected %v; want 10, true, INSERT 0 100, 100", len(rows), sc["truncated"], sc["command"], sc["rows_affected"])
			}
			if n := pgtest.QueryValue[int64](t, db.URI, "SELECT count(*) FROM scratch"); n != 100 {
				t.Errorf("scratch has %d rows after the capped INSERT, want 100: a cap must never undo a write", n)
			}
		})
	}
}

func TestExecuteSQLCommands(t *testing.T) {
	s, db := sqlServer(t)
	sessions := sqlSessions(t, s)
	for _, tc := range []struct {
		mode     access.Mode
		sql      string
		command  string
		affected any // float64 count, or nil when the tag has none
	}{
		{access.UserRW, "INSERT INTO scratch (id) VALUES (1), (2), (3)", "INSERT 0 3", float64(3)},
		{access.UserRW, "UPDATE scratch SET id = id + 10 WHERE id < 3", "UPDATE 2", float64(2)},
		{access.UserRW, "DELETE FROM scratch WHERE id > 10", "DELETE 2", float64(2)},
		{access.UserRW, "MERGE INTO scratch s USING (VALUES (3), (4)) v(id) ON s.id = v.id WHEN NOT MATCHED THEN INSERT VALUES (v.id)", "MERGE 1", float64(1)},
		{access.AdminRW, "CREATE TABLE made (x int)", "CREATE TABLE", nil},
		{access.AdminRW, "INSERT INTO made SELECT generate_series(1, 5)", "INSERT 0 5", float64(5)},
		{access.AdminRW, "VACUUM made", "VACUUM", nil}, // outside a transaction block
		{access.AdminRW, "DROP TABLE made", "DROP TABLE", nil},
	} {
		t.Run(string(tc.mode)+"/"+tc.command, func(t *testing.T) {
			res := execSQL(t, sessions[tc.mode], tc.mode, tc.sql, nil)
			sc := structured(t, res, tc.sql)
			if sc["command"] != tc.command || sc["rows_affected"] != tc.affected {
				t.Errorf("%s: command %v, rows_affected %v; want %s, %v", tc.sql, sc["command"], sc["rows_affected"], tc.command, tc.affected)
			}
			if rows, _ := sc["rows"].([]any); len(rows) != 0 {
				t.Errorf("%s: rows %v, want none", tc.sql, rows)
			}
			want := tc.command
			if n, ok := tc.affected.(float64); ok {
				want += fmt.Sprintf(" (%d row", int(n))
			}
			if !strings.HasPrefix(text(res), want) {
				t.Errorf("%s: text %q, want it to start with %q", tc.sql, text(res), want)
			}
		})
	}
	if got := pgtest.QueryValue[string](t, db.URI, "SELECT string_agg(id::text, ',' ORDER BY id) FROM scratch"); got != "3,4" {
		t.Errorf("scratch holds %s, want 3,4", got)
	}
}

func TestExecuteSQLErrors(t *testing.T) {
	s, _ := sqlServer(t)
	sessions := sqlSessions(t, s)
	for _, tc := range []struct {
		name string
		mode access.Mode
		sql  string
		want []string
	}{
		{"missing relation", access.UserRO, "SELECT * FROM nope", []string{`ERROR: relation "nope" does not exist (SQLSTATE 42P01)`, "POSITION: 15"}},
		{"bad value in a write", access.UserRW, "INSERT INTO scratch VALUES ('x')", []string{"SQLSTATE 22P02"}},
		{"division by zero", access.AdminRO, "SELECT 1 / 0", []string{"ERROR: division by zero (SQLSTATE 22012)"}},
		{"constraint, with detail", access.AdminRW, "INSERT INTO items (id, name) VALUES (1, 'dup')", []string{"SQLSTATE 23505", "DETAIL: Key (id)=(1) already exists."}},
		{"timeout", access.UserRO, "SELECT count(*) FROM generate_series(1, 100000) a, generate_series(1, 100000) b", []string{"canceling statement due to statement timeout (SQLSTATE 57014)"}},
		{"timeout in admin_rw", access.AdminRW, "SELECT pg_sleep(30)", []string{"SQLSTATE 57014"}},
		{"the validator's refusal", access.UserRO, "DELETE FROM items", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := sessions[tc.mode]
			started := time.Now()
			res := execSQL(t, cs, tc.mode, tc.sql, nil)
			if !res.IsError {
				t.Fatalf("%s succeeded: %s", tc.sql, text(res))
			}
			for _, w := range tc.want {
				if !strings.Contains(text(res), w) {
					t.Errorf("%s: error %q, want it to contain %q", tc.sql, text(res), w)
				}
			}
			if tc.want == nil && strings.HasPrefix(text(res), "ERROR:") {
				t.Errorf("%s: %q reads as PostgreSQL's error; the validator should refuse it first", tc.sql, text(res))
			}
			if d := time.Since(started); d > 15*time.Second {
				t.Errorf("%s took %v with a 1s statement timeout", tc.sql, d)
			}
			// The endpoint's one pooled connection (or its replacement)
			// still works.
			sc := structured(t, execSQL(t, cs, tc.mode, "SELECT count(*) FROM items", nil), "the next call")
			if got := canonJSON(t, sc["rows"]); got != "[[30]]" {
				t.Errorf("next call rows = %s, want [[30]]", got)
			}
		})
	}
}

// explain calls the endpoint's explain_query.
func explain(t *testing.T, cs *mcp.ClientSession, m access.Mode, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	return call(t, cs, sqlEndpoints[m]+"_explain_query", args)
}

func TestExplainQuery(t *testing.T) {
	s, _ := sqlServer(t)
	sessions := sqlSessions(t, s)
	for _, m := range access.Modes {
		t.Run(string(m)+"/plan", func(t *testing.T) {
			res := explain(t, sessions[m], m, map[string]any{"sql": "SELECT i.name, e.kind FROM items i JOIN events e ON e.id = i.id WHERE i.qty > $1", "params": []any{2}})
			sc := structured(t, res, "explain")
			plan, _ := sc["plan"].(map[string]any)
			if plan["Node Type"] == nil || sc["analyzed"] != false || sc["total_cost"].(float64) <= 0 {
				t.Errorf("plan = %v, analyzed %v, total_cost %v; want a JSON plan, not analyzed, a cost", plan, sc["analyzed"], sc["total_cost"])
			}
			tree := text(res)
			for _, want := range []string{"Join", "on items", "on events", "(cost=", "Filter: (qty > 2)"} {
				if !strings.Contains(tree, want) {
					t.Errorf("tree lacks %q:\n%s", want, tree)
				}
			}
			if strings.Contains(tree, "actual") {
				t.Errorf("tree without analyze shows actual values:\n%s", tree)
			}
		})
		t.Run(string(m)+"/analyze", func(t *testing.T) {
			res := explain(t, sessions[m], m, map[string]any{"sql": "SELECT * FROM items WHERE qty = 3", "analyze": true})
			sc := structured(t, res, "explain analyze")
			plan, _ := sc["plan"].(map[string]any)
			// qty = g % 7 = 3 for 3, 10, 17, 24.
			if plan["Actual Rows"] != float64(4) || sc["analyzed"] != true || sc["execution_ms"] == nil {
				t.Errorf("Actual Rows %v, analyzed %v, execution_ms %v; want 4, true, a time", plan["Actual Rows"], sc["analyzed"], sc["execution_ms"])
			}
			for _, want := range []string{"actual time=", "rows=4 loops=1", "Buffers: shared hit=", "Execution time:"} {
				if !strings.Contains(text(res), want) {
					t.Errorf("tree lacks %q:\n%s", want, text(res))
				}
			}
		})
	}
}

// TestExplainAnalyzeWrites: analyze=true runs the statement, so it is only
// for read-only SELECTs; in every mode a write is refused and nothing is
// written.
func TestExplainAnalyzeWrites(t *testing.T) {
	s, db := sqlServer(t)
	sessions := sqlSessions(t, s)
	pgtest.Exec(t, db.URI, "INSERT INTO scratch SELECT generate_series(1, 10)")
	state := func() string {
		return pgtest.QueryValue[string](t, db.URI, `SELECT (SELECT count(*) FROM scratch) || ' ' || (SELECT sum(qty) FROM items) || ' ' ||
			(SELECT last_value || ':' || is_called FROM counter) || ' ' || (SELECT count(*) FROM pg_class WHERE relname = 'made')`)
	}
	before := state()
	for _, m := range access.Modes {
		for _, sql := range []string{
			"DELETE FROM scratch",
			"UPDATE items SET qty = 0",
			"INSERT INTO scratch VALUES (99)",
			"WITH d AS (DELETE FROM scratch RETURNING 1) SELECT count(*) FROM d",
			"SELECT nextval('counter')",
			"SELECT * FROM items FOR UPDATE",
			"CREATE TABLE made AS SELECT 1",
			"SELECT * INTO made FROM items",
		} {
			t.Run(string(m)+"/"+sql, func(t *testing.T) {
				res := explain(t, sessions[m], m, map[string]any{"sql": sql, "analyze": true})
				if !res.IsError {
					t.Errorf("explain_query(%q, analyze) in %s succeeded, want a refusal:\n%s", sql, m, text(res))
				}
				if after := state(); after != before {
					t.Fatalf("explain_query(%q, analyze) in %s changed the database: %s, was %s", sql, m, after, before)
				}
			})
		}
	}
}

func TestExplainHypotheticalIndexes(t *testing.T) {
	if !pgtest.HasHypoPG() {
		t.Skip("hypopg is not installed on the test server (postgresql-<major>-hypopg)")
	}
	s, _ := sqlServer(t)
	sessions := sqlSessions(t, s)
	query := "SELECT * FROM events WHERE kind = 'k42'"
	for _, m := range access.Modes {
		t.Run(string(m), func(t *testing.T) {
			plain := structured(t, explain(t, sessions[m], m, map[string]any{"sql": query}), "explain without index")
			res := explain(t, sessions[m], m, map[string]any{"sql": query,
				"hypothetical_indexes": []any{map[string]any{"table": "events", "columns": []any{"kind"}}}})
			sc := structured(t, res, "explain with a hypothetical index")
			hyp, _ := sc["hypothetical_indexes"].([]any)
			if len(hyp) != 1 {
				t.Fatalf("hypothetical_indexes = %v, want one", sc["hypothetical_indexes"])
			}
			h := hyp[0].(map[string]any)
			if h["used"] != true || !strings.Contains(fmt.Sprint(h["definition"]), "(kind)") {
				t.Errorf("hypothetical index %v, want used, on (kind)", h)
			}
			if !strings.Contains(text(res), fmt.Sprint(h["name"])) || !strings.Contains(text(res), ": USED") {
				t.Errorf("tree does not show the index in use:\n%s", text(res))
			}
			if sc["total_cost"].(float64) >= plain["total_cost"].(float64) {
				t.Errorf("cost with the index %v, without %v: want lower", sc["total_cost"], plain["total_cost"])
			}
		})
	}
	// Nothing stays behind on the admin_rw endpoint's one pooled
	// connection (or its replacement): hypothetical indexes live in the
	// backend, not the transaction.
	for range 3 {
		sc := structured(t, execSQL(t, sessions[access.AdminRW], access.AdminRW, "SELECT count(*) FROM hypopg_list_indexes", nil), "hypopg_list_indexes")
		if got := canonJSON(t, sc["rows"]); got != "[[0]]" {
			t.Fatalf("hypothetical indexes left on the pooled connection: %s", got)
		}
	}

	nohypo := s.connect(t, "/nohypo/mcp", streamable, nil)
	msg := callErr(t, nohypo, "nohypo_explain_query", map[string]any{"sql": query,
		"hypothetical_indexes": []any{map[string]any{"table": "events", "columns": []any{"kind"}}}})
	if !strings.Contains(msg, "CREATE EXTENSION hypopg") {
		t.Errorf("without the extension: %q, want it to say to run CREATE EXTENSION hypopg", msg)
	}

	for _, m := range []access.Mode{access.UserRO, access.UserRW} {
		msg := text(explain(t, sessions[m], m, map[string]any{"sql": "SELECT 1",
			"hypothetical_indexes": []any{map[string]any{"table": "private.notes", "columns": []any{"body"}}}}))
		if !strings.Contains(msg, "public") || !strings.Contains(msg, "private.notes") {
			t.Errorf("%s: hypothetical index on private.notes: %q, want a refusal naming the table and the public schema", m, msg)
		}
	}
	sc := structured(t, explain(t, sessions[access.AdminRO], access.AdminRO, map[string]any{"sql": "SELECT * FROM private.notes WHERE body = 'x'",
		"hypothetical_indexes": []any{map[string]any{"table": "private.notes", "columns": []any{"body"}}}}), "admin_ro hypothetical index on private.notes")
	if hyp, _ := sc["hypothetical_indexes"].([]any); len(hyp) != 1 {
		t.Errorf("admin_ro: hypothetical_indexes = %v, want one on private.notes", sc["hypothetical_indexes"])
	}
}

func TestToolAnnotationsAndDescriptions(t *testing.T) {
	s, _ := sqlServer(t)
	for m, cs := range sqlSessions(t, s) {
		t.Run(string(m), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			seen := 0
			for tool, err := range cs.Tools(ctx, nil) {
				if err != nil {
					t.Fatal(err)
				}
				seen++
				name := strings.TrimPrefix(tool.Name, sqlEndpoints[m]+"_")
				a := tool.Annotations
				if a == nil {
					t.Errorf("%s has no annotations", tool.Name)
					continue
				}
				writes := name == "execute_sql" && !m.ReadOnly()
				if a.ReadOnlyHint == writes {
					t.Errorf("%s: readOnlyHint %v, want %v", tool.Name, a.ReadOnlyHint, !writes)
				}
				if writes && (a.DestructiveHint == nil || !*a.DestructiveHint) {
					t.Errorf("%s: destructiveHint %v, want true", tool.Name, a.DestructiveHint)
				}
				switch name {
				case "execute_sql":
					if !strings.Contains(tool.Description, dbtools.ModeRules(m)) || !strings.Contains(tool.Description, string(m)) {
						t.Errorf("%s description does not state the %s rules (%q):\n%s", tool.Name, m, dbtools.ModeRules(m), tool.Description)
					}
					for _, w := range []string{fmt.Sprint(sqlMaxRows), fmt.Sprint(sqlMaxBytes), "params"} {
						if !strings.Contains(tool.Description, w) {
							t.Errorf("%s description does not mention %q:\n%s", tool.Name, w, tool.Description)
						}
					}
				case "explain_query":
					if !strings.Contains(tool.Description, string(m)) || !strings.Contains(tool.Description, "read-only") {
						t.Errorf("%s description does not state the mode and the analyze rule:\n%s", tool.Name, tool.Description)
					}
				}
			}
			if want := len(dbtools.Names(m)); seen != want {
				t.Errorf("%d tools, want %d", seen, want)
			}
		})
	}
}

// TestExecuteSQLHugeValue: a 300 MB value on an admin_rw endpoint with
// default limits gives a clear tool error (or a truncated result), and the
// server — in this process — never holds it.
func TestExecuteSQLHugeValue(t *testing.T) {
	db := pgtest.NewDatabase(t)
	s := start(t, "server: {port: 0}\nendpoints:\n  big: {database_uri: \"${URI}\", access_mode: admin_rw}\n", map[string]string{"URI": db.URI})
	cs := s.connect(t, "/big/mcp", streamable, nil)

	heap := func() uint64 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse
	}
	runtime.GC()
	base := heap()
	var (
		mu   sync.Mutex
		peak uint64
	)
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			h := heap()
			mu.Lock()
			peak = max(peak, h)
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	res := call(t, cs, "big_execute_sql", map[string]any{"sql": "SELECT repeat('x', 300 * 1024 * 1024) AS big"})
	close(stop)
	<-sampled
	mu.Lock()
	grew := int64(peak) - int64(base)
	mu.Unlock()

	switch sc, _ := res.StructuredContent.(map[string]any); {
	case res.IsError:
		if msg := text(res); !strings.Contains(msg, "per-message cap") || !strings.Contains(msg, "300") {
			t.Errorf("tool error %q, want it to say the row is over the per-message cap and how large it was", msg)
		}
	case sc["truncated"] == true:
	default:
		t.Errorf("a 300 MB value came back whole (%d bytes of text); want a tool error or a truncated result", len(text(res)))
	}
	t.Logf("heap in use grew by %.1f MiB at most during the call", float64(grew)/(1<<20))
	if grew > 100<<20 {
		t.Errorf("heap in use grew by %.0f MiB during the call, want well under 300 MiB (the value must never be read)", float64(grew)/(1<<20))
	}
	sc := structured(t, call(t, cs, "big_execute_sql", map[string]any{"sql": "SELECT length(repeat('x', 300 * 1024 * 1024))"}), "the next call")
	if got := canonJSON(t, sc["rows"]); got != fmt.Sprintf("[[%d]]", 300<<20) {
		t.Errorf("next call rows = %s", got)
	}
}
