package observe_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/observe"
	"github.com/pgherd/pgherd/internal/pg"
	"github.com/pgherd/pgherd/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// recorder implements Observer and every optional interface, and notes
// what it saw, in order.
type recorder struct {
	mu     sync.Mutex
	events []string
	calls  []observe.Record
	trips  []observe.RoundTrip
	auths  []observe.AuthFailure
	closed bool
}

type recKey struct{}

func (r *recorder) note(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, s)
}

func (r *recorder) ObserveCall(ctx context.Context, c *observe.Call) {
	r.note("end call " + c.Tool + " ctx=" + str(ctx.Value(recKey{})))
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, c.Record)
}

func (r *recorder) StartCall(ctx context.Context, c *observe.Call) context.Context {
	r.note("start call " + c.Tool)
	return context.WithValue(ctx, recKey{}, "call")
}

func (r *recorder) StartRequest(ctx context.Context, req *observe.Request) context.Context {
	r.note("start request " + req.Method + " " + req.Tool)
	return context.WithValue(ctx, recKey{}, "request")
}

func (r *recorder) EndRequest(ctx context.Context, req *observe.Request) {
	r.note("end request " + req.Method + " toolError=" + str(req.ToolError) + " ctx=" + str(ctx.Value(recKey{})))
}

func (r *recorder) StartRoundTrip(ctx context.Context, rt *observe.RoundTrip) context.Context {
	return ctx
}

func (r *recorder) EndRoundTrip(_ context.Context, rt *observe.RoundTrip) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.trips = append(r.trips, *rt)
}

func (r *recorder) ObserveAuthFailure(_ context.Context, f *observe.AuthFailure) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.auths = append(r.auths, *f)
}

func (r *recorder) Close(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	return nil
}

func str(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case bool:
		if v {
			return "true"
		}
		return "false"
	}
	return "<nil>"
}

func TestCallLifecycle(t *testing.T) {
	rec := &recorder{}
	var plain []string
	hub := observe.New(nil, rec, observe.ObserverFunc(func(_ context.Context, c *observe.Call) {
		plain = append(plain, c.Tool+":"+string(c.Outcome))
	}))
	c := &observe.Call{Record: observe.Record{ID: "r1", Tool: "app1_execute_sql", Endpoint: "app1"}}
	ctx := hub.StartCall(context.Background(), c)
	if observe.CallFrom(ctx) != c {
		t.Fatal("CallFrom(ctx) is not the started call")
	}
	if c.Start.IsZero() {
		t.Error("StartCall left Start zero")
	}
	c.SetStatement("SELECT $1", []any{"x"})
	c.SetVerdict("SELECT", true)
	c.SetRows(3)
	c.AddSlotWait(2*time.Millisecond, false)
	if snap := c.Snapshot(); snap.Rows != 3 || snap.SQL != "SELECT $1" || !snap.SlotWaited {
		t.Errorf("Snapshot = %+v, want rows 3, the SQL, a slot wait", snap)
	}
	hub.EndCall(ctx, c, observe.End{Outcome: observe.OK, Bytes: 42})
	c.SetRows(99) // after the end: ignored
	c.SetStatement("DROP TABLE x", nil)

	if got := rec.calls[0]; got.Rows != 3 || got.Bytes != 42 || got.Outcome != observe.OK || got.SQL != "SELECT $1" ||
		got.Command != "SELECT" || !got.ReadOnly || got.QueueWait != 2*time.Millisecond || got.Duration <= 0 {
		t.Errorf("record = %+v", got)
	}
	if c.Rows != 3 || c.SQL != "SELECT $1" {
		t.Errorf("setters after the end changed the record: rows %d, sql %q", c.Rows, c.SQL)
	}
	want := []string{"start call app1_execute_sql", "end call app1_execute_sql ctx=call"}
	if !slices.Equal(rec.events, want) {
		t.Errorf("events = %q, want %q", rec.events, want)
	}
	if !slices.Equal(plain, []string{"app1_execute_sql:ok"}) {
		t.Errorf("plain observer saw %q", plain)
	}
	if err := hub.Close(context.Background()); err != nil || !rec.closed {
		t.Errorf("Close = %v, closed %v", err, rec.closed)
	}
}

