package pg

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// convertArgs prepares JSON-decoded values for the parameter types
// PostgreSQL inferred (oids). Values the binary encoders take exactly stay
// as they are; everything else becomes its text form, which PostgreSQL's
// own input function then parses (and rejects with a clear message when it
// does not fit): 3.5 for an integer parameter fails instead of becoming 3.
//
//   - string: as is (for json/jsonb it is the JSON text)
//   - bool: as is for boolean and json; "true"/"false" otherwise
//   - float64: as is for real, double precision and json; an exact integer
//     for integer types; decimal text for numeric and everything else
//   - []any: an array literal for array types, JSON for json and others
//   - map[string]any: JSON
//
// Other Go values (from internal callers) pass through to pgx.
//
// looked reports that a type lookup ran on conn.
func (p *Pool) convertArgs(ctx context.Context, conn *pgx.Conn, oids []uint32, args []any) (out []any, looked bool, err error) {
	if len(args) == 0 {
		return nil, false, nil
	}
	out = make([]any, len(args))
	for i, a := range args {
		t, ok := p.types.get(oids[i])
		if !ok {
			if _, composite := a.([]any); composite {
				// Only an array needs to know whether its type is one.
				looked = true
				if err := p.types.lookup(ctx, conn, []uint32{oids[i]}); err != nil {
					return nil, looked, p.dbError("describing the parameters", err)
				}
				t, _ = p.types.get(oids[i])
			}
		}
		v, err := convertArg(t, a)
		if err != nil {
			return nil, looked, fmt.Errorf("%w: params[%d]: %v", ErrParams, i, err)
		}
		out[i] = v
	}
	return out, looked, nil
}

func convertArg(t typeInfo, a any) (any, error) {
	switch v := a.(type) {
	case bool:
		if t.kind == kBool || t.kind == kJSON {
			return v, nil
		}
		return strconv.FormatBool(v), nil
	case float64:
		switch t.kind {
		case kFloat4, kFloat8, kJSON:
			return v, nil
		case kInt2, kInt4, kInt8, kOID:
			if v == math.Trunc(v) && math.Abs(v) < 1<<63 {
				return int64(v), nil
			}
		}
		return formatFloat(v), nil
	case []any:
		switch t.kind {
		case kJSON:
			return v, nil
		case kArray:
			delim := t.delim
			if delim == 0 {
				delim = ','
			}
			var b strings.Builder
			if err := writeArrayLiteral(&b, v, delim, 0); err != nil {
				return nil, err
			}
			return b.String(), nil
		}
		return jsonText(v)
	case map[string]any:
		if t.kind == kJSON {
			return v, nil
		}
		return jsonText(v)
	}
	return a, nil
}

func formatFloat(f float64) string {
	return strconv.FormatFloat(f, 'f', -1, 64)
}

func jsonText(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// writeArrayLiteral writes a as a PostgreSQL array literal, every element
// quoted, so PostgreSQL's array input parses each one with the element
// type's input function.
func writeArrayLiteral(b *strings.Builder, a []any, delim byte, depth int) error {
	if depth >= maxArrayDims {
		return fmt.Errorf("arrays nest at most %d deep", maxArrayDims)
	}
	b.WriteByte('{')
	for i, e := range a {
		if i > 0 {
			b.WriteByte(delim)
		}
		var s string
		switch v := e.(type) {
		case nil:
			b.WriteString("NULL")
			continue
		case []any:
			if err := writeArrayLiteral(b, v, delim, depth+1); err != nil {
				return err
			}
			continue
		case string:
			s = v
		case bool:
			s = strconv.FormatBool(v)
		case float64:
			s = formatFloat(v)
		default:
			var err error
			if s, err = jsonText(v); err != nil {
				return err
			}
		}
		b.WriteByte('"')
		for j := 0; j < len(s); j++ {
			if s[j] == '"' || s[j] == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(s[j])
		}
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return nil
}
