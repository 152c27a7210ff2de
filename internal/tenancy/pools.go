package tenancy

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/pgherd/pgherd/internal/config"
	"github.com/pgherd/pgherd/internal/pg"
)

// retryAfter is how long a failed connect is reported to callers without
// trying again: during an outage calls fail at once instead of each
// starting its own connect.
const retryAfter = time.Second

// lazyPool is one pool that connects on first use. Callers that need it
// while it connects wait for the same attempt (bounded by their own
// context); the attempt itself belongs to the Database, not to the caller
// that started it, and no lock is held while it runs.
type lazyPool struct {
	name string
	who  string // whose login it is, for CheckLogin: "its login role", "tenant acme's login role"
	uri  config.Secret
	opts pg.PoolOptions

	mu sync.Mutex
	// mu guards the fields below.
	pool     *pg.Pool
	attempt  chan struct{} // non-nil while connecting; closed when it ends
	err      error         // the last attempt's failure
	failedAt time.Time
	closed   bool
}

// get returns the pool, connecting it first if needed. d owns the connect
// attempt (its goroutine and its lifetime).
func (lp *lazyPool) get(ctx context.Context, d *Database) (*pg.Pool, error) {
	lp.mu.Lock()
	if lp.pool != nil {
		p := lp.pool
		lp.mu.Unlock()
		return p, nil
	}
	if lp.closed {
		lp.mu.Unlock()
		return nil, fmt.Errorf("database %q: %w (the server is shutting down); retry later", lp.name, pg.ErrPoolClosed)
	}
	if lp.attempt == nil {
		if since := time.Since(lp.failedAt); lp.err != nil && since < retryAfter {
			err := lp.err
			lp.mu.Unlock()
			return nil, err
		}
		lp.attempt = make(chan struct{})
		d.connecting.Add(1)
		go lp.connect(d)
	}
	attempt := lp.attempt
	lp.mu.Unlock()
	select {
	case <-attempt:
	case <-ctx.Done():
		return nil, fmt.Errorf("database %q: still connecting: %w", lp.name, context.Cause(ctx))
	}
	lp.mu.Lock()
	defer lp.mu.Unlock()
	if lp.pool != nil {
		return lp.pool, nil
	}
	return nil, lp.err
}

// connect makes one attempt and publishes its outcome.
func (lp *lazyPool) connect(d *Database) {
	defer d.connecting.Done()
	// Bounded by pg.Connect itself (connect timeout, then acquire and
	// statement timeouts for the check); d.base ends it early at Close.
	p, err := pg.Connect(d.base, lp.name, lp.uri.Reveal(), lp.opts)
	if err == nil {
		if err = d.admit(p, lp.who); err != nil {
			p.Close()
			p = nil
		}
	}
	lp.mu.Lock()
	defer lp.mu.Unlock()
	if lp.closed && p != nil {
		p.Close()
		p, err = nil, fmt.Errorf("database %q: %w", lp.name, pg.ErrPoolClosed)
	}
	lp.pool, lp.err = p, err
	if err != nil {
		lp.failedAt = time.Now()
		d.logger.Warn("database unreachable", "database", lp.name, "error", err)
	} else if !lp.failedAt.IsZero() {
		d.logger.Info("database connected again", "database", lp.name)
	}
	close(lp.attempt)
	lp.attempt = nil
}

// current returns the pool if it is connected.
func (lp *lazyPool) current() *pg.Pool {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	return lp.pool
}

// close closes the pool (waiting for its calls) and refuses further use.
func (lp *lazyPool) close() {
	lp.mu.Lock()
	p := lp.pool
	lp.pool, lp.closed = nil, true
	lp.mu.Unlock()
	if p != nil {
		p.Close()
	}
}
