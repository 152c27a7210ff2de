package pg

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Defaults used for zero fields of [PoolOptions] and [Limits].
const (
	DefaultMaxConns                 = 10
	DefaultAcquireTimeout           = 5 * time.Second
	DefaultMaxConnLifetime          = time.Hour
	DefaultMaxConnIdleTime          = 10 * time.Minute
	DefaultMaxMessageBytes          = 64 << 20
	DefaultApplicationName          = "pgherd"
	DefaultStatementTimeout         = 30 * time.Second
	DefaultLockTimeout              = 5 * time.Second
	DefaultIdleInTransactionTimeout = 60 * time.Second
	DefaultMaxRows                  = 1000
	DefaultMaxResultBytes           = 4 << 20
	DefaultConnectTimeout           = 10 * time.Second
	DefaultCancelGrace              = 5 * time.Second
)

// Bounds of one call's round trips (see [Pool.Do]).
const (
	// roundTripAllowance is what a call's deadline allows beyond its
	// acquire timeout and statement timeout: the statement's backstop, and
	// COMMIT or ROLLBACK with the reset.
	roundTripAllowance = backstopSlack + finishReserve
	// backstopSlack is how long after statement_timeout a statement the
	// server has not ended is cancelled from our side (a statement that
	// ignores interrupts, a server that does not answer).
	backstopSlack = 2 * time.Second
	// finishReserve is the part of the call's time kept for the end of
	// the transaction: the statement's backstop ends this long before the
	// call's deadline.
	finishReserve = time.Second
	// cancelWait is how long a round trip whose context ended waits for the
	// server to answer the cancel request before the connection is given up
	// (closed on our side; the backend is then watched, see Pool.reap). It
	// also bounds closing a connection and the cancel request after a cap.
	cancelWait = time.Second
	// pingTimeout bounds the liveness ping of a connection taken from the
	// pool after being idle; a connection that does not answer in time is
	// destroyed and another one used.
	pingTimeout = 2 * time.Second
)

// TCP keepalive on every connection: a peer that vanished (a host that
// crashed, a network that dropped the session) is noticed within about
// 30 s even on an idle connection.
var keepAlive = net.KeepAliveConfig{Enable: true, Idle: 15 * time.Second, Interval: 5 * time.Second, Count: 3}

// PoolOptions configures a [Pool]. Every zero field means its default.
type PoolOptions struct {
	MaxConns        int32         // default DefaultMaxConns
	MinConns        int32         // connections kept open even when idle; default 0
	AcquireTimeout  time.Duration // longest wait for a free connection; default 5s
	MaxConnLifetime time.Duration // default 1h
	MaxConnIdleTime time.Duration // default 10m

	// MaxMessageBytes caps one protocol message from the server: one
	// result row, or one error. A larger message fails the call with
	// [ErrMessageTooLarge] before its body is read, and the connection is
	// closed, so one huge value cannot exhaust memory. Default 64 MiB.
	MaxMessageBytes int

	ApplicationName string // default "pgherd"

	// ConnectTimeout bounds opening one connection (TCP, TLS and
	// authentication) when the URI sets no connect_timeout: without a bound
	// a connect into a silent network never ends, and the pool never
	// recovers. Calls wait at most AcquireTimeout for it. Default 10s.
	ConnectTimeout time.Duration

	// CancelGrace is how long a cancelled statement may run on before its
	// backend is terminated (pg_terminate_backend). Until the backend is
	// gone its connection stays counted as busy and [TxOptions.Hold] keeps
	// the caller's resources. Default 5s.
	CancelGrace time.Duration

	// SearchPath, when set, is every connection's search_path from the
	// start (a startup parameter, which no database or role default
	// overrides, and which RESET ALL and DISCARD ALL restore). A pool whose
	// calls all use TxOptions.PublicOnly sets "public": those calls then
	// need not set it per transaction.
	SearchPath string

	// Limits are the defaults for calls ([TxOptions.Limits] overrides them
	// field by field). The timeouts are also set as connection run-time
	// parameters, a backstop for statements outside a transaction.
	Limits Limits

	Logger *slog.Logger // nil discards

	// Tracer sees the pool's database round trips: it becomes every
	// connection's pgx tracer (pgx also asks it for its optional
	// interfaces: BatchTracer, pgxpool.AcquireTracer…), and the round trips
	// this package makes on the wire protocol directly — user statements
	// (describe and execute, reported as one), the transaction end with
	// the session reset — are reported to its TraceQueryStart and
	// TraceQueryEnd too. If it has a method ForDatabase(pool, database,
	// host string, port uint16) pgx.QueryTracer, the pool uses the tracer
	// that returns, told which database it serves. Nil traces nothing.
	Tracer pgx.QueryTracer
}

