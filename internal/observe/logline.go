package observe

import (
	"context"
	"log/slog"
)

// LogObserver writes one line per tool call to logger, at info level (a
// caller's failed call is their result, not the operator's problem):
// request id, endpoint, tool, duration, tenant and user, outcome, and what
// applies of error, SQLSTATE, refusal reason, rows, result bytes, queue wait
// and trace id.
func LogObserver(logger *slog.Logger) Observer {
	if logger == nil {
		logger = discard
	}
	return &logObserver{logger: logger}
}

type logObserver struct{ logger *slog.Logger }

func (l *logObserver) ObserveCall(ctx context.Context, c *Call) {
	if !l.logger.Enabled(ctx, slog.LevelInfo) {
		return
	}
	attrs := make([]slog.Attr, 0, 14)
	attrs = append(attrs,
		slog.String("request_id", c.ID),
		slog.String("endpoint", c.Endpoint),
		slog.String("tool", c.Tool),
		slog.Duration("duration", c.Duration),
	)
	if c.Tenant != "" || c.User != "" {
		attrs = append(attrs, slog.String("tenant", c.Tenant), slog.String("user", c.User))
	}
	attrs = append(attrs, slog.String("outcome", string(c.Outcome)))
	if c.Err != nil {
		attrs = append(attrs, slog.String("error", c.Err.Error()))
	}
	if c.SQLState != "" {
		attrs = append(attrs, slog.String("sqlstate", c.SQLState))
	}
	if c.Refusal != "" {
		attrs = append(attrs, slog.String("refusal", c.Refusal))
	}
	if c.Outcome == OK {
		attrs = append(attrs, slog.Int64("rows", c.Rows), slog.Int64("bytes", c.Bytes))
	}
	if c.QueueWait > 0 {
		attrs = append(attrs, slog.Duration("queue_wait", c.QueueWait))
	}
	if c.TraceID != "" {
		attrs = append(attrs, slog.String("trace_id", c.TraceID))
	}
	l.logger.LogAttrs(ctx, slog.LevelInfo, "tool call", attrs...)
}

// fanout sends records to the server log and to the client's log
// notifications; the client gets the tool's own attributes only.
type fanout struct {
	server, client slog.Handler
}

func (f *fanout) Enabled(ctx context.Context, l slog.Level) bool {
	return f.server.Enabled(ctx, l) || f.client.Enabled(ctx, l)
}

func (f *fanout) Handle(ctx context.Context, r slog.Record) error {
	var err error
	if f.server.Enabled(ctx, r.Level) {
		err = f.server.Handle(ctx, r.Clone())
	}
	if f.client.Enabled(ctx, r.Level) {
		if cerr := f.client.Handle(ctx, r.Clone()); err == nil {
			err = cerr
		}
	}
	return err
}

func (f *fanout) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &fanout{server: f.server.WithAttrs(attrs), client: f.client.WithAttrs(attrs)}
}

func (f *fanout) WithGroup(name string) slog.Handler {
	return &fanout{server: f.server.WithGroup(name), client: f.client.WithGroup(name)}
}
