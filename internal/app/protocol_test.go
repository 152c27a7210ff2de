package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/pgtest"
)

// rpcReply is a JSON-RPC answer read off HTTP: from a JSON body or the first
// message event of an event stream.
type rpcReply struct {
	Status      int
	ContentType string
	ID          json.RawMessage
	Code        int64 // 0: no error object
	Message     string
	Result      json.RawMessage
	Raw         string
	SessionID   string
}

// post sends body to url with the headers of a Streamable HTTP client plus
// extra, and reads the answer.
func post(t *testing.T, url, body string, extra map[string]string) rpcReply {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range extra {
		req.Header.Set(k, v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	r := rpcReply{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), SessionID: resp.Header.Get("Mcp-Session-Id")}
	var data []byte
	if strings.HasPrefix(r.ContentType, "text/event-stream") {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data:"); ok && strings.TrimSpace(d) != "" {
				data = []byte(strings.TrimSpace(d))
				break
			}
		}
	} else {
		data, _ = io.ReadAll(resp.Body)
	}
	r.Raw = string(data)
	var msg struct {
		ID     json.RawMessage `json:"id"`
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Code    int64  `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(data, &msg) == nil {
		r.ID, r.Result = msg.ID, msg.Result
		if msg.Error != nil {
			r.Code, r.Message = msg.Error.Code, msg.Error.Message
		}
	}
	return r
}

const (
	v2025 = "2025-11-25"
	v2026 = "2026-07-28"
)

func initBody(version string) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":%q,"capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`, version)
}

// meta2026 is the per-request metadata of protocol 2026-07-28.
const meta2026 = `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}`

