package pg

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// stdJSON is what encoding/json writes for v without HTML escaping.
func stdJSON(t testing.TB, v any) (string, error) {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	err := enc.Encode(v)
	return strings.TrimSuffix(b.String(), "\n"), err
}

// Every kind of value the executor produces is written byte for byte as
// encoding/json writes it.
func TestAppendJSONMatches(t *testing.T) {
	var all strings.Builder
	for c := range 256 {
		all.WriteByte(byte(c))
	}
	values := []any{
		nil, true, false,
		int64(0), int64(-1), int64(math.MaxInt64), int64(math.MinInt64), 42,
		0.0, math.Copysign(0, -1), 1.5, -2.25, 1e-6, 9.99e-7, 1e-7, 1.2345e-300, 5e-324, 1e20, 1e21, 123456789e15,
		math.MaxFloat64, -math.MaxFloat64, 0.1 + 0.2, 1.0 / 3, 100, 1e6,
		"", "plain", `quote " and \ backslash`, "a<b>&c", "tab\tnew\nline\rcr\bbs\fff\x00\x01\x1f\x7f",
		"é 日本 🐘", "\u2028\u2029", "bad \xff\xfe utf8 \xe2\x80", all.String(),
		json.RawMessage(`{"a": [1, 2, {"b": "c d"}], "e": null}`), json.RawMessage(" [ 1 ,\n 2 ] "),
		json.RawMessage(`"\u2028 <tag>"`), json.RawMessage(nil), json.RawMessage(`"` + "\u2028" + `"`),
		[]any{}, []any(nil), []any{int64(1), "x", nil, []any{1.5, []any{}}, json.RawMessage(`{"k": 1}`)},
		map[string]any{"k": "v<"}, // not produced by the executor: through encoding/json
	}
	for _, v := range values {
		want, werr := stdJSON(t, v)
		got, gerr := appendJSON([]byte("prefix"), v)
		if (werr != nil) != (gerr != nil) {
			t.Errorf("%#v: error %v, encoding/json's %v", v, gerr, werr)
			continue
		}
		if werr == nil && string(got) != "prefix"+want {
			t.Errorf("%#v:\n got %s\nwant prefix%s", v, got, want)
		}
	}
	for _, bad := range []any{math.NaN(), math.Inf(1), json.RawMessage(`{"a":`), []any{math.Inf(-1)}} {
		if _, err := appendJSON(nil, bad); err == nil {
			t.Errorf("%#v: no error", bad)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a\"b", "\xff", "\u2028", "<&>", "\x00\t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := stdJSON(t, s)
		if got := string(appendString(nil, s)); got != want {
			t.Errorf("%q: got %s, want %s", s, got, want)
		}
	})
}

// MarshalJSON, with lines or without, is json.Marshal of the fields once
// HTML-escaped as json.Marshal escapes it.
func TestResultMarshalJSON(t *testing.T) {
	type plain Result // the fields, without the MarshalJSON method
	affected := int64(3)
	results := []*Result{
		{},
		{Columns: []Column{}, Rows: [][]any{}},
		{Columns: []Column{{Name: "a<b", Type: "text"}, {Name: "n \"x\"", Type: "integer"}},
			Rows:     [][]any{{"x<y & \u2028", int64(1)}, {nil, json.RawMessage(`{"k": "<v>"}`)}},
			RowCount: 2, Truncated: true, TruncatedBy: TruncatedByBytes, ElapsedMS: 1.234, CutValues: 1},
		{Command: "INSERT 0 3", RowsAffected: &affected, ElapsedMS: 1e-7},
		{Columns: []Column{{Name: "g", Type: "integer"}}, Rows: [][]any{{int64(1)}, {int64(2)}}, RowCount: 2,
			Command: "SELECT 2", ElapsedMS: 0.5},
	}
	for i, r := range results {
		want, err := json.Marshal((*plain)(r))
		if err != nil {
			t.Fatal(err)
		}
		for _, withLines := range []bool{false, true} {
			r.lines = nil
			if withLines {
				enc := newRowEncoder()
				for _, row := range r.Rows {
					l, err := enc.line(row)
					if err != nil {
						t.Fatal(err)
					}
					r.lines = append(r.lines, l)
				}
			}
			got, err := r.MarshalJSON()
			if err != nil {
				t.Fatalf("result %d: %v", i, err)
			}
			var escaped bytes.Buffer
			json.HTMLEscape(&escaped, got)
			if escaped.String() != string(want) {
				t.Errorf("result %d (lines %v):\n got %s\nwant %s", i, withLines, escaped.String(), want)
			}
			if viaMarshal, _ := json.Marshal(r); string(viaMarshal) != string(want) {
				t.Errorf("result %d: json.Marshal:\n got %s\nwant %s", i, viaMarshal, want)
			}
		}
	}
}

// Lines stay as they were when later lines outgrow the chunk they share.
func TestRowEncoderLines(t *testing.T) {
	enc := newRowEncoder()
	var lines [][]byte
	var want []string
	for i := range 2000 {
		row := []any{int64(i), strings.Repeat("x", i%300)}
		l, err := enc.line(row)
		if err != nil {
			t.Fatal(err)
		}
		w, _ := stdJSON(t, row)
		lines, want = append(lines, l), append(want, w+"\n")
	}
	for i, l := range lines {
		if string(l) != want[i] {
			t.Fatalf("line %d = %q, want %q", i, l, want[i])
		}
	}
}

func BenchmarkEncodeRows(b *testing.B) {
	rows := make([][]any, 1000)
	for i := range rows {
		rows[i] = []any{int64(i), int64(i * 7), "shipped", "2026-01-02T03:04:05.123456+00:00", 123.45, "DE"}
	}
	b.Run("appendJSON", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			enc := newRowEncoder()
			for _, row := range rows {
				if _, err := enc.line(row); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			for _, row := range rows {
				buf.Reset()
				if err := enc.Encode(row); err != nil {
					b.Fatal(err)
				}
				_ = bytes.Clone(buf.Bytes())
			}
		}
	})
	b.Run("MarshalJSON", func(b *testing.B) {
		res := &Result{Columns: []Column{{"a", "bigint"}}, Rows: rows, RowCount: len(rows)}
		enc := newRowEncoder()
		for _, row := range rows {
			l, _ := enc.line(row)
			res.lines = append(res.lines, l)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := res.MarshalJSON(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json.Marshal-reflect", func(b *testing.B) {
		type plain Result
		res := &plain{Columns: []Column{{"a", "bigint"}}, Rows: rows, RowCount: len(rows)}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(res); err != nil {
				b.Fatal(err)
			}
		}
	})
}