// Limits bound one call. Zero fields mean the pool's value (and, for the
// pool, the package default).
type Limits struct {
	StatementTimeout         time.Duration // default 30s
	LockTimeout              time.Duration // default 5s
	IdleInTransactionTimeout time.Duration // default 60s
	MaxRows                  int           // rows returned per statement; default 1000
	// MaxResultBytes caps the JSON size of the rows returned per statement
	// (values as encoded in [Result.Rows], plus separators); default 4 MiB.
	MaxResultBytes int64
}

// or fills the zero fields of l from d.
func (l Limits) or(d Limits) Limits {
	if l.StatementTimeout == 0 {
		l.StatementTimeout = d.StatementTimeout
	}
	if l.LockTimeout == 0 {
		l.LockTimeout = d.LockTimeout
	}
	if l.IdleInTransactionTimeout == 0 {
		l.IdleInTransactionTimeout = d.IdleInTransactionTimeout
	}
	if l.MaxRows == 0 {
		l.MaxRows = d.MaxRows
	}
	if l.MaxResultBytes == 0 {
		l.MaxResultBytes = d.MaxResultBytes
	}
	return l
}

var defaultLimits = Limits{
	StatementTimeout:         DefaultStatementTimeout,
	LockTimeout:              DefaultLockTimeout,
	IdleInTransactionTimeout: DefaultIdleInTransactionTimeout,
	MaxRows:                  DefaultMaxRows,
	MaxResultBytes:           DefaultMaxResultBytes,
}

// Pool is one database's connection pool and the safe executor on it. It is
// safe for concurrent use.
type Pool struct {
	name           string
	pool           *pgxpool.Pool
	limits         Limits
	acquireTimeout time.Duration
	maxConns       int32
	logger         *slog.Logger
	types          *typeCache
	serverVersion  string
	tracer         pgx.QueryTracer // nil: none
	serverMajor    int
	database       string
	login          LoginRole
	grace          time.Duration
	connectTimeout time.Duration
	ctl            *control
	// timeoutsAtStartup: the server applied the timeouts sent as startup
	// parameters (checked at Connect), so a call whose limits are the
	// pool's need not set them again (a RESET ALL or DISCARD ALL restores
	// them, and nothing else a call may leave changes them).
	timeoutsAtStartup bool
	// searchPath is PoolOptions.SearchPath; searchPathAtStartup: the
	// server applied it (checked at Connect).
	searchPath          string
	searchPathAtStartup bool

	// closing ends when Close starts: reapers stop watching.
	closing     context.Context
	stopClosing context.CancelFunc
	reapMu      sync.Mutex // guards noReapers and reapers.Add
	noReapers   bool
	reapers     sync.WaitGroup

	inUseMu sync.Mutex
	inUse   map[*pgxpool.Conn]uint32 // acquired connections and their backend PIDs

	destroyed  atomic.Int64 // connections destroyed because they may carry state
	exhausted  atomic.Int64 // acquires that timed out
	reaping    atomic.Int64 // connections held until their backend is gone
	reaped     atomic.Int64 // connections ever held so
	terminated atomic.Int64 // backends terminated after ignoring a cancel
	retried    atomic.Int64 // calls retried on a fresh connection
	resets     atomic.Int64 // pool resets after the server ended sessions
	// keptSessions counts transactions that ended without DISCARD ALL
	// (read-only, rolled back, no session state: TxOptions.NoSessionState).
	keptSessions atomic.Int64
	closed       atomic.Bool
	closeOnce    sync.Once
}

// Connect opens the pool for the database called name (an endpoint name,
// used in errors and logs), connects once and checks that current_database()
// is the database the URI names. Errors name the database and the reason,
// never the password. The pool keeps no reference to ctx.
func Connect(ctx context.Context, name, uri string, opts PoolOptions) (*Pool, error) {
	p, err := connect(ctx, name, uri, opts)
	if err != nil {
		if msg := redact(err.Error(), uri); msg != err.Error() {
			// The password leaked into a driver message: keep the text
			// without it, and only the parts of the chain callers branch on.
			return nil, newRedactedError(msg, err)
		}
		return nil, err
	}
	return p, nil
}

