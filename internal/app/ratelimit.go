package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/pgherd/pgherd/internal/config"
	"github.com/pgherd/pgherd/internal/ratelimit"
)

// newLimiter builds the rate limiter server.rate_limit asks for, and the
// function that releases it. A Redis that does not answer at start is a
// warning, not a failure: failure_mode decides what calls do meanwhile.
func newLimiter(ctx context.Context, rl config.RateLimit, logger *slog.Logger) (ratelimit.Limiter, func(), error) {
	if rl.Backend != config.RateLimitRedis {
		return ratelimit.NewMemory(), func() {}, nil
	}
	r, err := ratelimit.NewRedis(ratelimit.RedisOptions{URL: rl.RedisURL.Reveal(), Timeout: rl.RedisTimeout.D()})
	if err != nil {
		return nil, nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, max(time.Second, rl.RedisTimeout.D()))
	defer cancel()
	if err := r.Ping(pctx); err != nil {
		logger.Warn("rate limit redis does not answer", "error", err.Error(), "failure_mode", rl.FailureMode)
	}
	return r, func() { r.Close() }, nil
}

// rateGuard applies cfg's per-endpoint limits with limiter.
func rateGuard(cfg *config.Config, limiter ratelimit.Limiter, events ratelimit.Events, logger *slog.Logger) *ratelimit.Guard {
	limits := make(map[string]ratelimit.Limit)
	for name, ep := range cfg.Endpoints {
		if ep.Limits.Rate > 0 {
			limits[name] = ratelimit.Limit{Rate: ep.Limits.Rate, Burst: ep.Limits.Burst}
		}
	}
	if len(limits) == 0 {
		return nil
	}
	return ratelimit.NewGuard(ratelimit.GuardOptions{
		Limiter:    limiter,
		Limits:     limits,
		FailClosed: cfg.Server.RateLimit.FailureMode == config.FailClosed,
		Events:     events,
		Logger:     logger.With("component", "ratelimit"),
	})
}
