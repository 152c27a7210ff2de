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
	"strings"
	"time"

	"github.com/pgherd/pgherd/internal/auth"
	"github.com/pgherd/pgherd/internal/rpcmsg"
	"github.com/pgherd/pgherd/internal/tools"
)

// withRequestID gives every request an id (the client's X-Request-Id when it
// is sane), echoes it in the response and writes it into the request headers,
// where go-sdk hands it to tool handlers (req.Extra.Header) for their logs.
// It also logs the request at debug level, and failures at info.
func withRequestID(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(tools.RequestIDHeader)
		if !saneID(id) {
			id = rand.Text()[:16]
		}
		r.Header.Set(tools.RequestIDHeader, id)
		w.Header().Set(tools.RequestIDHeader, id)
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
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
	status int
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
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
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

// inspect reads the body of a JSON POST before the MCP handler does (at most
// limit bytes, restored afterwards so the handler sees the whole request and
// enforces its own size limit) and:
//   - answers a body that is not a JSON-RPC message or batch with 400 and the
//     JSON-RPC error for it (-32700 parse error, -32600 invalid request), which
//     go-sdk would answer in plain text;
//   - when scope is set and the caller is authenticated, answers a tools/call
//     the caller may not make with 403 insufficient_scope, as the MCP
//     authorization spec asks (the MCP server refuses it again as a tool
//     error, the only option over stdio and legacy SSE).
func inspect(reg *tools.Registry, metadataURL string, limit int64, scope bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !isJSON(r.Header.Get("Content-Type")) {
			next.ServeHTTP(w, r)
			return
		}
		buf, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid_request", "reading the request body: "+err.Error())
			return
		}
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(buf), r.Body), r.Body}
		if int64(len(buf)) > limit {
			next.ServeHTTP(w, r) // the MCP handler answers 413
			return
		}
		if p := rpcmsg.Check(buf); p != nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			w.Write(p.Response())
			return
		}
		if prin := auth.PrincipalFromRequest(r); scope && prin != nil {
			for _, name := range calledTools(buf) {
				spec, ok := reg.Lookup(name)
				if !ok || prin.AllowsTool(spec.Base, spec.Tags) {
					continue
				}
				challenge := fmt.Sprintf(`Bearer error="insufficient_scope", scope=%q`, strings.Join(spec.Tags, " "))
				if metadataURL != "" {
					challenge += fmt.Sprintf(`, resource_metadata=%q`, metadataURL)
				}
				w.Header().Set("WWW-Authenticate", challenge)
				writeError(w, http.StatusForbidden, "insufficient_scope",
					fmt.Sprintf("%s may not call %s; it needs one of the scopes: %s", prin.ID(), name, strings.Join(spec.Tags, ", ")))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
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
