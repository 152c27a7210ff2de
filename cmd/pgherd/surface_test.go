//lint:file-ignore SA1019 MCP logging is deprecated from protocol 2026-07-28 (SEP-2577) but still part of it and of every older revision pgherd serves

package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/config"
	"github.com/pgherd/pgherd/internal/pgtest"
)

// notes collects a stdio client's log and progress notifications.
type notes struct {
	mu       sync.Mutex
	logs     []string
	progress []*mcp.ProgressNotificationParams
	asked    []string // elicitation messages
}

func (n *notes) take() ([]string, []*mcp.ProgressNotificationParams) {
	n.mu.Lock()
	defer n.mu.Unlock()
	l, p := n.logs, n.progress
	n.logs, n.progress = nil, nil
	return l, p
}

// settle returns the notifications that arrived before those of a last
// call (a response may overtake the notifications before it).
func (n *notes) settle(t *testing.T, cs *mcp.ClientSession) ([]string, []*mcp.ProgressNotificationParams) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Meta: mcp.Meta{"progressToken": "settle"}, Name: "list_objects", Arguments: map[string]any{}}); err != nil {
		t.Fatal(err)
	}
	var logs []string
	var progress []*mcp.ProgressNotificationParams
	for ctx.Err() == nil {
		l, p := n.take()
		for _, x := range l {
			if !strings.Contains(x, `"tool":"list_objects"`) {
				logs = append(logs, x)
			}
		}
		for _, x := range p {
			if x.ProgressToken == "settle" {
				if x.Progress == 2 {
					return logs, progress
				}
				continue
			}
			progress = append(progress, x)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("the last call's progress never arrived")
	return nil, nil
}

func stdioStatements(t *testing.T, db *pgtest.Database, marker string) int64 {
	t.Helper()
	return pgtest.QueryValue[int64](t, pgtest.URI("postgres"),
		"SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND query LIKE '%' || $2 || '%'", db.Name, marker)
}

// gone waits for the statement marked marker to run, triggers the
// cancellation and returns how long PostgreSQL took to drop it.
func gone(t *testing.T, db *pgtest.Database, marker string, trigger func()) time.Duration {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for stdioStatements(t, db, marker) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("statement %s never ran", marker)
		}
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	trigger()
	for stdioStatements(t, db, marker) > 0 {
		if time.Since(start) > 15*time.Second {
			t.Fatalf("statement %s still running 15s after the cancellation", marker)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// TestStdioSurface: over stdio, the resources, templates, completions,
// prompts, log and progress notifications work as over HTTP, and
// notifications/cancelled stops the statement in PostgreSQL.
func TestStdioSurface(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	pgtest.Exec(t, db.URI, fixture)
	box := &notes{}
	cmd := exec.Command(bin, "stdio", "--database-url", db.URI, "--access-mode", "admin_rw")
	cmd.Env = hermeticEnv()
	stderr := newLineLog()
	cmd.Stderr = stderr
	c := mcp.NewClient(&mcp.Implementation{Name: "pgherd-cli-test", Version: "0"}, &mcp.ClientOptions{
		LoggingMessageHandler: func(_ context.Context, r *mcp.LoggingMessageRequest) {
			data, _ := json.Marshal(r.Params.Data)
			box.mu.Lock()
			box.logs = append(box.logs, string(r.Params.Level)+" "+string(data))
			box.mu.Unlock()
		},
		ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
			box.mu.Lock()
			box.progress = append(box.progress, r.Params)
			box.mu.Unlock()
		},
		ElicitationHandler: func(_ context.Context, r *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			box.mu.Lock()
			box.asked = append(box.asked, r.Params.Message)
			box.mu.Unlock()
			return &mcp.ElicitResult{Action: "decline"}, nil
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cs, err := c.Connect(ctx, &mcp.CommandTransport{Command: cmd, TerminateDuration: 10 * time.Second}, nil)
	if err != nil {
		t.Fatalf("connecting: %v\nstderr:\n%s", err, stderr)
	}
	defer cs.Close()

	var uris []string
	for r, err := range cs.Resources(ctx, nil) {
		if err != nil {
			t.Fatal(err)
		}
		uris = append(uris, r.URI)
	}
	// The quick form names its endpoint after the database.
	ep := config.NameFor(db.URI)
	if want := []string{"pgherd://" + ep + "/database", "ui://pgherd/" + ep + "/plan"}; !reflect.DeepEqual(uris, want) {
		t.Errorf("resources = %v, want %v", uris, want)
	}
	res, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "pgherd://" + ep + "/table/private/secrets"})
	if err != nil || !strings.Contains(res.Contents[0].Text, `"name": "secrets"`) {
		t.Errorf("reading private.secrets (admin_rw): %v %v", res, err)
	}
	comp, err := cs.Complete(ctx, &mcp.CompleteParams{
		Ref:      &mcp.CompleteReference{Type: "ref/resource", URI: "pgherd://{endpoint}/table/{schema}/{table}"},
		Argument: mcp.CompleteParamsArgument{Name: "table", Value: "it"},
		Context:  &mcp.CompleteContext{Arguments: map[string]string{"endpoint": ep, "schema": "public"}},
	})
	if err != nil || !reflect.DeepEqual(comp.Completion.Values, []string{"items"}) {
		t.Errorf("completing table it: %v %v", comp, err)
	}

	var prompts []string
	for p, err := range cs.Prompts(ctx, nil) {
		if err != nil {
			t.Fatal(err)
		}
		prompts = append(prompts, p.Name)
	}
	slices.Sort(prompts)
	if want := []string{"diagnose_health", "explore_schema", "optimize_query", "review_migration", "write_safe_query"}; !reflect.DeepEqual(prompts, want) {
		t.Errorf("prompts = %v, want %v", prompts, want)
	}
	pr, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "review_migration", Arguments: map[string]string{"migration": "DROP TABLE items"}})
	if err != nil || !strings.Contains(pr.Messages[0].Content.(*mcp.TextContent).Text, "execute_sql") {
		t.Errorf("review_migration: %v %v", pr, err)
	}

	// Log notifications: none until a level is set; then the verdict, rows
	// and time at debug. The client speaks 2026-07-28, where each request
	// carries its level.
	if v := cs.InitializeResult().ProtocolVersion; v != "2026-07-28" {
		t.Fatalf("negotiated %s, want 2026-07-28", v)
	}
	query := &mcp.CallToolParams{Name: "execute_sql", Arguments: map[string]any{"sql": "SELECT id FROM items"}}
	if _, err := cs.CallTool(ctx, query); err != nil {
		t.Fatal(err)
	}
	if logs, _ := box.settle(t, cs); len(logs) != 0 {
		t.Errorf("log messages without a level: %v", logs)
	}
	query.Meta = mcp.Meta{mcp.MetaKeyLogLevel: "debug"}
	if _, err := cs.CallTool(ctx, query); err != nil {
		t.Fatal(err)
	}
	logs, _ := box.settle(t, cs)
	if all := strings.Join(logs, "\n"); !strings.Contains(all, `"msg":"statement validated"`) || !strings.Contains(all, `"rows":3`) {
		t.Errorf("debug log messages over stdio:\n%s", all)
	}

	// Progress while a statement runs.
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Meta: mcp.Meta{"progressToken": "p"}, Name: "execute_sql",
		Arguments: map[string]any{"sql": "SELECT pg_sleep(1.2)"}}); err != nil {
		t.Fatal(err)
	}
	if _, progress := box.settle(t, cs); len(progress) < 2 {
		t.Errorf("%d progress notifications for a 1.2 s statement, want at least 2", len(progress))
	}

	// A destructive statement asks the user (declined here): nothing runs.
	dropped, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "execute_sql", Arguments: map[string]any{"sql": "DROP TABLE private.secrets"}})
	box.mu.Lock()
	asked := box.asked
	box.mu.Unlock()
	if err != nil || !dropped.IsError || len(asked) != 1 || !strings.Contains(asked[0], "drops table private.secrets") {
		t.Errorf("declined DROP TABLE over stdio: %v %v, asked %q", dropped, err, asked)
	}
	if !pgtest.QueryValue[bool](t, db.URI, "SELECT to_regclass('private.secrets') IS NOT NULL") {
		t.Errorf("private.secrets was dropped although the user declined")
	}

	// notifications/cancelled (the client's context ends).
	callCtx, cancelCall := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := cs.CallTool(callCtx, &mcp.CallToolParams{Name: "execute_sql", Arguments: map[string]any{"sql": "SELECT pg_sleep(60) /* stdio-cancel */"}})
		done <- err
	}()
	d := gone(t, db, "stdio-cancel", cancelCall)
	t.Logf("stdio notifications/cancelled: statement gone %s after the cancellation", d.Round(time.Millisecond))
	if d > time.Second {
		t.Errorf("statement ran on for %s after notifications/cancelled, want under 1s", d)
	}
	<-done
	if r, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "execute_sql", Arguments: map[string]any{"sql": "SELECT 1"}}); err != nil || r.IsError {
		t.Errorf("a call after the cancelled one: %v %v", r, err)
	}
}

// TestStdioEOFCancels: when stdin closes while a statement runs, the
// statement is cancelled in PostgreSQL and the process exits 0.
func TestStdioEOFCancels(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	r := startRaw(t, "stdio", "--database-url", db.URI, "--access-mode", "admin_rw")
	r.send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}`)
	r.next()
	r.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	r.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"execute_sql","arguments":{"sql":%q}}}`, "SELECT pg_sleep(60) /* stdio-eof */"))
	d := gone(t, db, "stdio-eof", func() { r.stdin.Close() })
	t.Logf("stdio EOF: statement gone %s after stdin closed", d.Round(time.Millisecond))
	if d > time.Second {
		t.Errorf("statement ran on for %s after stdin closed, want under 1s", d)
	}
	select {
	case <-r.exited:
	case <-time.After(15 * time.Second):
		t.Fatalf("pgherd did not exit after stdin closed")
	}
	if code := r.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d after EOF, want 0\nstderr:\n%s", code, r.stderr)
	}
}
