package config

import (
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/pgherd/pgherd/internal/access"
)

// Defaults that callers may want to mention (flags, help text).
const (
	DefaultHost     = "127.0.0.1"
	DefaultPort     = 8000
	DefaultEndpoint = "db" // the endpoint DATABASE_URI and [ForDatabase] create
)

// Other defaults, as documented on the fields.
const (
	defaultSessionTimeout    = 30 * time.Minute
	defaultMaxBodyBytes      = 4 << 20
	defaultShutdownTimeout   = 15 * time.Second
	defaultMaxConns          = 10
	defaultAcquireTimeout    = 5 * time.Second
	defaultMaxConnLifetime   = time.Hour
	defaultMaxConnIdleTime   = 10 * time.Minute
	defaultStatementTimeout  = 30 * time.Second
	defaultLockTimeout       = 5 * time.Second
	defaultIdleInTransaction = 60 * time.Second
	defaultMaxRows           = 1000
	defaultMaxResultBytes    = 96 << 10 // sized for a model (both copies of the rows): see docs/results.md
	defaultTenantClaim       = "tenant"
	defaultUserClaim         = "sub"
	defaultLeeway            = 30 * time.Second
	defaultJWKSRefresh       = 5 * time.Minute
	defaultMaxPools          = 100
	defaultPoolIdleTimeout   = 5 * time.Minute
	defaultFailureCacheTTL   = 30 * time.Second
	defaultFailuresPerMinute = 10
	defaultAnonymousUser     = "anonymous"

	defaultMaxSessions          = 10_000
	defaultMaxSessionsPerTenant = 1_000
	defaultWriteTimeout         = 60 * time.Second
	defaultCancelGrace          = 5 * time.Second
)

// asymmetricAlgorithms are accepted by default for keys from jwks_url or
// public_key_file; the key's type then pins the family.
var asymmetricAlgorithms = []string{"RS256", "RS384", "RS512", "ES256", "ES384", "EdDSA"}

// setDefaults fills every unset value. Zero means unset, except where the
// file wrote a zero on purpose and zero has a meaning (server.port: 0 picks
// a free port; jwt.leeway: 0s tolerates no clock skew): c.zeros tells.
func (c *Config) setDefaults() {
	s := &c.Server
	if s.Host == "" {
		s.Host = DefaultHost
	}
	if s.Port == 0 && !c.zeros["server.port"] {
		s.Port = DefaultPort
	}
	if s.Transport == "" {
		s.Transport = TransportHTTP
	}
	if s.SessionMode == "" {
		s.SessionMode = Stateless
	}
	setDuration(&s.SessionTimeout, defaultSessionTimeout)
	if s.MaxBodyBytes == 0 {
		s.MaxBodyBytes = defaultMaxBodyBytes
	}
	setDuration(&s.ShutdownTimeout, defaultShutdownTimeout)
	if s.MaxSessions == 0 {
		s.MaxSessions = defaultMaxSessions
	}
	if s.MaxSessionsPerTenant == 0 {
		s.MaxSessionsPerTenant = min(defaultMaxSessionsPerTenant, s.MaxSessions)
	}
	setDuration(&s.WriteTimeout, defaultWriteTimeout)
	if s.PublicURL == "" || c.derivedPublicURL {
		c.derivedPublicURL = true
		s.PublicURL = ""
		if s.Port != 0 {
			// With port 0 the URL is known only once the port is bound:
			// see [Config.SetBoundPort].
			s.PublicURL = "http://" + c.Listen()
		}
	} else {
		s.PublicURL = strings.TrimRight(s.PublicURL, "/")
	}

	c.setObserveDefaults()
	c.setConsoleDefaults()

	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "json"
	}

	if c.Auth == nil {
		c.Auth = &Auth{}
	}
	c.Auth.setDefaults("auth", c.zeros)

	for name, e := range c.Endpoints {
		if e == nil {
			e = &Endpoint{}
			c.Endpoints[name] = e
		}
		e.Name = name
		e.setDefaults(joinKey("endpoints", name), c.zeros)
	}
	c.setRateLimitDefaults()
}

func setDuration(d *Duration, def time.Duration) {
	if *d == 0 {
		*d = Duration(def)
	}
}

