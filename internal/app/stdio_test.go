package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/pgherd/pgherd/internal/app"
	"github.com/pgherd/pgherd/internal/config"
	"github.com/pgherd/pgherd/internal/pgtest"
)

// stdioPipe runs endpoint name of the app over in-process pipes.
type stdioPipe struct {
	in   *io.PipeWriter
	out  *bufio.Reader
	done chan error
}

func runStdioPipe(t *testing.T, yaml string, env map[string]string, name string) *stdioPipe {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), mapEnv(env))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	a, err := app.New(context.Background(), cfg, app.Options{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	p := &stdioPipe{in: inW, out: bufio.NewReader(outR), done: make(chan error, 1)}
	go func() {
		p.done <- a.RunStdio(context.Background(), name, inR, outW)
		outW.Close()
	}()
	t.Cleanup(func() {
		inW.Close()
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			t.Error("RunStdio did not end after stdin closed")
		}
	})
	return p
}

func (p *stdioPipe) send(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(p.in, line+"\n"); err != nil {
		t.Fatalf("writing %q: %v", line, err)
	}
}

func (p *stdioPipe) next(t *testing.T) string {
	t.Helper()
	type res struct {
		line string
		err  error
	}
	ch := make(chan res, 1)
	go func() {
		l, err := p.out.ReadString('\n')
		ch <- res{l, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("reading stdout: %v", r.err)
		}
		return strings.TrimSpace(r.line)
	case <-time.After(20 * time.Second):
		t.Fatal("no answer on stdout within 20s")
		return ""
	}
}

// TestStdioBatches: a JSON-RPC batch never ends the session. In a
// 2025-03-26 session (the one revision with batches) it is answered with
// one array in the batch's order; in later revisions, before initialize, or
// with a repeated id, it is refused with -32600; the session serves on.
func TestStdioBatches(t *testing.T) {
	db := pgtest.NewDatabase(t)
	yaml := "endpoints:\n  shop: {database_uri: \"${URI}\", access_mode: user_ro, allow_privileged_role: true}\n"
	for _, version := range []string{"2025-03-26", "2025-06-18", "2025-11-25"} {
		t.Run(version, func(t *testing.T) {
			p := runStdioPipe(t, yaml, map[string]string{"URI": db.URI}, "shop")
			batch := `[{"jsonrpc":"2.0","id":"b1","method":"tools/list"},{"jsonrpc":"2.0","id":2,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"x","progress":1}}]`
			// Before initialize: refused.
			p.send(t, batch)
			if got := p.next(t); !strings.Contains(got, `"code":-32600`) || !strings.Contains(got, "batch") {
				t.Errorf("batch before initialize: %s", got)
			}
			p.send(t, fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":%q,"capabilities":{},"clientInfo":{"name":"t","version":"0"}}}`, version))
			if got := p.next(t); !strings.Contains(got, `"id":1`) || !strings.Contains(got, version) {
				t.Fatalf("initialize: %s", got)
			}
			p.send(t, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
			p.send(t, batch)
			got := p.next(t)
			if version == "2025-03-26" {
				var answers []struct {
					ID     json.RawMessage
					Result json.RawMessage
					Error  any
				}
				if err := json.Unmarshal([]byte(got), &answers); err != nil || len(answers) != 2 ||
					string(answers[0].ID) != `"b1"` || string(answers[1].ID) != "2" || answers[0].Error != nil || !strings.Contains(string(answers[0].Result), "execute_sql") {
					t.Errorf("batch in 2025-03-26: %s; want an array answering b1 then 2", got)
				}
				p.send(t, `[{"jsonrpc":"2.0","id":5,"method":"ping"},{"jsonrpc":"2.0","id":5,"method":"ping"}]`)
				if got := p.next(t); !strings.Contains(got, `"code":-32600`) || !strings.Contains(got, "repeats") {
					t.Errorf("batch with a repeated id: %s", got)
				}
			} else if !strings.Contains(got, `"code":-32600`) || !strings.Contains(got, "batches") {
				t.Errorf("batch in %s: %s; want -32600", version, got)
			}
			// Still serving.
			p.send(t, `{"jsonrpc":"2.0","id":9,"method":"ping"}`)
			if got := p.next(t); !strings.Contains(got, `"id":9`) || strings.Contains(got, "error") {
				t.Errorf("ping after the batch: %s", got)
			}
		})
	}
}
