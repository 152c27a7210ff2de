// Package endpoint assembles pgherd's MCP endpoints: one *mcp.Server per
// database endpoint served on its own path, and the main server holding the
// management tools plus the tools of databases composed into /mcp. Servers
// are built once at start-up; tool handlers find the caller's database
// through [tenancy.Database.Resolve].
package endpoint

import (
	"context"
	"crypto/sha256"
	"fmt"
	"iter"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/auth"
	"github.com/pgherd/pgherd/internal/cancel"
	"github.com/pgherd/pgherd/internal/config"
	"github.com/pgherd/pgherd/internal/dbhealth"
	"github.com/pgherd/pgherd/internal/gate"
	"github.com/pgherd/pgherd/internal/observe"
	"github.com/pgherd/pgherd/internal/ratelimit"
	"github.com/pgherd/pgherd/internal/tenancy"
	"github.com/pgherd/pgherd/internal/tools"
	"github.com/pgherd/pgherd/internal/tools/admintools"
	"github.com/pgherd/pgherd/internal/tools/dbtools"
)

// MainName is the name of the main endpoint (/mcp).
const MainName = "main"

// Node is one MCP server and the tools registered on it.
type Node struct {
	Name     string // MainName or the endpoint name
	Server   *mcp.Server
	Registry *tools.Registry
	Gate     *gate.Gate        // what Server declares; refuses the rest
	DB       *tenancy.Database // nil for the main node

	fallback *auth.Principal // caller of requests without identity (stdio)
}

// Herd is every MCP server of the process.
type Herd struct {
	Main      *Node
	Endpoints []*Node // databases served on their own path, by name
	Databases map[string]*tenancy.Database
	// Exchanges ties calls to the HTTP requests carrying them; the HTTP
	// server registers those requests in it.
	Exchanges *cancel.Exchanges

	// Health keeps each endpoint's latest health summary (get_server_info).
	Health *dbhealth.Cache

	cfg       *config.Config
	calls     calls
	rateLimit *ratelimit.Guard
	observe   *observe.Hub
	options   func(node string, opts *mcp.ServerOptions)
}

// Options configure [Build].
type Options struct {
	Config    *config.Config
	Databases map[string]*tenancy.Database // one per configured endpoint
	Admin     admintools.Options           // Config and Servers are filled by Build
	Version   string
	// Observe receives every MCP request and tool call; nil logs each tool
	// call to Logger and nothing else.
	Observe *observe.Hub
	Logger  *slog.Logger
	// RateLimit refuses tool calls over a tenant's rate limit (tool errors
	// with retry_after_ms); nil limits nothing.
	RateLimit *ratelimit.Guard
	// ServerOptions, if set, sees the options of each MCP server (node is
	// MainName or an endpoint name) after pgherd filled them from what is
	// registered and before the server is created; it may set what only
	// construction can (a subscription or completion handler). It exists
	// for tests: the conformance fixture (internal/interop) uses it.
	ServerOptions func(node string, opts *mcp.ServerOptions)
}

// Build creates the MCP servers and registers their tools.
func Build(opts Options) *Herd {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg := opts.Config
	hub := opts.Observe
	if hub == nil {
		hub = observe.New(logger, observe.LogObserver(logger))
	}
	h := &Herd{Databases: opts.Databases, Exchanges: cancel.New(), cfg: cfg, Health: opts.Admin.HealthCache, rateLimit: opts.RateLimit, observe: hub, options: opts.ServerOptions}
	if h.Health == nil {
		h.Health = &dbhealth.Cache{}
	}

	h.Main = h.newNode(MainName, nil, anonymous(cfg, MainName))
	admin := opts.Admin
	admin.Config = cfg
	admin.Version = opts.Version
	admin.Servers = h.servers
	admin.HealthCache = h.Health
	for _, name := range cfg.Names() {
		ep, db := cfg.Endpoints[name], opts.Databases[name]
		if !ep.AccessMode.Admin() {
			continue
		}
		resolve := func(ctx context.Context, req mcp.Request) (*dbtools.Handle, error) {
			return db.Resolve(ctx, tools.Caller(req))
		}
		th := ep.Health.Thresholds()
		admin.Herd = append(admin.Herd, admintools.HerdTarget{
			Endpoint: name,
			Composed: !ep.Served(),
			Run: func(ctx context.Context, req *mcp.CallToolRequest, checks []string) (*dbhealth.Report, error) {
				return dbtools.RunHealth(ctx, resolve, req, th, checks, nil)
			},
		})
	}
	admintools.Register(h.target(h.Main, MainName, "", "", logger), admin)

	for _, name := range cfg.Names() {
		ep := cfg.Endpoints[name]
		db := opts.Databases[name]
		node := h.Main
		if ep.Served() {
			node = h.newNode(name, db, anonymous(cfg, name))
			h.Endpoints = append(h.Endpoints, node)
		}
		dbtools.Register(h.target(node, name, ep.ToolPrefix(), string(ep.AccessMode), logger), dbtools.Options{
			Endpoint:    name,
			Description: ep.Description,
			Mode:        ep.AccessMode,
			Limits:      tenancy.Limits(ep),
			Resolve: func(ctx context.Context, req mcp.Request) (*dbtools.Handle, error) {
				return db.Resolve(ctx, tools.Caller(req)) // nil: Resolve uses the fallback identity
			},
			Logger:      logger,
			Health:      ep.Health.Thresholds(),
			HealthCache: h.Health,
			Confirm:     ep.ConfirmDestructive,
			ConfirmKey:  confirmKey(ep),
		})
	}
	h.serve(h.Main, opts.Version, mainInstructions(cfg), logger)
	for _, n := range h.Endpoints {
		h.serve(n, opts.Version, dbInstructions(cfg.Endpoints[n.Name]), logger)
	}
	return h
}

