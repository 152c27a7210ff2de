package tools

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// tricky holds everything a JSON string escapes differently: quotes,
// backslashes, control characters, HTML characters, invalid UTF-8, U+2028
// and U+2029, multi-byte runes.
const tricky = "plain \"quoted\" \\ <b>&amp;</b> \t\n\r\b\f\x00\x01\x1f\x7f bad\xff\xfe \u2028\u2029 é 日本 🐘"

// The one-pass encoding gives the bytes CallToolResult.MarshalJSON gives.
func TestEncodeResultsSameBytes(t *testing.T) {
	var all strings.Builder
	for c := range 256 {
		all.WriteByte(byte(c))
	}
	structured, _ := json.Marshal(map[string]any{"rows": []any{tricky, 1.5, nil}, "k<>": "\u2028&"})
	// The raw bytes of U+2028 inside a string, which json.Marshal escapes.
	rawSeparator := json.RawMessage("{\"a\":\"x\u2028y<\"}")
	withType := &mcp.CallToolResult{}
	if err := json.Unmarshal([]byte(`{"content":[{"type":"text","text":"t"}],"resultType":"complete"}`), withType); err != nil {
		t.Fatal(err)
	}
	withType.StructuredContent = json.RawMessage(structured)
	cases := map[string]*mcp.CallToolResult{
		"tricky":     {Content: []mcp.Content{&mcp.TextContent{Text: tricky}}, StructuredContent: json.RawMessage(structured)},
		"every byte": {Content: []mcp.Content{&mcp.TextContent{Text: all.String()}}, StructuredContent: rawSeparator},
		"empty text": {Content: []mcp.Content{&mcp.TextContent{}}, StructuredContent: json.RawMessage(`{}`)},
		"error and meta": {Content: []mcp.Content{&mcp.TextContent{Text: "a<b"}}, StructuredContent: json.RawMessage(`[1]`),
			IsError: true, Meta: mcp.Meta{"k": "v<", "io.modelcontextprotocol/serverInfo": map[string]any{"name": "x"}}},
		"result type": withType,
	}
	for name, ct := range cases {
		want, err := ct.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		res, err := EncodeResults(func(context.Context, string, mcp.Request) (mcp.Result, error) { return ct, nil })(context.Background(), "tools/call", nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := res.(*encodedResult); !ok {
			t.Fatalf("%s: result is a %T, want it encoded in one pass", name, res)
		}
		got, err := json.Marshal(res) // as go-sdk's jsonrpc2 marshals it (it then compacts the bytes once more)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if string(got) != string(want) {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
	}
}

// Results of another shape, other methods and errors pass through as they
// are.
func TestEncodeResultsLeavesOthers(t *testing.T) {
	for _, res := range []mcp.Result{
		&mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "no structured content"}}},
		&mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "a"}, &mcp.TextContent{Text: "b"}}, StructuredContent: json.RawMessage(`{}`)},
		&mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "a", Annotations: &mcp.Annotations{Priority: 1}}}, StructuredContent: json.RawMessage(`{}`)},
		&mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "a"}}, StructuredContent: map[string]any{"k": 1}},
		&mcp.ListToolsResult{},
	} {
		got, _ := EncodeResults(func(context.Context, string, mcp.Request) (mcp.Result, error) { return res, nil })(context.Background(), "tools/call", nil)
		if got != res {
			t.Errorf("%#v was replaced by %#v", res, got)
		}
	}
	ct := &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "a"}}, StructuredContent: json.RawMessage(`{}`)}
	if got, _ := EncodeResults(func(context.Context, string, mcp.Request) (mcp.Result, error) { return ct, nil })(context.Background(), "prompts/get", nil); got != ct {
		t.Errorf("a result of another method was replaced")
	}
}

// Through go-sdk (client and server over in-memory transports), a tool's
// result reaches the client the same with the middleware as without.
func TestEncodeResultsThroughSDK(t *testing.T) {
	ctx := context.Background()
	call := func(encode bool) *mcp.CallToolResult {
		s := mcp.NewServer(&mcp.Implementation{Name: "s", Version: "1"}, nil)
		s.AddTool(&mcp.Tool{Name: "t", InputSchema: json.RawMessage(`{"type":"object"}`)}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			sc, _ := json.Marshal(map[string]any{"v": tricky})
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: tricky}}, StructuredContent: json.RawMessage(sc)}, nil
		})
		if encode {
			s.AddReceivingMiddleware(EncodeResults)
		}
		st, ct := mcp.NewInMemoryTransports()
		ss, err := s.Connect(ctx, st, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer ss.Close()
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, nil).Connect(ctx, ct, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer cs.Close()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "t"})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	want, _ := json.Marshal(call(false))
	got, _ := json.Marshal(call(true))
	if string(got) != string(want) {
		t.Errorf("with EncodeResults the client got\n%s\nwithout\n%s", got, want)
	}
	if !strings.Contains(string(got), "🐘") {
		t.Errorf("result %s lost its text", got)
	}
}

func BenchmarkEncodeResults(b *testing.B) {
	var text strings.Builder
	text.WriteString("columns: id bigint, customer_id bigint, status order_status, placed_at timestamp with time zone, total numeric, country character(2)\n")
	var rows []string
	for i := range 1000 {
		line := `[` + strings.Repeat("1", 6) + `,` + strings.Repeat("7", 5) + `,"shipped","2026-01-02T03:04:05.123456+00:00",123.45,"DE"]`
		text.WriteString(line + "\n")
		rows = append(rows, line)
		_ = i
	}
	text.WriteString("1000 rows")
	sc := json.RawMessage(`{"columns":[],"rows":[` + strings.Join(rows, ",") + `],"row_count":1000,"truncated":false,"elapsed_ms":1.5}`)
	ct := &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text.String()}}, StructuredContent: sc}
	b.Run("go-sdk", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(ct); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("one-pass", func(b *testing.B) {
		r := &encodedResult{ct}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(r); err != nil {
				b.Fatal(err)
			}
		}
	})
}
