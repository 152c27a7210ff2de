// Package cancel ties every MCP request's context to what carries it, so
// that a client going away, or asking to cancel, stops the request's work —
// down to the statement running in PostgreSQL — on every transport and
// protocol revision.
//
// go-sdk already cancels a handler on notifications/cancelled within a
// session (stateful Streamable HTTP, legacy SSE, stdio), on stdio EOF, and
// on a dropped connection for protocol 2026-07-28
// (StreamableHTTPOptions.PropagateRequestCancellation). It does not for the
// rest, because a handler's context is not the HTTP request's: a dropped
// POST of a 2025-era request (stateless or stateful), a closed legacy SSE
// stream, and notifications/cancelled sent to a stateless server (it arrives
// in a request of its own, which go-sdk serves with a fresh session).
//
// [Exchanges] closes the gap. Its HTTP middleware registers each request
// that carries MCP calls (a Streamable POST; a legacy SSE event stream) under
// a random token it writes into the request's headers, which go-sdk hands to
// handlers as RequestExtra.Header; [Exchanges.Middleware], receiving
// middleware on the MCP server, ties each call's context to the HTTP
// request's by that token. In stateless mode the HTTP middleware also reads
// notifications/cancelled and cancels the request it names, if the same
// caller from the same address sent it.
//
// Stateful sessions keep their event streams resumable: a client that lost
// the POST carrying a call may come back with GET and Last-Event-ID and
// receive the answer there. So in stateful mode a dropped POST's calls get
// [ResumeGrace] to be resumed; a GET with Last-Event-ID on the session
// adopts them (they then end with that stream), otherwise they are
// cancelled.
package cancel

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/auth"
)

// sessionHeader is Streamable HTTP's session id header.
const sessionHeader = "Mcp-Session-Id"

// Header carries an exchange's token from the HTTP layer to the MCP
// handlers. The HTTP middleware always overwrites it: a client cannot pick
// another request's token.
const Header = "X-Pgherd-Exchange"

// ResumeGrace is how long the calls of a stateful session's dropped POST
// wait for the client to resume its stream before they are cancelled. The
// reconnection delay announced to clients must be well below it.
const ResumeGrace = 500 * time.Millisecond

// Errors a cancelled call's context reports as its cause.
var (
	ErrDisconnected = errors.New("the client disconnected")
	ErrCancelled    = errors.New("the client cancelled the request")
)

// Exchanges tracks the HTTP requests that carry MCP calls. It is safe for
// concurrent use.
type Exchanges struct {
	mu        sync.Mutex
	byToken   map[string]*exchange
	stateless map[callKey]*exchange  // stateless POSTs carrying exactly one call
	orphans   map[string][]*exchange // stateful: dropped POSTs awaiting a resume, by session id
}

// exchange is one HTTP request carrying calls, with a context that ends
// when the request does (after ResumeGrace, for a stateful session) or when
// the client cancels its call.
type exchange struct {
	ctx     context.Context
	cancel  context.CancelCauseFunc
	session string       // Mcp-Session-Id of a stateful POST
	timer   *time.Timer  // while orphaned; guarded by Exchanges.mu
	running atomic.Int32 // calls still being handled
}

// callKey names a call of a stateless request: JSON-RPC ids are the
// client's own, so the caller and its address make them unique enough.
type callKey struct {
	caller string // Principal.ID, "" without authentication
	peer   string // client IP address
	id     string // the JSON-RPC id as raw JSON
}

// New returns an empty registry.
func New() *Exchanges {
	return &Exchanges{byToken: make(map[string]*exchange), stateless: make(map[callKey]*exchange), orphans: make(map[string][]*exchange)}
}

