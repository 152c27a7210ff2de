package catalog_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgherd/pgherd/internal/catalog"
	"github.com/pgherd/pgherd/internal/pgtest"
)

// TestPrettySizeMatchesServer checks the Go formatting against
// pg_size_pretty around every unit boundary.
func TestPrettySizeMatchesServer(t *testing.T) {
	var values []int64
	for shift := uint(0); shift <= 60; shift += 10 {
		for _, base := range []int64{10 * 1024, 20*1024 - 1, 20 * 1024, 1, 1000, 4096} {
			for _, d := range []int64{-1, 0, 1} {
				v := base<<shift + d
				values = append(values, v, -v)
			}
		}
	}
	values = append(values, 0, 729088, 20479*512, 20478*512+511)
	db := pgtest.NewDatabase(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db.URI)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT v, pg_size_pretty(v) FROM unnest($1::int8[]) v", values)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		var v int64
		var want string
		if err := rows.Scan(&v, &want); err != nil {
			t.Fatal(err)
		}
		if got := catalog.PrettySize(v); got != want {
			t.Errorf("prettySize(%d) = %q, pg_size_pretty says %q", v, got, want)
		}
		n++
	}
	if rows.Err() != nil || n != len(values) {
		t.Fatalf("compared %d of %d values: %v", n, len(values), rows.Err())
	}
}
