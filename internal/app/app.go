// Package app assembles a running pgherd from a config.Config: databases,
// MCP servers, authentication and the HTTP server; it owns the start-up
// order and graceful shutdown, and runs one endpoint over stdio.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/auth"
	"github.com/pgherd/pgherd/internal/config"
	"github.com/pgherd/pgherd/internal/console"
	"github.com/pgherd/pgherd/internal/dbhealth"
	"github.com/pgherd/pgherd/internal/endpoint"
	"github.com/pgherd/pgherd/internal/gate"
	"github.com/pgherd/pgherd/internal/httpserver"
	"github.com/pgherd/pgherd/internal/observe"
	"github.com/pgherd/pgherd/internal/observe/audit"
	"github.com/pgherd/pgherd/internal/observe/metrics"
	"github.com/pgherd/pgherd/internal/pg"
	"github.com/pgherd/pgherd/internal/ratelimit"
	"github.com/pgherd/pgherd/internal/tenancy"
	"github.com/pgherd/pgherd/internal/tools/admintools"
)

// Options configure [New].
type Options struct {
	Version string
	Logger  *slog.Logger // nil discards
	// Extend, if set, runs once the MCP servers are built and before any of
	// them serves: it may register more tools, resources or prompts on them
	// (the conformance tests' fixture does). What a server declares follows
	// what is registered on it by then.
	Extend func(*endpoint.Herd)
	// ServerOptions, if set, may change each MCP server's options before
	// the server is created (see endpoint.Options.ServerOptions): what
	// Extend cannot add later, such as a resource subscription handler. For
	// tests (the conformance fixture).
	ServerOptions func(node string, opts *mcp.ServerOptions)
	// RateLimitEvents receives rate-limit refusals and limiter (Redis)
	// failures, for metrics; its fields may be nil.
	RateLimitEvents ratelimit.Events
}

// App is an assembled pgherd: every database connected, every MCP server
// built. Serve it over HTTP or run one endpoint over stdio.
type App struct {
	cfg     *config.Config
	logger  *slog.Logger
	version string
	started time.Time
	// health keeps each endpoint's latest health summary across reloads.
	health *dbhealth.Cache
	herd   *endpoint.Herd

	limiter      ratelimit.Limiter // outlives reloads: buckets keep their tokens
	closeLimiter func()
	rateLimit    *ratelimit.Guard

	hub      *observe.Hub     // every observer of calls, requests, round trips
	metrics  *metrics.Metrics // nil when server.metrics is off
	audit    *audit.Sink      // nil when audit is off
	metricsL net.Listener     // server.metrics.listen, bound by Listen

	live        *console.Live    // the console's observer of calls (HTTP only)
	console     *console.Console // nil until a configuration turns the console on
	consoleOnce sync.Once
	mainPolicy  atomic.Pointer[auth.Policy] // the server-wide policy in effect: console sign-in

	// activity counts the MCP requests of every generation (idle.go).
	activity atomic.Uint64

	mu      sync.Mutex         // guards srv and closers
	srv     *httpserver.Server // set by Serve: owns the listener
	cur     *httpserver.Server // the generation serving requests (srv, or the last reload's)
	closers map[string]func()  // per mount: the authenticator's Close (database_login pools, JWKS refresh)

	// herd and cfg change on a generation reload: read them under mu
	// ([App.current]) once Serve runs.
	reloadMu sync.Mutex // one reload at a time
	extend   func(*endpoint.Herd)
	options  func(node string, opts *mcp.ServerOptions)
	rlEvents ratelimit.Events

	closeOnce sync.Once
}

