package pg

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
)

// control is a pool's one connection outside the pool, for work that must
// not wait behind (or take capacity from) calls: readiness probes, and
// watching and terminating backends that did not stop when cancelled. It
// opens on first use and closes after controlIdle without use. At most one
// operation uses it at a time; waiting for it respects the caller's context.
type control struct {
	cfg  *pgx.ConnConfig // copied per connect
	name string
	sem  chan struct{} // holds the right to use conn

	// sem guards the fields below.
	conn  *pgx.Conn
	idle  *time.Timer
	close bool
}

// controlIdle closes an unused control connection.
const controlIdle = 30 * time.Second

func newControl(cfg *pgx.ConnConfig, name string) *control {
	cfg = cfg.Copy()
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	if app := cfg.RuntimeParams["application_name"]; app != "" {
		cfg.RuntimeParams["application_name"] = app + " control"
	}
	// Its own round trips end at their deadline: no cancel request, the
	// socket is simply given up.
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.DeadlineContextWatcherHandler{Conn: c.Conn()}
	}
	return &control{cfg: cfg, name: name, sem: make(chan struct{}, 1)}
}

// use runs fn with the control connection, connecting first when needed.
// When fn fails on a connection opened earlier (the server may have ended
// it: a restart, idle_session_timeout), it reconnects and runs fn once more.
func (c *control) use(ctx context.Context, fn func(ctx context.Context, conn *pgx.Conn) error) error {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	defer func() { <-c.sem }()
	if c.close {
		return ErrPoolClosed
	}
	if c.idle != nil {
		c.idle.Stop()
	}
	defer c.armIdle()
	for attempt := 0; ; attempt++ {
		fresh := c.conn == nil
		if fresh {
			conn, err := pgx.ConnectConfig(ctx, c.cfg.Copy())
			if err != nil {
				return err
			}
			c.conn = conn
		}
		err := fn(ctx, c.conn)
		if err == nil {
			return nil
		}
		if c.conn.IsClosed() || ctx.Err() != nil || c.conn.PgConn().IsBusy() {
			c.drop()
		}
		if fresh || attempt > 0 || ctx.Err() != nil {
			return err
		}
	}
}

// armIdle schedules closing the connection when it stays unused. c.sem
// must be held.
func (c *control) armIdle() {
	if c.conn == nil {
		return
	}
	if c.idle == nil {
		c.idle = time.AfterFunc(controlIdle, c.closeIdle)
		return
	}
	c.idle.Reset(controlIdle)
}

func (c *control) closeIdle() {
	select {
	case c.sem <- struct{}{}:
	default:
		return // in use: it re-arms the timer when done
	}
	defer func() { <-c.sem }()
	c.drop()
}

// drop closes the connection. c.sem must be held.
func (c *control) drop() {
	if c.conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), cancelWait)
	defer cancel()
	_ = c.conn.Close(ctx)
	c.conn = nil
}

// shut closes the connection for good, waiting at most until ctx ends for
// an operation in progress.
func (c *control) shut(ctx context.Context) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return
	}
	defer func() { <-c.sem }()
	c.close = true
	if c.idle != nil {
		c.idle.Stop()
	}
	c.drop()
}

// ping runs an empty round trip and returns its duration.
func (c *control) ping(ctx context.Context) (time.Duration, error) {
	var rtt time.Duration
	err := c.use(ctx, func(ctx context.Context, conn *pgx.Conn) error {
		start := time.Now()
		if err := conn.Ping(ctx); err != nil {
			return err
		}
		rtt = time.Since(start)
		return nil
	})
	return rtt, err
}

// backend describes one server process, identified across PID reuse by
// its start time.
type backend struct {
	pid   uint32
	start time.Time // zero until first seen
}

// gone reports whether b has exited (no row in pg_stat_activity with its
// PID, or one with another start time: the PID was reused).
func (c *control) gone(ctx context.Context, b *backend) (bool, error) {
	var gone bool
	err := c.use(ctx, func(ctx context.Context, conn *pgx.Conn) error {
		var start time.Time
		err := conn.QueryRow(ctx, "SELECT backend_start FROM pg_catalog.pg_stat_activity WHERE pid = $1", int32(b.pid)).Scan(&start)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			gone = true
			return nil
		case err != nil:
			return err
		case b.start.IsZero():
			b.start = start
		case !start.Equal(b.start):
			gone = true
		}
		return nil
	})
	return gone, err
}

