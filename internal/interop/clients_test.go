package interop_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pgherd/pgherd/internal/app"
)

// checkSDK checks what clients/sdk.mjs saw: the tools, a call with an array
// of parameters, the prompts and resources, -32601 for an unknown method and
// for resources/subscribe (pgherd offers no subscriptions), all answered
// rather than hung.
func checkSDK(t *testing.T, res map[string]any, tool string) {
	t.Helper()
	raw, _ := json.Marshal(res)
	if tools := fmt.Sprint(res["tools"]); !strings.Contains(tools, tool) {
		t.Errorf("tools %s lack %s", tools, tool)
	}
	call, _ := res["call"].(map[string]any)
	if call == nil || call["isError"] != false || !strings.Contains(fmt.Sprint(call["structured"]), "[42 ok]") {
		t.Errorf("calling %s with params [40, 2, \"ok\"]: %v", tool, call)
	}
	if prompts := fmt.Sprint(res["prompts"]); !strings.Contains(prompts, "explore_schema") {
		t.Errorf("prompts %s lack explore_schema", prompts)
	}
	if resources := fmt.Sprint(res["resources"]); !strings.Contains(resources, "/database") {
		t.Errorf("resources %s lack the database resource", resources)
	}
	for _, k := range []string{"unknownMethod", "subscribe"} {
		m, _ := res[k].(map[string]any)
		if m == nil || m["code"] != float64(-32601) {
			t.Errorf("%s: %v, want JSON-RPC error -32601\n%s", k, m, raw)
		}
	}
}

// TestTypeScriptSDK: the official TypeScript SDK client over Streamable
// HTTP (stateless and stateful), legacy SSE and stdio.
func TestTypeScriptSDK(t *testing.T) {
	npmBin(t)
	uri := shop(t)
	for _, mode := range []string{"stateless", "stateful"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			s := start(t, fmt.Sprintf("server: {port: 0, session_mode: %s}\nendpoints:\n  shop: {database_uri: \"${URI}\", access_mode: user_ro}\n", mode),
				map[string]string{"URI": uri}, app.Options{})
			t.Run("http", func(t *testing.T) {
				checkSDK(t, client(t, "sdk.mjs", map[string]any{"transport": "http", "url": s.Base + "/shop/mcp", "tool": "shop_execute_sql"}), "shop_execute_sql")
			})
			if mode == "stateless" {
				t.Run("sse", func(t *testing.T) {
					checkSDK(t, client(t, "sdk.mjs", map[string]any{"transport": "sse", "url": s.Base + "/shop/sse", "tool": "shop_execute_sql"}), "shop_execute_sql")
				})
			}
		})
	}
	t.Run("stdio", func(t *testing.T) {
		t.Parallel()
		res := client(t, "sdk.mjs", map[string]any{"transport": "stdio", "command": bin,
			"args": []string{"stdio", "--database-url", uri, "--access-mode", "user_ro", "--allow-privileged-role"}, "tool": "execute_sql"})
		checkSDK(t, res, "execute_sql")
		// The quick form's endpoint is named after the database.
		db := uri[strings.LastIndexByte(uri, '/')+1:]
		if db, _, _ = strings.Cut(db, "?"); fmt.Sprint(res["server"]) != fmt.Sprintf("map[name:pgherd-%s title:pgherd %s version:dev]", db, db) {
			t.Errorf("stdio quick form server info %v, want it named after database %s", res["server"], db)
		}
	})
}

// TestMCPRemote: Claude Desktop's stdio bridge to an HTTP server, as the
// demo's Claude Desktop snippet uses it (mcp-remote URL), driven by the
// TypeScript SDK's stdio client the way Claude Desktop drives it.
func TestMCPRemote(t *testing.T) {
	bins := npmBin(t)
	s := start(t, "server: {port: 0}\nendpoints:\n  shop: {database_uri: \"${URI}\", access_mode: user_ro}\n", map[string]string{"URI": shop(t)}, app.Options{})
	res := client(t, "sdk.mjs", map[string]any{"transport": "stdio", "command": bins + "/mcp-remote",
		"args": []string{s.Base + "/shop/mcp"}, "tool": "shop_execute_sql"})
	checkSDK(t, res, "shop_execute_sql")
}

