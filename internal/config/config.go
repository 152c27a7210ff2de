package config

import (
	"github.com/pgherd/pgherd/internal/access"
)

// Config is the whole configuration. Build it with [Load] or [Parse], which
// fill defaults and validate; a Config built in code (or by [ForDatabase])
// must go through [Config.Finish] before use.
//
// A Config is not safe for concurrent modification; after Finish, any number
// of goroutines may read it.
type Config struct {
	Server Server `yaml:"server"`
	Log    Log    `yaml:"log"`
	// Auth is the server-wide authentication default. An endpoint's own Auth
	// replaces it entirely.
	Auth *Auth `yaml:"auth,omitempty"`
	// Endpoints maps an endpoint name (also its URL path segment and default
	// tool prefix) to its database.
	Endpoints map[string]*Endpoint `yaml:"endpoints"`
	// Audit configures the audit log.
	Audit Audit `yaml:"audit"`
	// Tracing configures OpenTelemetry tracing (on when OTEL_* says where
	// to export).
	Tracing Tracing `yaml:"tracing"`

	// zeros holds the key paths the file (or HTTP_PORT) set to a numeric
	// zero. Zero normally means "use the default"; for server.port and
	// jwt.leeway a written 0 means itself, and elsewhere it is an error
	// rather than a silent default.
	zeros map[string]bool
	// envPaths maps a key path to the environment override that set it
	// ("server.port" → "env HTTP_PORT"), so problems point at the variable.
	envPaths map[string]string
	// derivedPublicURL: server.public_url was not configured and is derived
	// from host and port.
	derivedPublicURL bool
}

// Transport names how the process talks to clients.
type Transport string

// Transports.
const (
	TransportHTTP  Transport = "http"  // Streamable HTTP plus legacy HTTP+SSE
	TransportStdio Transport = "stdio" // one endpoint on stdin/stdout
)

// SessionMode chooses how Streamable HTTP treats sessions.
type SessionMode string

// Session modes.
const (
	// Stateless serves every request on its own (protocol 2026-07-28 and the
	// older revisions without Mcp-Session-Id); any replica answers any request.
	Stateless SessionMode = "stateless"
	// Stateful issues Mcp-Session-Id and binds each session to its user.
	Stateful SessionMode = "stateful"
)

// Server configures the HTTP listener and the process.
type Server struct {
	Host string `yaml:"host"` // IP address or host name; default 127.0.0.1
	// Port defaults to 8000. Written as 0 in the file (or HTTP_PORT=0), it
	// means any free port: the app binds, then calls [Config.SetBoundPort].
	Port int `yaml:"port"`
	// Transport is http (default) or stdio; TRANSPORT_MODE / MCP_TRANSPORT
	// override it ("sse" and "streamable-http" mean http).
	Transport   Transport   `yaml:"transport"`
	SessionMode SessionMode `yaml:"session_mode"` // default stateless
	// SessionTimeout closes idle stateful sessions; default 30m.
	SessionTimeout Duration `yaml:"session_timeout"`
	// MaxBodyBytes caps a request body (413 beyond it); default 4 MiB, at
	// least 1 KiB, at most 1 GiB. The file may write 4MiB, 512KiB, 1GiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// AllowedOrigins are extra browser origins (scheme://host[:port]) allowed
	// to call MCP paths; requests with any other cross-origin Origin get 403.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// ShutdownTimeout bounds how long in-flight calls may finish after
	// SIGTERM; default 15s.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// PublicURL is the externally visible base URL (https://mcp.example.com,
	// no trailing slash); endpoint URLs and JWT audiences derive from it.
	// Default http://HOST:PORT (empty until [Config.SetBoundPort] when the
	// port is 0).
	PublicURL string `yaml:"public_url"`
	// StartDegraded starts even when a database is unreachable, with that
	// endpoint reported not ready, instead of failing start-up.
	StartDegraded bool `yaml:"start_degraded"`
	// RateLimit is the default rate limit of every endpoint and where its
	// state lives (see ratelimit.go).
	RateLimit RateLimit `yaml:"rate_limit"`
	// WatchConfig reloads the configuration when the file's content changes
	// (checked every 2 seconds), as SIGHUP does.
	WatchConfig bool `yaml:"watch_config"`
	// Metrics configures the Prometheus endpoint.
	Metrics Metrics `yaml:"metrics"`

	// Per-client bounds (reliability).

	// MaxSessions caps the stateful sessions (Streamable HTTP with
	// session_mode stateful, and legacy SSE) open at once in the process;
	// a new session beyond it gets 503. Default 10000.
	MaxSessions int `yaml:"max_sessions"`
	// MaxSessionsPerTenant caps the sessions one tenant (or, without
	// authentication, one client address) holds at once; beyond it, 429.
	// Default 1000, at most max_sessions.
	MaxSessionsPerTenant int `yaml:"max_sessions_per_tenant"`
	// WriteTimeout bounds each write of a response to a client (a reader
	// that stops reading, or reads at a trickle, is cut off after it) and
	// reading a request body. Default 60s.
	WriteTimeout Duration `yaml:"write_timeout"`
	// Console configures the operator console (see console.go).
	Console Console `yaml:"console"`
}

