package pg

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// maxSafeInt is the largest integer a float64 (and so a JSON number read by
// JavaScript) holds exactly: 2^53.
const maxSafeInt = 1 << 53

// pgEpochMicros is 2000-01-01T00:00:00Z, PostgreSQL's epoch, in Unix
// microseconds.
const pgEpochMicros = 946684800 * 1_000_000

// decodeValue turns one wire value of a column into its JSON form (see
// docs/results.md) and estimates its encoded JSON size in bytes.
// src is only valid until the next row, so nothing returned aliases it.
func decodeValue(t *typeInfo, format int16, src []byte) (any, int, error) {
	if src == nil {
		return nil, 4, nil
	}
	if t.kind == kArray {
		if format == 1 {
			return decodeBinaryArray(t.elem, src)
		}
		return decodeTextArray(t.elem, t.delim, src)
	}
	if format == 1 {
		return decodeBinary(t.kind, src)
	}
	if t.kind == kJSON {
		// One copy, straight from the wire.
		return json.RawMessage(bytes.Clone(src)), len(src), nil
	}
	return decodeText(t.kind, string(src))
}

// decodeText decodes a text-format value of kind k.
func decodeText(k kind, s string) (any, int, error) {
	switch k {
	case kNumeric:
		return decodeNumeric(s)
	case kJSON:
		// PostgreSQL only outputs valid JSON for json and jsonb.
		return json.RawMessage(s), len(s), nil
	}
	return s, len(s) + 2, nil
}

// decodeNumeric keeps a numeric as a JSON number when float64 represents
// its decimal value exactly (1.50 and 1.5 are the same value); otherwise
// the full-precision text is returned as a string. NaN and ±Infinity are
// strings.
func decodeNumeric(s string) (any, int, error) {
	switch s {
	case "NaN", "Infinity", "-Infinity":
		return s, len(s) + 2, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return s, len(s) + 2, nil
	}
	var buf [32]byte
	if trimFraction(s) == string(strconv.AppendFloat(buf[:0], f, 'f', -1, 64)) {
		return f, len(s), nil
	}
	return s, len(s) + 2, nil
}

