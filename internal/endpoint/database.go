package endpoint

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgherd/pgherd/internal/access"
	"github.com/pgherd/pgherd/internal/auth"
	"github.com/pgherd/pgherd/internal/config"
	"github.com/pgherd/pgherd/internal/httpserver"
	"github.com/pgherd/pgherd/internal/observe"
	"github.com/pgherd/pgherd/internal/pg"
	"github.com/pgherd/pgherd/internal/tools/dbtools"
)

// Database is one configured database: its pools (the endpoint's own and one
// per tenant with its own credentials) and the rules that map a caller to
// one of them. It is safe for concurrent use.
type Database struct {
	Name string
	cfg  *config.Endpoint
	mode access.Mode
	opts pg.PoolOptions
	// fallback is the identity of calls with no authenticated caller (stdio,
	// auth mode none): the configured anonymous identity, or nil.
	fallback *auth.Principal
	login    bool
	logger   *slog.Logger

	mu      sync.Mutex
	pool    *pg.Pool            // nil until connected (degraded start) or when only tenants have URIs
	tenants map[string]*pg.Pool // tenants with their own database_uri
	slots   map[slotKey]*slot   // live entries only: removed when unused
	lastErr error
	// warnings are the privileged logins allow_privileged_role let in.
	warnings []string
}

// OpenOptions configure [Open].
type OpenOptions struct {
	// Degraded keeps a database that cannot be reached: Open returns it with
	// the error recorded (reported by Check) and retries on use.
	Degraded bool
	Fallback *auth.Principal
	// DatabaseLogin: callers bring their own PostgreSQL credentials (auth
	// mode database_login), so the endpoint opens no pool of its own.
	DatabaseLogin bool
	// Tracer sees the database round trips of every pool (see
	// pg.PoolOptions.Tracer); nil: none.
	Tracer pgx.QueryTracer
	Logger *slog.Logger
}

// Open connects the endpoint's pools and checks each reached the configured
// database. Errors name the endpoint and never the password.
func Open(ctx context.Context, ep *config.Endpoint, opts OpenOptions) (*Database, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := &Database{
		Name:     ep.Name,
		cfg:      ep,
		mode:     ep.AccessMode,
		opts:     PoolOptions(ep),
		fallback: opts.Fallback,
		login:    opts.DatabaseLogin,
		logger:   logger.With("endpoint", ep.Name),
		tenants:  make(map[string]*pg.Pool),
		slots:    make(map[slotKey]*slot),
	}
	d.opts.Tracer = opts.Tracer
	err := d.connect(ctx)
	if err != nil && !opts.Degraded {
		d.Close()
		return nil, err
	}
	if err != nil {
		d.logger.Warn("endpoint starts degraded", "error", err)
	}
	return d, nil
}

// PoolOptions translates an endpoint's pool and limit settings.
func PoolOptions(ep *config.Endpoint) pg.PoolOptions {
	return pg.PoolOptions{
		MaxConns:        ep.Pool.MaxConns,
		MinConns:        ep.Pool.MinConns,
		AcquireTimeout:  ep.Pool.AcquireTimeout.D(),
		MaxConnLifetime: ep.Pool.MaxConnLifetime.D(),
		MaxConnIdleTime: ep.Pool.MaxConnIdleTime.D(),
		ApplicationName: "pgherd/" + ep.Name,
		Limits:          Limits(ep),
	}
}

// Limits translates an endpoint's limits.
func Limits(ep *config.Endpoint) pg.Limits {
	return pg.Limits{
		StatementTimeout:         ep.Limits.StatementTimeout.D(),
		LockTimeout:              ep.Limits.LockTimeout.D(),
		IdleInTransactionTimeout: ep.Limits.IdleInTransactionTimeout.D(),
		MaxRows:                  ep.Limits.MaxRows,
		MaxResultBytes:           ep.Limits.MaxResultBytes,
	}
}

