package observe

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// Observer receives every tool call once it has ended. ObserveCall runs on
// the call's goroutine before the response is sent, so it must not block;
// it must not modify c, and may keep it (nothing writes to an ended call).
type Observer interface {
	ObserveCall(ctx context.Context, c *Call)
}

// ObserverFunc adapts a function to [Observer].
type ObserverFunc func(ctx context.Context, c *Call)

// ObserveCall calls f.
func (f ObserverFunc) ObserveCall(ctx context.Context, c *Call) { f(ctx, c) }

// CallStarter is an [Observer] that also wants to know when a call starts.
// The context it returns is the call's from then on (a tracing span, for
// instance); it must derive from ctx. The same context reaches ObserveCall.
type CallStarter interface {
	StartCall(ctx context.Context, c *Call) context.Context
}

// RequestObserver is an [Observer] that also sees every MCP request
// (initialize, tools/list, tools/call, notifications…) through
// [Hub.Middleware]. StartRequest's context must derive from ctx; tool calls
// made by the request run under it.
type RequestObserver interface {
	StartRequest(ctx context.Context, r *Request) context.Context
	EndRequest(ctx context.Context, r *Request)
}

// RoundTripObserver is an [Observer] that also sees every database round
// trip made during a tool call, through [Hub.DBTracer].
type RoundTripObserver interface {
	StartRoundTrip(ctx context.Context, rt *RoundTrip) context.Context
	EndRoundTrip(ctx context.Context, rt *RoundTrip)
}

// AuthObserver is an [Observer] that also sees every refused
// authentication.
type AuthObserver interface {
	ObserveAuthFailure(ctx context.Context, f *AuthFailure)
}

// Closer is an [Observer] holding resources (a file, an exporter) that
// [Hub.Close] releases, flushing what is buffered before ctx ends.
type Closer interface {
	Close(ctx context.Context) error
}

// Hub hands calls, requests, round trips and authentication failures to
// the observers registered with [New]. It is safe for concurrent use. A nil
// *Hub observes nothing: calls still get their record and logger.
type Hub struct {
	logger    *slog.Logger
	observers []Observer
	starters  []CallStarter
	requests  []RequestObserver
	trips     []RoundTripObserver
	auths     []AuthObserver
	closers   []Closer
}

// New returns a hub with observers, which receive calls in the order given.
// logger is the server log that call loggers ([Call.Logger]) write to; nil
// discards.
func New(logger *slog.Logger, observers ...Observer) *Hub {
	if logger == nil {
		logger = discard
	}
	h := &Hub{logger: logger}
	for _, o := range observers {
		if o == nil {
			continue
		}
		h.observers = append(h.observers, o)
		if s, ok := o.(CallStarter); ok {
			h.starters = append(h.starters, s)
		}
		if r, ok := o.(RequestObserver); ok {
			h.requests = append(h.requests, r)
		}
		if t, ok := o.(RoundTripObserver); ok {
			h.trips = append(h.trips, t)
		}
		if a, ok := o.(AuthObserver); ok {
			h.auths = append(h.auths, a)
		}
		if c, ok := o.(Closer); ok {
			h.closers = append(h.closers, c)
		}
	}
	return h
}

// StartCall starts c: it stamps the start time (unless set), attaches c to
// the returned context and tells every [CallStarter]. End the call with
// [Hub.EndCall] on the returned context.
func (h *Hub) StartCall(ctx context.Context, c *Call) context.Context {
	if c.Start.IsZero() {
		c.Start = time.Now()
	}
	ctx = WithCall(ctx, c)
	if h == nil {
		return ctx
	}
	c.base = h.logger
	for _, s := range h.starters {
		ctx = s.StartCall(ctx, c)
	}
	return ctx
}

// End is how a call ended.
type End struct {
	Outcome  Outcome
	Err      error  // the tool error the client saw; nil for OK
	SQLState string // PostgreSQL's SQLSTATE, if the error carries one
	Bytes    int64  // size of the result sent to the client
}

// EndCall completes c's record and hands it to every observer. ctx must be
// the context StartCall returned. Later setters on c do nothing.
func (h *Hub) EndCall(ctx context.Context, c *Call, e End) {
	c.end(e.Outcome, e.Err, e.SQLState, e.Bytes)
	if h == nil {
		return
	}
	for _, o := range h.observers {
		o.ObserveCall(ctx, c)
	}
}

// AuthFailure is one refused authentication: a request the HTTP layer
// answered 401, 403 or 429 before it reached an MCP server.
type AuthFailure struct {
	Time        time.Time
	RequestID   string
	Endpoint    string // the endpoint the request was for ("main" for /mcp)
	Reason      string // one of the Auth… reasons: a fixed set, used as a label value
	Status      int    // the HTTP status answered
	Description string // what the client was told (never the credential)
	Remote      string // the client's address
	Method      string // HTTP method
	Path        string // URL path
}

// Reasons for an [AuthFailure].
const (
	AuthMissing       = "missing_credentials" // no Authorization header where one is required
	AuthInvalid       = "invalid_credentials" // a credential that does not verify
	AuthForbidden     = "forbidden"           // a valid credential that may not use the endpoint
	AuthScope         = "insufficient_scope"  // a valid credential that lacks the scope for a tool
	AuthTooMany       = "too_many_attempts"   // too many failed logins from one address
	AuthInternalError = "internal_error"      // authentication failed on the server
)

// AuthReasons lists every [AuthFailure] reason.
var AuthReasons = []string{AuthMissing, AuthInvalid, AuthForbidden, AuthScope, AuthTooMany, AuthInternalError}

// AuthFailed hands f to every [AuthObserver]. It stamps f.Time if unset.
func (h *Hub) AuthFailed(ctx context.Context, f *AuthFailure) {
	if h == nil {
		return
	}
	if f.Time.IsZero() {
		f.Time = time.Now()
	}
	for _, a := range h.auths {
		a.ObserveAuthFailure(ctx, f)
	}
}

// Close releases every observer's resources ([Closer]) in reverse order,
// flushing buffered records and spans until ctx ends. Call it once, after
// the last call has ended.
func (h *Hub) Close(ctx context.Context) error {
	if h == nil {
		return nil
	}
	var errs []error
	for i := len(h.closers) - 1; i >= 0; i-- {
		errs = append(errs, h.closers[i].Close(ctx))
	}
	return errors.Join(errs...)
}
