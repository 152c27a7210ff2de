package console_test

import (
	"net/http"
	"testing"

	"github.com/pgherd/pgherd/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// http0 adds fixed headers (Authorization) to every request of an HTTP
// client.
type http0 struct{ header map[string]string }

func (h http0) client() *http.Client { return &http.Client{Transport: h} }

func (h http0) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h.header {
		r.Header.Set(k, v)
	}
	return http.DefaultTransport.RoundTrip(r)
}
