package audit_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgherd/pgherd/internal/observe"
	"github.com/pgherd/pgherd/internal/observe/audit"
)

// blockingWriter blocks every Write until released, and says when the
// first Write has started.
type blockingWriter struct {
	started chan struct{}
	release chan struct{}
	once    sync.Once
	mu      sync.Mutex
	buf     bytes.Buffer
}

func newBlockingWriter() *blockingWriter {
	return &blockingWriter{started: make(chan struct{}), release: make(chan struct{})}
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.started) })
	<-w.release
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func endedCall(hub *observe.Hub, tool string) *observe.Call {
	c := &observe.Call{Record: observe.Record{ID: "r-" + tool, Tool: tool, Endpoint: "app1"}}
	ctx := hub.StartCall(context.Background(), c)
	hub.EndCall(ctx, c, observe.End{Outcome: observe.OK})
	return c
}

// A sink that cannot write never holds a call up: with the writer stuck,
// records fill the buffer and the rest are dropped and counted, without
// waiting (MaxWait 0) — were the calls waiting for the disk, this test
// would hang.
func TestStuckSinkDropsInsteadOfBlocking(t *testing.T) {
	w := newBlockingWriter()
	s := audit.New(w, audit.Options{Buffer: 2})
	hub := observe.New(nil)
	ctx := context.Background()

	s.ObserveCall(ctx, endedCall(hub, "first"))
	<-w.started // the writer holds the first record, stuck in Write
	// bufio does not write until a flush; the first record is flushed
	// alone because nothing else was queued.
	for i := range 9 {
		s.ObserveCall(ctx, endedCall(hub, "t"+string(rune('a'+i))))
	}
	if got := s.Dropped(); got != 7 {
		t.Errorf("dropped = %d, want 7 (9 sent, 2 buffered)", got)
	}
	close(w.release)
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := s.Written(); got != 3 {
		t.Errorf("written = %d, want 3", got)
	}
	if n := strings.Count(w.buf.String(), "\n"); n != 3 {
		t.Errorf("%d lines written, want 3:\n%s", n, w.buf.String())
	}
	// After Close, records are dropped, not sent on a closed channel.
	s.ObserveCall(ctx, endedCall(hub, "late"))
	if got := s.Dropped(); got != 8 {
		t.Errorf("dropped after close = %d, want 8", got)
	}
}

// With MaxWait, a call waits for room at most that long, then drops its
// record; room that frees up in time is used.
func TestMaxWaitBoundsTheWait(t *testing.T) {
	w := newBlockingWriter()
	s := audit.New(w, audit.Options{Buffer: 1, MaxWait: 20 * time.Millisecond})
	hub := observe.New(nil)
	ctx := context.Background()
	s.ObserveCall(ctx, endedCall(hub, "first"))
	<-w.started
	s.ObserveCall(ctx, endedCall(hub, "buffered"))
	s.ObserveCall(ctx, endedCall(hub, "dropped")) // waits MaxWait, then drops
	if got := s.Dropped(); got != 1 {
		t.Errorf("dropped = %d, want 1", got)
	}
	close(w.release)
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := s.Written(); got != 2 {
		t.Errorf("written = %d, want 2", got)
	}
}

func TestRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	for _, includeParams := range []bool{false, true} {
		s, err := audit.Open(path, audit.Options{IncludeParams: includeParams})
		if err != nil {
			t.Fatal(err)
		}
		hub := observe.New(nil, s)
		ctx := context.Background()

		c := &observe.Call{Record: observe.Record{ID: "req-1", Server: "app1", Endpoint: "app1", Tool: "app1_execute_sql",
			ToolBase: "execute_sql", Mode: "user_ro", Tenant: "acme", User: "alice", AuthMethod: "api_key", Transport: "http"}}
		cctx := hub.StartCall(ctx, c)
		c.SetStatement("SELECT secret FROM vault WHERE id = $1", []any{"param-value"})
		c.SetVerdict("SELECT", true)
		c.SetRows(1)
		c.SetError(errors.New(`ERROR: invalid input syntax for type integer: "row-data" (SQLSTATE 22P02)`))
		hub.EndCall(cctx, c, observe.End{Outcome: observe.SQLError, Err: c.ToolError(), SQLState: "22P02", Bytes: 10})

		r := &observe.Call{Record: observe.Record{ID: "req-2", Endpoint: "app1", Tool: "app1_execute_sql"}}
		rctx := hub.StartCall(ctx, r)
		r.SetStatement("DELETE FROM vault", nil)
		r.Refuse("statement_not_allowed")
		r.SetError(errors.New("only SELECT is allowed in user_ro"))
		hub.EndCall(rctx, r, observe.End{Outcome: observe.Refused, Err: r.ToolError()})

		hub.AuthFailed(ctx, &observe.AuthFailure{RequestID: "req-3", Endpoint: "app1", Reason: observe.AuthInvalid, Status: 401,
			Description: "the API key is not valid", Remote: "127.0.0.1:5000", Method: "POST", Path: "/app1/mcp"})
		if err := hub.Close(ctx); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
			t.Errorf("audit file mode %v, want 0600", fi.Mode().Perm())
		}
		lines := lastLines(t, data, 3)
		call, refused, authf := lines[0], lines[1], lines[2]
		for k, want := range map[string]any{"kind": "tool_call", "request_id": "req-1", "endpoint": "app1", "server": "app1",
			"tool": "app1_execute_sql", "tenant": "acme", "user": "alice", "auth_method": "api_key", "mode": "user_ro",
			"sql": "SELECT secret FROM vault WHERE id = $1", "command": "SELECT", "read_only": true, "outcome": "sql_error",
			"sqlstate": "22P02", "rows": 1.0, "bytes": 10.0} {
			if call[k] != want {
				t.Errorf("include_params=%v: tool_call %s = %v, want %v", includeParams, k, call[k], want)
			}
		}
		for _, k := range []string{"time", "duration_ms", "queue_wait_ms"} {
			if _, ok := call[k]; !ok {
				t.Errorf("tool_call has no %s: %v", k, call)
			}
		}
		if _, err := time.Parse(time.RFC3339Nano, call["time"].(string)); err != nil {
			t.Errorf("time %v: %v", call["time"], err)
		}
		if _, ok := call["error"]; ok {
			t.Errorf("a database error's message (which can quote row data) is in the record: %v", call["error"])
		}
		_, hasParams := call["params"]
		if hasParams != includeParams {
			t.Errorf("include_params=%v: params present = %v", includeParams, hasParams)
		}
		if refused["outcome"] != "refused" || refused["refusal"] != "statement_not_allowed" || refused["error"] != "only SELECT is allowed in user_ro" {
			t.Errorf("refused record = %v", refused)
		}
		for k, want := range map[string]any{"kind": "auth_failure", "request_id": "req-3", "endpoint": "app1", "reason": "invalid_credentials",
			"status": 401.0, "remote": "127.0.0.1:5000", "method": "POST", "path": "/app1/mcp", "error": "the API key is not valid"} {
			if authf[k] != want {
				t.Errorf("auth_failure %s = %v, want %v", k, authf[k], want)
			}
		}
		if strings.Contains(string(data), "row-data") {
			t.Errorf("the audit log holds row data:\n%s", data)
		}
	}
	// Both runs appended to the same file.
	data, _ := os.ReadFile(path)
	if n := strings.Count(string(data), "\n"); n != 6 {
		t.Errorf("%d lines after two runs, want 6 (the file is appended to)", n)
	}
}

func lastLines(t *testing.T, data []byte, n int) []map[string]any {
	t.Helper()
	var all []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q is not JSON: %v", sc.Text(), err)
		}
		all = append(all, m)
	}
	if len(all) < n {
		t.Fatalf("%d lines, want at least %d", len(all), n)
	}
	return all[len(all)-n:]
}

func TestOpenFails(t *testing.T) {
	_, err := audit.Open(filepath.Join(t.TempDir(), "missing", "dir", "audit.jsonl"), audit.Options{})
	if err == nil || !strings.Contains(err.Error(), "audit.path") {
		t.Errorf("Open in a missing directory: %v, want an error naming audit.path", err)
	}
}
