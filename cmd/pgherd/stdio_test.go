package main_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/access"
	"github.com/pgherd/pgherd/internal/pgtest"
	"github.com/pgherd/pgherd/internal/tools/dbtools"
)

const fixture = `
CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 3) g;
CREATE SCHEMA private;
CREATE TABLE private.secrets (id int);
`

// userTools are the tools of a user_* endpoint, without prefix.
var userTools = []string{"execute_sql", "explain_query", "get_object_details", "list_objects"}

// connectStdio starts pgherd with args through go-sdk's CommandTransport and
// returns the client session. At cleanup the session is closed (stdin
// closed), which must make the process exit 0.
func connectStdio(t *testing.T, env []string, args ...string) (*mcp.ClientSession, *lineLog) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = hermeticEnv(env...)
	stderr := newLineLog()
	cmd.Stderr = stderr
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := mcp.NewClient(&mcp.Implementation{Name: "pgherd-cli-test", Version: "0"}, nil)
	cs, err := c.Connect(ctx, &mcp.CommandTransport{Command: cmd, TerminateDuration: 10 * time.Second}, nil)
	if err != nil {
		if cmd.Process != nil {
			cmd.Process.Kill()
		}
		t.Fatalf("pgherd %s: connecting: %v\nstderr:\n%s", strings.Join(args, " "), err, stderr)
	}
	t.Cleanup(func() {
		// Close closes stdin and waits for the process; a process that
		// ignores EOF is sent SIGTERM after TerminateDuration and the error
		// says so.
		if err := cs.Close(); err != nil {
			t.Errorf("pgherd %s: after stdin closed: %v, want exit status 0\nstderr:\n%s", strings.Join(args, " "), err, stderr)
		}
	})
	return cs, stderr
}

func listTools(t *testing.T, cs *mcp.ClientSession) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var names []string
	for tool, err := range cs.Tools(ctx, nil) {
		if err != nil {
			t.Fatalf("listing tools: %v", err)
		}
		names = append(names, tool.Name)
	}
	slices.Sort(names)
	return names
}

func callTool(t *testing.T, cs *mcp.ClientSession, name string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("calling %s(%v): %v", name, args, err)
	}
	return res
}

