package pg

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/pgherd/pgherd/internal/pgtest"
)

// allocated runs f and returns the bytes the process allocated meanwhile.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

const mib = 1 << 20

// A 300 MB value with a 64 MiB message cap fails clearly, without reading
// the value into memory, and the connection is closed.
func TestMessageCap(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 300 MB value on the server")
	}
	db := pgtest.NewDatabase(t)
	p := newPool(t, db.URI, PoolOptions{MaxConns: 1, MaxMessageBytes: 64 * mib})
	ctx := context.Background()
	var err error
	n := allocated(func() {
		_, err = p.Run(ctx, readOnly, Call{SQL: "SELECT repeat('x', 300*1024*1024)"})
	})
	if !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("Run = %v, want ErrMessageTooLarge", err)
	}
	t.Logf("error: %v", err)
	t.Logf("allocated %.1f MiB while rejecting a 300 MiB value", float64(n)/mib)
	if n > 16*mib {
		t.Errorf("allocated %.1f MiB, want far less than the 64 MiB cap", float64(n)/mib)
	}
	if st := p.Stat(); st.Destroyed != 1 {
		t.Errorf("destroyed = %d, want 1", st.Destroyed)
	}
	if _, err := p.Run(ctx, readOnly, Call{SQL: "SELECT 1"}); err != nil {
		t.Fatalf("pool unusable after a rejected message: %v", err)
	}
}

// Under a large message cap, a 50 MB value over a 4 MiB byte cap is cut
// with a marker without being decoded (memory grows by the one read buffer
// only), and the rows after it are still returned.
func TestByteCapLargeValue(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 50 MB value on the server")
	}
	db := pgtest.NewDatabase(t)
	p := newPool(t, db.URI, PoolOptions{MaxConns: 1, MaxMessageBytes: 256 * mib, Limits: Limits{MaxResultBytes: 4 * mib}})
	ctx := context.Background()
	var (
		res *Result
		err error
	)
	n := allocated(func() {
		res, err = p.Run(ctx, readOnly, Call{SQL: "SELECT 1 AS id, repeat('x', 50*1000*1000) AS big UNION ALL SELECT 2, 'small'"})
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Truncated || len(res.Rows) != 2 || res.CutValues != 1 {
		t.Fatalf("truncated %v with %d rows, %d cut; want both rows, the big value cut", res.Truncated, len(res.Rows), res.CutValues)
	}
	big, _ := res.Rows[0][1].(string)
	if !strings.Contains(big, "pgherd cut this value") || !strings.Contains(big, "of its 50000000 bytes") || res.Rows[1][1] != "small" {
		t.Errorf("rows = %.200q…", res.Rows)
	}
	t.Logf("allocated %.1f MiB for a 47.7 MiB value under a 4 MiB cap", float64(n)/mib)
	// One read buffer for the message; decoding it would at least double that.
	if n > 50*1000*1000+16*mib {
		t.Errorf("allocated %.1f MiB, want about one copy of the 47.7 MiB value", float64(n)/mib)
	}
}
