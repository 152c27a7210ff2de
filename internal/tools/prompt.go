package tools

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// PromptHandler renders a prompt. args holds the arguments, with every
// required one present and non-empty.
type PromptHandler func(ctx context.Context, req *mcp.GetPromptRequest, args map[string]string) (*mcp.GetPromptResult, error)

type promptEntry struct {
	spec      Spec
	prompt    *mcp.Prompt
	handler   PromptHandler
	completer map[string]Completer // by argument name
	target    *Target
}

// AddPrompt registers a prompt under t's prefix. Callers without one of
// tags do not see it listed and cannot get it; complete proposes values for
// its arguments.
func AddPrompt(t *Target, p *mcp.Prompt, tags []string, h PromptHandler, complete map[string]Completer) {
	r := t.Registry
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mustBeOpen()
	pp := *p
	pp.Name = t.Name(p.Name)
	if _, dup := r.prompts[pp.Name]; dup {
		panic(fmt.Sprintf("tools: prompt %q registered twice", pp.Name))
	}
	for name := range complete {
		if !slices.ContainsFunc(pp.Arguments, func(a *mcp.PromptArgument) bool { return a.Name == name }) {
			panic(fmt.Sprintf("tools: prompt %q completes %q, which is not one of its arguments", pp.Name, name))
		}
	}
	r.prompts[pp.Name] = &promptEntry{
		spec:   Spec{Name: pp.Name, Base: "prompt:" + p.Name, Endpoint: t.Endpoint, Tags: slices.Clone(tags)},
		prompt: &pp, handler: h, completer: complete, target: t,
	}
}

func (e *promptEntry) get() mcp.PromptHandler {
	return func(ctx context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		args := make(map[string]string, len(req.Params.Arguments))
		for k, v := range req.Params.Arguments {
			args[k] = v
		}
		var missing []string
		for _, a := range e.prompt.Arguments {
			if a.Required && strings.TrimSpace(args[a.Name]) == "" {
				missing = append(missing, a.Name)
			}
		}
		if len(missing) > 0 {
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams,
				Message: fmt.Sprintf("prompt %s needs the argument(s) %s", e.prompt.Name, strings.Join(missing, ", "))}
		}
		var res *mcp.GetPromptResult
		err := e.target.guard(ctx, req, e.spec, "prompt get", func(ctx context.Context) error {
			var err error
			res, err = e.handler(ctx, req, args)
			return err
		})
		if isDenied(err) {
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: err.Error()}
		}
		return res, err
	}
}

// UserPrompt is a prompt result of one user message.
func UserPrompt(description, text string) *mcp.GetPromptResult {
	return &mcp.GetPromptResult{
		Description: description,
		Messages:    []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: text}}},
	}
}