func connect(ctx context.Context, name, uri string, opts PoolOptions) (*Pool, error) {
	cfg, err := pgxpool.ParseConfig(uri)
	if err != nil {
		return nil, fmt.Errorf("database %q: parsing the database URI: %v; check the URI's syntax (postgres://user:password@host:port/dbname)", name, err)
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = DefaultMaxConns
	}
	if opts.MinConns < 0 || opts.MinConns > opts.MaxConns {
		return nil, fmt.Errorf("database %q: min_conns %d must be between 0 and max_conns %d", name, opts.MinConns, opts.MaxConns)
	}
	if opts.AcquireTimeout <= 0 {
		opts.AcquireTimeout = DefaultAcquireTimeout
	}
	if opts.MaxConnLifetime <= 0 {
		opts.MaxConnLifetime = DefaultMaxConnLifetime
	}
	if opts.MaxConnIdleTime <= 0 {
		opts.MaxConnIdleTime = DefaultMaxConnIdleTime
	}
	if opts.MaxMessageBytes <= 0 {
		opts.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if opts.ApplicationName == "" {
		opts.ApplicationName = DefaultApplicationName
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = DefaultConnectTimeout
	}
	if opts.CancelGrace <= 0 {
		opts.CancelGrace = DefaultCancelGrace
	}
	opts.Limits = opts.Limits.or(defaultLimits)
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}

	cfg.MaxConns = opts.MaxConns
	cfg.MinConns = opts.MinConns
	cfg.MaxConnLifetime = opts.MaxConnLifetime
	cfg.MaxConnIdleTime = opts.MaxConnIdleTime
	// A connection idle for a second or more is pinged before use (pgxpool's
	// default); the ping is bounded, so a dead one is replaced, not waited on.
	cfg.PingTimeout = pingTimeout

	cc := cfg.ConnConfig
	if cc.ConnectTimeout <= 0 {
		cc.ConnectTimeout = opts.ConnectTimeout
	}
	dialer := &net.Dialer{Timeout: cc.ConnectTimeout, KeepAliveConfig: keepAlive}
	cc.DialFunc = dialer.DialContext
	// Trusted internal SQL (Tx.Conn) caches statement descriptions on the
	// client and uses the unnamed statement: no server-side prepared
	// statements ever exist on a pooled connection. User SQL never goes
	// through pgx's query modes (see Tx.Query).
	cc.DefaultQueryExecMode = pgx.QueryExecModeCacheDescribe
	cc.StatementCacheCapacity = 0
	cc.MaxProtocolMessageBodyLen = opts.MaxMessageBytes
	cc.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		// A cancelled context sends a cancel request, so PostgreSQL stops
		// the statement instead of running on after the socket closes.
		return &pgconn.CancelRequestContextWatcherHandler{
			Conn:               c,
			CancelRequestDelay: 0,
			DeadlineDelay:      cancelWait,
		}
	}
	if cc.RuntimeParams == nil {
		cc.RuntimeParams = map[string]string{}
	}
	cc.RuntimeParams["application_name"] = opts.ApplicationName
	for name, value := range PinnedSettings {
		// Startup parameters outrank database and role defaults
		// (ALTER DATABASE/ROLE … SET), so the server lexes and parses SQL
		// the way the validator did; Tx.Query checks the reported value
		// before every statement.
		cc.RuntimeParams[name] = value
	}
	cc.RuntimeParams["statement_timeout"] = millis(opts.Limits.StatementTimeout)
	cc.RuntimeParams["lock_timeout"] = millis(opts.Limits.LockTimeout)
	cc.RuntimeParams["idle_in_transaction_session_timeout"] = millis(opts.Limits.IdleInTransactionTimeout)
	if opts.SearchPath != "" {
		cc.RuntimeParams["search_path"] = opts.SearchPath
	}

	tracer := opts.Tracer
	if f, ok := tracer.(interface {
		ForDatabase(pool, database, host string, port uint16) pgx.QueryTracer
	}); ok {
		tracer = f.ForDatabase(name, cc.Database, cc.Host, cc.Port)
	}
	cc.Tracer = tracer

	pool, err := pgxpool.NewWithConfig(context.WithoutCancel(ctx), cfg)
	if err != nil {
		return nil, fmt.Errorf("database %q: creating the pool: %w", name, err)
	}
	p := &Pool{
		name:           name,
		pool:           pool,
		limits:         opts.Limits,
		acquireTimeout: opts.AcquireTimeout,
		maxConns:       opts.MaxConns,
		logger:         opts.Logger.With("database", name),
		types:          newTypeCache(maxCachedTypes),
		tracer:         tracer,
		grace:          opts.CancelGrace,
		connectTimeout: cc.ConnectTimeout,
		searchPath:     opts.SearchPath,
		ctl:            newControl(cc, name),
		inUse:          make(map[*pgxpool.Conn]uint32),
	}
	p.closing, p.stopClosing = context.WithCancel(context.WithoutCancel(ctx))
	if err := p.check(ctx, cc.Database); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// PinnedSettings are the settings that change how PostgreSQL lexes and