// New connects every database (failing start-up on the first one that does
// not answer, unless server.start_degraded) and builds the MCP servers.
// On error everything opened so far is closed.
func New(ctx context.Context, cfg *config.Config, opts Options) (_ *App, err error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	a := &App{cfg: cfg, logger: logger, version: opts.Version, started: time.Now(), health: &dbhealth.Cache{}, closers: make(map[string]func()),
		extend: opts.Extend, options: opts.ServerOptions}
	if err := a.observers(ctx, cfg); err != nil {
		return nil, err
	}
	a.limiter, a.closeLimiter, err = newLimiter(ctx, cfg.Server.RateLimit, logger)
	if err != nil {
		a.closeObservers()
		return nil, err
	}
	a.rlEvents = a.rateLimitEvents(opts.RateLimitEvents)
	a.rateLimit = rateGuard(cfg, a.limiter, a.rlEvents, logger)
	dbs := make(map[string]*tenancy.Database)
	defer func() {
		if err != nil {
			for _, db := range dbs {
				db.Close()
			}
			a.closeLimiter()
			a.closeObservers()
		}
	}()

	// Start-up time is the slowest database, not the sum: every endpoint
	// connects in parallel, and the MCP servers are built meanwhile (they
	// need the databases, not their connections). New returns once every
	// database connected, as before.
	for _, name := range cfg.Names() {
		ep := cfg.Endpoints[name]
		authCfg := cfg.EffectiveAuth(name)
		dbs[name] = tenancy.New(ctx, ep, tenancy.OpenOptions{
			Fallback:      fallback(authCfg),
			DatabaseLogin: authCfg != nil && authCfg.Mode == config.AuthDatabaseLogin,
			Tracer:        a.hub.DBTracer(),
			Logger:        logger,
		})
	}
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	for _, name := range cfg.Names() {
		db, ep := dbs[name], cfg.Endpoints[name]
		wg.Go(func() {
			if err := db.Connect(ctx, cfg.Server.StartDegraded); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				return
			}
			logger.Info("endpoint connected", "endpoint", name, "access_mode", ep.AccessMode, "served", ep.Served())
		})
	}
	a.herd = endpoint.Build(endpoint.Options{
		Config:    cfg,
		Databases: dbs,
		Admin:     admintools.Options{Started: a.started, HealthCache: a.health},
		Version:   opts.Version,
		Observe:   a.hub,
		Logger:    logger,
		RateLimit: a.rateLimit,

		ServerOptions: opts.ServerOptions,
	})
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("connecting databases: %w", err)
	}
	if opts.Extend != nil {
		opts.Extend(a.herd)
	}
	return a, nil
}

// fallback is the identity of calls without an authenticated caller.
func fallback(a *config.Auth) *auth.Principal {
	if a == nil || a.Anonymous == nil {
		return nil
	}
	return auth.FromIdentity(a.Anonymous, "anonymous")
}

// Herd returns the MCP servers (tests and stdio).
func (a *App) Herd() *endpoint.Herd {
	_, h := a.current()
	return h
}

// current returns the configuration and MCP servers in effect.
func (a *App) current() (*config.Config, *endpoint.Herd) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cfg, a.herd
}

// Close closes every database and authenticator. Safe to call twice. It
// waits at most closeWait for the pools: calls still holding connections
// were cut by then, and a pool that does not close in time is left to the
// process's exit (and logged).
func (a *App) Close() {
	a.closeOnce.Do(func() {
		a.mu.Lock()
		closers := a.closers
		a.closers = nil
		herd := a.herd
		a.mu.Unlock()
		for _, c := range closers {
			c()
		}
		ctx, cancel := context.WithTimeout(context.Background(), closeWait)
		defer cancel()
		if !herd.Close(ctx) {
			a.logger.Warn("database pools still closing at exit; connections in use are dropped with the process", "waited", closeWait)
		}
		a.closeLimiter()
		if a.metricsL != nil {
			a.metricsL.Close()
		}
		a.closeObservers()
	})
}

// Shutdown bounds after the grace period: cutting what still runs (cancel
// the handlers, terminate their backends, let them return) takes at most
// cutWait, closing the pools at most closeWait, so the process ends within
// server.shutdown_timeout + 1 s.
const (
	cutWait   = 400 * time.Millisecond
	closeWait = 300 * time.Millisecond
)

// ShutdownError says what a shutdown cut because it was still running when
// server.shutdown_timeout passed. The process exits non-zero with it.
type ShutdownError struct {
	Grace    time.Duration
	Calls    []string // the MCP requests cancelled, oldest first
	Backends int      // database backends terminated
}

func (e *ShutdownError) Error() string {
	return fmt.Sprintf("shutdown cut %d request(s) still running after server.shutdown_timeout (%s) and terminated %d database backend(s): %s",
		len(e.Calls), e.Grace, e.Backends, strings.Join(e.Calls, "; "))
}

