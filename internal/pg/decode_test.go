package pg

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/pgherd/pgherd/internal/pgtest"
)

// TestResultEncoding runs one expression per type family through Run and
// compares the JSON of the value and the column's type name with
// docs/results.md.
func TestResultEncoding(t *testing.T) {
	db := pgtest.NewDatabase(t)
	pgtest.Exec(t, db.URI, `
		CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
		CREATE TYPE pair AS (a int, b text);
		CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
		CREATE DOMAIN email AS text;
		CREATE EXTENSION citext;
		CREATE SCHEMA other;
		CREATE TYPE other.color AS ENUM ('red');`)
	p := newPool(t, db.URI, PoolOptions{})
	tests := []struct {
		expr, typ, want string
	}{
		// null and booleans
		{"NULL::int", "integer", `null`},
		{"true", "boolean", `true`},
		{"false", "boolean", `false`},
		// integers
		{"32767::int2", "smallint", `32767`},
		{"(-2147483648)::int4", "integer", `-2147483648`},
		{"9007199254740992::int8", "bigint", `9007199254740992`},
		{"-9007199254740992::int8", "bigint", `-9007199254740992`},
		{"9007199254740993::int8", "bigint", `"9007199254740993"`},
		{"(-9223372036854775808)::int8", "bigint", `"-9223372036854775808"`},
		{"4294967295::oid", "oid", `4294967295`},
		// floating point
		{"1.5::float8", "double precision", `1.5`},
		{"0.1::float8", "double precision", `0.1`},
		{"1e300::float8", "double precision", `1e+300`},
		{"1.1::float4", "real", `1.1`},
		{"'NaN'::float8", "double precision", `"NaN"`},
		{"'Infinity'::float8", "double precision", `"Infinity"`},
		{"'-Infinity'::float4", "real", `"-Infinity"`},
		// numeric
		{"1.50::numeric", "numeric", `1.5`},
		{"12.25::numeric(10,2)", "numeric", `12.25`},
		{"0.1::numeric", "numeric", `0.1`},
		{"100::numeric", "numeric", `100`},
		{"-3.000::numeric", "numeric", `-3`},
		{"12345678901234567890::numeric", "numeric", `"12345678901234567890"`},
		{"0.12345678901234567890::numeric", "numeric", `"0.12345678901234567890"`},
		{"'NaN'::numeric", "numeric", `"NaN"`},
		{"'Infinity'::numeric", "numeric", `"Infinity"`},
		// text
		{"'héllo \"q\"\n'::text", "text", `"héllo \"q\"\n"`},
		{"'ab'::varchar(5)", "character varying", `"ab"`},
		{"'ab'::char(4)", "character", `"ab  "`},
		{"'x'::\"char\"", `"char"`, `"x"`},
		{"'tbl'::name", "name", `"tbl"`},
		{"'MiXed'::citext", "citext", `"MiXed"`},
		{"'a@b'::email", "text", `"a@b"`},
		// bytea and uuid
		{`'\x00ff41'::bytea`, "bytea", `"AP9B"`},
		{`''::bytea`, "bytea", `""`},
		{"'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid", "uuid", `"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"`},
		// date and time
		{"'2024-02-29'::date", "date", `"2024-02-29"`},
		{"'0044-03-15 BC'::date", "date", `"0044-03-15 BC"`},
		{"'infinity'::date", "date", `"infinity"`},
		{"'2024-01-02 03:04:05.123456'::timestamp", "timestamp without time zone", `"2024-01-02T03:04:05.123456"`},
		{"'2024-01-02 03:04:05'::timestamp", "timestamp without time zone", `"2024-01-02T03:04:05"`},
		{"'-infinity'::timestamp", "timestamp without time zone", `"-infinity"`},
		{"'2024-01-02 03:04:05.5+02'::timestamptz", "timestamp with time zone", `"2024-01-02T01:04:05.5Z"`},
		{"'12:34:56.789'::time", "time without time zone", `"12:34:56.789"`},
		{"'12:34:56+05:30'::timetz", "time with time zone", `"12:34:56+05:30"`},
		{"'1 year 2 mons 3 days 04:05:06.5'::interval", "interval", `"1 year 2 mons 3 days 04:05:06.5"`},
		// json
		{`'{"a": [1, 2.5, null, "x"]}'::json`, "json", `{"a":[1,2.5,null,"x"]}`},
		{`'{"b": {"c": true}}'::jsonb`, "jsonb", `{"b":{"c":true}}`},
		{`'"str"'::jsonb`, "jsonb", `"str"`},
		{`'12345678901234567890'::jsonb`, "jsonb", `12345678901234567890`},
		// arrays
		{"'{1,2,3}'::int[]", "integer[]", `[1,2,3]`},
		{"'{{1,2},{3,NULL}}'::int[]", "integer[]", `[[1,2],[3,null]]`},
		{"'{}'::int[]", "integer[]", `[]`},
		{"'[0:1]={7,8}'::int[]", "integer[]", `[7,8]`},
		{"'{9007199254740993}'::int8[]", "bigint[]", `["9007199254740993"]`},
		{`'{"a b","c,d","e\"f",NULL,"NULL",""}'::text[]`, "text[]", `["a b","c,d","e\"f",null,"NULL",""]`},
		{`'{{"x"},{"y"}}'::varchar[]`, "character varying[]", `[["x"],["y"]]`},
		{"'{1.50,NaN,12345678901234567890}'::numeric[]", "numeric[]", `[1.5,"NaN","12345678901234567890"]`},
		{`ARRAY['{"a":1}'::jsonb, '[2]']`, "jsonb[]", `[{"a":1},[2]]`},
		{"ARRAY[true, NULL, false]", "boolean[]", `[true,null,false]`},
		{"ARRAY['2024-01-02'::date]", "date[]", `["2024-01-02"]`},
		{"ARRAY['2024-01-02 03:04:05Z'::timestamptz]", "timestamp with time zone[]", `["2024-01-02T03:04:05Z"]`},
		{`ARRAY['\x01'::bytea]`, "bytea[]", `["AQ=="]`},
		{"ARRAY['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid]", "uuid[]", `["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"]`},
		{"ARRAY[1.5::float4, 'NaN']", "real[]", `[1.5,"NaN"]`},
		{"ARRAY['10.0.0.1'::inet, '::1']", "inet[]", `["10.0.0.1","::1"]`},
		{"'{(1\\,2),(3\\,4)}'::point[]", "point[]", `["(1,2)","(3,4)"]`},
		{"ARRAY[box '((1,1),(0,0))', box '((3,3),(2,2))']", "box[]", `["(1,1),(0,0)","(3,3),(2,2)"]`},
		{"ARRAY['happy'::mood, 'sad']", "mood[]", `["happy","sad"]`},
		{"ARRAY[ROW(1, 'x')::pair]", "pair[]", `["(1,x)"]`},
		{"ARRAY[1::posint]", "posint[]", `[1]`},
		// everything else: PostgreSQL's text output
		{"'happy'::mood", "mood", `"happy"`},
		{"'red'::other.color", "other.color", `"red"`},
		{"ROW(1, 'x y')::pair", "pair", `"(1,\"x y\")"`},
		{"ROW(1, 2)", "record", `"(1,2)"`},
		{"5::posint", "integer", `5`},
		{"'192.168.0.1/24'::inet", "inet", `"192.168.0.1/24"`},
		{"'10.0.0.0/8'::cidr", "cidr", `"10.0.0.0/8"`},
		{"'08:00:2b:01:02:03'::macaddr", "macaddr", `"08:00:2b:01:02:03"`},
		{"12.5::money", "money", `"$12.50"`},
		{"B'101'", "bit", `"101"`},
		{"B'10'::varbit", "bit varying", `"10"`},
		{"'a fat cat'::tsvector", "tsvector", `"'a' 'cat' 'fat'"`},
		{"'[1,5)'::int4range", "int4range", `"[1,5)"`},
		{"'{[1,2),[4,5)}'::int4multirange", "int4multirange", `"{[1,2),[4,5)}"`},
		{"point '(1,2)'", "point", `"(1,2)"`},
		{"'<a>x</a>'::xml", "xml", `"<a>x</a>"`},
		{"'pg_class'::regclass", "regclass", `"pg_class"`},
		{"'0/16B6C50'::pg_lsn", "pg_lsn", `"0/16B6C50"`},
		{"NULL::mood", "mood", `null`},
	}
	ctx := context.Background()
	for _, tt := range tests {
		res, err := p.Run(ctx, readOnly, Call{SQL: "SELECT " + tt.expr})
		if err != nil {
			t.Errorf("SELECT %s: %v", tt.expr, err)
			continue
		}
		got, err := marshal(res.Rows[0][0])
		if err != nil {
			t.Errorf("SELECT %s: marshal: %v", tt.expr, err)
			continue
		}
		if got != tt.want {
			t.Errorf("SELECT %s = %s, want %s", tt.expr, got, tt.want)
		}
		if res.Columns[0].Type != tt.typ {
			t.Errorf("SELECT %s: column type %q, want %q", tt.expr, res.Columns[0].Type, tt.typ)
		}
	}
}

