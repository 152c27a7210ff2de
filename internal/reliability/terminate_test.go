package reliability_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pgherd/pgherd/internal/pgtest"
)

// TestTerminatedBackends: pg_terminate_backend on pgherd's connections
// under load. Terminating idle connections fails no call (BEGIN on a dead
// connection is retried on a fresh one and the pool is reset); terminating
// busy ones fails only the calls running on them; every call after that
// succeeds.
func TestTerminatedBackends(t *testing.T) {
	db := pgtest.NewDatabase(t)
	s := start(t, fmt.Sprintf(herdYAML, 20), map[string]string{"URI": db.URI})
	const workers = 16
	css := sessions(t, s, workers)
	terminate := func(state string) int64 {
		return pgtest.QueryValue[int64](t, pgtest.URI("postgres"), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE datname = $1 AND application_name = 'pgherd/herd' AND state = $2`, db.Name, state)
	}

	for _, phase := range []string{"idle", "active"} {
		t.Run(phase, func(t *testing.T) {
			ctx, stop := context.WithCancel(context.Background())
			var out []outcome
			var wg sync.WaitGroup
			wg.Go(func() {
				out = loadRun(ctx, workers, func(ctx context.Context, w int) error {
					// Half the workers keep connections busy, half make
					// short calls that find them idle.
					sql := "SELECT 1"
					if w%2 == 0 {
						sql = "SELECT pg_sleep(0.3)"
					}
					_, err := callSQL(ctx, css[w], "herd_execute_sql", sql)
					return err
				})
			})
			time.Sleep(time.Second)
			var killed int64
			var windows []window
			for range 5 {
				at := time.Now()
				killed += terminate(phase)
				// A busy call hit by the termination ends within its round
				// trip; the window covers it.
				windows = append(windows, window{from: at, to: time.Now().Add(500 * time.Millisecond)})
				time.Sleep(700 * time.Millisecond)
			}
			time.Sleep(time.Second)
			stop()
			wg.Wait()
			during, duringFailed, outside, outsideFailed, errs := classify(out, windows)
			var failed int
			kinds := map[string]int{}
			for _, o := range out {
				if o.err != nil {
					failed++
					kinds[errorKind(o.err)]++
				}
			}
			report(t, "terminate %s backends: %d terminated in 5 rounds; %d calls, %d failed (%v); %d calls near a termination (%d failed), %d calls away from one (%d failed)",
				phase, killed, len(out), failed, kinds, during, duringFailed, outside, outsideFailed)
			if killed == 0 {
				t.Fatalf("no %s backend to terminate", phase)
			}
			switch phase {
			case "idle":
				// A backend idle when pg_stat_activity was read may be
				// taken by a call before the signal lands: that call is
				// affected, and fails within the termination's window.
				// Every other call must succeed (the pool retries on a
				// fresh connection what met a closed one).
				if outsideFailed > 0 || int64(failed) > killed {
					t.Errorf("%d calls failed after terminating idle connections (%d away from a termination), want none away from one: %v", failed, outsideFailed, kinds)
				}
			case "active":
				if int64(failed) > killed {
					t.Errorf("%d calls failed, more than the %d backends terminated", failed, killed)
				}
				if outsideFailed > 0 {
					t.Errorf("%d calls away from a termination failed: %v", outsideFailed, errs)
				}
			}
		})
	}
}
