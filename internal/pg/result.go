package pg

import (
	"encoding/json"
	"strconv"
	"strings"
)

// Column describes one result column.
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"` // as format_type(oid, NULL) prints it: "integer", "character varying", "mood"
}

// Result is what one statement returned. Rows hold typed JSON values (see
// docs/results.md): nil, bool, int64, float64, string, json.RawMessage
// (json and jsonb values) and []any (arrays).
type Result struct {
	Columns     []Column `json:"columns"`
	Rows        [][]any  `json:"rows"`
	RowCount    int      `json:"row_count"` // len(Rows)
	Truncated   bool     `json:"truncated"`
	TruncatedBy string   `json:"truncated_by,omitempty"` // TruncatedByRows or TruncatedByBytes
	ElapsedMS   float64  `json:"elapsed_ms"`             // describe, execute and read, not the wait for a connection
	Command     string   `json:"command,omitempty"`      // command tag, e.g. "INSERT 0 3"; empty when a cap stopped the statement
	// RowsAffected is set for statements other than SELECT that report a
	// row count (INSERT, UPDATE, DELETE, MERGE, COPY…).
	RowsAffected *int64 `json:"rows_affected,omitempty"`
	// CutValues counts the values cut with a marker because one alone
	// would have taken too much of max_result_bytes.
	CutValues int `json:"cut_values,omitempty"`

	lines [][]byte // the rows as Text writes them, when the executor encoded them already
}

// Values of [Result.TruncatedBy].
const (
	TruncatedByRows  = "max_rows"
	TruncatedByBytes = "max_result_bytes"
)

// RowsReturned is the number of rows in the result, for call logs.
func (r *Result) RowsReturned() int { return r.RowCount }

// Text renders r compactly for a language model: the columns once ("name
// type" pairs), then one JSON array per row, then a footer with the row
// count and, when the rows were cut, why. A statement without columns
// renders its command tag.
func (r *Result) Text() string {
	var b strings.Builder
	if len(r.Columns) > 0 {
		b.WriteString("columns: ")
		for i, c := range r.Columns {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(quoteName(c.Name))
			b.WriteByte(' ')
			b.WriteString(c.Type)
		}
		b.WriteByte('\n')
		if len(r.lines) == len(r.Rows) {
			n := 0
			for _, l := range r.lines {
				n += len(l)
			}
			b.Grow(n + 128)
			for _, l := range r.lines {
				b.Write(l)
			}
		} else {
			var line []byte
			for _, row := range r.Rows {
				var err error
				if line, err = appendArray(line[:0], row); err != nil {
					// Not reachable with values this package produces.
					line = strconv.AppendQuote(line[:0], err.Error())
				}
				b.Write(line)
				b.WriteByte('\n')
			}
		}
		b.WriteString(strconv.Itoa(r.RowCount))
		if r.RowCount == 1 {
			b.WriteString(" row")
		} else {
			b.WriteString(" rows")
		}
		if r.Truncated {
			b.WriteString(" (truncated by ")
			b.WriteString(r.TruncatedBy)
			b.WriteString("; more rows exist)")
		}
		if r.CutValues > 0 {
			b.WriteString("; ")
			b.WriteString(strconv.Itoa(r.CutValues))
			if r.CutValues == 1 {
				b.WriteString(" value was cut")
			} else {
				b.WriteString(" values were cut")
			}
			b.WriteString(" (marked …[pgherd cut this value…])")
		}
		if r.RowsAffected != nil && r.Command != "" {
			b.WriteString("; ")
			b.WriteString(r.Command)
		}
		return b.String()
	}
	if r.Command != "" {
		b.WriteString(r.Command)
		if r.RowsAffected != nil {
			b.WriteString(" (")
			b.WriteString(strconv.FormatInt(*r.RowsAffected, 10))
			if *r.RowsAffected == 1 {
				b.WriteString(" row affected)")
			} else {
				b.WriteString(" rows affected)")
			}
		}
		return b.String()
	}
	return "OK"
}

// MarshalJSON writes r as encoding/json would write its fields, the rows
// from the lines the executor encoded already (without HTML escaping:
// json.Marshal and go-sdk's own marshalling escape the whole response
// afterwards, so the bytes on the wire are the same).
func (r *Result) MarshalJSON() ([]byte, error) {
	n := 256
	for _, l := range r.lines {
		n += len(l)
	}
	b := make([]byte, 0, n)
	b = append(b, `{"columns":`...)
	if r.Columns == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, c := range r.Columns {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"name":`...)
			b = appendString(b, c.Name)
			b = append(b, `,"type":`...)
			b = appendString(b, c.Type)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"rows":`...)
	switch {
	case r.Rows == nil:
		b = append(b, "null"...)
	case len(r.lines) == len(r.Rows):
		b = append(b, '[')
		for i, l := range r.lines {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, l[:len(l)-1]...) // without the '\n'
		}
		b = append(b, ']')
	default:
		b = append(b, '[')
		for i, row := range r.Rows {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendArray(b, row); err != nil {
				return nil, err
			}
		}
		b = append(b, ']')
	}
	b = append(b, `,"row_count":`...)
	b = strconv.AppendInt(b, int64(r.RowCount), 10)
	b = append(b, `,"truncated":`...)
	b = strconv.AppendBool(b, r.Truncated)
	if r.TruncatedBy != "" {
		b = append(b, `,"truncated_by":`...)
		b = appendString(b, r.TruncatedBy)
	}
	b = append(b, `,"elapsed_ms":`...)
	b, err := appendFloat(b, r.ElapsedMS)
	if err != nil {
		return nil, err
	}
	if r.Command != "" {
		b = append(b, `,"command":`...)
		b = appendString(b, r.Command)
	}
	if r.RowsAffected != nil {
		b = append(b, `,"rows_affected":`...)
		b = strconv.AppendInt(b, *r.RowsAffected, 10)
	}
	if r.CutValues != 0 {
		b = append(b, `,"cut_values":`...)
		b = strconv.AppendInt(b, int64(r.CutValues), 10)
	}
	return append(b, '}'), nil
}

// quoteName leaves plain column names bare and JSON-quotes the rest (empty,
// or containing spaces, commas, quotes or control characters).
func quoteName(s string) string {
	if s == "" || strings.ContainsAny(s, " ,\"\\\t\n\r") {
		q, _ := json.Marshal(s)
		return string(q)
	}
	return s
}
