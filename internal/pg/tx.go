package pg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
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
	// NoSessionState promises that nothing the transaction runs leaves
	// session state behind that its end does not undo: the validator found
	// no SessionState in the statement (no SET, PREPARE, LISTEN, DECLARE …
	// WITH HOLD, temporary objects, set_config(…, false), session advisory
	// locks or unknown functions), and trusted SQL run through [Tx.Conn]
	// leaves none. A ReadOnly transaction that ends in ROLLBACK then skips
	// the session reset (DISCARD ALL): the rollback undoes every setting,
	// role and LISTEN of the transaction, and a READ ONLY transaction can
	// draw no sequence value. Any other transaction is reset as always; a
	// [Call] with Discard still destroys the connection.
	NoSessionState bool
	// Limits override the pool's, field by field; zero fields mean the
	// pool's.
	Limits Limits
	// Start is when the call began waiting (for a concurrency slot, say):
	// its deadline counts from there (see [Pool.Deadline]). Zero means when
	// Do is called.
	Start time.Time
	// Hold is called when the call's connection is given up while its
	// statement may still run on the server (a cancel request that went
	// unanswered): the connection stays counted busy until the backend is
	// gone — cancelled, then terminated after the pool's CancelGrace — and
	// Hold lets the caller keep its own resources (a concurrency slot) as
	// long. It returns the function to call once the backend is gone. Nil
	// holds nothing.
	Hold func() (done func())
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
	trusted      connTx // what Conn returns
	limits       Limits
	rollbackOnly bool
	// keepable: the transaction is READ ONLY and its caller promised no
	// session state (TxOptions.NoSessionState), so a rollback needs no
	// session reset.
	keepable bool
	wrote    bool   // a statement not marked ReadOnly ran
	discard  string // why the connection must be destroyed; "" keeps it
	done     bool
	// stale: starting the transaction (or parsing Run's statement) failed
	// because the server had closed the connection; nothing of the call
	// ran, so it may run again on a fresh connection.
	stale bool
	// mayRun: a statement's connection was given up on our side while the
	// backend may still be running it.
	mayRun bool
	// lone: the transaction runs exactly one statement and nothing else
	// (Run), so a stale connection found by that statement still allows a
	// retry; queried: Query ran at least once.
	lone, queried bool
	phase         string // what the call was doing, for deadline errors

	// What starts the transaction (see begin): the BEGIN statement and the
	// transaction-local settings.
	beginSQL      string
	names, values []string
	// started: BEGIN was sent; ended: the transaction's end went with the
	// last statement (Query), so Do has nothing left to end.
	started, ended bool
	startErr       error // starting failed: nothing else may run
	// conned: trusted SQL ran through Conn, which may have replaced the
	// unnamed statement.
	conned bool
}

// Conn returns the transaction for trusted internal SQL (catalog queries,
// hypopg calls): constant SQL text, with every value passed as a
// parameter. User SQL goes through [Tx.Query].
//
// The transaction begins with the first round trip that needs it: through
// Conn, BEGIN and the settings go first, in a round trip of their own.
func (tx *Tx) Conn() pgx.Tx { return &tx.trusted }

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
// The whole call shares one deadline ([Pool.Deadline]): acquire, BEGIN,
// the statements, COMMIT or ROLLBACK and the reset. A connection the server
// had closed before the call reached it (a terminated backend, a restart)
// fails BEGIN; the call then runs once more on a fresh connection. When the
// server reports it is shutting sessions down (SQLSTATE 57P01–57P03), every
// idle connection of the pool is closed.
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
	limits := opts.Limits.or(p.limits)
	ctx, cancel, start := p.callContext(ctx, opts.Start, limits)
	defer cancel()
	for attempt := 0; ; attempt++ {
		pc, err := p.acquire(ctx, start.Add(p.acquireTimeout))
		if err != nil {
			return err
		}
		tx := &Tx{
			p:            p,
			pc:           pc,
			conn:         pc.Conn(),
			limits:       limits,
			rollbackOnly: opts.ReadOnly || opts.Rollback,
			keepable:     opts.ReadOnly && opts.NoSessionState,
		}
		tx.trusted.tx = tx
		err = p.runTx(ctx, tx, opts, fn)
		if tx.stale && attempt == 0 && ctx.Err() == nil {
			p.retried.Add(1)
			p.logger.LogAttrs(ctx, slog.LevelDebug, "retrying on a fresh connection", slog.String("error", err.Error()))
			continue
		}
		return p.explainDeadline(ctx, tx.phase, err)
	}
}