func resultText(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// TestStdioQuickForm: the no-config form a Claude Desktop user pastes. The
// tools carry no prefix, SELECT works, writes are refused (and nothing is
// written), and the password in the URL stays out of the logs.
func TestStdioQuickForm(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	pgtest.Exec(t, db.URI, fixture)
	cs, stderr := connectStdio(t, nil, "stdio", "--database-url", db.URI, "--access-mode", "user_ro", "--allow-privileged-role")

	if got := listTools(t, cs); !reflect.DeepEqual(got, userTools) {
		t.Errorf("tools = %v, want exactly %v", got, userTools)
	}

	res := callTool(t, cs, "execute_sql", map[string]any{"sql": "SELECT id, name FROM items ORDER BY id"})
	if res.IsError {
		t.Fatalf("SELECT failed: %s", resultText(res))
	}
	got, _ := json.Marshal(res.StructuredContent.(map[string]any)["rows"])
	if want := `[[1,"item 1"],[2,"item 2"],[3,"item 3"]]`; string(got) != want {
		t.Errorf("SELECT rows = %s, want %s", got, want)
	}

	for _, sql := range []string{"INSERT INTO items VALUES (4, 'four')", "DELETE FROM items", "SELECT * FROM private.secrets"} {
		res := callTool(t, cs, "execute_sql", map[string]any{"sql": sql})
		if !res.IsError || !strings.Contains(resultText(res), "user_ro") {
			t.Errorf("execute_sql(%q) = isError %v, %q; want a tool error naming user_ro", sql, res.IsError, resultText(res))
		}
	}
	if n := pgtest.QueryValue[int64](t, db.URI, "SELECT count(*) FROM items"); n != 3 {
		t.Errorf("items has %d rows after refused writes, want 3", n)
	}

	if pw, ok := userPassword(db.URI); ok && strings.Contains(stderr.String(), pw) {
		t.Errorf("the database password appears in the log:\n%s", stderr)
	}
	if !strings.Contains(stderr.String(), `"msg":"tool call"`) {
		t.Errorf("stderr has no tool call log line:\n%s", stderr)
	}
}

// userPassword returns the password of a postgres:// URI.
func userPassword(uri string) (string, bool) {
	rest, ok := strings.CutPrefix(uri, "postgres://")
	if !ok {
		rest, ok = strings.CutPrefix(uri, "postgresql://")
	}
	userinfo, _, _ := strings.Cut(rest, "@")
	_, pw, found := strings.Cut(userinfo, ":")
	return pw, ok && found && pw != ""
}

// TestStdioConfigEndpoints: --config with --endpoint serves one endpoint
// (prefixed tools) or main (admin tools plus the composed databases'
// tools); a name that is not served fails, naming the ones that are.
func TestStdioConfigEndpoints(t *testing.T) {
	t.Parallel()
	db1, db2 := pgtest.NewDatabase(t), pgtest.NewDatabase(t)
	pgtest.Exec(t, db1.URI, fixture)
	pgtest.Exec(t, db2.URI, fixture)
	path := writeFile(t, "pgherd.yaml", `
endpoints:
  app1:
    database_uri: ${APP1_URI}
    access_mode: user_ro
    allow_privileged_role: true  # the test cluster's superuser
  app2:
    database_uri: ${APP2_URI}
    access_mode: admin_ro
    endpoint: false
    allow_privileged_role: true
`)
	env := []string{"APP1_URI=" + db1.URI, "APP2_URI=" + db2.URI}
	prefixed := func(p string, names ...string) []string {
		var out []string
		for _, n := range names {
			out = append(out, p+"_"+n)
		}
		return out
	}
	main := slices.Concat([]string{"calculate_stats", "get_server_info", "get_sub_server_config", "herd_health", "list_all_servers"},
		prefixed("app2", dbtools.Names(access.AdminRO)...))
	slices.Sort(main)
	cases := []struct {
		endpoint string
		tools    []string
		call     string // a tool that runs SELECT count(*) FROM items
	}{
		{"app1", prefixed("app1", userTools...), "app1_execute_sql"},
		{"main", main, "app2_execute_sql"},
	}
	for _, c := range cases {
		t.Run(c.endpoint, func(t *testing.T) {
			t.Parallel()
			cs, _ := connectStdio(t, env, "stdio", "--config", path, "--endpoint", c.endpoint)
			if got := listTools(t, cs); !reflect.DeepEqual(got, c.tools) {
				t.Errorf("tools of %s = %v\nwant %v", c.endpoint, got, c.tools)
			}
			res := callTool(t, cs, c.call, map[string]any{"sql": "SELECT count(*) AS n FROM items"})
			if got := fmt.Sprint(res.StructuredContent.(map[string]any)["rows"]); res.IsError || got != "[[3]]" {
				t.Errorf("%s: isError %v, rows %s (%s); want [[3]]", c.call, res.IsError, got, resultText(res))
			}
		})
	}
	for _, name := range []string{"nope", "app2"} { // app2 exists but is composed into main
		t.Run("not served/"+name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, "", env, "stdio", "--config", path, "--endpoint", name)
			if r.code == 0 || !strings.Contains(r.stderr, fmt.Sprintf("%q", name)) || !strings.Contains(r.stderr, "main, app1") {
				t.Errorf("stdio --endpoint %s: exit %d, stderr %q; want a failure naming %q and the served endpoints main, app1",
					name, r.code, r.stderr, name)
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
		})
	}
}

// rawStdio is pgherd stdio on raw pipes: the test writes JSON-RPC lines and
// reads stdout line by line.
type rawStdio struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string // stdout lines; closed at EOF
	stderr *lineLog
	exited chan struct{}
	ctx    context.Context // the hang guard
}

func startRaw(t *testing.T, args ...string) *rawStdio {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = hermeticEnv()
	r := &rawStdio{t: t, cmd: cmd, lines: make(chan string, 100), stderr: newLineLog(), exited: make(chan struct{}), ctx: ctx}
	cmd.Stderr = r.stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	r.stdin = stdin
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		defer close(r.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			r.lines <- sc.Text()
		}
	}()
	go func() {
		// Wait closes stdout: read it to the end first.
		<-readDone
		cmd.Wait()
		close(r.exited)
	}()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-r.exited:
		case <-ctx.Done():
		}
		if t.Failed() {
			t.Logf("stderr:\n%s", r.stderr)
		}
	})
	return r
}

