package destructive_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/pgherd/pgherd/internal/access"
	"github.com/pgherd/pgherd/internal/destructive"
)

func TestClassify(t *testing.T) {
	cases := []struct {
		sql     string
		mode    access.Mode
		kind    string // "" means not destructive
		tables  []string
		changes string // a substring of the joined changes
	}{
		{"DROP TABLE orders", access.AdminRW, "DROP TABLE", []string{"orders"}, "drops table orders"},
		{"DROP TABLE IF EXISTS s.a, b CASCADE", access.AdminRW, "DROP TABLE", []string{"s.a", "b"}, "CASCADE"},
		{"DROP SCHEMA private CASCADE", access.AdminRW, "DROP SCHEMA", nil, "drops schema private"},
		{"DROP MATERIALIZED VIEW mv", access.AdminRW, "DROP MATERIALIZED VIEW", []string{"mv"}, "drops materialized view mv"},
		{"DROP INDEX CONCURRENTLY i", access.AdminRW, "DROP INDEX", nil, "drops index i"},
		{"DROP FUNCTION f(int)", access.AdminRW, "DROP FUNCTION", nil, "drops function f(…)"},
		{"DROP DATABASE shop", access.AdminRW, "DROP DATABASE", nil, "drops database shop"},
		{"DROP OWNED BY bob", access.AdminRW, "DROP OWNED", nil, "owned by bob"},
		{"TRUNCATE orders, public.items RESTART IDENTITY", access.AdminRW, "TRUNCATE", []string{"orders", "public.items"}, "every row of public.items"},
		{"ALTER TABLE orders DROP COLUMN note", access.AdminRW, "ALTER TABLE … DROP COLUMN", []string{"orders"}, "drops column note of orders"},
		{"ALTER TABLE orders ALTER COLUMN total TYPE bigint", access.AdminRW, "ALTER TABLE … ALTER COLUMN TYPE", []string{"orders"}, "rewrites column total"},
		{"ALTER TABLE orders ADD COLUMN note text", access.AdminRW, "", nil, ""},
		{"DELETE FROM orders", access.AdminRW, "DELETE without WHERE", []string{"orders"}, "deletes every row of orders"},
		{"DELETE FROM orders WHERE id = 1", access.AdminRW, "", nil, ""},
		{"UPDATE orders SET total = 0", access.UserRW, "UPDATE without WHERE", []string{"orders"}, "updates every row"},
		{"UPDATE orders SET total = 0 WHERE id = $1", access.UserRW, "", nil, ""},
		{"WITH d AS (DELETE FROM orders RETURNING *) SELECT count(*) FROM d", access.UserRW, "DELETE without WHERE", []string{"orders"}, "deletes every row"},
		{"INSERT INTO t SELECT * FROM s", access.UserRW, "", nil, ""},
		{"DROP TABLE orders", access.UserRW, "", nil, ""}, // the validator refuses it; nothing to confirm here
		{"DELETE FROM orders", access.AdminRO, "", nil, ""},
		{"SELECT 1", access.AdminRW, "", nil, ""},
		{"CREATE TABLE x (a int)", access.AdminRW, "", nil, ""},
	}
	for _, c := range cases {
		f, err := destructive.Classify(c.sql, c.mode)
		if err != nil {
			t.Errorf("Classify(%q, %s): %v", c.sql, c.mode, err)
			continue
		}
		if c.kind == "" {
			if f != nil {
				t.Errorf("Classify(%q, %s) = %+v, want nothing", c.sql, c.mode, f)
			}
			continue
		}
		if f == nil {
			t.Errorf("Classify(%q, %s) = nil, want %s", c.sql, c.mode, c.kind)
			continue
		}
		var tables []string
		for _, r := range f.Tables {
			tables = append(tables, r.String())
		}
		if f.Kind != c.kind || !reflect.DeepEqual(tables, c.tables) || !strings.Contains(strings.Join(f.Changes, "; "), c.changes) {
			t.Errorf("Classify(%q, %s) = kind %q tables %q changes %q; want %q %q containing %q", c.sql, c.mode, f.Kind, tables, f.Changes, c.kind, c.tables, c.changes)
		}
	}
}
