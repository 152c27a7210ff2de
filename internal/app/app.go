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
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/auth"
	"github.com/pgherd/pgherd/internal/config"
	"github.com/pgherd/pgherd/internal/endpoint"
	"github.com/pgherd/pgherd/internal/httpserver"
	"github.com/pgherd/pgherd/internal/pg"
	"github.com/pgherd/pgherd/internal/tools/admintools"
)

// Options configure [New].
type Options struct {
	Version string
	Logger  *slog.Logger // nil discards
}

// App is an assembled pgherd: every database connected, every MCP server
// built. Serve it over HTTP or run one endpoint over stdio.
type App struct {
	cfg     *config.Config
	logger  *slog.Logger
	version string
	started time.Time
	herd    *endpoint.Herd

	closeOnce sync.Once
	closers   []func() // authenticators owning resources (database_login pools)
}

// New connects every database (failing start-up on the first one that does
// not answer, unless server.start_degraded) and builds the MCP servers.
// On error everything opened so far is closed.
func New(ctx context.Context, cfg *config.Config, opts Options) (_ *App, err error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	a := &App{cfg: cfg, logger: logger, version: opts.Version, started: time.Now()}
	dbs := make(map[string]*endpoint.Database)
	defer func() {
		if err != nil {
			for _, db := range dbs {
				db.Close()
			}
		}
	}()

	// Connect in parallel: start-up time is the slowest database, not the sum.
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	for _, name := range cfg.Names() {
		ep := cfg.Endpoints[name]
		authCfg := cfg.EffectiveAuth(name)
		wg.Go(func() {
			db, err := endpoint.Open(ctx, ep, endpoint.OpenOptions{
				Degraded:      cfg.Server.StartDegraded,
				Fallback:      fallback(authCfg),
				DatabaseLogin: authCfg != nil && authCfg.Mode == config.AuthDatabaseLogin,
				Logger:        logger,
			})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			dbs[name] = db
			logger.Info("endpoint connected", "endpoint", name, "access_mode", ep.AccessMode, "served", ep.Served())
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("connecting databases: %w", err)
	}
	a.herd = endpoint.Build(endpoint.Options{
		Config:    cfg,
		Databases: dbs,
		Admin:     admintools.Options{Started: a.started},
		Version:   opts.Version,
		Logger:    logger,
	})
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
func (a *App) Herd() *endpoint.Herd { return a.herd }

// Close closes every database and authenticator. Safe to call twice.
func (a *App) Close() {
	a.closeOnce.Do(func() {
		for _, c := range a.closers {
			c()
		}
		a.herd.Close()
	})
}

// RunStdio serves one endpoint ("main" for /mcp with its composed tools)
// over in/out until in reaches EOF or ctx ends. Nothing but JSON-RPC is
// written to out.
func (a *App) RunStdio(ctx context.Context, name string, in io.ReadCloser, out io.WriteCloser) error {
	var server *mcp.Server
	for n := range a.herd.Nodes() {
		if n.Name == name {
			server = n.Server
		}
	}
	if server == nil {
		var names []string
		for n := range a.herd.Nodes() {
			names = append(names, n.Name)
		}
		return fmt.Errorf("no endpoint %q is served on its own; choose one of: %s (composed databases are in main)", name, strings.Join(names, ", "))
	}
	a.logger.Info("serving stdio", "endpoint", name)
	err := server.Run(ctx, &mcp.IOTransport{Reader: in, Writer: out})
	if err != nil && (errors.Is(err, io.EOF) || errors.Is(err, context.Canceled) || ctx.Err() != nil) {
		return nil
	}
	return err
}

// Listen binds server.host:server.port. A port already in use fails here,
// before anything is served.
func (a *App) Listen() (net.Listener, error) {
	l, err := net.Listen("tcp", a.cfg.Listen())
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w; choose another server.port (or HTTP_PORT)", a.cfg.Listen(), err)
	}
	return l, nil
}

// Serve serves HTTP on l until ctx ends, then shuts down gracefully: /ready
// turns 503, the listener closes, in-flight calls get up to
// server.shutdown_timeout to finish, sessions close. It returns nil after a
// clean shutdown.
func (a *App) Serve(ctx context.Context, l net.Listener) error {
	srv, err := a.httpServer(l.Addr())
	if err != nil {
		return err
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(l) }()
	a.logger.Info("serving http", "addr", l.Addr().String(), "session_mode", a.cfg.Server.SessionMode)

	select {
	case err := <-serveErr:
		return fmt.Errorf("serving http: %w", err)
	case <-ctx.Done():
	}

	grace := a.cfg.Server.ShutdownTimeout.D()
	a.logger.Info("shutting down", "grace_period", grace, "in_flight", a.herd.InFlight())
	sctx, cancel := context.WithTimeoutCause(context.WithoutCancel(ctx), grace, errors.New("shutdown grace period over"))
	defer cancel()

	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(sctx) }()
	// In-flight calls finish first; then sessions close, which ends the
	// long-lived event streams http.Server.Shutdown would wait for.
	// In stateful mode a call's response travels on its POST, which ends
	// only after the response is written: wait for those too.
	if err := errors.Join(a.herd.Wait(sctx), srv.WaitExchanges(sctx)); err != nil {
		a.logger.Warn("calls still running at the end of the grace period", "in_flight", a.herd.InFlight(), "cause", context.Cause(sctx))
	}
	a.herd.CloseSessions()
	err = <-shut
	<-serveErr
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		a.logger.Warn("http shutdown", "error", err, "cause", context.Cause(sctx))
	}
	a.logger.Info("http stopped")
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
	mount := func(n *endpoint.Node) (*httpserver.Mount, error) {
		ac := cfg.EffectiveAuth(n.Name)
		m := &httpserver.Mount{Name: n.Name, Server: n.Server, Registry: n.Registry}
		if n.DB != nil {
			m.Health = n.DB.Check
		}
		policy := &auth.Policy{Endpoint: n.Name, Logger: a.logger.With("component", "auth", "endpoint", n.Name)}
		if ac != nil {
			authn, err := auth.New(ac, a.authOptions())
			if err != nil {
				return nil, fmt.Errorf("endpoint %s: %w", n.Name, err)
			}
			if c, ok := authn.(interface{ Close() }); ok {
				a.closers = append(a.closers, c.Close)
			}
			policy.Authenticator = authn
			policy.Required = ac.IsRequired()
			policy.Anonymous = fallback(ac)
			policy.Realm = "pgherd " + n.Name
			m.AuthServers = ac.AuthorizationServers
			path := "/" + n.Name + "/mcp"
			if n.Name == endpoint.MainName {
				path = "/mcp"
			}
			policy.ResourceMetadataURL = cfg.Server.PublicURL + auth.MetadataPath(path)
		}
		m.Policy = policy
		return m, nil
	}
	opts := httpserver.Options{
		Config:  cfg,
		Version: a.version,
		Started: a.started,
		Logger:  a.logger,
		Ready: func(ctx context.Context) map[string]httpserver.Status {
			out := make(map[string]httpserver.Status)
			var mu sync.Mutex
			var wg sync.WaitGroup
			for name, db := range a.herd.Databases {
				wg.Go(func() {
					st := db.Check(ctx)
					mu.Lock()
					out[name] = st
					mu.Unlock()
				})
			}
			wg.Wait()
			return out
		},
	}
	var err error
	if opts.Main, err = mount(a.herd.Main); err != nil {
		return nil, err
	}
	for _, n := range a.herd.Endpoints {
		m, err := mount(n)
		if err != nil {
			return nil, err
		}
		opts.Endpoints = append(opts.Endpoints, m)
	}
	return httpserver.New(opts)
}

func (a *App) authOptions() auth.Options {
	cfg := a.cfg
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
			opts := endpoint.PoolOptions(ep)
			// One pool per credential: keep each small.
			opts.MaxConns = min(opts.MaxConns, 4)
			opts.MinConns = 0
			return pg.Connect(ctx, name, uri, opts)
		},
		Logger: a.logger.With("component", "auth"),
	}
}
