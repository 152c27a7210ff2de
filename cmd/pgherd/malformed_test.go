package main_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pgherd/pgherd/internal/pgtest"
)

// malformedCase is one line of testdata/jsonrpc/malformed.txt.
type malformedCase struct {
	code int // 0: no answer may come; toolError: a tool result with isError
	line string
}

// toolError marks a case answered by a tool result with isError.
const toolError = 1

func loadMalformed(t *testing.T) []malformedCase {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "testdata", "jsonrpc", "malformed.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []malformedCase
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		text := sc.Text()
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		want, line, ok := strings.Cut(text, "\t")
		if !ok {
			t.Fatalf("malformed.txt: no tab in %q", text)
		}
		c := malformedCase{line: line}
		switch want {
		case "none":
		case "tool-error":
			c.code = toolError
		default:
			if c.code, err = strconv.Atoi(want); err != nil {
				t.Fatalf("malformed.txt: bad code %q", want)
			}
		}
		out = append(out, c)
	}
	return out
}

// TestStdioSurvivesMalformedInput: every line of the malformed corpus (121
// lines: invalid JSON, messages that are not JSON-RPC, ids and methods of
// the wrong type, batches, unknown methods, bad parameters, stray
// notifications and responses) sent to pgherd stdio gets the right
// JSON-RPC error, or nothing when nothing may be answered, and the process
// keeps serving to the end and exits 0 on EOF.
func TestStdioSurvivesMalformedInput(t *testing.T) {
	t.Parallel()
	cases := loadMalformed(t)
	if len(cases) < 100 {
		t.Fatalf("only %d cases", len(cases))
	}
	db := pgtest.NewDatabase(t)
	path := writeFile(t, "pgherd.yaml", fmt.Sprintf("endpoints:\n  herd: {database_uri: %q, access_mode: admin_rw}\n", db.URI))
	r := startRaw(t, "stdio", "--config", path, "--endpoint", "herd")
	r.send(initialize)
	if m := r.next(); string(m.ID) != "1" || m.Error != nil {
		t.Fatalf("initialize: %+v", m)
	}
	r.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	counts := map[int]int{}
	for i, c := range cases {
		r.send(c.line)
		if c.code == 0 {
			// Nothing may come back: the next answer is the ping's.
			sync := fmt.Sprintf(`"sync-%d"`, i)
			r.send(`{"jsonrpc":"2.0","id":` + sync + `,"method":"ping"}`)
			if m := r.next(); string(m.ID) != sync {
				t.Errorf("line %d %s: got an answer %s %+v, want none", i, c.line, m.ID, m.Error)
				r.next() // the ping's
			}
			counts[0]++
			continue
		}
		m := r.next()
		if c.code == toolError {
			if m.Error != nil || !strings.Contains(string(m.Result), `"isError":true`) {
				t.Errorf("line %d %s: got result %s error %+v, want a tool error", i, short(c.line), short(string(m.Result)), m.Error)
			}
			counts[c.code]++
			continue
		}
		if m.Error == nil || m.Error.Code != c.code {
			t.Errorf("line %d %s: got id %s result %s error %+v, want error %d", i, short(c.line), m.ID, short(string(m.Result)), m.Error, c.code)
			continue
		}
		counts[c.code]++
	}
	// Still serving.
	r.send(`{"jsonrpc":"2.0","id":"last","method":"tools/call","params":{"name":"herd_execute_sql","arguments":{"sql":"SELECT 42 AS answer"}}}`)
	if m := r.next(); string(m.ID) != `"last"` || m.Error != nil || !strings.Contains(string(m.Result), "42") {
		t.Errorf("a call after the corpus: %s %+v", m.Result, m.Error)
	}
	r.stdin.Close()
	if extra := r.rest(); len(extra) > 0 {
		t.Errorf("unexpected messages after EOF: %+v", extra)
	}
	if code := r.exitCode(); code != 0 {
		t.Errorf("exit status %d after EOF, want 0", code)
	}
	t.Logf("FIGURE stdio: %d malformed lines, answered as expected by code %v (0: nothing answered, 1: tool error); still serving, exit 0", len(cases), counts)
}

func short(s string) string {
	if len(s) > 160 {
		return s[:160] + "…"
	}
	return s
}
