package tenancy

import (
	"context"
	"fmt"
	"time"

	"github.com/pgherd/pgherd/internal/observe"
	"github.com/pgherd/pgherd/internal/pg"
)

// slotKey names one concurrency budget: a tenant on a pool.
type slotKey struct {
	pool   *pg.Pool
	tenant string
}

// slot is a budget of concurrent calls and how many callers hold or wait
// for it.
type slot struct {
	ch    chan struct{}
	users int
}

// acquireSlot bounds concurrent calls per tenant and pool
// (limits.max_concurrent_calls): go-sdk runs a session's calls concurrently
// without limit, and on a pool shared by tenants (tenant_settings, roles) one
// busy tenant must not take every connection. Waiting ends at by (the end of
// the call's acquire timeout). Budgets exist only while in use, so tenants
// named by tokens cannot grow the map without bound.
//
// The slot is held by a lease: the call holds it until its handle is Done,
// and each backend of the call still running after a cancel holds it until
// that backend is gone, so a statement that ignores cancellation keeps its
// slot and runaway backends cannot pile up past the budget.
func (d *Database) acquireSlot(ctx context.Context, key slotKey, by time.Time) (*lease, error) {
	d.mu.Lock()
	sl := d.slots[key]
	if sl == nil {
		n := d.cfg.Limits.MaxConcurrentCalls
		if n <= 0 {
			n = int(d.cfg.Pool.MaxConns)
		}
		sl = &slot{ch: make(chan struct{}, n)}
		d.slots[key] = sl
	}
	sl.users++
	d.mu.Unlock()
	leave := func() {
		d.mu.Lock()
		if sl.users--; sl.users == 0 {
			delete(d.slots, key)
		}
		d.mu.Unlock()
	}
	free := func() {
		<-sl.ch
		leave()
	}
	select {
	case sl.ch <- struct{}{}:
		return newLease(free), nil
	default:
	}
	// Every slot is taken: wait, and say so in the call's record.
	call := observe.CallFrom(ctx)
	start := time.Now()
	timer := time.NewTimer(time.Until(by))
	defer timer.Stop()
	select {
	case sl.ch <- struct{}{}:
		call.AddSlotWait(time.Since(start), false)
		return newLease(free), nil
	case <-ctx.Done():
		call.AddSlotWait(time.Since(start), false)
		leave()
		return nil, context.Cause(ctx)
	case <-timer.C:
		call.AddSlotWait(time.Since(start), true)
		leave()
		who := "calls"
		if key.tenant != "" {
			who = "calls of tenant " + key.tenant
		}
		return nil, fmt.Errorf("endpoint %s is busy: %d %s already running (limits.max_concurrent_calls); retry shortly", d.Name, cap(sl.ch), who)
	}
}