// TestProtocolErrors: every request gets a JSON-RPC answer with the right
// code and HTTP status, in both session modes; none has code 0; the server
// keeps serving.
func TestProtocolErrors(t *testing.T) {
	db := pgtest.NewDatabase(t)
	for _, mode := range []string{"stateless", "stateful"} {
		t.Run(mode, func(t *testing.T) {
			s := start(t, fmt.Sprintf("server: {port: 0, session_mode: %s}\nendpoints:\n  shop: {database_uri: \"${URI}\", access_mode: user_ro}\n", mode),
				map[string]string{"URI": db.URI})
			url := s.Base + "/shop/mcp"
			headers := map[string]string{"Mcp-Protocol-Version": v2025}
			if mode == "stateful" {
				init := post(t, url, initBody(v2025), nil)
				if init.Status != http.StatusOK || init.SessionID == "" {
					t.Fatalf("initialize: %d %s (session %q)", init.Status, init.Raw, init.SessionID)
				}
				headers["Mcp-Session-Id"] = init.SessionID
				if r := post(t, url, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, headers); r.Status != http.StatusAccepted {
					t.Fatalf("initialized: %d %s", r.Status, r.Raw)
				}
			}
			with := func(kv ...string) map[string]string {
				h := make(map[string]string)
				for k, v := range headers {
					h[k] = v
				}
				for i := 0; i+1 < len(kv); i += 2 {
					if kv[i+1] == "" {
						delete(h, kv[i])
					} else {
						h[kv[i]] = kv[i+1]
					}
				}
				return h
			}
			cases := []struct {
				name    string
				body    string
				headers map[string]string
				status  int
				code    int64
				id      string
				message string
			}{
				{"unknown method", `{"jsonrpc":"2.0","id":7,"method":"foo/bar"}`, with(), 200, -32601, "7", `"foo/bar"`},
				// Database endpoints declare tools, resources (without
				// subscriptions), prompts, completions and logging.
				{"undeclared subscriptions", `{"jsonrpc":"2.0","id":8,"method":"resources/subscribe","params":{"uri":"pgherd://shop/database"}}`, with(), 200, -32601, "8", "subscriptions"},
				{"undeclared unsubscribe", `{"jsonrpc":"2.0","id":"r","method":"resources/unsubscribe","params":{"uri":"pgherd://shop/database"}}`, with(), 200, -32601, `"r"`, "subscriptions"},
				{"logging declared", `{"jsonrpc":"2.0","id":9,"method":"logging/setLevel","params":{"level":"debug"}}`, with(), 200, 0, "9", ""},
				{"id null", `{"jsonrpc":"2.0","id":null,"method":"tools/list"}`, with(), 400, -32600, "null", "null"},
				{"method not a string", `{"jsonrpc":"2.0","id":11,"method":5}`, with(), 400, -32600, "11", `"method" must be a string`},
				{"deep nesting", `{"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"name":"shop_execute_sql","arguments":{"sql":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}}}`, with(), 400, -32600, "12", "deeper than"},
				{"garbage protocol version", `{"jsonrpc":"2.0","id":13,"method":"tools/list"}`, with("Mcp-Protocol-Version", "banana"), 400, -32600, "13", `"banana"`},
				{"unsupported old protocol version", `{"jsonrpc":"2.0","id":14,"method":"tools/list"}`, with("Mcp-Protocol-Version", "2023-01-01"), 400, -32600, "14", "2023-01-01"},
				{"tools/list still works", `{"jsonrpc":"2.0","id":15,"method":"tools/list"}`, with(), 200, 0, "15", ""},
			}
			if mode == "stateless" {
				cases = append(cases,
					struct {
						name    string
						body    string
						headers map[string]string
						status  int
						code    int64
						id      string
						message string
					}{"unknown method 2026", `{"jsonrpc":"2.0","id":16,"method":"foo/bar","params":{` + meta2026 + `}}`, map[string]string{"Mcp-Protocol-Version": v2026}, 404, -32601, "16", "foo/bar"},
					struct {
						name    string
						body    string
						headers map[string]string
						status  int
						code    int64
						id      string
						message string
					}{"undeclared subscriptions 2026", `{"jsonrpc":"2.0","id":17,"method":"resources/subscribe","params":{"uri":"pgherd://shop/database",` + meta2026 + `}}`, map[string]string{"Mcp-Protocol-Version": v2026}, 404, -32601, "17", "subscri"},
				)
			} else {
				cases = append(cases,
					struct {
						name    string
						body    string
						headers map[string]string
						status  int
						code    int64
						id      string
						message string
					}{"no session id", `{"jsonrpc":"2.0","id":18,"method":"tools/list"}`, with("Mcp-Session-Id", ""), 400, -32600, "18", "Mcp-Session-Id header is missing"},
					struct {
						name    string
						body    string
						headers map[string]string
						status  int
						code    int64
						id      string
						message string
					}{"second initialize", strings.Replace(initBody(v2025), `"id":1`, `"id":19`, 1), with(), 400, -32600, "19", "already initialized"},
				)
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					r := post(t, url, tc.body, tc.headers)
					if r.Status != tc.status || r.Code != tc.code || string(r.ID) != tc.id || !strings.Contains(r.Message, tc.message) {
						t.Errorf("got HTTP %d code %d id %s message %q, want HTTP %d code %d id %s message containing %q\nraw: %s",
							r.Status, r.Code, r.ID, r.Message, tc.status, tc.code, tc.id, tc.message, r.Raw)
					}
					if tc.code != 0 && !strings.HasPrefix(r.ContentType, "application/json") {
						t.Errorf("Content-Type %q, want application/json", r.ContentType)
					}
				})
			}
			// A notification of an unknown method is accepted and dropped.
			if r := post(t, url, `{"jsonrpc":"2.0","method":"notifications/foo"}`, with()); r.Status != http.StatusAccepted {
				t.Errorf("unknown notification: HTTP %d %s, want 202", r.Status, r.Raw)
			}
			// GET with a garbage version header: 400 with a JSON-RPC body.
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			req.Header.Set("Accept", "text/event-stream")
			req.Header.Set("Mcp-Protocol-Version", "1.0")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 400 || !strings.Contains(string(b), "-32600") {
				t.Errorf("GET with MCP-Protocol-Version 1.0: %d %s, want 400 with -32600", resp.StatusCode, b)
			}
			// The error data names the supported versions and echoes the
			// requested one (SEP-2575).
			var refusal struct {
				Error struct {
					Data mcp.UnsupportedProtocolVersionData `json:"data"`
				} `json:"error"`
			}
			if err := json.Unmarshal(b, &refusal); err != nil || refusal.Error.Data.Requested != "1.0" ||
				!slices.Equal(refusal.Error.Data.Supported, mcp.SupportedProtocolVersions()) {
				t.Errorf("GET with MCP-Protocol-Version 1.0: error data %+v (%v), want supported %v and requested 1.0", refusal.Error.Data, err, mcp.SupportedProtocolVersions())
			}
			logs := s.Logs.String()
			if strings.Contains(logs, `"code":0`) {
				t.Errorf("a response with code 0 was logged:\n%s", tail(logs, 20))
			}
			// Stateless: every request is a session; go-sdk's session
			// lines are debug, not three INFO lines per request.
			if perRequest := `"level":"INFO","msg":"server session connected"`; mode == "stateless" && strings.Contains(logs, perRequest) {
				t.Errorf("stateless mode logs %s per request:\n%s", perRequest, tail(logs, 10))
			}
		})
	}
}

