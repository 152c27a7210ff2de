package dbhealth_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgherd/pgherd/internal/dbhealth"
	"github.com/pgherd/pgherd/internal/pgtest"
)

func TestConnections(t *testing.T) {
	db := pgtest.NewDatabase(t)
	// Ten idle sessions in this database; the cluster is otherwise quiet
	// (these tests run one at a time).
	for range 10 {
		conn, err := pgx.Connect(context.Background(), db.URI)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(context.Background()) })
	}
	usable := pgtest.QueryValue[int64](t, db.URI, `SELECT current_setting('max_connections')::bigint - current_setting('superuser_reserved_connections')::bigint`)
	inUse := pgtest.QueryValue[int64](t, db.URI, `SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'`) - 1
	th := loose()
	th.ConnectionWarningPercent = int(100 * (inUse - 2) / usable)
	th.ConnectionCriticalPercent = 100
	th.IdleConnectionAge = time.Millisecond
	if th.ConnectionWarningPercent < 1 {
		t.Skipf("max_connections %d is too large for ten sessions to cross 1%%", usable)
	}
	res := one(t, db.URI, th, "connections")
	f := findingFor(t, res, "connections are in use")
	if f.Status != dbhealth.Warning || f.Evidence["idle_here_longer_than_threshold"].(int64) < 10 {
		t.Fatalf("%s", dump(res))
	}
	remedy(t, db.URI, f)
	waitFor(t, "the idle sessions to end", func() bool { return len(one(t, db.URI, th, "connections").Findings) == 0 })
}

func TestIdleInTransaction(t *testing.T) {
	db := pgtest.NewDatabase(t)
	pgtest.Exec(t, db.URI, `CREATE TABLE t (id int)`)
	idle := connect(t, db.URI)
	exec(t, idle, `SET application_name = 'forgetful-app'`)
	exec(t, idle, `BEGIN; INSERT INTO t VALUES (1)`)

	th := loose()
	th.IdleInTransactionWarning, th.IdleInTransactionCritical = 100*time.Millisecond, time.Hour
	var res dbhealth.CheckResult
	waitFor(t, "the session to be idle for 100ms", func() bool {
		res = one(t, db.URI, th, "idle_in_transaction")
		return len(res.Findings) > 0
	})
	f := res.Findings[0]
	if f.Status != dbhealth.Warning || f.Evidence["application"] != "forgetful-app" || !strings.Contains(f.Evidence["query"].(string), "INSERT INTO t") {
		t.Errorf("%s", dump(f))
	}
	remedy(t, db.URI, f)
	waitFor(t, "the session to end", func() bool { return len(one(t, db.URI, th, "idle_in_transaction").Findings) == 0 })
	if err := idle.Ping(context.Background()); err == nil {
		t.Error("the idle session survived the remedy")
	}
	if n := pgtest.QueryValue[int64](t, db.URI, `SELECT count(*) FROM t`); n != 0 {
		t.Errorf("the terminated transaction was committed: %d rows", n)
	}
}