// marshal encodes v as JSON without HTML escaping.
func marshal(v any) (string, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// Every name in builtinTypes must be format_type's.
func TestBuiltinTypeNames(t *testing.T) {
	db := pgtest.NewDatabase(t)
	p := newPool(t, db.URI, PoolOptions{})
	var oids []any
	for oid := range builtinTypes {
		oids = append(oids, float64(oid))
	}
	res, err := p.Run(context.Background(), readOnly, Call{
		SQL:     "SELECT t.oid, format_type(t.oid, NULL), t.typelem <> 0 AND t.typlen = -1 AND t.oid NOT IN (22, 30) FROM pg_type t WHERE t.oid = ANY($1::oid[])",
		Args:    []any{oids},
		MaxRows: 1000,
	})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uint32]bool{}
	for _, row := range res.Rows {
		oid := uint32(row[0].(int64))
		seen[oid] = true
		bt := builtinTypes[oid]
		if bt.name != row[1] {
			t.Errorf("oid %d: builtinTypes says %q, format_type says %q", oid, bt.name, row[1])
		}
		if (bt.kind == kArray) != row[2].(bool) {
			t.Errorf("oid %d (%s): array %v in builtinTypes, %v in pg_type", oid, bt.name, bt.kind == kArray, row[2])
		}
	}
	for oid, bt := range builtinTypes {
		if !seen[oid] {
			t.Errorf("oid %d (%s) is not in this server's pg_type", oid, bt.name)
		}
	}
}

