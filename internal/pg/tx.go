package pg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
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
// protocol or network error happened, the transaction did not end cleanly,
// or the session check after the transaction found session state (settings,
// roles, prepared statements, cursors, LISTEN channels, temporary objects,
// advisory locks).
//
// fn's error is returned as is; database errors from this package are
// *[Error]s.
func (p *Pool) Do(ctx context.Context, opts TxOptions, fn func(ctx context.Context, tx *Tx) error) error {
	if err := opts.check(); err != nil {
		return err
	}
	p.rememberSettings(opts.Settings)
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
	p := tx.p
	access := pgx.ReadWrite
	if opts.ReadOnly {
		access = pgx.ReadOnly
	}
	ptx, err := tx.conn.BeginTx(ctx, pgx.TxOptions{AccessMode: access})
	if err != nil {
		tx.markDiscard("begin failed")
		return p.dbError("starting a transaction", err)
	}
	tx.tx = ptx
	if err := tx.configure(ctx, opts); err != nil {
		tx.markDiscard("configuring the transaction failed")
		return err
	}
	ferr := fn(ctx, tx)
	if ctx.Err() != nil {
		// A cancel request may have been sent and may still arrive: the
		// connection cannot be trusted with the next call.
		tx.markDiscard("context cancelled")
		if ferr == nil {
			ferr = fmt.Errorf("database %q: %w", p.name, context.Cause(ctx))
		}
		return ferr
	}
	if tx.discard != "" {
		// Closing the connection ends the transaction (rolled back).
		if ferr == nil && !tx.rollbackOnly {
			return tx.commit(ctx)
		}
		return ferr
	}
	if ferr != nil || tx.rollbackOnly {
		tx.rollback(ctx)
		return ferr
	}
	return tx.commit(ctx)
}

// configSQL applies every transaction-local setting in one round trip; the
// set_config calls run in array order.
const configSQL = `SELECT pg_catalog.set_config(s.name, s.value, true)
FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]), pg_catalog.unnest($2::pg_catalog.text[])) AS s(name, value)`

func (tx *Tx) configure(ctx context.Context, opts TxOptions) error {
	n := 4 + len(opts.Settings)
	names := make([]string, 0, n)
	values := make([]string, 0, n)
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
	if _, err := tx.tx.Exec(ctx, configSQL, names, values); err != nil {
		return tx.p.dbError("configuring the transaction", err)
	}
	return nil
}

func (tx *Tx) commit(ctx context.Context) error {
	err := tx.tx.Commit(ctx)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pgx.ErrTxCommitRollback):
		return fmt.Errorf("database %q: the transaction was rolled back because a statement in it failed", tx.p.name)
	}
	if _, ok := AsError(err); !ok {
		tx.markDiscard("commit failed")
	}
	return tx.p.dbError("committing", err)
}

func (tx *Tx) rollback(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := tx.tx.Rollback(ctx); err != nil {
		tx.markDiscard("rollback failed")
	}
}

// sessionCheckSQL finds session state a statement may have left on the
// connection; NULL means the connection is clean. $1 is the login role, $2
// the custom settings calls on this pool set (pg_settings does not list
// custom settings, so only known names can be checked).
const sessionCheckSQL = `SELECT CASE
 WHEN pg_catalog.pg_my_temp_schema() <> 0 THEN 'temporary objects'
 WHEN EXISTS (SELECT FROM pg_catalog.pg_prepared_statements) THEN 'prepared statements'
 WHEN EXISTS (SELECT FROM pg_catalog.pg_cursors WHERE name <> '') THEN 'open cursors'
 WHEN EXISTS (SELECT FROM pg_catalog.pg_listening_channels()) THEN 'listen channels'
 WHEN EXISTS (SELECT FROM pg_catalog.pg_settings WHERE source = 'session') THEN 'session settings'
 WHEN current_user <> $1::pg_catalog.name OR session_user <> $1::pg_catalog.name THEN 'session role'
 WHEN EXISTS (SELECT FROM pg_catalog.unnest($2::pg_catalog.text[]) AS n
   WHERE COALESCE(pg_catalog.current_setting(n, true), '') <> '') THEN 'session settings'
 WHEN EXISTS (SELECT FROM pg_catalog.pg_locks WHERE locktype = 'advisory' AND pid = pg_catalog.pg_backend_pid()) THEN 'advisory locks'
END`

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
	default:
		discard = p.sessionState(ctx, pc.Conn())
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

// sessionState runs the session check; an error counts as state.
func (p *Pool) sessionState(ctx context.Context, conn *pgx.Conn) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	var reason *string
	if err := conn.QueryRow(ctx, sessionCheckSQL, conn.Config().User, p.settingNames()).Scan(&reason); err != nil {
		return "session check failed: " + err.Error()
	}
	if reason != nil {
		return *reason
	}
	return ""
}

// maxSettingNames bounds the custom setting names a pool remembers for its
// session check.
const maxSettingNames = 64

// rememberSettings records the names of custom settings calls use, so the
// session check can find them set at session level.
func (p *Pool) rememberSettings(settings []Setting) {
	if len(settings) == 0 {
		return
	}
	p.settingsMu.Lock()
	defer p.settingsMu.Unlock()
	names := p.settings
	for _, s := range settings {
		if len(names) < maxSettingNames && !slices.Contains(names, s.Name) {
			// Copy on write: readers hold the old slice without the lock.
			names = append(slices.Clip(names), s.Name)
		}
	}
	p.settings = names
}

func (p *Pool) settingNames() []string {
	p.settingsMu.Lock()
	defer p.settingsMu.Unlock()
	if p.settings == nil {
		return []string{}
	}
	return p.settings
}
