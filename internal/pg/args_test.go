package pg

import (
	"context"
	"errors"
	"testing"

	"github.com/pgherd/pgherd/internal/pgtest"
)

// JSON-decoded parameters reach PostgreSQL as the inferred types, and what
// does not fit fails with PostgreSQL's own message, never silently rounded.
func TestParams(t *testing.T) {
	db := pgtest.NewDatabase(t)
	pgtest.Exec(t, db.URI, "CREATE TYPE mood AS ENUM ('sad', 'happy')")
	p := newPool(t, db.URI, PoolOptions{})
	tests := []struct {
		sql   string
		args  []any
		want  string // JSON of the first value
		state string // or the SQLSTATE of the error
	}{
		{"SELECT $1::int", []any{float64(3)}, `3`, ""},
		{"SELECT $1::int", []any{3.5}, "", "22P02"},
		{"SELECT $1::int2", []any{float64(70000)}, "", "params"},
		{"SELECT $1::int8", []any{float64(1 << 53)}, `9007199254740992`, ""},
		{"SELECT $1::int8", []any{"9007199254740993"}, `"9007199254740993"`, ""},
		{"SELECT $1::int", []any{"42"}, `42`, ""},
		{"SELECT $1::int", []any{nil}, `null`, ""},
		{"SELECT $1::int", []any{true}, "", "22P02"},
		{"SELECT $1::numeric", []any{0.1}, `0.1`, ""},
		{"SELECT $1::numeric", []any{"12345678901234567890.5"}, `"12345678901234567890.5"`, ""},
		{"SELECT $1::float8", []any{0.1}, `0.1`, ""},
		{"SELECT $1::float4", []any{1.5}, `1.5`, ""},
		{"SELECT $1::text", []any{3.5}, `"3.5"`, ""},
		{"SELECT $1::text", []any{1e21}, `"1000000000000000000000"`, ""},
		{"SELECT $1::text", []any{true}, `"true"`, ""},
		{"SELECT $1::text", []any{map[string]any{"a": 1.0}}, `"{\"a\":1}"`, ""},
		{"SELECT $1::text", []any{[]any{1.0, "x"}}, `"[1,\"x\"]"`, ""},
		{"SELECT $1", []any{"untyped"}, `"untyped"`, ""},
		{"SELECT $1::bool", []any{true}, `true`, ""},
		{"SELECT $1::bool", []any{"yes"}, `true`, ""},
		{"SELECT $1::jsonb", []any{map[string]any{"a": []any{1.0, nil}}}, `{"a":[1,null]}`, ""},
		{"SELECT $1::jsonb", []any{`{"raw": true}`}, `{"raw":true}`, ""},
		{"SELECT $1::json", []any{2.5}, `2.5`, ""},
		{"SELECT $1::jsonb", []any{[]any{"a"}}, `["a"]`, ""},
		{"SELECT $1::date", []any{"2024-02-29"}, `"2024-02-29"`, ""},
		{"SELECT $1::timestamptz", []any{"2024-01-02T03:04:05+01:00"}, `"2024-01-02T02:04:05Z"`, ""},
		{"SELECT $1::uuid", []any{"A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"}, `"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"`, ""},
		{"SELECT $1::bytea", []any{`\x4142`}, `"QUI="`, ""},
		{"SELECT $1::int[]", []any{[]any{1.0, nil, 3.0}}, `[1,null,3]`, ""},
		{"SELECT $1::int[]", []any{[]any{[]any{1.0, 2.0}, []any{3.0, 4.0}}}, `[[1,2],[3,4]]`, ""},
		{"SELECT $1::int[]", []any{[]any{1.5}}, "", "22P02"},
		{"SELECT $1::int[]", []any{[]any{}}, `[]`, ""},
		{"SELECT $1::text[]", []any{[]any{`a"b`, `c\d`, "NULL", "", "x,y"}}, `["a\"b","c\\d","NULL","","x,y"]`, ""},
		{"SELECT $1::mood", []any{"happy"}, `"happy"`, ""},
		{"SELECT $1::mood[]", []any{[]any{"sad", "happy"}}, `["sad","happy"]`, ""},
		{"SELECT $1::mood", []any{"angry"}, "", "22P02"},
		{"SELECT 4 = ANY($1::int[])", []any{[]any{4.0}}, `true`, ""},
		{"SELECT $1::box[]", []any{[]any{"(1,1),(0,0)"}}, `["(1,1),(0,0)"]`, ""},
		{"SELECT $1::int, $2::int", []any{1.0}, "", "params"},
		{"SELECT 1", []any{1.0}, "", "params"},
	}
	ctx := context.Background()
	for _, tt := range tests {
		res, err := p.Run(ctx, readOnly, Call{SQL: tt.sql, Args: tt.args})
		switch {
		case tt.state == "params":
			if !errors.Is(err, ErrParams) {
				t.Errorf("%s %v: error %v, want ErrParams", tt.sql, tt.args, err)
			}
			continue
		case tt.state != "":
			if e, ok := AsError(err); !ok || e.SQLState != tt.state {
				t.Errorf("%s %v: error %v, want SQLSTATE %s", tt.sql, tt.args, err, tt.state)
			}
			continue
		case err != nil:
			t.Errorf("%s %v: %v", tt.sql, tt.args, err)
			continue
		}
		if got, _ := marshal(res.Rows[0][0]); got != tt.want {
			t.Errorf("%s %v = %s, want %s", tt.sql, tt.args, got, tt.want)
		}
	}
}

func TestParamCountMessage(t *testing.T) {
	tests := []struct {
		want, got int
		msg       string
	}{
		{2, 1, "invalid statement parameters: the statement has 2 parameters ($1 to $2) but 1 value was given in params"},
		{1, 0, "invalid statement parameters: the statement has 1 parameter ($1) but 0 values were given in params"},
		{0, 2, "invalid statement parameters: the statement has no parameters but 2 values were given in params"},
	}
	for _, tt := range tests {
		if got := paramCountError(tt.want, tt.got).Error(); got != tt.msg {
			t.Errorf("paramCountError(%d, %d) = %q, want %q", tt.want, tt.got, got, tt.msg)
		}
	}
}
