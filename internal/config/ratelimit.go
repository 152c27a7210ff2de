package config

import (
	"fmt"
	"math"
	"net/url"
	"strconv"
	"time"
)

// RateLimit is server.rate_limit: the default rate limit of every endpoint
// (per tenant, per endpoint, a token bucket) and where the buckets live.
type RateLimit struct {
	// Rate is the default tool calls per second per tenant per endpoint;
	// 0 (the default) means no limit. An endpoint's limits.rate overrides it.
	Rate float64 `yaml:"rate"`
	// Burst is the default bucket size; default Rate rounded up, at least 1.
	Burst int `yaml:"burst,omitempty"`
	// Backend is memory (default: each process has its own buckets) or
	// redis (every replica pointed at the same Redis shares them).
	Backend RateLimitBackend `yaml:"backend"`
	// RedisURL is redis://[user:password@]host:port[/db] or rediss://…
	// (TLS); required with backend redis.
	RedisURL Secret `yaml:"redis_url,omitempty"`
	// RedisTimeout bounds one Redis round trip; default 100ms.
	RedisTimeout Duration `yaml:"redis_timeout,omitempty"`
	// FailureMode decides calls while Redis does not answer: open (default:
	// they run, unlimited, with a warning in the log and a metric) or closed
	// (they are refused as over the limit, retry after 1s).
	FailureMode FailureMode `yaml:"failure_mode,omitempty"`
}

// RateLimitBackend names where rate-limit buckets live.
type RateLimitBackend string

// Rate-limit backends.
const (
	RateLimitMemory RateLimitBackend = "memory"
	RateLimitRedis  RateLimitBackend = "redis"
)

// FailureMode is what a shared rate limit does when its store fails.
type FailureMode string

// Failure modes.
const (
	FailOpen   FailureMode = "open"
	FailClosed FailureMode = "closed"
)

const (
	defaultRedisTimeout = 100 * time.Millisecond
	maxRate             = 1_000_000
	maxBurst            = 1_000_000
)

// defaultBurst is the bucket size of a rate without one: one second of
// calls, at least one.
func defaultBurst(rate float64) int { return max(1, int(math.Ceil(rate))) }

func (c *Config) setRateLimitDefaults() {
	r := &c.Server.RateLimit
	if r.Backend == "" {
		r.Backend = RateLimitMemory
	}
	if r.FailureMode == "" {
		r.FailureMode = FailOpen
	}
	if r.Backend == RateLimitRedis {
		setDuration(&r.RedisTimeout, defaultRedisTimeout)
	}
	if r.Rate > 0 && r.Burst == 0 {
		r.Burst = defaultBurst(r.Rate)
	}
	for name, e := range c.Endpoints {
		l := &e.Limits
		path := joinKey("endpoints", name) + ".limits"
		if l.Rate == 0 && !c.zeros[path+".rate"] {
			l.Rate = r.Rate
			if l.Burst == 0 {
				l.Burst = r.Burst
			}
		}
		if l.Rate > 0 && l.Burst == 0 {
			l.Burst = defaultBurst(l.Rate)
		}
	}
}

func (v *validator) rateLimits() {
	r := &v.c.Server.RateLimit
	v.rate("server.rate_limit", r.Rate, r.Burst)
	switch r.Backend {
	case RateLimitMemory:
		if r.RedisURL != "" {
			v.add("server.rate_limit.redis_url", "used only with backend redis (backend is memory); remove it or set backend: redis")
		}
	case RateLimitRedis:
		if r.RedisURL == "" {
			v.add("server.rate_limit.redis_url", "required with backend redis; write redis://HOST:6379/0 (rediss:// for TLS), preferably from the environment")
		} else if msg := checkRedisURL(r.RedisURL.Reveal()); msg != "" {
			v.add("server.rate_limit.redis_url", "%s", msg)
		}
		v.duration("server.rate_limit.redis_timeout", r.RedisTimeout, 10*time.Second)
	default:
		v.add("server.rate_limit.backend", "%q is not one of memory, redis (redis shares limits between replicas)", r.Backend)
	}
	switch r.FailureMode {
	case FailOpen, FailClosed:
	default:
		v.add("server.rate_limit.failure_mode", "%q is not one of open (calls run while Redis is down), closed (calls are refused)", r.FailureMode)
	}
	for _, name := range v.c.Names() {
		l := v.c.Endpoints[name].Limits
		v.rate(joinKey("endpoints", name)+".limits", l.Rate, l.Burst)
	}
}

// rate checks a rate and its burst under path.
func (v *validator) rate(path string, rate float64, burst int) {
	if rate < 0 || rate > maxRate {
		v.add(path+".rate", "%s is out of range; use calls per second from 0 (no limit) to %d; 0.5 is one call every 2 seconds",
			strconv.FormatFloat(rate, 'f', -1, 64), maxRate)
		return // a burst derived from it says nothing more
	}
	if burst < 0 || burst > maxBurst {
		v.add(path+".burst", "%d is out of range; use 1-%d", burst, maxBurst)
	}
	if burst > 0 && rate == 0 && !v.c.zeros[path+".rate"] && path != "server.rate_limit" {
		return // inherited from a server without a rate: harmless
	}
	if burst > 0 && rate == 0 && path == "server.rate_limit" {
		v.add(path+".burst", "set without rate; add rate (calls per second) or remove burst")
	}
}

// checkRedisURL returns what is wrong with a Redis URL, or "". The password
// never appears in the message.
func checkRedisURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "does not parse as a URL; write redis://HOST:6379/0"
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return fmt.Sprintf("scheme %q is not redis or rediss; write redis://HOST:6379/0", u.Scheme)
	}
	if u.Host == "" {
		return "has no host; write redis://HOST:6379/0"
	}
	return ""
}