// A nil hub and a nil call do nothing, so code outside tool calls needs no
// checks.
func TestNilHubAndCall(t *testing.T) {
	var hub *observe.Hub
	c := &observe.Call{Record: observe.Record{Tool: "t"}}
	ctx := hub.StartCall(context.Background(), c)
	hub.EndCall(ctx, c, observe.End{Outcome: observe.OK})
	hub.AuthFailed(ctx, &observe.AuthFailure{})
	if err := hub.Close(ctx); err != nil {
		t.Error(err)
	}
	if c.Outcome != observe.OK {
		t.Errorf("outcome = %q", c.Outcome)
	}
	var none *observe.Call
	none.SetStatement("x", nil)
	none.SetVerdict("SELECT", true)
	none.Refuse("x")
	none.SetRows(1)
	none.SetError(errors.New("x"))
	none.AddSlotWait(time.Second, true)
	none.Logger().Info("discarded")
	if observe.CallFrom(context.Background()) != nil {
		t.Error("CallFrom of an empty context is not nil")
	}
	mw := hub.Middleware("main")
	called := false
	h := mw(func(context.Context, string, mcp.Request) (mcp.Result, error) { called = true; return nil, nil })
	h(context.Background(), "ping", nil)
	if !called {
		t.Error("the nil hub's middleware did not call through")
	}
}

func TestWithheldSQL(t *testing.T) {
	hub := observe.New(nil)
	for _, tc := range []struct {
		sql, command string
		withheld     bool
	}{
		{"SELECT password_changed_at FROM users", "SELECT", false},
		{"ALTER ROLE app PASSWORD 'hunter2'", "ALTER ROLE", true},
		{"CREATE USER MAPPING FOR x SERVER s OPTIONS (password 'p')", "CREATE USER MAPPING", true},
		{"CREATE SUBSCRIPTION s CONNECTION 'host=h password=p' PUBLICATION p", "CREATE SUBSCRIPTION", true},
		{"SELECT dblink_connect('password=p')", "", true}, // refused: no verdict
		{"SELECT 1", "", false},
	} {
		c := &observe.Call{}
		ctx := hub.StartCall(context.Background(), c)
		c.SetStatement(tc.sql, []any{"p"})
		c.SetVerdict(tc.command, false)
		hub.EndCall(ctx, c, observe.End{Outcome: observe.OK})
		if got := c.SQL == observe.WithheldSQL; got != tc.withheld {
			t.Errorf("%q (%s): withheld = %v, want %v", tc.sql, tc.command, got, tc.withheld)
		}
		if tc.withheld && c.Params != nil {
			t.Errorf("%q: params kept with the text withheld", tc.sql)
		}
	}
	if got := observe.RedactSQL("ALTER USER x WITH PASSWORD 'y'"); got != observe.WithheldSQL {
		t.Errorf("RedactSQL = %q", got)
	}
}

// The call's logger writes to the server log with the call's identity, and
// to the client handler with the tool's own attributes only.
func TestCallLogger(t *testing.T) {
	var server, client bytes.Buffer
	hub := observe.New(slog.New(slog.NewJSONHandler(&server, nil)))
	c := &observe.Call{Record: observe.Record{ID: "req-7", Tool: "app1_x", Endpoint: "app1", Tenant: "acme"}}
	c.SetClientLog(slog.NewJSONHandler(&client, nil))
	ctx := hub.StartCall(context.Background(), c)
	observe.CallFrom(ctx).Logger().Info("scanning", "table", "items")

	var s, cl map[string]any
	if err := json.Unmarshal(server.Bytes(), &s); err != nil {
		t.Fatalf("server log %q: %v", server.String(), err)
	}
	if err := json.Unmarshal(client.Bytes(), &cl); err != nil {
		t.Fatalf("client log %q: %v", client.String(), err)
	}
	for k, want := range map[string]string{"msg": "scanning", "table": "items", "request_id": "req-7", "tool": "app1_x", "tenant": "acme", "endpoint": "app1"} {
		if s[k] != want {
			t.Errorf("server log %s = %v, want %q", k, s[k], want)
		}
	}
	if cl["msg"] != "scanning" || cl["table"] != "items" {
		t.Errorf("client log = %v, want the message and the tool's attribute", cl)
	}
	if _, ok := cl["tenant"]; ok {
		t.Errorf("client log carries the server's attributes: %v", cl)
	}
}

func TestLogObserver(t *testing.T) {
	var buf bytes.Buffer
	hub := observe.New(nil, observe.LogObserver(slog.New(slog.NewJSONHandler(&buf, nil))))
	c := &observe.Call{Record: observe.Record{ID: "r9", Tool: "app1_execute_sql", Endpoint: "app1", Tenant: "acme", User: "alice", TraceID: "0af7651916cd43dd8448eb211c80319c"}}
	ctx := hub.StartCall(context.Background(), c)
	c.SetError(errors.New("ERROR: relation does not exist (SQLSTATE 42P01)"))
	hub.EndCall(ctx, c, observe.End{Outcome: observe.SQLError, Err: c.ToolError(), SQLState: "42P01"})
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("%q: %v", buf.String(), err)
	}
	for k, want := range map[string]string{"msg": "tool call", "request_id": "r9", "endpoint": "app1", "tool": "app1_execute_sql",
		"tenant": "acme", "user": "alice", "outcome": "sql_error", "sqlstate": "42P01", "trace_id": "0af7651916cd43dd8448eb211c80319c"} {
		if line[k] != want {
			t.Errorf("log %s = %v, want %q", k, line[k], want)
		}
	}
	if _, ok := line["duration"]; !ok {
		t.Errorf("no duration in %v", line)
	}
}

