package faultproxy_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgherd/pgherd/internal/faultproxy"
	"github.com/pgherd/pgherd/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func proxied(t *testing.T) (*faultproxy.Proxy, string) {
	t.Helper()
	db := pgtest.NewDatabase(t)
	u, err := pgx.ParseConfig(db.URI)
	if err != nil {
		t.Fatal(err)
	}
	p, err := faultproxy.Start(net.JoinHostPort(u.Host, strconv.Itoa(int(u.Port))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	uri, err := p.URI(db.URI)
	if err != nil {
		t.Fatal(err)
	}
	return p, uri
}

// TestProxyFaults: traffic passes; a blackhole holds a query until the
// deadline without closing anything; a trigger silences only from the
// matching statement; a reset ends the session; refusal fails new
// connections; Heal restores everything.
func TestProxyFaults(t *testing.T) {
	p, uri := proxied(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, uri)
	if err != nil {
		t.Fatalf("connect through the proxy: %v", err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&n); err != nil || n != 1 {
		t.Fatalf("SELECT 1 = %d, %v", n, err)
	}

	// Silence from a marked statement: earlier ones pass.
	p.BlackholeOn(faultproxy.SQLContains("marker_42"))
	if err := conn.QueryRow(ctx, "SELECT 2").Scan(&n); err != nil || n != 2 {
		t.Fatalf("SELECT 2 before the trigger = %d, %v", n, err)
	}
	qctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	start := time.Now()
	err = conn.QueryRow(qctx, "SELECT 3 AS marker_42").Scan(&n)
	cancel()
	if err == nil || time.Since(start) < 250*time.Millisecond {
		t.Fatalf("the marked statement returned %v after %s; want a timeout", err, time.Since(start))
	}
	p.Heal()

	// A new connection works after healing; refusal fails new ones.
	conn2, err := pgx.Connect(ctx, uri)
	if err != nil {
		t.Fatalf("connect after heal: %v", err)
	}
	p.Refuse()
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	if c, err := pgx.Connect(cctx, uri); err == nil {
		c.Close(ctx)
		t.Fatal("connect during Refuse succeeded")
	}
	cancel()
	p.Heal()

	// ResetAll ends open sessions.
	p.ResetAll()
	if err := conn2.QueryRow(ctx, "SELECT 4").Scan(&n); err == nil {
		t.Fatal("query on a reset connection succeeded")
	}

	// A blackhole during connect holds the handshake.
	p.Blackhole()
	cctx, cancel = context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = pgx.Connect(cctx, uri)
	cancel()
	if err == nil || !errors.Is(err, context.DeadlineExceeded) && !isTimeout(err) {
		t.Fatalf("connect during a blackhole: %v, want a timeout", err)
	}
	p.Heal()
	conn3, err := pgx.Connect(ctx, uri)
	if err != nil {
		t.Fatalf("connect after the blackhole healed: %v", err)
	}
	conn3.Close(ctx)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
