package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The lean client speaks just enough MCP to call one method in a loop:
// plain HTTP requests with prebuilt bodies, or lines on a stdio server's
// pipes, and a structural look at each response's envelope (id, error,
// result.isError) — never a decoding of the result. A go-sdk client decodes
// every response into Go values and costs about as much CPU per call as the
// server does; on a 2-core machine that is CPU taken from the server being
// measured.

// Protocol revisions the lean client speaks.
const (
	protocolStateless = "2026-07-28" // sessionless: _meta on every request, standard headers
	protocolSession   = "2025-11-25" // initialize, Mcp-Session-Id
)

// leanMeta is the per-request _meta of protocol 2026-07-28.
const leanMeta = `"_meta":{"io.modelcontextprotocol/protocolVersion":"` + protocolStateless +
	`","io.modelcontextprotocol/clientInfo":{"name":"pgherd-load","version":"0"},"io.modelcontextprotocol/clientCapabilities":{}}`

// request builds the bytes of one JSON-RPC request; id is spliced in per
// call.
type request struct {
	method string
	head   []byte // `{"jsonrpc":"2.0","id":`
	tail   []byte // `,"method":…,"params":{…}}`
	name   string // tool name, for the Mcp-Name header of tools/call
}

func newRequest(method, tool string, args json.RawMessage, meta bool) *request {
	r := &request{method: method, head: []byte(`{"jsonrpc":"2.0","id":`)}
	var params []string
	if meta {
		params = append(params, leanMeta)
	}
	if method == methodCallTool {
		name, _ := json.Marshal(tool)
		params = append(params, `"name":`+string(name), `"arguments":`+string(args))
		r.name = tool
	}
	m, _ := json.Marshal(method)
	r.tail = []byte(`,"method":` + string(m) + `,"params":{` + strings.Join(params, ",") + `}}`)
	return r
}

// appendTo appends the request with id to b.
func (r *request) appendTo(b []byte, id int64) []byte {
	b = append(b, r.head...)
	b = strconv.AppendInt(b, id, 10)
	return append(b, r.tail...)
}

// Methods the load tool calls.
const (
	methodCallTool  = "tools/call"
	methodListTools = "tools/list"
)

// checkResponse reads a JSON-RPC response: a JSON-RPC error is a protocol
// error, a result with isError true a tool error (its first text as the
// message).
func checkResponse(msg []byte) outcome {
	var result, rpcErr []byte
	err := members(msg, func(k, v []byte) bool {
		switch string(k) {
		case "result":
			result = v
		case "error":
			rpcErr = v
		}
		return true
	})
	switch {
	case err != nil:
		return protocolFailure(fmt.Sprintf("reading the response: %v", err))
	case rpcErr != nil:
		var e struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		}
		_ = json.Unmarshal(rpcErr, &e)
		return protocolFailure(fmt.Sprintf("JSON-RPC error %d: %s", e.Code, e.Message))
	case result == nil:
		return protocolFailure("a response with neither result nor error")
	}
	if isErr := member(result, "isError"); string(isErr) == "true" {
		var r struct {
			Content []struct {
				Text string `json:"text"`
			} `json:"content"`
		}
		_ = json.Unmarshal(result, &r)
		var b strings.Builder
		for _, c := range r.Content {
			b.WriteString(c.Text)
		}
		return outcome{kind: toolFailed, msg: b.String(), bytes: len(msg)}
	}
	return outcome{kind: callOK, bytes: len(msg)}
}

// idOf returns the raw id of a JSON-RPC message, or nil (a notification).
func idOf(msg []byte) []byte { return member(msg, "id") }

// leanHTTP is one lean Streamable HTTP session: stateless (protocol
// 2026-07-28, every request standalone) or stateful (initialize, then
// Mcp-Session-Id on every request). Not safe for concurrent use: each
// worker has its own.
type leanHTTP struct {
	hc       *http.Client
	url      string
	header   http.Header // from the options (Authorization)
	protocol string
	session  string
	req      *request
	id       int64
	body     []byte       // request buffer, reused
	resp     bytes.Buffer // response buffer, reused
}