// connect opens every pool not yet open. Called at start and, after a
// degraded start, on use.
func (d *Database) connect(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var errs []error
	if d.pool == nil && d.cfg.DatabaseURI != "" && !d.loginMode() {
		p, err := pg.Connect(ctx, d.Name, d.cfg.DatabaseURI.Reveal(), d.opts)
		if err == nil {
			err = d.admit(p, "its login role")
		}
		if err != nil {
			errs = append(errs, err)
		} else {
			d.pool = p
		}
	}
	names := make([]string, 0, len(d.cfg.Tenants))
	for name := range d.cfg.Tenants {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t := d.cfg.Tenants[name]
		if t.DatabaseURI == "" || d.tenants[name] != nil {
			continue
		}
		p, err := pg.Connect(ctx, d.Name+"/"+name, t.DatabaseURI.Reveal(), d.opts)
		if err == nil {
			err = d.admit(p, "tenant "+name+"'s login role")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("tenant %s: %w", name, err))
			continue
		}
		d.tenants[name] = p
	}
	d.lastErr = errors.Join(errs...)
	if d.lastErr != nil {
		return fmt.Errorf("endpoint %s: %w", d.Name, d.lastErr)
	}
	return nil
}

func (d *Database) loginMode() bool { return d.login }

// admit applies CheckLogin to a new pool: it closes the pool and returns
// the refusal, or records and logs the warning. d.mu is held.
func (d *Database) admit(p *pg.Pool, who string) error {
	warning, err := CheckLogin(d.cfg, who, p.Login())
	if err != nil {
		p.Close()
		return err
	}
	if warning != "" && !slices.Contains(d.warnings, warning) {
		d.warnings = append(d.warnings, warning)
		d.logger.Warn("privileged login role", "warning", warning)
	}
	return nil
}

// Warnings lists what allow_privileged_role let the endpoint start with
// (privileged login roles), for get_server_info.
func (d *Database) Warnings() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.warnings...)
}

// Mode is the endpoint's access mode.
func (d *Database) Mode() access.Mode { return d.mode }

// Config is the endpoint's configuration.
func (d *Database) Config() *config.Endpoint { return d.cfg }

// Resolve returns the handle a call by p (nil: no authenticated caller) uses:
// the tenant's own pool, or the endpoint's pool with the tenant's role; the
// mode's transaction options; the tenant settings with the caller's verified
// identity filled in; and a concurrency slot.
func (d *Database) Resolve(ctx context.Context, p *auth.Principal) (*dbtools.Handle, error) {
	if p == nil {
		p = d.fallback
	}
	tx := pg.TxOptions{ReadOnly: d.mode.ReadOnly(), PublicOnly: d.mode.PublicOnly(), Limits: d.opts.Limits}
	pool, err := d.poolFor(ctx, p, &tx)
	if err != nil {
		return nil, err
	}
	if len(d.cfg.TenantSettings) > 0 {
		if p == nil {
			return nil, fmt.Errorf("endpoint %s sets tenant settings from the caller's identity, and this call has none; authenticate, or configure auth.anonymous", d.Name)
		}
		tx.Settings = settings(d.cfg.TenantSettings, p)
	}
	tenant := ""
	if p != nil {
		tenant = p.Tenant
	}
	release, err := d.acquireSlot(ctx, slotKey{pool, tenant})
	if err != nil {
		return nil, err
	}
	return &dbtools.Handle{Pool: pool, Tx: tx, Release: release}, nil
}