func (r *rawStdio) send(line string) {
	r.t.Helper()
	if _, err := io.WriteString(r.stdin, line+"\n"); err != nil {
		r.t.Fatalf("writing %s: %v", line, err)
	}
}

// message is any JSON-RPC 2.0 message, decoded strictly enough to tell the
// kinds apart.
type message struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  string          `json:"method"`
	Result  json.RawMessage `json:"result"`
	Error   *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// parseMessage fails the test unless line is one JSON-RPC 2.0 message.
func parseMessage(t *testing.T, line string) message {
	t.Helper()
	var m message
	dec := json.NewDecoder(strings.NewReader(line))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil || dec.More() {
		t.Fatalf("stdout line is not one JSON object (err %v): %s", err, line)
	}
	isResponse := len(m.ID) > 0 && (m.Result != nil) != (m.Error != nil) && m.Method == ""
	isRequest := m.Method != "" && m.Result == nil && m.Error == nil
	if m.JSONRPC != "2.0" || !isResponse && !isRequest {
		t.Fatalf("stdout line is not a JSON-RPC 2.0 message: %s", line)
	}
	return m
}

// next returns the next stdout message that is a response (notifications from
// the server are checked and skipped).
func (r *rawStdio) next() message {
	r.t.Helper()
	for {
		select {
		case line, ok := <-r.lines:
			if !ok {
				r.t.Fatalf("stdout ended while a response was expected")
			}
			if m := parseMessage(r.t, line); m.Method == "" {
				return m
			}
		case <-r.ctx.Done():
			r.t.Fatalf("no response within the deadline")
		}
	}
}

// rest reads stdout to EOF (the process closed it) and checks every line.
func (r *rawStdio) rest() []message {
	r.t.Helper()
	var out []message
	for {
		select {
		case line, ok := <-r.lines:
			if !ok {
				return out
			}
			out = append(out, parseMessage(r.t, line))
		case <-r.ctx.Done():
			r.t.Fatalf("stdout still open at the deadline: the process did not exit")
		}
	}
}

// exitCode waits for the process to end.
func (r *rawStdio) exitCode() int {
	r.t.Helper()
	select {
	case <-r.exited:
		return r.cmd.ProcessState.ExitCode()
	case <-r.ctx.Done():
		r.t.Fatalf("the process did not exit within the deadline")
		return -1
	}
}

const initialize = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}`

// TestStdioOnlyJSONRPC drives pgherd stdio over raw pipes: every stdout line
// is a JSON-RPC message, errors are JSON-RPC errors or tool errors, logs go
// to stderr, and EOF on stdin ends the process with status 0.
func TestStdioOnlyJSONRPC(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	pgtest.Exec(t, db.URI, fixture)
	r := startRaw(t, "stdio", "--database-url", db.URI, "--access-mode", "user_ro", "--allow-privileged-role")

	// One request at a time, each answered before the next is sent: the
	// order of responses to concurrent requests is not defined.
	r.send(initialize)
	if m := r.next(); string(m.ID) != "1" || m.Error != nil || !strings.Contains(string(m.Result), `"protocolVersion":"2025-06-18"`) {
		t.Fatalf("initialize: %+v %s", m, m.Result)
	}
	r.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)

	cases := []struct {
		name    string
		request string
		check   func(m message) string // "" if fine
	}{
		{"tools/list", `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`, func(m message) string {
			if m.Error != nil || !strings.Contains(string(m.Result), `"name":"execute_sql"`) {
				return "want the tool list"
			}
			return ""
		}},
		{"refused write", `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"execute_sql","arguments":{"sql":"DELETE FROM items"}}}`,
			func(m message) string {
				// A tool that fails answers with a result carrying isError,
				// not a JSON-RPC error: the model reads it.
				if m.Error != nil || !strings.Contains(string(m.Result), `"isError":true`) || !strings.Contains(string(m.Result), "not allowed in user_ro") {
					return "want a tool result with isError and the reason"
				}
				return ""
			}},
		{"unknown tool", `{"jsonrpc":"2.0","id":"four","method":"tools/call","params":{"name":"drop_everything","arguments":{}}}`,
			func(m message) string {
				if m.Error == nil || m.Error.Code != -32602 || !strings.Contains(m.Error.Message, "drop_everything") {
					return "want JSON-RPC error -32602 (invalid params) naming the tool"
				}
				return ""
			}},
		{"unknown method", `{"jsonrpc":"2.0","id":5,"method":"tables/drop"}`, func(m message) string {
			if m.Error == nil || m.Error.Code != -32601 {
				return "want JSON-RPC error -32601 (method not found)"
			}
			return ""
		}},
	}
	for _, c := range cases {
		r.send(c.request)
		m := r.next()
		var req message
		json.Unmarshal([]byte(c.request), &req)
		if string(m.ID) != string(req.ID) {
			t.Errorf("%s: response id %s, want %s", c.name, m.ID, req.ID)
		}
		if problem := c.check(m); problem != "" {
			t.Errorf("%s: got result %s error %+v; %s", c.name, m.Result, m.Error, problem)
		}
	}

	r.stdin.Close()
	if extra := r.rest(); len(extra) > 0 {
		t.Errorf("unexpected messages after EOF: %+v", extra)
	}
	if code := r.exitCode(); code != 0 {
		t.Errorf("exit status %d after EOF on stdin, want 0", code)
	}
	logs := r.stderr.String()
	for _, want := range []string{`"msg":"serving stdio"`, `"msg":"tool call"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("stderr has no %s line:\n%s", want, logs)
		}
	}
}

