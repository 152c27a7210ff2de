//lint:file-ignore SA1019 the suite exercises logging, sampling and roots, which protocol 2026-07-28 deprecates (SEP-2577) but still tests

package interop_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/app"
	"github.com/pgherd/pgherd/internal/endpoint"
)

// The conformance fixture: the tools, resources and prompts the official
// conformance suite calls by name, added to one database endpoint of a
// pgherd assembled as `pgherd serve` assembles it. Requests reach them
// through pgherd's HTTP server, its authentication middleware, the protocol
// gate and every receiving middleware, exactly as they reach the database
// tools on the same endpoint. What each returns is what the suite's
// scenarios check (their sources are in testdata/node_modules/conformance*/
// dist/index.js); the content is the suite's, the code ours.

// fixtureEndpoint is the endpoint the fixture is added to.
const fixtureEndpoint = "fixture"

// Fixed content the scenarios compare against.
const (
	pngBase64  = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==" // 1×1 PNG
	wavBase64  = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA="                                     // silent WAV
	watchedURI = "test://watched-resource"
)

func decoded(s string) []byte {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// fixtureOptions returns the app options that add the fixture to
// fixtureEndpoint: a resource subscription handler and a completion
// handler for the fixture's prompts (both only settable when the server is
// created), and the features themselves once the servers are built.
func fixtureOptions() app.Options {
	fixturePrompts := map[string]bool{}
	for _, p := range fixturePromptList() {
		fixturePrompts[p.prompt.Name] = true
	}
	return app.Options{
		ServerOptions: func(node string, opts *mcp.ServerOptions) {
			if node != fixtureEndpoint {
				return
			}
			opts.SubscribeHandler = func(context.Context, *mcp.SubscribeRequest) error { return nil }
			opts.UnsubscribeHandler = func(context.Context, *mcp.UnsubscribeRequest) error { return nil }
			pgherd := opts.CompletionHandler
			opts.CompletionHandler = func(ctx context.Context, req *mcp.CompleteRequest) (*mcp.CompleteResult, error) {
				if ref := req.Params.Ref; pgherd == nil || ref.Type == "ref/prompt" && fixturePrompts[ref.Name] || strings.HasPrefix(ref.URI, "test://") {
					return &mcp.CompleteResult{Completion: mcp.CompletionResultDetails{Values: []string{}}}, nil
				}
				return pgherd(ctx, req)
			}
		},
		Extend: func(h *endpoint.Herd) {
			for _, n := range h.Endpoints {
				if n.Name == fixtureEndpoint {
					addFixture(n.Server)
				}
			}
		},
	}
}

// addFixture adds the suite's tools, resources and prompts to s.
func addFixture(s *mcp.Server) {
	text := func(t string) []mcp.Content { return []mcp.Content{&mcp.TextContent{Text: t}} }
	plain := func(content ...mcp.Content) mcp.ToolHandler {
		return func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{Content: content}, nil
		}
	}
	add := func(name, desc string, h mcp.ToolHandler) {
		s.AddTool(&mcp.Tool{Name: name, Description: desc, InputSchema: json.RawMessage(`{"type":"object"}`)}, h)
	}
	addWith := func(name, desc, schema string, h mcp.ToolHandler) {
		s.AddTool(&mcp.Tool{Name: name, Description: desc, InputSchema: json.RawMessage(schema)}, h)
	}
	png, wav := decoded(pngBase64), decoded(wavBase64)

	// Content of every kind (tools-call-*).
	add("test_simple_text", "Returns one text item.", plain(&mcp.TextContent{Text: "This is a simple text response for testing."}))
	add("test_image_content", "Returns one image.", plain(&mcp.ImageContent{Data: png, MIMEType: "image/png"}))
	add("test_audio_content", "Returns one audio clip.", plain(&mcp.AudioContent{Data: wav, MIMEType: "audio/wav"}))
	add("test_embedded_resource", "Returns an embedded resource.", plain(&mcp.EmbeddedResource{Resource: &mcp.ResourceContents{
		URI: "test://embedded-resource", MIMEType: "text/plain", Text: "This is an embedded resource"}}))
	add("test_multiple_content_types", "Returns text, an image and an embedded resource.", plain(
		&mcp.TextContent{Text: "This is text content"},
		&mcp.ImageContent{Data: png, MIMEType: "image/png"},
		&mcp.EmbeddedResource{Resource: &mcp.ResourceContents{URI: "test://embedded-in-multiple", MIMEType: "text/plain", Text: "This is an embedded resource"}}))
	add("test_error_handling", "Always fails with a tool error.", func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		var res mcp.CallToolResult
		res.SetError(fmt.Errorf("this tool intentionally returns an error for testing"))
		return &res, nil
	})

	// Notifications during a call.
	add("test_tool_with_logging", "Logs three messages while it runs.", func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		for _, m := range []string{"Tool execution started", "Tool processing data", "Tool execution completed"} {
			_ = req.Session.Log(ctx, &mcp.LoggingMessageParams{Level: "info", Data: m})
		}
		return &mcp.CallToolResult{Content: text("Tool with logging executed successfully")}, nil
	})
	add("test_logging_tool", "Tries to log; the level the client asked for decides whether it is sent.", func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		_ = req.Session.Log(ctx, &mcp.LoggingMessageParams{Level: "info", Data: "test_logging_tool executed"})
		return &mcp.CallToolResult{Content: text("log attempted")}, nil
	})
	add("test_tool_with_progress", "Reports progress 0, 50 and 100 of 100.", func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		token := req.Params.GetProgressToken()
		for _, p := range []float64{0, 50, 100} {
			_ = req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: token, Progress: p, Total: 100, Message: fmt.Sprintf("step %.0f of 100", p)})
		}
		return &mcp.CallToolResult{Content: text(fmt.Sprint(token))}, nil
	})
	add("test_reconnection", "Closes its event stream mid-call; the result arrives after the client reconnects.", func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		if req.Extra != nil && req.Extra.CloseSSEStream != nil {
			req.Extra.CloseSSEStream(mcp.CloseSSEStreamArgs{RetryAfter: 10 * time.Millisecond})
		}
		select { // the result must go to the resumed stream, not the closed one
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return &mcp.CallToolResult{Content: text("Reconnection test completed successfully.")}, nil
	})

	// Requests to the client in the middle of a call (2025 revisions).
	addWith("test_sampling", "Asks the client's model to answer prompt.", `{"type":"object","properties":{"prompt":{"type":"string"}},"required":["prompt"]}`,
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			var in struct{ Prompt string }
			_ = json.Unmarshal(req.Params.Arguments, &in)
			res, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{MaxTokens: 100,
				Messages: []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: in.Prompt}}}})
			if err != nil {
				return nil, fmt.Errorf("sampling failed: %w", err)
			}
			answer := "(not text)"
			if t, ok := res.Content.(*mcp.TextContent); ok {
				answer = t.Text
			}
			return &mcp.CallToolResult{Content: text("LLM response: " + answer)}, nil
		})
	elicit := func(message string, schema any) mcp.ToolHandler {
		return func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			msg := message
			if msg == "" {
				var in struct{ Message string }
				_ = json.Unmarshal(req.Params.Arguments, &in)
				msg = in.Message
			}
			res, err := req.Session.Elicit(ctx, &mcp.ElicitParams{Message: msg, RequestedSchema: schema})
			if err != nil {
				return nil, fmt.Errorf("elicitation failed: %w", err)
			}
			return &mcp.CallToolResult{Content: text(fmt.Sprintf("Elicitation result: action=%s, content=%v", res.Action, res.Content))}, nil
		}
	}
	addWith("test_elicitation", "Asks the user for a username.", `{"type":"object","properties":{"message":{"type":"string"}},"required":["message"]}`,
		elicit("", json.RawMessage(`{"type":"object","properties":{"username":{"type":"string","description":"Your preferred username"}},"required":["username"]}`)))
	add("test_elicitation_sep1034_defaults", "Elicits primitives with default values (SEP-1034).", elicit("Test defaults for primitives", json.RawMessage(`{"type":"object","properties":{
		"name":{"type":"string","description":"User name","default":"John Doe"},
		"age":{"type":"integer","description":"User age","default":30},
		"score":{"type":"number","description":"User score","default":95.5},
		"status":{"type":"string","description":"User status","enum":["active","inactive","pending"],"default":"active"},
		"verified":{"type":"boolean","description":"Verification status","default":true}}}`)))
	add("test_elicitation_sep1330_enums", "Elicits every enum form (SEP-1330).", elicit("Test enum schemas", json.RawMessage(`{"type":"object","properties":{
		"untitledSingle":{"type":"string","enum":["option1","option2","option3"]},
		"titledSingle":{"type":"string","oneOf":[{"const":"value1","title":"First Option"},{"const":"value2","title":"Second Option"},{"const":"value3","title":"Third Option"}]},
		"legacyEnum":{"type":"string","enum":["opt1","opt2","opt3"],"enumNames":["Option One","Option Two","Option Three"]},
		"untitledMulti":{"type":"array","minItems":1,"maxItems":3,"items":{"type":"string","enum":["option1","option2","option3"]}},
		"titledMulti":{"type":"array","minItems":1,"maxItems":3,"items":{"anyOf":[{"const":"value1","title":"First Option"},{"const":"value2","title":"Second Option"},{"const":"value3","title":"Third Option"}]}}}}`)))

	// Schemas and headers.
	addWith("json_schema_2020_12_tool", "Input schema using JSON Schema 2020-12 keywords (SEP-1613, SEP-2106).", `{
		"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object",
		"$defs":{"address":{"$anchor":"addressDef","type":"object","properties":{"street":{"type":"string"},"city":{"type":"string"}}}},
		"properties":{"name":{"type":"string"},"address":{"$ref":"#/$defs/address"},"contactMethod":{"type":"string","enum":["phone","email"]},"phone":{"type":"string"},"email":{"type":"string"}},
		"allOf":[{"anyOf":[{"required":["phone"]},{"required":["email"]}]}],
		"if":{"properties":{"contactMethod":{"const":"phone"}},"required":["contactMethod"]},"then":{"required":["phone"]},"else":{"required":["email"]},
		"additionalProperties":false}`,
		func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{Content: text("called with " + string(req.Params.Arguments))}, nil
		})
	addWith("test_x_mcp_header", "Mirrors region into the Mcp-Param-Region header (SEP-2243).", `{"type":"object","properties":{
		"region":{"type":"string","x-mcp-header":"Region"},"level":{"type":"integer"}}}`,
		func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			var in struct{ Region string }
			_ = json.Unmarshal(req.Params.Arguments, &in)
			return &mcp.CallToolResult{Content: text("region=" + in.Region)}, nil
		})

	// Stateless protocol (2026-07-28, SEP-2575).
	add("test_missing_capability", "Needs the client's sampling capability.", func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		if c := req.ClientCapabilities(); c != nil && c.Sampling != nil {
			return &mcp.CallToolResult{Content: text("the client can sample")}, nil
		}
		data, _ := json.Marshal(mcp.MissingRequiredClientCapabilityData{RequiredCapabilities: &mcp.ClientCapabilities{Sampling: &mcp.SamplingCapabilities{}}})
		return nil, &jsonrpc.Error{Code: mcp.CodeMissingRequiredClientCapabilities, Message: "this tool needs the client's sampling capability", Data: data}
	})
	add("test_streaming_elicitation", "Answers with a plain result: a response stream carries no requests of its own.", plain(&mcp.TextContent{Text: "result only"}))
	add("test_trigger_tool_change", "Adds a tool, so that tools/list_changed is sent.", func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		add("transient_tool", "Exists to change the tool list.", plain())
		return &mcp.CallToolResult{Content: text("tools changed")}, nil
	})
	add("test_trigger_prompt_change", "Adds a prompt, so that prompts/list_changed is sent.", func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		s.AddPrompt(&mcp.Prompt{Name: "transient_prompt"}, func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			return &mcp.GetPromptResult{}, nil
		})
		return &mcp.CallToolResult{Content: text("prompts changed")}, nil
	})
	addInputRequired(add)

	// Resources.
	s.AddResource(&mcp.Resource{Name: "static-text", URI: "test://static-text", MIMEType: "text/plain", Description: "Static text."},
		func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, MIMEType: "text/plain", Text: "This is the content of the static text resource."}}}, nil
		})
	s.AddResource(&mcp.Resource{Name: "static-binary", URI: "test://static-binary", MIMEType: "image/png", Description: "A PNG image."},
		func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, MIMEType: "image/png", Blob: png}}}, nil
		})
	s.AddResource(&mcp.Resource{Name: "watched-resource", URI: watchedURI, MIMEType: "text/plain", Description: "A resource clients subscribe to."},
		func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, MIMEType: "text/plain", Text: "Watched resource content"}}}, nil
		})
	s.AddResourceTemplate(&mcp.ResourceTemplate{Name: "template", URITemplate: "test://template/{id}/data", MIMEType: "application/json", Description: "Data by id."},
		func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			id := strings.TrimSuffix(strings.TrimPrefix(req.Params.URI, "test://template/"), "/data")
			body, _ := json.Marshal(map[string]any{"id": id, "templateTest": true, "data": "Data for ID: " + id})
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, MIMEType: "application/json", Text: string(body)}}}, nil
		})

	// Prompts.
	for _, p := range fixturePromptList() {
		s.AddPrompt(p.prompt, p.get)
	}
}

