package tenancy

import (
	"sync"
	"sync/atomic"

	"github.com/pgherd/pgherd/internal/pg"
)

// Handle is what one call may use: the pool of the caller's tenant and the
// transaction options that confine it, already filled in for the caller
// (Tx.Start is when the call began waiting, Tx.Hold keeps the slot while a
// cancelled statement's backend is still running).
type Handle struct {
	Pool *pg.Pool
	Tx   pg.TxOptions
	// Release returns the call's concurrency slot (once the call's backends
	// are idle or gone); nil when there is none.
	Release func()
}

// Done releases the handle's slot. Safe to call more than once.
func (h *Handle) Done() {
	if h != nil && h.Release != nil {
		h.Release()
	}
}

// lease counts who holds a slot: the call (until Done) and every backend
// of the call still being watched after a cancel. The slot is freed when
// the last one lets go.
type lease struct {
	refs atomic.Int32
	free func()
}

func newLease(free func()) *lease {
	l := &lease{free: free}
	l.refs.Store(1)
	return l
}

// ref returns a function that drops one reference, once.
func (l *lease) ref() func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			if l.refs.Add(-1) == 0 {
				l.free()
			}
		})
	}
}

// hold adds a reference (pg.TxOptions.Hold).
func (l *lease) hold() func() {
	l.refs.Add(1)
	return l.ref()
}
