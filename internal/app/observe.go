package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pgherd/pgherd/internal/config"
	"github.com/pgherd/pgherd/internal/console"
	"github.com/pgherd/pgherd/internal/endpoint"
	"github.com/pgherd/pgherd/internal/httpserver"
	"github.com/pgherd/pgherd/internal/observe"
	"github.com/pgherd/pgherd/internal/observe/audit"
	"github.com/pgherd/pgherd/internal/observe/metrics"
	"github.com/pgherd/pgherd/internal/observe/tracing"
	"github.com/pgherd/pgherd/internal/ratelimit"
)

// observeCloseTimeout bounds flushing the audit log and the traces at exit.
const observeCloseTimeout = 5 * time.Second

// observers builds the observers the configuration asks for and the hub
// that holds them: tracing (when OTEL_* says where to export), metrics,
// the log line, the audit log. On error nothing is left open.
func (a *App) observers(ctx context.Context, cfg *config.Config) error {
	var list []observe.Observer
	tr, err := tracing.New(ctx, tracing.Options{
		ServiceVersion: a.version,
		TraceSQL:       cfg.Tracing.TraceSQL,
		Logger:         a.logger.With("component", "tracing"),
	})
	if err != nil {
		return err
	}
	if tr != nil {
		list = append(list, tr)
		a.logger.Info("tracing on: exporting spans over OTLP", "trace_sql", cfg.Tracing.TraceSQL)
	}
	if m := cfg.Server.Metrics; m.IsEnabled() {
		a.metrics = metrics.New(metrics.Options{
			Version:      a.version,
			TenantLabels: m.TenantLabels,
			Pools:        a.pools,
			Sessions:     a.sessions,
		})
		list = append(list, a.metrics)
	}
	list = append(list, observe.LogObserver(a.logger))
	if cfg.Server.Transport != config.TransportStdio {
		// The console's live view: calls in flight (cancellable) and the
		// last finished ones. Always on over HTTP, so turning the console
		// on by a reload shows the calls since start-up.
		a.live = console.NewLive(0)
		list = append(list, a.live)
	}
	if ac := cfg.Audit; ac.Enabled {
		opts := audit.Options{
			IncludeParams: ac.IncludeParams,
			Buffer:        ac.Buffer,
			MaxWait:       ac.MaxWait.D(),
			Logger:        a.logger.With("component", "audit"),
		}
		var sink *audit.Sink
		if ac.ToStdout() {
			sink = audit.New(os.Stdout, opts)
		} else if sink, err = audit.Open(ac.Path, opts); err != nil {
			if tr != nil {
				tr.Close(ctx)
			}
			return fmt.Errorf("audit.path: %w", err)
		}
		a.audit = sink
		list = append(list, sink)
		if a.metrics != nil {
			reg := a.metrics.Registry()
			reg.MustRegister(
				prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: metrics.Namespace, Name: "audit_records_total",
					Help: "Audit records written."}, func() float64 { return float64(sink.Written()) }),
				prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: metrics.Namespace, Name: "audit_records_dropped_total",
					Help: "Audit records dropped because the sink could not keep up (the buffer stayed full for audit.max_wait)."},
					func() float64 { return float64(sink.Dropped()) }),
				prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: metrics.Namespace, Name: "audit_write_errors_total",
					Help: "Audit records lost because writing them failed."}, func() float64 { return float64(sink.Failed()) }),
			)
		}
	}
	a.hub = observe.New(a.logger, list...)
	return nil
}

// pools lists every open pool for the metrics.
func (a *App) pools() []metrics.Pool {
	if a.herd == nil {
		return nil
	}
	var out []metrics.Pool
	for name, db := range a.herd.Databases {
		for pname, p := range db.Pools() {
			out = append(out, metrics.Pool{Endpoint: name, Name: pname, Stats: p.Stat()})
		}
	}
	return out
}

// sessions counts the open MCP sessions of every server for the metrics.
func (a *App) sessions() map[string]int {
	if a.herd == nil {
		return nil
	}
	out := make(map[string]int)
	for n := range a.herd.Nodes() {
		count := 0
		for range n.Server.Sessions() {
			count++
		}
		out[n.Name] = count
	}
	return out
}

