//lint:file-ignore SA1019 MCP logging is deprecated from protocol 2026-07-28 (SEP-2577) but still part of it and of every older revision pgherd serves

package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/pgtest"
)

// inbox collects what the server sends a client besides responses.
type inbox struct {
	mu       sync.Mutex
	logs     []*mcp.LoggingMessageParams
	progress []*mcp.ProgressNotificationParams
}

func (b *inbox) options(o *mcp.ClientOptions) *mcp.ClientOptions {
	if o == nil {
		o = &mcp.ClientOptions{}
	}
	o.LoggingMessageHandler = func(_ context.Context, r *mcp.LoggingMessageRequest) {
		b.mu.Lock()
		b.logs = append(b.logs, r.Params)
		b.mu.Unlock()
	}
	o.ProgressNotificationHandler = func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
		b.mu.Lock()
		b.progress = append(b.progress, r.Params)
		b.mu.Unlock()
	}
	return o
}

// take returns and forgets what arrived so far.
func (b *inbox) take() ([]*mcp.LoggingMessageParams, []*mcp.ProgressNotificationParams) {
	b.mu.Lock()
	defer b.mu.Unlock()
	logs, progress := b.logs, b.progress
	b.logs, b.progress = nil, nil
	return logs, progress
}

// connectClient is connectVersion with client options.
func (s *server) connectClient(t *testing.T, path string, tr transport, version string, opts *mcp.ClientOptions) *mcp.ClientSession {
	t.Helper()
	var mt mcp.Transport
	switch tr {
	case streamable:
		mt = &mcp.StreamableClientTransport{Endpoint: s.Base + path}
	case legacySSE:
		mt = &mcp.SSEClientTransport{Endpoint: s.Base + strings.TrimSuffix(path, "/mcp") + "/sse"}
	}
	c := mcp.NewClient(&mcp.Implementation{Name: "pgherd-test", Version: "0"}, opts)
	cs, err := c.Connect(context.Background(), mt, &mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		t.Fatalf("connect %s over %s (%s): %v", path, tr, version, err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// surfaceCase is one way to reach pgherd: a transport, a session mode and
// a protocol revision.
type surfaceCase struct {
	name    string
	mode    string // server.session_mode
	tr      transport
	version string
}

var surfaceCases = []surfaceCase{
	{"stateless/2026-07-28", "stateless", streamable, "2026-07-28"},
	{"stateless/2025-11-25", "stateless", streamable, "2025-11-25"},
	{"stateful/2025-11-25", "stateful", streamable, "2025-11-25"},
	{"stateful/2025-03-26", "stateful", streamable, "2025-03-26"},
	{"sse/2024-11-05", "stateless", legacySSE, "2024-11-05"},
}

// surfaceServers starts one pgherd per session mode on one database with
// the app fixture, serving it as app (user_ro) and admin (admin_rw).
func surfaceServers(t *testing.T) (map[string]*server, *pgtest.Database) {
	t.Helper()
	db := pgtest.NewDatabase(t)
	pgtest.Exec(t, db.URI, fixture)
	servers := map[string]*server{}
	for _, mode := range []string{"stateless", "stateful"} {
		servers[mode] = start(t, fmt.Sprintf(`
server: {port: 0, session_mode: %s, shutdown_timeout: 5s}
endpoints:
  app: {database_uri: "${URI}", access_mode: user_ro}
  admin: {database_uri: "${URI}", access_mode: admin_rw}
`, mode), map[string]string{"URI": db.URI})
	}
	return servers, db
}

// callWith calls a tool with _meta (a log level, a progress token).
func callWith(t *testing.T, cs *mcp.ClientSession, name string, args map[string]any, meta mcp.Meta) *mcp.CallToolResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Meta: meta, Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("calling %s: %v", name, err)
	}
	return res
}

func logText(logs []*mcp.LoggingMessageParams) string {
	var b strings.Builder
	for _, l := range logs {
		data, _ := json.Marshal(l.Data)
		fmt.Fprintf(&b, "%s %s %s\n", l.Level, l.Logger, data)
	}
	return b.String()
}

// TestLogNotifications: tools log to the client through
// notifications/message at the level it chose — none by default, debug
// shows the validator's verdict, rows and time, warning shows caps and
// refusals only — and never the SQL text or result data. A 2025-era client
// of a stateless server cannot keep a level between requests and gets
// nothing.
func TestLogNotifications(t *testing.T) {
	servers, _ := surfaceServers(t)
	const secretish = "needle-7b3f" // in the SQL text: must never be logged
	query := map[string]any{"sql": "SELECT name, '" + secretish + "' AS marker FROM customers ORDER BY id"}
	for _, c := range surfaceCases {
		t.Run(c.name, func(t *testing.T) {
			box := &inbox{}
			cs := servers[c.mode].connectClient(t, "/app/mcp", c.tr, c.version, box.options(nil))
			newProtocol := c.version == "2026-07-28"
			keeps := !(c.mode == "stateless" && c.tr == streamable && !newProtocol)
			setLevel := func(level string) mcp.Meta {
				if newProtocol {
					return mcp.Meta{mcp.MetaKeyLogLevel: level}
				}
				if err := cs.SetLoggingLevel(ctx15(t), &mcp.SetLoggingLevelParams{Level: mcp.LoggingLevel(level)}); err != nil {
					t.Fatalf("logging/setLevel %s: %v", level, err)
				}
				return nil
			}

			// barrier returns the log messages that arrived before it: the
			// client handles notifications in order, but a response may
			// overtake them, so a later notification marks the end.
			barrier := func() []*mcp.LoggingMessageParams {
				t.Helper()
				callWith(t, cs, "app_list_objects", map[string]any{}, mcp.Meta{"progressToken": "barrier"})
				var logs []*mcp.LoggingMessageParams
				waitFor(t, "the barrier's progress notifications", func() bool {
					l, p := box.take()
					logs = append(logs, l...)
					for _, n := range p {
						if n.ProgressToken == "barrier" && n.Progress == 2 {
							return true
						}
					}
					return false
				})
				var before []*mcp.LoggingMessageParams
				for _, l := range logs {
					if !strings.Contains(logText([]*mcp.LoggingMessageParams{l}), "app_list_objects") {
						before = append(before, l)
					}
				}
				return before
			}

			callWith(t, cs, "app_execute_sql", query, nil)
			if logs := barrier(); len(logs) != 0 {
				t.Errorf("log messages before any level was set:\n%s", logText(logs))
			}

			meta := setLevel("debug")
			if res := callWith(t, cs, "app_execute_sql", query, meta); res.IsError {
				t.Fatalf("query failed: %s", text(res))
			}
			logs := barrier()
			all := logText(logs)
			if !keeps {
				if len(logs) != 0 {
					t.Errorf("stateless 2025-era client got log messages although its level cannot persist:\n%s", all)
				}
				return
			}
			for _, want := range []string{`"msg":"statement validated"`, `"command":"SELECT"`, `"msg":"statement finished"`, `"rows":50`, `"msg":"call finished"`, `"elapsed_ms"`} {
				if !strings.Contains(all, want) {
					t.Errorf("debug log messages lack %s:\n%s", want, all)
				}
			}
			for _, l := range logs {
				if l.Logger != "pgherd.app" {
					t.Errorf("logger = %q, want pgherd.app", l.Logger)
				}
			}
			for _, leak := range []string{secretish, "customer 1", "FROM customers"} {
				if strings.Contains(all, leak) {
					t.Errorf("log messages contain %q (SQL text or result data):\n%s", leak, all)
				}
			}

			meta = setLevel("warning")
			callWith(t, cs, "app_execute_sql", map[string]any{"sql": "SELECT id FROM customers", "max_rows": 5}, meta)
			callWith(t, cs, "app_execute_sql", map[string]any{"sql": "DELETE FROM customers"}, meta)
			logs = barrier()
			all = logText(logs)
			if !strings.Contains(all, `"msg":"result truncated"`) || !strings.Contains(all, `"max_rows":5`) {
				t.Errorf("warning log messages lack the truncation:\n%s", all)
			}
			if !strings.Contains(all, `"msg":"statement refused by the validator"`) || !strings.Contains(all, "statement_not_allowed") {
				t.Errorf("warning log messages lack the refusal:\n%s", all)
			}
			for _, l := range logs {
				if l.Level != "warning" {
					t.Errorf("at level warning got a %s message: %v", l.Level, l.Data)
				}
			}
			if strings.Contains(all, "DELETE") {
				t.Errorf("the refusal log repeats the SQL:\n%s", all)
			}
		})
	}
}

// TestProgressNotifications: with a progress token, execute_sql reports
// while its statement runs — at least once a second, with the rows received
// so far — and explain_query and the catalog tools report too; without a
// token nothing is sent.
func TestProgressNotifications(t *testing.T) {
	servers, _ := surfaceServers(t)
	// Eight rows, one every 0.3 s: about 2.4 s in all. Each row is larger
	// than PostgreSQL's 8 KiB output buffer, so it reaches pgherd at once.
	slow := map[string]any{"sql": "SELECT g, repeat('x', 10000) AS pad, pg_sleep(0.3) FROM generate_series(1, 8) g"}
	for _, c := range surfaceCases {
		t.Run(c.name, func(t *testing.T) {
			box := &inbox{}
			cs := servers[c.mode].connectClient(t, "/admin/mcp", c.tr, c.version, box.options(nil))
			// settle returns the progress notifications that arrived before
			// those of a last call (a response may overtake notifications).
			settle := func() []*mcp.ProgressNotificationParams {
				t.Helper()
				callWith(t, cs, "admin_list_objects", map[string]any{}, mcp.Meta{"progressToken": "settle"})
				var got []*mcp.ProgressNotificationParams
				done := false
				waitFor(t, "the last call's progress", func() bool {
					_, p := box.take()
					for _, n := range p {
						if n.ProgressToken == "settle" {
							done = done || n.Progress == 2
							continue
						}
						got = append(got, n)
					}
					return done
				})
				return got
			}

			callWith(t, cs, "admin_execute_sql", map[string]any{"sql": "SELECT 1"}, nil)
			if p := settle(); len(p) != 0 {
				t.Errorf("progress notifications without a progress token: %d", len(p))
			}

			start := time.Now()
			res := callWith(t, cs, "admin_execute_sql", slow, mcp.Meta{"progressToken": "slow-1"})
			elapsed := time.Since(start)
			if res.IsError {
				t.Fatalf("slow query failed: %s", text(res))
			}
			progress := settle()
			// One at the start, then one every half second: at least one per
			// second of the call.
			if min := int(elapsed / time.Second); len(progress) < min || len(progress) < 2 {
				t.Fatalf("%d progress notifications in %s, want at least %d", len(progress), elapsed, max(min, 2))
			}
			last := 0.0
			for _, p := range progress {
				if p.ProgressToken != "slow-1" || p.Progress <= last || !strings.Contains(p.Message, "statement running for") {
					t.Errorf("progress notification %+v (previous progress %v)", p, last)
				}
				last = p.Progress
			}
			if final := progress[len(progress)-1].Message; strings.Contains(final, " 0 rows received") {
				t.Errorf("last progress message %q: rows received so far never moved", final)
			}

			callWith(t, cs, "admin_explain_query", map[string]any{"sql": "SELECT * FROM orders"}, mcp.Meta{"progressToken": 7})
			callWith(t, cs, "admin_list_objects", map[string]any{}, mcp.Meta{"progressToken": 8})
			progress = settle()
			var explain, catalog int
			for _, p := range progress {
				switch fmt.Sprint(p.ProgressToken) {
				case "7":
					explain++
				case "8":
					catalog++
					if p.Total != 2 {
						t.Errorf("catalog progress total = %v, want 2", p.Total)
					}
				}
			}
			if explain == 0 || catalog != 2 {
				t.Errorf("explain_query sent %d progress notifications (want some), list_objects %d (want 2)", explain, catalog)
			}
		})
	}
}
