package dbhealth_test

import (
	"context"
	"strings"
	"testing"

	"github.com/pgherd/pgherd/internal/dbhealth"
	"github.com/pgherd/pgherd/internal/pgtest"
)

// A CREATE INDEX CONCURRENTLY that fails (here: it gives up waiting for a
// writer's transaction) leaves an invalid index behind.
func TestInvalidIndex(t *testing.T) {
	db := pgtest.NewDatabase(t)
	setup := connect(t, db.URI)
	exec(t, setup, `CREATE TABLE items (id int PRIMARY KEY, sku text); INSERT INTO items SELECT i, 'sku' || i FROM generate_series(1, 5000) i`)

	writer := connect(t, db.URI)
	exec(t, writer, `BEGIN; INSERT INTO items VALUES (0, 'x')`)
	builder := connect(t, db.URI)
	exec(t, builder, `SET lock_timeout = '200ms'`)
	_, err := builder.Exec(context.Background(), `CREATE INDEX CONCURRENTLY items_sku_idx ON items (sku)`)
	if err == nil || !strings.Contains(err.Error(), "lock timeout") {
		t.Fatalf("the concurrent build should have failed on the lock timeout, got %v", err)
	}
	exec(t, writer, `COMMIT`)

	res := one(t, db.URI, loose(), "invalid_indexes")
	f := findingFor(t, res, "public.items_sku_idx")
	if f.Status != dbhealth.Warning || res.Status != dbhealth.Warning {
		t.Errorf("status %s / %s, want warning", f.Status, res.Status)
	}
	if f.Evidence["table"] != "public.items" || !strings.Contains(f.Evidence["definition"].(string), "(sku)") {
		t.Errorf("evidence %v", f.Evidence)
	}
	remedy(t, db.URI, f)
	if res := one(t, db.URI, loose(), "invalid_indexes"); len(res.Findings) != 0 || res.Status != dbhealth.OK {
		t.Fatalf("after the remedy: %s", dump(res))
	}
	if !pgtest.QueryValue[bool](t, db.URI, `SELECT indisvalid FROM pg_index WHERE indexrelid = 'items_sku_idx'::regclass`) {
		t.Fatal("the index is still invalid after the remedy")
	}
}

func TestDuplicateAndRedundantIndexes(t *testing.T) {
	db := pgtest.NewDatabase(t)
	pgtest.Exec(t, db.URI, `
CREATE TABLE t (id int PRIMARY KEY, x int, y int, z int, w text);
CREATE INDEX t_x_a ON t (x);
CREATE INDEX t_x_b ON t (x);                    -- exact duplicate of t_x_a
CREATE INDEX t_y ON t (y);                      -- leading prefix of t_y_z
CREATE INDEX t_y_z ON t (y, z);
CREATE UNIQUE INDEX t_z_unique ON t (z);
CREATE INDEX t_z ON t (z);                      -- the unique index serves it
CREATE UNIQUE INDEX t_id_copy ON t (id);        -- duplicates the primary key
CREATE INDEX t_x_partial ON t (x) WHERE z > 0;  -- different predicate: kept
CREATE INDEX t_x_desc ON t (x DESC);            -- different ordering: kept
CREATE INDEX t_w_hash ON t USING hash (w);      -- different method: kept
CREATE INDEX t_w ON t (w);
CREATE INDEX t_lower_w ON t (lower(w));         -- expression: its own
CREATE INDEX t_y_incl ON t (y) INCLUDE (w);     -- covered by nothing: t_y_z lacks w
`)
	res := one(t, db.URI, loose(), "duplicate_indexes")
	t.Log(dump(res))
	want := map[string]string{
		"public.t_y":       "public.t_y_z",
		"public.t_z":       "public.t_z_unique",
		"public.t_id_copy": "public.t_pkey",
	}
	got := map[string]string{}
	var xs []string
	for _, f := range res.Findings {
		if strings.HasPrefix(f.Object, "public.t_x_") {
			xs = append(xs, f.Object)
			continue
		}
		got[f.Object] = f.Evidence["covered_by"].(string)
	}
	// Exactly one of the two identical (x) indexes goes.
	if len(xs) != 1 || (xs[0] != "public.t_x_a" && xs[0] != "public.t_x_b") {
		t.Errorf("duplicates of (x) reported: %v", xs)
	}
	for idx, by := range want {
		if got[idx] != by {
			t.Errorf("%s: covered by %q, want %q", idx, got[idx], by)
		}
	}
	if len(got) != len(want) {
		t.Errorf("unexpected findings: %s", dump(res.Findings))
	}
	remedy(t, db.URI, res.Findings...)
	if res := one(t, db.URI, loose(), "duplicate_indexes"); len(res.Findings) != 0 {
		t.Fatalf("after the remedies: %s", dump(res))
	}
	// The primary key and the indexes that do their own job survive.
	for _, idx := range []string{"t_pkey", "t_y_z", "t_z_unique", "t_x_partial", "t_x_desc", "t_w_hash", "t_w", "t_lower_w", "t_y_incl"} {
		if pgtest.QueryValue[int](t, db.URI, `SELECT count(*)::int FROM pg_class WHERE relname = $1`, idx) != 1 {
			t.Errorf("index %s was dropped", idx)
		}
	}
}

