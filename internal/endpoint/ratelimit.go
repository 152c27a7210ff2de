package endpoint

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/auth"
	"github.com/pgherd/pgherd/internal/httpserver"
	"github.com/pgherd/pgherd/internal/ratelimit"
	"github.com/pgherd/pgherd/internal/tools"
)

// RateLimited is the structured content of a tool call refused over its
// rate limit (a tool error: the session goes on).
type RateLimited struct {
	Error        string `json:"error"`
	RetryAfterMS int64  `json:"retry_after_ms"`
}

// rateLimit refuses tools/calls over the caller's rate limit with a tool
// error carrying retry_after_ms: over stdio and legacy SSE, and for any
// request the HTTP layer did not already count (it answers 429 before MCP
// on Streamable HTTP and marks what it counted).
func rateLimit(g *ratelimit.Guard, reg *tools.Registry, fallback *auth.Principal) mcp.Middleware {
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			call, ok := req.(*mcp.CallToolRequest)
			if method != "tools/call" || !ok || call.Params == nil {
				return next(ctx, method, req)
			}
			extra := call.Extra
			if extra != nil && extra.Header != nil && extra.Header.Get(httpserver.RateCheckedHeader) != "" {
				return next(ctx, method, req)
			}
			spec, ok := reg.Lookup(call.Params.Name)
			if !ok || !g.Limited(spec.Endpoint) {
				return next(ctx, method, req)
			}
			p := fallback
			if extra != nil && extra.TokenInfo != nil {
				p = auth.FromTokenInfo(extra.TokenInfo)
			}
			tenant := ""
			if p != nil {
				tenant = p.Tenant
			}
			retry, ok := g.Check(ctx, spec.Endpoint, tenant, 1)
			if ok {
				return next(ctx, method, req)
			}
			ms := max(1, int64(math.Ceil(float64(retry)/float64(time.Millisecond))))
			msg := fmt.Sprintf("rate limit: tenant %s is over the rate limit of endpoint %s (endpoints.%s.limits.rate); retry in %d ms",
				tenant, spec.Endpoint, spec.Endpoint, ms)
			return &mcp.CallToolResult{
				IsError:           true,
				Content:           []mcp.Content{&mcp.TextContent{Text: msg}},
				StructuredContent: RateLimited{Error: msg, RetryAfterMS: ms},
			}, nil
		}
	}
}
