package tools

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/pg"
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
	plainTypes(in)
	resolved, err := in.Resolve(nil)
	if err != nil {
		panic(fmt.Sprintf("tools: %s: input schema: %v", tool.Name, err))
	}
	// The schemas go to go-sdk as JSON, marshalled once here: go-sdk
	// marshals a *jsonschema.Schema by reflection on every tools/list and,
	// for protocol 2026-07-28 and later, on every tools/call (it looks for
	// x-mcp-header annotations), while a json.RawMessage is only copied.
	// The bytes are those go-sdk would have written.
	tool.InputSchema = mustMarshal(tool.Name, "input", in)
	if ot := reflect.TypeFor[Out](); ot != reflect.TypeFor[any]() {
		if ot.Kind() == reflect.Pointer {
			ot = ot.Elem()
		}
		out, err := jsonschema.ForType(ot, nil)
		if err != nil {
			panic(fmt.Sprintf("tools: %s: output schema: %v", tool.Name, err))
		}
		tool.OutputSchema = mustMarshal(tool.Name, "output", lean(out))
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
		data, err := marshalOut(out)
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

// marshalOut encodes a handler's output. An output that marshals itself
// (a database result writes the rows it encoded already) is asked
// directly: json.Marshal would validate and copy its bytes once more, and
// go-sdk compacts and HTML-escapes the structured content anyway when it
// writes the response.
func marshalOut(out any) ([]byte, error) {
	if m, ok := out.(json.Marshaler); ok {
		return m.MarshalJSON()
	}
	return json.Marshal(out)
}

// mustMarshal returns schema as JSON.
func mustMarshal(tool, which string, schema *jsonschema.Schema) json.RawMessage {
	data, err := json.Marshal(schema)
	if err != nil {
		panic(fmt.Sprintf("tools: %s: marshaling the %s schema: %v", tool, which, err))
	}
	return data
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
	// An optional argument sent as null means "not given": some clients
	// fill every property of the schema.
	for k, v := range generic {
		if v == nil && !slices.Contains(schema.Schema().Required, k) {
			delete(generic, k)
		}
	}
	if err := schema.Validate(generic); err != nil {
		return in, fmt.Errorf("invalid arguments: %v", err)
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		return in, fmt.Errorf("invalid arguments: %v", err)
	}
	return in, nil
}

// plainTypes rewrites, in s and every schema below it, the type lists the
// schema inference gives Go slices, maps and pointers (["null", "array"])
// into the plain type: a model or a CLI passes an array where a schema says
// "array", while some clients cannot build a value for a type list and
// strict function-calling APIs refuse it. An argument that is required is
// then required to have the type, not null.
func plainTypes(s *jsonschema.Schema) {
	if s == nil {
		return
	}
	if len(s.Types) == 2 && slices.Contains(s.Types, "null") {
		for _, t := range s.Types {
			if t != "null" {
				s.Type = t
			}
		}
		s.Types = nil
	}
	for _, p := range s.Properties {
		plainTypes(p)
	}
	plainTypes(s.Items)
	plainTypes(s.AdditionalProperties)
	for _, d := range s.Defs {
		plainTypes(d)
	}
}

// lean returns the output schema a model needs: the top-level properties
// with their types and descriptions. Nested objects and arrays keep only
// their type; their fields are described in the tool's description and
// seen in every result. The full inferred schema of get_object_details was
// 14 KB of a 21.5 KB tools/list. A shallower schema still validates every
// result the full one did.
func lean(full *jsonschema.Schema) *jsonschema.Schema {
	out := &jsonschema.Schema{Type: full.Type, Types: full.Types, Required: full.Required, Properties: make(map[string]*jsonschema.Schema, len(full.Properties))}
	for name, p := range full.Properties {
		out.Properties[name] = &jsonschema.Schema{Type: p.Type, Types: p.Types, Description: p.Description}
	}
	return out
}

func errorResult(err error) *mcp.CallToolResult {
	var res mcp.CallToolResult
	res.SetError(publicError{err})
	return &res
}

// publicError is a tool error as the client sees it: without the database
// user, host or port a connection error carries (pg.PublicText).
type publicError struct{ err error }

func (e publicError) Error() string { return pg.PublicText(e.err) }
func (e publicError) Unwrap() error { return e.err }
