package auth

import (
	"cmp"
	"container/list"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"

	"github.com/pgherd/pgherd/internal/config"
	"github.com/pgherd/pgherd/internal/pg"
)

// Defaults of config.DatabaseLogin.
const (
	DefaultMaxPools          = 100
	DefaultPoolIdleTimeout   = 5 * time.Minute
	DefaultFailureCacheTTL   = 30 * time.Second
	DefaultFailuresPerMinute = 10
)

// Bounds of the per-address and failed-credential maps, so that a flood of
// addresses or passwords cannot grow memory without limit.
const (
	maxTrackedAddrs = 10000
	maxFailedLogins = 10000
)

const (
	loginConnectLimit = 15 * time.Second // one PostgreSQL login attempt
	loginRetryOnChurn = 3                // see Authenticate

	// SQLSTATEs of a refused login: wrong password (or unknown role), and
	// no pg_hba.conf entry or a role that may not log in.
	sqlstateBadPasswd   = "28P01" // invalid_password
	sqlstateBadAuthSpec = "28000" // invalid_authorization_specification
)

// databaseLogin authenticates HTTP Basic credentials by logging in to the
// endpoint's database as that user: PostgreSQL is the judge. A verified
// credential's pool is cached (see loginCache); failures are cached and
// rate limited per client address.
type databaseLogin struct {
	uriOf    func(endpoint string) string
	connect  func(ctx context.Context, endpoint, uri string) (*pg.Pool, error)
	pools    *loginCache
	failures *expiringSet
	limits   *addrLimits
	flights  singleflight.Group
}

var (
	_ Authenticator        = (*databaseLogin)(nil)
	_ interface{ Close() } = (*databaseLogin)(nil)
)

func newDatabaseLogin(cfg *config.DatabaseLogin, opts Options) (*databaseLogin, error) {
	if opts.DatabaseURI == nil || opts.Connect == nil {
		return nil, errors.New("database_login: the server did not provide how to reach the endpoints' databases (Options.DatabaseURI, Options.Connect)")
	}
	var c config.DatabaseLogin
	if cfg != nil {
		c = *cfg
	}
	maxPools := orDefault(c.MaxPools, DefaultMaxPools)
	idle := orDefault(c.PoolIdleTimeout.D(), DefaultPoolIdleTimeout)
	ttl := orDefault(c.FailureCacheTTL.D(), DefaultFailureCacheTTL)
	perMin := orDefault(c.FailuresPerMinute, DefaultFailuresPerMinute)
	return &databaseLogin{
		uriOf:    opts.DatabaseURI,
		connect:  opts.Connect,
		pools:    newLoginCache(maxPools, idle, opts),
		failures: newExpiringSet(maxFailedLogins, ttl, opts.Now),
		limits:   newAddrLimits(maxTrackedAddrs, perMin, opts.Now),
	}, nil
}

// orDefault returns def when v is zero or negative (or an empty string).
func orDefault[T cmp.Ordered](v, def T) T {
	var zero T
	if v <= zero {
		return def
	}
	return v
}

// Close closes every cached pool, waiting for requests that still hold one
// to release it. Idempotent.
func (d *databaseLogin) Close() { d.pools.Close() }

// Len returns the number of cached pools.
func (d *databaseLogin) Len() int { return d.pools.Len() }

var errLoginRefused = errors.New("PostgreSQL refused the login")

// Authenticate: a cached pool answers at once; otherwise the client address
// must not be over its failed-login budget, the credential must not have
// failed within the failure TTL, and PostgreSQL must accept a login.
// Concurrent first logins with one credential share one attempt.
func (d *databaseLogin) Authenticate(ctx context.Context, r *http.Request, endpoint string) (*Principal, error) {
	user, password, err := basic(r.Header.Get("Authorization"))
	if err != nil {
		return nil, err
	}
	key := newLoginKey(endpoint, user, password)
	// A login may be dropped from the cache between the attempt that added
	// it and this request taking hold of it when the cache churns faster
	// than it fills; try again a few times.
	for range loginRetryOnChurn {
		if l := d.pools.get(key); l != nil {
			return loginPrincipal(l), nil
		}
		addr := clientAddr(r)
		if wait := d.limits.wait(addr); wait > 0 {
			return nil, &Error{Kind: ErrTooManyAttempts, RetryAfter: wait,
				Description: "too many failed logins from your address; wait before trying again"}
		}
		if d.failures.has(key) {
			d.limits.fail(addr)
			return nil, refused(nil)
		}
		_, err, _ := d.flights.Do(string(key[:]), func() (any, error) {
			return nil, d.login(ctx, key, endpoint, user, password)
		})
		switch {
		case errors.Is(err, errLoginRefused):
			d.limits.fail(addr)
			return nil, refused(err)
		case err != nil:
			// Counted too: the password is the client's choice, and an
			// error that lost its SQLSTATE must not bypass the limit.
			d.limits.fail(addr)
			return nil, fmt.Errorf("database_login on endpoint %q as %q: %w", endpoint, user, err)
		}
	}
	return nil, fmt.Errorf("database_login on endpoint %q as %q: the pool cache is churning faster than logins complete; raise database_login.max_pools", endpoint, user)
}

func refused(cause error) *Error {
	return invalid("PostgreSQL rejected this user name and password for the endpoint's database", cause)
}

