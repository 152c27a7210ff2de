package httpserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/auth"
	"github.com/pgherd/pgherd/internal/cancel"
	"github.com/pgherd/pgherd/internal/config"
	"github.com/pgherd/pgherd/internal/gate"
	"github.com/pgherd/pgherd/internal/observe"
	"github.com/pgherd/pgherd/internal/ratelimit"
	"github.com/pgherd/pgherd/internal/tools"
)

// Status is one endpoint's database state.
type Status struct {
	Ready     bool    `json:"ready"`
	LatencyMS float64 `json:"latency_ms"`
	Error     string  `json:"error,omitempty"`
}

// Mount is one MCP endpoint to serve.
type Mount struct {
	Name     string      // "main" for /mcp, else the endpoint name
	Server   *mcp.Server // built once at start-up
	Registry *tools.Registry
	Gate     *gate.Gate // what Server declares; nil refuses nothing
	// Policy authenticates every request; a Policy with a nil Authenticator
	// serves everyone (auth mode none). Nil means the same.
	Policy *auth.Policy
	// AuthServers are listed in the RFC 9728 metadata; the document is served
	// only when Policy has an Authenticator.
	AuthServers []string
	// Health checks the endpoint's database; nil for the main endpoint.
	Health func(ctx context.Context) Status
}

// Options configure [New].
type Options struct {
	Config    *config.Config
	Main      *Mount
	Endpoints []*Mount // endpoints served on their own path
	// RateLimit refuses tools/calls over a tenant's rate limit with 429
	// before they reach MCP (Streamable HTTP); nil limits nothing here.
	RateLimit *ratelimit.Guard
	// Ready checks every database (for /ready).
	Ready   func(ctx context.Context) map[string]Status
	Version string
	Started time.Time
	// Observe receives the refusals of the HTTP layer's own checks (the
	// tools/call scope check); nil: none.
	Observe *observe.Hub
	// Metrics, when set, is served at Config.Server.Metrics.Path (see
	// [ProtectMetrics]).
	Metrics http.Handler
	// Console, when set, is the operator console, served under
	// Config.Server.Console.Path behind the same origin check as the MCP
	// paths.
	Console http.Handler
	Logger  *slog.Logger
	// Exchanges ties MCP calls to the HTTP requests carrying them (client
	// disconnects and stateless cancellations); the MCP servers must run
	// its Middleware. Nil means a registry of the server's own.
	Exchanges *cancel.Exchanges
	// Activity, when set, counts every message-carrying MCP request (not
	// the event-stream GETs): the app tells an idle server by it. Shared
	// by the generations of a reload.
	Activity *atomic.Uint64
}

// Server is the HTTP side of pgherd.
type Server struct {
	opts     Options
	logger   *slog.Logger
	handler  http.Handler
	http     *http.Server
	draining atomic.Bool
	// exchanges counts MCP requests that carry messages (POST, DELETE):
	// shutdown lets them finish before it closes sessions, which ends the
	// long-lived event streams (GET).
	exchanges Counter
	// events keeps the streams of stateful sessions for resumption.
	events *mcp.MemoryEventStore
	// current is the generation serving requests on this server's
	// listener: the server itself, or what [Server.Adopt] installed.
	current atomic.Pointer[Server]
	// authed holds, per mount name, the handlers behind authentication, so
	// SetPolicy can swap the policy in front of them (configuration reload).
	authed map[string][]*authedHandler
	// mainPolicy authenticates /mcp's callers; /ready shows endpoint names
	// to them (and to loopback callers) only.
	mainPolicy atomic.Pointer[auth.Policy]
	// sessions caps stateful sessions (server.max_sessions and
	// server.max_sessions_per_tenant).
	sessions *sessionLimiter
}

// authedHandler is an MCP handler with a replaceable authentication policy
// in front of it.
type authedHandler struct {
	inner   http.Handler
	current atomic.Pointer[http.Handler]
}

func (a *authedHandler) set(p *auth.Policy) {
	var h http.Handler = a.inner
	if p != nil {
		h = p.Middleware(a.inner)
	}
	a.current.Store(&h)
}

func (a *authedHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	(*a.current.Load()).ServeHTTP(w, r)
}

// SetPolicy replaces the authentication policy of the mount named name for
// every request that starts afterwards (requests in flight finish under the
// policy they started with). It is safe to call while serving.
func (s *Server) SetPolicy(name string, p *auth.Policy) error {
	hs, ok := s.authed[name]
	if !ok {
		return fmt.Errorf("no endpoint %q is served", name)
	}
	for _, h := range hs {
		h.set(p)
	}
	if name == "main" {
		s.mainPolicy.Store(p)
	}
	return nil
}

