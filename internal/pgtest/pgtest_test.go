package pgtest_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

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

// TestCreateRoleCheapSCRAM: CreateRole stores a SCRAM secret of
// ScramIterations rounds, with which the role logs in with its password and
// not with another; the superuser's secret has as many rounds.
func TestCreateRoleCheapSCRAM(t *testing.T) {
	name := "pgtest_scram_" + strings.ToLower(rand.Text()[:8])
	pw := pgtest.CreateRole(t, name, "")
	want := fmt.Sprintf("SCRAM-SHA-256$%d:", pgtest.ScramIterations)
	for _, role := range []string{name, "postgres"} {
		if pgtest.Cluster() == nil && role == "postgres" {
			continue // an existing server's superuser is none of ours
		}
		secret := pgtest.QueryValue[string](t, pgtest.URI("postgres"), "SELECT rolpassword FROM pg_authid WHERE rolname = $1", role)
		if !strings.HasPrefix(secret, want) {
			t.Errorf("%s's secret starts %.20q, want %q", role, secret, want)
		}
	}
	if got := pgtest.QueryValue[string](t, pgtest.URIAs("postgres", name, pw), "SELECT current_user"); got != name {
		t.Errorf("current_user = %q, want %q", got, name)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.URIAs("postgres", name, "not-"+pw))
	if err == nil {
		conn.Close(ctx)
		t.Fatal("a wrong password logged in")
	}
	if pe := (*pgconn.PgError)(nil); !errors.As(err, &pe) || pe.Code != "28P01" {
		t.Errorf("wrong password: %v, want SQLSTATE 28P01", err)
	}
}