// Metrics returns the metrics observer, or nil when metrics are off.
func (a *App) Metrics() *metrics.Metrics { return a.metrics }

// metricsHandler is what serves server.metrics.path: the registry behind
// the bearer token, if one is configured. Nil when metrics are off.
func (a *App) metricsHandler() http.Handler {
	if a.metrics == nil {
		return nil
	}
	hash := ""
	if auth := a.cfg.Server.Metrics.Auth; auth != nil {
		hash = auth.TokenHash
	}
	return httpserver.ProtectMetrics(a.metrics.Handler(), hash, a.hub)
}

// listenMetrics binds server.metrics.listen, when set.
func (a *App) listenMetrics() (net.Listener, error) {
	addr := a.cfg.MetricsListen()
	if addr == "" || a.metrics == nil {
		return nil, nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s for the metrics: %w; choose another server.metrics.listen", addr, err)
	}
	return l, nil
}

// serveMetrics serves the metrics alone on l until ctx ends; the returned
// function waits for it to stop.
func (a *App) serveMetrics(ctx context.Context, l net.Listener) (wait func()) {
	mux := http.NewServeMux()
	mux.Handle(a.cfg.Server.Metrics.Path, a.metricsHandler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.logger.Error("serving metrics", "addr", l.Addr().String(), "error", err)
		}
	}()
	stop := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	})
	a.logger.Info("serving metrics", "addr", l.Addr().String(), "path", a.cfg.Server.Metrics.Path)
	return func() {
		stop()
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		<-done
	}
}

// closeObservers flushes the audit log and the traces.
func (a *App) closeObservers() {
	ctx, cancel := context.WithTimeout(context.Background(), observeCloseTimeout)
	defer cancel()
	if err := a.hub.Close(ctx); err != nil {
		a.logger.Warn("closing observers", "error", err)
	}
}

// Hub returns the observers' hub (tests, and future observers such as the
// operator console's live view, which register at start-up).
func (a *App) Hub() *observe.Hub { return a.hub }

// rateLimitEvents adds the metrics' counters to the caller's rate-limit
// hooks (either may be missing).
func (a *App) rateLimitEvents(ev ratelimit.Events) ratelimit.Events {
	m := a.metrics
	if m == nil {
		return ev
	}
	refused, failed := ev.Refused, ev.LimiterFailed
	return ratelimit.Events{
		Refused: func(endpoint, tenant string, limiterFailed bool) {
			m.RateLimitRefused(endpoint, tenant, limiterFailed)
			if refused != nil {
				refused(endpoint, tenant, limiterFailed)
			}
		},
		LimiterFailed: func(endpoint string, err error, failOpen bool) {
			m.RateLimitBackendFailed(endpoint, failOpen)
			if failed != nil {
				failed(endpoint, err, failOpen)
			}
		},
	}
}

// consoleFor returns the operator console when cfg turns it on (built
// once: its sessions outlive reloads), or nil.
func (a *App) consoleFor(cfg *config.Config) *console.Console {
	if !cfg.ConsoleOn() || a.live == nil {
		return nil
	}
	a.consoleOnce.Do(func() {
		a.console = console.New(console.Options{
			Config: func() *config.Config { c, _ := a.current(); return c },
			Herd:   func() *endpoint.Herd { _, h := a.current(); return h },
			Policy: a.mainPolicy.Load,
			Handler: func() http.Handler {
				a.mu.Lock()
				defer a.mu.Unlock()
				return a.srv.Root()
			},
			Live:    a.live,
			Health:  a.health,
			Observe: a.hub,
			Version: a.version,
			Logger:  a.logger.With("component", "console"),
		})
	})
	if a.console.Path() != cfg.Server.Console.Path {
		a.logger.Warn("server.console.path changed: the console stays at its old path until a restart",
			"path", a.console.Path(), "configured", cfg.Server.Console.Path)
	}
	return a.console
}

// ConsoleURL returns the operator console's URL, or "" when it is off.
func (a *App) ConsoleURL() string {
	cfg, _ := a.current()
	if !cfg.ConsoleOn() {
		return ""
	}
	return cfg.Server.PublicURL + cfg.Server.Console.Path + "/"
}
