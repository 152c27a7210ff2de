//lint:file-ignore SA1019 MCP logging is deprecated from protocol 2026-07-28 (SEP-2577) but still part of it and of every older revision pgherd serves

package tools

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestCapabilitiesFollowRegistrations: a server declares exactly the
// capabilities of what was registered on it, and never list changes.
func TestCapabilitiesFollowRegistrations(t *testing.T) {
	noop := func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return nil, nil, nil
	}
	read := func(context.Context, *mcp.ReadResourceRequest, map[string]string) (*mcp.ReadResourceResult, error) {
		return nil, nil
	}
	prompt := func(context.Context, *mcp.GetPromptRequest, map[string]string) (*mcp.GetPromptResult, error) {
		return nil, nil
	}
	cases := []struct {
		name     string
		register func(*Target)
		want     mcp.ServerCapabilities
	}{
		{"nothing", func(*Target) {}, mcp.ServerCapabilities{}},
		{"a tool", func(t *Target) { Add(t, &mcp.Tool{Name: "x"}, nil, noop) },
			mcp.ServerCapabilities{Tools: &mcp.ToolCapabilities{}, Logging: &mcp.LoggingCapabilities{}}},
		{"a static resource", func(t *Target) { AddResource(t, &mcp.Resource{URI: "pgherd://e/r", Name: "r"}, nil, read) },
			mcp.ServerCapabilities{Resources: &mcp.ResourceCapabilities{}, Logging: &mcp.LoggingCapabilities{}}},
		{"a template", func(t *Target) {
			AddTemplate(t, &mcp.ResourceTemplate{URITemplate: "pgherd://{endpoint}/x/{y}", Name: "x"}, nil, read, nil)
		}, mcp.ServerCapabilities{Resources: &mcp.ResourceCapabilities{}, Completions: &mcp.CompletionCapabilities{}, Logging: &mcp.LoggingCapabilities{}}},
		{"a prompt without completions", func(t *Target) { AddPrompt(t, &mcp.Prompt{Name: "p"}, nil, prompt, nil) },
			mcp.ServerCapabilities{Prompts: &mcp.PromptCapabilities{}, Logging: &mcp.LoggingCapabilities{}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := NewRegistry()
			c.register(&Target{Registry: r, Endpoint: "e"})
			opts := r.ServerOptions(mcp.ServerOptions{})
			if got := *opts.Capabilities; !reflect.DeepEqual(got, c.want) {
				t.Errorf("capabilities = %+v, want %+v", got, c.want)
			}
			if (opts.CompletionHandler != nil) != (c.want.Completions != nil) {
				t.Errorf("completion handler set = %v, want %v", opts.CompletionHandler != nil, c.want.Completions != nil)
			}
			r.Install(mcp.NewServer(&mcp.Implementation{Name: "t"}, opts))
		})
	}
}

func TestCompletions(t *testing.T) {
	many := make([]string, 150)
	for i := range many {
		many[i] = fmt.Sprintf("t%03d", i)
	}
	cases := []struct {
		values []string
		prefix string
		want   []string
		more   bool
	}{
		{[]string{"Orders", "order_items", "customers", "orders"}, "ord", []string{"Orders", "order_items", "orders"}, false},
		{[]string{"a", "a", "b"}, "", []string{"a", "b"}, false},
		{nil, "x", []string{}, false},
		{many, "t", many[:MaxCompletions], true},
		{many, "t14", many[140:150], false},
	}
	for _, c := range cases {
		got := completions(c.values, c.prefix)
		if !reflect.DeepEqual(got.Completion.Values, c.want) || got.Completion.HasMore != c.more {
			t.Errorf("completions(%d values, %q) = %v (more %v), want %v (more %v)", len(c.values), c.prefix, got.Completion.Values, got.Completion.HasMore, c.want, c.more)
		}
	}
}
