// Package admintools holds the main endpoint's own tools: what the server is
// serving, each endpoint's (redacted) configuration, calculate_stats, and
// herd_health, the health checks across every admin-mode endpoint.
package admintools

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/auth"
	"github.com/pgherd/pgherd/internal/config"
	"github.com/pgherd/pgherd/internal/dbhealth"
	"github.com/pgherd/pgherd/internal/tools"
)

// ServerInfo describes one MCP endpoint the process serves.
type ServerInfo struct {
	Name       string `json:"name" jsonschema:"endpoint name; main is the management endpoint"`
	Kind       string `json:"kind" jsonschema:"main, endpoint (own path) or composed (tools inside /mcp)"`
	URL        string `json:"url" jsonschema:"URL clients connect to"`
	AccessMode string `json:"access_mode,omitempty" jsonschema:"user_ro, user_rw, admin_ro or admin_rw"`
	Prefix     string `json:"prefix,omitempty" jsonschema:"prefix of the endpoint's tool names"`
	ToolCount  int    `json:"tool_count" jsonschema:"number of tools the endpoint offers"`
	Ready      bool   `json:"ready" jsonschema:"whether its database answered the last check"`
	Error      string `json:"error,omitempty" jsonschema:"why it is not ready"`
	// Health is the endpoint's latest health summary (admin modes, once
	// analyze_db_health or herd_health ran), for callers who may check it.
	Health *dbhealth.Summary `json:"health,omitempty" jsonschema:"worst finding of the latest analyze_db_health or herd_health run (cached; admin endpoints you may use)"`
	// Warnings name what the operator allowed that weakens the endpoint:
	// a privileged login role (allow_privileged_role).
	Warnings []string `json:"warnings,omitempty" jsonschema:"what weakens this endpoint's protection, such as a privileged login role the operator allowed"`
}

// Options configure [Register].
type Options struct {
	Version string
	Started time.Time
	Config  *config.Config
	// Servers reports the endpoints as they are now (main first); called on
	// every get_server_info and list_all_servers.
	Servers func(ctx context.Context) []ServerInfo
	// Herd lists the admin-mode endpoints herd_health checks.
	Herd []HerdTarget
	// HealthCache holds each endpoint's latest health summary.
	HealthCache *dbhealth.Cache
	// Fallback is the caller of requests without identity (stdio).
	Fallback *auth.Principal
}

// Register adds the main endpoint's tools to t.
func Register(t *tools.Target, opts Options) {
	if opts.Fallback == nil {
		opts.Fallback = t.Fallback
	}
	read := []string{tools.TagRead}
	ro := &mcp.ToolAnnotations{ReadOnlyHint: true, IdempotentHint: true, OpenWorldHint: new(false)}

	tools.Add(t, &mcp.Tool{
		Name:        "get_server_info",
		Title:       "Server information",
		Description: "Name, version and uptime of this pgherd server, and every MCP endpoint it serves with its URL, access mode, tool count and readiness.",
		Annotations: ro,
	}, read, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, *ServerInfoResult, error) {
		out := &ServerInfoResult{
			Name:          "pgherd",
			Version:       opts.Version,
			Started:       opts.Started.UTC().Format(time.RFC3339),
			UptimeSeconds: int64(time.Since(opts.Started).Seconds()),
			Endpoints:     opts.Servers(ctx),
		}
		opts.addHealth(req, out.Endpoints)
		return text(out.render()), out, nil
	})

	tools.Add(t, &mcp.Tool{
		Name:        "list_all_servers",
		Title:       "List endpoints",
		Description: "Every MCP endpoint of this server (the main one and one per database) with URL, access mode, tool prefix, tool count and readiness.",
		Annotations: ro,
	}, read, func(ctx context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, *ServerList, error) {
		out := &ServerList{Servers: opts.Servers(ctx)}
		var b strings.Builder
		for _, s := range out.Servers {
			b.WriteString(s.line())
			b.WriteByte('\n')
		}
		return text(b.String()), out, nil
	})

	tools.Add(t, &mcp.Tool{
		Name:        "get_sub_server_config",
		Title:       "Endpoint configuration",
		Description: "The configuration of one database endpoint (secrets redacted): database URI without password, access mode, path, prefix, pool, limits, authentication mode and tenants.",
		Annotations: ro,
	}, read, func(ctx context.Context, _ *mcp.CallToolRequest, in SubServerArgs) (*mcp.CallToolResult, *EndpointConfig, error) {
		ep, ok := opts.Config.Endpoints[in.AppName]
		if !ok {
			return nil, nil, fmt.Errorf("no endpoint named %q; valid names: %s", in.AppName, strings.Join(opts.Config.Names(), ", "))
		}
		out := describe(opts.Config, ep)
		return text(out.render()), out, nil
	})

	opts.registerHerd(t)
	registerResources(t, opts)

	tools.Add(t, &mcp.Tool{
		Name:        "calculate_stats",
		Title:       "Descriptive statistics",
		Description: "Count, sum, mean, median, min, max, population and sample variance and standard deviation of a list of numbers.",
		Annotations: ro,
	}, read, func(_ context.Context, _ *mcp.CallToolRequest, in StatsArgs) (*mcp.CallToolResult, *Stats, error) {
		st, err := Calculate(in.Numbers)
		if err != nil {
			return nil, nil, err
		}
		return text(st.render()), st, nil
	})
}

// SubServerArgs are get_sub_server_config's arguments.
type SubServerArgs struct {
	AppName string `json:"app_name" jsonschema:"endpoint name, as listed by list_all_servers"`
}

// StatsArgs are calculate_stats's arguments.
type StatsArgs struct {
	Numbers []float64 `json:"numbers" jsonschema:"the numbers to describe (at least one)"`
}

