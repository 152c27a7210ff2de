package dbhealth_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgherd/pgherd/internal/access"
	"github.com/pgherd/pgherd/internal/dbhealth"
	"github.com/pgherd/pgherd/internal/pgtest"
	"github.com/pgherd/pgherd/internal/roles"
)

// schema gives every check something to look at.
const schema = `
CREATE TABLE customers (id int PRIMARY KEY, email text);
CREATE TABLE orders (id serial PRIMARY KEY, customer_id int REFERENCES customers, note text);
CREATE TABLE nokey (v text);
CREATE INDEX orders_note_idx ON orders (note);
CREATE INDEX orders_note_dup ON orders (note);
INSERT INTO customers SELECT i, 'c' || i FROM generate_series(1, 100) i;
INSERT INTO orders (customer_id, note) SELECT 1 + i % 100, 'n' FROM generate_series(1, 2000) i;
ANALYZE;`

// The admin_ro role internal/roles creates (pg_monitor, SELECT on the user
// schemas) runs every check; a role without pg_monitor gets the checks it
// can run and, for the others, the privilege it lacks.
func TestPrivileges(t *testing.T) {
	pw := pgtest.CreateRole(t, "health_ro", "")
	plainPW := pgtest.CreateRole(t, "health_plain", "")
	pgtest.CreateRole(t, "health_owner", "")
	db := pgtest.NewDatabase(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db.URI)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	exec(t, conn, `GRANT CREATE ON SCHEMA public TO health_owner; SET ROLE health_owner;`+schema+`RESET ROLE`)
	if err := roles.Apply(ctx, conn, roles.Harden(db.Name, "health_owner")); err != nil {
		t.Fatal(err)
	}
	stmts, err := roles.Statements(roles.Spec{Role: "health_ro", Mode: access.AdminRO, Database: db.Name, Owner: "health_owner"})
	if err != nil {
		t.Fatal(err)
	}
	if err := roles.Apply(ctx, conn, stmts); err != nil {
		t.Fatal(err)
	}
	exec(t, conn, `GRANT CONNECT ON DATABASE `+pgx.Identifier{db.Name}.Sanitize()+` TO health_plain; GRANT USAGE ON SCHEMA public TO health_plain; GRANT SELECT ON customers TO health_plain`)

	super := run(t, db.URI, loose())
	ro := run(t, pgtest.URIAs(db.Name, "health_ro", pw), loose())
	for i, c := range ro.Checks {
		if c.Status == dbhealth.Unknown {
			t.Errorf("admin_ro cannot run %s: %s %s", c.Check, c.MissingPrivilege, c.Error)
		}
		// What admin_ro sees is what a superuser sees.
		if len(c.Findings) != len(super.Checks[i].Findings) {
			t.Errorf("%s: admin_ro sees %d findings, a superuser %d", c.Check, len(c.Findings), len(super.Checks[i].Findings))
		}
	}
	if ro.Status != dbhealth.Warning {
		t.Errorf("admin_ro report status %s", ro.Status)
	}

	plain := run(t, pgtest.URIAs(db.Name, "health_plain", plainPW), loose())
	for _, c := range plain.Checks {
		switch c.Check {
		case "connections", "idle_in_transaction", "long_running_queries", "locks", "replication":
			if c.Status != dbhealth.Unknown || !strings.Contains(c.MissingPrivilege, "pg_read_all_stats") || !strings.Contains(c.MissingPrivilege, "GRANT pg_monitor TO health_plain") {
				t.Errorf("%s without pg_monitor: %s", c.Check, dump(c))
			}
		case "sequences":
			if c.Status == dbhealth.Unknown || len(c.Notes) == 0 || !strings.Contains(c.Notes[0], "lacks SELECT or USAGE") {
				t.Errorf("sequences without privileges should say which were skipped: %s", dump(c))
			}
		default:
			if c.Status == dbhealth.Unknown {
				t.Errorf("%s should run without pg_monitor: %s", c.Check, dump(c))
			}
		}
	}
}

func TestParseChecks(t *testing.T) {
	all, err := dbhealth.ParseChecks("all")
	if err != nil || len(all) != len(dbhealth.Names()) {
		t.Fatalf("all: %v %v", all, err)
	}
	fast, err := dbhealth.ParseChecks(" Fast ")
	if err != nil || len(fast) != len(all)-1 {
		t.Fatalf("fast: %v %v", fast, err)
	}
	got, err := dbhealth.ParseChecks("locks, sequences locks")
	if err != nil || strings.Join(got, ",") != "locks,sequences" {
		t.Fatalf("list: %v %v", got, err)
	}
	if _, err := dbhealth.ParseChecks("lock"); err == nil || !strings.Contains(err.Error(), "did you mean locks?") {
		t.Fatalf("typo: %v", err)
	}
	if _, err := dbhealth.ParseChecks("nonsense"); err == nil || !strings.Contains(err.Error(), "invalid_indexes") {
		t.Fatalf("unknown: %v", err)
	}
}

func TestThresholdsCheck(t *testing.T) {
	if err := dbhealth.DefaultThresholds().Check(); err != nil {
		t.Fatal(err)
	}
	th := dbhealth.DefaultThresholds()
	th.SequenceCriticalPercent = 50
	if err := th.Check(); err == nil || !strings.Contains(err.Error(), "sequence_critical_percent 50 is below sequence_warning_percent 75") {
		t.Errorf("got %v", err)
	}
	th = dbhealth.DefaultThresholds()
	th.CacheHitCriticalPercent = 99
	if err := th.Check(); err == nil || !strings.Contains(err.Error(), "cache_hit") {
		t.Errorf("got %v", err)
	}
}
