package ratelimit

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// FailClosedRetry is the retry hint of calls refused because the limiter
// failed and the Guard fails closed.
const FailClosedRetry = time.Second

// failureLogEvery bounds the warnings about a failing limiter: one per this
// interval, with the count of failures since the last one.
const failureLogEvery = 10 * time.Second

// Events receives what a [Guard] decides, for metrics. Either field may be
// nil.
type Events struct {
	// Refused is called for every call refused over its limit (failed is
	// false) or because the limiter failed and the guard fails closed
	// (failed is true).
	Refused func(endpoint, tenant string, failed bool)
	// LimiterFailed is called for every call on endpoint the limiter could
	// not decide, with failOpen telling whether the call went ahead.
	LimiterFailed func(endpoint string, err error, failOpen bool)
}

// GuardOptions configure [NewGuard].
type GuardOptions struct {
	Limiter Limiter
	// Limits maps an endpoint name to its limit; endpoints not in it, and
	// unlimited ones, are never refused.
	Limits map[string]Limit
	// FailClosed refuses calls the Limiter cannot decide (Redis down); by
	// default they run.
	FailClosed bool
	Events     Events
	Logger     *slog.Logger // nil discards
}

// Guard applies per-endpoint limits to callers. It is safe for concurrent
// use; build a new one when limits change.
type Guard struct {
	limiter    Limiter
	limits     map[string]Limit
	failClosed bool
	events     Events
	logger     *slog.Logger

	failures atomic.Int64 // since the last warning
	logMu    sync.Mutex
	lastLog  time.Time
}

// NewGuard returns a Guard; opts is copied.
func NewGuard(opts GuardOptions) *Guard {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	limits := make(map[string]Limit, len(opts.Limits))
	for k, v := range opts.Limits {
		limits[k] = v
	}
	return &Guard{limiter: opts.Limiter, limits: limits, failClosed: opts.FailClosed, events: opts.Events, logger: logger}
}

// Limited reports whether endpoint has a limit at all.
func (g *Guard) Limited(endpoint string) bool {
	if g == nil {
		return false
	}
	l, ok := g.limits[endpoint]
	return ok && !l.Unlimited()
}

// Key is the bucket of tenant on endpoint.
func Key(endpoint, tenant string) string { return endpoint + "\x00" + tenant }

// Check takes n tokens (one per call) of tenant's bucket on endpoint. It
// returns ok, or how long the caller should wait before trying again. A nil
// Guard allows everything.
func (g *Guard) Check(ctx context.Context, endpoint, tenant string, n int) (retryAfter time.Duration, ok bool) {
	if g == nil {
		return 0, true
	}
	l, limited := g.limits[endpoint]
	if !limited || l.Unlimited() {
		return 0, true
	}
	for range n {
		d, err := g.limiter.Allow(ctx, Key(endpoint, tenant), l)
		if err != nil {
			g.failed(ctx, endpoint, err)
			if g.failClosed {
				if g.events.Refused != nil {
					g.events.Refused(endpoint, tenant, true)
				}
				return FailClosedRetry, false
			}
			continue
		}
		if !d.Allowed {
			if g.events.Refused != nil {
				g.events.Refused(endpoint, tenant, false)
			}
			return max(d.RetryAfter, time.Millisecond), false
		}
	}
	return 0, true
}

// failed counts a limiter failure and logs a warning at most once per
// failureLogEvery.
func (g *Guard) failed(ctx context.Context, endpoint string, err error) {
	if g.events.LimiterFailed != nil {
		g.events.LimiterFailed(endpoint, err, !g.failClosed)
	}
	n := g.failures.Add(1)
	g.logMu.Lock()
	due := time.Since(g.lastLog) >= failureLogEvery
	if due {
		g.lastLog = time.Now()
	}
	g.logMu.Unlock()
	if !due {
		return
	}
	g.failures.Add(-n)
	outcome := "calls run without a rate limit (failure_mode open)"
	if g.failClosed {
		outcome = "calls are refused (failure_mode closed)"
	}
	g.logger.WarnContext(ctx, "rate limiter unavailable", "error", err.Error(), "failures", n, "outcome", outcome)
}
