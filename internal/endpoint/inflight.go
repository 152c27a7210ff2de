package endpoint

import (
	"context"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// countCalls counts every MCP request being handled, across every server,
// so shutdown can wait for them before closing sessions.
func (h *Herd) countCalls(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		h.inflight.Add(1)
		defer h.inflight.Add(-1)
		return next(ctx, method, req)
	}
}

// Wait blocks until no MCP request is being handled or ctx ends.
func (h *Herd) Wait(ctx context.Context) error { return h.inflight.Wait(ctx) }

// InFlight returns the number of MCP requests being handled.
func (h *Herd) InFlight() int { return h.inflight.N() }

// CloseSessions closes every MCP session of every server (Streamable and
// legacy SSE), which ends their event streams.
func (h *Herd) CloseSessions() {
	for n := range h.Nodes() {
		var sessions []*mcp.ServerSession
		for ss := range n.Server.Sessions() {
			sessions = append(sessions, ss)
		}
		for _, ss := range sessions {
			ss.Close()
		}
	}
}

// Close closes every database.
func (h *Herd) Close() {
	var wg sync.WaitGroup
	for _, db := range h.Databases {
		wg.Go(db.Close)
	}
	wg.Wait()
}