// TestInspectorCLI: the MCP Inspector's CLI lists the tools and calls one
// with an array argument given on the command line, over Streamable HTTP,
// legacy SSE and stdio.
func TestInspectorCLI(t *testing.T) {
	npmBin(t)
	uri := shop(t)
	s := start(t, "server: {port: 0}\nendpoints:\n  shop: {database_uri: \"${URI}\", access_mode: user_ro}\n", map[string]string{"URI": uri}, app.Options{})
	for _, c := range []struct {
		name   string
		target []string
		tool   string
	}{
		{"http", []string{s.Base + "/shop/mcp"}, "shop_execute_sql"},
		{"sse", []string{s.Base + "/shop/sse"}, "shop_execute_sql"},
		{"stdio", []string{bin, "stdio", "--database-url", uri, "--access-mode", "user_ro", "--allow-privileged-role"}, "execute_sql"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			list := nodeRun(t, 2*time.Minute, "inspector", append(append([]string{"--cli"}, c.target...), "--method", "tools/list")...)
			var tl struct {
				Tools []struct {
					Name        string          `json:"name"`
					InputSchema json.RawMessage `json:"inputSchema"`
				} `json:"tools"`
			}
			if err := json.Unmarshal([]byte(list), &tl); err != nil || len(tl.Tools) == 0 {
				t.Fatalf("tools/list: %v\n%s", err, list)
			}
			for _, tool := range tl.Tools {
				if strings.Contains(string(tool.InputSchema), `"null"`) {
					t.Errorf("%s input schema has a nullable type: %s", tool.Name, tool.InputSchema)
				}
			}
			out := nodeRun(t, 2*time.Minute, "inspector", append(append([]string{"--cli"}, c.target...), "--method", "tools/call",
				"--tool-name", c.tool, "--tool-arg", "sql=SELECT name FROM items WHERE id = ANY($1::int[]) AND $2 = ANY(tags) ORDER BY id",
				"--tool-arg", `params=[[1,2],"fruit"]`)...)
			var res struct {
				IsError           bool `json:"isError"`
				StructuredContent struct {
					Rows [][]any `json:"rows"`
				} `json:"structuredContent"`
			}
			if err := json.Unmarshal([]byte(out), &res); err != nil || res.IsError || fmt.Sprint(res.StructuredContent.Rows) != "[[apple]]" {
				t.Errorf("tools/call with array arguments: %v\n%s", err, out)
			}
		})
	}
}

// TestLangChain: LangChain's MultiServerMCPClient with an Authorization
// header against an api_key endpoint (the first design document's client),
// and the same client without the header refused.
func TestLangChain(t *testing.T) {
	npmBin(t)
	s := start(t, `server: {port: 0}
endpoints:
  shop:
    database_uri: "${URI}"
    access_mode: user_ro
    auth:
      mode: api_key
      api_keys: [{name: agent, key: "${KEY}", tenant: acme}]
`, map[string]string{"URI": shop(t), "KEY": "interop-test-key-0123456789abcdef"}, app.Options{})
	res := client(t, "langchain.mjs", map[string]any{"url": s.Base + "/shop/mcp", "tool": "shop_execute_sql",
		"headers": map[string]string{"Authorization": "Bearer interop-test-key-0123456789abcdef"}})
	if !strings.Contains(fmt.Sprint(res["tools"]), "shop_execute_sql") || !strings.Contains(fmt.Sprint(res["result"]), "hello") {
		t.Errorf("LangChain saw %v", res)
	}
	arg, _ := json.Marshal(map[string]any{"url": s.Base + "/shop/mcp", "tool": "shop_execute_sql",
		"headers": map[string]string{"Authorization": "Bearer wrong"}})
	if out, _, err := nodeTry(t, 2*time.Minute, nil, "node", "clients/langchain.mjs", string(arg)); err == nil {
		t.Errorf("a wrong key was accepted: %s", out)
	}
}
