package reliability_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pgherd/pgherd/internal/faultproxy"
	"github.com/pgherd/pgherd/internal/pgtest"
)

// TestBlackholeThroughMCP: the network to PostgreSQL goes silent (nothing
// dropped, nothing closed) while connecting, during BEGIN, during the
// statement and during the reset. Each execute_sql call ends by its
// deadline (acquire 1 s + statement 1 s + 3 s, plus 1 s for the unanswered
// cancel) with a tool error that says the database did not answer — or,
// when only the reset was cut, with its rows; /ready says "database
// unreachable" within its 5 s; once the network heals, calls succeed
// again within seconds, with no restart.
func TestBlackholeThroughMCP(t *testing.T) {
	for _, tc := range []struct {
		phase string
		match func(faultproxy.Message) bool
		sql   string
		ok    bool
	}{
		{"connect", faultproxy.Startup(), "SELECT 1", false},
		{"begin", faultproxy.SQLContains("begin"), "SELECT 1", false},
		{"statement", faultproxy.SQLContains("marker"), "SELECT 1 AS marker", false},
		// admin_rw commits: with the answer to COMMIT lost, the call says
		// the outcome is unknown (a read-only endpoint rolls back and keeps
		// the rows: see pg's TestBlackholeEachPhase).
		{"reset", faultproxy.SQLContains("discard all"), "SELECT 1", false},
	} {
		t.Run(tc.phase, func(t *testing.T) {
			db := pgtest.NewDatabase(t)
			px, uri := proxied(t, db.URI)
			s := start(t, `server: {port: 0}
endpoints:
  herd:
    database_uri: "${URI}"
    access_mode: admin_rw
    pool: {max_conns: 4, acquire_timeout: 1s}
    limits: {statement_timeout: 1s, cancel_grace: 1s}
`, map[string]string{"URI": uri + "&connect_timeout=1"})
			cs := s.connect(t, "/herd/mcp", "")
			ctx := context.Background()
			if _, err := callSQL(ctx, cs, "herd_execute_sql", "SELECT 1"); err != nil {
				t.Fatalf("before the fault: %v", err)
			}
			if tc.phase == "connect" {
				px.ResetAll() // the next call needs a new connection
			}
			px.BlackholeOn(tc.match)

			start := time.Now()
			text, err := callSQL(ctx, cs, "herd_execute_sql", tc.sql)
			took := time.Since(start)
			const bound = 5*time.Second + time.Second + 1500*time.Millisecond
			if took > bound {
				t.Errorf("the call took %s, want at most %s", took, bound)
			}
			switch {
			case tc.ok && err != nil:
				t.Errorf("read-only call with its reset cut: %v; want its rows", err)
			case !tc.ok && err == nil:
				t.Errorf("call during the blackhole succeeded: %s", text)
			case !tc.ok && !strings.Contains(err.Error(), "unreachable") && !strings.Contains(err.Error(), "no answer from the database") &&
				!strings.Contains(err.Error(), "may or may not have committed"):
				t.Errorf("error %q does not say the database did not answer", err)
			}
			// Now the whole network: /ready is bounded and honest.
			px.Blackhole()
			code, body, readyTook := s.get("/ready")
			if code != 503 || !strings.Contains(body, "unreachable") || readyTook > 6*time.Second {
				t.Errorf("/ready during the blackhole: %d after %s: %s", code, readyTook, body)
			}

			px.Heal()
			recovered := waitUntil(t, 15*time.Second, "a call succeeds after healing", func() bool {
				_, err := callSQL(ctx, cs, "herd_execute_sql", "SELECT 1")
				return err == nil
			})
			readyAgain := waitUntil(t, 15*time.Second, "/ready 200 after healing", func() bool {
				code, _, _ := s.get("/ready")
				return code == 200
			})
			report(t, "blackhole during %s: the call ended after %s (%s); /ready %d in %s; first good call %s after healing, /ready 200 %s later",
				tc.phase, took.Round(time.Millisecond), outcomeText(err), code, readyTook.Round(time.Millisecond),
				recovered.Round(time.Millisecond), readyAgain.Round(time.Millisecond))
		})
	}
}

func outcomeText(err error) string {
	if err == nil {
		return "its rows"
	}
	return fmt.Sprintf("error: %s", firstLine(err.Error()))
}
