package pg

import (
	"context"
	"testing"

	"github.com/pgherd/pgherd/internal/pgtest"
)

// mixedRowsSQL returns 1000 rows of the common types.
const mixedRowsSQL = `SELECT g AS id, 'name ' || g AS name, g * 1.25 AS price, g % 2 = 0 AS even,
	timestamptz '2024-01-01' + g * interval '1 minute' AS at, date '2024-01-01' + g AS day,
	ARRAY[g, g + 1] AS pair, jsonb_build_object('g', g) AS doc, md5(g::text)::uuid AS uid, NULL::text AS nothing
FROM generate_series(1, 1000) g`

// BenchmarkRun measures one read-only call returning 1000 mixed rows: the
// transaction, the round trips and the encoding.
func BenchmarkRun(b *testing.B) {
	db := pgtest.NewDatabase(b)
	p := newPool(b, db.URI, PoolOptions{MaxConns: 1})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		res, err := p.Run(ctx, readOnly, Call{SQL: mixedRowsSQL})
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Rows) != 1000 {
			b.Fatalf("%d rows", len(res.Rows))
		}
	}
}

// BenchmarkRunSmall measures the fixed cost of a call: SELECT 1.
func BenchmarkRunSmall(b *testing.B) {
	db := pgtest.NewDatabase(b)
	p := newPool(b, db.URI, PoolOptions{MaxConns: 1})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Run(ctx, readOnly, Call{SQL: "SELECT 1"}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCall measures the fixed cost of a read-only call (SELECT 1) on
// each of its paths: with the session reset (DISCARD ALL, a round trip of
// its own), without it (TxOptions.NoSessionState: BEGIN with the parse,
// then the execution with ROLLBACK — two round trips), and without it but
// with a trusted lookup between the parse and the execution (Call.Before,
// as execute_sql's owner-code judge: three).
func BenchmarkCall(b *testing.B) {
	db := pgtest.NewDatabase(b)
	p := newPool(b, db.URI, PoolOptions{MaxConns: 1})
	ctx := context.Background()
	kept := readOnly
	kept.NoSessionState = true
	lookup := func(tx *Tx) func(context.Context) error {
		return func(ctx context.Context) error {
			var n int
			return tx.Conn().QueryRow(ctx, "SELECT count(*) FROM pg_catalog.pg_proc WHERE proname = $1", "lower").Scan(&n)
		}
	}
	for _, bc := range []struct {
		name   string
		opts   TxOptions
		before bool
	}{
		{"reset", readOnly, false},
		{"kept", kept, false},
		{"kept+lookup", kept, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				err := p.Do(ctx, bc.opts, func(ctx context.Context, tx *Tx) error {
					c := Call{SQL: "SELECT 1", Last: true}
					if bc.before {
						c.Before = lookup(tx)
					}
					_, err := tx.Query(ctx, c)
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecode measures decoding alone, on wire values captured once.
func BenchmarkDecode(b *testing.B) {
	db := pgtest.NewDatabase(b)
	p := newPool(b, db.URI, PoolOptions{MaxConns: 1})
	ctx := context.Background()
	var (
		rows    [][][]byte
		infos   []typeInfo
		formats []int16
	)
	err := p.Do(ctx, readOnly, func(ctx context.Context, tx *Tx) error {
		conn := tx.conn
		sd, err := conn.PgConn().Prepare(ctx, "", mixedRowsSQL, nil)
		if err != nil {
			return err
		}
		_, infos, formats, _, err = p.describeColumns(ctx, conn, sd.Fields)
		if err != nil {
			return err
		}
		rr := conn.PgConn().ExecStatement(ctx, sd, nil, nil, formats)
		for rr.NextRow() {
			var row [][]byte
			for _, v := range rr.Values() {
				row = append(row, append([]byte(nil), v...))
			}
			rows = append(rows, row)
		}
		_, err = rr.Close()
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, row := range rows {
			out := make([]any, len(row))
			for i, v := range row {
				dv, _, err := decodeValue(&infos[i], formats[i], v)
				if err != nil {
					b.Fatal(err)
				}
				out[i] = dv
			}
		}
	}
}