// parses SQL text, as pgherd sets them on every connection it opens (as
// startup parameters, which no database or role default overrides). The
// SQL validator (libpg_query) reads SQL exactly so: with
// standard_conforming_strings off, 'a\' would end a string where the
// validator sees it go on, and the server would run text the validator took
// for a literal.
var PinnedSettings = map[string]string{
	"client_encoding":             "UTF8",
	"standard_conforming_strings": "on",
	"backslash_quote":             "safe_encoding",
	"transform_null_equals":       "off",
}

// reportedSettings are the pinned settings the server reports (GUC_REPORT):
// Tx.Query refuses a connection whose report differs.
var reportedSettings = []string{"client_encoding", "standard_conforming_strings"}

// lexingMismatch says which pinned setting the connection reports with
// another value, or "" when none does.
func lexingMismatch(pgc *pgconn.PgConn) string {
	for _, name := range reportedSettings {
		if got := pgc.ParameterStatus(name); got != PinnedSettings[name] {
			return fmt.Sprintf("%s=%s", name, got)
		}
	}
	return ""
}

// LoginRole describes the role a pool logs in as, read at Connect.
type LoginRole struct {
	Name      string
	Superuser bool
	BypassRLS bool
	// Member lists the predefined roles it is a member of that read or
	// write every table or server files (pg_read_all_data,
	// pg_write_all_data, pg_read_server_files, pg_write_server_files,
	// pg_execute_server_program); a superuser is a member of all.
	Member []string
}

// PrivilegedRoles are the predefined roles whose members bypass table
// privileges or reach server files.
var PrivilegedRoles = []string{"pg_read_all_data", "pg_write_all_data", "pg_read_server_files", "pg_write_server_files", "pg_execute_server_program"}

// Privileges lists what makes the role privileged: "SUPERUSER",
// "BYPASSRLS", "member of pg_read_all_data", …; empty for a least-privilege
// role.
func (r LoginRole) Privileges() []string {
	var out []string
	if r.Superuser {
		out = append(out, "SUPERUSER")
	}
	if r.BypassRLS {
		out = append(out, "BYPASSRLS")
	}
	if !r.Superuser {
		for _, m := range r.Member {
			out = append(out, "member of "+m)
		}
	}
	return out
}

// BypassesRLS reports whether row-level security policies do not apply to
// the role (a superuser, or BYPASSRLS).
func (r LoginRole) BypassesRLS() bool { return r.Superuser || r.BypassRLS }

// loginSQL reads the login role's attributes and privileged memberships.
const loginSQL = `SELECT r.rolname::pg_catalog.text, r.rolsuper, r.rolbypassrls,
	ARRAY(SELECT g FROM pg_catalog.unnest($1::pg_catalog.text[]) AS g
	       WHERE pg_catalog.to_regrole(g) IS NOT NULL
	         AND pg_catalog.pg_has_role(r.oid, pg_catalog.to_regrole(g)::pg_catalog.oid, 'MEMBER'))
FROM pg_catalog.pg_roles r WHERE r.rolname = pg_catalog."current_user"()`

// startupTimeouts are the timeouts every connection gets as startup
// parameters, in the order checkSQL reads them.
var startupTimeouts = []string{"statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout"}

// checkSQL reads the database's name, the session's timeouts (in
// milliseconds, as pg_settings shows them) and its search_path.
const checkSQL = `SELECT pg_catalog.current_database(),
	ARRAY(SELECT s.setting FROM pg_catalog.unnest($1::pg_catalog.text[]) WITH ORDINALITY AS n(name, i)
	      JOIN pg_catalog.pg_settings s ON s.name = n.name ORDER BY n.i),
	pg_catalog.current_setting('search_path')`

