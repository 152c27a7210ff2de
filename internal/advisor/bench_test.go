package advisor_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgherd/pgherd/internal/advisor"
	"github.com/pgherd/pgherd/internal/pg"
	"github.com/pgherd/pgherd/internal/pgtest"
)

// The scale benchmarks load a database of about five million rows, which
// takes minutes: they run only with PGHERD_BENCH_HEAVY=1 (docs/benchmarks.md).
//
//	PGHERD_BENCH_HEAVY=1 go test -run '^$' -bench Advisor -benchtime 3x -timeout 1h ./internal/advisor/
const heavyEnv = "PGHERD_BENCH_HEAVY"

const scaleSchema = `
CREATE EXTENSION IF NOT EXISTS hypopg;
CREATE TABLE customers (id int PRIMARY KEY, email text NOT NULL, country text NOT NULL, tier text NOT NULL,
                        score int NOT NULL, created_at timestamptz NOT NULL);
INSERT INTO customers SELECT i, 'c' || i || '@example.com', 'C' || i % 50, (ARRAY['free','pro','team'])[1 + i % 3], i::bigint * 7919 % 1000,
       timestamptz '2020-01-01' + (i::bigint * 7919 % 2000000) * interval '1 minute' FROM generate_series(1, 300000) i;
CREATE TABLE products (id int PRIMARY KEY, sku text NOT NULL, category text NOT NULL, brand text NOT NULL, price numeric NOT NULL);
INSERT INTO products SELECT i, 'SKU' || i, 'cat' || i % 30, 'brand' || i % 200, i % 500 FROM generate_series(1, 20000) i;
CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL, status text NOT NULL, channel text NOT NULL, warehouse_id int NOT NULL,
                     created_at timestamptz NOT NULL, total numeric NOT NULL);
INSERT INTO orders SELECT i, 1 + i::bigint * 7877 % 300000, (ARRAY['new','paid','packed','shipped','done'])[1 + i % 5],
       (ARRAY['web','app','shop','phone'])[1 + i % 4], i % 20, timestamptz '2022-01-01' + (i::bigint * 104729 % 2000000) * interval '30 seconds', i % 10000
  FROM generate_series(1, 2000000) i;
CREATE TABLE items (order_id int NOT NULL, product_id int NOT NULL, qty int NOT NULL, price numeric NOT NULL);
INSERT INTO items SELECT i / 2 + 1, 1 + i::bigint * 31 % 20000, 1 + i % 5, i % 300 FROM generate_series(1, 2000000) i;
CREATE TABLE events (id int PRIMARY KEY, user_id int NOT NULL, kind text NOT NULL, at timestamptz NOT NULL, value int NOT NULL);
INSERT INTO events SELECT i, i % 300000, 'k' || i % 10, timestamptz '2023-01-01' + i * interval '20 seconds', i % 97 FROM generate_series(1, 1000000) i;
`

var (
	scaleOnce sync.Once
	scaleURI  string
)

// scaleDB loads the scale database once per test binary.
func scaleDB(b *testing.B) string {
	b.Helper()
	if os.Getenv(heavyEnv) == "" {
		b.Skipf("set %s=1 to run the scale benchmarks (they load ~5M rows)", heavyEnv)
	}
	scaleOnce.Do(func() {
		db := pgtest.NewDatabase(b)
		start := time.Now()
		pgtest.Exec(b, db.URI, scaleSchema)
		pgtest.Exec(b, db.URI, "VACUUM ANALYZE")
		fmt.Fprintf(os.Stderr, "scale database loaded in %s\n", time.Since(start).Round(time.Second))
		scaleURI = db.URI
	})
	return scaleURI
}