type fixturePrompt struct {
	prompt *mcp.Prompt
	get    mcp.PromptHandler
}

func fixturePromptList() []fixturePrompt {
	user := func(c mcp.Content) *mcp.PromptMessage { return &mcp.PromptMessage{Role: "user", Content: c} }
	fixed := func(desc string, msgs ...*mcp.PromptMessage) mcp.PromptHandler {
		return func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			return &mcp.GetPromptResult{Description: desc, Messages: msgs}, nil
		}
	}
	return []fixturePrompt{
		{&mcp.Prompt{Name: "test_simple_prompt", Title: "Simple Test Prompt", Description: "A prompt without arguments"},
			fixed("A simple test prompt", user(&mcp.TextContent{Text: "This is a simple prompt for testing."}))},
		{&mcp.Prompt{Name: "test_prompt_with_arguments", Title: "Prompt With Arguments", Description: "A prompt with two required arguments",
			Arguments: []*mcp.PromptArgument{{Name: "arg1", Description: "First argument", Required: true}, {Name: "arg2", Description: "Second argument", Required: true}}},
			func(_ context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
				a := req.Params.Arguments
				return &mcp.GetPromptResult{Description: "A prompt with arguments",
					Messages: []*mcp.PromptMessage{user(&mcp.TextContent{Text: fmt.Sprintf("Prompt with arguments: arg1='%s', arg2='%s'", a["arg1"], a["arg2"])})}}, nil
			}},
		{&mcp.Prompt{Name: "test_prompt_with_embedded_resource", Title: "Prompt With Embedded Resource", Description: "A prompt embedding a resource",
			Arguments: []*mcp.PromptArgument{{Name: "resourceUri", Description: "URI of the resource to embed", Required: true}}},
			func(_ context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
				return &mcp.GetPromptResult{Description: "A prompt with an embedded resource", Messages: []*mcp.PromptMessage{
					user(&mcp.EmbeddedResource{Resource: &mcp.ResourceContents{URI: req.Params.Arguments["resourceUri"], MIMEType: "text/plain", Text: "Embedded resource content for testing."}}),
					user(&mcp.TextContent{Text: "Please process the embedded resource above."}),
				}}, nil
			}},
		{&mcp.Prompt{Name: "test_prompt_with_image", Title: "Prompt With Image", Description: "A prompt with an image"},
			fixed("A prompt with an image", user(&mcp.ImageContent{Data: decoded(pngBase64), MIMEType: "image/png"}), user(&mcp.TextContent{Text: "Please analyze the image above."}))},
		{&mcp.Prompt{Name: "test_input_required_result_prompt", Description: "Asks for context with an in-band elicitation (SEP-2322)"},
			func(_ context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
				if c := accepted(req.Params.InputResponses, "user_context"); c != nil {
					return &mcp.GetPromptResult{Description: "A prompt with elicited context",
						Messages: []*mcp.PromptMessage{user(&mcp.TextContent{Text: fmt.Sprintf("Context: %v", c["context"])})}}, nil
				}
				return &mcp.GetPromptResult{InputRequests: mcp.InputRequestMap{
					"user_context": &mcp.ElicitParams{Message: "Please provide context for the prompt", RequestedSchema: objectOf("context", "string")},
				}}, nil
			}},
	}
}