// drain waits until herd handles no MCP request, at most grace; then
// it cuts what is left and returns what it cut (nil when everything
// drained). extra is waited for too (HTTP exchanges still writing).
func (a *App) drain(ctx context.Context, herd *endpoint.Herd, grace time.Duration, extra func(context.Context) error) *ShutdownError {
	gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	// Meanwhile, open what a cut would need (the pools' control
	// connections), so that cutting is one round trip.
	prepared := make(chan struct{})
	go func() {
		defer close(prepared)
		if herd.InFlight() > 0 {
			herd.Prepare(gctx)
		}
	}()
	err := herd.Wait(gctx)
	if err == nil && extra != nil {
		err = extra(gctx)
	}
	cancel()
	<-prepared
	if err == nil {
		return nil
	}
	e := &ShutdownError{Grace: grace, Calls: herd.Cut()}
	cctx, cancelCut := context.WithTimeout(context.Background(), cutWait)
	defer cancelCut()
	e.Backends = herd.TerminateRunning(cctx)
	_ = herd.Wait(cctx) // cancelled handlers return their connections
	a.logger.Error("shutdown cut requests still running after the grace period",
		"grace_period", grace, "requests", e.Calls, "backends_terminated", e.Backends)
	return e
}

// RunStdio serves one endpoint ("main" for /mcp with its composed tools)
// over in/out until in reaches EOF or ctx ends. Nothing but JSON-RPC is
// written to out.
func (a *App) RunStdio(ctx context.Context, name string, in io.ReadCloser, out io.WriteCloser) error {
	_, herd := a.current()
	var server *mcp.Server
	for n := range herd.Nodes() {
		if n.Name == name {
			server = n.Server
		}
	}
	if server == nil {
		var names []string
		for n := range herd.Nodes() {
			names = append(names, n.Name)
		}
		return fmt.Errorf("no endpoint %q is served on its own; choose one of: %s (composed databases are in main)", name, strings.Join(names, ", "))
	}
	if a.audit != nil && a.cfg.Audit.ToStdout() {
		return errors.New("audit.stdout cannot be used with the stdio transport: stdout carries JSON-RPC; set audit.path to a file instead")
	}
	ml, err := a.listenMetrics()
	if err != nil {
		return err
	}
	if ml != nil {
		mctx, cancel := context.WithCancel(ctx)
		defer cancel()
		defer a.serveMetrics(mctx, ml)()
	}
	a.logger.Info("serving stdio", "endpoint", name)
	w := newStdio(out)
	// The session runs on its own context: a signal first lets calls in
	// flight finish (server.shutdown_timeout), then ends the session.
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	done := make(chan error, 1)
	go func() {
		done <- server.Run(runCtx, gate.Transport(&mcp.IOTransport{Reader: w.filter(in), Writer: w, MaxLineLength: -1}))
	}()
	var cut *ShutdownError
	select {
	case err = <-done:
	case <-ctx.Done():
		grace := a.cfg.Server.ShutdownTimeout.D()
		a.logger.Info("shutting down", "grace_period", grace, "in_flight", herd.InFlight())
		cut = a.drain(ctx, herd, grace, nil)
		stop()
		err = <-done
	}
	if cut != nil {
		return cut
	}
	if err != nil && (errors.Is(err, io.EOF) || errors.Is(err, context.Canceled) || ctx.Err() != nil) {
		return nil
	}
	return err
}

// Listen binds server.host:server.port, and server.metrics.listen when
// set (Serve serves it). A port already in use fails here, before anything
// is served.
func (a *App) Listen() (net.Listener, error) {
	l, err := net.Listen("tcp", a.cfg.Listen())
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w; choose another server.port (or HTTP_PORT)", a.cfg.Listen(), err)
	}
	ml, err := a.listenMetrics()
	if err != nil {
		l.Close()
		return nil, err
	}
	a.mu.Lock()
	a.metricsL = ml
	a.mu.Unlock()
	return l, nil
}

// MetricsAddr returns the address of the separate metrics listener bound by
// Listen, or nil when the metrics are served on the main listener (or off).
func (a *App) MetricsAddr() net.Addr {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.metricsL == nil {
		return nil
	}
	return a.metricsL.Addr()
}

