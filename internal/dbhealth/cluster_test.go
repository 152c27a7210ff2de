package dbhealth_test

import (
	"context"
	"testing"
	"time"

	"github.com/pgherd/pgherd/internal/dbhealth"
	"github.com/pgherd/pgherd/internal/localpg"
	"github.com/pgherd/pgherd/internal/pgtest"
)

// These tests start clusters of their own: they restart the server or run
// a standby, which the shared test cluster must not.

func ownCluster(t *testing.T, settings map[string]string) *localpg.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := localpg.Start(ctx, localpg.Options{Settings: settings})
	if err != nil {
		t.Fatalf("starting a cluster: %v", err)
	}
	t.Cleanup(func() { c.Stop() })
	return c
}

// A table that does not fit in shared_buffers is read from outside the
// cache on every scan; the remedy (more shared_buffers, a restart, fresh
// counters) brings the ratio up.
func TestCacheHitRatio(t *testing.T) {
	c := ownCluster(t, map[string]string{"shared_buffers": "'1MB'", "max_connections": "20"})
	uri := c.URI("postgres")
	pgtest.Exec(t, uri, `CREATE TABLE big (id int, pad text) WITH (autovacuum_enabled = off);
	  INSERT INTO big SELECT i, repeat('x', 200) FROM generate_series(1, 20000) i`)
	conn := connect(t, uri)
	// Count the scans only, not the load.
	exec(t, conn, `SELECT pg_stat_reset_single_table_counters('big'::regclass)`)
	for range 10 {
		exec(t, conn, `SELECT count(*) FROM big`)
	}
	exec(t, conn, `SELECT pg_stat_force_next_flush()`)
	conn.Close(context.Background())

	th := loose()
	th.CacheHitMinBlocks = 1000
	var res dbhealth.CheckResult
	waitFor(t, "the reads to reach the statistics", func() bool {
		res = one(t, uri, th, "cache_hit")
		return len(res.Findings) > 0
	})
	f := res.Findings[0]
	if f.Status != dbhealth.Critical || f.Evidence["kind"] != "tables" || f.Evidence["shared_buffers"] != "1MB" {
		t.Fatalf("%s", dump(f))
	}
	remedy(t, uri, f)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if sb := pgtest.QueryValue[string](t, uri, `SHOW shared_buffers`); sb != "128MB" {
		t.Fatalf("shared_buffers after the remedy and a restart: %s", sb)
	}
	// As the advice says: judge afresh, then let the workload run.
	conn = connect(t, uri)
	exec(t, conn, `SELECT pg_stat_reset_single_table_counters('big'::regclass)`)
	for range 40 {
		exec(t, conn, `SELECT count(*) FROM big`)
	}
	exec(t, conn, `SELECT pg_stat_force_next_flush()`)
	conn.Close(context.Background())
	waitFor(t, "a good hit ratio", func() bool { return len(one(t, uri, th, "cache_hit").Findings) == 0 })
}

// A paused standby falls behind: the primary reports its lag, the standby
// reports its paused replay, and resuming replay clears both.
func TestReplicationLag(t *testing.T) {
	primary := ownCluster(t, map[string]string{"max_connections": "30"})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	standby, err := primary.StartStandby(ctx, "replica1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { standby.Stop() })
	puri, suri := primary.URI("postgres"), standby.URI("postgres")
	waitFor(t, "the standby to stream", func() bool {
		return pgtest.QueryValue[int64](t, puri, `SELECT count(*) FROM pg_stat_replication WHERE application_name = 'replica1' AND state = 'streaming'`) == 1
	})
	pgtest.Exec(t, suri, `SELECT pg_wal_replay_pause()`)
	pgtest.Exec(t, puri, `CREATE TABLE filler AS SELECT i, repeat('x', 100) AS pad FROM generate_series(1, 30000) i`)

	th := loose()
	th.ReplicationLagWarningBytes, th.ReplicationLagCriticalBytes = 1<<20, 1<<40
	var res dbhealth.CheckResult
	waitFor(t, "the lag to show", func() bool {
		res = one(t, puri, th, "replication")
		return len(res.Findings) > 0
	})
	lag := findingFor(t, res, "replica1")
	if lag.Status != dbhealth.Warning || lag.Evidence["replay_lag_bytes"].(int64) < 1<<20 {
		t.Errorf("%s", dump(lag))
	}
	onStandby := one(t, suri, th, "replication")
	paused := findingFor(t, onStandby, "paused")
	// The remedy runs on the standby.
	remedy(t, suri, paused)
	waitFor(t, "the standby to catch up", func() bool {
		return len(one(t, puri, th, "replication").Findings) == 0 && len(one(t, suri, th, "replication").Findings) == 0
	})
}
