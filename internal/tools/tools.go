// Package tools is the plumbing every MCP tool of pgherd goes through: naming
// with the endpoint's prefix, per-caller authorization, one log line per call,
// and turning panics and internal failures into clean tool errors.
//
// The tools themselves live in the subpackages dbtools (database endpoints)
// and admintools (the main endpoint).
package tools

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/auth"
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
const RequestIDHeader = "X-Request-Id"

// Spec describes one registered tool.
type Spec struct {
	Name     string   // full name as clients see it (with prefix)
	Base     string   // name without prefix
	Endpoint string   // endpoint whose database it uses ("main" for admin tools)
	Tags     []string // authorization tags
}

// Registry records the tools added to one *mcp.Server, so the server's
// tools/list can be filtered per caller. It is safe for concurrent use.
type Registry struct {
	mu    sync.RWMutex
	specs map[string]Spec
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{specs: make(map[string]Spec)} }

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

func (r *Registry) add(s Spec) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.specs[s.Name]; dup {
		// Wiring error: config validation keeps composed prefixes unique.
		panic(fmt.Sprintf("tools: tool %q registered twice", s.Name))
	}
	r.specs[s.Name] = s
}

// Target is where tools are added: one MCP server, one endpoint's naming.
type Target struct {
	Server   *mcp.Server
	Registry *Registry
	Endpoint string // endpoint name, "main" for the main endpoint's own tools
	Prefix   string // "" for none
	// Fallback is the caller of requests that carry no identity (stdio):
	// the endpoint's configured anonymous identity, or nil.
	Fallback *auth.Principal
	Logger   *slog.Logger
}

// Name returns base with the target's prefix.
func (t *Target) Name(base string) string {
	if t.Prefix == "" {
		return base
	}
	return t.Prefix + "_" + base
}

// RowCounter is implemented by tool outputs that report a row count for the
// call log.
type RowCounter interface{ RowsReturned() int }

// Add registers a typed tool on t under t's prefix. The handler runs only if
// the caller (req.Extra.TokenInfo, when present) may use the tool; every
// call is logged once; a panic becomes a tool error carrying a request id.
func Add[In, Out any](t *Target, tool *mcp.Tool, tags []string, h mcp.ToolHandlerFor[In, Out]) {
	base := tool.Name
	tt := *tool
	tt.Name = t.Name(base)
	spec := Spec{Name: tt.Name, Base: base, Endpoint: t.Endpoint, Tags: slices.Clone(tags)}
	logger := t.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	wrapped := func(ctx context.Context, req *mcp.CallToolRequest, in In) (res *mcp.CallToolResult, out Out, err error) {
		start := time.Now()
		reqID := RequestID(req)
		p := Caller(req)
		if p == nil {
			p = t.Fallback
		}
		defer func() {
			if v := recover(); v != nil {
				logger.ErrorContext(ctx, "tool panic", "request_id", reqID, "endpoint", spec.Endpoint,
					"tool", spec.Name, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				var zero Out
				res, out, err = nil, zero, fmt.Errorf("internal error in %s (request id %s); the server log has the details", spec.Name, reqID)
			}
			logCall(ctx, logger, spec, reqID, p, start, out, err)
		}()
		if p != nil && !p.AllowsTool(base, spec.Tags) {
			return nil, out, fmt.Errorf("tool %s is not allowed for %s; it needs one of the scopes %v", spec.Name, p.ID(), spec.Tags)
		}
		return h(ctx, req, in)
	}
	t.Registry.add(spec)
	t.Server.AddTool(&tt, typed(&tt, wrapped))
}

// Caller returns the authenticated caller of req, or nil (stdio, auth none).
func Caller(req *mcp.CallToolRequest) *auth.Principal {
	if req == nil || req.Extra == nil {
		return nil
	}
	return auth.FromTokenInfo(req.Extra.TokenInfo)
}

// RequestID returns the HTTP request id of req, or a fresh one.
func RequestID(req *mcp.CallToolRequest) string {
	if req != nil && req.Extra != nil && req.Extra.Header != nil {
		if id := req.Extra.Header.Get(RequestIDHeader); id != "" {
			return id
		}
	}
	return rand.Text()[:16]
}

func logCall(ctx context.Context, logger *slog.Logger, spec Spec, reqID string, p *auth.Principal, start time.Time, out any, err error) {
	attrs := make([]slog.Attr, 0, 10)
	attrs = append(attrs,
		slog.String("request_id", reqID),
		slog.String("endpoint", spec.Endpoint),
		slog.String("tool", spec.Name),
		slog.Duration("duration", time.Since(start)),
	)
	if p != nil {
		attrs = append(attrs, slog.String("tenant", p.Tenant), slog.String("user", p.User))
	}
	if err != nil {
		// A caller's failed call is their result, not the operator's
		// problem: logged at info like any other call.
		attrs = append(attrs, slog.String("outcome", "error"), slog.String("error", err.Error()))
		if pe, ok := pg.AsError(err); ok {
			attrs = append(attrs, slog.String("sqlstate", pe.SQLState))
		}
	} else {
		attrs = append(attrs, slog.String("outcome", "ok"))
		if rc, ok := out.(RowCounter); ok && rc != nil {
			attrs = append(attrs, slog.Int("rows", rc.RowsReturned()))
		}
	}
	logger.LogAttrs(ctx, slog.LevelInfo, "tool call", attrs...)
}