// Serve serves HTTP on l until ctx ends, then shuts down gracefully: /ready
// turns 503, the listener closes, in-flight calls get up to
// server.shutdown_timeout to finish, sessions close. It returns nil after a
// clean shutdown, and a *[ShutdownError] when calls still running at the
// end of the grace period had to be cut (their contexts cancelled, their
// database backends terminated).
func (a *App) Serve(ctx context.Context, l net.Listener) error {
	srv, err := a.httpServer(l.Addr())
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.srv, a.cur = srv, srv
	a.mu.Unlock()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(l) }()
	idle := time.NewTicker(idleRelease)
	defer idle.Stop()
	defer releaseWhenIdle(a.activity.Load, idle.C, debug.FreeOSMemory)()
	a.logger.Info("serving http", "addr", l.Addr().String(), "session_mode", a.cfg.Server.SessionMode,
		"metrics", a.cfg.Server.Metrics.String())
	a.mu.Lock()
	ml := a.metricsL
	a.mu.Unlock()
	if ml != nil {
		// Metrics stay up through the shutdown's grace period: they stop
		// when Serve returns.
		mctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		defer cancel()
		defer a.serveMetrics(mctx, ml)()
	} else if a.metrics != nil && !isLoopback(a.cfg.Server.Host) && a.cfg.Server.Metrics.Auth == nil {
		a.logger.Warn("metrics are readable without authentication on a non-loopback address; set server.metrics.auth, or serve them on server.metrics.listen",
			"addr", l.Addr().String(), "path", a.cfg.Server.Metrics.Path)
	}

	select {
	case err := <-serveErr:
		return fmt.Errorf("serving http: %w", err)
	case <-ctx.Done():
	}

	a.reloadMu.Lock() // no generation swap during shutdown
	defer a.reloadMu.Unlock()
	a.mu.Lock()
	cfg, herd, cur := a.cfg, a.herd, a.cur
	a.mu.Unlock()
	grace := cfg.Server.ShutdownTimeout.D()
	a.logger.Info("shutting down", "grace_period", grace, "in_flight", herd.InFlight())
	sctx, cancel := context.WithTimeoutCause(context.WithoutCancel(ctx), grace, errors.New("shutdown grace period over"))
	defer cancel()

	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(sctx) }()
	// In-flight calls finish first; then sessions close, which ends the
	// long-lived event streams http.Server.Shutdown would wait for.
	// In stateful mode a call's response travels on its POST, which ends
	// only after the response is written: wait for those too. What still
	// runs when the grace period ends is cut.
	cut := a.drain(ctx, herd, grace, func(ctx context.Context) error {
		return errors.Join(srv.WaitExchanges(ctx), cur.WaitExchanges(ctx))
	})
	herd.CloseSessions()
	if cut != nil {
		cancel() // the HTTP server closes the connections left
	}
	err = <-shut
	<-serveErr
	if err != nil && !errors.Is(err, http.ErrServerClosed) && cut == nil {
		a.logger.Warn("http shutdown", "error", err, "cause", context.Cause(sctx))
	}
	a.logger.Info("http stopped")
	if cut != nil {
		return cut
	}
	return nil
}

func (a *App) httpServer(addr net.Addr) (*httpserver.Server, error) {
	cfg := a.cfg
	if cfg.Server.Port == 0 {
		// Any free port was asked for (tests): URLs follow the real one.
		if tcp, ok := addr.(*net.TCPAddr); ok {
			cfg.SetBoundPort(tcp.Port)
		}
	}
	closers := make(map[string]func())
	srv, mainPolicy, err := a.buildServer(cfg, a.herd, a.rateLimit, closers)
	a.mainPolicy.Store(mainPolicy)
	a.mu.Lock()
	for name, c := range closers {
		a.track(name, c)
	}
	a.mu.Unlock()
	return srv, err
}

