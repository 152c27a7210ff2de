package pg

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// A tool result carries every row twice: as structured content (JSON,
// encoded by encoding/json with HTML escaping) and inside the text content
// (one JSON array per row, without HTML escaping, which the JSON-RPC
// response then escapes again as one JSON string). MaxResultBytes bounds
// what both copies take once encoded, escaping included: a value of
// control characters or quotes costs many times its raw size.

// responseOverhead is what a result takes besides its rows and columns:
// the JSON-RPC envelope, the content wrapper, the footer and the scalar
// fields (row_count, truncated, elapsed_ms, command, …).
const responseOverhead = 512

// lineWeight returns what one row, encoded as a JSON line (without HTML
// escaping, ending in '\n', as [Result.Text] writes it), costs in the
// response: in the structured copy (the same JSON, with <, > and & escaped
// as \u003c…, plus a separating comma) and in the text copy (every byte
// escaped once more as part of a JSON string).
func lineWeight(line []byte) int64 {
	var w int64 = 1 // the comma between rows in the structured copy
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '<' || c == '>' || c == '&':
			w += 6 + 6 // \u003c in both copies
		case c == '"' || c == '\\':
			w += 1 + 2
		case c == '\n' || c == '\r' || c == '\t':
			w += 2 // inside a line only the trailing '\n' is raw: \n in the text copy
		case c < 0x20:
			w += 1 + 6
		case c == 0xE2 && i+2 < len(line) && line[i+1] == 0x80 && (line[i+2] == 0xA8 || line[i+2] == 0xA9):
			// U+2028 and U+2029: the line already holds them as \u2028
			// (encoding/json always escapes them); the raw bytes cannot
			// appear here. Counted as three ordinary bytes, to be safe.
			w += 2
		default:
			w += 2 // once in each copy
		}
	}
	return w
}

// textWeight is what s costs as (part of) a JSON string in the text copy
// only: column names and the footer.
func textWeight(s string) int64 {
	var w int64
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '<' || c == '>' || c == '&':
			w += 6
		case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t':
			w += 2
		case c < 0x20:
			w += 6
		default:
			w++
		}
	}
	return w
}

// stringWeight is what the string value s costs in both copies: in the
// structured copy as a JSON string, in the text copy as a JSON string
// escaped again. cut, when positive, stops counting after that weight and
// returns the byte offset (on a rune boundary) where s must be cut to stay
// within it.
func stringWeight(s string, cut int64) (weight int64, at int) {
	weight = 2 + 4 // the quotes: "…" and \"…\"
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		var w int64
		switch {
		case r == '<' || r == '>' || r == '&':
			w = 6 + 6
		case r == '"' || r == '\\':
			w = 2 + 4 // \" then \\\"
		case r == '\n' || r == '\r' || r == '\t':
			w = 2 + 3 // \n then \\n
		case r < 0x20:
			w = 6 + 7 // \u0001 then \\u0001
		case r == 0x2028 || r == 0x2029, r == utf8.RuneError && n == 1:
			w = 6 + 7 // \u2028 or \ufffd, in both
		default:
			w = 2 * int64(n)
		}
		if cut > 0 && weight+w > cut {
			return weight, i
		}
		weight += w
		i += n
	}
	return weight, len(s)
}

// cellBudget is the most one value may cost in the response before it is
// cut: a share of the byte cap that leaves room for the rest of the row
// and for further rows, so that one huge value does not end the result.
func cellBudget(maxBytes int64, columns int) int64 {
	return max(256, maxBytes/int64(4+columns))
}

// cutMarker ends a value that was cut.
func cutMarker(kept, total int) string {
	return fmt.Sprintf("… [pgherd cut this value: %d of its %d bytes shown, to keep the result within max_result_bytes; select part of it, e.g. substr(col, %d, %d)]",
		kept, total, kept+1, kept)
}

// cutValue returns v within budget (its weight in both copies), cut with a
// marker when it was larger; total is the value's full size in bytes as the
// server sent it when the caller already dropped the rest before decoding
// (0 otherwise). Strings are cut on a rune boundary; json, jsonb and array
// values become strings of their JSON text, cut. Scalars are never that
// large.
func cutValue(v any, budget int64, total int, enc *rowEncoder) (any, bool) {
	var s string
	switch x := v.(type) {
	case string:
		if total <= 0 {
			if w, _ := stringWeight(x, 0); w <= budget {
				return v, false
			}
		}
		s = x
	case json.RawMessage, []any:
		b, err := enc.value(x)
		if err != nil {
			return v, false
		}
		if total <= 0 && lineWeight(b) <= budget {
			return v, false
		}
		s = string(b)
	default:
		return v, false
	}
	if total <= 0 {
		total = len(s)
	}
	mw, _ := stringWeight(cutMarker(total, total), 0)
	_, at := stringWeight(s, max(budget-mw+6, 16)) // the marker's quotes are the value's
	return s[:at] + cutMarker(at, total), true
}

// rowEncoder encodes rows as Result.Text writes them: one JSON array per
// line, without HTML escaping. Lines are carved from chunks that grow with
// the result, not allocated one by one.
type rowEncoder struct {
	arena   []byte // the current chunk; lines returned before point into it
	scratch []byte // value's buffer
}

func newRowEncoder() *rowEncoder { return &rowEncoder{} }

// arenaMin and arenaMax bound the chunks lines are carved from.
const (
	arenaMin = 512
	arenaMax = 128 << 10
)

// line encodes row and returns its line (with the '\n'), which later calls
// leave as it is.
func (e *rowEncoder) line(row []any) ([]byte, error) {
	if cap(e.arena)-len(e.arena) < arenaMin {
		e.arena = make([]byte, 0, min(max(arenaMin, 2*cap(e.arena)), arenaMax))
	}
	start := len(e.arena)
	b, err := appendArray(e.arena, row)
	if err != nil {
		return nil, err
	}
	// When the line outgrew the chunk, b is a new, larger chunk holding a
	// copy of the old one: the lines already returned keep the old one.
	e.arena = append(b, '\n')
	return e.arena[start:len(e.arena):len(e.arena)], nil
}

// value encodes one value, without the trailing newline (valid until the
// next call).
func (e *rowEncoder) value(v any) ([]byte, error) {
	b, err := appendJSON(e.scratch[:0], v)
	if err != nil {
		return nil, err
	}
	e.scratch = b
	return b, nil
}

// columnsWeight is what the column list costs: in the structured copy
// ({"name":…,"type":…} each) and in the text header.
func columnsWeight(cols []Column) int64 {
	b, _ := json.Marshal(cols)
	w := int64(len(b)) + 2
	for _, c := range cols {
		w += textWeight(quoteName(c.Name)) + textWeight(c.Type) + 3
	}
	return w
}