// connectLeanHTTP opens a lean session. Without a protocol asked for, it
// probes as go-sdk's client does: server/discover, and protocol 2026-07-28
// when the server lists it; otherwise initialize with 2025-11-25.
func connectLeanHTTP(ctx context.Context, hc *http.Client, opts Options) (*leanHTTP, error) {
	c := &leanHTTP{hc: hc, url: opts.URL, header: opts.Header}
	protocol := opts.Protocol
	if protocol == "" {
		discover := newRequest("server/discover", "", nil, true)
		msg, _, err := c.post(ctx, discover.appendTo(nil, 0), protocolStateless, discover.method, "")
		if err != nil {
			return nil, fmt.Errorf("server/discover: %w", err)
		}
		protocol = protocolSession
		if o := checkResponse(msg); o.kind == callOK {
			var r struct {
				Supported []string `json:"supportedVersions"`
			}
			if err := json.Unmarshal(member(msg, "result"), &r); err == nil && contains(r.Supported, protocolStateless) {
				protocol = protocolStateless
			}
		}
	}
	c.protocol = protocol
	if protocol < protocolStateless {
		if err := c.initialize(ctx); err != nil {
			return nil, err
		}
	}
	c.req = newRequest(opts.Method, opts.Tool, opts.Args, protocol >= protocolStateless)
	return c, nil
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// initialize opens a session with protocol c.protocol (below 2026-07-28).
func (c *leanHTTP) initialize(ctx context.Context) error {
	p, _ := json.Marshal(c.protocol)
	body := `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":` + string(p) +
		`,"clientInfo":{"name":"pgherd-load","version":"0"},"capabilities":{}}}`
	msg, h, err := c.post(ctx, []byte(body), "", "initialize", "")
	if err != nil {
		return fmt.Errorf("initialize: %w", err)
	}
	if o := checkResponse(msg); o.kind != callOK {
		return fmt.Errorf("initialize: %s", o.msg)
	}
	var r struct {
		ProtocolVersion string `json:"protocolVersion"`
	}
	if err := json.Unmarshal(member(msg, "result"), &r); err != nil {
		return fmt.Errorf("initialize: %w", err)
	}
	c.protocol = r.ProtocolVersion
	c.session = h.Get("Mcp-Session-Id")
	if _, _, err := c.post(ctx, []byte(`{"jsonrpc":"2.0","method":"notifications/initialized","params":{}}`), c.protocol, "notifications/initialized", ""); err != nil {
		return fmt.Errorf("notifications/initialized: %w", err)
	}
	return nil
}

// post sends one message and returns the JSON-RPC message that answers it
// (nil for a notification's 202), read from a JSON body or an event
// stream. The returned bytes are valid until the next post.
func (c *leanHTTP) post(ctx context.Context, body []byte, protocol, method, name string) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	h := req.Header
	for k, v := range c.header {
		h[k] = v
	}
	h["Content-Type"] = []string{"application/json"}
	h["Accept"] = []string{"application/json, text/event-stream"}
	if protocol != "" {
		h["Mcp-Protocol-Version"] = []string{protocol}
	}
	if c.session != "" {
		h["Mcp-Session-Id"] = []string{c.session}
	}
	if protocol >= protocolStateless {
		h["Mcp-Method"] = []string{method}
		if name != "" {
			h["Mcp-Name"] = []string{name}
		}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	c.resp.Reset()
	if _, err := c.resp.ReadFrom(resp.Body); err != nil {
		return nil, nil, fmt.Errorf("reading the response: %w", err)
	}
	data := c.resp.Bytes()
	switch {
	case resp.StatusCode == http.StatusAccepted:
		return nil, resp.Header, nil
	case resp.StatusCode != http.StatusOK && !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json"):
		return nil, nil, fmt.Errorf("HTTP %s: %s", resp.Status, strings.TrimSpace(string(data[:min(len(data), 200)])))
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return data, resp.Header, nil
	}
	msg := lastEventData(data)
	if msg == nil {
		return nil, nil, fmt.Errorf("HTTP %s: the event stream held no message", resp.Status)
	}
	return msg, resp.Header, nil
}

// lastEventData returns the data of the last event in an SSE stream that
// carries a JSON-RPC response (an id and no method): progress and log
// notifications come before it.
func lastEventData(stream []byte) []byte {
	var found []byte
	for len(stream) > 0 {
		var line []byte
		line, stream, _ = bytes.Cut(stream, []byte("\n"))
		data, ok := bytes.CutPrefix(line, []byte("data:"))
		if !ok {
			continue
		}
		data = bytes.TrimSpace(data)
		// Messages pgherd sends fit on one data line; a multi-line event
		// would only split a message across lines.
		if len(data) > 0 && idOf(data) != nil && member(data, "method") == nil {
			found = data
		}
	}
	return found
}

func (c *leanHTTP) call(ctx context.Context) outcome {
	c.id++
	c.body = c.req.appendTo(c.body[:0], c.id)
	msg, _, err := c.post(ctx, c.body, c.protocol, c.req.method, c.req.name)
	if err != nil {
		return protocolFailure(err.Error())
	}
	if id := idOf(msg); string(id) != strconv.FormatInt(c.id, 10) {
		return protocolFailure(fmt.Sprintf("response id %s, want %d", id, c.id))
	}
	return checkResponse(msg)
}

func (c *leanHTTP) info() (protocol, session string) { return c.protocol, c.session }

// close ends a stateful session (DELETE).
func (c *leanHTTP) close() {
	if c.session == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, c.url, nil)
	if err != nil {
		return
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	req.Header.Set("Mcp-Session-Id", c.session)
	req.Header.Set("Mcp-Protocol-Version", c.protocol)
	if resp, err := c.hc.Do(req); err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// stdioServer is one MCP server process spoken to over its stdin and
// stdout, shared by every worker: each call is a line with its own id, and
// a reader hands each response line to the worker waiting for that id.
// That is one MCP session with as many calls in flight as workers, as a
// client multiplexes one stdio server.
type stdioServer struct {
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	wmu      sync.Mutex // one line at a time on stdin
	protocol string

	mu      sync.Mutex
	waiting map[int64]chan []byte
	readErr error
	done    chan struct{} // closed when the reader ends
	nextID  int64
	stderr  tailWriter
}

// startStdio starts argv and initializes one session with it.
func startStdio(ctx context.Context, argv []string) (*stdioServer, error) {
	s := &stdioServer{waiting: map[int64]chan []byte{}, done: make(chan struct{})}
	s.cmd = exec.Command(argv[0], argv[1:]...)
	s.cmd.Stderr = &s.stderr
	var err error
	if s.stdin, err = s.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", argv[0], err)
	}
	go s.read(stdout)
	p, _ := json.Marshal(protocolSession)
	msg, err := s.roundTrip(ctx, func(id int64) []byte {
		return []byte(`{"jsonrpc":"2.0","id":` + strconv.FormatInt(id, 10) + `,"method":"initialize","params":{"protocolVersion":` + string(p) +
			`,"clientInfo":{"name":"pgherd-load","version":"0"},"capabilities":{}}}`)
	})
	if err == nil {
		if o := checkResponse(msg); o.kind != callOK {
			err = errors.New(o.msg)
		}
	}
	if err != nil {
		s.close()
		return nil, fmt.Errorf("initializing %s: %w (stderr: %s)", argv[0], err, s.stderrTail())
	}
	var r struct {
		ProtocolVersion string `json:"protocolVersion"`
	}
	_ = json.Unmarshal(member(msg, "result"), &r)
	s.protocol = r.ProtocolVersion
	if err := s.write([]byte(`{"jsonrpc":"2.0","method":"notifications/initialized","params":{}}`)); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// Pid is the server process's id.
func (s *stdioServer) Pid() int { return s.cmd.Process.Pid }

func (s *stdioServer) stderrTail() string { return s.stderr.String() }

// read dispatches response lines to their callers until stdout ends.
func (s *stdioServer) read(stdout io.Reader) {
	defer close(s.done)
	r := bufio.NewReaderSize(stdout, 1<<20)
	var long []byte
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long, line...)
			continue
		}
		if long != nil {
			line = append(long, line...)
			long = nil
		}
		if len(bytes.TrimSpace(line)) > 0 {
			s.dispatch(line)
		}
		if err != nil {
			s.mu.Lock()
			s.readErr = err
			for _, ch := range s.waiting {
				close(ch)
			}
			s.waiting = nil
			s.mu.Unlock()
			return
		}
	}
}