// runTx runs the transaction on tx's connection and releases it, also when
// fn panics.
func (p *Pool) runTx(ctx context.Context, tx *Tx, opts TxOptions, fn func(context.Context, *Tx) error) error {
	defer func() {
		if !tx.done {
			tx.markDiscard("panic in the transaction function")
		}
		p.release(ctx, tx.pc, tx.discard, tx.mayRun, opts.Hold)
	}()
	err := tx.run(ctx, opts, fn)
	tx.done = true
	return err
}

// Deadline returns when a call that starts at start under lim (zero fields
// mean the pool's limits) must be over: the pool's acquire timeout, the
// statement timeout, and 3 s for the round trips around the statement. A
// round trip still waiting at the deadline sends a cancel request and gives
// the connection up 1 s later, so a call returns within Deadline + 1 s
// whatever the network or the server does.
func (p *Pool) Deadline(start time.Time, lim Limits) time.Time {
	lim = lim.or(p.limits)
	return start.Add(p.acquireTimeout + lim.StatementTimeout + roundTripAllowance)
}

// AcquireTimeout is the longest a call waits for a connection.
func (p *Pool) AcquireTimeout() time.Duration { return p.acquireTimeout }

// callContext bounds ctx by the call's deadline.
func (p *Pool) callContext(ctx context.Context, start time.Time, lim Limits) (context.Context, context.CancelFunc, time.Time) {
	if start.IsZero() {
		start = time.Now()
	}
	d := p.Deadline(start, lim)
	ctx, cancel := context.WithDeadlineCause(ctx, d, &deadlineError{budget: d.Sub(start)})
	return ctx, cancel, start
}

// deadlineError is the cause of a context that reached its call's deadline.
type deadlineError struct{ budget time.Duration }

func (e *deadlineError) Error() string {
	return fmt.Sprintf("the call's deadline passed (%s: pool.acquire_timeout + limits.statement_timeout + %s for round trips)", e.budget, roundTripAllowance)
}

func (e *deadlineError) Is(target error) bool { return target == context.DeadlineExceeded }

// explainDeadline explains err when the call's deadline ended it and the
// server said nothing about why (a PostgreSQL error, such as a statement
// timeout, is returned as is).
func (p *Pool) explainDeadline(ctx context.Context, phase string, err error) error {
	if err == nil || ctx.Err() == nil {
		return err
	}
	var de *deadlineError
	if _, isPG := AsError(err); isPG || errors.Is(err, errOutcomeUnknown) || !errors.As(context.Cause(ctx), &de) {
		return err
	}
	if phase == "" {
		phase = "waiting for a connection"
	}
	return fmt.Errorf("database %q: no answer from the database %s: %w; the server or the network to it may be down, retry later", p.name, phase, de)
}