// register records r under a fresh token written into r's headers; done
// unregisters it and cancels its calls. With session set (a stateful
// POST), a request the client dropped leaves its calls to be resumed
// within ResumeGrace instead.
func (x *Exchanges) register(r *http.Request, session string) (ex *exchange, done func()) {
	parent := r.Context()
	if session != "" {
		parent = context.WithoutCancel(parent)
	}
	ctx, cancel := context.WithCancelCause(parent)
	ex = &exchange{ctx: ctx, cancel: cancel, session: session}
	token := rand.Text()
	r.Header.Set(Header, token)
	x.mu.Lock()
	x.byToken[token] = ex
	x.mu.Unlock()
	context.AfterFunc(ctx, func() {
		x.mu.Lock()
		delete(x.byToken, token)
		x.mu.Unlock()
	})
	return ex, func() {
		// A stateful POST's calls wait for a resumed stream when the client
		// dropped the request, and when the server ended its stream while
		// they run (SEP-1699 polling: go-sdk's CloseSSEStream).
		if session != "" && (r.Context().Err() != nil || ex.running.Load() > 0) {
			x.orphan(ex)
			return
		}
		cancel(ErrDisconnected)
	}
}

// orphan gives ex's calls ResumeGrace to be adopted by a resumed stream.
func (x *Exchanges) orphan(ex *exchange) {
	if ex.ctx.Err() != nil {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.orphans[ex.session] = append(x.orphans[ex.session], ex)
	ex.timer = time.AfterFunc(ResumeGrace, func() {
		x.mu.Lock()
		x.dropOrphan(ex)
		x.mu.Unlock()
		ex.cancel(ErrDisconnected)
	})
}

// dropOrphan removes ex from the orphans. x.mu must be held.
func (x *Exchanges) dropOrphan(ex *exchange) {
	list := x.orphans[ex.session]
	for i, o := range list {
		if o == ex {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(x.orphans, ex.session)
	} else {
		x.orphans[ex.session] = list
	}
}

// adopt ties the orphaned calls of session to r, a GET resuming one of the
// session's streams; done orphans them again when r ends.
func (x *Exchanges) adopt(session string) (done func()) {
	x.mu.Lock()
	var adopted []*exchange
	for _, ex := range x.orphans[session] {
		if ex.timer.Stop() {
			adopted = append(adopted, ex)
		}
	}
	delete(x.orphans, session)
	x.mu.Unlock()
	return func() {
		for _, ex := range adopted {
			x.orphan(ex)
		}
	}
}

// endSession cancels the orphaned calls of a session the client deleted.
func (x *Exchanges) endSession(session string) {
	x.mu.Lock()
	list := x.orphans[session]
	delete(x.orphans, session)
	for _, ex := range list {
		ex.timer.Stop()
	}
	x.mu.Unlock()
	for _, ex := range list {
		ex.cancel(ErrDisconnected)
	}
}

// Streamable is HTTP middleware for a Streamable HTTP endpoint: every
// request other than GET (whose event stream carries no calls) is
// registered. With stateless set it also handles notifications/cancelled
// for requests of the same caller and address. maxBody bounds how much of a
// body it reads to find them (the MCP handler enforces its own limit).
func (x *Exchanges) Streamable(stateless bool, maxBody int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		session := ""
		if !stateless {
			session = r.Header.Get(sessionHeader)
		}
		switch r.Method {
		case http.MethodGet:
			r.Header.Del(Header)
			if session != "" && r.Header.Get("Last-Event-ID") != "" {
				defer x.adopt(session)()
			}
			next.ServeHTTP(w, r)
			return
		case http.MethodDelete:
			r.Header.Del(Header)
			next.ServeHTTP(w, r)
			if session != "" {
				x.endSession(session)
			}
			return
		}
		ex, done := x.register(r, session)
		defer done()
		if stateless && r.Method == http.MethodPost {
			if body, ok := peek(r, maxBody); ok {
				calls, cancels := scan(body)
				key := callKey{caller: auth.PrincipalFromRequest(r).ID(), peer: peer(r)}
				for _, id := range cancels {
					x.cancelStateless(callKey{key.caller, key.peer, id})
				}
				if len(calls) == 1 {
					key.id = calls[0]
					x.mu.Lock()
					if _, taken := x.stateless[key]; !taken {
						x.stateless[key] = ex
						defer func() {
							x.mu.Lock()
							if x.stateless[key] == ex {
								delete(x.stateless, key)
							}
							x.mu.Unlock()
						}()
					}
					x.mu.Unlock()
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// Stream registers a legacy SSE event stream, which carries the responses
// of every call of its session: when it closes, they are cancelled. It
// returns the token to attach to the session's requests ([Attach]) and
// the function that unregisters it.
func (x *Exchanges) Stream(r *http.Request) (token string, done func()) {
	_, done = x.register(r, "")
	return r.Header.Get(Header), done
}

// Attach sets token on a request's headers (legacy SSE: each message
// arrives in a POST of its own, but belongs to the stream).
func Attach(h http.Header, token string) http.Header {
	h = h.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set(Header, token)
	return h
}

func (x *Exchanges) cancelStateless(key callKey) {
	x.mu.Lock()
	ex := x.stateless[key]
	x.mu.Unlock()
	if ex != nil {
		ex.cancel(ErrCancelled)
	}
}

// Middleware is receiving middleware for every MCP server: the context of
// each request that expects an answer ends when the HTTP request carrying it
// does (the client disconnected) or the client cancels it. A request whose
// exchange is already gone is cancelled at once: its answer has nowhere to
// go. Requests without a token (stdio, in-process) are left alone.
func (x *Exchanges) Middleware(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		extra := req.GetExtra()
		if extra == nil || extra.Header == nil || isNotification(method) {
			return next(ctx, method, req)
		}
		token := extra.Header.Get(Header)
		if token == "" {
			return next(ctx, method, req)
		}
		x.mu.Lock()
		ex := x.byToken[token]
		x.mu.Unlock()
		ctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		if ex == nil {
			cancel(ErrDisconnected)
		} else {
			ex.running.Add(1)
			defer ex.running.Add(-1)
			stop := context.AfterFunc(ex.ctx, func() { cancel(context.Cause(ex.ctx)) })
			defer stop()
		}
		return next(ctx, method, req)
	}
}

func isNotification(method string) bool {
	return len(method) > len("notifications/") && method[:len("notifications/")] == "notifications/"
}

// peek reads up to limit bytes of r's body and puts them back.
func peek(r *http.Request, limit int64) ([]byte, bool) {
	if r.Body == nil {
		return nil, false
	}
	buf, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(buf), r.Body), r.Body}
	if err != nil || int64(len(buf)) > limit {
		return nil, false
	}
	return buf, true
}

// scan returns the ids of the calls in a JSON-RPC message or batch and the
// request ids named by its notifications/cancelled.
func scan(body []byte) (calls, cancels []string) {
	type message struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params struct {
			RequestID json.RawMessage `json:"requestId"`
		} `json:"params"`
	}
	var msgs []message
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '[' {
		if json.Unmarshal(trimmed, &msgs) != nil {
			return nil, nil
		}
	} else {
		var one message
		if json.Unmarshal(trimmed, &one) != nil {
			return nil, nil
		}
		msgs = []message{one}
	}
	for _, m := range msgs {
		switch {
		case m.Method == "notifications/cancelled" && len(m.Params.RequestID) > 0:
			cancels = append(cancels, canonicalID(m.Params.RequestID))
		case m.Method != "" && len(m.ID) > 0 && string(m.ID) != "null":
			calls = append(calls, canonicalID(m.ID))
		}
	}
	return calls, cancels
}

// canonicalID spells a JSON-RPC id one way, whatever its spacing; a number
// and a string stay distinct ids.
func canonicalID(raw json.RawMessage) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	out, _ := json.Marshal(v)
	return string(out)
}

func peer(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