func TestDecodeTextArray(t *testing.T) {
	tests := []struct {
		in, want string
		elem     kind
		delim    byte
	}{
		{`{}`, `[]`, kText, ','},
		{`{a,b}`, `["a","b"]`, kText, ','},
		{`{"a\\b","c\"d"}`, `["a\\b","c\"d"]`, kText, ','},
		{`{NULL,null,"NULL"}`, `[null,null,"NULL"]`, kText, ','},
		{`{{a},{b}}`, `[["a"],["b"]]`, kText, ','},
		{`[2:3]={a,b}`, `["a","b"]`, kText, ','},
		{`{(1,1),(0,0);(2,2),(1,1)}`, `["(1,1),(0,0)","(2,2),(1,1)"]`, kText, ';'},
		{`{1.0,2.5}`, `[1,2.5]`, kNumeric, ','},
		{`{"{\"a\": 1}"}`, `[{"a":1}]`, kJSON, ','},
	}
	for _, tt := range tests {
		v, _, err := decodeTextArray(tt.elem, tt.delim, []byte(tt.in))
		if err != nil {
			t.Errorf("decodeTextArray(%q): %v", tt.in, err)
			continue
		}
		got, _ := json.Marshal(v)
		if string(got) != tt.want {
			t.Errorf("decodeTextArray(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
	for _, bad := range []string{``, `{`, `{a`, `{"a`, `{a}x`, `a`, `[1:2]`, `{{{{{{{a}}}}}}}`, `{a"b}`} {
		if _, _, err := decodeTextArray(kText, ',', []byte(bad)); err == nil {
			t.Errorf("decodeTextArray(%q) accepted malformed input", bad)
		}
	}
}

// FuzzDecodeTextArray: the parser never panics, and what it accepts
// encodes as JSON.
func FuzzDecodeTextArray(f *testing.F) {
	for _, s := range []string{`{}`, `{a,"b\"c",NULL}`, `{{1,2},{3,4}}`, `[0:1]={x,y}`, `{"\\"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, _, err := decodeTextArray(kText, ',', []byte(s))
		if err != nil {
			return
		}
		if _, err := json.Marshal(v); err != nil {
			t.Fatalf("decodeTextArray(%q) gave %v, which does not marshal: %v", s, v, err)
		}
	})
}

func FuzzDecodeBinaryArray(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 23, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 7, 255, 255, 255, 255})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 23})
	// Regression: a zero-length second dimension let a huge first one through.
	f.Add([]byte{0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 23, 127, 255, 255, 255, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, k := range []kind{kInt4, kInt8, kBool, kFloat8, kTimestamptz, kBytea} {
			v, _, err := decodeBinaryArray(k, b)
			if err == nil {
				if _, err := json.Marshal(v); err != nil {
					t.Fatalf("decoded %v does not marshal: %v", v, err)
				}
			}
		}
	})
}

func TestNumericRule(t *testing.T) {
	tests := []struct{ in, want string }{
		{"0", "0"}, {"1.50", "1.5"}, {"-0.001", "-0.001"}, {"123456789012345", "123456789012345"},
		{"9007199254740993", `"9007199254740993"`}, {"1.0000000000000001", `"1.0000000000000001"`},
		{"100000000000000000000", "100000000000000000000"}, {"NaN", `"NaN"`}, {"-Infinity", `"-Infinity"`},
	}
	for _, tt := range tests {
		v, _, _ := decodeNumeric(tt.in)
		got, _ := json.Marshal(v)
		if string(got) != tt.want {
			t.Errorf("decodeNumeric(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// The byte estimate of a row is what the cap compares: it must not be
// smaller than the JSON the caller gets.
func TestSizeEstimateCoversJSON(t *testing.T) {
	db := pgtest.NewDatabase(t)
	p := newPool(t, db.URI, PoolOptions{})
	res, err := p.Run(context.Background(), readOnly, Call{SQL: `SELECT g, g::text, g * 1.5, now(), ARRAY[g, g+1], '{"a": 1}'::jsonb, 'x' || repeat('y', g)
		FROM generate_series(1, 200) g`, MaxBytes: 20000})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Truncated {
		t.Fatal("not truncated; raise the row count")
	}
	rows, _ := json.Marshal(res.Rows)
	if len(rows) > 20000 {
		t.Errorf("rows encode to %d bytes, over the 20000-byte cap", len(rows))
	}
	// The cap counts the result's two copies (structured and text), so the
	// rows alone fill a little under half of it.
	if len(rows) < 8000 {
		t.Errorf("rows encode to %d bytes: the estimate cut far below half the 20000-byte cap (two copies)", len(rows))
	}
	if strings.Count(string(rows), "[") < 10 {
		t.Errorf("unexpected rows %s", rows)
	}
}
