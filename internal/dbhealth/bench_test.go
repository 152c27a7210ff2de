package dbhealth_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pgherd/pgherd/internal/dbhealth"
	"github.com/pgherd/pgherd/internal/pg"
	"github.com/pgherd/pgherd/internal/pgtest"
)

// BenchmarkHealth5000Tables times every check, and the fast subset
// herd_health runs, on a database of 5,000 tables (each with a serial
// primary key, a foreign key, an index, a sequence and a TOAST table:
// about 30,000 relations). Creating them takes minutes, so it runs only
// with PGHERD_BENCH_HEAVY=1 (docs/benchmarks.md):
//
//	PGHERD_BENCH_HEAVY=1 go test -run '^$' -bench Health -benchtime 5x -timeout 1h ./internal/dbhealth/
func BenchmarkHealth5000Tables(b *testing.B) {
	if os.Getenv("PGHERD_BENCH_HEAVY") == "" {
		b.Skip("set PGHERD_BENCH_HEAVY=1 to run (it creates 5,000 tables)")
	}
	const tables = 5000
	db := pgtest.NewDatabase(b)
	start := time.Now()
	pgtest.Exec(b, db.URI, `CREATE TABLE parent (id int PRIMARY KEY); INSERT INTO parent SELECT generate_series(1, 100)`)
	// Batches: one transaction holding locks on 5,000 new tables would
	// exhaust the lock table.
	for lo := 1; lo <= tables; lo += 250 {
		pgtest.Exec(b, db.URI, fmt.Sprintf(`DO $$ BEGIN FOR i IN %d..%d LOOP
  EXECUTE format('CREATE TABLE t%%s (id serial PRIMARY KEY, parent_id int REFERENCES parent, code text, n int, at timestamptz DEFAULT now())', i);
  EXECUTE format('CREATE INDEX ON t%%s (code)', i);
  EXECUTE format('INSERT INTO t%%s (parent_id, code, n) SELECT 1 + mod(g, 100), ''c'' || g, g FROM generate_series(1, 20) g', i);
END LOOP; END $$`, lo, lo+249))
	}
	pgtest.Exec(b, db.URI, "ANALYZE")
	rels := pgtest.QueryValue[int64](b, db.URI, `SELECT count(*) FROM pg_class`)
	fmt.Fprintf(os.Stderr, "%d tables (%d relations) created in %s\n", tables, rels, time.Since(start).Round(time.Second))

	ctx := context.Background()
	p, err := pg.Connect(ctx, "bench", db.URI, pg.PoolOptions{MaxConns: 1, Limits: pg.Limits{StatementTimeout: 5 * time.Minute}})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	for _, spec := range []string{"all", "fast"} {
		names, _ := dbhealth.ParseChecks(spec)
		b.Run("checks="+spec, func(b *testing.B) {
			var peakHeap, peakRSS float64
			var slowest string
			for range b.N {
				stop := sampleHeap(&peakHeap)
				err := p.Do(ctx, pg.TxOptions{ReadOnly: true, Rollback: true}, func(ctx context.Context, tx *pg.Tx) error {
					var pid int
					if err := tx.Conn().QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
						return err
					}
					rep, err := dbhealth.Run(ctx, tx.Conn(), dbhealth.Options{Checks: names, Thresholds: dbhealth.DefaultThresholds()})
					if err != nil {
						return err
					}
					var worst dbhealth.CheckResult
					for _, c := range rep.Checks {
						if c.DurationMS > worst.DurationMS {
							worst = c
						}
						if c.Status == dbhealth.Unknown {
							return fmt.Errorf("check %s did not run: %s", c.Check, c.Error)
						}
					}
					slowest = fmt.Sprintf("%s %.0fms", worst.Check, worst.DurationMS)
					peakRSS = max(peakRSS, float64(backendPeakRSS(pid)))
					return nil
				})
				stop()
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(peakHeap/(1<<20), "go-heap-peak-MiB")
			b.ReportMetric(peakRSS/(1<<20), "backend-peak-rss-MiB")
			fmt.Fprintf(os.Stderr, "checks=%s: slowest check %s\n", spec, slowest)
		})
	}
}

func sampleHeap(peak *float64) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var ms runtime.MemStats
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			*peak = max(*peak, float64(ms.HeapInuse))
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); <-finished }
}

func backendPeakRSS(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}
