package observe

import (
	"context"
	"net/http"
	"reflect"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Request is one MCP request or notification received by a server, as
// [RequestObserver]s see it.
type Request struct {
	Server    string         // MCP endpoint ("main" or an endpoint name)
	Method    string         // JSON-RPC method: tools/call, initialize, notifications/initialized…
	Tool      string         // for tools/call: the tool's name
	ID        string         // HTTP request id; "" over stdio
	SessionID string         // MCP session id, when there is one
	Protocol  string         // MCP protocol version of the request
	Transport string         // "http" or "stdio"
	Header    http.Header    // the HTTP request's headers; nil over stdio
	Meta      map[string]any // the request's params._meta (traceparent, progressToken…)
	Start     time.Time

	// Set when the request has been handled.
	Duration  time.Duration
	Err       error // the JSON-RPC error answered, if any
	ToolError bool  // a tools/call answered with a result whose isError is set
}

// Middleware returns go-sdk receiving middleware that hands every request
// to server to the hub's [RequestObserver]s. Add it first, so it sees
// everything the server does. With no request observer it adds nothing.
func (h *Hub) Middleware(server string) mcp.Middleware {
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		if h == nil || len(h.requests) == 0 {
			return next
		}
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			r := newRequest(server, method, req)
			for _, o := range h.requests {
				ctx = o.StartRequest(ctx, r)
			}
			res, err := next(ctx, method, req)
			r.Duration = time.Since(r.Start)
			r.Err = err
			if ct, ok := res.(*mcp.CallToolResult); ok && ct != nil && ct.IsError {
				r.ToolError = true
			}
			for _, o := range h.requests {
				o.EndRequest(ctx, r)
			}
			return res, err
		}
	}
}

func newRequest(server, method string, req mcp.Request) *Request {
	r := &Request{Server: server, Method: method, Start: time.Now(), Transport: "stdio"}
	if req == nil {
		return r
	}
	if extra := req.GetExtra(); extra != nil && extra.Header != nil {
		r.Header = extra.Header
		r.Transport = "http"
		r.ID = extra.Header.Get(RequestIDHeader)
	}
	if ss, ok := req.GetSession().(*mcp.ServerSession); ok && ss != nil {
		r.SessionID = ss.ID()
	}
	if pv, ok := req.(interface{ ProtocolVersion() string }); ok {
		r.Protocol = pv.ProtocolVersion()
	}
	if p := req.GetParams(); p != nil && !isNil(p) {
		r.Meta = p.GetMeta()
		if ct, ok := p.(*mcp.CallToolParamsRaw); ok {
			r.Tool = ct.Name
		}
	}
	return r
}

// RequestIDHeader carries the request id from the HTTP layer (which sets
// it on every request) to MCP handlers, in req.Extra.Header.
const RequestIDHeader = "X-Request-Id"

// isNil reports whether p holds a nil pointer (a request without params),
// whose promoted GetMeta would dereference it.
func isNil(p mcp.Params) bool {
	v := reflect.ValueOf(p)
	return v.Kind() == reflect.Pointer && v.IsNil()
}