func (e *Endpoint) setDefaults(path string, zeros map[string]bool) {
	if e.AccessMode == "" {
		e.AccessMode = access.UserRO
	}
	if e.ConfirmDestructive == "" {
		e.ConfirmDestructive = ConfirmElicit
	}
	if e.Endpoint == nil {
		served := true
		e.Endpoint = &served
	}
	if e.Prefix == nil {
		prefix := e.Name
		e.Prefix = &prefix
	}
	p := &e.Pool
	if p.MaxConns == 0 {
		p.MaxConns = defaultMaxConns
	}
	setDuration(&p.AcquireTimeout, defaultAcquireTimeout)
	setDuration(&p.MaxConnLifetime, defaultMaxConnLifetime)
	setDuration(&p.MaxConnIdleTime, defaultMaxConnIdleTime)
	l := &e.Limits
	setDuration(&l.StatementTimeout, defaultStatementTimeout)
	setDuration(&l.LockTimeout, defaultLockTimeout)
	setDuration(&l.IdleInTransactionTimeout, defaultIdleInTransaction)
	if l.MaxRows == 0 {
		l.MaxRows = defaultMaxRows
	}
	if l.MaxResultBytes == 0 {
		l.MaxResultBytes = defaultMaxResultBytes
	}
	if l.MaxConcurrentCalls == 0 {
		l.MaxConcurrentCalls = int(p.MaxConns)
	}
	setDuration(&l.CancelGrace, defaultCancelGrace)
	if e.Health != nil {
		e.Health.setDefaults(path+".health", zeros)
	}
	if e.Auth != nil {
		e.Auth.setDefaults(path+".auth", zeros)
	}
	for name, t := range e.Tenants {
		if t == nil {
			e.Tenants[name] = &Tenant{}
		}
	}
}

func (a *Auth) setDefaults(path string, zeros map[string]bool) {
	if a.Mode == "" {
		a.Mode = AuthNone
	}
	if a.Required == nil {
		required := true
		a.Required = &required
	}
	for _, k := range a.APIKeys {
		if k != nil && k.Tenant == "" {
			k.Tenant = k.Name
		}
	}
	if j := a.JWT; j != nil {
		if len(j.Algorithms) == 0 {
			if j.HS256Secret != "" {
				j.Algorithms = []string{"HS256"}
			} else {
				j.Algorithms = append([]string(nil), asymmetricAlgorithms...)
			}
		}
		if j.TenantClaim == "" {
			j.TenantClaim = defaultTenantClaim
		}
		if j.UserClaim == "" {
			j.UserClaim = defaultUserClaim
		}
		if j.Leeway == 0 && !zeros[path+".jwt.leeway"] {
			j.Leeway = Duration(defaultLeeway)
		}
		setDuration(&j.JWKSRefreshInterval, defaultJWKSRefresh)
	}
	if a.Mode == AuthDatabaseLogin && a.DatabaseLogin == nil {
		a.DatabaseLogin = &DatabaseLogin{}
	}
	if dl := a.DatabaseLogin; dl != nil {
		if dl.MaxPools == 0 {
			dl.MaxPools = defaultMaxPools
		}
		setDuration(&dl.PoolIdleTimeout, defaultPoolIdleTimeout)
		setDuration(&dl.FailureCacheTTL, defaultFailureCacheTTL)
		if dl.FailuresPerMinute == 0 {
			dl.FailuresPerMinute = defaultFailuresPerMinute
		}
	}
	if an := a.Anonymous; an != nil && an.User == "" {
		an.User = defaultAnonymousUser
	}
}

// Listen returns the address to listen on, host:port.
func (c *Config) Listen() string {
	return net.JoinHostPort(c.Server.Host, strconv.Itoa(c.Server.Port))
}

// SetBoundPort records the port actually bound when server.port is 0 (any
// free port) and, unless server.public_url was configured, derives the public
// URL from it. Call it before reading endpoint URLs; it is not safe to call
// while other goroutines read c.
func (c *Config) SetBoundPort(port int) {
	c.Server.Port = port
	if c.derivedPublicURL {
		c.Server.PublicURL = "http://" + c.Listen()
	}
}
