package httpserver

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/auth"
	"github.com/pgherd/pgherd/internal/gate"
	"github.com/pgherd/pgherd/internal/ratelimit"
	"github.com/pgherd/pgherd/internal/rpcmsg"
	"github.com/pgherd/pgherd/internal/tools"
)

// withRequestID gives every request an id (the client's X-Request-Id when it
// is sane), echoes it in the response and writes it into the request headers,
// where go-sdk hands it to tool handlers (req.Extra.Header) for their logs.
// It also logs the request at debug level, and failures at info.
//
// Every write of the response must finish within writeTimeout (zero: no
// bound): a client that stops reading, or reads at a trickle, is cut off
// instead of holding its goroutine and buffers. The deadline is set per
// write, so a long event stream or a long tool call is not cut while it
// has nothing to send.
func withRequestID(logger *slog.Logger, writeTimeout time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(tools.RequestIDHeader)
		if !saneID(id) {
			id = rand.Text()[:16]
		}
		r.Header.Set(tools.RequestIDHeader, id)
		w.Header().Set(tools.RequestIDHeader, id)
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, timeout: writeTimeout}
		if writeTimeout > 0 {
			sw.rc = http.NewResponseController(w)
			sw.rc.SetWriteDeadline(time.Time{}) // none left from an earlier response on this connection
		}
		next.ServeHTTP(sw, r)
		level := slog.LevelDebug
		if sw.status >= 400 {
			level = slog.LevelInfo
		}
		logger.LogAttrs(r.Context(), level, "http request",
			slog.String("request_id", id),
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", sw.code()),
			slog.Duration("duration", time.Since(start)),
			slog.String("remote", r.RemoteAddr))
	})
}

func saneID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// statusWriter records the status code. It passes Flush through (event
// streams need it) and Unwrap for http.ResponseController.
type statusWriter struct {
	http.ResponseWriter
	status  int
	timeout time.Duration
	rc      *http.ResponseController // nil when timeout is zero
}

