package pg

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/pgherd/pgherd/internal/pgtest"
)

func TestResultText(t *testing.T) {
	db := pgtest.NewDatabase(t)
	pgtest.Exec(t, db.URI, "CREATE TABLE t (id int)")
	p := newPool(t, db.URI, PoolOptions{})
	ctx := context.Background()
	tests := []struct {
		name string
		opts TxOptions
		call Call
		want string
	}{
		{"rows", readOnly, Call{SQL: `SELECT 1 AS id, 'a<b' AS "the name", NULL::jsonb AS j, '{"k": [1]}'::jsonb AS "x""y", ARRAY[1.5] AS "a,b"`},
			"columns: id integer, \"the name\" text, j jsonb, \"x\\\"y\" jsonb, \"a,b\" numeric[]\n" +
				"[1,\"a<b\",null,{\"k\":[1]},[1.5]]\n" +
				"1 row"},
		{"truncated", readOnly, Call{SQL: "SELECT g FROM generate_series(1, 5) g", MaxRows: 2},
			"columns: g integer\n[1]\n[2]\n2 rows (truncated by max_rows; more rows exist)"},
		{"empty", readOnly, Call{SQL: "SELECT 1 AS x WHERE false"},
			"columns: x integer\n0 rows"},
		{"command", TxOptions{}, Call{SQL: "INSERT INTO t VALUES (1), (2)"},
			"INSERT 0 2 (2 rows affected)"},
		{"returning", TxOptions{}, Call{SQL: "UPDATE t SET id = id + 1 RETURNING id"},
			"columns: id integer\n[2]\n[3]\n2 rows; UPDATE 2"},
		{"ddl", TxOptions{}, Call{SQL: "CREATE TABLE u (id int)"},
			"CREATE TABLE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := p.Run(ctx, tt.opts, tt.call)
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Text(); got != tt.want {
				t.Errorf("Text() =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// The structured form: field names and omitted fields as documented.
func TestResultJSON(t *testing.T) {
	db := pgtest.NewDatabase(t)
	p := newPool(t, db.URI, PoolOptions{})
	res, err := p.Run(context.Background(), readOnly, Call{SQL: "SELECT g AS n FROM generate_series(1, 3) g", MaxRows: 2})
	if err != nil {
		t.Fatal(err)
	}
	res.ElapsedMS = 1.5
	got, _ := json.Marshal(res)
	want := `{"columns":[{"name":"n","type":"integer"}],"rows":[[1],[2]],"row_count":2,"truncated":true,"truncated_by":"max_rows","elapsed_ms":1.5}`
	if string(got) != want {
		t.Errorf("JSON =\n%s\nwant\n%s", got, want)
	}
}
