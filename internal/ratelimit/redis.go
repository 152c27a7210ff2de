package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// bucketScript takes one token from the bucket at KEYS[1] (a hash of tokens
// and the time they were counted, in microseconds of the Redis server's
// clock, so replicas' clocks do not matter), refilling it at ARGV[1] tokens
// per second up to ARGV[2]. It returns {1, 0} when the token was taken, or
// {0, microseconds until one is available}. The key expires once the bucket
// would be full again: an idle bucket costs nothing. Redis runs a script
// atomically, so concurrent callers on any number of replicas never take the
// same token twice.
var bucketScript = redis.NewScript(`
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate / 1000000)
end
local allowed = 0
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait = math.ceil((1 - tokens) * 1000000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) * 1000 / rate) + 1000)
return {allowed, wait}
`)

// RedisOptions configure [NewRedis].
type RedisOptions struct {
	// URL is redis://[user:password@]host:port[/db] or rediss://… (TLS).
	URL string
	// Timeout bounds one round trip (dial, read, write); zero means 100ms.
	Timeout time.Duration
	// Prefix starts every key; empty means "pgherd:rl:".
	Prefix string
}

// Redis keeps buckets in a Redis server, shared by every process using the
// same server and prefix.
type Redis struct {
	client  *redis.Client
	prefix  string
	timeout time.Duration
}

// NewRedis returns a limiter on the Redis at opts.URL. It does not connect:
// the first Allow does (and [Redis.Ping] checks).
func NewRedis(opts RedisOptions) (*Redis, error) {
	o, err := redis.ParseURL(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("rate limit redis_url: %w", redactErr(err, opts.URL))
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = 100 * time.Millisecond
	}
	o.DialTimeout, o.ReadTimeout, o.WriteTimeout = timeout, timeout, timeout
	// A refused or late answer is the Guard's to handle, at once.
	o.MaxRetries = -1
	o.DialerRetries = 1
	quietOnce.Do(func() { redis.SetLogger(quiet{}) })
	o.ContextTimeoutEnabled = true
	prefix := opts.Prefix
	if prefix == "" {
		prefix = "pgherd:rl:"
	}
	return &Redis{client: redis.NewClient(o), prefix: prefix, timeout: timeout}, nil
}

// quietOnce silences go-redis's own logger, which is global to the
// process: it would print every failed dial on stderr, while the Guard
// reports failures once per interval in our log.
var quietOnce sync.Once

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

// redactErr keeps a URL's password out of an error message, also when the
// URL does not parse.
func redactErr(err error, rawURL string) error {
	_, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return err
	}
	userinfo, _, ok := strings.Cut(rest, "@")
	if !ok {
		return err
	}
	if _, password, ok := strings.Cut(userinfo, ":"); ok && password != "" {
		return errors.New(strings.ReplaceAll(err.Error(), password, "xxxxx"))
	}
	return err
}

// Allow implements [Limiter]: one round trip running the bucket script.
func (r *Redis) Allow(ctx context.Context, key string, l Limit) (Decision, error) {
	if l.Unlimited() {
		return Decision{Allowed: true}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	res, err := bucketScript.Run(ctx, r.client, []string{r.prefix + key}, l.Rate, max(1, l.Burst)).Int64Slice()
	if err != nil {
		return Decision{}, fmt.Errorf("rate limit redis: %w", err)
	}
	if len(res) != 2 {
		return Decision{}, fmt.Errorf("rate limit redis: the script returned %v", res)
	}
	if res[0] == 1 {
		return Decision{Allowed: true}, nil
	}
	return Decision{RetryAfter: time.Duration(res[1]) * time.Microsecond}, nil
}

// Ping checks that Redis answers.
func (r *Redis) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	return r.client.Ping(ctx).Err()
}

// Close closes the connections to Redis.
func (r *Redis) Close() error { return r.client.Close() }