// terminate asks the server to end b's backend (pg_terminate_backend: the
// login role may end its own sessions).
func (c *control) terminate(ctx context.Context, b *backend) error {
	return c.use(ctx, func(ctx context.Context, conn *pgx.Conn) error {
		var ok bool
		err := conn.QueryRow(ctx, `SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity
WHERE pid = $1 AND ($2::pg_catalog.timestamptz IS NULL OR backend_start = $2)`, int32(b.pid), startOrNil(b)).Scan(&ok)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // already gone
		}
		if err == nil && !ok {
			return fmt.Errorf("database %q: pg_terminate_backend(%d) refused", c.name, b.pid)
		}
		return err
	})
}

func startOrNil(b *backend) any {
	if b.start.IsZero() {
		return nil
	}
	return b.start
}

// startReaper counts a new reaper unless the pool is closing (Close waits
// for the reapers it counted).
func (p *Pool) startReaper() bool {
	p.reapMu.Lock()
	defer p.reapMu.Unlock()
	if p.noReapers {
		return false
	}
	p.reapers.Add(1)
	p.reaping.Add(1)
	p.reaped.Add(1)
	return true
}

// stopReapers makes reapers give up (after one last terminate) and waits
// for them.
func (p *Pool) stopReapers() {
	p.reapMu.Lock()
	p.noReapers = true
	p.reapMu.Unlock()
	p.stopClosing()
	p.reapers.Wait()
}

// reap waits until the backend of a connection that was closed mid-call is
// gone, terminating it once grace has passed since its cancel request, and
// then calls done (which returns the connection's pool capacity and the
// caller's slot). It lets go at pool close, after one last terminate, and
// when it has been unable to look at the server for blindLimit (the
// control connection cannot be opened: the slot is not held forever on a
// guess).
func (p *Pool) reap(b *backend, cancelled time.Time, done func()) {
	defer p.reapers.Done()
	defer done()
	defer p.reaping.Add(-1)
	logger := p.logger.With("pid", b.pid)
	terminateAt := cancelled.Add(p.grace)
	terminated := false
	wait := 50 * time.Millisecond
	lastSeen := time.Now()
	for {
		ctx, cancel := context.WithTimeout(p.closing, p.connectTimeout+controlTimeout)
		gone, err := p.ctl.gone(ctx, b)
		if err == nil && !gone && !terminated && !time.Now().Before(terminateAt) {
			terminated = true
			p.terminated.Add(1)
			logger.Warn("terminating a backend that ignored its cancel request", "grace", p.grace)
			err = p.ctl.terminate(ctx, b)
		}
		cancel()
		if gone {
			logger.Debug("backend of a cancelled call is gone", "after", time.Since(cancelled).Round(time.Millisecond), "terminated", terminated)
			return
		}
		if err == nil {
			lastSeen = time.Now()
		} else if time.Since(lastSeen) > blindLimit {
			logger.Warn("cannot see whether the backend of a cancelled call is gone; releasing its connection and slot", "error", err, "blind_for", time.Since(lastSeen).Round(time.Second))
			return
		} else {
			logger.Debug("watching the backend of a cancelled call", "error", err)
		}
		select {
		case <-time.After(wait):
		case <-p.closing.Done():
			// Shutting down: one last attempt, bounded, then let go.
			ctx, cancel := context.WithTimeout(context.Background(), cancelWait)
			defer cancel()
			if err := p.ctl.terminate(ctx, b); err != nil {
				logger.Warn("a backend may still run after shutdown", "error", err)
			}
			return
		}
		wait = min(2*wait, time.Second)
	}
}

// controlTimeout bounds one round trip of the reaper (plus the connect
// timeout when the control connection must be opened first).
const controlTimeout = 2 * time.Second

// blindLimit is how long a reaper holds on while it cannot reach the
// server to look at the backend.
const blindLimit = 30 * time.Second
