package httpserver

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	mcpauth "github.com/modelcontextprotocol/go-sdk/auth"

	"github.com/pgherd/pgherd/internal/auth"
	"github.com/pgherd/pgherd/internal/cancel"
	"github.com/pgherd/pgherd/internal/gate"
	"github.com/pgherd/pgherd/internal/rpcmsg"
)

// sseHandler serves the legacy HTTP+SSE transport (protocol 2024-11-05):
// GET on the stream path opens a session, POSTs to the message path carry
// the client's messages.
//
// go-sdk's own SSEHandler does not pass the caller's TokenInfo to tool
// handlers, so pgherd runs the SDK's SSEServerTransport itself and attaches
// the identity to every incoming request: each POST is authenticated by the
// same middleware as the stream, must come from the same user as the stream
// (403 otherwise, like a stateful Streamable session), and its TokenInfo is
// what the next messages carry in req.Extra.
type sseHandler struct {
	server      *mcp.Server
	gate        *gate.Gate
	messagePath string
	maxBody     int64
	exchanges   *cancel.Exchanges
	logger      *slog.Logger

	mu       sync.Mutex
	sessions map[string]*sseSession
}

type sseSession struct {
	transport *mcp.SSEServerTransport
	exchange  string // token of the event stream: its calls end with it
	userID    string
	token     atomic.Pointer[mcpauth.TokenInfo]
	header    atomic.Pointer[http.Header]
	conn      atomic.Pointer[sseConn] // set once the server connected
}

func newSSEHandler(server *mcp.Server, g *gate.Gate, messagePath string, maxBody int64, exchanges *cancel.Exchanges, logger *slog.Logger) *sseHandler {
	return &sseHandler{server: server, gate: g, messagePath: messagePath, maxBody: maxBody, exchanges: exchanges, logger: logger, sessions: make(map[string]*sseSession)}
}

// stream handles GET on the stream path.
func (h *sseHandler) stream(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "open the event stream with GET; send messages to "+h.messagePath)
		return
	}
	id := rand.Text()
	// The stream carries every answer of the session: when it closes, the
	// calls still running are cancelled.
	token, unregister := h.exchanges.Stream(r)
	defer unregister()
	s := &sseSession{
		exchange: token,
		transport: &mcp.SSEServerTransport{
			Endpoint:            h.messagePath + "?sessionid=" + id,
			Response:            w,
			MaxRequestBodyBytes: h.maxBody,
		},
	}
	if ti := tokenInfo(r); ti != nil {
		s.userID = ti.UserID
		s.token.Store(ti)
	}
	hdr := r.Header.Clone()
	s.header.Store(&hdr)

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Connection", "keep-alive")

	h.mu.Lock()
	h.sessions[id] = s
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.sessions, id)
		h.mu.Unlock()
	}()

	ss, err := h.server.Connect(r.Context(), gate.Transport(&sseTransport{s}), nil)
	if err != nil {
		h.logger.Warn("sse connect", "error", err)
		writeError(w, http.StatusInternalServerError, "server_error", "could not open the MCP session")
		return
	}
	done := make(chan struct{})
	go func() {
		ss.Wait()
		close(done)
	}()
	select {
	case <-r.Context().Done():
		// The client is gone (the stream is the session): end the
		// session's reader first, which cancels its calls in flight;
		// Close alone would wait for them to finish.
		if c := s.conn.Load(); c != nil {
			c.Close()
		}
	case <-done:
	}
	ss.Close()
	<-done
}

// message handles POST on the message path.
func (h *sseHandler) message(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "send messages with POST")
		return
	}
	id := r.URL.Query().Get("sessionid")
	if id == "" {
		writeError(w, http.StatusBadRequest, "invalid_request", "sessionid query parameter is missing; use the endpoint URL the event stream announced")
		return
	}
	h.mu.Lock()
	s := h.sessions[id]
	h.mu.Unlock()
	if s == nil {
		writeError(w, http.StatusNotFound, "session_not_found", "no such session; open a new event stream")
		return
	}
	ti := tokenInfo(r)
	user := ""
	if ti != nil {
		user = ti.UserID
	}
	if user != s.userID {
		writeError(w, http.StatusForbidden, "forbidden", "this session belongs to another user")
		return
	}
	if ti != nil {
		s.token.Store(ti)
	}
	hdr := r.Header.Clone()
	s.header.Store(&hdr)
	if !h.answered(w, r, s) {
		s.transport.ServeHTTP(w, r)
	}
}

