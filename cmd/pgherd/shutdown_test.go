package main_test

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/pgtest"
)

// stubbornSQL creates a function that ignores cancel requests and
// statement_timeout (it catches query_canceled) but not
// pg_terminate_backend: a call that would never end on its own.
const stubbornSQL = `CREATE FUNCTION stubborn(secs float8) RETURNS int LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
  WHILE clock_timestamp() - t0 < make_interval(secs => secs) LOOP
    BEGIN
      PERFORM pg_catalog.pg_sleep(0.01);
    EXCEPTION WHEN query_canceled THEN NULL;
    END;
  END LOOP;
  RETURN 1;
END $$`

// TestServeSIGTERMCutsStuckCall: SIGTERM while a call is stuck in a
// statement that ignores cancellation. The process exits within
// shutdown_timeout + 1 s, with a non-zero status and a log line naming the
// call it cut, and the statement's backend is gone from the server.
func TestServeSIGTERMCutsStuckCall(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	pgtest.Exec(t, db.URI, stubbornSQL)
	port := freePort(t)
	const grace = 2 * time.Second
	cfg := fmt.Sprintf(`server: {port: %d, shutdown_timeout: 2s}
auth:
  mode: api_key
  api_keys:
    - {name: alice, key: "${ALICE_KEY}"}
endpoints:
  app1:
    database_uri: "${APP1_URI}"
    access_mode: admin_rw
    limits: {statement_timeout: 10m}
`, port)
	path := writeFile(t, "pgherd.yaml", cfg)
	s := serve(t, path, port, "APP1_URI="+db.URI, "ALICE_KEY="+aliceKey)

	cs, err := s.connect("/app1/mcp", aliceKey)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer cs.Close()
	done := make(chan error, 1)
	go func() {
		_, err := cs.CallTool(s.ctx, &mcp.CallToolParams{Name: "app1_execute_sql", Arguments: map[string]any{"sql": "SELECT stubborn(600)"}})
		done <- err
	}()
	running := func() int64 {
		return pgtest.QueryValue[int64](t, pgtest.URI("postgres"),
			"SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND query LIKE '%stubborn(600)%' AND query NOT LIKE '%pg_stat_activity%'", db.Name)
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for running() == 0 {
		select {
		case <-tick.C:
		case err := <-done:
			t.Fatalf("the call ended before it was seen running: %v", err)
		case <-s.ctx.Done():
			t.Fatal("the call never showed up in pg_stat_activity")
		}
	}

	sent := time.Now()
	s.signal(syscall.SIGTERM)
	code := s.exitCode()
	took := time.Since(sent)
	t.Logf("exited %d after %s (shutdown_timeout %s)", code, took.Round(time.Millisecond), grace)
	if took > grace+time.Second {
		t.Errorf("exit %s after SIGTERM, want within shutdown_timeout + 1s = %s", took.Round(time.Millisecond), grace+time.Second)
	}
	if code == 0 {
		t.Errorf("exit status 0 after cutting a call, want non-zero")
	}
	logs := s.stderr.String()
	for _, want := range []string{`"msg":"shutdown cut requests still running after the grace period"`, "tools/call app1_execute_sql", `"backends_terminated":1`} {
		if !strings.Contains(logs, want) {
			t.Errorf("stderr has no %s", want)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for running() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the stuck statement still runs on the server 5s after pgherd exited")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if gone := time.Since(sent); gone > grace+2*time.Second {
		t.Errorf("backend gone %s after SIGTERM", gone)
	}
}
