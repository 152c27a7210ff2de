package tools

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/pg"
)

// EncodeResults is receiving middleware that lets a large tool result
// (one text content and JSON structured content, as execute_sql returns)
// be encoded in one pass. go-sdk's CallToolResult.MarshalJSON encodes the
// text by json.Marshal and then copies and validates both copies of the
// rows again on their way into the response; with 1,000 rows that was a
// fifth of the server's CPU per call. The result handed on keeps every
// method of *mcp.CallToolResult (go-sdk still sets its resultType and
// _meta after the middleware) and marshals to exactly the bytes
// CallToolResult.MarshalJSON gives (TestEncodeResultsSameBytes). Add it
// last, so that it is the outermost receiving middleware and every other
// one sees the *mcp.CallToolResult itself.
func EncodeResults(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		res, err := next(ctx, method, req)
		if err != nil || method != "tools/call" {
			return res, err
		}
		if ct, ok := res.(*mcp.CallToolResult); ok && ct != nil && oneTextAndJSON(ct) != nil {
			return &encodedResult{ct}, nil
		}
		return res, err
	}
}

// oneTextAndJSON returns the text of a result made of one plain text
// content and structured content already encoded as JSON; else nil. Small
// results take the same path (it costs them nothing), so that every
// execute_sql call in the tests goes through it.
func oneTextAndJSON(ct *mcp.CallToolResult) *mcp.TextContent {
	if len(ct.Content) != 1 {
		return nil
	}
	tc, ok := ct.Content[0].(*mcp.TextContent)
	if !ok || tc == nil || tc.Meta != nil || tc.Annotations != nil {
		return nil
	}
	sc, ok := ct.StructuredContent.(json.RawMessage)
	if !ok || sc == nil {
		return nil
	}
	return tc
}

// encodedResult is a tool result that marshals in one pass.
type encodedResult struct{ *mcp.CallToolResult }

// markers stand in for the text and the structured content while go-sdk
// marshals the rest of the result; random, so that no value can hold them.
var (
	textMarker       = "pgherd-text-" + rand.Text()
	structuredMarker = `"pgherd-structured-` + rand.Text() + `"`
)

// MarshalJSON lets go-sdk marshal the result with small stand-ins for the
// text and the structured content (so every other field is written as
// go-sdk writes it, whatever it set), then writes the two in their place:
// the text as json.Marshal writes a string, the structured content
// HTML-escaped as json.Marshal writes a json.RawMessage (it is compact
// already: the rest of go-sdk's marshalling compacts it anyway).
func (r *encodedResult) MarshalJSON() ([]byte, error) {
	ct := r.CallToolResult
	tc := oneTextAndJSON(ct)
	if tc == nil {
		return ct.MarshalJSON()
	}
	sc := ct.StructuredContent.(json.RawMessage)
	shell := *ct
	shell.Content = []mcp.Content{&mcp.TextContent{Text: textMarker}}
	shell.StructuredContent = json.RawMessage(structuredMarker)
	b, err := shell.MarshalJSON()
	if err != nil {
		return nil, err
	}
	quoted := `"` + textMarker + `"`
	i := bytes.Index(b, []byte(quoted))
	j := bytes.Index(b, []byte(structuredMarker))
	if i < 0 || j < i+len(quoted) {
		return ct.MarshalJSON() // not the layout expected: go-sdk's own way
	}
	out := make([]byte, 0, len(b)+len(tc.Text)+len(tc.Text)/8+len(sc)+len(sc)/16+64)
	out = append(out, b[:i]...)
	out = pg.AppendJSONString(out, tc.Text, true)
	out = append(out, b[i+len(quoted):j]...)
	out = appendHTMLEscaped(out, sc)
	out = append(out, b[j+len(structuredMarker):]...)
	return out, nil
}

const hexDigits = "0123456789abcdef"

// appendHTMLEscaped appends the JSON text src with <, > and & escaped as
// json.Marshal escapes them (they can only occur inside strings), and
// U+2028 and U+2029 escaped.
func appendHTMLEscaped(b, src []byte) []byte {
	start := 0
	for i := 0; i < len(src); i++ {
		c := src[i]
		if c == '<' || c == '>' || c == '&' {
			b = append(b, src[start:i]...)
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			start = i + 1
		}
		if c == 0xE2 && i+2 < len(src) && src[i+1] == 0x80 && src[i+2]&^1 == 0xA8 {
			b = append(b, src[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[src[i+2]&0xF])
			start = i + 3
			i += 2
		}
	}
	return append(b, src[start:]...)
}