// deadline bounds the next write.
func (w *statusWriter) deadline() {
	if w.rc != nil {
		w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
	}
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.deadline()
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		w.deadline()
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// inspection configures [inspect].
type inspection struct {
	reg         *tools.Registry
	gate        *gate.Gate // nil: no method is refused here
	metadataURL string
	limit       int64
	stateful    bool             // the endpoint keeps sessions (Mcp-Session-Id)
	rateLimit   *ratelimit.Guard // nil: no rate limit here
	// refused reports a tools/call refused for want of a scope (metrics,
	// audit); nil: nobody is told.
	refused func(r *http.Request, description string)
	// readTimeout bounds reading the body (server.write_timeout); zero:
	// no bound.
	readTimeout time.Duration
}

// inspect checks a Streamable HTTP request before go-sdk does, so that every
// refusal is a JSON-RPC error (go-sdk answers most of them with plain text,
// and some with the code 0):
//   - an MCP-Protocol-Version header that is not a revision this server
//     speaks gets 400 (a garbage value would otherwise count as the newest);
//   - a body that is not a JSON-RPC message or batch gets 400 with -32700 or
//     -32600 (see rpcmsg.Check: also id null, a method that is not a
//     string, deep nesting);
//   - in stateful mode, a request without Mcp-Session-Id that does not
//     initialize, or an initialize inside a session, gets 400 with -32600;
//   - a request for a method MCP does not define, or of a capability the
//     server does not declare, gets -32601 (HTTP 200 as any JSON-RPC
//     answer, 404 under protocol 2026-07-28, which asks for it); such a
//     notification is accepted and dropped (202);
//   - when the caller is authenticated, a tools/call the caller may not make
//     gets 403 insufficient_scope, as the MCP authorization spec asks (the
//     MCP server refuses it again as a tool error, the only option over
//     stdio and legacy SSE);
//   - tools/calls over the caller's rate limit get 429 with Retry-After (see
//     [allowRate]); what passed is marked with [RateCheckedHeader] so the
//     MCP layer does not count it again.
//
// A body over limit is refused with 413 as soon as that is known — from
// Content-Length before reading anything, or after limit+1 bytes — and the
// connection is closed rather than the rest read. The body is read within
// readTimeout and restored for the handler.
func inspect(in inspection, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		version := r.Header.Get(protocolVersionHeader)
		if r.Method != http.MethodPost || !isJSON(r.Header.Get("Content-Type")) {
			if p := checkVersion(version); p != nil {
				writeRPCError(w, http.StatusBadRequest, p)
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		tooLarge := func() {
			w.Header().Set("Connection", "close")
			writeRPCError(w, http.StatusRequestEntityTooLarge, &rpcmsg.Problem{Code: jsonrpc.CodeInvalidRequest,
				Message: fmt.Sprintf("invalid request: the body is larger than %d bytes (server.max_body_bytes); send a smaller message", in.limit)})
		}
		if r.ContentLength > in.limit {
			tooLarge()
			return
		}
		rc := http.NewResponseController(w)
		if in.readTimeout > 0 {
			rc.SetReadDeadline(time.Now().Add(in.readTimeout))
		}
		buf, err := io.ReadAll(io.LimitReader(r.Body, in.limit+1))
		if in.readTimeout > 0 {
			// No deadline left behind: net/http's background read of the
			// connection would take its expiry for a client that left.
			rc.SetReadDeadline(time.Time{})
		}
		if err != nil {
			w.Header().Set("Connection", "close")
			writeError(w, http.StatusBadRequest, "invalid_request", "reading the request body: "+err.Error())
			return
		}
		if int64(len(buf)) > in.limit {
			tooLarge()
			return
		}
		r.Body = struct {
			io.Reader
			io.Closer
		}{bytes.NewReader(buf), r.Body}
		if p := rpcmsg.Check(buf); p != nil {
			writeRPCError(w, http.StatusBadRequest, p)
			return
		}
		reqs := rpcmsg.Requests(buf)
		var single *rpcmsg.Request
		if len(reqs) == 1 && firstByte(buf) == '{' {
			single = &reqs[0]
		}
		if p := checkVersion(version); p != nil {
			if single != nil {
				p.ID = single.ID
			}
			writeRPCError(w, http.StatusBadRequest, p)
			return
		}
		if in.stateful && version < newestRevision {
			if p := checkSession(r.Header.Get(sessionIDHeader) != "", reqs); p != nil {
				if single != nil {
					p.ID = single.ID
				}
				writeRPCError(w, http.StatusBadRequest, p)
				return
			}
		}
		if single != nil && in.gate != nil {
			if jerr := in.gate.Refusal(single.Method); jerr != nil {
				if single.ID == nil {
					w.WriteHeader(http.StatusAccepted) // a notification is never answered
					return
				}
				status := http.StatusOK
				if version >= newestRevision {
					status = http.StatusNotFound
				}
				writeRPCError(w, status, &rpcmsg.Problem{Code: int(jerr.Code), Message: jerr.Message, ID: single.ID})
				return
			}
		}
		if prin := auth.PrincipalFromRequest(r); prin != nil {
			for _, name := range calledTools(buf) {
				spec, ok := in.reg.Lookup(name)
				if !ok || prin.AllowsTool(spec.Base, spec.Tags) {
					continue
				}
				challenge := fmt.Sprintf(`Bearer error="insufficient_scope", scope=%q`, strings.Join(spec.Tags, " "))
				if in.metadataURL != "" {
					challenge += fmt.Sprintf(`, resource_metadata=%q`, in.metadataURL)
				}
				w.Header().Set("WWW-Authenticate", challenge)
				msg := fmt.Sprintf("%s may not call %s; it needs one of the scopes: %s", prin.ID(), name, strings.Join(spec.Tags, ", "))
				if in.refused != nil {
					in.refused(r, msg)
				}
				writeError(w, http.StatusForbidden, "insufficient_scope", msg)
				return
			}
			// Rate limits before MCP: 429 with Retry-After. (Legacy SSE
			// clients end their session on a failed POST: there the tool
			// call itself is refused, with retry_after_ms.)
			if in.rateLimit != nil {
				if !allowRate(w, r, in.rateLimit, in.reg, prin, calledTools(buf)) {
					return
				}
				r.Header.Set(RateCheckedHeader, "1")
			}
		}
		if firstByte(buf) == '[' && version >= batchlessRevision {
			// go-sdk refuses the batch in plain text.
			writeRPCError(w, http.StatusBadRequest, &rpcmsg.Problem{Code: jsonrpc.CodeInvalidRequest,
				Message: "invalid request: JSON-RPC batches are not supported in protocol " + version + " (they exist only in 2025-03-26); send one message per request"})
			return
		}
		var id any
		if single != nil {
			id = single.ID
		}
		pw := &plainRefusal{ResponseWriter: w, id: id}
		next.ServeHTTP(pw, r)
		pw.finish()
	})
}

// batchlessRevision is the first MCP revision without JSON-RPC batches.
const batchlessRevision = "2025-06-18"

// plainRefusal turns go-sdk's plain-text 400 answers (a request without the
// params its method needs, say) into JSON-RPC errors (-32600 with the
// request's id), as every other refusal is.
type plainRefusal struct {
	http.ResponseWriter
	id      any
	refused bool
	text    bytes.Buffer
}

func (w *plainRefusal) WriteHeader(code int) {
	if code == http.StatusBadRequest && strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
		w.refused = true
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *plainRefusal) Write(b []byte) (int, error) {
	if w.refused {
		return w.text.Write(b)
	}
	return w.ResponseWriter.Write(b)
}

func (w *plainRefusal) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok && !w.refused {
		f.Flush()
	}
}

