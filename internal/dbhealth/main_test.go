package dbhealth_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgherd/pgherd/internal/dbhealth"
	"github.com/pgherd/pgherd/internal/pg"
	"github.com/pgherd/pgherd/internal/pgtest"
)

// The tests of this package run one at a time (no t.Parallel): several
// checks look at the whole cluster (connections, replication, settings),
// and some tests change cluster settings.
func TestMain(m *testing.M) { pgtest.Main(m) }

// loose returns thresholds that report anything, so small test tables
// qualify.
func loose() dbhealth.Thresholds {
	th := dbhealth.DefaultThresholds()
	th.UnusedIndexMinStatsAge = 0
	th.UnusedIndexMinBytes = 0
	th.BloatMinBytes = 0
	th.ForeignKeyMinRows = 0
	th.DeadTupleMinRows = 100
	th.AnalyzeMinRows = 100
	th.MaxFindings = 1000
	return th
}

// run runs checks on uri the way the tool does: through a pg.Pool, in a
// read-only transaction that is rolled back.
func run(t *testing.T, uri string, th dbhealth.Thresholds, checks ...string) *dbhealth.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := pg.Connect(ctx, "test", uri, pg.PoolOptions{MaxConns: 1})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer p.Close()
	var rep *dbhealth.Report
	err = p.Do(ctx, pg.TxOptions{ReadOnly: true, Rollback: true}, func(ctx context.Context, tx *pg.Tx) error {
		var err error
		rep, err = dbhealth.Run(ctx, tx.Conn(), dbhealth.Options{Checks: checks, Thresholds: th})
		return err
	})
	if err != nil {
		t.Fatalf("dbhealth.Run: %v", err)
	}
	return rep
}

// one runs a single check and returns its result, failing the test when
// the check could not run.
func one(t *testing.T, uri string, th dbhealth.Thresholds, check string) dbhealth.CheckResult {
	t.Helper()
	rep := run(t, uri, th, check)
	res := rep.Checks[0]
	if res.Status == dbhealth.Unknown {
		t.Fatalf("check %s could not run: %s %s", check, res.MissingPrivilege, res.Error)
	}
	return res
}

// findingFor returns the finding whose object is object (or whose summary
// mentions it), failing the test when there is none.
func findingFor(t *testing.T, res dbhealth.CheckResult, object string) dbhealth.Finding {
	t.Helper()
	for _, f := range res.Findings {
		if f.Object == object || strings.Contains(f.Summary, object) {
			return f
		}
	}
	t.Fatalf("check %s: no finding for %s in %s", res.Check, object, dump(res))
	return dbhealth.Finding{}
}

func hasFinding(res dbhealth.CheckResult, object string) bool {
	for _, f := range res.Findings {
		if f.Object == object || strings.Contains(f.Summary, object) {
			return true
		}
	}
	return false
}

// remedy runs the finding's remedy statements one by one, as a superuser
// would paste them, and fails the test if any fails.
func remedy(t *testing.T, uri string, fs ...dbhealth.Finding) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, f := range fs {
		if len(f.Remedy) == 0 {
			t.Fatalf("finding has no remedy: %+v", f)
		}
		for _, stmt := range f.Remedy {
			if _, err := conn.Exec(ctx, stmt); err != nil {
				t.Fatalf("remedy %q: %v", stmt, err)
			}
		}
	}
}

// waitFor polls cond until it holds or 20s pass: for things the server
// does asynchronously (a terminated backend leaving pg_stat_activity, a
// statistics flush, a configuration reload).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func dump(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

func connect(t *testing.T, uri string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), uri)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func exec(t *testing.T, conn *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%v\nSQL: %s", err, sql)
	}
}

func TestAllChecksRunOnAFreshDatabase(t *testing.T) {
	db := pgtest.NewDatabase(t)
	rep := run(t, db.URI, dbhealth.DefaultThresholds())
	if len(rep.Checks) != len(dbhealth.Names()) {
		t.Fatalf("got %d checks, want %d", len(rep.Checks), len(dbhealth.Names()))
	}
	for _, c := range rep.Checks {
		if c.Status != dbhealth.OK {
			t.Errorf("check %s on an empty database: %s", c.Check, dump(c))
		}
	}
	if rep.Status != dbhealth.OK {
		t.Errorf("report status %s", rep.Status)
	}
	fmt.Println(dump(rep))
}
