package reliability_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pgherd/pgherd/internal/pgtest"
)

// corpus reads testdata/jsonrpc/malformed.txt: expectation and line.
func corpus(t *testing.T) [][2]string {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "testdata", "jsonrpc", "malformed.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][2]string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if text := sc.Text(); text != "" && !strings.HasPrefix(text, "#") {
			want, line, _ := strings.Cut(text, "\t")
			out = append(out, [2]string{want, line})
		}
	}
	return out
}

// rpcAnswer is what an HTTP response carried: its status and the JSON-RPC
// message in its body (plain JSON or the first event of a stream).
type rpcAnswer struct {
	status int
	msg    struct {
		ID     json.RawMessage `json:"id"`
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	body string
}

func post(t *testing.T, hc *http.Client, url, session, body string) rpcAnswer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	if session != "" {
		req.Header.Set("Mcp-Session-Id", session)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", short(body), err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	a := rpcAnswer{status: resp.StatusCode, body: string(data)}
	payload := data
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		payload = nil
		for line := range strings.Lines(string(data)) {
			if d, ok := strings.CutPrefix(strings.TrimSpace(line), "data: "); ok && strings.Contains(d, `"jsonrpc"`) {
				payload = []byte(d)
				break
			}
		}
	}
	if len(payload) > 0 {
		json.Unmarshal(payload, &a.msg)
	}
	return a
}

func short(s string) string {
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}

// TestHTTPMalformedInput: the malformed corpus over Streamable HTTP, in a
// stateful session (protocol 2025-06-18). Lines that are not JSON-RPC get
// HTTP 400 with the JSON-RPC error (-32700, -32600); unknown methods and
// bad parameters get their JSON-RPC error in a 200 answer; arguments a
// tool refuses get a tool error; notifications and stray responses are
// accepted with 202 and nothing else (a notification missing its params is
// refused with 400 and an error without id). The session serves on.
func TestHTTPMalformedInput(t *testing.T) {
	db := pgtest.NewDatabase(t)
	s := start(t, "server: {port: 0, session_mode: stateful}\nendpoints:\n  herd: {database_uri: \"${URI}\", access_mode: admin_rw}\n",
		map[string]string{"URI": db.URI})
	hc := &http.Client{}
	url := s.Base + "/herd/mcp"
	sid := sessionOf(t, hc, url)
	post(t, hc, url, sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)

	counts := map[string]int{}
	for i, c := range corpus(t) {
		want, line := c[0], c[1]
		a := post(t, hc, url, sid, line)
		var problem string
		switch want {
		case "none":
			// Accepted (202, nothing else); or, for a notification the
			// server cannot accept, 400 with a JSON-RPC error without id
			// (the Streamable HTTP transport allows either).
			refused := a.status == http.StatusBadRequest && a.msg.Error != nil && (len(a.msg.ID) == 0 || string(a.msg.ID) == "null")
			if a.status != http.StatusAccepted && !refused {
				problem = fmt.Sprintf("status %d body %s, want 202 and nothing, or 400 with a JSON-RPC error", a.status, short(a.body))
			}
		case "tool-error":
			if a.status != 200 || a.msg.Error != nil || !strings.Contains(string(a.msg.Result), `"isError":true`) {
				problem = fmt.Sprintf("status %d body %s, want a tool error", a.status, short(a.body))
			}
		default:
			code, _ := strconv.Atoi(want)
			wantStatus := 200
			if code == -32700 || code == -32600 {
				wantStatus = 400
			}
			if a.status != wantStatus || a.msg.Error == nil || a.msg.Error.Code != code {
				problem = fmt.Sprintf("status %d body %s, want %d with error %d", a.status, short(a.body), wantStatus, code)
			}
		}
		if problem != "" {
			t.Errorf("line %d %s: %s", i, short(line), problem)
			continue
		}
		counts[want]++
	}
	a := post(t, hc, url, sid, `{"jsonrpc":"2.0","id":"last","method":"tools/call","params":{"name":"herd_execute_sql","arguments":{"sql":"SELECT 42 AS answer"}}}`)
	if a.status != 200 || a.msg.Error != nil || !strings.Contains(string(a.msg.Result), "42") {
		t.Errorf("a call after the corpus: %d %s", a.status, short(a.body))
	}
	report(t, "HTTP (stateful, 2025-06-18): %d malformed messages answered as expected %v; the session serves on", len(corpus(t)), counts)
}

// sessionOf opens a stateful session and returns its id.
func sessionOf(t *testing.T, hc *http.Client, url string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	sid := resp.Header.Get("Mcp-Session-Id")
	if sid == "" {
		t.Fatalf("initialize gave no session id (status %d)", resp.StatusCode)
	}
	return sid
}