func (d *Database) poolFor(ctx context.Context, p *auth.Principal, tx *pg.TxOptions) (*pg.Pool, error) {
	if p != nil && p.Login != nil {
		// A login is verified against one endpoint's database; through
		// tools composed into /mcp it must not reach another's.
		if p.Login.Endpoint != d.Name {
			return nil, fmt.Errorf("your database login was verified for endpoint %s, not %s; connect to /%s/mcp", p.Login.Endpoint, d.Name, d.Name)
		}
		return p.Login.Pool, nil
	}
	if d.login {
		return nil, fmt.Errorf("endpoint %s needs PostgreSQL credentials: send Authorization: Basic with your database user and password", d.Name)
	}
	if len(d.cfg.Tenants) > 0 {
		if p == nil || p.Tenant == "" {
			return nil, fmt.Errorf("endpoint %s maps each tenant to its own database identity, and this call has no tenant; authenticate with a key or token that names one", d.Name)
		}
		t, ok := d.cfg.Tenants[p.Tenant]
		if !ok {
			return nil, fmt.Errorf("tenant %q has no database identity on endpoint %s; ask the operator to add endpoints.%s.tenants.%s", p.Tenant, d.Name, d.Name, p.Tenant)
		}
		if t.DatabaseURI != "" {
			d.mu.Lock()
			pool := d.tenants[p.Tenant]
			d.mu.Unlock()
			if pool == nil {
				if err := d.connect(ctx); err != nil {
					return nil, fmt.Errorf("database unavailable: %w", err)
				}
				d.mu.Lock()
				pool = d.tenants[p.Tenant]
				d.mu.Unlock()
			}
			return pool, nil
		}
		tx.Role = t.Role
	}
	d.mu.Lock()
	pool := d.pool
	d.mu.Unlock()
	if pool == nil {
		if err := d.connect(ctx); err != nil {
			return nil, fmt.Errorf("database unavailable: %w", err)
		}
		d.mu.Lock()
		pool = d.pool
		d.mu.Unlock()
		if pool == nil {
			return nil, fmt.Errorf("endpoint %s has no database connection for this caller", d.Name)
		}
	}
	return pool, nil
}

// settings fills the caller's verified identity into the configured tenant
// settings, in a stable order.
func settings(cfg map[string]string, p *auth.Principal) []pg.Setting {
	names := make([]string, 0, len(cfg))
	for n := range cfg {
		names = append(names, n)
	}
	sort.Strings(names)
	r := strings.NewReplacer("{tenant}", p.Tenant, "{user}", p.User)
	out := make([]pg.Setting, len(names))
	for i, n := range names {
		out[i] = pg.Setting{Name: n, Value: r.Replace(cfg[n])}
	}
	return out
}

// slotKey names one concurrency budget: a tenant on a pool.
type slotKey struct {
	pool   *pg.Pool
	tenant string
}

// slot is a budget of concurrent calls and how many callers hold or wait
// for it.
type slot struct {
	ch    chan struct{}
	users int
}

// acquireSlot bounds concurrent calls per tenant and pool
// (limits.max_concurrent_calls): go-sdk runs a session's calls concurrently
// without limit, and on a pool shared by tenants (tenant_settings, roles) one
// busy tenant must not take every connection. Waiting is bounded by the
// pool's acquire timeout. Budgets exist only while in use, so tenants named
// by tokens cannot grow the map without bound.
func (d *Database) acquireSlot(ctx context.Context, key slotKey) (func(), error) {
	d.mu.Lock()
	sl := d.slots[key]
	if sl == nil {
		n := d.cfg.Limits.MaxConcurrentCalls
		if n <= 0 {
			n = int(d.cfg.Pool.MaxConns)
		}
		sl = &slot{ch: make(chan struct{}, n)}
		d.slots[key] = sl
	}
	sl.users++
	d.mu.Unlock()
	leave := func() {
		d.mu.Lock()
		if sl.users--; sl.users == 0 {
			delete(d.slots, key)
		}
		d.mu.Unlock()
	}
	release := func() func() {
		var once sync.Once
		return func() {
			once.Do(func() {
				<-sl.ch
				leave()
			})
		}
	}
	select {
	case sl.ch <- struct{}{}:
		return release(), nil
	default:
	}
	// Every slot is taken: wait, and say so in the call's record.
	call := observe.CallFrom(ctx)
	start := time.Now()
	wait := d.opts.AcquireTimeout
	if wait <= 0 {
		wait = 5 * time.Second
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case sl.ch <- struct{}{}:
		call.AddSlotWait(time.Since(start), false)
		return release(), nil
	case <-ctx.Done():
		call.AddSlotWait(time.Since(start), false)
		leave()
		return nil, ctx.Err()
	case <-timer.C:
		call.AddSlotWait(time.Since(start), true)
		leave()
		who := "calls"
		if key.tenant != "" {
			who = "calls of tenant " + key.tenant
		}
		return nil, fmt.Errorf("endpoint %s is busy: %d %s already running (limits.max_concurrent_calls); retry shortly", d.Name, cap(sl.ch), who)
	}
}

