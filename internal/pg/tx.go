package pg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Setting is one transaction-local setting, applied with
// set_config(name, value, true).
type Setting struct{ Name, Value string }

// TxOptions says how [Pool.Do] and [Pool.Run] run their transaction.
type TxOptions struct {
	ReadOnly bool // BEGIN READ ONLY: PostgreSQL refuses every write (SQLSTATE 25006)
	// Rollback rolls the transaction back even when it succeeds: every
	// read-only call, and EXPLAIN ANALYZE in the write modes.
	Rollback bool
	// PublicOnly sets search_path to public for the transaction (user modes).
	PublicOnly bool
	// Role, when set, becomes current_user for the transaction (SET LOCAL
	// ROLE; the login role must be a member of it). Passed as a value,
	// never spliced into SQL.
	Role string
	// Settings are applied after the timeouts, in order, and last only for
	// the transaction (tenant values that row-level security policies read
	// with current_setting). Names must be custom settings with a prefix,
	// such as app.tenant_id: a tenant setting cannot change a limit.
	Settings []Setting
	// Limits override the pool's, field by field; zero fields mean the
	// pool's.
	Limits Limits
}

// check refuses options no caller should build.
func (o *TxOptions) check() error {
	for _, s := range o.Settings {
		if !validCustomSetting(s.Name) {
			return fmt.Errorf("tenant setting %q: only custom settings with a prefix (like app.tenant_id) may be set per call", s.Name)
		}
	}
	return nil
}

