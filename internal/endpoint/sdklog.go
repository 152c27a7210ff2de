package endpoint

import (
	"context"
	"log/slog"
)

// perSession are go-sdk's INFO messages about one session's life. In
// stateless mode every HTTP request is a session of its own, so they would
// be three lines per request: they are logged at debug there.
var perSession = map[string]bool{
	"server connecting":           true,
	"server session connected":    true,
	"server session disconnected": true,
	"session initialized":         true,
}

// demoteSessionLogs returns a handler that writes go-sdk's per-session INFO
// messages at debug level and everything else unchanged.
func demoteSessionLogs(h slog.Handler) slog.Handler { return &sessionLogs{h} }

type sessionLogs struct{ slog.Handler }

func (s *sessionLogs) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelInfo && perSession[r.Message] {
		if !s.Handler.Enabled(ctx, slog.LevelDebug) {
			return nil
		}
		r.Level = slog.LevelDebug
	}
	return s.Handler.Handle(ctx, r)
}

func (s *sessionLogs) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &sessionLogs{s.Handler.WithAttrs(attrs)}
}

func (s *sessionLogs) WithGroup(name string) slog.Handler {
	return &sessionLogs{s.Handler.WithGroup(name)}
}