// Log configures the process log (always on stderr).
type Log struct {
	Level  string `yaml:"level"`  // debug, info (default), warn, error
	Format string `yaml:"format"` // json (default) or text
}

// Endpoint is one database and how it is served.
type Endpoint struct {
	// Name is the map key; set by Load, not read from YAML.
	Name string `yaml:"-"`
	// DatabaseURI is the connection URI (postgres://…) or keyword=value
	// settings. Required, also for auth mode database_login (which takes
	// host and database from it); it may be omitted only when every tenant
	// has its own database_uri and every caller maps to one of them.
	DatabaseURI Secret `yaml:"database_uri"`
	// AccessMode decides the tool set and what SQL may do; default user_ro.
	AccessMode access.Mode `yaml:"access_mode"`
	// Endpoint true (default) serves the database at /{name}/mcp; false
	// composes its prefixed tools into the main /mcp endpoint.
	Endpoint *bool `yaml:"endpoint"`
	// Prefix is prepended to tool names (prefix_execute_sql); nil means
	// Name, an explicit "" means no prefix (stdio quick form). Up to 40 of
	// A-Z a-z 0-9 _ . -; unique among endpoints composed into /mcp.
	Prefix      *string `yaml:"prefix"`
	Description string  `yaml:"description,omitempty"`
	Pool        Pool    `yaml:"pool"`
	Limits      Limits  `yaml:"limits"`
	// Health holds the thresholds of analyze_db_health and herd_health;
	// nil means every default.
	Health *Health `yaml:"health,omitempty"`
	// ConfirmDestructive says what happens to a statement that drops,
	// truncates or rewrites data (admin_rw; in user_rw DELETE and UPDATE
	// without WHERE): elicit (default) dry-runs it and asks the client's
	// user to confirm through MCP elicitation, and runs it as before when the
	// client cannot ask; refuse asks too, but refuses when the client cannot
	// ask; never runs it without asking.
	ConfirmDestructive ConfirmMode `yaml:"confirm_destructive"`
	// Auth replaces the server-wide Auth for this endpoint when set.
	Auth *Auth `yaml:"auth,omitempty"`
	// Tenants gives tenants their own database credentials (own pool).
	Tenants map[string]*Tenant `yaml:"tenants,omitempty"`
	// TenantSettings are set with set_config(name, value, true) before every
	// statement; "{tenant}" and "{user}" in values are replaced by the caller's
	// verified identity.
	TenantSettings map[string]string `yaml:"tenant_settings,omitempty"`

	// AllowPrivilegedRole lets an endpoint in a validated mode (user_ro,
	// user_rw, admin_ro) start although its login role is a superuser, has
	// BYPASSRLS or belongs to a predefined role that reads or writes all
	// data or server files, and lets tenant_settings sit on a login that
	// bypasses row-level security. pgherd then warns in its log and in
	// get_server_info; the SQL validator and executor still hold, the
	// database role no longer does. Default false: such an endpoint does
	// not start.
	AllowPrivilegedRole bool `yaml:"allow_privileged_role,omitempty"`
}

// ConfirmMode is the value of endpoints.NAME.confirm_destructive.
type ConfirmMode string

// Values of confirm_destructive.
const (
	ConfirmElicit ConfirmMode = "elicit" // ask; run when the client cannot ask
	ConfirmNever  ConfirmMode = "never"  // never ask
	ConfirmRefuse ConfirmMode = "refuse" // ask; refuse when the client cannot ask
)