func TestLongRunningQuery(t *testing.T) {
	db := pgtest.NewDatabase(t)
	slow := connect(t, db.URI)
	done := make(chan error, 1)
	go func() {
		_, err := slow.Exec(context.Background(), `SELECT pg_sleep(60)`)
		done <- err
	}()
	th := loose()
	th.LongQueryWarning, th.LongQueryCritical = 100*time.Millisecond, time.Hour
	var res dbhealth.CheckResult
	waitFor(t, "the query to run for 100ms", func() bool {
		res = one(t, db.URI, th, "long_running_queries")
		return len(res.Findings) > 0
	})
	f := res.Findings[0]
	if !strings.Contains(f.Summary, "pg_sleep(60)") || !strings.Contains(f.Remedy[0], "pg_cancel_backend") {
		t.Errorf("%s", dump(f))
	}
	remedy(t, db.URI, f)
	select {
	case err := <-done:
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "57014" {
			t.Errorf("the slow query ended with %v, want a cancellation", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the remedy did not cancel the query")
	}
	if res := one(t, db.URI, th, "long_running_queries"); len(res.Findings) != 0 {
		t.Fatalf("after the remedy: %s", dump(res))
	}
}

func TestLockWaits(t *testing.T) {
	db := pgtest.NewDatabase(t)
	pgtest.Exec(t, db.URI, `CREATE TABLE accounts (id int PRIMARY KEY, balance int); INSERT INTO accounts VALUES (1, 100)`)
	blocker := connect(t, db.URI)
	exec(t, blocker, `SET application_name = 'migration'`)
	exec(t, blocker, `BEGIN; LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE`)
	blockerPID := pgtest.QueryValue[int32](t, db.URI, `SELECT pid FROM pg_stat_activity WHERE application_name = 'migration'`)

	waiter := connect(t, db.URI)
	exec(t, waiter, `SET lock_timeout = 0`)
	done := make(chan error, 1)
	go func() {
		_, err := waiter.Exec(context.Background(), `SELECT balance FROM accounts WHERE id = 1`)
		done <- err
	}()
	th := loose()
	th.LockWaitWarning, th.LockWaitCritical = 100*time.Millisecond, time.Hour
	var res dbhealth.CheckResult
	waitFor(t, "the wait to last 100ms", func() bool {
		res = one(t, db.URI, th, "locks")
		return len(res.Findings) > 0
	})
	f := res.Findings[0]
	roots, _ := f.Evidence["root_blockers"].([]map[string]any)
	if len(roots) != 1 || roots[0]["pid"] != blockerPID || roots[0]["application"] != "migration" {
		t.Errorf("root blockers %v, want pid %d", f.Evidence["root_blockers"], blockerPID)
	}
	if len(f.Remedy) != 1 || !strings.Contains(f.Remedy[0], fmt.Sprintf("pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = %d", blockerPID)) {
		t.Errorf("remedy %v", f.Remedy)
	}
	remedy(t, db.URI, f)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("the waiting query failed: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the waiter is still blocked after the remedy")
	}
	waitFor(t, "the blocker to go", func() bool { return len(one(t, db.URI, th, "locks").Findings) == 0 })
}

// A chain: C waits for B, which waits for A (idle in transaction). The
// remedy ends A only.
func TestLockWaitChain(t *testing.T) {
	db := pgtest.NewDatabase(t)
	pgtest.Exec(t, db.URI, `CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)`)
	a := connect(t, db.URI)
	exec(t, a, `BEGIN; UPDATE t SET id = id WHERE id = 1`)
	aPID := pgtest.QueryValue[int32](t, db.URI, `SELECT pid FROM pg_stat_activity WHERE state = 'idle in transaction' AND datname = current_database()`)
	var errs [2]chan error
	for i := range errs {
		errs[i] = make(chan error, 1)
		c := connect(t, db.URI)
		go func() {
			_, err := c.Exec(context.Background(), `UPDATE t SET id = id WHERE id = 1`)
			errs[i] <- err
		}()
		waitFor(t, "a waiter", func() bool {
			return pgtest.QueryValue[int64](t, db.URI, `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`) == int64(i+1)
		})
	}
	th := loose()
	th.LockWaitWarning = time.Millisecond
	res := one(t, db.URI, th, "locks")
	if len(res.Findings) != 2 {
		t.Fatalf("findings: %s", dump(res))
	}
	for _, f := range res.Findings {
		if len(f.Remedy) != 1 || !strings.Contains(f.Remedy[0], fmt.Sprintf("pid = %d", aPID)) {
			t.Errorf("every waiter's remedy should end the root blocker %d: %v", aPID, f.Remedy)
		}
	}
	remedy(t, db.URI, res.Findings[0])
	for i := range errs {
		select {
		case err := <-errs[i]:
			if err != nil {
				t.Errorf("waiter %d: %v", i, err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("a waiter is still blocked")
		}
	}
}

func TestInactiveReplicationSlot(t *testing.T) {
	db := pgtest.NewDatabase(t)
	pgtest.Exec(t, db.URI, `SELECT pg_create_physical_replication_slot('gone_standby', true)`)
	t.Cleanup(func() {
		pgtest.Exec(t, db.URI, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = 'gone_standby'`)
	})
	// Write some WAL for the slot to hold.
	pgtest.Exec(t, db.URI, `CREATE TABLE filler AS SELECT i, repeat('x', 100) AS pad FROM generate_series(1, 30000) i`)
	th := loose()
	th.SlotRetainedWarningBytes, th.SlotRetainedCriticalBytes = 1<<20, 1<<40
	res := one(t, db.URI, th, "replication")
	f := findingFor(t, res, "gone_standby")
	if f.Status != dbhealth.Warning || f.Evidence["retained_wal_bytes"].(int64) < 1<<20 {
		t.Errorf("%s", dump(f))
	}
	remedy(t, db.URI, f)
	if res := one(t, db.URI, th, "replication"); len(res.Findings) != 0 {
		t.Fatalf("after the remedy: %s", dump(res))
	}
}
