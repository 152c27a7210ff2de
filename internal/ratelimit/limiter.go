package ratelimit

import (
	"context"
	"time"
)

// Limit is one token bucket's shape: Rate tokens per second, at most Burst
// held. A zero Rate means no limit.
type Limit struct {
	Rate  float64
	Burst int
}

// Unlimited reports whether l limits nothing.
func (l Limit) Unlimited() bool { return l.Rate <= 0 }

// Decision is a Limiter's answer for one call.
type Decision struct {
	Allowed bool
	// RetryAfter is, when not Allowed, how long until a token is available.
	RetryAfter time.Duration
}

// Limiter takes one token from the bucket named key, shaped by l, if it has
// one. A refused call takes nothing. Implementations are safe for
// concurrent use; an error means the limiter could not decide (its store
// failed), and the caller chooses what to do (see [Guard]).
type Limiter interface {
	Allow(ctx context.Context, key string, l Limit) (Decision, error)
}