// ServerInfoResult is get_server_info's output.
type ServerInfoResult struct {
	Name          string       `json:"name"`
	Version       string       `json:"version"`
	Started       string       `json:"started" jsonschema:"start time, RFC 3339 UTC"`
	UptimeSeconds int64        `json:"uptime_seconds"`
	Endpoints     []ServerInfo `json:"endpoints"`
}

// ServerList is list_all_servers's output.
type ServerList struct {
	Servers []ServerInfo `json:"servers"`
}

func (r *ServerInfoResult) render() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s, up %s\n", r.Name, r.Version, (time.Duration(r.UptimeSeconds) * time.Second).String())
	for _, s := range r.Endpoints {
		b.WriteString(s.line())
		b.WriteByte('\n')
	}
	return b.String()
}

// addHealth fills in the cached health summary of each admin endpoint the
// caller may check.
func (o *Options) addHealth(req *mcp.CallToolRequest, infos []ServerInfo) {
	caller := tools.Caller(req)
	if caller == nil {
		caller = o.Fallback
	}
	for _, h := range o.Herd {
		if !mayCheck(caller, h) {
			continue
		}
		s, ok := o.HealthCache.Get(h.Endpoint)
		for i := range infos {
			if infos[i].Name != h.Endpoint {
				continue
			}
			if ok {
				infos[i].Health = &s
			} else {
				infos[i].Health = &dbhealth.Summary{Status: dbhealth.Unknown, Finding: "not checked yet: run herd_health or analyze_db_health"}
			}
		}
	}
}

func (s ServerInfo) line() string {
	state := "ready"
	if !s.Ready {
		state = "NOT READY"
		if s.Error != "" {
			state += ": " + s.Error
		}
	}
	mode := ""
	if s.AccessMode != "" {
		mode = " " + s.AccessMode
	}
	line := fmt.Sprintf("%s (%s%s) %s — %d tools, %s", s.Name, s.Kind, mode, s.URL, s.ToolCount, state)
	if h := s.Health; h != nil {
		switch {
		case h.CheckedAt.IsZero():
			line += "; health: " + h.Finding
		case h.Check == "":
			line += fmt.Sprintf("; health: OK (%d checks, %s ago)", h.Checks, time.Since(h.CheckedAt).Round(time.Second))
		default:
			line += fmt.Sprintf("; health: %s — %s: %s (%d critical, %d warning; %s ago)", strings.ToUpper(string(h.Status)), h.Check, h.Finding,
				h.Critical, h.Warning, time.Since(h.CheckedAt).Round(time.Second))
		}
	}
	for _, w := range s.Warnings {
		line += "\n  WARNING: " + w
	}
	return line
}

// EndpointConfig is get_sub_server_config's output: an endpoint's effective
// configuration with secrets redacted.
type EndpointConfig struct {
	Name           string            `json:"name"`
	DatabaseURI    string            `json:"database_uri" jsonschema:"connection URI with the password redacted"`
	AccessMode     string            `json:"access_mode"`
	Endpoint       bool              `json:"endpoint" jsonschema:"true: own path /{name}/mcp; false: tools composed into /mcp"`
	Path           string            `json:"path"`
	Prefix         string            `json:"prefix"`
	Description    string            `json:"description,omitempty"`
	Pool           config.Pool       `json:"pool"`
	Limits         config.Limits     `json:"limits"`
	AuthMode       string            `json:"auth_mode"`
	Tenants        []string          `json:"tenants,omitempty"`
	TenantSettings map[string]string `json:"tenant_settings,omitempty"`
	// AllowPrivilegedRole: the endpoint may log in as a privileged role.
	AllowPrivilegedRole bool `json:"allow_privileged_role,omitempty" jsonschema:"the operator allowed a privileged login role (superuser, BYPASSRLS, pg_read_all_data…) on this endpoint"`
}

func describe(c *config.Config, ep *config.Endpoint) *EndpointConfig {
	out := &EndpointConfig{
		Name:           ep.Name,
		DatabaseURI:    ep.DatabaseURI.String(),
		AccessMode:     string(ep.AccessMode),
		Endpoint:       ep.Served(),
		Prefix:         ep.ToolPrefix(),
		Description:    ep.Description,
		Pool:           ep.Pool,
		Limits:         ep.Limits,
		TenantSettings: ep.TenantSettings,

		AllowPrivilegedRole: ep.AllowPrivilegedRole,
	}
	if ep.Served() {
		out.Path = "/" + ep.Name + "/mcp"
	} else {
		out.Path = "/mcp"
	}
	out.AuthMode = string(config.AuthNone)
	if a := c.EffectiveAuth(ep.Name); a != nil && a.Mode != "" {
		out.AuthMode = string(a.Mode)
	}
	for name := range ep.Tenants {
		out.Tenants = append(out.Tenants, name)
	}
	slices.Sort(out.Tenants)
	return out
}

func (e *EndpointConfig) render() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s at %s, prefix %q, auth %s\n", e.Name, e.AccessMode, e.Path, e.Prefix, e.AuthMode)
	fmt.Fprintf(&b, "database_uri: %s\n", e.DatabaseURI)
	fmt.Fprintf(&b, "pool: max_conns %d, min_conns %d, acquire_timeout %s\n", e.Pool.MaxConns, e.Pool.MinConns, e.Pool.AcquireTimeout)
	fmt.Fprintf(&b, "limits: statement_timeout %s, max_rows %d, max_result_bytes %d\n", e.Limits.StatementTimeout, e.Limits.MaxRows, e.Limits.MaxResultBytes)
	if len(e.Tenants) > 0 {
		fmt.Fprintf(&b, "tenants: %s\n", strings.Join(e.Tenants, ", "))
	}
	return b.String()
}

func text(s string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: strings.TrimRight(s, "\n")}}}
}