// login connects as user and caches the pool; a rejected password is
// remembered in d.failures and reported as errLoginRefused.
func (d *databaseLogin) login(ctx context.Context, key loginKey, endpoint, user, password string) error {
	base := d.uriOf(endpoint)
	if base == "" {
		return fmt.Errorf("endpoint %q has no database of its own to log in to; database_login works on database endpoints, not on one composing several", endpoint)
	}
	uri, err := withCredentials(base, user, password)
	if err != nil {
		return err
	}
	// Shared by every request waiting on this flight: not cancelled by the
	// first one going away, but bounded.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loginConnectLimit)
	defer cancel()
	pool, err := d.connect(ctx, endpoint, uri)
	if err != nil {
		if pe, ok := pg.AsError(err); ok && (pe.SQLState == sqlstateBadPasswd || pe.SQLState == sqlstateBadAuthSpec) {
			d.failures.add(key)
			return fmt.Errorf("%w: %w", errLoginRefused, err)
		}
		return err
	}
	// Released at once: the cache keeps the pool, each waiting request
	// takes its own hold via get.
	l := d.pools.add(key, endpoint, user, pool)
	if l == nil {
		return errors.New("the authenticator is closed (the server is stopping or reloading its config)")
	}
	l.Release()
	return nil
}

func loginPrincipal(l *Login) *Principal {
	return &Principal{Tenant: l.User, User: l.User, Method: MethodDatabaseLogin, Login: l}
}

// basic decodes "Basic base64(user:password)" (RFC 7617).
func basic(v string) (user, password string, err error) {
	scheme, cred := credential(v)
	const form = "send your PostgreSQL user and password as HTTP Basic authentication (Authorization: Basic base64(user:password))"
	if !strings.EqualFold(scheme, "basic") {
		return "", "", invalid("unsupported Authorization scheme; "+form, nil)
	}
	raw, err := base64.StdEncoding.DecodeString(cred)
	if err != nil {
		return "", "", invalid("the Basic credential is not valid base64; "+form, nil)
	}
	user, password, ok := strings.Cut(string(raw), ":")
	switch {
	case !ok:
		return "", "", invalid("the Basic credential has no ':' between user and password; "+form, nil)
	case user == "":
		return "", "", invalid("the Basic credential has an empty user name; "+form, nil)
	case password == "":
		// Never let an empty password through: with trust or peer rules in
		// pg_hba.conf it would log in as anyone.
		return "", "", invalid("the Basic credential has an empty password; "+form, nil)
	case strings.ContainsRune(string(raw), 0):
		return "", "", invalid("the Basic credential contains a NUL byte", nil)
	}
	return user, password, nil
}

// withCredentials returns uri with its user and password replaced.
func withCredentials(uri, user, password string) (string, error) {
	u, err := url.Parse(uri)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", errors.New("the endpoint's database URI is not a postgres:// URL")
	}
	u.User = url.UserPassword(user, password)
	if q := u.Query(); q.Has("user") || q.Has("password") {
		q.Del("user")
		q.Del("password")
		u.RawQuery = q.Encode()
	}
	return u.String(), nil
}

// clientAddr is the address failed logins are counted against: the peer
// of the TCP connection (X-Forwarded-For is not trusted), an IPv6 peer by
// its /64, since one holder usually owns the whole prefix.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// expiringSet remembers keys for ttl, at most max of them (oldest first
// out). Safe for concurrent use.
type expiringSet struct {
	max int
	ttl time.Duration
	now func() time.Time

	mu    sync.Mutex
	items map[loginKey]*list.Element // of setItem
	order *list.List                 // oldest at the back
}

type setItem struct {
	key     loginKey
	expires time.Time
}

func newExpiringSet(max int, ttl time.Duration, now func() time.Time) *expiringSet {
	return &expiringSet{max: max, ttl: ttl, now: now, items: make(map[loginKey]*list.Element), order: list.New()}
}

func (s *expiringSet) add(k loginKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if el := s.items[k]; el != nil {
		s.order.Remove(el)
	}
	s.items[k] = s.order.PushFront(setItem{k, s.now().Add(s.ttl)})
	for s.order.Len() > s.max {
		delete(s.items, s.order.Remove(s.order.Back()).(setItem).key)
	}
}

func (s *expiringSet) has(k loginKey) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	el := s.items[k]
	if el == nil {
		return false
	}
	if s.now().Before(el.Value.(setItem).expires) {
		return true
	}
	delete(s.items, k)
	s.order.Remove(el)
	return false
}

// addrLimits holds one token bucket of failed logins per client address:
// perMinute tokens, refilled evenly; at most max addresses, least recently
// failing first out. Safe for concurrent use.
type addrLimits struct {
	max   int
	every rate.Limit
	burst int
	now   func() time.Time

	mu    sync.Mutex
	items map[string]*list.Element // of *addrItem
	order *list.List               // most recent at the front
}

type addrItem struct {
	addr string
	lim  *rate.Limiter
}

func newAddrLimits(max, perMinute int, now func() time.Time) *addrLimits {
	return &addrLimits{
		max:   max,
		every: rate.Every(time.Minute / time.Duration(perMinute)),
		burst: perMinute,
		now:   now,
		items: make(map[string]*list.Element),
		order: list.New(),
	}
}

// wait returns how long addr must wait before its next attempt; zero when
// it may try now.
func (l *addrLimits) wait(addr string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	el := l.items[addr]
	if el == nil {
		return 0
	}
	tokens := el.Value.(*addrItem).lim.TokensAt(l.now())
	if tokens >= 1 {
		return 0
	}
	return time.Duration((1 - tokens) / float64(l.every) * float64(time.Second))
}

// fail spends one of addr's failed-login tokens.
func (l *addrLimits) fail(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	el := l.items[addr]
	if el == nil {
		el = l.order.PushFront(&addrItem{addr, rate.NewLimiter(l.every, l.burst)})
		l.items[addr] = el
		for l.order.Len() > l.max {
			delete(l.items, l.order.Remove(l.order.Back()).(*addrItem).addr)
		}
	} else {
		l.order.MoveToFront(el)
	}
	el.Value.(*addrItem).lim.AllowN(l.now(), 1)
}
