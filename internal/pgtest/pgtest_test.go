package pgtest_test

import (
	"testing"

	"github.com/pgherd/pgherd/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestNewDatabase(t *testing.T) {
	db := pgtest.NewDatabase(t)
	got := pgtest.QueryValue[string](t, db.URI, "SELECT current_database()")
	if got != db.Name {
		t.Fatalf("current_database() = %q, want %q", got, db.Name)
	}
	if n := pgtest.QueryValue[int](t, db.URI, "SELECT count(*)::int FROM pg_extension WHERE extname = 'plpgsql'"); n != 1 {
		t.Fatalf("plpgsql extensions = %d, want 1", n)
	}
	t.Logf("hypopg available: %v", pgtest.HasHypoPG())
}

func TestStatStatementsPreloaded(t *testing.T) {
	db := pgtest.NewDatabase(t)
	pgtest.Exec(t, db.URI, "CREATE EXTENSION pg_stat_statements")
	if n := pgtest.QueryValue[int64](t, db.URI, "SELECT count(*) FROM pg_stat_statements"); n < 0 {
		t.Fatalf("count = %d", n)
	}
}
