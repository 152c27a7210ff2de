// Package ratelimit limits how often a tenant may call tools on an endpoint:
// token buckets (Rate tokens per second, up to Burst), one per key.
//
// A [Limiter] keeps the buckets: [Memory] in the process
// (golang.org/x/time/rate), [Redis] in a Redis server, where one atomic
// script takes the token, so every replica pointed at the same Redis shares
// one bucket per key. A [Guard] applies an endpoint's limit to a caller and
// decides what happens when the Limiter fails (Redis unreachable): let the
// call through (fail open) or refuse it (fail closed).
//
// Concurrency limits (limits.max_concurrent_calls) are not here: they bound
// work in one process and stay per process.
package ratelimit
