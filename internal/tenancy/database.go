package tenancy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgherd/pgherd/internal/access"
	"github.com/pgherd/pgherd/internal/auth"
	"github.com/pgherd/pgherd/internal/config"
	"github.com/pgherd/pgherd/internal/pg"
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

	own     *lazyPool            // nil when auth is database_login or only tenants have URIs
	tenants map[string]*lazyPool // tenants with their own database_uri; fixed after Open

	// base ends when the database closes: connect attempts stop.
	base       context.Context
	stop       context.CancelFunc
	connecting sync.WaitGroup

	mu    sync.Mutex
	slots map[slotKey]*slot // live entries only: removed when unused
	// warnings are the privileged logins allow_privileged_role let in.
	warnings []string
}

// OpenOptions configure [Open].
type OpenOptions struct {
	// Degraded keeps a database that cannot be reached: Open returns it
	// (Check reports it not ready) and calls connect it on use.
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

// Open connects the endpoint's pools (in parallel) and checks each reached
// the configured database. Errors name the endpoint and never the password.
// It is [New] and [Database.Connect].
func Open(ctx context.Context, ep *config.Endpoint, opts OpenOptions) (*Database, error) {
	d := New(ctx, ep, opts)
	if err := d.Connect(ctx, opts.Degraded); err != nil {
		return nil, err
	}
	return d, nil
}

// New makes the endpoint's database with its pools not yet connected:
// what start-up builds the MCP servers with while [Database.Connect] runs.
// Calls connect a pool on first use.
func New(ctx context.Context, ep *config.Endpoint, opts OpenOptions) *Database {
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
		tenants:  make(map[string]*lazyPool),
		slots:    make(map[slotKey]*slot),
	}
	d.opts.Logger = d.logger
	d.opts.Tracer = opts.Tracer
	d.base, d.stop = context.WithCancel(context.WithoutCancel(ctx))
	if ep.DatabaseURI != "" && !d.login {
		d.own = &lazyPool{name: ep.Name, who: "its login role", uri: ep.DatabaseURI, opts: d.opts}
	}
	for name, t := range ep.Tenants {
		if t.DatabaseURI != "" {
			d.tenants[name] = &lazyPool{name: ep.Name + "/" + name, who: "tenant " + name + "'s login role", uri: t.DatabaseURI, opts: d.opts}
		}
	}
	return d
}

// Connect connects every pool of a database from [New], in parallel, and
// checks each. When one fails it closes the database and returns the
// error, unless degraded: then it logs the error and the pool connects on
// use.
func (d *Database) Connect(ctx context.Context, degraded bool) error {
	err := d.connectAll(ctx)
	if err != nil && !degraded {
		d.Close()
		return err
	}
	if err != nil {
		d.logger.Warn("endpoint starts degraded", "error", err)
	}
	return nil
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
		CancelGrace:     ep.Limits.CancelGrace.D(),
		Limits:          Limits(ep),
		SearchPath:      searchPath(ep),
	}
}