// New builds the routes. It has no side effects: call Serve to listen.
func New(opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Exchanges == nil {
		opts.Exchanges = cancel.New()
	}
	s := &Server{opts: opts, logger: opts.Logger, authed: make(map[string][]*authedHandler), events: mcp.NewMemoryEventStore(nil)}
	guard, err := newOriginGuard(opts.Config.Server.AllowedOrigins)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mounts := append([]*Mount{opts.Main}, opts.Endpoints...)
	sc := opts.Config.Server
	s.sessions = newSessionLimiter(sc.MaxSessions, sc.MaxSessionsPerTenant, func() map[string]bool {
		live := make(map[string]bool)
		for _, m := range mounts {
			for ss := range m.Server.Sessions() {
				if id := ss.ID(); id != "" {
					live[id] = true
				}
			}
		}
		return live
	})
	for _, m := range mounts {
		if err := s.mount(mux, guard, m); err != nil {
			return nil, err
		}
	}
	if opts.Metrics != nil {
		mux.Handle(opts.Config.Server.Metrics.Path, opts.Metrics)
	}
	if opts.Console != nil {
		p := opts.Config.Server.Console.Path
		mux.Handle(p, guard.wrap(opts.Console))
		mux.Handle(p+"/", guard.wrap(opts.Console))
	}
	mux.HandleFunc("GET /health", s.health)
	mux.HandleFunc("GET /ready", s.ready)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no route %s; MCP endpoints are listed by GET /ready", r.URL.Path))
	})
	s.handler = withRequestID(s.logger, sc.WriteTimeout.D(), hostGuard(mux))
	s.current.Store(s)
	s.http = &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.current.Load().handler.ServeHTTP(w, r) }),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	}
	return s, nil
}

func (s *Server) mount(mux *http.ServeMux, guard *originGuard, m *Mount) error {
	sc := s.opts.Config.Server
	base := "" // URL prefix: "" for main, "/name" for an endpoint
	if m.Name != "main" {
		base = "/" + m.Name
	}
	mcpPath := base + "/mcp"
	if m.Name == "main" {
		s.mainPolicy.Store(m.Policy)
	}

	var metadataURL string
	if m.Policy != nil && m.Policy.Authenticator != nil {
		metadataURL = s.opts.Config.Server.PublicURL + auth.MetadataPath(mcpPath)
		mux.Handle("GET "+auth.MetadataPath(mcpPath), auth.MetadataHandler(s.opts.Config.EndpointURL(m.Name), m.AuthServers, nil))
	}
	// chain wraps an MCP handler: origin → authentication → (on Streamable
	// HTTP) request inspection. A legacy SSE client treats any failed POST as
	// the end of its session, so the SSE handler answers on the event stream
	// itself, and there the tool error is the scope refusal.
	chain := func(h http.Handler, streamable bool) http.Handler {
		h = s.count(h)
		if streamable {
			h = inspect(inspection{reg: m.Registry, gate: m.Gate, metadataURL: metadataURL, limit: sc.MaxBodyBytes,
				stateful: sc.SessionMode == config.Stateful, rateLimit: s.opts.RateLimit, refused: s.scopeRefused(m.Name), readTimeout: sc.WriteTimeout.D()}, h)
		}
		h = stripRateChecked(h)
		a := &authedHandler{inner: h}
		a.set(m.Policy)
		s.authed[m.Name] = append(s.authed[m.Name], a)
		return guard.wrap(a)
	}

	server := m.Server
	stateful := sc.SessionMode == config.Stateful
	var events mcp.EventStore
	if stateful {
		// Resumable streams: every event of a session's streams is kept
		// (go-sdk's bounded in-memory store, 10 MiB for the process) so a
		// client that lost a stream resumes it with Last-Event-ID; 2025-11-25
		// clients also get go-sdk's priming event first.
		events = s.events
	}
	var streamable http.Handler = mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, &mcp.StreamableHTTPOptions{
		Stateless:                    !stateful,
		SessionTimeout:               sc.SessionTimeout.D(),
		MaxRequestBodyBytes:          sc.MaxBodyBytes,
		PropagateRequestCancellation: true,
		EventStore:                   events,
		Logger:                       s.logger.With("component", "mcp", "endpoint", m.Name),
	})
	if stateful {
		streamable = s.sessions.limitStreamable(withRetry(streamable))
	}
	mux.Handle(mcpPath, chain(s.opts.Exchanges.Streamable(!stateful, sc.MaxBodyBytes, streamable), true))

	sse := newSSEHandler(server, m.Gate, base+"/message", sc.MaxBodyBytes, s.opts.Exchanges, s.logger.With("component", "sse", "endpoint", m.Name))
	mux.Handle(base+"/sse", chain(s.sessions.limitStream(http.HandlerFunc(sse.stream)), false))
	mux.Handle(base+"/message", chain(http.HandlerFunc(sse.message), false))

	if m.Health != nil {
		health := m.Health
		mux.HandleFunc("GET "+base+"/health", func(w http.ResponseWriter, r *http.Request) {
			ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
			defer cancel()
			st := health(ctx)
			code := http.StatusOK
			if !st.Ready {
				code = http.StatusServiceUnavailable
			}
			writeJSON(w, code, map[string]any{"endpoint": m.Name, "status": statusWord(st.Ready), "database": st})
		})
	}
	return nil
}