// answered checks the message of a POST before go-sdk does, which would
// refuse a bad one with a plain-text 400 and never answer its id on the
// stream (the client waits forever). A refused request gets its JSON-RPC
// error on the event stream and the POST 202; a body without a usable id
// gets 400 with the JSON-RPC error. It reports whether it answered; if
// not, the body is restored for go-sdk.
func (h *sseHandler) answered(w http.ResponseWriter, r *http.Request, s *sseSession) bool {
	if !isJSON(r.Header.Get("Content-Type")) {
		return false // go-sdk answers 415
	}
	buf, err := io.ReadAll(io.LimitReader(r.Body, h.maxBody+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", "reading the request body: "+err.Error())
		return true
	}
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(buf), r.Body), r.Body}
	if int64(len(buf)) > h.maxBody {
		return false // go-sdk answers 413
	}
	var refusal *rpcmsg.Problem
	if p := rpcmsg.Check(buf); p != nil {
		if p.ID == nil {
			writeRPCError(w, http.StatusBadRequest, p)
			return true
		}
		refusal = p
	} else if reqs := rpcmsg.Requests(buf); len(reqs) == 1 && firstByte(buf) == '{' && h.gate != nil {
		if jerr := h.gate.Refusal(reqs[0].Method); jerr != nil {
			if reqs[0].ID == nil {
				w.WriteHeader(http.StatusAccepted) // a notification is never answered
				return true
			}
			refusal = &rpcmsg.Problem{Code: int(jerr.Code), Message: jerr.Message, ID: reqs[0].ID}
		}
	}
	if refusal == nil {
		return false
	}
	id, err := jsonrpc.MakeID(refusal.ID)
	c := s.conn.Load()
	if err != nil || c == nil {
		writeRPCError(w, http.StatusBadRequest, refusal)
		return true
	}
	resp := &jsonrpc.Response{ID: id, Error: &jsonrpc.Error{Code: int64(refusal.Code), Message: refusal.Message}}
	if err := c.Connection.Write(r.Context(), resp); err != nil {
		writeRPCError(w, http.StatusBadRequest, refusal)
		return true
	}
	w.WriteHeader(http.StatusAccepted)
	return true
}

func tokenInfo(r *http.Request) *mcpauth.TokenInfo {
	if p := auth.PrincipalFromRequest(r); p != nil {
		return p.TokenInfo()
	}
	return nil
}

// sseTransport wraps the SDK transport so every request read from the
// session carries the session's current identity and headers.
type sseTransport struct{ s *sseSession }

func (t *sseTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	c, err := t.s.transport.Connect(ctx)
	if err != nil {
		return nil, err
	}
	conn := &sseConn{Connection: c, s: t.s}
	t.s.conn.Store(conn)
	return conn, nil
}

// SupportsProtocolVersion keeps the SDK from advertising protocol revisions
// the legacy transport cannot carry.
func (t *sseTransport) SupportsProtocolVersion(v string) bool {
	return t.s.transport.SupportsProtocolVersion(v)
}

type sseConn struct {
	mcp.Connection
	s *sseSession
}

func (c *sseConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	msg, err := c.Connection.Read(ctx)
	if req, ok := msg.(*jsonrpc.Request); ok && err == nil {
		extra := &mcp.RequestExtra{TokenInfo: c.s.token.Load()}
		var hdr http.Header
		if h := c.s.header.Load(); h != nil {
			hdr = *h
		}
		extra.Header = cancel.Attach(hdr, c.s.exchange)
		req.Extra = extra
	}
	return msg, err
}
