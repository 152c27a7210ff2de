//lint:file-ignore SA1019 MCP logging is deprecated from protocol 2026-07-28 (SEP-2577) but still part of it and of every older revision pgherd serves

package tools

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/auth"
)

// Capabilities returns the server capabilities that follow from what is
// registered: tools, resources, prompts and completions when any exist, and
// logging (tools and resources report to the client through [Log]). The
// lists never change after start-up, so no listChanged is promised.
func (r *Registry) Capabilities() *mcp.ServerCapabilities {
	r.mu.RLock()
	defer r.mu.RUnlock()
	caps := &mcp.ServerCapabilities{}
	if len(r.specs) > 0 {
		caps.Tools = &mcp.ToolCapabilities{}
	}
	if len(r.resources) > 0 || len(r.templates) > 0 {
		caps.Resources = &mcp.ResourceCapabilities{}
	}
	if len(r.prompts) > 0 {
		caps.Prompts = &mcp.PromptCapabilities{}
	}
	if r.completes() {
		caps.Completions = &mcp.CompletionCapabilities{}
	}
	if len(r.specs) > 0 || caps.Resources != nil || caps.Prompts != nil {
		caps.Logging = &mcp.LoggingCapabilities{}
	}
	return caps
}

// completes reports whether anything registered has completions: every
// template (its {endpoint}) and prompts with completers. r.mu must be held.
func (r *Registry) completes() bool {
	if len(r.templates) > 0 {
		return true
	}
	for _, p := range r.prompts {
		if len(p.completer) > 0 {
			return true
		}
	}
	return false
}

// ServerOptions fills opts with what follows from the registry: the
// capabilities and, when anything completes, the completion handler.
func (r *Registry) ServerOptions(opts mcp.ServerOptions) *mcp.ServerOptions {
	opts.Capabilities = r.Capabilities()
	r.mu.RLock()
	completes := r.completes()
	r.mu.RUnlock()
	if completes {
		opts.CompletionHandler = r.complete
	}
	return &opts
}

// Install adds every registered feature to s, which must have been created
// with [Registry.ServerOptions]. Nothing may be registered afterwards.
func (r *Registry) Install(s *mcp.Server) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mustBeOpen()
	r.installed = true
	for _, add := range r.pending {
		add(s)
	}
	r.pending = nil
	uris := make([]string, 0, len(r.resources))
	for uri := range r.resources {
		uris = append(uris, uri)
	}
	slices.Sort(uris)
	for _, uri := range uris {
		e := r.resources[uri]
		s.AddResource(e.resource, e.read())
	}
	for _, key := range r.order {
		e := r.templates[key]
		s.AddResourceTemplate(e.tmpl, e.read())
	}
	names := make([]string, 0, len(r.prompts))
	for name := range r.prompts {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		e := r.prompts[name]
		s.AddPrompt(e.prompt, e.get())
	}
}

// Filter is receiving middleware that removes from tools/list,
// resources/list, resources/templates/list and prompts/list what the caller
// (or, for requests without identity, fallback) may not use; the features
// refuse such callers when called, too.
func (r *Registry) Filter(fallback *auth.Principal) mcp.Middleware {
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			res, err := next(ctx, method, req)
			if err != nil {
				return res, err
			}
			p := Caller(req)
			if p == nil {
				p = fallback
			}
			if p == nil {
				return res, nil
			}
			allowed := func(s Spec) bool { return p.AllowsTool(s.Base, s.Tags) }
			switch list := res.(type) {
			case *mcp.ListToolsResult:
				list.Tools = slices.DeleteFunc(slices.Clone(list.Tools), func(t *mcp.Tool) bool {
					spec, ok := r.Lookup(t.Name)
					return ok && !allowed(spec)
				})
			case *mcp.ListResourcesResult:
				r.mu.RLock()
				list.Resources = slices.DeleteFunc(slices.Clone(list.Resources), func(x *mcp.Resource) bool {
					e, ok := r.resources[x.URI]
					return ok && !allowed(e.spec)
				})
				r.mu.RUnlock()
			case *mcp.ListResourceTemplatesResult:
				r.mu.RLock()
				list.ResourceTemplates = slices.DeleteFunc(slices.Clone(list.ResourceTemplates), func(x *mcp.ResourceTemplate) bool {
					e, ok := r.templates[x.URITemplate]
					if !ok {
						return false
					}
					for _, part := range e.parts {
						if allowed(part.spec) {
							return false
						}
					}
					return true
				})
				r.mu.RUnlock()
			case *mcp.ListPromptsResult:
				r.mu.RLock()
				list.Prompts = slices.DeleteFunc(slices.Clone(list.Prompts), func(x *mcp.Prompt) bool {
					e, ok := r.prompts[x.Name]
					return ok && !allowed(e.spec)
				})
				r.mu.RUnlock()
			}
			return res, nil
		}
	}
}