func (s *stdioServer) dispatch(line []byte) {
	id := idOf(line)
	if id == nil || member(line, "method") != nil {
		return // a notification or a request from the server: nothing to answer
	}
	n, err := strconv.ParseInt(string(id), 10, 64)
	if err != nil {
		return
	}
	s.mu.Lock()
	ch := s.waiting[n]
	delete(s.waiting, n)
	s.mu.Unlock()
	if ch != nil {
		ch <- bytes.Clone(line)
	}
}

func (s *stdioServer) write(line []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if _, err := s.stdin.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("writing to the server: %w", err)
	}
	return nil
}

// roundTrip sends the message build makes for a fresh id and waits for its
// response.
func (s *stdioServer) roundTrip(ctx context.Context, build func(id int64) []byte) ([]byte, error) {
	ch := make(chan []byte, 1)
	s.mu.Lock()
	if s.waiting == nil {
		err := s.readErr
		s.mu.Unlock()
		return nil, fmt.Errorf("the server closed its output: %v", err)
	}
	s.nextID++
	id := s.nextID
	s.waiting[id] = ch
	s.mu.Unlock()
	if err := s.write(build(id)); err != nil {
		return nil, err
	}
	select {
	case msg, ok := <-ch:
		if !ok {
			return nil, fmt.Errorf("the server closed its output: %s", s.stderrTail())
		}
		return msg, nil
	case <-ctx.Done():
		s.mu.Lock()
		delete(s.waiting, id)
		s.mu.Unlock()
		return nil, ctx.Err()
	}
}

// close ends the server: stdin closed (an MCP stdio server exits then),
// killed if it has not exited after 5s.
func (s *stdioServer) close() {
	s.stdin.Close()
	exited := make(chan struct{})
	go func() { s.cmd.Wait(); close(exited) }()
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-exited
	}
}

// stdioCaller is one worker's calls on a shared stdio server.
type stdioCaller struct {
	s   *stdioServer
	req *request
	buf []byte
}

func (c *stdioCaller) call(ctx context.Context) outcome {
	msg, err := c.s.roundTrip(ctx, func(id int64) []byte {
		c.buf = c.req.appendTo(c.buf[:0], id)
		return c.buf
	})
	if err != nil {
		return protocolFailure(err.Error())
	}
	return checkResponse(msg)
}

func (c *stdioCaller) info() (string, string) { return c.s.protocol, "" }
func (c *stdioCaller) close()                 {}

// tailWriter keeps the last 2 KiB written to it (a server's log, which
// grows by a line per call).
type tailWriter struct {
	mu  sync.Mutex
	buf []byte
}

const tailBytes = 2 << 10

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*tailBytes {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailBytes:]...)
	}
	return len(p), nil
}

func (t *tailWriter) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf[max(0, len(t.buf)-tailBytes):]))
}