// Served reports whether the endpoint has its own /{name}/mcp path.
func (e *Endpoint) Served() bool { return e.Endpoint == nil || *e.Endpoint }

// ToolPrefix returns the effective prefix, "" for none.
func (e *Endpoint) ToolPrefix() string {
	if e.Prefix == nil {
		return e.Name
	}
	return *e.Prefix
}

// Tenant is one tenant's database identity on an endpoint.
type Tenant struct {
	// DatabaseURI connects as the tenant's own login role (the strong
	// boundary). Exclusive with Role.
	DatabaseURI Secret `yaml:"database_uri,omitempty"`
	// Role is SET ROLE'd (transaction-local) on the endpoint's pool; allowed
	// only where the SQL validator runs (not admin_rw).
	Role string `yaml:"role,omitempty"`
}

// Pool configures an endpoint's connection pool.
type Pool struct {
	MaxConns        int32    `yaml:"max_conns" json:"max_conns"`                   // default 10, at most 1000
	MinConns        int32    `yaml:"min_conns" json:"min_conns"`                   // default 0, at most max_conns
	AcquireTimeout  Duration `yaml:"acquire_timeout" json:"acquire_timeout"`       // default 5s
	MaxConnLifetime Duration `yaml:"max_conn_lifetime" json:"max_conn_lifetime"`   // default 1h
	MaxConnIdleTime Duration `yaml:"max_conn_idle_time" json:"max_conn_idle_time"` // default 10m
}

// Limits bound what one call may cost.
type Limits struct {
	StatementTimeout         Duration `yaml:"statement_timeout" json:"statement_timeout"`                                     // default 30s, at most 24h
	LockTimeout              Duration `yaml:"lock_timeout" json:"lock_timeout"`                                               // default 5s
	IdleInTransactionTimeout Duration `yaml:"idle_in_transaction_session_timeout" json:"idle_in_transaction_session_timeout"` // default 60s
	MaxRows                  int      `yaml:"max_rows" json:"max_rows"`                                                       // default 1000, at most 1,000,000
	MaxResultBytes           int64    `yaml:"max_result_bytes" json:"max_result_bytes"`                                       // default 96 KiB, 1 KiB to 1 GiB
	// MaxConcurrentCalls bounds the database calls one tenant runs at once
	// on one pool, so a busy tenant cannot hold every connection of a shared
	// pool; default: the pool's max_conns.
	MaxConcurrentCalls int `yaml:"max_concurrent_calls" json:"max_concurrent_calls"`
	// Rate is the tool calls per second one tenant may make on this
	// endpoint (a token bucket); default server.rate_limit.rate. Written as
	// 0 it means no limit here, whatever the server default.
	Rate float64 `yaml:"rate" json:"rate"`
	// Burst is how many calls a tenant may make at once above Rate; default
	// server.rate_limit.burst when Rate is inherited, else Rate rounded up
	// (at least 1).
	Burst int `yaml:"burst,omitempty" json:"burst,omitempty"`
	// CancelGrace is how long a statement may run on after its cancel
	// request (at statement_timeout, or when the caller goes away) before
	// its backend is terminated; until the backend is gone, its connection
	// and its max_concurrent_calls slot stay taken. Default 5s.
	CancelGrace Duration `yaml:"cancel_grace" json:"cancel_grace"`
}

// AuthMode names how requests are authenticated.
type AuthMode string

// Authentication modes.
const (
	AuthNone          AuthMode = "none"           // loopback or stdio only
	AuthAPIKey        AuthMode = "api_key"        // Authorization: Bearer KEY (or bare KEY)
	AuthJWT           AuthMode = "jwt"            // Authorization: Bearer JWT
	AuthDatabaseLogin AuthMode = "database_login" // Authorization: Basic (PostgreSQL verifies)
)

