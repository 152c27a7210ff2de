package tools

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// typed turns a typed handler into go-sdk's raw ToolHandler, filling tool's
// input and output schemas from In and Out.
//
// go-sdk's own typed path (mcp.AddTool) does the same and also validates
// every result against the output schema: it marshals the result, decodes it
// into a generic value, walks the schema over it and marshals it again. Our
// results are Go values of the very types the schema was inferred from, so
// that check cannot fail; for a 100-row execute_sql it cost about as much as
// the rest of the handler. Input is validated as go-sdk does: arguments come
// from the model and are checked against the schema before decoding.
func typed[In, Out any](tool *mcp.Tool, h mcp.ToolHandlerFor[In, Out]) mcp.ToolHandler {
	in, err := jsonschema.For[In](nil)
	if err != nil || in == nil || in.Type != "object" {
		panic(fmt.Sprintf("tools: %s: input type %T must be a struct (%v)", tool.Name, *new(In), err))
	}
	resolved, err := in.Resolve(nil)
	if err != nil {
		panic(fmt.Sprintf("tools: %s: input schema: %v", tool.Name, err))
	}
	tool.InputSchema = in
	if ot := reflect.TypeFor[Out](); ot != reflect.TypeFor[any]() {
		if ot.Kind() == reflect.Pointer {
			ot = ot.Elem()
		}
		out, err := jsonschema.ForType(ot, nil)
		if err != nil {
			panic(fmt.Sprintf("tools: %s: output schema: %v", tool.Name, err))
		}
		tool.OutputSchema = out
	}
	return func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		args, err := decodeArgs[In](req.Params.Arguments, resolved)
		if err != nil {
			return errorResult(err), nil
		}
		res, out, err := h(ctx, req, args)
		if err != nil {
			if wire, ok := err.(*jsonrpc.Error); ok {
				return nil, wire
			}
			return errorResult(err), nil
		}
		if res == nil {
			res = &mcp.CallToolResult{}
		}
		if reflect.ValueOf(&out).Elem().IsZero() {
			return res, nil
		}
		data, err := json.Marshal(out)
		if err != nil {
			return nil, fmt.Errorf("marshaling the result of %s: %w", tool.Name, err)
		}
		res.StructuredContent = json.RawMessage(data)
		if res.Content == nil {
			res.Content = []mcp.Content{&mcp.TextContent{Text: string(data)}}
		}
		return res, nil
	}
}

// decodeArgs validates raw arguments against the input schema, then decodes
// them. Absent arguments are an empty object.
func decodeArgs[In any](raw json.RawMessage, schema *jsonschema.Resolved) (In, error) {
	var in In
	if len(raw) == 0 || string(raw) == "null" {
		raw = json.RawMessage("{}")
	}
	var generic map[string]any
	if err := json.Unmarshal(raw, &generic); err != nil {
		return in, fmt.Errorf("arguments must be a JSON object: %v", err)
	}
	if err := schema.Validate(generic); err != nil {
		return in, fmt.Errorf("invalid arguments: %v", err)
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		return in, fmt.Errorf("invalid arguments: %v", err)
	}
	return in, nil
}

func errorResult(err error) *mcp.CallToolResult {
	var res mcp.CallToolResult
	res.SetError(err)
	return &res
}