func (tx *Tx) run(ctx context.Context, opts TxOptions, fn func(context.Context, *Tx) error) error {
	tx.beginSQL = "BEGIN"
	if opts.ReadOnly {
		tx.beginSQL = "BEGIN READ ONLY"
	}
	tx.names, tx.values = tx.settings(opts)
	tx.phase = "while running the statement"
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
	if !tx.started || tx.ended {
		// Nothing ran, or the transaction ended with the last statement.
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
	tx.phase = "while ending the transaction"
	err := tx.finish(ctx, commit)
	if err != nil && ferr == nil && commit {
		return err
	}
	// A ROLLBACK that failed loses nothing: the connection is destroyed
	// (closing it rolls back) and the call's result stands.
	return ferr
}

// start begins the transaction when it has not begun yet (for trusted
// SQL: see Conn).
func (tx *Tx) start(ctx context.Context) error {
	if tx.started {
		return tx.startErr
	}
	_, _, err := tx.begin(ctx, false, "")
	return err
}

// begin starts the transaction — BEGIN [READ ONLY] and the transaction-local
// settings — and, when parse is set, parses and describes sql on the
// unnamed statement, all in one round trip. Parsing runs none of the
// statement's code, so it may go before the checks that must precede its
// execution (Call.Before). err is a failure to start; stmtErr is sql's
// own (the transaction is then aborted, and ends with ROLLBACK).
func (tx *Tx) begin(ctx context.Context, parse bool, sql string) (sd *pgconn.StatementDescription, stmtErr, err error) {
	tx.started = true
	defer func() {
		// Nothing may run after a failed start: it would run outside the
		// transaction (and outside READ ONLY).
		tx.startErr = err
	}()
	var params [][]byte
	if len(tx.names) > 0 {
		params = make([][]byte, 2)
		for i, a := range [][]string{tx.names, tx.values} {
			if params[i], err = tx.conn.TypeMap().Encode(pgtype.TextArrayOID, pgtype.BinaryFormatCode, a, nil); err != nil {
				tx.markDiscard("encoding the settings failed")
				return nil, nil, fmt.Errorf("database %q: encoding the transaction's settings: %w", tx.p.name, err)
			}
		}
	}
	phase := tx.phase
	tx.phase = "while starting the transaction"
	defer func() { tx.phase = phase }()
	pgc := tx.conn.PgConn()
	tctx := ctx
	if t := tx.p.tracer; t != nil {
		tctx = t.TraceQueryStart(ctx, tx.conn, pgx.TraceQueryStartData{SQL: tx.beginSQL})
	}
	pl := pgc.StartPipeline(ctx)
	pl.SendQueryParams(tx.beginSQL, nil, nil, nil, nil)
	if params != nil {
		pl.SendQueryParams(configSQL, params, configOIDs, configFormats, nil)
	}
	if parse {
		pl.SendPrepare("", sql, nil)
	}
	pl.SendPipelineSync()
	err = pl.Flush()
	if err == nil {
		err = readResult(pl) // BEGIN
	}
	if err == nil && params != nil {
		err = readResult(pl) // the settings
	}
	if t := tx.p.tracer; t != nil {
		t.TraceQueryEnd(tctx, tx.conn, pgx.TraceQueryEndData{Err: err})
	}
	if err == nil && parse {
		var res any
		switch res, stmtErr = pl.GetResults(); r := res.(type) {
		case *pgconn.StatementDescription:
			sd = r
		default:
			if stmtErr == nil {
				stmtErr = fmt.Errorf("unexpected %T in answer to the statement's parse", res)
			}
		}
		if _, ok := AsError(stmtErr); stmtErr != nil && !ok {
			err, stmtErr = stmtErr, nil // the connection broke
		}
	}
	if cerr := pl.Close(); err == nil && cerr != nil {
		if _, ok := AsError(cerr); !ok || stmtErr == nil {
			err = cerr
		}
	}
	if err == nil {
		return sd, stmtErr, nil
	}
	if pgc.IsClosed() && ctx.Err() == nil {
		// The server had ended the session (a terminated backend, a
		// restart) or the connection broke: nothing of the call ran.
		tx.stale = true
	}
	if _, ok := AsError(err); ok && !pgc.IsClosed() && pgc.TxStatus() != 'I' {
		// BEGIN ran and a setting failed (a role the login role is not a
		// member of): roll back and keep the connection.
		_ = tx.finish(ctx, false)
		tx.ended = true
	} else {
		tx.markDiscard("starting the transaction failed")
	}
	return nil, nil, tx.p.dbError("starting the transaction", err)
}

// readResult reads one statement's result from pl and returns its error.
func readResult(pl *pgconn.Pipeline) error {
	res, err := pl.GetResults()
	if err != nil {
		return err
	}
	rr, ok := res.(*pgconn.ResultReader)
	if !ok {
		return fmt.Errorf("unexpected %T in the pipeline", res)
	}
	_, err = rr.Close()
	return err
}

// finish commits or rolls back, then resets the session with DISCARD ALL
// (settings, role, prepared statements, cursors, LISTEN, temporary tables,
// advisory locks, sequence state) in the same round trip — unless the
// transaction is a read-only one that is rolled back and its caller
// promised no session state (see TxOptions.NoSessionState): the rollback
// alone then leaves the session as the call found it.
func (tx *Tx) finish(ctx context.Context, commit bool) (err error) {
	// The caller leaving must not interrupt COMMIT (its outcome would be
	// unknown); the call's deadline still bounds it.
	fctx := context.WithoutCancel(ctx)
	cancel := context.CancelFunc(func() {})
	if d, ok := ctx.Deadline(); ok {
		fctx, cancel = context.WithDeadline(fctx, d)
	}
	defer cancel()
	ctx = fctx
	endSQL := "ROLLBACK"
	if commit {
		endSQL = "COMMIT"
	}
	reset := commit || !tx.keepable
	traced := endSQL
	if reset {
		traced += "; DISCARD ALL"
	} else {
		tx.p.keptSessions.Add(1)
	}
	if t := tx.p.tracer; t != nil {
		ctx = t.TraceQueryStart(ctx, tx.conn, pgx.TraceQueryStartData{SQL: traced})
		defer func() { t.TraceQueryEnd(ctx, tx.conn, pgx.TraceQueryEndData{Err: err}) }()
	}
	pl := tx.conn.PgConn().StartPipeline(ctx)
	pl.SendQueryParams(endSQL, nil, nil, nil, nil)
	pl.SendPipelineSync()
	if reset {
		// After a sync: DISCARD ALL may not run inside a transaction block.
		pl.SendQueryParams("DISCARD ALL", nil, nil, nil, nil)
		pl.SendPipelineSync()
	}
	if err := pl.Flush(); err != nil {
		tx.markDiscard("ending the transaction failed")
		return tx.endError(commit, err)
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
	if _, ok := AsError(endErr); !ok || !commit {
		tx.markDiscard("ending the transaction failed")
	}
	return tx.endError(commit, endErr)
}

// endError describes a failed COMMIT or ROLLBACK. A COMMIT whose answer
// never came may or may not have happened: say so.
func (tx *Tx) endError(commit bool, err error) error {
	if !commit {
		return tx.p.dbError("rolling back", err)
	}
	if _, ok := AsError(err); ok {
		return tx.p.dbError("committing", err)
	}
	return fmt.Errorf("database %q: %w: the connection was lost while committing; check before running it again (%v)", tx.p.name, errOutcomeUnknown, err)
}

// errOutcomeUnknown: COMMIT was sent and its answer never came.
var errOutcomeUnknown = errors.New("the transaction may or may not have committed")

var errCommitRollback = errors.New("commit rolled back")

// configOIDs and configFormats describe configSQL's parameters: two text
// arrays, in binary.
var (
	configOIDs    = []uint32{pgtype.TextArrayOID, pgtype.TextArrayOID}
	configFormats = []int16{pgtype.BinaryFormatCode}
)

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
	// The pool's own timeouts are the session's already (startup
	// parameters, checked at Connect): only other values are set.
	pool, startup := tx.p.limits, tx.p.timeoutsAtStartup
	if !startup || tx.limits.StatementTimeout != pool.StatementTimeout {
		add("statement_timeout", millis(tx.limits.StatementTimeout))
	}
	if !startup || tx.limits.LockTimeout != pool.LockTimeout {
		add("lock_timeout", millis(tx.limits.LockTimeout))
	}
	if !startup || tx.limits.IdleInTransactionTimeout != pool.IdleInTransactionTimeout {
		add("idle_in_transaction_session_timeout", millis(tx.limits.IdleInTransactionTimeout))
	}
	if opts.PublicOnly && !(tx.p.searchPathAtStartup && tx.p.searchPath == "public") {
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
// reason or the connection is not clean. A connection given up while its
// statement may still run (the call's context ended and the connection is
// busy or was closed by the cancel path) stays acquired — counted busy —
// until its backend is gone (see Pool.reap); hold, when set, keeps the
// caller's resources as long.
func (p *Pool) release(ctx context.Context, pc *pgxpool.Conn, discard string, mayRun bool, hold func() func()) {
	pgc := pc.Conn().PgConn()
	running := pgc.IsBusy() || (pgc.IsClosed() && (mayRun || ctx.Err() != nil))
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
		p.released(pc)
		pc.Release()
		return
	}
	p.destroyed.Add(1)
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cancelWait)
	defer cancel()
	if running && p.startReaper() {
		_ = pc.Conn().Close(cctx) // our side only: the backend may run on
		done := func() {}
		if hold != nil {
			done = hold()
		}
		b := &backend{pid: pgc.PID()}
		p.logger.LogAttrs(ctx, slog.LevelDebug, "connection given up; watching its backend", slog.String("reason", discard), slog.Uint64("pid", uint64(b.pid)))
		go p.reap(b, time.Now().Add(-cancelWait), func() {
			p.released(pc)
			pc.Release() // closed: the pool destroys it and frees its capacity
			done()
		})
		return
	}
	p.released(pc)
	conn := pc.Hijack()
	_ = conn.Close(cctx) // the server ends the session either way
	p.logger.LogAttrs(ctx, slog.LevelDebug, "connection destroyed", slog.String("reason", discard))
}
