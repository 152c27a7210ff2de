// Package tools is the plumbing every MCP feature of pgherd goes through —
// tools, resources, resource templates, prompts and completions: naming with
// the endpoint's prefix, per-caller authorization and list filtering, the
// call record every observer receives (log line, metrics, audit, traces),
// log notifications and progress for the client, and turning panics and
// internal failures into clean errors.
//
// Features are collected in a [Registry] first; [Registry.Install] then adds
// them to the endpoint's *mcp.Server, whose capabilities
// ([Registry.Capabilities]) are derived from what was registered.
//
// The features themselves live in the subpackages dbtools (database
// endpoints) and admintools (the main endpoint).
package tools

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"reflect"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/auth"
	"github.com/pgherd/pgherd/internal/observe"
	"github.com/pgherd/pgherd/internal/pg"
)

// Tags group tools for authorization: a key or token granted a tag may call
// every tool carrying it.
const (
	TagRead  = "read"  // reads data or metadata
	TagWrite = "write" // may change data
	TagAdmin = "admin" // admin-only tools (all schemas, health, workload)
)

// RequestIDHeader carries the request id from the HTTP layer to tool logs.
const RequestIDHeader = observe.RequestIDHeader

// Spec describes one registered tool.
type Spec struct {
	Name     string   // full name as clients see it (with prefix)
	Base     string   // name without prefix
	Endpoint string   // endpoint whose database it uses ("main" for admin tools)
	Tags     []string // authorization tags
}

// Registry records the features registered for one *mcp.Server, so the
// server's capabilities follow from them and its lists can be filtered per
// caller. It is safe for concurrent use.
type Registry struct {
	mu        sync.RWMutex
	specs     map[string]Spec // tools by full name
	prompts   map[string]*promptEntry
	resources map[string]*resourceEntry // static resources by URI
	templates map[string]*templateEntry // by URI template
	order     []string                  // template keys in registration order
	// pending adds the registered tools to the server at Install.
	pending   []func(*mcp.Server)
	installed bool

	levels sessionLevels // log levels clients set, for Log
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{
		specs:     make(map[string]Spec),
		prompts:   make(map[string]*promptEntry),
		resources: make(map[string]*resourceEntry),
		templates: make(map[string]*templateEntry),
	}
}

// Lookup returns the spec of the tool named name.
func (r *Registry) Lookup(name string) (Spec, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s, ok := r.specs[name]
	return s, ok
}

// Len returns the number of tools.
func (r *Registry) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.specs)
}

// CountFor returns how many tools of endpoint are registered.
func (r *Registry) CountFor(endpoint string) int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	n := 0
	for _, s := range r.specs {
		if s.Endpoint == endpoint {
			n++
		}
	}
	return n
}

func (r *Registry) add(s Spec, install func(*mcp.Server)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mustBeOpen()
	if _, dup := r.specs[s.Name]; dup {
		// Wiring error: config validation keeps composed prefixes unique.
		panic(fmt.Sprintf("tools: tool %q registered twice", s.Name))
	}
	r.specs[s.Name] = s
	r.pending = append(r.pending, install)
}

// mustBeOpen panics when features are added after Install: the server's
// capabilities were already derived. r.mu must be held.
func (r *Registry) mustBeOpen() {
	if r.installed {
		panic("tools: feature registered after Registry.Install")
	}
}

// Target is where features are added: one registry (one MCP server), one
// endpoint's naming.
type Target struct {
	Registry *Registry
	// ServerName is the MCP endpoint the server serves ("main" or an
	// endpoint name); "" means Endpoint.
	ServerName string
	Endpoint   string // endpoint name, "main" for the main endpoint's own tools
	Prefix     string // "" for none
	Mode       string // the endpoint's access mode, for call records; "" for the management tools
	// Fallback is the caller of requests that carry no identity (stdio):
	// the endpoint's configured anonymous identity, or nil.
	Fallback *auth.Principal
	// Observe receives every call's record (log line, metrics, audit,
	// traces); nil logs each call to Logger and nothing else.
	Observe *observe.Hub
	Logger  *slog.Logger
}

// Name returns base with the target's prefix.
func (t *Target) Name(base string) string {
	if t.Prefix == "" {
		return base
	}
	return t.Prefix + "_" + base
}

// RowCounter is implemented by tool outputs that report a row count for the
// call record.
type RowCounter interface{ RowsReturned() int }

