// Package gate decides which JSON-RPC requests reach an MCP server's
// handlers and makes every refusal a JSON-RPC error a client can act on:
// -32601 for a method MCP does not define for servers or one of a capability
// the server does not declare, -32600 for a request that is out of place in
// its session, and never the code 0 go-sdk gives errors it has no code for.
//
// What a server declares is whatever go-sdk derives from what was
// registered on it (tools, prompts, resources, a completion handler, the
// options' capabilities): [Gate] reads it from an initialize handshake over
// an in-memory transport, once, the first time it is needed. Register
// everything on a server before it serves its first request.
package gate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Capability names, as in ServerCapabilities.
const (
	Tools       = "tools"
	Prompts     = "prompts"
	Resources   = "resources"
	Completions = "completions"
	Logging     = "logging"
)

// methods maps every method a client may send to an MCP server (any
// revision up to 2026-07-28) to the server capability it needs; "" means
// every server answers it.
var methods = map[string]string{
	"initialize":                         "",
	"ping":                               "",
	"server/discover":                    "",
	"subscriptions/listen":               "",
	"notifications/initialized":          "",
	"notifications/cancelled":            "",
	"notifications/progress":             "",
	"notifications/roots/list_changed":   "",
	"tools/list":                         Tools,
	"tools/call":                         Tools,
	"prompts/list":                       Prompts,
	"prompts/get":                        Prompts,
	"resources/list":                     Resources,
	"resources/templates/list":           Resources,
	"resources/read":                     Resources,
	"resources/subscribe":                Resources,
	"resources/unsubscribe":              Resources,
	"completion/complete":                Completions,
	"logging/setLevel":                   Logging,
	"notifications/elicitation/complete": "",
}

// Known reports whether MCP defines method for a client to send to a server.
func Known(method string) bool {
	_, ok := methods[method]
	return ok
}

// Declares reports whether caps declares capability c.
func Declares(caps *mcp.ServerCapabilities, c string) bool {
	if caps == nil {
		return false
	}
	switch c {
	case "":
		return true
	case Tools:
		return caps.Tools != nil
	case Prompts:
		return caps.Prompts != nil
	case Resources:
		return caps.Resources != nil
	case Completions:
		return caps.Completions != nil
	case Logging:
		//lint:ignore SA1019 logging is deprecated only from 2026-07-28; the 2025 revisions pgherd serves have it
		return caps.Logging != nil
	}
	return false
}

// Refusal returns the JSON-RPC error for a request of method to a server
// that declares caps, or nil when the server answers it. Subscribing to
// resources also needs the resources capability's subscribe flag.
func Refusal(method string, caps *mcp.ServerCapabilities) *jsonrpc.Error {
	c, ok := methods[method]
	if !ok {
		return &jsonrpc.Error{Code: jsonrpc.CodeMethodNotFound,
			Message: fmt.Sprintf("method not found: %q is not an MCP method a server answers", method)}
	}
	if !Declares(caps, c) {
		return &jsonrpc.Error{Code: jsonrpc.CodeMethodNotFound,
			Message: fmt.Sprintf("method not found: %q needs the %s capability, which this server does not declare", method, c)}
	}
	if (method == "resources/subscribe" || method == "resources/unsubscribe") && !caps.Resources.Subscribe {
		return &jsonrpc.Error{Code: jsonrpc.CodeMethodNotFound,
			Message: fmt.Sprintf("method not found: %q: this server does not offer resource subscriptions", method)}
	}
	return nil
}

// Gate holds what one server declares.
type Gate struct {
	server *mcp.Server
	once   sync.Once
	caps   *mcp.ServerCapabilities
	err    error
}

// New returns the gate of server. Add [Gate.Middleware] to the server.
func New(server *mcp.Server) *Gate { return &Gate{server: server} }

// Capabilities returns what the server declares in its initialize result.
func (g *Gate) Capabilities() (*mcp.ServerCapabilities, error) {
	g.once.Do(func() { g.caps, g.err = probe(g.server) })
	return g.caps, g.err
}

// Refusal is [Refusal] for this gate's server. A server whose capabilities
// cannot be read refuses nothing here: go-sdk still answers every request.
func (g *Gate) Refusal(method string) *jsonrpc.Error {
	if !Known(method) {
		return Refusal(method, nil)
	}
	if methods[method] == "" {
		return nil
	}
	caps, err := g.Capabilities()
	if err != nil {
		return nil
	}
	return Refusal(method, caps)
}

// probe runs an initialize handshake with server over in-memory transports
// and returns the capabilities of its result.
func probe(server *mcp.Server) (*mcp.ServerCapabilities, error) {
	ctx := context.Background()
	st, ct := mcp.NewInMemoryTransports()
	ss, err := server.Connect(ctx, st, nil)
	if err != nil {
		return nil, fmt.Errorf("reading the server's capabilities: %w", err)
	}
	defer ss.Close()
	c := mcp.NewClient(&mcp.Implementation{Name: "pgherd-gate", Version: "1"}, nil)
	cs, err := c.Connect(ctx, ct, nil)
	if err != nil {
		return nil, fmt.Errorf("reading the server's capabilities: %w", err)
	}
	defer cs.Close()
	res := cs.InitializeResult()
	if res == nil || res.Capabilities == nil {
		return &mcp.ServerCapabilities{}, nil
	}
	return res.Capabilities, nil
}

// Middleware refuses, on every transport, the requests of capabilities the
// server does not declare, and gives every error a handler returns without
// a JSON-RPC code the code that fits it (see [Fix]). Add it first, so it is
// the outermost receiving middleware.
func (g *Gate) Middleware(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		if jerr := g.Refusal(method); jerr != nil {
			return nil, jerr
		}
		res, err := next(ctx, method, req)
		if err != nil {
			return res, Fix(method, err)
		}
		return res, nil
	}
}

// Fix returns err as a *jsonrpc.Error with a non-zero code: errors that
// already carry one are returned unchanged; go-sdk's errors for requests out
// of place in their session (a second initialize, a request before
// initialize) become -32600 invalid request, anything else -32603 internal
// error. The message is kept.
func Fix(method string, err error) error {
	if err == nil {
		return nil
	}
	var we *jsonrpc.Error
	if errors.As(err, &we) && we.Code != 0 {
		return err
	}
	msg := err.Error()
	code := int64(jsonrpc.CodeInternalError)
	switch {
	case strings.Contains(msg, "duplicate") && method == "initialize":
		code = jsonrpc.CodeInvalidRequest
		msg = "invalid request: this session is already initialized; start a new session to initialize again"
	case strings.Contains(msg, "duplicate"), strings.Contains(msg, "before"), strings.Contains(msg, "during session initialization"):
		code = jsonrpc.CodeInvalidRequest
		msg = "invalid request: " + msg + "; send initialize (and notifications/initialized) first"
	}
	return &jsonrpc.Error{Code: code, Message: msg}
}