// check connects once, compares current_database() with want, and checks
// that the server applied the startup parameters.
func (p *Pool) check(ctx context.Context, want string) error {
	ctx, cancel := context.WithTimeout(ctx, p.acquireTimeout+p.limits.StatementTimeout)
	defer cancel()
	c, err := p.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("database %q: connecting: %w", p.name, err)
	}
	defer c.Release()
	var got, searchPath string
	var timeouts []string
	if err := c.QueryRow(ctx, checkSQL, startupTimeouts).Scan(&got, &timeouts, &searchPath); err != nil {
		return fmt.Errorf("database %q: checking the connection: %w", p.name, err)
	}
	wantTimeouts := []string{millis(p.limits.StatementTimeout), millis(p.limits.LockTimeout), millis(p.limits.IdleInTransactionTimeout)}
	p.timeoutsAtStartup = slices.Equal(timeouts, wantTimeouts)
	p.searchPathAtStartup = p.searchPath != "" && searchPath == p.searchPath
	if p.searchPath != "" && !p.searchPathAtStartup {
		p.logger.Warn("the server did not apply the search_path pgherd sent when connecting (a connection pooler in between may drop startup parameters); pgherd sets it in every transaction instead",
			"got", searchPath, "want", p.searchPath)
	}
	if !p.timeoutsAtStartup {
		p.logger.Warn("the server did not apply the timeouts pgherd sent when connecting (a connection pooler in between may drop startup parameters); pgherd sets them in every transaction instead",
			"got", timeouts, "want", wantTimeouts)
	}
	if want != "" && got != want {
		return fmt.Errorf("database %q: connected to database %q but the URI names %q; check the URI (a proxy or service file may redirect it)", p.name, got, want)
	}
	pgc := c.Conn().PgConn()
	p.database = got
	p.serverVersion = pgc.ParameterStatus("server_version")
	p.serverMajor = majorVersion(p.serverVersion)
	if bad := lexingMismatch(pgc); bad != "" {
		return fmt.Errorf("database %q: the server reports %s although pgherd asked for %s when connecting; "+
			"a connection pooler in between may drop startup parameters (pgbouncer: remove them from ignore_startup_parameters)",
			p.name, bad, PinnedSettings[strings.SplitN(bad, "=", 2)[0]])
	}
	var l LoginRole
	if err := c.QueryRow(ctx, loginSQL, PrivilegedRoles).Scan(&l.Name, &l.Superuser, &l.BypassRLS, &l.Member); err != nil {
		return fmt.Errorf("database %q: reading the login role's attributes: %w", p.name, err)
	}
	p.login = l
	return nil
}

// majorVersion reads the major version from server_version ("15.8 (Debian
// 15.8-1)" → 15, "9.6.24" → 9); 0 when it cannot.
func majorVersion(v string) int {
	n := 0
	for _, r := range v {
		if r < '0' || r > '9' {
			break
		}
		n = n*10 + int(r-'0')
	}
	return n
}

// millis formats d as whole milliseconds for a PostgreSQL setting; a
// positive d below one millisecond rounds up (zero would disable it).
func millis(d time.Duration) string {
	ms := d.Milliseconds()
	if ms == 0 && d > 0 {
		ms = 1
	}
	return strconv.FormatInt(ms, 10)
}

// Name returns the name given to Connect.
func (p *Pool) Name() string { return p.name }

// ServerVersion returns the server's server_version as reported at Connect
// (for example "17.2 (Debian 17.2-1.pgdg120+1)").
func (p *Pool) ServerVersion() string { return p.serverVersion }

// ServerMajor returns the server's major version as reported at Connect
// (15 for PostgreSQL 15.8).
func (p *Pool) ServerMajor() int { return p.serverMajor }

// Database returns current_database() as it was at Connect.
func (p *Pool) Database() string { return p.database }

// Login returns the login role's attributes as they were at Connect.
func (p *Pool) Login() LoginRole { return p.login }

// Limits returns the pool's default limits, with every default filled in.
func (p *Pool) Limits() Limits { return p.limits }

