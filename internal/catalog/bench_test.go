package catalog_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/pgherd/pgherd/internal/catalog"
	"github.com/pgherd/pgherd/internal/pgtest"
)

// benchSchema creates schema "bench" with n tables, each with a primary
// key, a foreign key to the previous table, a check, an index, a trigger and
// comments: the shape of a real application schema.
func benchSchema(b *testing.B, n int) *pgtest.Database {
	b.Helper()
	db := pgtest.NewDatabase(b)
	var sql strings.Builder
	sql.WriteString(`CREATE SCHEMA bench;
CREATE FUNCTION bench.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
`)
	for i := range n {
		fmt.Fprintf(&sql, `CREATE TABLE bench.t%03d (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	parent_id bigint%s,
	name text NOT NULL DEFAULT '',
	amount numeric CHECK (amount >= 0),
	created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX ON bench.t%03d (created_at);
CREATE TRIGGER touch BEFORE UPDATE ON bench.t%03d FOR EACH ROW EXECUTE FUNCTION bench.touch();
COMMENT ON TABLE bench.t%03d IS 'table %d';
COMMENT ON COLUMN bench.t%03d.name IS 'the name';
`, i, parentRef(i), i, i, i, i, i)
	}
	pgtest.Exec(b, db.URI, sql.String())
	// Settle the catalogs now, so autovacuum does not compete with the
	// first sub-benchmark.
	pgtest.Exec(b, db.URI, "VACUUM ANALYZE")
	return db
}

func parentRef(i int) string {
	if i == 0 {
		return ""
	}
	return fmt.Sprintf(" REFERENCES bench.t%03d (id)", i-1)
}

func BenchmarkCatalog(b *testing.B) {
	db := benchSchema(b, 500)
	ctx := context.Background()
	tx := readOnlyTx(b, db.URI)

	b.Run("ListObjects/all/limit200", func(b *testing.B) {
		for b.Loop() {
			list, err := catalog.ListObjects(ctx, tx, catalog.ListOptions{Schema: "bench"})
			if err != nil || !list.Truncated {
				b.Fatal(err, list.Truncated)
			}
		}
	})
	b.Run("ListObjects/tables/limit5000", func(b *testing.B) {
		for b.Loop() {
			list, err := catalog.ListObjects(ctx, tx, catalog.ListOptions{Schema: "bench", Type: catalog.TypeTable, Limit: catalog.MaxListLimit})
			if err != nil || len(list.Objects) != 500 {
				b.Fatal(err)
			}
		}
	})
	b.Run("ListObjects/pattern", func(b *testing.B) {
		for b.Loop() {
			list, err := catalog.ListObjects(ctx, tx, catalog.ListOptions{Schema: "bench", Pattern: "t25%"})
			if err != nil || len(list.Objects) != 20 { // ten tables and their identity sequences
				b.Fatal(err, len(list.Objects))
			}
		}
	})
	b.Run("Describe/table/batch", func(b *testing.B) {
		for b.Loop() {
			d, err := catalog.Describe(ctx, tx, "bench", "t250", catalog.TypeTable)
			if err != nil || len(d.ForeignKeys) != 1 || len(d.ReferencedBy) != 1 {
				b.Fatal(err)
			}
		}
	})
	b.Run("Describe/table/one-by-one", func(b *testing.B) {
		for b.Loop() {
			if _, err := catalog.Describe(ctx, oneByOne{tx}, "bench", "t250", catalog.TypeTable); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Describe/notfound", func(b *testing.B) {
		for b.Loop() {
			if _, err := catalog.Describe(ctx, tx, "bench", "t25O", catalog.TypeTable); err == nil {
				b.Fatal("found")
			}
		}
	})
	b.Run("ListSchemas", func(b *testing.B) {
		for b.Loop() {
			if _, err := catalog.ListSchemas(ctx, tx); err != nil {
				b.Fatal(err)
			}
		}
	})
}