// objectOf is the schema of an object with one required property.
func objectOf(prop, typ string) *jsonschema.Schema {
	return &jsonschema.Schema{Type: "object", Properties: map[string]*jsonschema.Schema{prop: {Type: typ}}, Required: []string{prop}}
}

// accepted returns the content of an accepted elicitation among responses.
func accepted(responses mcp.InputResponseMap, key string) map[string]any {
	r, ok := responses[key].(*mcp.ElicitResult)
	if !ok || r == nil || r.Action != "accept" {
		return nil
	}
	return r.Content
}

// sampled returns the first text of a sampling response among responses.
func sampled(responses mcp.InputResponseMap, key string) (string, bool) {
	r, ok := responses[key].(*mcp.CreateMessageWithToolsResult)
	if !ok || r == nil {
		return "", false
	}
	for _, c := range r.Content {
		if t, ok := c.(*mcp.TextContent); ok {
			return t.Text, true
		}
	}
	return "", true
}

// addInputRequired adds the multi-round-trip tools of protocol 2026-07-28
// (SEP-2322): a call answers with the input it needs, and the client calls
// again with the responses (and the request state, which the server must
// be able to trust; the suite tampers with it by appending "-TAMPERED").
func addInputRequired(add func(name, desc string, h mcp.ToolHandler)) {
	text := func(t string) *mcp.CallToolResult {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: t}}}
	}
	need := func(state string, reqs mcp.InputRequestMap) *mcp.CallToolResult {
		return &mcp.CallToolResult{InputRequests: reqs, RequestState: state}
	}
	askName := &mcp.ElicitParams{Message: "What is your name?", RequestedSchema: objectOf("name", "string")}
	confirm := &mcp.ElicitParams{Message: "Please confirm", RequestedSchema: objectOf("ok", "boolean")}
	trusted := func(state string) bool { return state != "" && !strings.HasSuffix(state, "-TAMPERED") }
	badState := &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "invalid requestState: it was not issued by this server"}

	add("test_input_required_result_elicitation", "Asks for the caller's name (SEP-2322).", func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		if name, _ := accepted(req.Params.InputResponses, "user_name")["name"].(string); name != "" {
			return text("Hello, " + name + "!"), nil
		}
		return need("", mcp.InputRequestMap{"user_name": askName}), nil
	})
	add("test_input_required_result_sampling", "Asks the client's model a question (SEP-2322).", func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		if answer, ok := sampled(req.Params.InputResponses, "capital_question"); ok {
			return text("Sampling response: " + answer), nil
		}
		return need("", mcp.InputRequestMap{"capital_question": &mcp.CreateMessageParams{MaxTokens: 100,
			Messages: []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: "What is the capital of France?"}}}}}), nil
	})
	add("test_input_required_result_list_roots", "Asks for the client's roots (SEP-2322).", func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		if r, ok := req.Params.InputResponses["client_roots"].(*mcp.ListRootsResult); ok && r != nil {
			return text(fmt.Sprintf("Client exposed %d root(s)", len(r.Roots))), nil
		}
		return need("", mcp.InputRequestMap{"client_roots": &mcp.ListRootsParams{}}), nil
	})
	add("test_input_required_result_request_state", "Round-trips a request state with an elicitation (SEP-2322).", func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		if accepted(req.Params.InputResponses, "confirm") != nil {
			if !trusted(req.Params.RequestState) {
				return nil, badState
			}
			return text("state-ok: requestState received and confirmation accepted"), nil
		}
		return need("request_state", mcp.InputRequestMap{"confirm": confirm}), nil
	})
	add("test_input_required_result_multiple_inputs", "Asks for an elicitation, a sampling and the roots at once (SEP-2322).", func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		in := req.Params.InputResponses
		name, _ := accepted(in, "user_name")["name"].(string)
		greeting, sampledOK := sampled(in, "greeting")
		roots, rootsOK := in["client_roots"].(*mcp.ListRootsResult)
		if name != "" && sampledOK && rootsOK && roots != nil {
			return text(fmt.Sprintf("%s %s — %d root(s) visible", greeting, name, len(roots.Roots))), nil
		}
		return need("multiple_inputs", mcp.InputRequestMap{
			"user_name": askName,
			"greeting": &mcp.CreateMessageParams{MaxTokens: 50,
				Messages: []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: "Generate a greeting"}}}},
			"client_roots": &mcp.ListRootsParams{},
		}), nil
	})
	add("test_input_required_result_multi_round", "Two rounds of elicitation, the state carrying the first answer (SEP-2322).", func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		state := req.Params.RequestState
		switch {
		case state == "":
			return need("round=1", mcp.InputRequestMap{"step1": &mcp.ElicitParams{Message: "Step 1: What is your name?", RequestedSchema: objectOf("name", "string")}}), nil
		case state == "round=1":
			name, _ := accepted(req.Params.InputResponses, "step1")["name"].(string)
			return need("round=2;name="+name, mcp.InputRequestMap{"step2": &mcp.ElicitParams{Message: "Step 2: What is your favorite color?", RequestedSchema: objectOf("color", "string")}}), nil
		case strings.HasPrefix(state, "round=2;name="):
			color, _ := accepted(req.Params.InputResponses, "step2")["color"].(string)
			return text(fmt.Sprintf("Multi-round complete: %s likes %s", strings.TrimPrefix(state, "round=2;name="), color)), nil
		}
		return nil, badState
	})
	add("test_input_required_result_tampered_state", "Refuses a request state it did not issue (SEP-2322).", func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		if state := req.Params.RequestState; state != "" {
			if !trusted(state) {
				return nil, badState
			}
			if accepted(req.Params.InputResponses, "confirm") != nil {
				return text("state-ok: requestState received and confirmation accepted"), nil
			}
		}
		return need("tampered_state", mcp.InputRequestMap{"confirm": confirm}), nil
	})
	add("test_input_required_result_capabilities", "Asks only for input the client declared it can give (SEP-2322).", func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		if len(req.Params.InputResponses) > 0 {
			return text("Capability-aware input requests fulfilled"), nil
		}
		c := req.ClientCapabilities()
		reqs := mcp.InputRequestMap{}
		if c != nil && c.Elicitation != nil {
			reqs["user_name"] = askName
		}
		if c != nil && c.Sampling != nil {
			reqs["greeting"] = &mcp.CreateMessageParams{MaxTokens: 50,
				Messages: []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: "Generate a short greeting"}}}}
		}
		if c != nil && (c.RootsV2 != nil || c.Roots.ListChanged) {
			reqs["client_roots"] = &mcp.ListRootsParams{}
		}
		if len(reqs) == 0 {
			return text("The client declared no capability that can answer an input request"), nil
		}
		return need("", reqs), nil
	})
}