// TestProtocolErrorsOverLegacySSE: a refused request is answered on the
// event stream (the client would otherwise wait forever) and the POST gets
// 202; the session goes on.
func TestProtocolErrorsOverLegacySSE(t *testing.T) {
	db := pgtest.NewDatabase(t)
	s := start(t, "server: {port: 0}\nendpoints:\n  shop: {database_uri: \"${URI}\", access_mode: user_ro}\n", map[string]string{"URI": db.URI})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.Base+"/shop/sse", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := make(chan [2]string, 16)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		var name string
		for sc.Scan() {
			line := sc.Text()
			if v, ok := strings.CutPrefix(line, "event:"); ok {
				name = strings.TrimSpace(v)
			} else if v, ok := strings.CutPrefix(line, "data:"); ok {
				events <- [2]string{name, strings.TrimSpace(v)}
			}
		}
	}()
	next := func() [2]string {
		select {
		case e, ok := <-events:
			if !ok {
				t.Fatal("event stream ended")
			}
			return e
		case <-ctx.Done():
			t.Fatal("no event within the deadline")
		}
		return [2]string{}
	}
	ep := next()
	if ep[0] != "endpoint" {
		t.Fatalf("first event %v, want endpoint", ep)
	}
	msgURL := s.Base + ep[1]
	send := func(body string) int {
		r, err := http.Post(msgURL, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r.StatusCode
	}
	if st := send(initBody(v2025)); st != http.StatusAccepted {
		t.Fatalf("initialize POST: %d", st)
	}
	if e := next(); !strings.Contains(e[1], `"result"`) {
		t.Fatalf("initialize answer %v", e)
	}
	for _, tc := range []struct {
		body, want string
	}{
		{`{"jsonrpc":"2.0","id":2,"method":"foo/bar"}`, `"id":2,"error":{"code":-32601`},
		{`{"jsonrpc":"2.0","id":3,"method":"resources/subscribe","params":{"uri":"pgherd://shop/database"}}`, `"id":3,"error":{"code":-32601`},
		{`{"jsonrpc":"2.0","id":4,"method":7}`, `"id":4,"error":{"code":-32600`},
		{`{"jsonrpc":"2.0","id":5,"method":"tools/list"}`, `"id":5,"result"`},
	} {
		if st := send(tc.body); st != http.StatusAccepted {
			t.Errorf("POST %s: HTTP %d, want 202", tc.body, st)
		}
		if e := next(); !strings.Contains(e[1], tc.want) {
			t.Errorf("answer to %s: %s, want %s", tc.body, e[1], tc.want)
		}
	}
	// No usable id: 400 with the JSON-RPC error on the POST itself.
	r, err := http.Post(msgURL, "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":null,"method":"tools/list"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 400 || !strings.Contains(string(b), "-32600") {
		t.Errorf("id null: %d %s, want 400 with -32600", r.StatusCode, b)
	}
}

// TestResumableStreams: in stateful mode every event stream starts with a
// retry field and (protocol 2025-11-25) a priming event with an id; a client
// that lost the stream gets the events after Last-Event-ID replayed on GET.
func TestResumableStreams(t *testing.T) {
	db := pgtest.NewDatabase(t)
	s := start(t, "server: {port: 0, session_mode: stateful}\nendpoints:\n  shop: {database_uri: \"${URI}\", access_mode: user_ro}\n", map[string]string{"URI": db.URI})
	url := s.Base + "/shop/mcp"
	init := post(t, url, initBody(v2025), nil)
	if init.SessionID == "" {
		t.Fatalf("no session: %d %s", init.Status, init.Raw)
	}
	h := map[string]string{"Mcp-Protocol-Version": v2025, "Mcp-Session-Id": init.SessionID}
	post(t, url, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, h)

	raw := func(method, body string, extra map[string]string) string {
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		for k, v := range h {
			req.Header.Set(k, v)
		}
		for k, v := range extra {
			req.Header.Set(k, v)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		resp, err := http.DefaultClient.Do(req.WithContext(ctx))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			t.Fatalf("%s: HTTP %d %s", method, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	stream := raw(http.MethodPost, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"shop_execute_sql","arguments":{"sql":"SELECT 42 AS answer"}}}`, nil)
	blocks := strings.Split(strings.TrimSpace(stream), "\n\n")
	if len(blocks) < 3 || blocks[0] != "retry: 200" {
		t.Fatalf("stream does not start with a retry field:\n%s", stream)
	}
	primeID, ok := strings.CutPrefix(lineWith(blocks[1], "id:"), "id:")
	if !ok || strings.Contains(blocks[1], `"jsonrpc"`) {
		t.Fatalf("second block is not a priming event with an id:\n%s", stream)
	}
	if !strings.Contains(blocks[2], `"id":2`) || !strings.Contains(blocks[2], "answer") || lineWith(blocks[2], "id:") == "" {
		t.Fatalf("third block is not the tool result with an event id:\n%s", stream)
	}
	// Resume after the priming event: the result is replayed.
	replay := raw(http.MethodGet, "", map[string]string{"Last-Event-ID": strings.TrimSpace(primeID)})
	if !strings.Contains(replay, `"id":2`) || !strings.Contains(replay, "answer") {
		t.Errorf("GET with Last-Event-ID %s did not replay the result:\n%s", primeID, replay)
	}
}

func lineWith(block, prefix string) string {
	for _, l := range strings.Split(block, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

// TestObjectDetailsReadable: get_object_details's text is readable text
// (no JSON braces, no \u003e for >), and the usage counters that change with
// every query come only when asked for.
func TestObjectDetailsReadable(t *testing.T) {
	db := pgtest.NewDatabase(t)
	pgtest.Exec(t, db.URI, `CREATE TABLE orders (id int PRIMARY KEY, amount numeric CHECK (amount > 0), note text);
CREATE INDEX orders_big ON orders (amount) WHERE amount >= 100;
INSERT INTO orders VALUES (1, 5, 'x'); ANALYZE orders;`)
	s := start(t, "server: {port: 0}\nendpoints:\n  shop: {database_uri: \"${URI}\", access_mode: user_ro}\n", map[string]string{"URI": db.URI})
	cs := s.connect(t, "/shop/mcp", streamable, nil)
	res := call(t, cs, "shop_get_object_details", map[string]any{"object_name": "orders"})
	txt := text(res)
	if res.IsError || strings.Contains(txt, `\u003e`) || strings.Contains(txt, "{") || !strings.Contains(txt, "amount > (0)::numeric") || !strings.Contains(txt, "WHERE (amount >= (100)::numeric)") {
		t.Errorf("get_object_details text is not readable:\n%s", txt)
	}
	raw, _ := json.Marshal(res.StructuredContent)
	if strings.Contains(string(raw), `"stats"`) || strings.Contains(string(raw), `"scans"`) || strings.Contains(txt, "seq_scans") {
		t.Errorf("usage counters returned without include_stats:\n%s", raw)
	}
	with := callOK(t, cs, "shop_get_object_details", map[string]any{"object_name": "orders", "include_stats": true})
	if _, ok := with["stats"]; !ok {
		t.Errorf("include_stats: no stats in %v", with)
	}
}

// TestUndefinedNamesSuggest: "relation does not exist" (42P01) and "column
// does not exist" (42703) name the nearest tables and columns the caller
// may read, and nothing of a schema the mode cannot read.
func TestUndefinedNamesSuggest(t *testing.T) {
	db := pgtest.NewDatabase(t)
	pgtest.Exec(t, db.URI, `CREATE TABLE orders (id int PRIMARY KEY, amount numeric, customer_name text);
CREATE TABLE order_items (order_id int, qty int);
CREATE SCHEMA secret; CREATE TABLE secret.orderz (id int);`)
	// one: a single connection and slot, which the failed call holds until
	// it lets go; the suggestions must not wait for it.
	s := start(t, "server: {port: 0}\nendpoints:\n  u: {database_uri: \"${URI}\", access_mode: user_ro}\n  a: {database_uri: \"${URI}\", access_mode: admin_ro}\n"+
		"  one: {database_uri: \"${URI}\", access_mode: admin_ro, pool: {max_conns: 1, acquire_timeout: 10s}}\n",
		map[string]string{"URI": db.URI})
	u := s.connect(t, "/u/mcp", streamable, nil)
	a := s.connect(t, "/a/mcp", streamable, nil)
	one := s.connect(t, "/one/mcp", streamable, nil)
	for _, c := range []struct {
		cs        *mcp.ClientSession
		tool, sql string
		want      []string
		not       []string
	}{
		{u, "u_execute_sql", "SELECT * FROM ordrs", []string{"42P01", "did you mean orders"}, []string{"secret"}},
		{a, "a_execute_sql", "SELECT * FROM ordrs", []string{"42P01", "orders", "secret.orderz"}, nil},
		{u, "u_execute_sql", "SELECT amout FROM orders", []string{"42703", "did you mean amount (orders)"}, nil},
		{u, "u_execute_sql", "SELECT o.custmer_name FROM orders o", []string{"42703", "customer_name (orders)"}, nil},
		{u, "u_explain_query", "SELECT * FROM order_itemz", []string{"42P01", "order_items"}, []string{"secret"}},
		{one, "one_execute_sql", "SELECT * FROM ordrs", []string{"42P01", "did you mean orders"}, nil},
		{one, "one_explain_query", "SELECT amout FROM orders", []string{"42703", "amount (orders)"}, nil},
	} {
		msg := callErr(t, c.cs, c.tool, map[string]any{"sql": c.sql})
		for _, w := range c.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s(%s): %q lacks %q", c.tool, c.sql, msg, w)
			}
		}
		for _, n := range c.not {
			if strings.Contains(msg, n) {
				t.Errorf("%s(%s): %q mentions %q, which this mode cannot read", c.tool, c.sql, msg, n)
			}
		}
	}
}
