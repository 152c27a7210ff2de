package pg

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/pgherd/pgherd/internal/pgtest"
)

// responseSize is what res takes in a tools/call response as go-sdk
// encodes it: the structured content (json.Marshal, HTML escaped), the
// text content as a JSON string, and the envelope.
func responseSize(t testing.TB, res *Result) int {
	t.Helper()
	text, err := json.Marshal(res.Text())
	if err != nil {
		t.Fatal(err)
	}
	structured, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	envelope := `{"jsonrpc":"2.0","id":123456,"result":{"content":[{"type":"text","text":` + string(text) +
		`}],"structuredContent":` + string(structured) + `,"isError":false}}`
	return len(envelope)
}

// TestLineWeight: what lineWeight charges for a row is exactly what the
// row adds to the structured copy (with its comma) and to the text copy.
func TestLineWeight(t *testing.T) {
	alphabet := []string{"a", "é", "\"", "\\", "\n", "\t", "\x01", "\x1f", "<", ">", "&", "\u2028", "\u2029", "'", " ", "😀"}
	enc := newRowEncoder()
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		var row []any
		for range 1 + r.IntN(4) {
			var b strings.Builder
			for range r.IntN(12) {
				b.WriteString(alphabet[r.IntN(len(alphabet))])
			}
			switch r.IntN(4) {
			case 0:
				row = append(row, b.String())
			case 1:
				raw, _ := json.Marshal(map[string]string{"k": b.String()})
				row = append(row, json.RawMessage(raw))
			case 2:
				row = append(row, []any{b.String(), nil, 1.5})
			default:
				row = append(row, nil)
			}
		}
		line, err := enc.line(row)
		if err != nil {
			t.Fatal(err)
		}
		structured, _ := json.Marshal(row)
		text, _ := json.Marshal(string(line))
		want := int64(len(structured) + 1 + len(text) - 2)
		if got := lineWeight(line); got != want {
			t.Fatalf("row %d %q: lineWeight = %d, want %d", i, row, got, want)
		}
		for _, v := range row {
			s, ok := v.(string)
			if !ok {
				continue
			}
			structured, _ := json.Marshal(s)
			inner, _ := enc.value(s) // as the text copy's line holds it
			outer, _ := json.Marshal(string(inner))
			if w, _ := stringWeight(s, 0); w != int64(len(structured)+len(outer)-2) {
				t.Fatalf("stringWeight(%q) = %d, want %d", s, w, len(structured)+len(outer)-2)
			}
		}
	}
}

// TestResponseWithinCap pins class 6 of issue #7: max_result_bytes bounds
// the encoded response, escaping of both copies counted, whatever the
// values hold; one huge value is cut with a marker and the rows after it
// are still returned.
func TestResponseWithinCap(t *testing.T) {
	db := pgtest.NewDatabase(t)
	p := newPool(t, db.URI, PoolOptions{})
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		sql  string
	}{
		{"control characters", "SELECT repeat(chr(1), 1000) FROM generate_series(1, 2000)"},
		{"quotes and html", `SELECT repeat('"<>&\', 500) FROM generate_series(1, 2000)`},
		{"line separators", "SELECT repeat(chr(8232), 300) FROM generate_series(1, 2000)"},
		{"empty strings, many columns", "SELECT " + strings.Repeat("'' AS c, ", 99) + "'' AS c FROM generate_series(1, 2000)"},
		{"nulls", "SELECT " + strings.Repeat("NULL::int AS n, ", 99) + "NULL::int AS n FROM generate_series(1, 2000)"},
		{"jsonb with quotes", `SELECT jsonb_build_object('k', repeat('"', 200), 'h', '<b>') FROM generate_series(1, 2000)`},
		{"arrays", `SELECT ARRAY[repeat(chr(2), 100), '"', NULL] FROM generate_series(1, 2000)`},
		{"one huge control value", "SELECT g, CASE WHEN g = 3 THEN repeat(chr(1), 2000000) ELSE 'small' END FROM generate_series(1, 6) g"},
		{"huge jsonb", "SELECT (SELECT jsonb_agg(g) FROM generate_series(1, 300000) g), 'after'"},
		{"huge array", "SELECT (SELECT array_agg(g) FROM generate_series(1, 300000) g), 'after'"},
		{"huge bytea", "SELECT decode(repeat('ff', 500000), 'hex'), 'after'"},
		{"huge numeric", "SELECT (10::numeric ^ 100000)::numeric, 'after'"},
	} {
		for _, maxBytes := range []int64{1 << 10, 16 << 10, 256 << 10} {
			res, err := p.Run(ctx, readOnly, Call{SQL: tc.sql, MaxBytes: maxBytes, MaxRows: 100000})
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			// The column list always comes back; the cap bounds the rest.
			limit := max(maxBytes, responseOverhead+columnsWeight(res.Columns))
			if n := responseSize(t, res); int64(n) > limit {
				t.Errorf("%s under %d bytes: the response takes %d bytes (%d rows, %d cut)", tc.name, maxBytes, n, len(res.Rows), res.CutValues)
			}
			if len(res.Rows) == 0 && maxBytes >= 16<<10 && !strings.Contains(tc.name, "many columns") && !strings.Contains(tc.name, "nulls") {
				t.Errorf("%s under %d bytes: no row at all", tc.name, maxBytes)
			}
		}
	}
	res, err := p.Run(ctx, readOnly, Call{SQL: "SELECT g, CASE WHEN g = 2 THEN repeat('x', 3000000) ELSE 'small' END FROM generate_series(1, 5) g", MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 5 || res.Truncated || res.CutValues != 1 {
		t.Fatalf("%d rows, truncated %v, %d cut; want all 5 rows, one value cut", len(res.Rows), res.Truncated, res.CutValues)
	}
	cut, _ := res.Rows[1][1].(string)
	if !strings.HasPrefix(cut, "xxxx") || !strings.Contains(cut, "of its 3000000 bytes shown") || !strings.Contains(res.Text(), "1 value was cut") {
		t.Errorf("the cut value ends %q; text footer %q", cut[max(0, len(cut)-160):], res.Text()[max(0, len(res.Text())-200):])
	}
}
