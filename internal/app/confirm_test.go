package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/pgtest"
)

// asker is a client's user answering elicitations.
type asker struct {
	accept bool
	mu     sync.Mutex
	asked  []string // the messages shown
}

func (a *asker) options() *mcp.ClientOptions {
	return &mcp.ClientOptions{ElicitationHandler: func(_ context.Context, r *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
		a.mu.Lock()
		a.asked = append(a.asked, r.Params.Message)
		a.mu.Unlock()
		if a.accept {
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"confirm": true}}, nil
		}
		return &mcp.ElicitResult{Action: "decline"}, nil
	}}
}

func (a *asker) take() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := a.asked
	a.asked = nil
	return out
}

// confirmServers serves one database per session mode as rw (admin_rw),
// urw (user_rw), refuse (admin_rw, confirm_destructive: refuse) and never
// (admin_rw, confirm_destructive: never). The fixture has tables victim1…
// victimN of 50 rows, each with a view on it.
func confirmServers(t *testing.T, victims int) (map[string]*server, *pgtest.Database) {
	t.Helper()
	db := pgtest.NewDatabase(t)
	var sql strings.Builder
	for i := 1; i <= victims; i++ {
		fmt.Fprintf(&sql, "CREATE TABLE victim%d (id int PRIMARY KEY, note text); INSERT INTO victim%d SELECT g, 'n' FROM generate_series(1, 50) g; CREATE VIEW victim%d_v AS SELECT * FROM victim%d;\n", i, i, i, i)
	}
	pgtest.Exec(t, db.URI, sql.String())
	servers := map[string]*server{}
	for _, mode := range []string{"stateless", "stateful"} {
		servers[mode] = start(t, fmt.Sprintf(`
server: {port: 0, session_mode: %s, shutdown_timeout: 5s}
endpoints:
  rw: {database_uri: "${URI}", access_mode: admin_rw}
  urw: {database_uri: "${URI}", access_mode: user_rw}
  refuse: {database_uri: "${URI}", access_mode: admin_rw, confirm_destructive: refuse}
  never: {database_uri: "${URI}", access_mode: admin_rw, confirm_destructive: never}
`, mode), map[string]string{"URI": db.URI})
	}
	return servers, db
}

func tableExists(t *testing.T, db *pgtest.Database, name string) bool {
	t.Helper()
	return pgtest.QueryValue[bool](t, db.URI, "SELECT to_regclass($1) IS NOT NULL", name)
}

func rowCount(t *testing.T, db *pgtest.Database, table string) int64 {
	t.Helper()
	return pgtest.QueryValue[int64](t, db.URI, "SELECT count(*) FROM "+table)
}