func statusWord(ok bool) string {
	if ok {
		return "ready"
	}
	return "not_ready"
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	status := "ok"
	if s.draining.Load() {
		status = "shutting_down"
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"status":         status,
		"service":        "pgherd",
		"version":        s.opts.Version,
		"uptime_seconds": int64(time.Since(s.opts.Started).Seconds()),
	})
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "shutting_down"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	report := s.opts.Ready(ctx)
	all := true
	for _, st := range report {
		all = all && st.Ready
	}
	code := http.StatusOK
	if !all {
		code = http.StatusServiceUnavailable
	}
	if !loopbackCaller(r) && !s.mainPolicy.Load().Verify(r) {
		// A public replica says whether it is ready, not which databases
		// it serves: that is for this machine and for authenticated callers.
		writeJSON(w, code, map[string]any{"status": statusWord(all)})
		return
	}
	writeJSON(w, code, map[string]any{"status": statusWord(all), "endpoints": report})
}

// count tracks message-carrying requests (not event-stream GETs).
func (s *Server) count(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			if a := s.opts.Activity; a != nil {
				a.Add(1)
			}
			s.exchanges.Add(1)
			defer s.exchanges.Add(-1)
		}
		next.ServeHTTP(w, r)
	})
}

// WaitExchanges blocks until no message-carrying MCP request is being
// served, or ctx ends.
func (s *Server) WaitExchanges(ctx context.Context) error { return s.exchanges.Wait(ctx) }

// Root returns the handler serving s's listener: the current generation's
// (see [Server.Adopt]). The console's in-process MCP client sends its
// requests here.
func (s *Server) Root() http.Handler { return s.http.Handler }

// Handler returns the complete handler (for tests with httptest).
func (s *Server) Handler() http.Handler { return s.handler }

// Serve serves on l until Shutdown. It returns http.ErrServerClosed after
// Shutdown.
func (s *Server) Serve(l net.Listener) error {
	return s.http.Serve(l)
}

// Drain makes /ready answer 503 so load balancers stop sending traffic.
func (s *Server) Drain() {
	s.draining.Store(true)
	if cur := s.current.Load(); cur != s {
		cur.draining.Store(true)
	}
}

// Adopt makes next, built by [New] and never served itself, answer every
// request that arrives on s's listener from now on (a configuration
// reload: the next generation of handlers). Requests in progress finish on
// the generation they started on; [Server.WaitExchanges] of that
// generation tells when. It is safe to call while serving.
func (s *Server) Adopt(next *Server) {
	if s.draining.Load() {
		next.draining.Store(true)
	}
	s.current.Store(next)
}

// Shutdown stops accepting connections and waits, until ctx ends, for active
// requests to finish. Event streams (stateful GET streams, legacy SSE) stay
// open until their MCP sessions are closed; the caller closes them once
// in-flight calls are done (see app). When ctx ends first, remaining
// connections are closed.
func (s *Server) Shutdown(ctx context.Context) error {
	s.Drain()
	err := s.http.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		s.http.Close()
	}
	return err
}

// scopeRefused reports a tools/call refused for want of a scope on mount
// name to the observers.
func (s *Server) scopeRefused(name string) func(r *http.Request, description string) {
	return func(r *http.Request, description string) {
		s.opts.Observe.AuthFailed(r.Context(), auth.Failure(r, name, http.StatusForbidden, observe.AuthScope, description))
	}
}