// searchPath is the search_path a pool's connections start with: public in
// the user modes, whose every call sets it anyway (so no call needs to set
// it again), the server's default otherwise.
func searchPath(ep *config.Endpoint) string {
	if ep.AccessMode.PublicOnly() {
		return "public"
	}
	return ""
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

// pools lists every pool of the database, the endpoint's own first, then
// the tenants' by name.
func (d *Database) pools() []*lazyPool {
	out := make([]*lazyPool, 0, 1+len(d.tenants))
	if d.own != nil {
		out = append(out, d.own)
	}
	names := make([]string, 0, len(d.tenants))
	for name := range d.tenants {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		out = append(out, d.tenants[name])
	}
	return out
}

// connectAll connects every pool, in parallel, and reports every failure.
func (d *Database) connectAll(ctx context.Context) error {
	pools := d.pools()
	errs := make([]error, len(pools))
	var wg sync.WaitGroup
	for i, lp := range pools {
		wg.Go(func() {
			if _, err := lp.get(ctx, d); err != nil {
				errs[i] = err
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("endpoint %s: %w", d.Name, err)
	}
	return nil
}

// admit applies CheckLogin to a newly connected pool: it returns the
// refusal (the caller closes the pool), or records and logs the warning.
func (d *Database) admit(p *pg.Pool, who string) error {
	warning, err := CheckLogin(d.cfg, who, p.Login())
	if err != nil || warning == "" {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !slices.Contains(d.warnings, warning) {
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
// identity filled in; and a concurrency slot. Waiting for the slot and for a
// connection share the pool's acquire timeout, counted from now.
func (d *Database) Resolve(ctx context.Context, p *auth.Principal) (*Handle, error) {
	start := time.Now()
	if p == nil {
		p = d.fallback
	}
	tx := pg.TxOptions{ReadOnly: d.mode.ReadOnly(), PublicOnly: d.mode.PublicOnly(), Limits: d.opts.Limits, Start: start}
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
	l, err := d.acquireSlot(ctx, slotKey{pool, tenant}, start.Add(pool.AcquireTimeout()))
	if err != nil {
		return nil, err
	}
	tx.Hold = l.hold
	return &Handle{Pool: pool, Tx: tx, Release: l.ref()}, nil
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
			return d.connected(ctx, d.tenants[p.Tenant])
		}
		tx.Role = t.Role
	}
	if d.own == nil {
		return nil, fmt.Errorf("endpoint %s has no database connection for this caller", d.Name)
	}
	return d.connected(ctx, d.own)
}

// connected returns lp's pool, connecting it when needed, with an error
// that says the database is unavailable.
func (d *Database) connected(ctx context.Context, lp *lazyPool) (*pg.Pool, error) {
	pool, err := lp.get(ctx, d)
	if err != nil {
		return nil, fmt.Errorf("database unavailable: %w", err)
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

// DefaultPool names the endpoint's own pool in [Database.Pools].
const DefaultPool = "default"

// Pools returns the database's connected pools by name: [DefaultPool] for
// the endpoint's own, the tenant's name for a tenant with its own
// database_uri. The per-credential pools of auth mode database_login are
// not listed.
func (d *Database) Pools() map[string]*pg.Pool {
	out := make(map[string]*pg.Pool, 1+len(d.tenants))
	if d.own != nil {
		if p := d.own.current(); p != nil {
			out[DefaultPool] = p
		}
	}
	for name, lp := range d.tenants {
		if p := lp.current(); p != nil {
			out[name] = p
		}
	}
	return out
}

// Stats returns the statistics of every connected pool, by pool name (the
// endpoint name, or endpoint/tenant), for metrics.
func (d *Database) Stats() map[string]pg.Stats {
	out := make(map[string]pg.Stats)
	for _, lp := range d.pools() {
		if p := lp.current(); p != nil {
			out[lp.name] = p.Stat()
		}
	}
	return out
}

// Close stops connect attempts in progress and closes every pool, waiting
// for calls in progress to return their connections (they end by their
// deadline).
func (d *Database) Close() {
	d.stop()
	var wg sync.WaitGroup
	for _, lp := range d.pools() {
		wg.Go(lp.close)
	}
	wg.Wait()
	d.connecting.Wait()
}

// Prepare gets every connected pool ready to end its calls' backends
// quickly (pg.Pool.Prepare), until ctx ends.
func (d *Database) Prepare(ctx context.Context) {
	var wg sync.WaitGroup
	for _, lp := range d.pools() {
		if p := lp.current(); p != nil {
			wg.Go(func() { p.Prepare(ctx) })
		}
	}
	wg.Wait()
}

// TerminateRunning ends the backends of every call still using one of the
// database's pools (pg.Pool.TerminateInUse): shutdown does this once the
// grace period is over. It returns how many backends it signalled.
func (d *Database) TerminateRunning(ctx context.Context) int {
	n := 0
	for _, lp := range d.pools() {
		if p := lp.current(); p != nil {
			k, err := p.TerminateInUse(ctx)
			if err != nil {
				d.logger.Warn("could not end the backends of cut calls", "database", lp.name, "error", err)
			}
			n += k
		}
	}
	return n
}