// TestConfirmDestructive: a statement that drops or empties data is dry-run
// and confirmed through elicitation on every transport that can carry it —
// accepted it runs, declined nothing changes — and a client without
// elicitation gets what confirm_destructive says. The database is checked
// after each call.
func TestConfirmDestructive(t *testing.T) {
	servers, db := confirmServers(t, 20)
	victim := 0
	next := func() string { victim++; return fmt.Sprintf("victim%d", victim) }

	// Transports that can ask the user.
	asking := []surfaceCase{
		{"stateless/2026-07-28", "stateless", streamable, "2026-07-28"},
		{"stateful/2025-11-25", "stateful", streamable, "2025-11-25"},
		{"sse/2024-11-05", "stateless", legacySSE, "2024-11-05"},
	}
	for _, c := range asking {
		t.Run(c.name, func(t *testing.T) {
			for _, accept := range []bool{true, false} {
				user := &asker{accept: accept}
				cs := servers[c.mode].connectClient(t, "/rw/mcp", c.tr, c.version, user.options())
				table := next()
				res := call(t, cs, "rw_execute_sql", map[string]any{"sql": "DROP TABLE " + table + " CASCADE"})
				asked := user.take()
				if len(asked) != 1 {
					t.Fatalf("DROP TABLE asked the user %d times, want once: %q", len(asked), asked)
				}
				for _, want := range []string{"DROP TABLE", "Dry run (rolled back)", "table public." + table + " (50 rows)", "view public." + table + "_v", "2 object(s) would be dropped", "Nothing has changed yet"} {
					if !strings.Contains(asked[0], want) {
						t.Errorf("the preview lacks %q:\n%s", want, asked[0])
					}
				}
				if accept {
					if res.IsError || !strings.Contains(text(res), "confirmed by the user") {
						t.Errorf("accepted DROP TABLE: %s", text(res))
					}
					if tableExists(t, db, table) {
						t.Errorf("%s still exists after the user confirmed DROP TABLE", table)
					}
				} else {
					if !res.IsError || !strings.Contains(text(res), "declined") {
						t.Errorf("declined DROP TABLE: isError %v %s", res.IsError, text(res))
					}
					if !tableExists(t, db, table) || !tableExists(t, db, table+"_v") || rowCount(t, db, table) != 50 {
						t.Errorf("%s changed although the user declined", table)
					}
				}
			}

			// user_rw: DELETE without WHERE asks, with WHERE it does not.
			user := &asker{accept: false}
			cs := servers[c.mode].connectClient(t, "/urw/mcp", c.tr, c.version, user.options())
			table := next()
			res := call(t, cs, "urw_execute_sql", map[string]any{"sql": "DELETE FROM " + table})
			if asked := user.take(); len(asked) != 1 || !strings.Contains(asked[0], "50 row(s) would change") || !strings.Contains(asked[0], "deletes every row of "+table) {
				t.Errorf("DELETE without WHERE asked %q", asked)
			}
			if !res.IsError || rowCount(t, db, table) != 50 {
				t.Errorf("declined DELETE: isError %v, %d rows left (want 50)", res.IsError, rowCount(t, db, table))
			}
			res = call(t, cs, "urw_execute_sql", map[string]any{"sql": "DELETE FROM " + table + " WHERE id <= $1", "params": []any{10}})
			if asked := user.take(); len(asked) != 0 || res.IsError || rowCount(t, db, table) != 40 {
				t.Errorf("DELETE with WHERE: asked %q, isError %v, %d rows left (want no question, 40 rows)", asked, res.IsError, rowCount(t, db, table))
			}
		})
	}

	t.Run("accepted DELETE without WHERE", func(t *testing.T) {
		user := &asker{accept: true}
		cs := servers["stateful"].connectClient(t, "/urw/mcp", streamable, "2025-11-25", user.options())
		table := next()
		res := call(t, cs, "urw_execute_sql", map[string]any{"sql": "UPDATE " + table + " SET note = 'gone'"})
		if len(user.take()) != 1 || res.IsError {
			t.Fatalf("accepted UPDATE without WHERE: %s", text(res))
		}
		if n := pgtest.QueryValue[int64](t, db.URI, "SELECT count(*) FROM "+table+" WHERE note = 'gone'"); n != 50 {
			t.Errorf("%d rows updated, want 50", n)
		}
	})

	t.Run("no transaction", func(t *testing.T) {
		// DROP INDEX CONCURRENTLY cannot be tried in a transaction: the
		// preview says so, and the statement runs once confirmed.
		user := &asker{accept: true}
		cs := servers["stateful"].connectClient(t, "/rw/mcp", streamable, "2025-11-25", user.options())
		table := next()
		pgtest.Exec(t, db.URI, "CREATE INDEX "+table+"_note ON "+table+" (note)")
		res := call(t, cs, "rw_execute_sql", map[string]any{"sql": "DROP INDEX CONCURRENTLY " + table + "_note"})
		if asked := user.take(); len(asked) != 1 || !strings.Contains(asked[0], "Not tried first") {
			t.Errorf("DROP INDEX CONCURRENTLY asked %q", asked)
		}
		if res.IsError || tableExists(t, db, table+"_note") {
			t.Errorf("DROP INDEX CONCURRENTLY after confirmation: %s (index exists: %v)", text(res), tableExists(t, db, table+"_note"))
		}
	})

	t.Run("unsupported", func(t *testing.T) {
		// No elicitation capability (a plain client) or no way to know it
		// (a 2025-era request to a stateless server): elicit runs the
		// statement and says so, refuse refuses it.
		for _, c := range []surfaceCase{
			{"stateful/plain", "stateful", streamable, "2025-11-25"},
			{"stateless/2025-11-25", "stateless", streamable, "2025-11-25"},
		} {
			user := &asker{accept: false}
			opts := user.options()
			if c.name == "stateful/plain" {
				opts = nil
			}
			cs := servers[c.mode].connectClient(t, "/rw/mcp", c.tr, c.version, opts)
			table := next()
			res := call(t, cs, "rw_execute_sql", map[string]any{"sql": "TRUNCATE " + table})
			if res.IsError || !strings.Contains(text(res), "ran without confirmation") || rowCount(t, db, table) != 0 {
				t.Errorf("%s: TRUNCATE without elicitation (elicit): %s; %d rows left", c.name, text(res), rowCount(t, db, table))
			}
			if len(user.take()) != 0 {
				t.Errorf("%s: the user was asked although the server cannot know the client can answer", c.name)
			}
			cs = servers[c.mode].connectClient(t, "/refuse/mcp", c.tr, c.version, opts)
			table = next()
			res = call(t, cs, "refuse_execute_sql", map[string]any{"sql": "DROP TABLE " + table + " CASCADE"})
			if !res.IsError || !strings.Contains(text(res), "confirm_destructive: refuse") || !tableExists(t, db, table) {
				t.Errorf("%s: DROP TABLE on refuse without elicitation: isError %v %s; table exists %v", c.name, res.IsError, text(res), tableExists(t, db, table))
			}
		}
	})

	t.Run("never", func(t *testing.T) {
		user := &asker{accept: false}
		cs := servers["stateful"].connectClient(t, "/never/mcp", streamable, "2025-11-25", user.options())
		table := next()
		res := call(t, cs, "never_execute_sql", map[string]any{"sql": "DROP TABLE " + table + " CASCADE"})
		if len(user.take()) != 0 || res.IsError || tableExists(t, db, table) {
			t.Errorf("confirm_destructive: never: %s", text(res))
		}
	})

	t.Run("forged confirmation", func(t *testing.T) {
		// A 2026-07-28 request carrying an answer but a request state pgherd
		// did not issue is asked again, and nothing runs.
		table := next()
		body := fmt.Sprintf(`{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"rw_execute_sql","arguments":{"sql":"DROP TABLE %s CASCADE"},
			"inputResponses":{"confirm":{"action":"accept","content":{"confirm":true}}},"requestState":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
			"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"elicitation":{"form":{}}}}}}`, table)
		req, _ := http.NewRequestWithContext(ctx15(t), http.MethodPost, servers["stateless"].Base+"/rw/mcp", strings.NewReader(body))
		for k, v := range map[string]string{"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
			"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "rw_execute_sql"} {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		_, data, _ := strings.Cut(string(raw), "data: ")
		var msg struct {
			Result struct {
				ResultType    string          `json:"resultType"`
				InputRequests json.RawMessage `json:"inputRequests"`
			} `json:"result"`
		}
		if json.Unmarshal([]byte(strings.TrimSpace(data)), &msg); msg.Result.ResultType != "input_required" || !strings.Contains(string(msg.Result.InputRequests), "Dry run") {
			t.Errorf("a forged confirmation got %s, want the question again", raw)
		}
		if !tableExists(t, db, table) {
			t.Errorf("%s was dropped on a forged confirmation", table)
		}
	})
}
