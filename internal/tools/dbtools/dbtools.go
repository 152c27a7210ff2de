// Package dbtools holds the tools of a database endpoint: schema exploration
// (list_objects, get_object_details, list_schemas), execute_sql and
// explain_query, and in the admin modes the database intelligence tools
// (analyze_db_health, get_top_queries, analyze_query_indexes,
// analyze_workload_indexes). Which tools exist and what SQL they accept depend on the
// endpoint's access mode; every call resolves its database handle from the
// request (the caller's tenant), validates SQL with sqlguard and runs it with
// pg's executor.
package dbtools

import (
	"context"
	"log/slog"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/access"
	"github.com/pgherd/pgherd/internal/config"
	"github.com/pgherd/pgherd/internal/dbhealth"
	"github.com/pgherd/pgherd/internal/pg"
	"github.com/pgherd/pgherd/internal/sqlguard"
	"github.com/pgherd/pgherd/internal/tenancy"
	"github.com/pgherd/pgherd/internal/tools"
)

// Handle is what one call may use: the pool of the caller's tenant and the
// transaction options that confine it (read-only, search_path, role, tenant
// settings), already filled in for the caller. It is [tenancy.Handle].
type Handle = tenancy.Handle

// Options configure [Register].
type Options struct {
	Endpoint    string      // endpoint name (for logs and descriptions)
	Description string      // what the database is, shown in tool descriptions
	Mode        access.Mode // decides the tool set and the SQL rules
	Limits      pg.Limits   // the endpoint's caps (max_rows upper bound for callers)
	// Resolve maps a request to the database handle of its caller. It is
	// called once per tool call; the handle's Release runs when the call ends.
	Resolve func(ctx context.Context, req mcp.Request) (*Handle, error)
	Logger  *slog.Logger
	// Health holds analyze_db_health's thresholds (endpoints.NAME.health);
	// the zero value means dbhealth.DefaultThresholds.
	Health dbhealth.Thresholds
	// HealthCache, when set, receives every analyze_db_health report (the
	// worst finding get_server_info shows).
	HealthCache *dbhealth.Cache
	// Confirm is the endpoint's confirm_destructive; "" means elicit.
	Confirm config.ConfirmMode
	// ConfirmKey signs the request state of confirmations; every replica
	// serving the endpoint must use the same key.
	ConfirmKey []byte
}

// Names lists the tool names (unprefixed) mode provides, in registration
// order: the single place that says which tools a mode has.
func Names(mode access.Mode) []string {
	names := []string{"list_objects", "get_object_details", "execute_sql", "explain_query"}
	if mode.Admin() {
		names = append(names, "list_schemas", "analyze_db_health", "get_top_queries", "analyze_query_indexes", "analyze_workload_indexes")
	}
	return names
}

// ModeRules says in one sentence what SQL mode allows: it goes into the
// server instructions and the tool descriptions, so the model knows the rules
// before it tries.
func ModeRules(mode access.Mode) string {
	switch mode {
	case access.UserRO:
		return "read-only; one SELECT (or VALUES/TABLE, CTEs of SELECTs) per call on tables of the public schema, using built-in read-only functions; no writes, no other schemas, no catalog access."
	case access.UserRW:
		return "one SELECT, INSERT, UPDATE, DELETE or MERGE per call on tables of the public schema (data-modifying CTEs allowed), using built-in functions; no DDL, no COPY, no transaction control, no SET, no other schemas."
	case access.AdminRO:
		return "read-only; one SELECT, SHOW or EXPLAIN per call on any schema, using built-in read-only functions; no writes."
	case access.AdminRW:
		return "one statement of any kind per call (DDL, DML, DCL); it runs with the endpoint's database role."
	}
	return ""
}

// Register adds the mode's tools to t.
func Register(t *tools.Target, opts Options) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Health == (dbhealth.Thresholds{}) {
		opts.Health = dbhealth.DefaultThresholds()
	}
	d := &dbtools{opts: opts, verdicts: sqlguard.NewCache(verdictCacheSize)}
	d.registerSchema(t)
	d.registerSQL(t)
	d.registerExplain(t)
	if opts.Mode.Admin() {
		d.registerHealth(t)
		d.registerAdvisor(t)
	}
	d.registerResources(t)
	d.registerPrompts(t)
}

type dbtools struct {
	opts Options
	// verdicts caches execute_sql's validator verdicts by statement text
	// and connection facts (the catalog lookup still runs per call).
	verdicts *sqlguard.Cache
}

// verdictCacheSize bounds the verdicts one endpoint's execute_sql keeps:
// at most 512 statements of at most 4 KiB each.
const verdictCacheSize = 512

// resolve returns the caller's handle; callers must call Done on it.
func (d *dbtools) resolve(ctx context.Context, req mcp.Request) (*Handle, error) {
	h, err := d.opts.Resolve(ctx, req)
	if err != nil {
		return nil, err
	}
	if h == nil || h.Pool == nil {
		return nil, errNoDatabase(d.opts.Endpoint)
	}
	return h, nil
}

func readOnly() *mcp.ToolAnnotations {
	return &mcp.ToolAnnotations{ReadOnlyHint: true, IdempotentHint: true, OpenWorldHint: new(false)}
}

func textResult(s string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}
}