// Ping acquires a connection (bounded by AcquireTimeout), runs an empty
// round trip and returns how long the round trip took. Readiness checks use
// [Pool.Probe], which takes nothing from the pool.
func (p *Pool) Ping(ctx context.Context) (time.Duration, error) {
	c, err := p.acquire(ctx, time.Now().Add(p.acquireTimeout))
	if err != nil {
		return 0, err
	}
	defer func() {
		p.released(c)
		c.Release()
	}()
	start := time.Now()
	if err := c.Ping(ctx); err != nil {
		return 0, p.dbError("ping", err)
	}
	return time.Since(start), nil
}

// Probe checks that the database answers, on the pool's control connection
// (one connection outside the pool, opened on demand and closed when idle):
// it takes no capacity from calls and is not fooled by a stale pooled
// connection. It returns the round trip's duration; the error says the
// database is unreachable and why. ctx bounds everything, connecting
// included.
func (p *Pool) Probe(ctx context.Context) (time.Duration, error) {
	if p.closed.Load() {
		return 0, p.closedError()
	}
	rtt, err := p.ctl.ping(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return 0, fmt.Errorf("database unreachable: no answer within the check's deadline: %w", context.Cause(ctx))
		}
		if _, ok := AsError(err); ok {
			return 0, fmt.Errorf("database %q answers but refused the check: %w", p.name, err)
		}
		return 0, fmt.Errorf("database unreachable: %w", err)
	}
	return rtt, nil
}

// Stats describes a pool at one moment, for readiness and metrics.
type Stats struct {
	MaxConns          int32 `json:"max_conns"`
	TotalConns        int32 `json:"total_conns"`
	IdleConns         int32 `json:"idle_conns"`
	AcquiredConns     int32 `json:"acquired_conns"`
	ConstructingConns int32 `json:"constructing_conns"`

	AcquireCount    int64         `json:"acquire_count"`
	AcquireDuration time.Duration `json:"acquire_duration_ns"` // total time spent waiting for connections
	// EmptyAcquires counts acquires that had to wait because no idle
	// connection was ready; EmptyAcquireWait is their total wait.
	EmptyAcquires    int64         `json:"empty_acquire_count"`
	EmptyAcquireWait time.Duration `json:"empty_acquire_wait_ns"`
	NewConns         int64         `json:"new_conns"`
	// Destroyed counts connections this package destroyed because they
	// might carry session state (cancelled, capped or discarded calls).
	Destroyed int64 `json:"destroyed"`
	// Exhausted counts acquires that gave up after AcquireTimeout.
	Exhausted int64 `json:"exhausted"`
	// ExpiredConns counts connections closed for their lifetime or idle time.
	ExpiredConns int64 `json:"expired_conns"`
	// Reaping is the number of connections given up on (a cancelled call
	// whose statement did not stop) still counted busy because their
	// backend has not exited yet; Reaped counts every such connection.
	Reaping int64 `json:"reaping"`
	Reaped  int64 `json:"reaped"`
	// Terminated counts backends ended with pg_terminate_backend after
	// ignoring their cancel request for the cancel grace period.
	Terminated int64 `json:"terminated"`
	// Retried counts calls run again on a fresh connection because the one
	// they were given had been closed by the server (before the statement
	// was sent).
	Retried int64 `json:"retried"`
	// Resets counts pool resets: every idle connection closed after the
	// server reported it was shutting sessions down (SQLSTATE 57P01-57P03).
	Resets int64 `json:"resets"`
	// KeptSessions counts calls whose connection went back to the pool
	// without a session reset (DISCARD ALL) because the rollback of their
	// read-only transaction already undid everything they could change
	// (see TxOptions.NoSessionState).
	KeptSessions int64 `json:"kept_sessions"`
}

// Stat returns the pool's current statistics.
func (p *Pool) Stat() Stats {
	s := p.pool.Stat()
	return Stats{
		MaxConns:          s.MaxConns(),
		TotalConns:        s.TotalConns(),
		IdleConns:         s.IdleConns(),
		AcquiredConns:     s.AcquiredConns(),
		ConstructingConns: s.ConstructingConns(),
		AcquireCount:      s.AcquireCount(),
		AcquireDuration:   s.AcquireDuration(),
		EmptyAcquires:     s.EmptyAcquireCount(),
		EmptyAcquireWait:  s.EmptyAcquireWaitTime(),
		NewConns:          s.NewConnsCount(),
		Destroyed:         p.destroyed.Load(),
		Exhausted:         p.exhausted.Load(),
		ExpiredConns:      s.MaxLifetimeDestroyCount() + s.MaxIdleDestroyCount(),
		Reaping:           p.reaping.Load(),
		Reaped:            p.reaped.Load(),
		Terminated:        p.terminated.Load(),
		Retried:           p.retried.Load(),
		Resets:            p.resets.Load(),
		KeptSessions:      p.keptSessions.Load(),
	}
}

