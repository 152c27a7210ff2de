//lint:file-ignore SA1019 logging is deprecated only from 2026-07-28; the 2025 revisions pgherd serves have it

package gate_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/gate"
)

func TestRefusal(t *testing.T) {
	tools := &mcp.ServerCapabilities{Tools: &mcp.ToolCapabilities{}}
	all := &mcp.ServerCapabilities{Tools: &mcp.ToolCapabilities{}, Prompts: &mcp.PromptCapabilities{},
		Resources: &mcp.ResourceCapabilities{Subscribe: true}, Completions: &mcp.CompletionCapabilities{}, Logging: &mcp.LoggingCapabilities{}}
	for _, tc := range []struct {
		method  string
		caps    *mcp.ServerCapabilities
		refused bool
	}{
		{"initialize", tools, false},
		{"ping", tools, false},
		{"tools/call", tools, false},
		{"prompts/list", tools, true},
		{"prompts/list", all, false},
		{"resources/read", tools, true},
		{"resources/subscribe", all, false},
		{"resources/subscribe", &mcp.ServerCapabilities{Resources: &mcp.ResourceCapabilities{}}, true},
		{"logging/setLevel", tools, true},
		{"logging/setLevel", all, false},
		{"completion/complete", tools, true},
		{"foo/bar", all, true},
	} {
		jerr := gate.Refusal(tc.method, tc.caps)
		if (jerr != nil) != tc.refused {
			t.Errorf("Refusal(%q, %+v) = %v, want refused %v", tc.method, tc.caps, jerr, tc.refused)
		}
		if jerr != nil && jerr.Code != jsonrpc.CodeMethodNotFound {
			t.Errorf("Refusal(%q) code %d, want -32601", tc.method, jerr.Code)
		}
	}
}

// TestGateFollowsRegistrations: what is refused is derived from what the
// server registered, never pinned.
func TestGateFollowsRegistrations(t *testing.T) {
	plain := mcp.NewServer(&mcp.Implementation{Name: "plain"}, &mcp.ServerOptions{Capabilities: &mcp.ServerCapabilities{Tools: &mcp.ToolCapabilities{}}})
	rich := mcp.NewServer(&mcp.Implementation{Name: "rich"}, &mcp.ServerOptions{
		Capabilities: &mcp.ServerCapabilities{Tools: &mcp.ToolCapabilities{}, Logging: &mcp.LoggingCapabilities{}},
		CompletionHandler: func(context.Context, *mcp.CompleteRequest) (*mcp.CompleteResult, error) {
			return &mcp.CompleteResult{}, nil
		},
	})
	rich.AddPrompt(&mcp.Prompt{Name: "p"}, func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		return &mcp.GetPromptResult{}, nil
	})
	rich.AddResource(&mcp.Resource{URI: "x://r", Name: "r"}, func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{}, nil
	})
	for _, tc := range []struct {
		server *mcp.Server
		method string
		want   bool
	}{
		{plain, "prompts/list", false}, {plain, "resources/list", false}, {plain, "logging/setLevel", false}, {plain, "completion/complete", false},
		{rich, "prompts/list", true}, {rich, "resources/list", true}, {rich, "logging/setLevel", true}, {rich, "completion/complete", true},
	} {
		g := gate.New(tc.server)
		if got := g.Refusal(tc.method) == nil; got != tc.want {
			t.Errorf("%p: answers %s = %v, want %v", tc.server, tc.method, got, tc.want)
		}
	}
	// Through a session: the middleware refuses before any handler runs.
	g := gate.New(plain)
	plain.AddReceivingMiddleware(g.Middleware)
	st, ct := mcp.NewInMemoryTransports()
	ss, err := plain.Connect(context.Background(), st, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ss.Close()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "c"}, nil).Connect(context.Background(), ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	_, err = cs.ListPrompts(context.Background(), nil)
	var we *jsonrpc.Error
	if !errors.As(err, &we) || we.Code != jsonrpc.CodeMethodNotFound {
		t.Errorf("ListPrompts on a server without prompts: %v, want -32601", err)
	}
}

func TestFix(t *testing.T) {
	for _, tc := range []struct {
		method string
		err    error
		code   int64
	}{
		{"initialize", errors.New(`duplicate "initialize" received`), jsonrpc.CodeInvalidRequest},
		{"tools/list", errors.New(`method "tools/list" is invalid during session initialization`), jsonrpc.CodeInvalidRequest},
		{"tools/list", errors.New("boom"), jsonrpc.CodeInternalError},
		{"tools/call", &jsonrpc.Error{Code: -32602, Message: "bad"}, -32602},
		{"tools/call", fmt.Errorf("wrapped: %w", &jsonrpc.Error{Code: -32602, Message: "bad"}), -32602},
	} {
		var we *jsonrpc.Error
		if err := gate.Fix(tc.method, tc.err); !errors.As(err, &we) || we.Code != tc.code {
			t.Errorf("Fix(%q, %v) = %v, want code %d", tc.method, tc.err, err, tc.code)
		}
	}
}
