package admintools

import (
	"context"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/tools"
)

// registerResources adds the main endpoint's resources: the redacted
// configuration and the list of endpoints.
func registerResources(t *tools.Target, opts Options) {
	configURI := tools.URI(t.Endpoint, "config")
	tools.AddResource(t, &mcp.Resource{
		URI:         configURI,
		Name:        "config",
		Title:       "pgherd configuration",
		Description: "The effective configuration of this pgherd server as YAML, defaults filled in and every secret redacted (what pgherd check-config prints).",
		MIMEType:    "application/yaml",
	}, []string{tools.TagAdmin}, func(context.Context, *mcp.ReadResourceRequest, map[string]string) (*mcp.ReadResourceResult, error) {
		data, err := opts.Config.Redacted()
		if err != nil {
			return nil, err
		}
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: configURI, MIMEType: "application/yaml", Text: string(data)}}}, nil
	})

	endpointsURI := tools.URI(t.Endpoint, "endpoints")
	tools.AddResource(t, &mcp.Resource{
		URI:         endpointsURI,
		Name:        "endpoints",
		Title:       "pgherd endpoints",
		Description: "Every MCP endpoint of this server as JSON: name, kind (main, endpoint or composed), URL, access mode, tool prefix, tool count and readiness.",
		MIMEType:    "application/json",
	}, []string{tools.TagRead}, func(ctx context.Context, _ *mcp.ReadResourceRequest, _ map[string]string) (*mcp.ReadResourceResult, error) {
		return tools.JSONContents(endpointsURI, &ServerList{Servers: opts.Servers(ctx)})
	})
}
