package cancel

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// BenchmarkStreamable measures what the cancellation tie adds to one
// Streamable HTTP request carrying one tools/call: the HTTP middleware
// (token, registration, in stateless mode a second look at the body) and the
// receiving middleware (lookup, derived context, AfterFunc).
//
//	go test -bench . -benchmem ./internal/cancel/
func BenchmarkStreamable(b *testing.B) {
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"app1_execute_sql","arguments":{"sql":"SELECT id, name FROM customers ORDER BY id LIMIT 100"}}}`
	b.Run("baseline", func(b *testing.B) {
		// The same request and recorder without the middleware.
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
		b.ReportAllocs()
		for b.Loop() {
			r := httptest.NewRequest(http.MethodPost, "/app1/mcp", strings.NewReader(body))
			r.Header.Set("Mcp-Session-Id", "s")
			h.ServeHTTP(httptest.NewRecorder(), r)
		}
	})
	for _, stateless := range []bool{true, false} {
		name := "stateful"
		if stateless {
			name = "stateless"
		}
		b.Run(name, func(b *testing.B) {
			x := New()
			handler := x.Middleware(func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
				return nil, ctx.Err()
			})
			h := x.Streamable(stateless, 4<<20, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				req := &mcp.CallToolRequest{Extra: &mcp.RequestExtra{Header: r.Header}}
				if _, err := handler(r.Context(), "tools/call", req); err != nil {
					b.Fatal(err)
				}
			}))
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest(http.MethodPost, "/app1/mcp", strings.NewReader(body))
				r.Header.Set("Mcp-Session-Id", "s")
				h.ServeHTTP(httptest.NewRecorder(), r)
			}
		})
	}
}