func TestMiddleware(t *testing.T) {
	rec := &recorder{}
	hub := observe.New(nil, rec)
	h := hub.Middleware("app1")(func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		if ctx.Value(recKey{}) != "request" {
			t.Errorf("handler context lacks the observer's value")
		}
		return &mcp.CallToolResult{IsError: true}, nil
	})
	req := &mcp.CallToolRequest{
		Params: &mcp.CallToolParamsRaw{Name: "app1_execute_sql", Meta: mcp.Meta{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}},
		Extra:  &mcp.RequestExtra{Header: http.Header{"X-Request-Id": {"abc"}}},
	}
	if _, err := h(context.Background(), "tools/call", req); err != nil {
		t.Fatal(err)
	}
	want := []string{"start request tools/call app1_execute_sql", "end request tools/call toolError=true ctx=request"}
	if !slices.Equal(rec.events, want) {
		t.Errorf("events = %q, want %q", rec.events, want)
	}
	// A request without params (a nil pointer) must not panic.
	h2 := hub.Middleware("app1")(func(context.Context, string, mcp.Request) (mcp.Result, error) { return nil, nil })
	if _, err := h2(context.Background(), "notifications/initialized", &mcp.InitializedRequest{}); err != nil {
		t.Fatal(err)
	}
}

// The database tracer counts a call's round trips (BEGIN with its
// settings, the statement, the end with the reset) and its pool wait into
// the record, and hands each round trip to the round-trip observers.
func TestDBTracer(t *testing.T) {
	db := pgtest.NewDatabase(t)
	pgtest.Exec(t, db.URI, "CREATE TABLE t (x int); INSERT INTO t VALUES (1), (2)")
	rec := &recorder{}
	hub := observe.New(nil, rec)
	ctx := context.Background()
	pool, err := pg.Connect(ctx, "app1", db.URI, pg.PoolOptions{Tracer: hub.DBTracer()})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if len(rec.trips) != 0 {
		t.Errorf("round trips outside a call were observed: %+v", rec.trips)
	}

	c := &observe.Call{Record: observe.Record{Tool: "x"}}
	cctx := hub.StartCall(ctx, c)
	res, err := pool.Run(cctx, pg.TxOptions{ReadOnly: true}, pg.Call{SQL: "SELECT x FROM t ORDER BY x"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = pool.Run(cctx, pg.TxOptions{ReadOnly: true}, pg.Call{SQL: "SELECT nope FROM t"})
	if err == nil {
		t.Fatal("a bad column ran")
	}
	hub.EndCall(cctx, c, observe.End{Outcome: observe.OK})
	if res.RowCount != 2 {
		t.Fatalf("rows = %d", res.RowCount)
	}
	if c.RoundTrips != 6 || c.DBTime <= 0 {
		t.Errorf("round trips = %d, db time %s; want 6 (two calls of BEGIN, statement, ROLLBACK) and some time", c.RoundTrips, c.DBTime)
	}
	var sqls []string
	for _, rt := range rec.trips {
		sqls = append(sqls, rt.SQL)
		if rt.Pool != "app1" || rt.Database != db.Name || rt.Call != c {
			t.Errorf("round trip %q: pool %q, database %q (want app1, %s), call %p", rt.SQL, rt.Pool, rt.Database, db.Name, rt.Call)
		}
	}
	if len(sqls) != 6 || !strings.Contains(strings.ToLower(sqls[0]), "begin") ||
		sqls[1] != "SELECT x FROM t ORDER BY x" || sqls[2] != "ROLLBACK; DISCARD ALL" {
		t.Errorf("round trips = %q", sqls)
	}
	if bad := rec.trips[4]; bad.SQLState != "42703" || bad.Err == nil {
		t.Errorf("failed statement: sqlstate %q, err %v; want 42703", bad.SQLState, bad.Err)
	}
	if rec.trips[1].Rows != 2 || rec.trips[1].CommandTag != "SELECT 2" {
		t.Errorf("statement: rows %d, tag %q", rec.trips[1].Rows, rec.trips[1].CommandTag)
	}
}
