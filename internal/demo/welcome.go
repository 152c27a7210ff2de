package demo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// endpoint is one line of the banner and one entry of each client config.
type endpoint struct {
	name, url, mode, allows string
}

func endpoints(base string, dbs []*database) []endpoint {
	eps := []endpoint{{"main", base + "/mcp", "main", "get_server_info, list_all_servers, get_sub_server_config, calculate_stats, herd_health"}}
	for _, d := range dbs {
		eps = append(eps, endpoint{d.Endpoint, base + "/" + d.Endpoint + "/mcp", d.Mode.String(), d.Allows})
	}
	return eps
}

// writeWelcome prints where the demo runs, its endpoints, client
// configuration to paste, and for each database a psql connection string
// and the stdio form of pgherd (command runs pgherd) with the endpoint's own
// least-privilege login: uris maps an endpoint's env name to its URI. Those
// passwords are this run's, random, for a database on 127.0.0.1 that is
// removed when the demo stops; the HTTP endpoints need none.
func writeWelcome(w io.Writer, base, where string, dbs []*database, uris map[string]string, command string) error {
	eps := endpoints(base, dbs)
	var b bytes.Buffer
	fmt.Fprintf(&b, "pgherd demo: %s\n\n", where)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  ENDPOINT\tMODE\tALLOWS")
	for _, e := range eps {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", e.url, e.mode, e.allows)
	}
	tw.Flush()
	fmt.Fprintf(&b, "\nOperator console: %s/ui/ (herd, live calls, health, plan viewer; docs/console.md)\n", base)
	names := make([]string, len(dbs))
	for i, d := range dbs {
		names[i] = d.Name
	}
	fmt.Fprintf(&b, "\nDatabases %s hold the same shop: public.customers, products, orders, order_items,\n"+
		"the view order_totals, and the analytics schema (visible to the admin modes). Each endpoint\n"+
		"logs in as its own least-privilege role (see docs/security.md).\n", strings.Join(names, ", "))

	claude, cursor, vscode, err := clientConfigs(eps)
	if err != nil {
		return err
	}
	fmt.Fprintf(&b, "\nClaude Desktop: claude_desktop_config.json (needs Node.js: mcp-remote bridges stdio to HTTP)\n%s\n", claude)
	fmt.Fprintf(&b, "\nCursor: ~/.cursor/mcp.json\n%s\n", cursor)
	fmt.Fprintf(&b, "\nVS Code: .vscode/mcp.json\n%s\n", vscode)
	b.WriteString("\nClaude Code:\n")
	for _, e := range eps {
		fmt.Fprintf(&b, "  claude mcp add --transport http %s %s\n", serverName(e), e.url)
	}
	b.WriteString("\npsql, as each endpoint's own login role (passwords valid until the demo stops):\n")
	for _, d := range dbs {
		fmt.Fprintf(&b, "  psql %s\n", shellQuote(uris[envName(d.Endpoint)]))
	}
	b.WriteString("\nstdio (one database, no HTTP: Claude Desktop without mcp-remote, any stdio client):\n")
	for _, d := range dbs {
		fmt.Fprintf(&b, "  %s stdio --database-url %s --access-mode %s\n", shellQuote(command), shellQuote(uris[envName(d.Endpoint)]), d.Mode)
	}
	fmt.Fprintf(&b, "\nPrometheus metrics: %s/metrics (docs/operations.md lists them; OTEL_EXPORTER_OTLP_ENDPOINT turns on traces)\n", base)
	b.WriteString("\nPress Ctrl-C (or close the terminal) to stop; everything the demo created is removed.\n")
	_, err = w.Write(b.Bytes())
	return err
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:@=") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func serverName(e endpoint) string { return "pgherd-" + e.name }

// clientConfigs renders the JSON each client expects: Claude Desktop runs
// only local (stdio) servers from its config file, so it goes through the
// mcp-remote bridge (its remote "connectors" are reached from Anthropic's
// cloud, which cannot see 127.0.0.1); Cursor and VS Code speak Streamable
// HTTP themselves.
func clientConfigs(eps []endpoint) (claude, cursor, vscode []byte, err error) {
	type stdio struct {
		Command string   `json:"command"`
		Args    []string `json:"args"`
	}
	type remote struct {
		Type string `json:"type,omitempty"`
		URL  string `json:"url"`
	}
	claudeServers := map[string]stdio{}
	cursorServers := map[string]remote{}
	vscodeServers := map[string]remote{}
	for _, e := range eps {
		claudeServers[serverName(e)] = stdio{Command: "npx", Args: []string{"-y", "mcp-remote", e.url}}
		cursorServers[serverName(e)] = remote{URL: e.url}
		vscodeServers[serverName(e)] = remote{Type: "http", URL: e.url}
	}
	if claude, err = json.MarshalIndent(map[string]any{"mcpServers": claudeServers}, "", "  "); err != nil {
		return nil, nil, nil, err
	}
	if cursor, err = json.MarshalIndent(map[string]any{"mcpServers": cursorServers}, "", "  "); err != nil {
		return nil, nil, nil, err
	}
	if vscode, err = json.MarshalIndent(map[string]any{"servers": vscodeServers}, "", "  "); err != nil {
		return nil, nil, nil, err
	}
	return claude, cursor, vscode, nil
}
