package pg

import (
	"context"
	"testing"

	"github.com/pgherd/pgherd/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// newPool connects to uri and closes the pool when the test ends.
func newPool(t testing.TB, uri string, opts PoolOptions) *Pool {
	t.Helper()
	p, err := Connect(context.Background(), "test", uri, opts)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}