// Auth configures authentication (server-wide or per endpoint).
type Auth struct {
	Mode AuthMode `yaml:"mode"` // default none
	// Required: a request without Authorization is rejected (401). When
	// false it runs as Anonymous (if set). REQUIRE_AUTH_HEADER overrides it.
	// Default true.
	Required *bool     `yaml:"required"`
	APIKeys  []*APIKey `yaml:"api_keys,omitempty"`
	JWT      *JWT      `yaml:"jwt,omitempty"`
	// DatabaseLogin tunes mode database_login.
	DatabaseLogin *DatabaseLogin `yaml:"database_login,omitempty"`
	// Anonymous is the identity of requests without Authorization when
	// Required is false; nil means such requests are rejected anyway.
	Anonymous *Identity `yaml:"anonymous,omitempty"`
	// AuthorizationServers are listed in the RFC 9728 protected-resource
	// metadata of each endpoint.
	AuthorizationServers []string `yaml:"authorization_servers,omitempty"`
}

// IsRequired reports the effective value of Required (default true).
func (a *Auth) IsRequired() bool { return a == nil || a.Required == nil || *a.Required }

// Identity is a fixed caller identity (anonymous requests, stdio).
type Identity struct {
	Tenant string   `yaml:"tenant"` // required
	User   string   `yaml:"user"`   // default "anonymous"
	Scopes []string `yaml:"scopes,omitempty"`
}

// APIKey is one accepted API key.
type APIKey struct {
	Name string `yaml:"name"`
	// KeyHash is "sha256:<64 hex>" of the key (pgherd hash-key prints it).
	KeyHash string `yaml:"key_hash,omitempty"`
	// Key is a plain key, accepted only as a whole ${ENV} reference (at
	// least 16 characters); it is hashed into KeyHash at load and cleared.
	Key    Secret `yaml:"key,omitempty"`
	Tenant string `yaml:"tenant"` // default: Name
	// Endpoints the key may use; "main" is /mcp with the databases composed
	// into it. Empty means all. On an endpoint's own auth block it may only
	// name that endpoint.
	Endpoints []string `yaml:"endpoints,omitempty"`
	// Scopes granted (also tool tags: read, write, admin); empty means all.
	Scopes []string `yaml:"scopes,omitempty"`
	// Tools limits the key to these tools (unprefixed names or tags read,
	// write, admin); empty means all its scopes allow.
	Tools []string `yaml:"tools,omitempty"`

	// keyFromEnv: Key was written as exactly one ${VAR} in the file.
	keyFromEnv bool
}

// JWT configures bearer JWT verification.
type JWT struct {
	Issuer string `yaml:"issuer"` // required; iss must equal it
	// JWKSURL, PublicKeyFile and HS256Secret are the key sources: exactly
	// one. jwks_url must be https (http only for localhost);
	// public_key_file is relative to the config file; hs256_secret has at
	// least 32 bytes.
	// Audience the token's aud must contain; default each endpoint's
	// canonical URL (server.public_url + /{name}/mcp).
	Audience      string `yaml:"audience,omitempty"`
	JWKSURL       string `yaml:"jwks_url,omitempty"`
	PublicKeyFile string `yaml:"public_key_file,omitempty"`
	HS256Secret   Secret `yaml:"hs256_secret,omitempty"`
	// Algorithms accepted: a subset of RS256 RS384 RS512 ES256 ES384 EdDSA,
	// or [HS256] with hs256_secret; default [HS256] for hs256_secret, all the
	// asymmetric ones otherwise (the key's type then pins the family).
	Algorithms  []string `yaml:"algorithms,omitempty"`
	TenantClaim string   `yaml:"tenant_claim,omitempty"` // default "tenant"
	UserClaim   string   `yaml:"user_claim,omitempty"`   // default "sub"
	// Leeway tolerated on exp/nbf/iat; default 30s, at most 5m; 0s written
	// in the file means none.
	Leeway Duration `yaml:"leeway"`
	// JWKSRefreshInterval is the least time between JWKS refreshes triggered
	// by an unknown kid; default 5m.
	JWKSRefreshInterval Duration `yaml:"jwks_refresh_interval,omitempty"`
}

// DatabaseLogin tunes authentication by PostgreSQL credentials.
type DatabaseLogin struct {
	MaxPools        int      `yaml:"max_pools"`         // default 100 (LRU beyond)
	PoolIdleTimeout Duration `yaml:"pool_idle_timeout"` // default 5m
	FailureCacheTTL Duration `yaml:"failure_cache_ttl"` // default 30s
	// FailuresPerMinute limits failed logins per client address; default 10.
	FailuresPerMinute int `yaml:"failures_per_minute"`
}