// validCustomSetting accepts prefix.name with letters, digits and
// underscores, as PostgreSQL's placeholder settings are spelled.
func validCustomSetting(name string) bool {
	dot := strings.IndexByte(name, '.')
	if dot <= 0 || dot == len(name)-1 || len(name) > 63 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '.', c == '_', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// Tx is one transaction on one connection, given to the function passed to
// [Pool.Do]. It is not safe for concurrent use and must not be used after
// that function returns.
type Tx struct {
	p            *Pool
	pc           *pgxpool.Conn
	conn         *pgx.Conn
	tx           pgx.Tx
	limits       Limits
	rollbackOnly bool
	wrote        bool   // a statement not marked ReadOnly ran
	discard      string // why the connection must be destroyed; "" keeps it
	done         bool
}

// Conn returns the transaction for trusted internal SQL (catalog queries,
// hypopg calls): constant SQL text, with every value passed as a
// parameter. User SQL goes through [Tx.Query].
func (tx *Tx) Conn() pgx.Tx { return tx.tx }

// Discard marks the connection for destruction once the transaction ends:
// call it after anything that may leave session state behind (hypopg
// indexes, a LOAD, a session-level SET).
func (tx *Tx) Discard() { tx.markDiscard("discarded by the caller") }

func (tx *Tx) markDiscard(reason string) {
	if tx.discard == "" {
		tx.discard = reason
	}
}

// Limits returns the limits in force for this transaction.
func (tx *Tx) Limits() Limits { return tx.limits }

// Do runs fn inside one transaction on one connection: it acquires a
// connection (waiting at most AcquireTimeout; [ErrPoolExhausted] after
// that), begins the transaction (READ ONLY when asked), sets the timeouts,
// search_path, role and settings transaction-locally, runs fn, then commits
// — or rolls back when fn fails, when opts ask for it, or when the
// transaction is read-only — and releases the connection.
//
// The connection is destroyed instead of returned to the pool when it may
// carry state into the next call: fn called [Tx.Discard], ctx was cancelled
// (a cancel request may still be in flight), a cap cancelled a statement, a
// protocol or network error happened, or the transaction did not end
// cleanly. Otherwise the session is reset with DISCARD ALL in the round trip
// that ends the transaction: settings, role, prepared statements, cursors,
// LISTEN channels, temporary tables, advisory locks and sequence state never
// reach the next call.
//
// fn's error is returned as is; database errors from this package are
// *[Error]s.
func (p *Pool) Do(ctx context.Context, opts TxOptions, fn func(ctx context.Context, tx *Tx) error) error {
	if err := opts.check(); err != nil {
		return err
	}
	pc, err := p.acquire(ctx)
	if err != nil {
		return err
	}
	tx := &Tx{
		p:            p,
		pc:           pc,
		conn:         pc.Conn(),
		limits:       opts.Limits.or(p.limits),
		rollbackOnly: opts.ReadOnly || opts.Rollback,
	}
	defer func() {
		if !tx.done {
			tx.markDiscard("panic in the transaction function")
		}
		p.release(ctx, pc, tx.discard)
	}()
	err = tx.run(ctx, opts, fn)
	tx.done = true
	return err
}

func (tx *Tx) run(ctx context.Context, opts TxOptions, fn func(context.Context, *Tx) error) error {
	if err := tx.begin(ctx, opts); err != nil {
		return err
	}
	ferr := fn(ctx, tx)
	if ctx.Err() != nil {
		// A cancel request may have been sent and may still arrive: the
		// connection cannot be trusted with the next call.
		tx.markDiscard("context cancelled")
		if ferr == nil {
			ferr = fmt.Errorf("database %q: %w", tx.p.name, context.Cause(ctx))
		}
		return ferr
	}
	if tx.conn.PgConn().TxStatus() == 'I' {
		// fn committed or rolled back on its own; what it did after that
		// ran outside any transaction.
		tx.markDiscard("transaction ended inside the transaction function")
		if ferr == nil {
			ferr = fmt.Errorf("database %q: the statement ended the transaction; transaction control (COMMIT, ROLLBACK) cannot run inside a call", tx.p.name)
		}
		return ferr
	}
	commit := ferr == nil && !tx.rollbackOnly
	if tx.discard != "" && !commit {
		return ferr // closing the connection rolls back
	}
	if err := tx.finish(ctx, commit); err != nil && ferr == nil {
		return err
	}
	return ferr
}

// begin starts the transaction and applies the settings in one round trip.
func (tx *Tx) begin(ctx context.Context, opts TxOptions) error {
	access := pgx.ReadWrite
	if opts.ReadOnly {
		access = pgx.ReadOnly
	}
	names, values := tx.settings(opts)
	var b pgx.Batch
	b.BeginTx(pgx.TxOptions{AccessMode: access})
	b.Queue(configSQL, names, values)
	br := tx.conn.SendBatch(ctx, &b)
	tx.tx = br.Tx()
	err := br.Close()
	if err == nil {
		return nil
	}
	if _, ok := AsError(err); ok && tx.conn.PgConn().TxStatus() != 'I' {
		// BEGIN ran and a setting failed (a role the login role is not a
		// member of): roll back and keep the connection.
		_ = tx.finish(ctx, false)
	} else {
		tx.markDiscard("starting the transaction failed")
	}
	return tx.p.dbError("starting the transaction", err)
}

// finish commits or rolls back, then resets the session with DISCARD ALL
// (settings, role, prepared statements, cursors, LISTEN, temporary tables,
// advisory locks, sequence state) in the same round trip.
func (tx *Tx) finish(ctx context.Context, commit bool) (err error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	endSQL := "ROLLBACK"
	if commit {
		endSQL = "COMMIT"
	}
	if t := tx.p.tracer; t != nil {
		ctx = t.TraceQueryStart(ctx, tx.conn, pgx.TraceQueryStartData{SQL: endSQL + "; DISCARD ALL"})
		defer func() { t.TraceQueryEnd(ctx, tx.conn, pgx.TraceQueryEndData{Err: err}) }()
	}
	pl := tx.conn.PgConn().StartPipeline(ctx)
	pl.SendQueryParams(endSQL, nil, nil, nil, nil)
	pl.SendPipelineSync()
	// After a sync: DISCARD ALL may not run inside a transaction block.
	pl.SendQueryParams("DISCARD ALL", nil, nil, nil, nil)
	pl.SendPipelineSync()
	if err := pl.Flush(); err != nil {
		tx.markDiscard("ending the transaction failed")
		return tx.p.dbError("ending the transaction", err)
	}
	var endErr error
	res, err := pl.GetResults()
	switch {
	case err != nil:
		endErr = err
	case res != nil:
		if rr, ok := res.(*pgconn.ResultReader); ok {
			tag, err := rr.Close()
			if err != nil {
				endErr = err
			} else if commit && tag.String() == "ROLLBACK" {
				endErr = errCommitRollback
			}
		}
	}
	if err := pl.Close(); err != nil {
		// DISCARD ALL failed: the session may keep state.
		tx.markDiscard("resetting the session failed")
	}
	switch {
	case endErr == nil:
		return nil
	case endErr == errCommitRollback:
		return fmt.Errorf("database %q: the transaction was rolled back because a statement in it failed", tx.p.name)
	}
	if _, ok := AsError(endErr); !ok {
		tx.markDiscard("ending the transaction failed")
	}
	if commit {
		return tx.p.dbError("committing", endErr)
	}
	return tx.p.dbError("rolling back", endErr)
}

var errCommitRollback = errors.New("commit rolled back")

// configSQL applies every transaction-local setting in one round trip; the
// set_config calls run in array order.
const configSQL = `SELECT pg_catalog.set_config(s.name, s.value, true)
FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]), pg_catalog.unnest($2::pg_catalog.text[])) AS s(name, value)`

// settings lists the transaction-local settings, in the order they apply.
func (tx *Tx) settings(opts TxOptions) (names, values []string) {
	n := 5 + len(opts.Settings)
	names = make([]string, 0, n)
	values = make([]string, 0, n)
	add := func(name, value string) {
		names = append(names, name)
		values = append(values, value)
	}
	add("statement_timeout", millis(tx.limits.StatementTimeout))
	add("lock_timeout", millis(tx.limits.LockTimeout))
	add("idle_in_transaction_session_timeout", millis(tx.limits.IdleInTransactionTimeout))
	if opts.PublicOnly {
		add("search_path", "public")
	}
	for _, s := range opts.Settings {
		add(s.Name, s.Value)
	}
	if opts.Role != "" {
		// The same as SET LOCAL ROLE, with the name as a value.
		add("role", opts.Role)
	}
	return names, values
}

// release returns pc to the pool, or destroys it when discard gives a
// reason or the connection is not clean.
func (p *Pool) release(ctx context.Context, pc *pgxpool.Conn, discard string) {
	pgc := pc.Conn().PgConn()
	switch {
	case discard != "":
	case pgc.IsClosed():
		discard = "connection closed"
	case pgc.IsBusy():
		discard = "connection busy"
	case pgc.TxStatus() != 'I':
		discard = "transaction still open"
	}
	if discard == "" {
		pc.Release()
		return
	}
	conn := pc.Hijack()
	p.destroyed.Add(1)
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	_ = conn.Close(cctx) // the server ends the session either way
	p.logger.LogAttrs(ctx, slog.LevelDebug, "connection destroyed", slog.String("reason", discard))
}
