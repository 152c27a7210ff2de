package httpserver

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// reconnectDelay is the reconnection time pgherd tells clients on every
// event stream of a stateful endpoint (the SSE "retry" field): a client that
// lost a stream comes back after it with Last-Event-ID and go-sdk replays
// what it missed from the event store. It is well below cancel.ResumeGrace,
// how long the calls of a lost stream wait for that before they are
// cancelled (a client that is gone must not leave its statement running for
// long).
const reconnectDelay = 200 * time.Millisecond

// withRetry starts every event stream next answers with a "retry" field.
// The field stands alone in its block, which SSE clients read as a setting,
// not as an event (go-sdk writes no retry field except when it closes a
// stream on purpose).
func withRetry(next http.Handler) http.Handler {
	field := "retry: " + strconv.FormatInt(reconnectDelay.Milliseconds(), 10) + "\n\n"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(&retryWriter{ResponseWriter: w, field: field}, r)
	})
}

type retryWriter struct {
	http.ResponseWriter
	field   string
	started bool
}

func (w *retryWriter) WriteHeader(code int) {
	w.ResponseWriter.WriteHeader(code)
	if w.started {
		return
	}
	w.started = true
	if code == http.StatusOK && strings.HasPrefix(w.Header().Get("Content-Type"), "text/event-stream") {
		io.WriteString(w.ResponseWriter, w.field)
	}
}

func (w *retryWriter) Write(b []byte) (int, error) {
	if !w.started {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *retryWriter) Flush() {
	if !w.started {
		w.WriteHeader(http.StatusOK)
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *retryWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
