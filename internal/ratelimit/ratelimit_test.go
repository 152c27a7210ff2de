package ratelimit

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pgherd/pgherd/internal/redistest"
)

// limiters runs body against every Limiter: the same contract for each.
// newLimiter returns a fresh limiter view on shared state (for Redis, a new
// client on the same server: a second replica).
func limiters(t *testing.T, body func(t *testing.T, newLimiter func() Limiter)) {
	t.Run("memory", func(t *testing.T) {
		m := NewMemory()
		body(t, func() Limiter { return m })
	})
	t.Run("redis", func(t *testing.T) {
		srv := redistest.Start(t)
		body(t, func() Limiter {
			r, err := NewRedis(RedisOptions{URL: srv.URL, Timeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { r.Close() })
			return r
		})
	})
}

func allow(t *testing.T, l Limiter, key string, lim Limit) Decision {
	t.Helper()
	d, err := l.Allow(context.Background(), key, lim)
	if err != nil {
		t.Fatalf("Allow(%s): %v", key, err)
	}
	return d
}

func TestBurstThenRefuse(t *testing.T) {
	limiters(t, func(t *testing.T, newLimiter func() Limiter) {
		l := newLimiter()
		lim := Limit{Rate: 1, Burst: 3}
		for i := range 3 {
			if d := allow(t, l, "a", lim); !d.Allowed {
				t.Fatalf("call %d of the burst refused (retry after %v)", i+1, d.RetryAfter)
			}
		}
		d := allow(t, l, "a", lim)
		if d.Allowed {
			t.Fatal("call 4 over a burst of 3 allowed")
		}
		if d.RetryAfter <= 0 || d.RetryAfter > time.Second {
			t.Errorf("RetryAfter = %v, want in (0, 1s] at 1 call/s", d.RetryAfter)
		}
		// Another key has its own bucket.
		if d := allow(t, l, "b", lim); !d.Allowed {
			t.Errorf("key b refused after key a emptied its bucket")
		}
	})
}

// TestRefusedCallsTakeNothing: after a refusal, waiting RetryAfter is
// enough: the refused calls did not dig the bucket deeper.
func TestRefusedCallsTakeNothing(t *testing.T) {
	limiters(t, func(t *testing.T, newLimiter func() Limiter) {
		l := newLimiter()
		lim := Limit{Rate: 20, Burst: 1}
		allow(t, l, "k", lim)
		var d Decision
		for range 50 {
			d = allow(t, l, "k", lim)
		}
		if d.Allowed {
			t.Fatal("50 calls at once allowed with burst 1")
		}
		if d.RetryAfter > 50*time.Millisecond+5*time.Millisecond {
			t.Errorf("RetryAfter %v after 50 refusals, want at most one token's time (50ms)", d.RetryAfter)
		}
		// Waiting is the behaviour under test here, not synchronisation.
		time.Sleep(d.RetryAfter + 5*time.Millisecond)
		if d := allow(t, l, "k", lim); !d.Allowed {
			t.Errorf("refused after waiting RetryAfter: retry after %v", d.RetryAfter)
		}
	})
}

// TestConcurrentCallersShareOneBucket: 8 callers (for Redis, on 4 separate
// clients, as 4 replicas would be) race for a bucket of 100 tokens that
// barely refills: exactly 100 calls pass.
func TestConcurrentCallersShareOneBucket(t *testing.T) {
	limiters(t, func(t *testing.T, newLimiter func() Limiter) {
		lim := Limit{Rate: 0.001, Burst: 100}
		var allowed atomic.Int64
		var wg sync.WaitGroup
		for i := range 8 {
			l := newLimiter()
			if i%2 == 1 {
				l = newLimiter()
			}
			wg.Go(func() {
				for range 40 {
					d, err := l.Allow(context.Background(), "shared", lim)
					if err != nil {
						t.Error(err)
						return
					}
					if d.Allowed {
						allowed.Add(1)
					}
				}
			})
		}
		wg.Wait()
		if got := allowed.Load(); got != 100 {
			t.Errorf("%d of 320 calls allowed from a bucket of 100, want exactly 100", got)
		}
	})
}

func TestLimitChangeKeepsWorking(t *testing.T) {
	limiters(t, func(t *testing.T, newLimiter func() Limiter) {
		l := newLimiter()
		for range 2 {
			allow(t, l, "c", Limit{Rate: 1, Burst: 2})
		}
		if allow(t, l, "c", Limit{Rate: 1, Burst: 2}).Allowed {
			t.Fatal("third call of a burst of 2 allowed")
		}
		// A reload raises the burst: the bucket grows, it does not reset
		// to a full new one at once, and it does not break.
		d := allow(t, l, "c", Limit{Rate: 1000, Burst: 10})
		if !d.Allowed {
			// At 1000/s a token is there within a millisecond.
			time.Sleep(d.RetryAfter)
			if !allow(t, l, "c", Limit{Rate: 1000, Burst: 10}).Allowed {
				t.Errorf("refused after raising the rate to 1000/s")
			}
		}
	})
}

func TestMemoryDropsIdleBuckets(t *testing.T) {
	m := NewMemory()
	now := time.Unix(1000, 0)
	m.now = func() time.Time { return now }
	for i := range 3000 {
		m.Allow(context.Background(), "tenant-"+string(rune('a'+i%26))+strings.Repeat("x", i/26), Limit{Rate: 10, Burst: 10})
	}
	if m.Len() < 2000 {
		t.Fatalf("%d buckets after 3000 distinct keys at one instant, want them all kept (none has refilled)", m.Len())
	}
	now = now.Add(2 * time.Second) // every bucket refilled (1s from empty)
	for range sweepEvery {
		m.Allow(context.Background(), "busy", Limit{Rate: 10, Burst: 10})
	}
	if m.Len() > 1 {
		t.Errorf("%d buckets kept after every key but one was idle past its refill time, want 1", m.Len())
	}
}

func TestRedisUnreachable(t *testing.T) {
	srv := redistest.Start(t)
	r, err := NewRedis(RedisOptions{URL: srv.URL, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	lim := map[string]Limit{"app": {Rate: 1, Burst: 1}}
	for _, failClosed := range []bool{false, true} {
		var logs bytes.Buffer
		var failures, refusals atomic.Int64
		var failedEndpoint atomic.Value
		g := NewGuard(GuardOptions{
			Limiter: r, Limits: lim, FailClosed: failClosed,
			Logger: slog.New(slog.NewTextHandler(&logs, nil)),
			Events: Events{
				Refused: func(string, string, bool) { refusals.Add(1) },
				LimiterFailed: func(endpoint string, _ error, _ bool) {
					failures.Add(1)
					failedEndpoint.Store(endpoint)
				},
			},
		})
		start := time.Now()
		for range 5 {
			retry, ok := g.Check(context.Background(), "app", "acme", 1)
			if ok == failClosed {
				t.Errorf("failClosed=%v: Check ok=%v", failClosed, ok)
			}
			if failClosed && retry != FailClosedRetry {
				t.Errorf("fail closed: retry after %v, want %v", retry, FailClosedRetry)
			}
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("5 checks against a dead Redis took %v; each is bounded by the 200ms timeout", d)
		}
		if failures.Load() != 5 {
			t.Errorf("LimiterFailed called %d times, want 5", failures.Load())
		}
		if got := failedEndpoint.Load(); got != "app" {
			t.Errorf("LimiterFailed endpoint = %v, want app", got)
		}
		if want := map[bool]int64{false: 0, true: 5}[failClosed]; refusals.Load() != want {
			t.Errorf("Refused called %d times, want %d", refusals.Load(), want)
		}
		if n := strings.Count(logs.String(), "rate limiter unavailable"); n != 1 {
			t.Errorf("%d warnings for 5 failures, want 1 (one per 10s):\n%s", n, logs.String())
		}
	}
}

func TestGuard(t *testing.T) {
	g := NewGuard(GuardOptions{Limiter: NewMemory(), Limits: map[string]Limit{"app": {Rate: 1, Burst: 2}, "free": {}}})
	ctx := context.Background()
	if _, ok := g.Check(ctx, "free", "acme", 1000); !ok {
		t.Error("an unlimited endpoint refused")
	}
	if _, ok := g.Check(ctx, "other", "acme", 1000); !ok {
		t.Error("an endpoint without a limit refused")
	}
	if _, ok := g.Check(ctx, "app", "acme", 2); !ok {
		t.Error("a batch of 2 refused with burst 2")
	}
	if _, ok := g.Check(ctx, "app", "acme", 1); ok {
		t.Error("third call allowed")
	}
	if _, ok := g.Check(ctx, "app", "globex", 1); !ok {
		t.Error("another tenant refused: buckets are per tenant")
	}
	var nilGuard *Guard
	if _, ok := nilGuard.Check(ctx, "app", "acme", 1); !ok {
		t.Error("a nil Guard refused")
	}
}

func TestRedisURLErrorsHidePassword(t *testing.T) {
	_, err := NewRedis(RedisOptions{URL: "redis://user:s3cret-pw@host:notaport/0"})
	if err == nil {
		t.Fatal("a bad URL was accepted")
	}
	if strings.Contains(err.Error(), "s3cret-pw") {
		t.Errorf("error shows the password: %v", err)
	}
}
