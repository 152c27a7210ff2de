package ratelimit

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// sweepEvery is how many Allow calls pass between sweeps of idle buckets.
const sweepEvery = 1024

// Memory keeps buckets in this process. Buckets idle long enough to be full
// again are dropped (a new one is the same), so keys from many tenants do
// not grow memory without bound. The zero value is not usable: call
// [NewMemory].
type Memory struct {
	now func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
	calls   int
}

type bucket struct {
	lim  *rate.Limiter
	last time.Time
	full time.Duration // time from empty to full: idle this long, it can go
}

// NewMemory returns an empty in-process limiter.
func NewMemory() *Memory {
	return &Memory{now: time.Now, buckets: make(map[string]*bucket)}
}

// Allow implements [Limiter]. It never fails.
func (m *Memory) Allow(_ context.Context, key string, l Limit) (Decision, error) {
	if l.Unlimited() {
		return Decision{Allowed: true}, nil
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.calls++; m.calls%sweepEvery == 0 {
		m.sweep(now)
	}
	b := m.buckets[key]
	burst := max(1, l.Burst)
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(rate.Limit(l.Rate), burst)}
		m.buckets[key] = b
	} else if b.lim.Limit() != rate.Limit(l.Rate) || b.lim.Burst() != burst {
		// The limit changed (configuration reload): keep the tokens.
		b.lim.SetLimitAt(now, rate.Limit(l.Rate))
		b.lim.SetBurstAt(now, burst)
	}
	b.last = now
	b.full = time.Duration(float64(burst) / l.Rate * float64(time.Second))
	if b.lim.AllowN(now, 1) {
		return Decision{Allowed: true}, nil
	}
	r := b.lim.ReserveN(now, 1)
	wait := r.DelayFrom(now)
	r.CancelAt(now)
	return Decision{RetryAfter: wait}, nil
}

// sweep drops buckets idle long enough to have refilled. m.mu is held.
func (m *Memory) sweep(now time.Time) {
	for k, b := range m.buckets {
		if now.Sub(b.last) > b.full {
			delete(m.buckets, k)
		}
	}
}

// Len returns how many buckets are kept (tests).
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.buckets)
}
