package tools

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/observe"
	"github.com/pgherd/pgherd/internal/pg"
	"github.com/pgherd/pgherd/internal/sqlguard"
)

// panicError is the tool error of a handler that panicked.
type panicError struct{ error }

func (e panicError) Unwrap() error { return e.error }

// deniedError is the tool error of a caller who may not use the tool.
type deniedError struct{ error }

func (e deniedError) Unwrap() error { return e.error }

// SQLSTATEs that mean a limit ended the statement: statement_timeout,
// lock_timeout (or NOWAIT), idle_in_transaction_session_timeout.
var timeoutStates = map[string]bool{"57014": true, "55P03": true, "25P03": true}

// end classifies how the call ended: from the handler's error (kept in the
// record before typed turned it into a tool error result), the protocol
// error, or the result.
func end(ctx context.Context, c *observe.Call, res *mcp.CallToolResult, protoErr error) observe.End {
	e := observe.End{Outcome: observe.OK, Bytes: resultBytes(res)}
	err := c.ToolError()
	switch {
	case err == nil && protoErr != nil:
		err = protoErr
	case err == nil && res != nil && res.IsError:
		// typed refused the arguments before the handler ran.
		e.Outcome, e.Err = observe.Invalid, errors.New(resultText(res))
		return e
	case err == nil:
		return e
	}
	e.Err = err
	var (
		pe     *pg.Error
		ge     *sqlguard.Error
		denied deniedError
		panics panicError
		wire   *jsonrpc.Error
	)
	if p, ok := pg.AsError(err); ok {
		pe = p
		e.SQLState = p.SQLState
	}
	switch {
	case errors.As(err, &panics):
		e.Outcome = observe.Panic
	case errors.As(err, &denied):
		e.Outcome = observe.Denied
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled):
		e.Outcome = observe.Canceled
	case ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded):
		e.Outcome = observe.Timeout
	case c.NoSlot() || errors.Is(err, pg.ErrPoolExhausted):
		e.Outcome = observe.Busy
	case errors.As(err, &ge):
		c.Refuse(ge.Reason.String())
		e.Outcome = observe.Refused
	case pe != nil && timeoutStates[pe.SQLState]:
		e.Outcome = observe.Timeout
	case pe != nil:
		e.Outcome = observe.SQLError
	case errors.Is(err, context.Canceled):
		e.Outcome = observe.Canceled
	case errors.As(err, &wire):
		e.Outcome = observe.Invalid
	default:
		e.Outcome = observe.Failed
	}
	return e
}

// resultBytes is the size of what the client receives: the structured
// content plus the text content.
func resultBytes(res *mcp.CallToolResult) int64 {
	if res == nil {
		return 0
	}
	var n int64
	if raw, ok := res.StructuredContent.(json.RawMessage); ok {
		n += int64(len(raw))
	}
	for _, c := range res.Content {
		if t, ok := c.(*mcp.TextContent); ok {
			n += int64(len(t.Text))
		}
	}
	return n
}

func resultText(res *mcp.CallToolResult) string {
	for _, c := range res.Content {
		if t, ok := c.(*mcp.TextContent); ok {
			return t.Text
		}
	}
	return "tool error"
}