// confirmKey derives the key that signs confirmations of destructive
// statements from the endpoint's configuration, so every replica serving it
// accepts a confirmation another one asked for. Its secrecy matters little:
// only clients send confirmations back, and they answer the question
// themselves anyway (see dbtools/confirm.go).
func confirmKey(ep *config.Endpoint) []byte {
	h := sha256.New()
	h.Write([]byte("pgherd confirm_destructive v1\x00" + ep.Name + "\x00"))
	h.Write([]byte(ep.DatabaseURI.Reveal()))
	return h.Sum(nil)
}

// anonymous is the identity of calls on endpoint name that carry none
// (stdio): its configured auth.anonymous, or nil.
func anonymous(cfg *config.Config, name string) *auth.Principal {
	if a := cfg.EffectiveAuth(name); a != nil && a.Anonymous != nil {
		return auth.FromIdentity(a.Anonymous, auth.MethodAnonymous)
	}
	return nil
}

func (h *Herd) newNode(name string, db *tenancy.Database, fallback *auth.Principal) *Node {
	return &Node{Name: name, Registry: tools.NewRegistry(), DB: db, fallback: fallback}
}

// serve creates n's MCP server once everything is registered: its
// capabilities follow from what the registry holds.
func (h *Herd) serve(n *Node, version, instructions string, logger *slog.Logger) {
	sdkLogger := logger.With("component", "mcp", "endpoint", n.Name)
	if h.cfg.Server.SessionMode != config.Stateful {
		sdkLogger = slog.New(demoteSessionLogs(sdkLogger.Handler()))
	}
	opts := n.Registry.ServerOptions(mcp.ServerOptions{
		Instructions: instructions,
		Logger:       sdkLogger,
	})
	if h.options != nil {
		h.options(n.Name, opts)
	}
	n.Server = mcp.NewServer(&mcp.Implementation{Name: "pgherd-" + n.Name, Title: "pgherd " + n.Name, Version: version}, opts)
	n.Registry.Install(n.Server)
	n.Gate = gate.New(n.Server)
	n.Server.AddReceivingMiddleware(h.observe.Middleware(n.Name), n.Gate.Middleware, h.track(n.Name), n.Registry.Filter(n.fallback), n.Registry.TrackLogLevel, h.Exchanges.Middleware)
	if h.rateLimit != nil {
		n.Server.AddReceivingMiddleware(rateLimit(h.rateLimit, n.Registry, n.fallback))
	}
	// Outermost (added last): every middleware above sees the tool result
	// itself; this one hands go-sdk a result that marshals in one pass.
	n.Server.AddReceivingMiddleware(tools.EncodeResults)
}

func (h *Herd) target(n *Node, endpoint, prefix, mode string, logger *slog.Logger) *tools.Target {
	return &tools.Target{Registry: n.Registry, ServerName: n.Name, Endpoint: endpoint, Prefix: prefix,
		Mode: mode, Fallback: n.fallback, Observe: h.observe, Logger: logger}
}

// Nodes returns the main node and every endpoint node.
func (h *Herd) Nodes() iter.Seq[*Node] {
	return func(yield func(*Node) bool) {
		if !yield(h.Main) {
			return
		}
		for _, n := range h.Endpoints {
			if !yield(n) {
				return
			}
		}
	}
}

// servers describes every endpoint for the admin tools.
func (h *Herd) servers(ctx context.Context) []admintools.ServerInfo {
	url := h.cfg.EndpointURL // follows the bound port when server.port is 0
	out := []admintools.ServerInfo{{
		Name: MainName, Kind: "main", URL: url(MainName), ToolCount: h.Main.Registry.Len(), Ready: true,
	}}
	byName := make(map[string]*Node)
	for _, n := range h.Endpoints {
		byName[n.Name] = n
	}
	names := make([]string, 0, len(h.Databases))
	for name := range h.Databases {
		names = append(names, name)
	}
	slices.Sort(names)
	statuses := make([]admintools.ServerInfo, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		db := h.Databases[name]
		info := admintools.ServerInfo{Name: name, AccessMode: string(db.Mode()), Prefix: db.Config().ToolPrefix(), Warnings: db.Warnings()}
		if n, ok := byName[name]; ok {
			info.Kind, info.URL = "endpoint", url(name)
			info.ToolCount = n.Registry.CountFor(name)
		} else {
			info.Kind, info.URL = "composed", url(MainName)
			info.ToolCount = h.Main.Registry.CountFor(name)
		}
		wg.Go(func() {
			st := db.Check(ctx)
			info.Ready, info.Error = st.Ready, st.Error
			statuses[i] = info
		})
	}
	wg.Wait()
	return append(out, statuses...)
}

func mainInstructions(cfg *config.Config) string {
	var b strings.Builder
	b.WriteString("pgherd management endpoint. get_server_info and list_all_servers show every database endpoint and its URL; get_sub_server_config shows one endpoint's configuration.")
	var composed []string
	for _, name := range cfg.Names() {
		if ep := cfg.Endpoints[name]; !ep.Served() {
			composed = append(composed, fmt.Sprintf("%s (%s, tools prefixed %s_)", name, ep.AccessMode, ep.ToolPrefix()))
		}
	}
	if len(composed) > 0 {
		b.WriteString(" Databases available here: " + strings.Join(composed, "; ") + ".")
	}
	return b.String()
}

func dbInstructions(ep *config.Endpoint) string {
	s := fmt.Sprintf("PostgreSQL database %q, access mode %s: %s", ep.Name, ep.AccessMode, dbtools.ModeRules(ep.AccessMode))
	if ep.Description != "" {
		s = ep.Description + ". " + s
	}
	return s
}
