package app_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/cancel"
	"github.com/pgherd/pgherd/internal/pgtest"
)

// cancelServers starts one pgherd per session mode on one database, served
// as w (admin_rw, so pg_sleep is allowed) with one call at a time: a call
// whose slot is not freed makes the next one wait, then fail.
func cancelServers(t *testing.T) (map[string]*server, *pgtest.Database) {
	t.Helper()
	db := pgtest.NewDatabase(t)
	servers := map[string]*server{}
	for _, mode := range []string{"stateless", "stateful"} {
		servers[mode] = start(t, fmt.Sprintf(`
server: {port: 0, session_mode: %s, shutdown_timeout: 5s}
endpoints:
  w:
    database_uri: "${URI}"
    access_mode: admin_rw
    pool: {acquire_timeout: 3s}
    limits: {statement_timeout: 60s, max_concurrent_calls: 1}
`, mode), map[string]string{"URI": db.URI})
	}
	return servers, db
}

// backends counts the server processes whose current or last query holds
// marker, in any state.
func backends(t *testing.T, db *pgtest.Database, marker string) int64 {
	t.Helper()
	return pgtest.QueryValue[int64](t, pgtest.URI("postgres"),
		"SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND query LIKE '%' || $2 || '%'", db.Name, marker)
}

// measureCancel waits for the statement marked marker to run, calls
// trigger, and returns how long PostgreSQL took to show no backend with it
// any more. The statement sleeps 60 s: only a cancellation ends it sooner.
func measureCancel(t *testing.T, db *pgtest.Database, marker string, trigger func()) time.Duration {
	t.Helper()
	waitFor(t, "the statement to run", func() bool { return backends(t, db, marker) > 0 })
	start := time.Now()
	trigger()
	deadline := time.Now().Add(15 * time.Second)
	for backends(t, db, marker) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("statement %s still in pg_stat_activity 15s after the cancellation", marker)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// sleepSQL is a 60-second statement pg_stat_activity can find by marker.
func sleepSQL(marker string) string {
	return fmt.Sprintf("SELECT pg_sleep(60) /* %s */", marker)
}

// slotFree checks that the endpoint's only slot is free again: a call
// succeeds at once instead of waiting for it.
func slotFree(t *testing.T, s *server) {
	t.Helper()
	cs := s.connect(t, "/w/mcp", streamable, nil)
	res := call(t, cs, "w_execute_sql", map[string]any{"sql": "SELECT 1 AS one"})
	if res.IsError {
		t.Errorf("the call after a cancelled one failed (slot not freed?): %s", text(res))
	}
}

// rawPost sends one JSON-RPC message to path as a Streamable HTTP POST.
func rawPost(ctx context.Context, s *server, path, version, session, body string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.Base+path, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if version != "" {
		req.Header.Set("MCP-Protocol-Version", version)
	}
	if session != "" {
		req.Header.Set("Mcp-Session-Id", session)
	}
	return http.DefaultClient.Do(req)
}

// rawSession opens a stateful session with a bare initialize handshake.
func rawSession(t *testing.T, s *server, version string) string {
	t.Helper()
	resp, err := rawPost(ctx15(t), s, "/w/mcp", "", "",
		`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"`+version+`","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}`)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != http.StatusOK || sid == "" {
		t.Fatalf("initialize: %s, session %q", resp.Status, sid)
	}
	resp, err = rawPost(ctx15(t), s, "/w/mcp", version, sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return sid
}

func toolCallBody(id int, sql string) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"w_execute_sql","arguments":{"sql":%q}}}`, id, sql)
}

// TestCancellation cancels a running statement in every way a client can,
// on every transport and protocol revision, and checks in pg_stat_activity
// that PostgreSQL stopped it (within a second) and that the call's slot is
// free again.
func TestCancellation(t *testing.T) {
	servers, db := cancelServers(t)
	type cancelCase struct {
		name string
		mode string
		run  func(t *testing.T, s *server, marker string) time.Duration
		// grace is how long the server waits for the client to resume
		// before it cancels (stateful streams are resumable).
		grace time.Duration
	}
	// viaClient: the go-sdk client's context ends (it drops the request and
	// sends notifications/cancelled, as its revision allows).
	viaClient := func(tr transport, version string) func(*testing.T, *server, string) time.Duration {
		return func(t *testing.T, s *server, marker string) time.Duration {
			cs := s.connectVersion(t, "/w/mcp", tr, nil, version)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "w_execute_sql", Arguments: map[string]any{"sql": sleepSQL(marker)}})
				done <- err
			}()
			d := measureCancel(t, db, marker, cancel)
			if err := <-done; err == nil {
				t.Errorf("the cancelled call returned no error")
			}
			return d
		}
	}
	// droppedPost: a bare HTTP client drops the POST carrying the call and
	// sends nothing else.
	droppedPost := func(version string, stateful bool) func(*testing.T, *server, string) time.Duration {
		return func(t *testing.T, s *server, marker string) time.Duration {
			sid := ""
			if stateful {
				sid = rawSession(t, s, version)
			}
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				if resp, err := rawPost(ctx, s, "/w/mcp", version, sid, toolCallBody(1, sleepSQL(marker))); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}()
			return measureCancel(t, db, marker, cancel)
		}
	}
	// notified: the POST stays open; notifications/cancelled arrives in a
	// request of its own.
	notified := func(version string, stateful bool) func(*testing.T, *server, string) time.Duration {
		return func(t *testing.T, s *server, marker string) time.Duration {
			sid := ""
			if stateful {
				sid = rawSession(t, s, version)
			}
			answered := make(chan string, 1)
			go func() {
				resp, err := rawPost(context.Background(), s, "/w/mcp", version, sid, toolCallBody(41, sleepSQL(marker)))
				if err != nil {
					answered <- err.Error()
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				answered <- string(b)
			}()
			d := measureCancel(t, db, marker, func() {
				resp, err := rawPost(ctx15(t), s, "/w/mcp", version, sid, `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":41,"reason":"test"}}`)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
			})
			select {
			case <-answered:
			case <-time.After(15 * time.Second):
				t.Errorf("the cancelled request's POST did not end")
			}
			return d
		}
	}
	cases := []cancelCase{
		{name: "stateless/2026-07-28/client", mode: "stateless", run: viaClient(streamable, "2026-07-28")},
		{name: "stateless/2025-11-25/client", mode: "stateless", run: viaClient(streamable, "2025-11-25")},
		{name: "stateless/2025-11-25/dropped", mode: "stateless", run: droppedPost("2025-11-25", false)},
		{name: "stateless/2025-03-26/dropped", mode: "stateless", run: droppedPost("2025-03-26", false)},
		{name: "stateless/2025-06-18/notification", mode: "stateless", run: notified("2025-06-18", false)},
		{name: "stateful/2025-11-25/client", mode: "stateful", run: viaClient(streamable, "2025-11-25")},
		{name: "stateful/2025-06-18/dropped", mode: "stateful", run: droppedPost("2025-06-18", true), grace: cancel.ResumeGrace},
		{name: "stateful/2025-03-26/notification", mode: "stateful", run: notified("2025-03-26", true)},
		{name: "sse/2024-11-05/client", mode: "stateless", run: viaClient(legacySSE, "2024-11-05")},
		{name: "sse/2024-11-05/stream-closed", mode: "stateless", run: sseStreamClosed(db)},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := servers[c.mode]
			marker := fmt.Sprintf("cancel-case-%d", i)
			d := c.run(t, s, marker)
			t.Logf("%s: statement gone from pg_stat_activity %s after the cancellation", c.name, d.Round(time.Millisecond))
			if d > c.grace+time.Second {
				t.Errorf("%s: the statement ran on for %s after the cancellation, want under %s", c.name, d, c.grace+time.Second)
			}
			slotFree(t, s)
		})
	}
}