// buildServer builds the HTTP side of one generation: cfg served by herd,
// rate limits by guard. The authenticators' Close functions go into closers,
// by mount name (also when it fails: the caller closes them).
func (a *App) buildServer(cfg *config.Config, herd *endpoint.Herd, guard *ratelimit.Guard, closers map[string]func()) (*httpserver.Server, *auth.Policy, error) {
	var mainPolicy *auth.Policy
	mount := func(n *endpoint.Node) (*httpserver.Mount, error) {
		ac := cfg.EffectiveAuth(n.Name)
		m := &httpserver.Mount{Name: n.Name, Server: n.Server, Registry: n.Registry, Gate: n.Gate}
		if n.DB != nil {
			db := n.DB
			m.Health = func(ctx context.Context) httpserver.Status {
				return checkAll(ctx, map[string]*tenancy.Database{db.Name: db})[db.Name]
			}
		}
		policy, closer, err := a.policy(cfg, n.Name)
		if err != nil {
			return nil, err
		}
		if closer != nil {
			closers[n.Name] = closer
		}
		if ac != nil {
			m.AuthServers = ac.AuthorizationServers
		}
		m.Policy = policy
		if n.Name == endpoint.MainName {
			mainPolicy = policy
		}
		return m, nil
	}
	opts := httpserver.Options{
		Config:    cfg,
		Version:   a.version,
		Started:   a.started,
		Observe:   a.hub,
		Logger:    a.logger,
		RateLimit: guard,
		Exchanges: herd.Exchanges,
		Activity:  &a.activity,
		Ready: func(ctx context.Context) map[string]httpserver.Status {
			return checkAll(ctx, herd.Databases)
		},
	}
	if cfg.MetricsListen() == "" {
		opts.Metrics = a.metricsHandler()
	}
	if c := a.consoleFor(cfg); c != nil {
		opts.Console = c
	}
	var err error
	if opts.Main, err = mount(herd.Main); err != nil {
		return nil, nil, err
	}
	for _, n := range herd.Endpoints {
		m, err := mount(n)
		if err != nil {
			return nil, nil, err
		}
		opts.Endpoints = append(opts.Endpoints, m)
	}
	srv, err := httpserver.New(opts)
	return srv, mainPolicy, err
}

// checkAll checks every database in parallel and answers by the time ctx
// ends: a check still running then is reported as unreachable (checks are
// bounded by ctx themselves; this is the backstop that keeps /ready within
// its timeout whatever they do).
func checkAll(ctx context.Context, dbs map[string]*tenancy.Database) map[string]httpserver.Status {
	type answer struct {
		name string
		st   tenancy.Status
	}
	answers := make(chan answer, len(dbs))
	for name, db := range dbs {
		go func() { answers <- answer{name, db.Check(ctx)} }()
	}
	out := make(map[string]httpserver.Status, len(dbs))
	for range dbs {
		select {
		case a := <-answers:
			out[a.name] = httpserver.Status(a.st)
		case <-ctx.Done():
			for name := range dbs {
				if _, ok := out[name]; !ok {
					out[name] = httpserver.Status{Error: "database unreachable: no answer within the readiness timeout"}
				}
			}
			return out
		}
	}
	return out
}

// policy builds the authentication policy of mount name from cfg, and the
// function that releases its authenticator's resources (nil if none).
func (a *App) policy(cfg *config.Config, name string) (*auth.Policy, func(), error) {
	p := &auth.Policy{Endpoint: name, Logger: a.logger.With("component", "auth", "endpoint", name), Observe: a.hub}
	ac := cfg.EffectiveAuth(name)
	if ac == nil {
		return p, nil, nil
	}
	authn, err := auth.New(ac, a.authOptions(cfg))
	if err != nil {
		return nil, nil, fmt.Errorf("endpoint %s: %w", name, err)
	}
	var closer func()
	if c, ok := authn.(interface{ Close() }); ok {
		closer = c.Close
	}
	p.Authenticator = authn
	p.Required = ac.IsRequired()
	p.Anonymous = fallback(ac)
	p.Realm = "pgherd " + name
	path := "/" + name + "/mcp"
	if name == endpoint.MainName {
		path = "/mcp"
	}
	p.ResourceMetadataURL = cfg.Server.PublicURL + auth.MetadataPath(path)
	return p, closer, nil
}

