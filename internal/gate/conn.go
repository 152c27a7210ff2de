package gate

import (
	"context"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Transport wraps a transport whose connection pgherd owns (stdio, legacy
// SSE) so that no error response leaves it with code 0 (see [Fix]): go-sdk
// answers a request sent before initialize without a code, before any
// middleware runs.
func Transport(t mcp.Transport) mcp.Transport { return &transport{t} }

type transport struct{ mcp.Transport }

func (t *transport) Connect(ctx context.Context) (mcp.Connection, error) {
	c, err := t.Transport.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &conn{c}, nil
}

// SupportsProtocolVersion passes the wrapped transport's answer on, so the
// server negotiates only what the transport carries.
func (t *transport) SupportsProtocolVersion(v string) bool {
	if s, ok := t.Transport.(interface{ SupportsProtocolVersion(string) bool }); ok {
		return s.SupportsProtocolVersion(v)
	}
	return true
}

type conn struct{ mcp.Connection }

func (c *conn) Write(ctx context.Context, msg jsonrpc.Message) error {
	if resp, ok := msg.(*jsonrpc.Response); ok && resp.Error != nil {
		resp.Error = Fix("", resp.Error)
	}
	return c.Connection.Write(ctx, msg)
}
