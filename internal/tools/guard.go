package tools

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/auth"
)

// isDenied reports whether err is the refusal of a feature the caller's
// key or token does not grant ([deniedError]).
func isDenied(err error) bool {
	var d deniedError
	return errors.As(err, &d)
}

// caller returns the caller of req: its authenticated identity, or the
// target's fallback (stdio, anonymous).
func (t *Target) caller(req mcp.Request) *auth.Principal {
	if p := Caller(req); p != nil {
		return p
	}
	return t.Fallback
}

// guard runs fn for a request on a resource, prompt or completion as
// tools.Add does for a tool: only when the caller may use spec, with a
// panic turned into an error carrying a request id, and one log line
// (message what, naming subject).
func (t *Target) guard(ctx context.Context, req mcp.Request, spec Spec, what string, fn func(context.Context) error) (err error) {
	start := time.Now()
	reqID := RequestID(req)
	p := t.caller(req)
	logger := t.logger()
	ctx = t.Registry.withLog(ctx, req, spec.Endpoint)
	defer func() {
		if v := recover(); v != nil {
			logger.ErrorContext(ctx, what+" panic", "request_id", reqID, "endpoint", spec.Endpoint,
				"name", spec.Name, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			err = fmt.Errorf("internal error in %s (request id %s); the server log has the details", spec.Name, reqID)
		}
		attrs := []slog.Attr{
			slog.String("request_id", reqID),
			slog.String("endpoint", spec.Endpoint),
			slog.String("name", spec.Name),
			slog.Duration("duration", time.Since(start)),
		}
		if p != nil {
			attrs = append(attrs, slog.String("tenant", p.Tenant), slog.String("user", p.User))
		}
		if err != nil {
			attrs = append(attrs, slog.String("outcome", "error"), slog.String("error", err.Error()))
		} else {
			attrs = append(attrs, slog.String("outcome", "ok"))
		}
		logger.LogAttrs(ctx, slog.LevelInfo, what, attrs...)
	}()
	if p != nil && !p.AllowsTool(spec.Base, spec.Tags) {
		return deniedError{fmt.Errorf("%s is not allowed for %s; it needs one of the scopes %v", spec.Name, p.ID(), spec.Tags)}
	}
	return fn(ctx)
}

// allows reports whether the caller of req may use spec (for list
// filtering and completions).
func (t *Target) allows(req mcp.Request, spec Spec) bool {
	p := t.caller(req)
	return p == nil || p.AllowsTool(spec.Base, spec.Tags)
}

func (t *Target) logger() *slog.Logger {
	if t.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return t.Logger
}
