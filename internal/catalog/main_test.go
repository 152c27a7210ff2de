package catalog_test

import (
	"context"
	_ "embed"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgherd/pgherd/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

//go:embed testdata/every_kind.sql
var everyKindSQL string

// fixture creates a database holding testdata/every_kind.sql and returns
// it. When the server has hypopg, the extension goes into schema "tools", so
// the golden files of public and sales do not depend on it.
func fixture(t testing.TB) *pgtest.Database {
	t.Helper()
	db := pgtest.NewDatabase(t)
	pgtest.Exec(t, db.URI, everyKindSQL)
	if pgtest.HasHypoPG() {
		pgtest.Exec(t, db.URI, "CREATE SCHEMA tools; CREATE EXTENSION hypopg SCHEMA tools")
	}
	return db
}

// readOnlyTx connects to uri and opens a read-only transaction, as the
// tools' executor does; both end with the test.
func readOnlyTx(t testing.TB, uri string) pgx.Tx {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, uri)
	if err != nil {
		t.Fatalf("connecting: %v", err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		t.Fatalf("BEGIN READ ONLY: %v", err)
	}
	t.Cleanup(func() { tx.Rollback(ctx) })
	return tx
}

// oneByOne hides a transaction's SendBatch, so the package falls back to
// one query per section.
type oneByOne struct{ tx pgx.Tx }

func (o oneByOne) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return o.tx.Query(ctx, sql, args...)
}

func (o oneByOne) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return o.tx.QueryRow(ctx, sql, args...)
}