// Add registers a typed tool on t under t's prefix. Every call gets an
// [observe.Call] record in its context (observe.CallFrom(ctx)), which the
// handler may fill in (SQL text, verdict) and whose Logger writes to the
// server log and, when asked, to the client; the record goes to t.Observe
// when the call ends. The handler runs only if the caller
// (req.Extra.TokenInfo, when present) may use the tool; a panic becomes a
// tool error carrying the request id.
func Add[In, Out any](t *Target, tool *mcp.Tool, tags []string, h mcp.ToolHandlerFor[In, Out]) {
	base := tool.Name
	tt := *tool
	tt.Name = t.Name(base)
	spec := Spec{Name: tt.Name, Base: base, Endpoint: t.Endpoint, Tags: slices.Clone(tags)}
	logger := t.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	hub := t.Observe
	if hub == nil {
		hub = observe.New(logger, observe.LogObserver(logger))
	}
	server := t.ServerName
	if server == "" {
		server = t.Endpoint
	}
	// inner runs inside typed, which turns its error into a tool error
	// result: the error itself is kept in the record for classification.
	inner := func(ctx context.Context, req *mcp.CallToolRequest, in In) (res *mcp.CallToolResult, out Out, err error) {
		c := observe.CallFrom(ctx)
		defer func() {
			if v := recover(); v != nil {
				logger.ErrorContext(ctx, "tool panic", "request_id", c.ID, "endpoint", spec.Endpoint,
					"tool", spec.Name, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				var zero Out
				res, out = nil, zero
				err = panicError{fmt.Errorf("internal error in %s (request id %s); the server log has the details", spec.Name, c.ID)}
			}
			c.SetError(err)
			logClient(ctx, spec, c.Start, out, err)
			if rc, ok := any(out).(RowCounter); ok && err == nil && !isNilPointer(rc) {
				c.SetRows(int64(rc.RowsReturned()))
			}
		}()
		if p := callerOrFallback(req, t.Fallback); p != nil && !p.AllowsTool(base, spec.Tags) {
			Log(ctx).LogAttrs(ctx, slog.LevelWarn, "call refused", slog.String("tool", spec.Name), slog.String("reason", "scope"),
				slog.Any("needs_one_of", spec.Tags))
			return nil, out, deniedError{fmt.Errorf("tool %s is not allowed for %s; it needs one of the scopes %v", spec.Name, p.ID(), spec.Tags)}
		}
		return h(ctx, req, in)
	}
	raw := typed(&tt, inner)
	handler := func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		c := newCall(req, spec, server, t.Mode, callerOrFallback(req, t.Fallback))
		// Log(ctx) writes to the client only (what helps the agent); the
		// record's Logger writes to the server log and, through this
		// handler, to the client as well.
		ctx = t.Registry.withLog(ctx, req, spec.Endpoint)
		if l := Log(ctx); l != discard {
			c.SetClientLog(l.Handler())
		}
		ctx = hub.StartCall(ctx, c)
		res, err := raw(ctx, req)
		hub.EndCall(ctx, c, end(ctx, c, res, err))
		return res, err
	}
	t.Registry.add(spec, func(s *mcp.Server) { s.AddTool(&tt, handler) })
}

// newCall starts the record of one call of spec.
func newCall(req *mcp.CallToolRequest, spec Spec, server, mode string, p *auth.Principal) *observe.Call {
	c := &observe.Call{Record: observe.Record{
		ID:        RequestID(req),
		Start:     time.Now(),
		Server:    server,
		Endpoint:  spec.Endpoint,
		Tool:      spec.Name,
		ToolBase:  spec.Base,
		Mode:      mode,
		Transport: "stdio",
	}}
	if p != nil {
		c.Tenant, c.User, c.AuthMethod = p.Tenant, p.User, p.Method
	}
	if req != nil {
		if req.Extra != nil && req.Extra.Header != nil {
			c.Transport = "http"
		}
		if req.Session != nil {
			c.SessionID = req.Session.ID()
			c.Protocol = req.ProtocolVersion()
		}
	}
	return c
}

func callerOrFallback(req *mcp.CallToolRequest, fallback *auth.Principal) *auth.Principal {
	if p := Caller(req); p != nil {
		return p
	}
	return fallback
}

// logClient reports the end of a call to the client at debug level: tool,
// outcome, time and rows; never the error text or data (the client has
// the result).
func logClient(ctx context.Context, spec Spec, start time.Time, out any, err error) {
	l := Log(ctx)
	if !l.Enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{slog.String("tool", spec.Name), slog.Float64("elapsed_ms", float64(time.Since(start).Microseconds())/1000)}
	if err != nil {
		attrs = append(attrs, slog.String("outcome", "error"))
		if pe, ok := pg.AsError(err); ok {
			attrs = append(attrs, slog.String("sqlstate", pe.SQLState))
		}
	} else {
		attrs = append(attrs, slog.String("outcome", "ok"))
		if rc, ok := out.(RowCounter); ok && !isNilPointer(rc) {
			attrs = append(attrs, slog.Int("rows", rc.RowsReturned()))
		}
	}
	l.LogAttrs(ctx, slog.LevelDebug, "call finished", attrs...)
}

// isNilPointer reports whether v is a nil pointer in an interface.
func isNilPointer(v any) bool {
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Pointer && rv.IsNil()
}

// Caller returns the authenticated caller of req, or nil (stdio, auth none).
func Caller(req mcp.Request) *auth.Principal {
	extra := extraOf(req)
	if extra == nil {
		return nil
	}
	return auth.FromTokenInfo(extra.TokenInfo)
}

// extraOf returns req's Extra, also for a nil request of a concrete type.
func extraOf(req mcp.Request) *mcp.RequestExtra {
	if req == nil {
		return nil
	}
	if v := reflect.ValueOf(req); v.Kind() == reflect.Pointer && v.IsNil() {
		return nil
	}
	return req.GetExtra()
}

// RequestID returns the HTTP request id of req, or a fresh one.
func RequestID(req mcp.Request) string {
	if extra := extraOf(req); extra != nil && extra.Header != nil {
		if id := extra.Header.Get(RequestIDHeader); id != "" {
			return id
		}
	}
	return rand.Text()[:16]
}