// scaleWorkload returns n distinct queries over the scale database:
// equality, ranges, ORDER BY … LIMIT, joins and groupings over varied
// columns, with a few that need no index.
func scaleWorkload(n int) []advisor.Query {
	templates := []func(i int) string{
		func(i int) string { return fmt.Sprintf("SELECT id, total FROM orders WHERE customer_id = %d", 1+i*37) },
		func(i int) string {
			return fmt.Sprintf("SELECT id, total FROM orders WHERE status = '%s' AND created_at >= '2022-%02d-01' AND created_at < '2022-%02d-03'",
				[]string{"new", "paid", "packed", "shipped", "done"}[i%5], 1+i%11, 1+i%11)
		},
		func(i int) string {
			return fmt.Sprintf("SELECT id FROM orders WHERE warehouse_id = %d AND channel = '%s' ORDER BY created_at DESC LIMIT 20", i%20, []string{"web", "app", "shop", "phone"}[i%4])
		},
		func(i int) string {
			return fmt.Sprintf("SELECT email FROM customers WHERE country = 'C%d' AND score > %d", i%50, 990-i%10)
		},
		func(i int) string {
			return fmt.Sprintf("SELECT sku, price FROM products WHERE brand = 'brand%d'", i%200)
		},
		func(i int) string {
			return fmt.Sprintf("SELECT order_id, qty FROM items WHERE product_id = %d", 1+i*13)
		},
		func(i int) string {
			return fmt.Sprintf("SELECT id, value FROM events WHERE user_id = %d AND kind = 'k%d' ORDER BY at DESC LIMIT 50", i*101, i%10)
		},
		func(i int) string {
			return fmt.Sprintf("SELECT o.id, o.total FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.email = 'c%d@example.com'", 1+i*7)
		},
		func(i int) string {
			return fmt.Sprintf("SELECT count(*) FROM events WHERE at >= '2023-%02d-01' AND at < '2023-%02d-02'", 1+i%6, 1+i%6)
		},
		func(i int) string {
			return fmt.Sprintf("SELECT p.sku, sum(i.qty) FROM items i JOIN products p ON p.id = i.product_id WHERE p.category = 'cat%d' AND p.price < %d GROUP BY p.sku", i%30, 5+i%5)
		},
		func(i int) string {
			return fmt.Sprintf("SELECT id FROM customers WHERE tier = '%s' ORDER BY created_at LIMIT 10", []string{"free", "pro", "team"}[i%3])
		},
		func(i int) string {
			return fmt.Sprintf("SELECT * FROM orders WHERE total BETWEEN %d AND %d AND channel = 'app'", i*10, i*10+5)
		},
		func(i int) string {
			return fmt.Sprintf("UPDATE orders SET status = 'done' WHERE customer_id = %d AND status = 'shipped'", 1+i*11)
		},
		func(i int) string {
			return fmt.Sprintf("DELETE FROM events WHERE user_id = %d AND at < '2023-01-02'", i*3)
		},
		func(i int) string {
			return fmt.Sprintf("SELECT c.country, count(*) FROM customers c WHERE c.created_at >= '202%d-01-01' GROUP BY c.country", i%4)
		},
		func(i int) string {
			return fmt.Sprintf("SELECT id FROM products WHERE category = 'cat%d' ORDER BY price DESC LIMIT 5", i%30)
		},
		func(i int) string {
			return fmt.Sprintf("SELECT value FROM events WHERE kind = 'k%d' AND value = %d", i%10, i%97)
		},
		func(i int) string {
			return "SELECT count(*) FROM orders WHERE channel = 'web'" + strings.Repeat(" ", i)
		},
		func(i int) string {
			return fmt.Sprintf("SELECT id FROM orders WHERE warehouse_id = %d AND created_at > '2022-06-%02d'", i%20, 1+i%28)
		},
		func(i int) string { return fmt.Sprintf("SELECT i.* FROM items i WHERE i.order_id = %d", 1+i*101) },
	}
	out := make([]advisor.Query, n)
	for i := range n {
		out[i] = advisor.Query{SQL: templates[i%len(templates)](i / len(templates)), Label: "q" + strconv.Itoa(i+1)}
	}
	return out
}

func benchAdvisor(b *testing.B, n int) {
	uri := scaleDB(b)
	qs := scaleWorkload(n)
	ctx := context.Background()
	p, err := pg.Connect(ctx, "bench", uri, pg.PoolOptions{MaxConns: 1, Limits: pg.Limits{StatementTimeout: time.Minute}})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	var peakHeap, peakRSS, recs, evals float64
	b.ResetTimer()
	for range b.N {
		stop := sampleHeap(&peakHeap)
		err := p.Do(ctx, pg.TxOptions{ReadOnly: true, Rollback: true}, func(ctx context.Context, tx *pg.Tx) error {
			var pid int
			if err := tx.Conn().QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
				return err
			}
			res, err := advisor.Analyze(ctx, tx, qs, advisor.Options{TimeBudget: 10 * time.Minute})
			if err != nil {
				return err
			}
			recs, evals = float64(len(res.Recommendations)), float64(res.Evaluations)
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
	b.ReportMetric(recs, "recommendations")
	b.ReportMetric(evals, "explains")
}

// BenchmarkAdvisor: advice for 10 and 100 queries of the workload (the
// database is loaded once, for both).
func BenchmarkAdvisor(b *testing.B) {
	scaleDB(b)
	for _, n := range []int{10, 100} {
		b.Run(fmt.Sprintf("queries=%d", n), func(b *testing.B) { benchAdvisor(b, n) })
	}
}

// sampleHeap records the peak in-use Go heap until stop is called.
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

// backendPeakRSS reads a local backend's peak resident set (VmHWM), in
// bytes; zero when /proc does not tell (another host, no permission).
func backendPeakRSS(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}