func TestUnusedIndexes(t *testing.T) {
	db := pgtest.NewDatabase(t)
	pgtest.Exec(t, db.URI, `
CREATE TABLE t (id int PRIMARY KEY, used int, unused int, code text);
INSERT INTO t SELECT i, i, i, 'c' || i FROM generate_series(1, 2000) i;
CREATE INDEX t_used ON t (used);
CREATE INDEX t_unused ON t (unused);
CREATE UNIQUE INDEX t_code ON t (code);   -- enforces uniqueness: never reported
ANALYZE t;`)
	reader := connect(t, db.URI)
	exec(t, reader, `SET enable_seqscan = off; SET enable_bitmapscan = off`)
	exec(t, reader, `SELECT * FROM t WHERE used = 5`)
	exec(t, reader, `SELECT pg_stat_force_next_flush()`)
	waitFor(t, "the index scan to reach the statistics", func() bool {
		return pgtest.QueryValue[int64](t, db.URI, `SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = 't_used'`) > 0
	})

	// With the default minimum statistics age the fresh cluster's counts
	// are not trusted yet.
	res := one(t, db.URI, dbhealth.DefaultThresholds(), "unused_indexes")
	if len(res.Findings) != 0 || !strings.Contains(res.Summary, "not judged") {
		t.Errorf("fresh statistics should not condemn indexes: %s", dump(res))
	}

	res = one(t, db.URI, loose(), "unused_indexes")
	f := findingFor(t, res, "public.t_unused")
	if len(res.Findings) != 1 {
		t.Errorf("only t_unused should be reported: %s", dump(res.Findings))
	}
	if f.Evidence["index_scans"] != float64(0) && f.Evidence["index_scans"] != 0 {
		t.Errorf("evidence %v", f.Evidence)
	}
	remedy(t, db.URI, f)
	if res := one(t, db.URI, loose(), "unused_indexes"); len(res.Findings) != 0 {
		t.Fatalf("after the remedy: %s", dump(res))
	}

	// Large thresholds leave small indexes alone.
	th := loose()
	th.UnusedIndexMinBytes = 1 << 30
	pgtest.Exec(t, db.URI, `CREATE INDEX t_unused2 ON t (unused)`)
	if res := one(t, db.URI, th, "unused_indexes"); len(res.Findings) != 0 {
		t.Errorf("an index below unused_index_min_bytes was reported: %s", dump(res))
	}
}

func TestInvalidPartitionedIndexNeedsNoBuild(t *testing.T) {
	// A partitioned index stays invalid until every partition has one:
	// reported with advice, not with a REINDEX that cannot help.
	db := pgtest.NewDatabase(t)
	pgtest.Exec(t, db.URI, `
CREATE TABLE m (id int, at date) PARTITION BY RANGE (at);
CREATE TABLE m_2024 PARTITION OF m FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE INDEX m_at_idx ON ONLY m (at);`)
	res := one(t, db.URI, loose(), "invalid_indexes")
	f := findingFor(t, res, "public.m_at_idx")
	if len(f.Remedy) != 0 || !strings.Contains(f.Advice, "ATTACH PARTITION") {
		t.Errorf("finding %s", dump(f))
	}
}