// Close closes the pool: new calls fail with [ErrPoolClosed] at once;
// connections whose backend is being watched after a cancel get one last
// pg_terminate_backend and are let go; Close then waits for connections in
// use to be returned (calls end by their deadline), and closes them all. It
// is safe to call more than once.
func (p *Pool) Close() {
	p.closeOnce.Do(func() {
		p.closed.Store(true)
		p.stopReapers() // each makes one attempt bounded by cancelWait
		ctx, cancel := context.WithTimeout(context.Background(), cancelWait)
		p.ctl.shut(ctx)
		cancel()
		p.pool.Close()
	})
}

// TerminateInUse ends the backends of every connection in use
// (pg_terminate_backend on the control connection): at shutdown, once the
// grace period is over, statements that did not stop when their call was
// cancelled are ended for good. It returns how many it signalled.
func (p *Pool) TerminateInUse(ctx context.Context) (int, error) {
	p.inUseMu.Lock()
	pids := make([]int32, 0, len(p.inUse))
	for _, pid := range p.inUse {
		pids = append(pids, int32(pid))
	}
	p.inUseMu.Unlock()
	if len(pids) == 0 {
		return 0, nil
	}
	var n int
	err := p.ctl.use(ctx, func(ctx context.Context, conn *pgx.Conn) error {
		return conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pg_catalog.pg_terminate_backend(pid))
FROM pg_catalog.pg_stat_activity WHERE pid = ANY($1)`, pids).Scan(&n)
	})
	return n, err
}

// Prepare opens the control connection ahead of need when connections are
// in use, so that TerminateInUse at the end of a shutdown's grace period
// is one round trip. It returns when the connection is open or ctx ends.
func (p *Pool) Prepare(ctx context.Context) {
	p.inUseMu.Lock()
	n := len(p.inUse)
	p.inUseMu.Unlock()
	if n > 0 {
		_, _ = p.ctl.ping(ctx)
	}
}

// released forgets pc as in use.
func (p *Pool) released(pc *pgxpool.Conn) {
	p.inUseMu.Lock()
	delete(p.inUse, pc)
	p.inUseMu.Unlock()
}

// acquire takes a connection, waiting at most until by (the end of the
// call's acquire timeout).
func (p *Pool) acquire(ctx context.Context, by time.Time) (*pgxpool.Conn, error) {
	if p.closed.Load() {
		return nil, p.closedError()
	}
	actx, cancel := context.WithDeadlineCause(ctx, by, ErrPoolExhausted)
	defer cancel()
	c, err := p.pool.Acquire(actx)
	if err == nil {
		p.inUseMu.Lock()
		p.inUse[c] = c.Conn().PgConn().PID()
		p.inUseMu.Unlock()
		return c, nil
	}
	switch {
	case p.closed.Load():
		return nil, p.closedError()
	case ctx.Err() != nil:
		return nil, fmt.Errorf("database %q: waiting for a connection: %w", p.name, context.Cause(ctx))
	case errors.Is(context.Cause(actx), ErrPoolExhausted):
		if s := p.pool.Stat(); s.AcquiredConns() < p.maxConns {
			// Not every connection was busy: opening one did not finish
			// in time. Raising max_conns would not help.
			return nil, fmt.Errorf("database %q: database unreachable: no connection could be opened within %s (pool.acquire_timeout); "+
				"the server or the network to it is not answering", p.name, p.acquireTimeout)
		}
		p.exhausted.Add(1)
		return nil, fmt.Errorf("database %q: %w: all %d connections stayed busy for %s; retry in a moment, "+
			"or ask the operator to raise pool.max_conns or pool.acquire_timeout", p.name, ErrPoolExhausted, p.maxConns, p.acquireTimeout)
	}
	if _, ok := AsError(err); ok {
		return nil, fmt.Errorf("database %q: connecting: %w", p.name, err)
	}
	return nil, fmt.Errorf("database %q: database unreachable: %w", p.name, err)
}

func (p *Pool) closedError() error {
	return fmt.Errorf("database %q: %w (the server is shutting down); retry later", p.name, ErrPoolClosed)
}