// DefaultPool names the endpoint's own pool in [Database.Pools].
const DefaultPool = "default"

// Pools returns the database's open pools by name: [DefaultPool] for the
// endpoint's own, the tenant's name for a tenant with its own
// database_uri. The per-credential pools of auth mode database_login are
// not listed.
func (d *Database) Pools() map[string]*pg.Pool {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]*pg.Pool, 1+len(d.tenants))
	if d.pool != nil {
		out[DefaultPool] = d.pool
	}
	for name, p := range d.tenants {
		out[name] = p
	}
	return out
}

// Check pings the database (every pool) and reports its state.
func (d *Database) Check(ctx context.Context) httpserver.Status {
	start := time.Now()
	if d.loginMode() {
		return d.checkReachable(ctx, start)
	}
	d.mu.Lock()
	missing := (d.pool == nil && d.cfg.DatabaseURI != "") || len(d.tenants) < d.tenantURIs()
	d.mu.Unlock()
	if missing {
		if err := d.connect(ctx); err != nil {
			return httpserver.Status{Error: pg.PublicText(err), LatencyMS: ms(time.Since(start))}
		}
	}
	d.mu.Lock()
	pools := make([]*pg.Pool, 0, 1+len(d.tenants))
	if d.pool != nil {
		pools = append(pools, d.pool)
	}
	for _, p := range d.tenants {
		pools = append(pools, p)
	}
	d.mu.Unlock()
	for _, p := range pools {
		if _, err := p.Ping(ctx); err != nil {
			return httpserver.Status{Error: pg.PublicText(err), LatencyMS: ms(time.Since(start))}
		}
	}
	return httpserver.Status{Ready: true, LatencyMS: ms(time.Since(start))}
}

func (d *Database) tenantURIs() int {
	n := 0
	for _, t := range d.cfg.Tenants {
		if t.DatabaseURI != "" {
			n++
		}
	}
	return n
}

// checkReachable reports whether the server of a database_login endpoint
// answers: with no credentials of its own, an authentication failure proves
// the server is up.
func (d *Database) checkReachable(ctx context.Context, start time.Time) httpserver.Status {
	u, err := url.Parse(d.cfg.DatabaseURI.Reveal())
	if err != nil {
		return httpserver.Status{Error: "database_uri does not parse"}
	}
	u.User = url.UserPassword("pgherd_readiness_probe", "x")
	conn, err := pgconn.Connect(ctx, u.String())
	if err == nil {
		conn.Close(ctx)
		return httpserver.Status{Ready: true, LatencyMS: ms(time.Since(start))}
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && strings.HasPrefix(pe.Code, "28") {
		return httpserver.Status{Ready: true, LatencyMS: ms(time.Since(start))}
	}
	return httpserver.Status{Error: pg.PublicText(err), LatencyMS: ms(time.Since(start))}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Close closes every pool, waiting for calls in progress to return their
// connections.
func (d *Database) Close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.pool != nil {
		d.pool.Close()
		d.pool = nil
	}
	for name, p := range d.tenants {
		p.Close()
		delete(d.tenants, name)
	}
}