// trimFraction drops trailing zeros after a decimal point, and the point
// itself when nothing follows it: "1.50" → "1.5", "2.00" → "2".
func trimFraction(s string) string {
	if strings.IndexByte(s, '.') < 0 {
		return s
	}
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

var errBinaryLength = errors.New("unexpected binary value length")

// decodeBinary decodes a binary-format value of kind k.
func decodeBinary(k kind, src []byte) (any, int, error) {
	switch k {
	case kBool:
		if len(src) != 1 {
			return nil, 0, errBinaryLength
		}
		if src[0] != 0 {
			return true, 4, nil
		}
		return false, 5, nil
	case kInt2:
		if len(src) != 2 {
			return nil, 0, errBinaryLength
		}
		v := int64(int16(binary.BigEndian.Uint16(src)))
		return v, intLen(v), nil
	case kInt4:
		if len(src) != 4 {
			return nil, 0, errBinaryLength
		}
		v := int64(int32(binary.BigEndian.Uint32(src)))
		return v, intLen(v), nil
	case kOID:
		if len(src) != 4 {
			return nil, 0, errBinaryLength
		}
		v := int64(binary.BigEndian.Uint32(src))
		return v, intLen(v), nil
	case kInt8:
		if len(src) != 8 {
			return nil, 0, errBinaryLength
		}
		v := int64(binary.BigEndian.Uint64(src))
		if v > maxSafeInt || v < -maxSafeInt {
			s := strconv.FormatInt(v, 10)
			return s, len(s) + 2, nil
		}
		return v, intLen(v), nil
	case kFloat4:
		if len(src) != 4 {
			return nil, 0, errBinaryLength
		}
		f := math.Float32frombits(binary.BigEndian.Uint32(src))
		if s, ok := nonFinite(float64(f)); ok {
			return s, len(s) + 2, nil
		}
		// Widen through the shortest float32 text, so 1.1 stays 1.1
		// rather than becoming 1.100000023841858.
		var buf [32]byte
		txt := strconv.AppendFloat(buf[:0], float64(f), 'g', -1, 32)
		v, _ := strconv.ParseFloat(string(txt), 64)
		return v, len(txt), nil
	case kFloat8:
		if len(src) != 8 {
			return nil, 0, errBinaryLength
		}
		f := math.Float64frombits(binary.BigEndian.Uint64(src))
		if s, ok := nonFinite(f); ok {
			return s, len(s) + 2, nil
		}
		return f, 24, nil
	case kBytea:
		s := base64.StdEncoding.EncodeToString(src)
		return s, len(s) + 2, nil
	case kDate:
		if len(src) != 4 {
			return nil, 0, errBinaryLength
		}
		s := formatDate(int32(binary.BigEndian.Uint32(src)))
		return s, len(s) + 2, nil
	case kTimestamp, kTimestamptz:
		if len(src) != 8 {
			return nil, 0, errBinaryLength
		}
		s := formatTimestamp(int64(binary.BigEndian.Uint64(src)), k == kTimestamptz)
		return s, len(s) + 2, nil
	}
	return nil, 0, fmt.Errorf("no binary decoder for kind %d", k)
}

func nonFinite(f float64) (string, bool) {
	switch {
	case math.IsNaN(f):
		return "NaN", true
	case math.IsInf(f, 1):
		return "Infinity", true
	case math.IsInf(f, -1):
		return "-Infinity", true
	}
	return "", false
}

// intLen is the number of characters v takes in decimal.
func intLen(v int64) int {
	n := 1
	if v < 0 {
		n++
		if v == math.MinInt64 {
			return 20
		}
		v = -v
	}
	for v >= 10 {
		v /= 10
		n++
	}
	return n
}

// formatDate prints days since 2000-01-01 as "2006-01-02" (years outside
// 1..9999 as PostgreSQL prints them, with " BC" for years before 1).
func formatDate(days int32) string {
	switch days {
	case math.MaxInt32:
		return "infinity"
	case math.MinInt32:
		return "-infinity"
	}
	t := time.Date(2000, 1, 1+int(days), 0, 0, 0, 0, time.UTC)
	if y := t.Year(); y < 1 || y > 9999 {
		return formatYear(y) + t.Format("-01-02") + bcSuffix(y)
	}
	return t.Format(time.DateOnly)
}

// formatTimestamp prints microseconds since 2000-01-01: without zone as
// "2006-01-02T15:04:05.999999", with zone as RFC 3339 in UTC
// ("2006-01-02T15:04:05.999999Z").
func formatTimestamp(us int64, zone bool) string {
	switch us {
	case math.MaxInt64:
		return "infinity"
	case math.MinInt64:
		return "-infinity"
	}
	t := time.UnixMicro(pgEpochMicros + us).UTC()
	if y := t.Year(); y < 1 || y > 9999 {
		layout := "2006-01-02T15:04:05.999999"
		if zone {
			layout = "2006-01-02T15:04:05.999999Z07:00"
		}
		return formatYear(y) + t.Format(layout[4:]) + bcSuffix(y)
	}
	// The common case by hand: one allocation instead of time.Format's two.
	var buf [32]byte
	b := appendDigits(buf[:0], t.Year(), 4)
	b = append(b, '-')
	b = appendDigits(b, int(t.Month()), 2)
	b = append(b, '-')
	b = appendDigits(b, t.Day(), 2)
	b = append(b, 'T')
	b = appendDigits(b, t.Hour(), 2)
	b = append(b, ':')
	b = appendDigits(b, t.Minute(), 2)
	b = append(b, ':')
	b = appendDigits(b, t.Second(), 2)
	if frac := t.Nanosecond() / 1000; frac != 0 {
		b = append(b, '.')
		b = appendDigits(b, frac, 6)
		for b[len(b)-1] == '0' {
			b = b[:len(b)-1]
		}
	}
	if zone {
		b = append(b, 'Z')
	}
	return string(b)
}

// appendDigits appends the non-negative v with at least width digits.
func appendDigits(b []byte, v, width int) []byte {
	var tmp [20]byte
	i := len(tmp)
	for v >= 10 || width > 1 {
		i--
		tmp[i] = byte('0' + v%10)
		v /= 10
		width--
	}
	i--
	tmp[i] = byte('0' + v)
	return append(b, tmp[i:]...)
}

// formatYear prints an astronomical year as PostgreSQL does: year 0 is 1 BC.
func formatYear(y int) string {
	if y < 1 {
		y = 1 - y
	}
	s := strconv.Itoa(y)
	if len(s) < 4 {
		s = strings.Repeat("0", 4-len(s)) + s
	}
	return s
}

func bcSuffix(y int) string {
	if y < 1 {
		return " BC"
	}
	return ""
}

// maxArrayDims is PostgreSQL's MAXDIM.
const maxArrayDims = 6

// decodeBinaryArray decodes PostgreSQL's binary array format into nested
// JSON arrays (lower bounds other than 1 are not kept).
func decodeBinaryArray(elem kind, src []byte) (any, int, error) {
	if len(src) < 12 {
		return nil, 0, errBinaryLength
	}
	ndim := int(int32(binary.BigEndian.Uint32(src)))
	// src[4:8] is the has-nulls flag, src[8:12] the element OID.
	if ndim == 0 {
		return []any{}, 2, nil
	}
	if ndim < 0 || ndim > maxArrayDims || len(src) < 12+8*ndim {
		return nil, 0, fmt.Errorf("malformed binary array header (%d dimensions)", ndim)
	}
	var dimBuf [maxArrayDims]int
	dims := dimBuf[:ndim]
	total := 1
	for i := range dims {
		n := int(int32(binary.BigEndian.Uint32(src[12+8*i:])))
		if n < 1 {
			// PostgreSQL sends an empty array as zero dimensions.
			return nil, 0, fmt.Errorf("malformed binary array dimension %d", n)
		}
		dims[i] = n
		total *= n
		// Every element takes at least its 4-byte length, which bounds
		// what a hostile header can make us allocate.
		if total > len(src)/4 {
			return nil, 0, errBinaryLength
		}
	}
	d := arrayDecoder{elem: elem, src: src[12+8*ndim:]}
	v, err := d.dim(dims)
	if err != nil {
		return nil, 0, err
	}
	if len(d.src) != 0 {
		return nil, 0, errBinaryLength
	}
	return v, d.size, nil
}

type arrayDecoder struct {
	elem kind
	src  []byte
	size int
}

func (d *arrayDecoder) dim(dims []int) ([]any, error) {
	out := make([]any, dims[0])
	d.size += 1 + dims[0] // brackets and commas
	for i := range out {
		if len(dims) > 1 {
			v, err := d.dim(dims[1:])
			if err != nil {
				return nil, err
			}
			out[i] = v
			continue
		}
		if len(d.src) < 4 {
			return nil, errBinaryLength
		}
		n := int(int32(binary.BigEndian.Uint32(d.src)))
		d.src = d.src[4:]
		if n < 0 {
			d.size += 4 // null
			continue
		}
		if n > len(d.src) {
			return nil, errBinaryLength
		}
		v, size, err := decodeBinary(d.elem, d.src[:n])
		if err != nil {
			return nil, err
		}
		d.src = d.src[n:]
		out[i] = v
		d.size += size
	}
	return out, nil
}

// decodeTextArray parses PostgreSQL's array text output ({a,"b c",NULL},
// nested braces for more dimensions, an optional [lo:hi]= prefix) and
// decodes each element as kind elem in text format.
func decodeTextArray(elem kind, delim byte, src []byte) (any, int, error) {
	p := textArrayParser{s: string(src), delim: delim, elem: elem}
	if strings.HasPrefix(p.s, "[") {
		// Dimension decoration, present when a lower bound is not 1.
		i := strings.Index(p.s, "={")
		if i < 0 {
			return nil, 0, fmt.Errorf("malformed array literal %.40q", p.s)
		}
		p.pos = i + 1
	}
	v, err := p.array(0)
	if err != nil {
		return nil, 0, err
	}
	if p.pos != len(p.s) {
		return nil, 0, fmt.Errorf("malformed array literal %.40q: text after the closing brace", p.s)
	}
	return v, p.size, nil
}

type textArrayParser struct {
	s     string
	pos   int
	delim byte
	elem  kind
	size  int
}

func (p *textArrayParser) array(depth int) ([]any, error) {
	if depth >= maxArrayDims || p.pos >= len(p.s) || p.s[p.pos] != '{' {
		return nil, fmt.Errorf("malformed array literal %.40q", p.s)
	}
	p.pos++
	out := []any{}
	p.size += 2
	if p.pos < len(p.s) && p.s[p.pos] == '}' {
		p.pos++
		return out, nil
	}
	for {
		if p.pos >= len(p.s) {
			return nil, fmt.Errorf("malformed array literal %.40q: unterminated", p.s)
		}
		var v any
		switch p.s[p.pos] {
		case '{':
			a, err := p.array(depth + 1)
			if err != nil {
				return nil, err
			}
			v = a
		case '"':
			s, err := p.quoted()
			if err != nil {
				return nil, err
			}
			dv, size, err := decodeText(p.elem, s)
			if err != nil {
				return nil, err
			}
			v = dv
			p.size += size
		default:
			start := p.pos
			for p.pos < len(p.s) && p.s[p.pos] != p.delim && p.s[p.pos] != '}' {
				if c := p.s[p.pos]; c == '"' || c == '{' || c == '\\' {
					return nil, fmt.Errorf("malformed array literal %.40q at byte %d", p.s, p.pos)
				}
				p.pos++
			}
			raw := p.s[start:p.pos]
			if strings.EqualFold(raw, "NULL") {
				p.size += 4
				break
			}
			dv, size, err := decodeText(p.elem, raw)
			if err != nil {
				return nil, err
			}
			v = dv
			p.size += size
		}
		out = append(out, v)
		p.size++
		if p.pos >= len(p.s) {
			return nil, fmt.Errorf("malformed array literal %.40q: unterminated", p.s)
		}
		switch p.s[p.pos] {
		case p.delim:
			p.pos++
		case '}':
			p.pos++
			return out, nil
		default:
			return nil, fmt.Errorf("malformed array literal %.40q at byte %d", p.s, p.pos)
		}
	}
}

// quoted reads a double-quoted element with backslash escapes.
func (p *textArrayParser) quoted() (string, error) {
	p.pos++ // opening quote
	var b strings.Builder
	start := p.pos
	for p.pos < len(p.s) {
		switch c := p.s[p.pos]; c {
		case '"':
			var s string
			if b.Len() == 0 {
				s = p.s[start:p.pos]
			} else {
				b.WriteString(p.s[start:p.pos])
				s = b.String()
			}
			p.pos++
			return s, nil
		case '\\':
			b.WriteString(p.s[start:p.pos])
			p.pos++
			if p.pos >= len(p.s) {
				break
			}
			b.WriteByte(p.s[p.pos])
			p.pos++
			start = p.pos
			continue
		}
		p.pos++
	}
	return "", fmt.Errorf("malformed array literal %.40q: unterminated quote", p.s)
}
