package tools

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

type echoIn struct {
	SQL  string `json:"sql" jsonschema:"the statement"`
	Rows int    `json:"rows,omitempty"`
}

type echoOut struct {
	SQL  string  `json:"sql"`
	Rows [][]any `json:"rows"`
}

func TestTyped(t *testing.T) {
	tool := &mcp.Tool{Name: "echo"}
	h := typed(tool, func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, *echoOut, error) {
		switch in.SQL {
		case "fail":
			return nil, nil, errors.New("it failed")
		case "wire":
			return nil, nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "bad"}
		}
		rows := make([][]any, in.Rows)
		for i := range rows {
			rows[i] = []any{i, "x"}
		}
		return nil, &echoOut{SQL: in.SQL, Rows: rows}, nil
	})
	if s, _ := json.Marshal(tool.InputSchema); !strings.Contains(string(s), `"required":["sql"]`) {
		t.Errorf("input schema = %s, want sql required", s)
	}
	if tool.OutputSchema == nil {
		t.Errorf("no output schema")
	}
	call := func(args string) (*mcp.CallToolResult, error) {
		req := &mcp.CallToolRequest{Params: &mcp.CallToolParamsRaw{Name: "echo", Arguments: json.RawMessage(args)}}
		return h(context.Background(), req)
	}
	for _, tc := range []struct {
		args, wantErr string
	}{
		{`{}`, `missing properties: ["sql"]`},
		{``, `missing properties: ["sql"]`},
		{`{"sql": 3}`, `sql`},
		{`{"sql": "x", "bogus": 1}`, `bogus`},
		{`[1]`, "must be a JSON object"},
		{`{"sql": "fail"}`, "it failed"},
	} {
		res, err := call(tc.args)
		if err != nil || !res.IsError {
			t.Errorf("args %s: err %v, result %+v; want a tool error", tc.args, err, res)
			continue
		}
		if text := res.Content[0].(*mcp.TextContent).Text; !strings.Contains(text, tc.wantErr) {
			t.Errorf("args %s: error %q, want it to mention %q", tc.args, text, tc.wantErr)
		}
	}
	if _, err := call(`{"sql": "wire"}`); err == nil {
		t.Errorf("a *jsonrpc.Error from the handler must stay a protocol error")
	}
	res, err := call(`{"sql": "ok", "rows": 2}`)
	if err != nil || res.IsError {
		t.Fatalf("ok call: %v %+v", err, res)
	}
	want := `{"sql":"ok","rows":[[0,"x"],[1,"x"]]}`
	if got := string(res.StructuredContent.(json.RawMessage)); got != want {
		t.Errorf("structured content %s, want %s", got, want)
	}
	if got := res.Content[0].(*mcp.TextContent).Text; got != want {
		t.Errorf("text %s, want the JSON", got)
	}
}

// The schemas go to go-sdk marshalled once; tools/list shows the bytes the
// *jsonschema.Schema values would have given.
func TestTypedSchemasAsJSON(t *testing.T) {
	tool := &mcp.Tool{Name: "echo"}
	typed(tool, func(context.Context, *mcp.CallToolRequest, echoIn) (*mcp.CallToolResult, *echoOut, error) {
		return nil, nil, nil
	})
	in, err := jsonschema.For[echoIn](nil)
	if err != nil {
		t.Fatal(err)
	}
	plainTypes(in)
	out, err := jsonschema.For[echoOut](nil)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(&mcp.Tool{Name: "echo", InputSchema: in, OutputSchema: lean(out)})
	got, _ := json.Marshal(tool)
	if string(got) != string(want) {
		t.Errorf("tool =\n%s\nwant\n%s", got, want)
	}
	if _, ok := tool.InputSchema.(json.RawMessage); !ok {
		t.Errorf("input schema is a %T, want json.RawMessage", tool.InputSchema)
	}
}
