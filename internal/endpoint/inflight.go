package endpoint

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/auth"
)

// call is one MCP request being handled.
type call struct {
	server string // node name
	method string
	tool   string // tools/call only
	tenant string
	start  time.Time
	cancel context.CancelCauseFunc
}

// calls tracks every MCP request being handled, across every server, so
// shutdown can wait for them and, once its grace period is over, cut them.
type calls struct {
	mu   sync.Mutex
	next uint64
	live map[uint64]*call
	idle chan struct{} // closed while live is empty; nil means closed
}

// ErrShutdown is the cause given to the contexts of calls cut at shutdown.
var ErrShutdown = errors.New("the server is shutting down and its grace period (server.shutdown_timeout) is over")

// track counts every MCP request being handled and gives each a context
// that shutdown can cancel.
func (h *Herd) track(server string) mcp.Middleware {
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			ctx, cancel := context.WithCancelCause(ctx)
			defer cancel(nil)
			c := &call{server: server, method: method, start: time.Now(), cancel: cancel}
			if p, ok := req.GetParams().(*mcp.CallToolParamsRaw); ok && p != nil {
				c.tool = p.Name
			}
			if extra := req.GetExtra(); extra != nil && extra.TokenInfo != nil {
				if p := auth.FromTokenInfo(extra.TokenInfo); p != nil {
					c.tenant = p.Tenant
				}
			}
			id := h.calls.add(c)
			defer h.calls.remove(id)
			return next(ctx, method, req)
		}
	}
}

func (c *calls) add(x *call) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.live == nil {
		c.live = make(map[uint64]*call)
	}
	if len(c.live) == 0 {
		c.idle = make(chan struct{})
	}
	c.next++
	c.live[c.next] = x
	return c.next
}

func (c *calls) remove(id uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.live, id)
	if len(c.live) == 0 && c.idle != nil {
		close(c.idle)
		c.idle = nil
	}
}

// Wait blocks until no MCP request is being handled or ctx ends.
func (h *Herd) Wait(ctx context.Context) error {
	h.calls.mu.Lock()
	idle := h.calls.idle
	h.calls.mu.Unlock()
	if idle == nil {
		return nil
	}
	select {
	case <-idle:
		return h.Wait(ctx) // new requests may have started meanwhile
	case <-ctx.Done():
		return ctx.Err()
	}
}

// InFlight returns the number of MCP requests being handled.
func (h *Herd) InFlight() int {
	h.calls.mu.Lock()
	defer h.calls.mu.Unlock()
	return len(h.calls.live)
}

// Cut cancels the context of every MCP request still being handled (with
// [ErrShutdown] as the cause) and describes each, oldest first, for the
// log line that says what shutdown cut.
func (h *Herd) Cut() []string {
	h.calls.mu.Lock()
	live := make([]*call, 0, len(h.calls.live))
	for _, c := range h.calls.live {
		live = append(live, c)
	}
	h.calls.mu.Unlock()
	sort.Slice(live, func(i, j int) bool { return live[i].start.Before(live[j].start) })
	out := make([]string, len(live))
	for i, c := range live {
		c.cancel(ErrShutdown)
		what := c.method
		if c.tool != "" {
			what = "tools/call " + c.tool
		}
		out[i] = fmt.Sprintf("%s on %s running %s", what, c.server, time.Since(c.start).Round(time.Millisecond))
		if c.tenant != "" {
			out[i] += " (tenant " + c.tenant + ")"
		}
	}
	return out
}

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

// Prepare readies every database to end its calls' backends quickly, until
// ctx ends (see tenancy.Database.Prepare).
func (h *Herd) Prepare(ctx context.Context) {
	var wg sync.WaitGroup
	for _, db := range h.Databases {
		wg.Go(func() { db.Prepare(ctx) })
	}
	wg.Wait()
}

// TerminateRunning ends the database backends of every call still running
// (see tenancy.Database.TerminateRunning) and returns how many.
func (h *Herd) TerminateRunning(ctx context.Context) int {
	var (
		mu sync.Mutex
		n  int
		wg sync.WaitGroup
	)
	for _, db := range h.Databases {
		wg.Go(func() {
			k := db.TerminateRunning(ctx)
			mu.Lock()
			n += k
			mu.Unlock()
		})
	}
	wg.Wait()
	return n
}

// Close closes every database, waiting at most until ctx ends (calls were
// cut by then and return their connections quickly; a pool that does not
// close in time is left to the process exit). It reports whether
// everything closed.
func (h *Herd) Close(ctx context.Context) bool {
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		for _, db := range h.Databases {
			wg.Go(db.Close)
		}
		wg.Wait()
	}()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}