// sseStreamClosed opens a legacy SSE session by hand, starts a call, and
// closes the event stream.
func sseStreamClosed(db *pgtest.Database) func(*testing.T, *server, string) time.Duration {
	return func(t *testing.T, s *server, marker string) time.Duration {
		ctx, closeStream := context.WithCancel(context.Background())
		defer closeStream()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.Base+"/w/sse", nil)
		req.Header.Set("Accept", "text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		lines := bufio.NewScanner(resp.Body)
		endpoint := ""
		for endpoint == "" && lines.Scan() {
			if data, ok := strings.CutPrefix(lines.Text(), "data: "); ok {
				endpoint = data
			}
		}
		if endpoint == "" {
			t.Fatalf("the event stream announced no endpoint")
		}
		// Keep reading the stream so the server's writes never block.
		go io.Copy(io.Discard, resp.Body)
		post := func(body string) {
			r, err := http.Post(s.Base+endpoint, "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			r.Body.Close()
		}
		post(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}`)
		post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
		post(toolCallBody(1, sleepSQL(marker)))
		return measureCancel(t, db, marker, closeStream)
	}
}

// killableDialer remembers the connections it made so a test can cut them
// all, as a network failure would.
type killableDialer struct {
	mu    sync.Mutex
	conns []net.Conn
}

func (d *killableDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err == nil {
		d.mu.Lock()
		d.conns = append(d.conns, c)
		d.mu.Unlock()
	}
	return c, err
}

func (d *killableDialer) kill() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.conns {
		c.Close()
	}
	d.conns = nil
}

// TestResumeKeepsCall: in stateful mode a client whose connection breaks
// while a call runs resumes its stream (GET with Last-Event-ID) and gets the
// answer: the statement is not cancelled, since the client came back
// within cancel.ResumeGrace.
func TestResumeKeepsCall(t *testing.T) {
	servers, db := cancelServers(t)
	s := servers["stateful"]
	d := &killableDialer{}
	hc := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	c := mcp.NewClient(&mcp.Implementation{Name: "pgherd-test", Version: "0"}, nil)
	cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: s.Base + "/w/mcp", HTTPClient: hc},
		&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	done := make(chan *mcp.CallToolResult, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "w_execute_sql", Arguments: map[string]any{"sql": "SELECT pg_sleep(2), 'survived' AS state /* resume */"}})
		if err != nil {
			res = &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: err.Error()}}}
		}
		done <- res
	}()
	waitFor(t, "the statement to run", func() bool { return backends(t, db, "resume */") > 0 })
	d.kill()
	res := <-done
	if res.IsError || !strings.Contains(text(res), "survived") {
		t.Fatalf("call across a broken connection: %s", text(res))
	}
}
