package tools

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/yosida95/uritemplate/v3"
)

// Scheme is the URI scheme of pgherd's resources. Every resource URI names
// its endpoint as the host: pgherd://ENDPOINT/….
const Scheme = "pgherd"

// ResourceHandler reads one resource. vars holds the variables of the URI
// template the URI matched (nil for a static resource). Return
// [NotFound] for a resource that does not exist or that the caller may not
// see (the two must look the same).
type ResourceHandler func(ctx context.Context, req *mcp.ReadResourceRequest, vars map[string]string) (*mcp.ReadResourceResult, error)

// Completer proposes values for one template variable or prompt argument.
// prefix is what the user typed so far; args holds the other variables or
// arguments already chosen. The caller keeps the values that start with
// prefix (ignoring case) and sends at most [MaxCompletions]: return at most
// MaxCompletions+1 so the answer can say whether more exist.
type Completer func(ctx context.Context, req *mcp.CompleteRequest, prefix string, args map[string]string) ([]string, error)

// MaxCompletions is the most values one completion answer carries (the
// protocol's limit).
const MaxCompletions = 100

// resourceEntry is one static resource.
type resourceEntry struct {
	spec     Spec
	resource *mcp.Resource
	handler  ResourceHandler
	target   *Target
}

// templateEntry is one URI template, shared by every endpoint of the
// server that registers it: the {endpoint} variable picks the handler.
type templateEntry struct {
	tmpl   *mcp.ResourceTemplate
	parsed *uritemplate.Template
	parts  map[string]*templatePart // by endpoint name
}

// templatePart is one endpoint's handler of a shared template.
type templatePart struct {
	spec      Spec
	handler   ResourceHandler
	completer map[string]Completer // by variable name
	target    *Target
}

// URI returns pgherd://endpoint/ followed by the path segments, each
// escaped.
func URI(endpoint string, segments ...string) string {
	var b strings.Builder
	b.WriteString(Scheme + "://" + endpoint)
	for _, s := range segments {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

// UIURI returns ui://pgherd/endpoint/name, the URI of one of endpoint's
// MCP Apps (UI resources that hosts render).
func UIURI(endpoint, name string) string {
	return "ui://" + Scheme + "/" + endpoint + "/" + url.PathEscape(name)
}

// AddResource registers a static resource of t's endpoint. Its URI must be
// [URI](t.Endpoint, …), or [UIURI](t.Endpoint, …) for an MCP App. Callers
// without one of tags do not see it listed and cannot read it.
func AddResource(t *Target, res *mcp.Resource, tags []string, h ResourceHandler) {
	r := t.Registry
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mustBeOpen()
	if !strings.HasPrefix(res.URI, URI(t.Endpoint)+"/") && !strings.HasPrefix(res.URI, UIURI(t.Endpoint, "")) {
		panic(fmt.Sprintf("tools: resource URI %q must start with %s/ or %s", res.URI, URI(t.Endpoint), UIURI(t.Endpoint, "")))
	}
	if _, dup := r.resources[res.URI]; dup {
		panic(fmt.Sprintf("tools: resource %q registered twice", res.URI))
	}
	rr := *res
	r.resources[res.URI] = &resourceEntry{
		spec:     Spec{Name: rr.URI, Base: "resource:" + rr.Name, Endpoint: t.Endpoint, Tags: slices.Clone(tags)},
		resource: &rr, handler: h, target: t,
	}
}

// AddTemplate registers t's endpoint as one of the endpoints served by a
// resource template of the form pgherd://{endpoint}/…. Endpoints composed
// into one server share the template: the first registration's name,
// description and MIME type are listed. complete proposes values for the
// template's other variables; {endpoint} is completed here.
func AddTemplate(t *Target, tmpl *mcp.ResourceTemplate, tags []string, h ResourceHandler, complete map[string]Completer) {
	r := t.Registry
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mustBeOpen()
	prefix := Scheme + "://{endpoint}/"
	if !strings.HasPrefix(tmpl.URITemplate, prefix) {
		panic(fmt.Sprintf("tools: resource template %q must start with %s", tmpl.URITemplate, prefix))
	}
	e := r.templates[tmpl.URITemplate]
	if e == nil {
		parsed, err := uritemplate.New(tmpl.URITemplate)
		if err != nil {
			panic(fmt.Sprintf("tools: resource template %q: %v", tmpl.URITemplate, err))
		}
		tt := *tmpl
		e = &templateEntry{tmpl: &tt, parsed: parsed, parts: make(map[string]*templatePart)}
		r.templates[tmpl.URITemplate] = e
		r.order = append(r.order, tmpl.URITemplate)
	}
	if _, dup := e.parts[t.Endpoint]; dup {
		panic(fmt.Sprintf("tools: resource template %q registered twice for endpoint %s", tmpl.URITemplate, t.Endpoint))
	}
	e.parts[t.Endpoint] = &templatePart{
		spec:    Spec{Name: tmpl.URITemplate, Base: "resource:" + tmpl.Name, Endpoint: t.Endpoint, Tags: slices.Clone(tags)},
		handler: h, completer: complete, target: t,
	}
}

// NotFound is the error of a resource that does not exist (or that the
// caller may not see): JSON-RPC's resource-not-found, with a message that
// says what to try instead.
func NotFound(uri, why string) error {
	data, _ := json.Marshal(map[string]string{"uri": uri})
	msg := "Resource not found"
	if why != "" {
		msg += ": " + why
	}
	return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: msg, Data: data}
}

// readResource wraps a static resource's handler.
func (e *resourceEntry) read() mcp.ResourceHandler {
	return func(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		var res *mcp.ReadResourceResult
		err := e.target.guard(ctx, req, e.spec, "resource read", func(ctx context.Context) error {
			var err error
			res, err = e.handler(ctx, req, nil)
			return err
		})
		if isDenied(err) {
			return nil, NotFound(req.Params.URI, "")
		}
		return res, err
	}
}

// read wraps a template's handlers: it matches the URI, picks the
// endpoint's handler and runs it with the variables.
func (e *templateEntry) read() mcp.ResourceHandler {
	names := e.parsed.Varnames()
	return func(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		uri := req.Params.URI
		values := e.parsed.Match(uri)
		if values == nil {
			return nil, NotFound(uri, "the URI does not match "+e.tmpl.URITemplate)
		}
		vars := make(map[string]string, len(names))
		for _, n := range names {
			vars[n] = values.Get(n).String()
		}
		part := e.parts[vars["endpoint"]]
		if part == nil {
			return nil, NotFound(uri, fmt.Sprintf("no endpoint %q serves %s here; endpoints: %s", vars["endpoint"], e.tmpl.URITemplate, strings.Join(e.endpoints(), ", ")))
		}
		var res *mcp.ReadResourceResult
		err := part.target.guard(ctx, req, part.spec, "resource read", func(ctx context.Context) error {
			var err error
			res, err = part.handler(ctx, req, vars)
			return err
		})
		if isDenied(err) {
			return nil, NotFound(uri, "")
		}
		return res, err
	}
}

func (e *templateEntry) endpoints() []string {
	out := make([]string, 0, len(e.parts))
	for name := range e.parts {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// JSONContents returns a read result holding v as JSON.
func JSONContents(uri string, v any) (*mcp.ReadResourceResult, error) {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", uri, err)
	}
	return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: uri, MIMEType: "application/json", Text: string(data)}}}, nil
}
