package app_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgherd/pgherd/internal/access"
	"github.com/pgherd/pgherd/internal/pgtest"
)

// TestSessionStateThroughExecuteSQL: whatever a call tries to leave on its
// connection, the next call on that connection (max_conns 1) sees nothing
// of it — in every mode, with a superuser login (allow_privileged_role:
// nothing but pgherd stops a statement there) and with a plain login. A
// read-only call the validator finds free of session state skips DISCARD
// ALL (its rollback undoes what it could change), so this pins that the
// skip leaks nothing: the probe after each attempt is itself such a call.
// Besides the probe through execute_sql, a superuser connection looks at
// the endpoint's backend from outside (advisory locks, temporary
// relations, that the connection was kept).
func TestSessionStateThroughExecuteSQL(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	pgtest.Exec(t, db.URI, "CREATE SEQUENCE s; CREATE TABLE t (id int); INSERT INTO t VALUES (1)")
	name := "plain_" + strings.ToLower(rand.Text()[:6])
	pw := pgtest.CreateRole(t, name, "")
	ident := pgx.Identifier{name}.Sanitize()
	pgtest.Exec(t, db.URI, "GRANT CONNECT, TEMPORARY ON DATABASE "+pgx.Identifier{db.Name}.Sanitize()+" TO "+ident+
		"; GRANT SELECT, INSERT ON t TO "+ident+"; GRANT USAGE ON SEQUENCE s TO "+ident)
	logins := map[string]string{"superuser": db.URI, "plain": pgtest.URIAs(db.Name, name, pw)}

	// What a call could try to leave behind; each mode refuses some, and
	// PostgreSQL refuses others in a read-only transaction. Outcomes are not
	// asserted here (the validator's tests do that), only what remains.
	attempts := []string{
		"SELECT set_config('work_mem', '77MB', false)",
		"SELECT set_config('app.x', 'leaked', false)",
		"SELECT set_config('search_path', 'pg_catalog', false)",
		"SELECT set_config('role', 'pg_monitor', false)",
		"SET work_mem = '77MB'",
		"SET search_path = pg_catalog",
		"SET ROLE pg_monitor",
		"SET SESSION AUTHORIZATION pg_monitor",
		"SELECT pg_advisory_lock(42)",
		"SELECT pg_try_advisory_lock_shared(43)",
		"CREATE TEMP TABLE leak (id int)",
		"PREPARE leak AS SELECT 1",
		"DECLARE leak CURSOR WITH HOLD FOR SELECT 1",
		"LISTEN leak",
		"SELECT nextval('s')",
		"SELECT setseed(0.5)",
		"SELECT id FROM t", // no state at all: the kept-session path itself
	}
	// The probes: user modes may read no settings or catalogs (the
	// pg package's TestNoSessionStateKeepsNothing checks that a rollback
	// undoes them), the admin modes read everything a call could leave.
	userProbe := `SELECT current_user::text AS cu, session_user::text AS su, (SELECT count(*) FROM t) AS rows_in_t`
	adminProbe := userProbe + `, current_setting('work_mem') AS work_mem, current_setting('search_path') AS search_path,
		coalesce(current_setting('app.x', true), '-') AS app_x, current_setting('role') AS role,
		(SELECT count(*) FROM pg_catalog.pg_prepared_statements) AS prepared,
		(SELECT count(*) FROM pg_catalog.pg_cursors) AS cursors,
		(SELECT count(*) FROM pg_catalog.pg_listening_channels()) AS listening`
	// From outside: the endpoint's one pooled backend.
	outside := `SELECT a.pid,
		(SELECT count(*) FROM pg_catalog.pg_locks l WHERE l.pid = a.pid AND l.locktype = 'advisory') AS advisory,
		(SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		  WHERE n.nspname = 'pg_temp_' || (SELECT b.id FROM pg_catalog.pg_stat_get_backend_idset() b(id)
		                                    WHERE pg_catalog.pg_stat_get_backend_pid(b.id) = a.pid)) AS temp_relations
		FROM pg_catalog.pg_stat_activity a WHERE a.datname = $1 AND a.application_name = 'pgherd/shop'`
	watch, err := pgx.Connect(context.Background(), db.URI)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { watch.Close(context.Background()) })
	look := func(t *testing.T) (pid int32, advisory, temp int64) {
		t.Helper()
		err := watch.QueryRow(context.Background(), outside, db.Name).Scan(&pid, &advisory, &temp)
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, 0, 0 // the last call's connection was destroyed
		}
		if err != nil {
			t.Fatalf("looking at the endpoint's backend: %v", err)
		}
		return pid, advisory, temp
	}

	for login, uri := range logins {
		for _, mode := range access.Modes {
			t.Run(login+"/"+string(mode), func(t *testing.T) {
				s := start(t, fmt.Sprintf(`server: {port: 0}
endpoints:
  shop:
    database_uri: %q
    access_mode: %s
    allow_privileged_role: true
    pool: {max_conns: 1}
`, uri, mode), nil)
				cs := s.connect(t, "/shop/mcp", streamable, nil)
				probeSQL := userProbe
				if mode.Admin() {
					probeSQL = adminProbe
				}
				probe := func(t *testing.T) string {
					t.Helper()
					out := callOK(t, cs, "shop_execute_sql", map[string]any{"sql": probeSQL})
					return fmt.Sprint(out["rows"])
				}
				base := probe(t)
				for _, sql := range attempts {
					t.Run(sql, func(t *testing.T) {
						probe(t) // the connection exists
						pid, _, _ := look(t)
						call(t, cs, "shop_execute_sql", map[string]any{"sql": sql})
						after, advisory, temp := look(t)
						if advisory != 0 || temp != 0 {
							t.Errorf("after %q the endpoint's backend holds %d advisory locks and %d temporary relations", sql, advisory, temp)
						}
						if sql == "SELECT id FROM t" && after != pid {
							t.Errorf("a call without session state replaced the connection (backend %d, then %d)", pid, after)
						}
						if got := probe(t); got != base {
							t.Errorf("after %q the next call sees\n%s\nwant as before\n%s", sql, got, base)
						}
						// Sequence state: a value drawn by a call that
						// committed is reset (DISCARD ALL) before the next.
						if res := call(t, cs, "shop_execute_sql", map[string]any{"sql": "SELECT lastval()"}); !res.IsError {
							t.Errorf("after %q the next call reads lastval(): %s", sql, text(res))
						}
					})
				}
			})
		}
	}
}
