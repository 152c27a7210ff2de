package pg

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// connTx is a call's transaction as a [pgx.Tx], for trusted SQL ([Tx.Conn]).
// The transaction starts with the first round trip that needs it — one of
// these methods, or [Tx.Query], which sends BEGIN together with the parse
// of its statement — so each method first makes sure it has begun. Begin
// makes a savepoint; Commit and Rollback of the call's own transaction are
// refused (it ends with the call).
type connTx struct {
	tx     *Tx
	nested bool // a savepoint
	closed bool // the savepoint was released or rolled back to
}

var _ pgx.Tx = (*connTx)(nil)

// Savepoints of trusted SQL. PostgreSQL allows one name for nested
// savepoints: RELEASE and ROLLBACK TO act on the innermost.
const (
	savepointSQL         = "SAVEPOINT pgherd_sp"
	releaseSavepointSQL  = "RELEASE SAVEPOINT pgherd_sp"
	rollbackSavepointSQL = "ROLLBACK TO SAVEPOINT pgherd_sp"
)

var errCallTx = errors.New("pg: the call's transaction ends when its Do returns; commit or roll back a savepoint (Begin) instead")

// use begins the transaction when it has not begun, and notes that the
// unnamed statement may now hold trusted SQL.
func (c *connTx) use(ctx context.Context) error {
	if c.closed {
		return pgx.ErrTxClosed
	}
	if err := c.tx.start(ctx); err != nil {
		return err
	}
	if c.tx.ended {
		return errors.New("pg: trusted SQL after the transaction's last statement (Call.Last)")
	}
	c.tx.conned = true
	return nil
}

func (c *connTx) Begin(ctx context.Context) (pgx.Tx, error) {
	if err := c.use(ctx); err != nil {
		return nil, err
	}
	if _, err := c.tx.conn.Exec(ctx, savepointSQL); err != nil {
		return nil, err
	}
	return &connTx{tx: c.tx, nested: true}, nil
}

func (c *connTx) Commit(ctx context.Context) error {
	if !c.nested {
		return errCallTx
	}
	if err := c.use(ctx); err != nil {
		return err
	}
	c.closed = true
	_, err := c.tx.conn.Exec(ctx, releaseSavepointSQL)
	return err
}

func (c *connTx) Rollback(ctx context.Context) error {
	if !c.nested {
		return errCallTx
	}
	if err := c.use(ctx); err != nil {
		return err
	}
	c.closed = true
	if _, err := c.tx.conn.Exec(ctx, rollbackSavepointSQL); err != nil {
		return err
	}
	// Gone for good, so that an outer savepoint's RELEASE or ROLLBACK TO
	// finds its own.
	_, err := c.tx.conn.Exec(ctx, releaseSavepointSQL)
	return err
}

func (c *connTx) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	if err := c.use(ctx); err != nil {
		return 0, err
	}
	return c.tx.conn.CopyFrom(ctx, table, columns, src)
}

func (c *connTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if err := c.use(ctx); err != nil {
		return errBatch{err}
	}
	return c.tx.conn.SendBatch(ctx, b)
}

// LargeObjects is not supported: pgx builds it only for its own
// transactions. Nothing in pgherd uses large objects.
func (c *connTx) LargeObjects() pgx.LargeObjects { return pgx.LargeObjects{} }

func (c *connTx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	if err := c.use(ctx); err != nil {
		return nil, err
	}
	return c.tx.conn.Prepare(ctx, name, sql)
}

func (c *connTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if err := c.use(ctx); err != nil {
		return pgconn.CommandTag{}, err
	}
	// Through Query: always the extended protocol, one statement (pgx's
	// Exec sends a statement without arguments as a simple query).
	rows, err := c.tx.conn.Query(ctx, sql, args...)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	rows.Close()
	return rows.CommandTag(), rows.Err()
}

func (c *connTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := c.use(ctx); err != nil {
		return errRows{err}, err
	}
	return c.tx.conn.Query(ctx, sql, args...)
}

func (c *connTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if err := c.use(ctx); err != nil {
		return errRow{err}
	}
	return c.tx.conn.QueryRow(ctx, sql, args...)
}

func (c *connTx) Conn() *pgx.Conn { return c.tx.conn }

// errRow, errRows and errBatch carry an error from starting the
// transaction.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

type errBatch struct{ err error }

func (b errBatch) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, b.err }
func (b errBatch) Query() (pgx.Rows, error)         { return errRows(b), b.err }
func (b errBatch) QueryRow() pgx.Row                { return errRow(b) }
func (b errBatch) Close() error                     { return b.err }
func (b errBatch) Tx() pgx.Tx                       { return nil }

type errRows struct{ err error }

func (r errRows) Close()                                       {}
func (r errRows) Err() error                                   { return r.err }
func (r errRows) CommandTag() pgconn.CommandTag                { return pgconn.CommandTag{} }
func (r errRows) FieldDescriptions() []pgconn.FieldDescription { return nil }
func (r errRows) Next() bool                                   { return false }
func (r errRows) Scan(...any) error                            { return r.err }
func (r errRows) Values() ([]any, error)                       { return nil, r.err }
func (r errRows) RawValues() [][]byte                          { return nil }
func (r errRows) Conn() *pgx.Conn                              { return nil }
func (r errRows) TypeMap() *pgtype.Map                         { return nil }