// Reload applies a new configuration's authentication to the running
// server: API keys, JWT settings and the rest of every auth block take
// effect for requests that start afterwards (a revoked key stops working at
// once). Everything else — endpoints, databases, pools, limits, listen
// address — needs a restart: Reload reports such differences as an error and
// changes nothing when it finds any. It is safe to call while serving.
func (a *App) Reload(next *config.Config) error {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	a.mu.Lock()
	cur, herd, srv := a.cfg, a.herd, a.cur
	a.mu.Unlock()
	if next.Server.Port == 0 && cur.Server.Port != 0 {
		next.SetBoundPort(cur.Server.Port) // "any free port" means the one bound
	}
	if diff := restartOnly(cur, next); len(diff) > 0 {
		return fmt.Errorf("reload: these changes need a restart: %s", strings.Join(diff, ", "))
	}
	if diff := restartNeeded(cur, next); len(diff) > 0 {
		if cur.Server.SessionMode == config.Stateful {
			return fmt.Errorf("reload: in stateful mode these changes need a restart (a new generation of MCP servers would drop every session): %s",
				strings.Join(diff, ", "))
		}
		return a.reloadGeneration(next, diff)
	}
	if srv == nil {
		return errors.New("reload: the HTTP server is not running")
	}
	type built struct {
		policy *auth.Policy
		closer func()
	}
	names := []string{endpoint.MainName}
	for _, n := range herd.Endpoints {
		names = append(names, n.Name)
	}
	// Build every policy first: a bad one leaves the old ones in place.
	policies := make(map[string]built)
	for _, name := range names {
		p, c, err := a.policy(next, name)
		if err != nil {
			for _, b := range policies {
				if b.closer != nil {
					b.closer()
				}
			}
			return fmt.Errorf("reload: %w", err)
		}
		policies[name] = built{p, c}
	}
	for _, name := range names {
		b := policies[name]
		srv.SetPolicy(name, b.policy)
		if name == endpoint.MainName {
			a.mainPolicy.Store(b.policy)
		}
		a.mu.Lock()
		old := a.closers[name]
		a.track(name, b.closer)
		a.mu.Unlock()
		if old != nil {
			// Waits for requests still holding resources of the old one.
			go old()
		}
	}
	a.logger.Info("configuration reloaded", "endpoints", len(names))
	return nil
}

// track records the resources of mount name's current authenticator.
// a.mu must be held.
func (a *App) track(name string, closer func()) {
	delete(a.closers, name)
	if closer != nil {
		a.closers[name] = closer
	}
}

// restartNeeded lists the top-level differences between two configurations
// other than authentication.
func restartNeeded(cur, next *config.Config) []string {
	var diff []string
	if !reflect.DeepEqual(cur.Server, next.Server) {
		diff = append(diff, "server")
	}
	if !reflect.DeepEqual(cur.Log, next.Log) {
		diff = append(diff, "log")
	}
	if !reflect.DeepEqual(cur.Audit, next.Audit) {
		diff = append(diff, "audit")
	}
	if !reflect.DeepEqual(cur.Tracing, next.Tracing) {
		diff = append(diff, "tracing")
	}
	names := map[string]bool{}
	for n := range cur.Endpoints {
		names[n] = true
	}
	for n := range next.Endpoints {
		names[n] = true
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	slices.Sort(sorted)
	for _, n := range sorted {
		c, x := cur.Endpoints[n], next.Endpoints[n]
		if c == nil || x == nil {
			diff = append(diff, "endpoints."+n)
			continue
		}
		cc, xc := *c, *x
		cc.Auth, xc.Auth = nil, nil
		if !reflect.DeepEqual(cc, xc) {
			diff = append(diff, "endpoints."+n)
		}
	}
	return diff
}

func (a *App) authOptions(cfg *config.Config) auth.Options {
	return auth.Options{
		Audience: cfg.EndpointURL,
		DatabaseURI: func(name string) string {
			if ep, ok := cfg.Endpoints[name]; ok {
				return ep.DatabaseURI.Reveal()
			}
			return ""
		},
		Connect: func(ctx context.Context, name, uri string) (*pg.Pool, error) {
			ep, ok := cfg.Endpoints[name]
			if !ok {
				return nil, fmt.Errorf("no endpoint %q", name)
			}
			opts := tenancy.PoolOptions(ep)
			// One pool per credential: keep each small.
			opts.MaxConns = min(opts.MaxConns, 4)
			opts.MinConns = 0
			opts.Tracer = a.hub.DBTracer()
			p, err := pg.Connect(ctx, name, uri, opts)
			if err != nil {
				return nil, err
			}
			// A caller's own login is held to the same rule as an
			// endpoint's: no privileged role in a validated mode.
			warning, err := tenancy.CheckLogin(ep, "the caller's login role", p.Login())
			if err != nil {
				p.Close()
				return nil, &auth.Error{Kind: auth.ErrForbidden, Description: err.Error()}
			}
			if warning != "" {
				a.logger.Warn("privileged login role", "endpoint", name, "warning", warning)
			}
			return p, nil
		},
		Logger: a.logger.With("component", "auth"),
	}
}

// isLoopback reports whether host is a loopback address or localhost.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
