package auth

import (
	"container/list"
	"crypto/sha256"
	"sync"
	"time"

	"github.com/pgherd/pgherd/internal/pg"
)

// loginKey identifies one credential on one endpoint: SHA-256 of
// endpoint NUL user NUL password, so the password is never kept.
type loginKey [sha256.Size]byte

func newLoginKey(endpoint, user, password string) loginKey {
	h := sha256.New()
	h.Write([]byte(endpoint))
	h.Write([]byte{0})
	h.Write([]byte(user))
	h.Write([]byte{0})
	h.Write([]byte(password))
	var k loginKey
	h.Sum(k[:0])
	return k
}

// loginCache holds one pool per verified credential, at most max of them,
// least recently used first out; pools idle longer than idle are dropped.
// A dropped pool is closed once no request holds it (see [Login.Release]),
// by closing goroutines the cache owns; Close waits for all of them.
type loginCache struct {
	max     int
	idle    time.Duration
	now     func() time.Time
	onClose func(*pg.Pool) // test hook; may be nil

	// mu guards everything below.
	mu      sync.Mutex
	entries map[loginKey]*loginEntry
	lru     *list.List    // of *loginEntry, most recent at the front
	pending []*pg.Pool    // dropped pools no request holds: to close
	open    int           // pools not yet closed (cached, held or pending)
	closed  bool          // Close was called
	wake    chan struct{} // cap 1: pending or closed changed
	done    chan struct{} // closed when the closer goroutine has finished
}

type loginEntry struct {
	key      loginKey
	user     string
	endpoint string
	pool     *pg.Pool
	elem     *list.Element
	lastUsed time.Time
	refs     int  // requests holding the pool
	dropped  bool // out of the cache; closed when refs reaches 0
}

// closeParallelism bounds concurrent pool closes: a pool still running a
// call (legacy SSE runs calls after the POST returns) blocks its Close.
const closeParallelism = 4

func newLoginCache(max int, idle time.Duration, opts Options) *loginCache {
	c := &loginCache{
		max:     max,
		idle:    idle,
		now:     opts.Now,
		onClose: opts.poolClosed,
		entries: make(map[loginKey]*loginEntry),
		lru:     list.New(),
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	go c.run()
	return c
}

// Len returns the number of cached pools (held or not), at most max.
func (c *loginCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// get returns the cached login for k, holding it for the caller, or nil.
func (c *loginCache) get(k loginKey) *Login {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[k]
	if e == nil {
		return nil
	}
	c.lru.MoveToFront(e.elem)
	return c.hold(e)
}

// add caches pool for k and returns it held for the caller. When k is
// already cached (a concurrent login won), pool is closed and the cached
// one returned. After Close, pool is closed and add returns nil.
func (c *loginCache) add(k loginKey, endpoint, user string, pool *pg.Pool) *Login {
	c.mu.Lock()
	if c.closed {
		// The closer may have finished: close here.
		c.mu.Unlock()
		pool.Close()
		return nil
	}
	defer c.mu.Unlock()
	c.open++
	if e := c.entries[k]; e != nil {
		c.queue(pool)
		c.lru.MoveToFront(e.elem)
		return c.hold(e)
	}
	e := &loginEntry{key: k, endpoint: endpoint, user: user, pool: pool}
	e.elem = c.lru.PushFront(e)
	c.entries[k] = e
	for len(c.entries) > c.max {
		c.drop(c.lru.Back().Value.(*loginEntry))
	}
	return c.hold(e)
}

// hold takes a reference on e for one request. Caller holds mu.
func (c *loginCache) hold(e *loginEntry) *Login {
	e.refs++
	e.lastUsed = c.now()
	return &Login{User: e.user, Endpoint: e.endpoint, Pool: e.pool, release: func() { c.release(e) }}
}

func (c *loginCache) release(e *loginEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.refs--
	e.lastUsed = c.now()
	if e.dropped && e.refs == 0 {
		c.queue(e.pool)
	}
}

// drop takes e out of the cache; its pool is closed now if no request
// holds it, else by the last release. Caller holds mu.
func (c *loginCache) drop(e *loginEntry) {
	delete(c.entries, e.key)
	c.lru.Remove(e.elem)
	e.dropped = true
	if e.refs == 0 {
		c.queue(e.pool)
	}
}

// queue hands pool to the closer. Caller holds mu.
func (c *loginCache) queue(pool *pg.Pool) {
	c.pending = append(c.pending, pool)
	c.signal()
}

func (c *loginCache) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// sweep drops pools idle for longer than c.idle that no request holds.
func (c *loginCache) sweep() {
	c.mu.Lock()
	defer c.mu.Unlock()
	cutoff := c.now().Add(-c.idle)
	for el := c.lru.Back(); el != nil; {
		e := el.Value.(*loginEntry)
		el = el.Prev()
		if e.refs == 0 && e.lastUsed.Before(cutoff) {
			c.drop(e)
		}
	}
}

// run is the closer: it closes queued pools (closeParallelism at a time)
// and sweeps idle ones, until Close was called and every pool is closed.
func (c *loginCache) run() {
	defer close(c.done)
	interval := max(min(c.idle/2, time.Minute), time.Second)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	sem := make(chan struct{}, closeParallelism)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-c.wake:
		case <-tick.C:
			c.sweep()
		}
		c.mu.Lock()
		batch := c.pending
		c.pending = nil
		finished := c.closed && c.open == len(batch)
		c.mu.Unlock()
		for _, p := range batch {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				p.Close()
				if c.onClose != nil {
					c.onClose(p)
				}
				c.mu.Lock()
				c.open--
				c.mu.Unlock()
				c.signal() // the loop may be waiting for the last close
			})
		}
		if finished {
			return
		}
	}
}

// Close drops every pool and waits until all are closed, including those
// still held by requests (they close when released). Idempotent.
func (c *loginCache) Close() {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		for _, e := range c.entries {
			c.drop(e)
		}
		c.signal()
	}
	c.mu.Unlock()
	<-c.done
}
