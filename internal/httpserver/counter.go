package httpserver

import (
	"context"
	"sync"
)

// Counter counts work in progress and lets shutdown wait for it to drain.
// The zero value is ready to use; it is safe for concurrent use.
type Counter struct {
	mu   sync.Mutex
	n    int
	zero chan struct{} // closed while n == 0; nil means closed
}

// Add records d units of work starting (d > 0) or ending (d < 0).
func (c *Counter) Add(d int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == 0 && d > 0 {
		c.zero = make(chan struct{})
	}
	c.n += d
	if c.n == 0 && c.zero != nil {
		close(c.zero)
	}
}

// N returns the work in progress.
func (c *Counter) N() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// Wait blocks until no work is in progress or ctx ends.
func (c *Counter) Wait(ctx context.Context) error {
	for {
		c.mu.Lock()
		zero, n := c.zero, c.n
		c.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-zero:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