// TestStdioBeforeInitialize: a request before initialize gets -32600, not
// go-sdk's code 0, and the session can still initialize.
func TestStdioBeforeInitialize(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	r := startRaw(t, "stdio", "--database-url", db.URI, "--access-mode", "user_ro", "--allow-privileged-role")
	r.send(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
	if m := r.next(); m.Error == nil || m.Error.Code != -32600 || !strings.Contains(m.Error.Message, "initialize") {
		t.Errorf("tools/list before initialize: %+v, want -32600 that says to initialize", m.Error)
	}
	r.send(strings.Replace(initialize, `"id":1`, `"id":2`, 1))
	if m := r.next(); string(m.ID) != "2" || m.Error != nil {
		t.Errorf("initialize after the refusal: %+v", m)
	}
	r.stdin.Close()
	r.rest()
	if code := r.exitCode(); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
}

// TestStdioMalformedLine: a line that is not a JSON-RPC message gets the
// JSON-RPC error for it (-32700 for invalid JSON, -32600 for JSON that is not
// a message, with its id when it has one) and the session goes on serving.
func TestStdioMalformedLine(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	r := startRaw(t, "stdio", "--database-url", db.URI, "--access-mode", "user_ro", "--allow-privileged-role")
	r.send(initialize)
	if m := r.next(); string(m.ID) != "1" || m.Error != nil {
		t.Fatalf("initialize: %+v", m)
	}
	r.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	for _, c := range []struct {
		line string
		code int
		id   string
	}{
		{`{not json`, -32700, "null"},
		{`[]`, -32600, "null"},
		{`{"jsonrpc":"2.0","id":7,"params":{}}`, -32600, "7"},
		{`42`, -32600, "null"},
		{`{"jsonrpc":"2.0","id":null,"method":"tools/list"}`, -32600, "null"},
		{`{"jsonrpc":"2.0","id":9,"method":5}`, -32600, "9"},
		{`{"jsonrpc":"2.0","id":10,"method":"resources/subscribe","params":{"uri":"pgherd://x/database"}}`, -32601, "10"},                                                     // undeclared capability (subscriptions)
		{`{"jsonrpc":"2.0","id":11,"method":"foo/bar"}`, -32601, "11"},                                                                                                        // unknown method
		{`{"jsonrpc":"2.0","id":12,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`, -32600, "12"}, // second initialize
	} {
		r.send(c.line)
		m := r.next()
		if m.Error == nil || m.Error.Code != c.code || string(m.ID) != c.id {
			t.Errorf("%s: got id %s error %+v, want id %s code %d", c.line, m.ID, m.Error, c.id, c.code)
		}
	}
	// Still serving.
	r.send(`{"jsonrpc":"2.0","id":8,"method":"tools/list"}`)
	if m := r.next(); string(m.ID) != "8" || m.Error != nil {
		t.Errorf("tools/list after malformed lines: %+v", m)
	}
	r.stdin.Close()
	if extra := r.rest(); len(extra) > 0 {
		t.Errorf("unexpected messages after EOF: %+v", extra)
	}
	if code := r.exitCode(); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
}