// complete answers completion/complete for template variables and prompt
// arguments.
func (r *Registry) complete(ctx context.Context, req *mcp.CompleteRequest) (*mcp.CompleteResult, error) {
	ref := req.Params.Ref
	name, prefix := req.Params.Argument.Name, req.Params.Argument.Value
	args := map[string]string{}
	if req.Params.Context != nil {
		for k, v := range req.Params.Context.Arguments {
			args[k] = v
		}
	}
	var (
		target    *Target
		spec      Spec
		completer Completer
	)
	r.mu.RLock()
	switch ref.Type {
	case "ref/prompt":
		e := r.prompts[ref.Name]
		if e == nil {
			r.mu.RUnlock()
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("no prompt %q; prompts/list lists them", ref.Name)}
		}
		target, spec, completer = e.target, e.spec, e.completer[name]
	case "ref/resource":
		e := r.templates[ref.URI]
		if e == nil {
			r.mu.RUnlock()
			if _, ok := r.resources[ref.URI]; ok {
				return completions(nil, prefix), nil // a static resource has no variables
			}
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("no resource template %q; resources/templates/list lists them", ref.URI)}
		}
		if name == "endpoint" {
			var names []string
			for _, ep := range e.endpoints() {
				if part := e.parts[ep]; part.target.allows(req, part.spec) {
					names = append(names, ep)
				}
			}
			r.mu.RUnlock()
			return completions(names, prefix), nil
		}
		ep := args["endpoint"]
		if ep == "" && len(e.parts) == 1 {
			for only := range e.parts {
				ep = only
			}
			args["endpoint"] = ep
		}
		if part := e.parts[ep]; part != nil {
			target, spec, completer = part.target, part.spec, part.completer[name]
		}
	default:
		r.mu.RUnlock()
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("unknown reference type %q; use ref/prompt or ref/resource", ref.Type)}
	}
	r.mu.RUnlock()
	if completer == nil {
		return completions(nil, prefix), nil
	}
	var values []string
	err := target.guard(ctx, req, spec, "completion", func(ctx context.Context) error {
		var err error
		values, err = completer(ctx, req, prefix, args)
		return err
	})
	if isDenied(err) {
		return completions(nil, prefix), nil
	}
	if err != nil {
		return nil, err
	}
	return completions(values, prefix), nil
}

// completions keeps the values starting with prefix (ignoring case), in
// order and without duplicates, at most MaxCompletions of them.
func completions(values []string, prefix string) *mcp.CompleteResult {
	lower := strings.ToLower(prefix)
	out := make([]string, 0, min(len(values), MaxCompletions))
	seen := make(map[string]bool, len(values))
	more := false
	for _, v := range values {
		if seen[v] || !strings.HasPrefix(strings.ToLower(v), lower) {
			continue
		}
		seen[v] = true
		if len(out) == MaxCompletions {
			more = true
			break
		}
		out = append(out, v)
	}
	return &mcp.CompleteResult{Completion: mcp.CompletionResultDetails{Values: out, HasMore: more}}
}