func (w *plainRefusal) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *plainRefusal) finish() {
	if !w.refused {
		return
	}
	w.Header().Del("X-Content-Type-Options")
	msg := strings.TrimSpace(w.text.String())
	if !strings.HasPrefix(msg, "invalid request") {
		msg = "invalid request: " + msg
	}
	writeRPCError(w.ResponseWriter, http.StatusBadRequest, &rpcmsg.Problem{Code: jsonrpc.CodeInvalidRequest, Message: msg, ID: w.id})
}

const (
	protocolVersionHeader = "Mcp-Protocol-Version"
	sessionIDHeader       = "Mcp-Session-Id"
	// newestRevision is the first protocol revision without sessions, where
	// every request carries its own version.
	newestRevision = "2026-07-28"
)

// checkVersion refuses an MCP-Protocol-Version header that is not a
// revision this server speaks. Revisions from 2026-07-28 on are left to
// go-sdk, which answers an unsupported one with the supported list in the
// error data, as that revision asks. The refusal carries the same data
// (supported and requested versions, SEP-2575), so a 2026-07-28 client that
// sent a value no revision has (the conformance suite sends "v999.0.0")
// learns what to use, too.
func checkVersion(v string) *rpcmsg.Problem {
	if v == "" || (isRevision(v) && (v >= newestRevision || slices.Contains(mcp.SupportedProtocolVersions(), v))) {
		return nil
	}
	return &rpcmsg.Problem{Code: jsonrpc.CodeInvalidRequest, Message: fmt.Sprintf(
		"invalid request: unsupported MCP-Protocol-Version header %q; this server speaks %s", v, strings.Join(mcp.SupportedProtocolVersions(), ", ")),
		Data: mcp.UnsupportedProtocolVersionData{Supported: mcp.SupportedProtocolVersions(), Requested: v}}
}

// isRevision reports whether v looks like a protocol revision (YYYY-MM-DD).
func isRevision(v string) bool {
	if len(v) != 10 || v[4] != '-' || v[7] != '-' {
		return false
	}
	for i, c := range v {
		if i != 4 && i != 7 && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// checkSession refuses, on a stateful endpoint, requests that do not fit the
// session they are (or are not) in.
func checkSession(hasSession bool, reqs []rpcmsg.Request) *rpcmsg.Problem {
	initialize := slices.ContainsFunc(reqs, func(r rpcmsg.Request) bool { return r.Method == "initialize" })
	switch {
	case !hasSession && !initialize:
		return &rpcmsg.Problem{Code: jsonrpc.CodeInvalidRequest, Message: "invalid request: the Mcp-Session-Id header is missing; " +
			"this endpoint keeps sessions: send initialize first, then the Mcp-Session-Id it returns with every request"}
	case hasSession && initialize:
		return &rpcmsg.Problem{Code: jsonrpc.CodeInvalidRequest, Message: "invalid request: this session is already initialized; " +
			"to start a new session, send initialize without an Mcp-Session-Id header"}
	}
	return nil
}

// writeRPCError writes a JSON-RPC error response with status.
func writeRPCError(w http.ResponseWriter, status int, p *rpcmsg.Problem) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(p.Response())
}

func firstByte(data []byte) byte {
	for _, b := range data {
		switch b {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return b
	}
	return 0
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}

// calledTools returns the tool names of the tools/call requests in body (one
// JSON-RPC message or a batch). Anything it cannot parse is left to the MCP
// handler, which answers with the right JSON-RPC error.
func calledTools(body []byte) []string {
	type call struct {
		Method string `json:"method"`
		Params struct {
			Name string `json:"name"`
		} `json:"params"`
	}
	var msgs []call
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '[' {
		if json.Unmarshal(trimmed, &msgs) != nil {
			return nil
		}
	} else {
		var one call
		if json.Unmarshal(trimmed, &one) != nil {
			return nil
		}
		msgs = []call{one}
	}
	var names []string
	for _, m := range msgs {
		if m.Method == "tools/call" && m.Params.Name != "" {
			names = append(names, m.Params.Name)
		}
	}
	return names
}
