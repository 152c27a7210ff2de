package reliability_test

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
	"go.uber.org/goleak"

	"github.com/pgherd/pgherd/internal/app"
	"github.com/pgherd/pgherd/internal/config"
	"github.com/pgherd/pgherd/internal/pgtest"
)

// dropper dials TCP connections it can cut all at once: a client that
// vanishes (closed laptop, killed process) rather than one that cancels.
type dropper struct {
	mu    sync.Mutex
	conns []net.Conn
}

func (d *dropper) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err == nil {
		d.mu.Lock()
		d.conns = append(d.conns, c)
		d.mu.Unlock()
	}
	return c, err
}

func (d *dropper) drop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.conns {
		c.Close()
	}
	d.conns = nil
}

// running counts backends of db running a statement with marker.
func running(t *testing.T, db, marker string) int64 {
	return pgtest.QueryValue[int64](t, pgtest.URI("postgres"),
		"SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND state = 'active' AND query LIKE '%' || $2 || '%' AND query NOT LIKE '%pg_stat_activity%'", db, marker)
}

// TestClientDisconnectMidCall: a client vanishes while its call runs a
// 30-second statement, on every transport. Where the connection is the
// call's or the session's whole life — Streamable HTTP stateless (protocol
// 2026-07-28), legacy SSE (the event stream), stdio (stdin closed) — the
// statement is cancelled in PostgreSQL within a second. A stateful
// Streamable session outlives its connections (MCP: disconnection is not
// cancellation; the stream can be resumed), so there the call runs on until
// its statement_timeout. Either way no goroutine the call started is left
// behind once the client is gone (goleak, against a snapshot taken once
// the session was open).
func TestClientDisconnectMidCall(t *testing.T) {
	db := pgtest.NewDatabase(t)
	for _, tr := range []string{"stateless", "stateful", "sse", "stdio"} {
		t.Run(tr, func(t *testing.T) {
			marker := fmt.Sprintf("disconnect_%s", tr)
			sql := fmt.Sprintf("SELECT pg_sleep(30) AS %s", marker)
			var (
				call func() error // runs the call; returns when the client is gone
				cut  func()       // makes the client vanish
				done func()       // ends the client's remaining resources
			)
			switch tr {
			case "stdio":
				cfg, err := config.Parse([]byte("endpoints:\n  herd: {database_uri: \"${URI}\", access_mode: admin_rw}\n"),
					func(k string) (string, bool) { return db.URI, k == "URI" })
				if err != nil {
					t.Fatal(err)
				}
				a, err := app.New(context.Background(), cfg, app.Options{Version: "test"})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(a.Close)
				inR, inW := io.Pipe()
				outR, outW := io.Pipe()
				served := make(chan error, 1)
				go func() {
					served <- a.RunStdio(context.Background(), "herd", inR, outW)
					outW.Close()
				}()
				out := bufio.NewReader(outR)
				fmt.Fprintln(inW, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}`)
				if _, err := out.ReadString('\n'); err != nil {
					t.Fatal(err)
				}
				fmt.Fprintln(inW, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
				call = func() error {
					fmt.Fprintf(inW, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"herd_execute_sql","arguments":{"sql":%q}}}`+"\n", sql)
					_, err := io.Copy(io.Discard, out)
					return err
				}
				cut = func() { inW.Close() }
				done = func() {
					select {
					case <-served:
					case <-time.After(10 * time.Second):
						t.Error("RunStdio did not return after stdin closed")
					}
				}
			default:
				yaml := fmt.Sprintf("server: {port: 0, session_mode: %s}\nendpoints:\n  herd: {database_uri: \"${URI}\", access_mode: admin_rw, limits: {statement_timeout: 3s}}\n",
					map[bool]string{true: "stateful", false: "stateless"}[tr == "stateful"])
				s := start(t, yaml, map[string]string{"URI": db.URI})
				d := &dropper{}
				tp := &http.Transport{DialContext: d.dial}
				hc := &http.Client{Transport: tp}
				var ct mcp.Transport = &mcp.StreamableClientTransport{Endpoint: s.Base + "/herd/mcp", HTTPClient: hc}
				if tr == "sse" {
					ct = &mcp.SSEClientTransport{Endpoint: s.Base + "/herd/sse", HTTPClient: hc}
				}
				c := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "0"}, nil)
				cctx, cancel := context.WithCancel(context.Background())
				cs, err := c.Connect(cctx, ct, nil)
				if err != nil {
					t.Fatal(err)
				}
				call = func() error {
					_, err := cs.CallTool(cctx, &mcp.CallToolParams{Name: "herd_execute_sql", Arguments: map[string]any{"sql": sql}})
					return err
				}
				cut = d.drop
				done = func() {
					cancel()
					cs.Close()
					tp.CloseIdleConnections()
				}
			}

			// Everything running now is the server and the session; what the
			// call starts must be gone once the client is.
			snapshot := goleak.IgnoreCurrent()
			ended := make(chan error, 1)
			go func() { ended <- call() }()
			waitUntil(t, 15*time.Second, "the statement to run", func() bool { return running(t, db.Name, marker) > 0 })
			cut()
			gone := waitUntil(t, 10*time.Second, "the statement to stop", func() bool { return running(t, db.Name, marker) == 0 })
			<-ended
			done()
			if tr == "stateful" {
				// A stateful session outlives its connections: MCP says a
				// disconnection is not a cancellation (the client may resume
				// the stream with Last-Event-ID), so the call runs on, bounded
				// by its statement_timeout (3s here).
				report(t, "client gone mid-call over %s: the call ran on, as MCP asks of sessions, and its statement ended at statement_timeout, %s after the disconnect", tr, gone.Round(time.Millisecond))
				if gone < time.Second || gone > 4500*time.Millisecond {
					t.Errorf("the statement ended %s after the disconnect, want it to run on until statement_timeout (3s)", gone)
				}
			} else {
				report(t, "client gone mid-call over %s: the statement stopped in PostgreSQL %s after the disconnect", tr, gone.Round(time.Millisecond))
				if gone > time.Second {
					t.Errorf("the statement ran %s after the client vanished, want at most 1s", gone)
				}
			}
			if err := goleak.Find(snapshot); err != nil {
				t.Errorf("goroutines left after the call:\n%v", trimLeak(err.Error()))
			}
		})
	}
}

func trimLeak(s string) string {
	if len(s) > 6000 {
		return s[:6000] + "\n…"
	}
	return strings.TrimSpace(s)
}
