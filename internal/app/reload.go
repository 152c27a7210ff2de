package app

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/pgherd/pgherd/internal/config"
	"github.com/pgherd/pgherd/internal/endpoint"
	"github.com/pgherd/pgherd/internal/tenancy"
	"github.com/pgherd/pgherd/internal/tools/admintools"
)

// restartOnly names the changes no reload can apply: the listener, the
// transport and session mode, the logger, the rate limiter's store.
func restartOnly(cur, next *config.Config) []string {
	var diff []string
	c, n := cur.Server, next.Server
	check := func(name string, a, b any) {
		if !reflect.DeepEqual(a, b) {
			diff = append(diff, name)
		}
	}
	check("server.host", c.Host, n.Host)
	check("server.port", c.Port, n.Port)
	check("server.transport", c.Transport, n.Transport)
	check("server.session_mode", c.SessionMode, n.SessionMode)
	check("server.rate_limit.backend", c.RateLimit.Backend, n.RateLimit.Backend)
	check("server.rate_limit.redis_url", c.RateLimit.RedisURL, n.RateLimit.RedisURL)
	check("server.rate_limit.redis_timeout", c.RateLimit.RedisTimeout, n.RateLimit.RedisTimeout)
	check("log", cur.Log, next.Log)
	return diff
}

// sameDatabase reports whether an endpoint's database side is unchanged, so
// the next generation may keep its pools: everything but how it is served
// (auth, prefix, description, served path, rate limits).
func sameDatabase(cur, next *config.Config, name string) bool {
	c, n := cur.Endpoints[name], next.Endpoints[name]
	if c == nil || n == nil {
		return false
	}
	cc, nc := *c, *n
	cc.Auth, nc.Auth = nil, nil
	cc.Limits.Rate, nc.Limits.Rate = 0, 0
	cc.Limits.Burst, nc.Limits.Burst = 0, 0
	if !reflect.DeepEqual(cc, nc) {
		return false
	}
	// The database_login switch and the anonymous identity live in the
	// Database too.
	ca, na := cur.EffectiveAuth(name), next.EffectiveAuth(name)
	return reflect.DeepEqual(loginMode(ca), loginMode(na)) && reflect.DeepEqual(fallback(ca), fallback(na))
}

func loginMode(a *config.Auth) bool { return a != nil && a.Mode == config.AuthDatabaseLogin }

// reloadGeneration applies next by building a new generation — databases
// (unchanged endpoints keep theirs, with their pools), MCP servers, HTTP
// handlers, authenticators — and swapping it in for requests that start
// afterwards; then it drains the old one (in-flight calls finish, up to
// server.shutdown_timeout), closes its sessions, and closes the databases
// of removed or changed endpoints, whose connections are then gone. If
// anything of the new generation cannot be built (a new database does not
// answer), nothing changes. Only in stateless mode: sessions of the old
// MCP servers (legacy SSE) end.
func (a *App) reloadGeneration(next *config.Config, changed []string) error {
	a.mu.Lock()
	cur, oldHerd, oldSrv, owner := a.cfg, a.herd, a.cur, a.srv
	a.mu.Unlock()
	if owner == nil {
		return errors.New("reload: the HTTP server is not running")
	}
	ctx, cancel := context.WithTimeout(context.Background(), next.Server.ShutdownTimeout.D()+30*time.Second)
	defer cancel()

	// 1. Databases: keep unchanged ones, connect new and changed ones first.
	dbs := make(map[string]*tenancy.Database)
	var opened []*tenancy.Database
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	for _, name := range next.Names() {
		if sameDatabase(cur, next, name) && oldHerd.Databases[name] != nil {
			mu.Lock()
			dbs[name] = oldHerd.Databases[name]
			mu.Unlock()
			continue
		}
		ep := next.Endpoints[name]
		authCfg := next.EffectiveAuth(name)
		wg.Go(func() {
			db, err := tenancy.Open(ctx, ep, tenancy.OpenOptions{
				Fallback:      fallback(authCfg),
				DatabaseLogin: loginMode(authCfg),
				Logger:        a.logger,
			})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			dbs[name] = db
			opened = append(opened, db)
		})
	}
	wg.Wait()
	closeOpened := func() {
		for _, db := range opened {
			db.Close()
		}
	}
	if err := errors.Join(errs...); err != nil {
		closeOpened()
		return fmt.Errorf("reload: connecting databases (the running configuration stays): %w", err)
	}

	// 2. MCP servers and HTTP handlers of the new generation.
	guard := rateGuard(next, a.limiter, a.rlEvents, a.logger)
	herd := endpoint.Build(endpoint.Options{
		Config:    next,
		Databases: dbs,
		Admin:     admintools.Options{Started: a.started, HealthCache: a.health},
		Version:   a.version,
		Observe:   a.hub,
		Logger:    a.logger,
		RateLimit: guard,

		ServerOptions: a.options,
	})
	if a.extend != nil {
		a.extend(herd)
	}
	closers := make(map[string]func())
	srv, mainPolicy, err := a.buildServer(next, herd, guard, closers)
	if err != nil {
		for _, c := range closers {
			c()
		}
		closeOpened()
		return fmt.Errorf("reload: %w", err)
	}

	// 3. Swap: requests starting now go to the new generation.
	a.mu.Lock()
	oldClosers := a.closers
	a.cfg, a.herd, a.cur, a.closers, a.rateLimit = next, herd, srv, closers, guard
	owner.Adopt(srv)
	a.mu.Unlock()
	a.mainPolicy.Store(mainPolicy)
	a.logger.Info("configuration reloaded", "generation", "new", "changed", changed, "endpoints", len(next.Endpoints))

	// 4. Drain and stop the old generation.
	if err := errors.Join(oldHerd.Wait(ctx), oldSrv.WaitExchanges(ctx)); err != nil {
		a.logger.Warn("reload: calls of the previous configuration still running; closing it anyway", "in_flight", oldHerd.InFlight())
	}
	oldHerd.CloseSessions()
	var removed []string
	for name, db := range oldHerd.Databases {
		if dbs[name] != db {
			db.Close() // waits for its connections to come back, then closes them
			removed = append(removed, name)
		}
	}
	slices.Sort(removed)
	for _, c := range oldClosers {
		c()
	}
	if len(removed) > 0 {
		a.logger.Info("reload: closed the databases of removed or changed endpoints", "endpoints", removed)
	}
	return nil
}
