//lint:file-ignore SA1019 MCP logging is deprecated from protocol 2026-07-28 (SEP-2577) but still part of it and of every older revision pgherd serves

package tools

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"reflect"
	"runtime"
	"sync"
	"weak"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Log returns the logger of the request ctx belongs to: its records go to
// the client as notifications/message, at the level the client chose
// (logging/setLevel, or the request's own level in protocol 2026-07-28),
// and nowhere when it chose none. Tools log what helps the agent — the
// validator's verdict, rows and time, caps, truncation, refusals — and
// never SQL text, parameters, result data or anything secret: the client
// may show these messages to anyone. Outside a request it discards.
func Log(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(logKey{}).(*slog.Logger); ok {
		return l
	}
	return discard
}

var discard = slog.New(slog.DiscardHandler)

type logKey struct{}

// mcpLevels maps the protocol's level names to slog levels.
var mcpLevels = map[mcp.LoggingLevel]slog.Level{
	"debug": mcp.LevelDebug, "info": mcp.LevelInfo, "notice": mcp.LevelNotice, "warning": mcp.LevelWarning,
	"error": mcp.LevelError, "critical": mcp.LevelCritical, "alert": mcp.LevelAlert, "emergency": mcp.LevelEmergency,
}

// levelNames is the reverse of mcpLevels.
var levelNames = func() map[slog.Level]mcp.LoggingLevel {
	m := make(map[slog.Level]mcp.LoggingLevel, len(mcpLevels))
	for name, l := range mcpLevels {
		m[l] = name
	}
	return m
}()

// mcpLevel names l as the protocol does, rounding down to the nearest
// protocol level.
func mcpLevel(l slog.Level) mcp.LoggingLevel {
	best, name := slog.Level(-1<<31), mcp.LoggingLevel("debug")
	for sl, n := range levelNames {
		if sl <= l && sl > best {
			best, name = sl, n
		}
	}
	return name
}

// sessionLevels remembers the level each session set with logging/setLevel.
// go-sdk keeps it too, but a stateless server gives every 2025-era request
// a fresh session that pretends "info" was set; a client that set nothing
// must get nothing. Entries go when their session is garbage collected.
type sessionLevels struct{ m sync.Map } // weak.Pointer[mcp.ServerSession] → slog.Level

func (s *sessionLevels) set(ss *mcp.ServerSession, level slog.Level) {
	key := weak.Make(ss)
	if _, loaded := s.m.Swap(key, level); !loaded {
		runtime.AddCleanup(ss, func(k weak.Pointer[mcp.ServerSession]) { s.m.Delete(k) }, key)
	}
}

func (s *sessionLevels) get(ss *mcp.ServerSession) (slog.Level, bool) {
	v, ok := s.m.Load(weak.Make(ss))
	if !ok {
		return 0, false
	}
	return v.(slog.Level), true
}

// TrackLogLevel is receiving middleware that records the level a client
// sets with logging/setLevel, for [Log].
func (r *Registry) TrackLogLevel(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		res, err := next(ctx, method, req)
		if err != nil || method != "logging/setLevel" {
			return res, err
		}
		p, ok := req.GetParams().(*mcp.SetLoggingLevelParams)
		ss, isServer := req.GetSession().(*mcp.ServerSession)
		if ok && p != nil && isServer && ss != nil {
			if l, known := mcpLevels[p.Level]; known {
				r.levels.set(ss, l)
			}
		}
		return res, nil
	}
}

// clientLevel returns the lowest level the client of req wants, and false
// when it wants no log messages.
func (r *Registry) clientLevel(req mcp.Request) (slog.Level, bool) {
	if meta := metaOf(req); meta != nil {
		if v, _ := meta[mcp.MetaKeyProtocolVersion].(string); v >= "2026-07-28" {
			// The 2026-07-28 revision sends the level with every request;
			// no level means no messages.
			name, _ := meta[mcp.MetaKeyLogLevel].(string)
			l, ok := mcpLevels[mcp.LoggingLevel(name)]
			return l, ok
		}
	}
	ss, ok := req.GetSession().(*mcp.ServerSession)
	if !ok || ss == nil {
		return 0, false
	}
	return r.levels.get(ss)
}

// metaOf returns the _meta of req's params, nil if none.
func metaOf(req mcp.Request) map[string]any {
	if req == nil {
		return nil
	}
	p := req.GetParams()
	if p == nil {
		return nil
	}
	if v := reflect.ValueOf(p); v.Kind() == reflect.Pointer && v.IsNil() {
		return nil
	}
	return p.GetMeta()
}

// withLog returns ctx carrying the client logger of req (see [Log]),
// naming endpoint as the logger.
func (r *Registry) withLog(ctx context.Context, req mcp.Request, endpoint string) context.Context {
	level, ok := r.clientLevel(req)
	ss, isServer := req.GetSession().(*mcp.ServerSession)
	if !ok || !isServer || ss == nil {
		return ctx
	}
	h := &clientHandler{ss: ss, min: level, name: "pgherd." + endpoint}
	return context.WithValue(ctx, logKey{}, slog.New(h))
}

// clientHandler is a slog.Handler that sends records to one client as
// notifications/message, the record's message and attributes as a JSON
// object in data.
type clientHandler struct {
	ss   *mcp.ServerSession
	min  slog.Level
	name string
	ops  []func(slog.Handler) slog.Handler // WithAttrs and WithGroup, in order
}

func (h *clientHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.min }

func (h *clientHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return h.with(func(x slog.Handler) slog.Handler { return x.WithAttrs(attrs) })
}

func (h *clientHandler) WithGroup(name string) slog.Handler {
	return h.with(func(x slog.Handler) slog.Handler { return x.WithGroup(name) })
}

func (h *clientHandler) with(op func(slog.Handler) slog.Handler) *clientHandler {
	h2 := *h
	h2.ops = append(h.ops[:len(h.ops):len(h.ops)], op)
	return &h2
}

// Handle sends the record. ctx must be the request's: it routes the
// notification to the request's stream.
func (h *clientHandler) Handle(ctx context.Context, rec slog.Record) error {
	var buf bytes.Buffer
	var inner slog.Handler = slog.NewJSONHandler(&buf, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey) {
				return slog.Attr{} // the notification carries the level
			}
			return a
		},
	})
	for _, op := range h.ops {
		inner = op(inner)
	}
	if err := inner.Handle(ctx, rec); err != nil {
		return err
	}
	return h.ss.Log(ctx, &mcp.LoggingMessageParams{
		Logger: h.name,
		Level:  mcpLevel(rec.Level),
		Data:   json.RawMessage(bytes.TrimSpace(buf.Bytes())),
	})
}
