package dbtools

import (
	"context"
	"fmt"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/access"
	"github.com/pgherd/pgherd/internal/tools"
)

// Tools of the database-intelligence work the prompts name when the
// endpoint has them.
const (
	toolDBHealth        = "analyze_db_health"
	toolTopQueries      = "get_top_queries"
	toolQueryIndexes    = "analyze_query_indexes"
	toolWorkloadIndexes = "analyze_workload_indexes"
)

// The prompts, unprefixed.
const (
	promptExploreSchema   = "explore_schema"
	promptWriteSafeQuery  = "write_safe_query"
	promptOptimizeQuery   = "optimize_query"
	promptDiagnoseHealth  = "diagnose_health"
	promptReviewMigration = "review_migration"
)

// PromptNames lists the prompts (unprefixed) mode provides.
func PromptNames(mode access.Mode) []string {
	names := []string{promptExploreSchema, promptWriteSafeQuery, promptOptimizeQuery}
	if mode.Admin() {
		names = append(names, promptDiagnoseHealth)
	}
	if mode == access.AdminRW {
		names = append(names, promptReviewMigration)
	}
	return names
}

// promptText builds a prompt's text with the endpoint's real tool names and
// resource URIs.
type promptText struct {
	t  *tools.Target
	d  *dbtools
	sb strings.Builder
}

func (p *promptText) tool(base string) string { return p.t.Name(base) }

// has reports whether the endpoint has the tool (tools of other packages
// may or may not be registered).
func (p *promptText) has(base string) bool {
	_, ok := p.t.Registry.Lookup(p.t.Name(base))
	return ok
}

func (p *promptText) line(format string, args ...any) {
	fmt.Fprintf(&p.sb, format, args...)
	p.sb.WriteByte('\n')
}

func (p *promptText) String() string { return strings.TrimRight(p.sb.String(), "\n") }

// healthFocuses are the symptoms diagnose_health's focus completes.
var healthFocuses = []string{"slow queries", "high CPU", "disk growing", "connection errors", "locks and blocked queries", "vacuum and bloat", "unused indexes"}

// completeFrom completes from a fixed list.
func completeFrom(values []string) tools.Completer {
	return func(context.Context, *mcp.CompleteRequest, string, map[string]string) ([]string, error) {
		return values, nil
	}
}

func (d *dbtools) registerPrompts(t *tools.Target) {
	ep, mode := d.opts.Endpoint, d.opts.Mode
	schemaArg := &mcp.PromptArgument{Name: "schema", Title: "Schema", Description: "schema to work in; default public"}
	if mode.PublicOnly() {
		schemaArg.Description = "schema to work in; this endpoint shows only public"
	}
	schemas := map[string]tools.Completer{"schema": d.completeSchema}
	newText := func() *promptText { return &promptText{t: t, d: d} }
	schemaOf := func(args map[string]string) (string, error) {
		s := strings.TrimSpace(args["schema"])
		if s == "" {
			s = "public"
		}
		if mode.PublicOnly() && s != "public" {
			return "", &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("endpoint %s (%s) shows only the public schema", ep, mode)}
		}
		return s, nil
	}

	tools.AddPrompt(t, &mcp.Prompt{
		Name:        promptExploreSchema,
		Title:       "Explore a schema",
		Description: fmt.Sprintf("Map the tables, views and relationships of one schema of database %s and summarize what the data is about.", ep),
		Arguments:   []*mcp.PromptArgument{schemaArg},
	}, []string{tools.TagRead}, func(_ context.Context, _ *mcp.GetPromptRequest, args map[string]string) (*mcp.GetPromptResult, error) {
		schema, err := schemaOf(args)
		if err != nil {
			return nil, err
		}
		p := newText()
		p.line("Explore schema %q of PostgreSQL database %s (access mode %s) and explain it to me.", schema, ep, mode)
		p.line("")
		p.line("1. Read the resource %s (every object with its kind, row estimate, size and comment), or call %s with schema_name=%q.",
			tools.URI(ep, "schema", schema), p.tool("list_objects"), schema)
		p.line("2. For the main tables (the largest, and those others reference), read %s or call %s: columns, primary and foreign keys, indexes.",
			expandEndpoint(TableTemplate, ep), p.tool("get_object_details"))
		p.line("3. Follow the foreign keys to work out how the tables relate.")
		if mode.Admin() {
			p.line("4. %s lists the other schemas, if the picture needs them.", p.tool("list_schemas"))
		}
		p.line("")
		p.line("Then answer: what the schema models, its central tables with approximate row counts, how they join (name the key columns), and three questions the data could answer, each with the SQL you would run through %s. Read only what you need; do not run those queries unless I ask.", p.tool("execute_sql"))
		return tools.UserPrompt(fmt.Sprintf("Explore schema %s of %s", schema, ep), p.String()), nil
	}, schemas)

	tools.AddPrompt(t, &mcp.Prompt{
		Name:        promptWriteSafeQuery,
		Title:       "Write a safe query",
		Description: fmt.Sprintf("Turn a question into one safe, parameterized SQL statement for database %s, check it, run it and answer.", ep),
		Arguments: []*mcp.PromptArgument{
			{Name: "question", Title: "Question", Description: "what you want to know, in plain words", Required: true},
			schemaArg,
		},
	}, []string{tools.TagRead}, func(_ context.Context, _ *mcp.GetPromptRequest, args map[string]string) (*mcp.GetPromptResult, error) {
		schema, err := schemaOf(args)
		if err != nil {
			return nil, err
		}
		p := newText()
		p.line("Answer this question from PostgreSQL database %s: %s", ep, strings.TrimSpace(args["question"]))
		p.line("")
		p.line("Rules of this endpoint (%s): %s", mode, ModeRules(mode))
		p.line("")
		p.line("1. Find the tables: read %s or call %s; check the exact columns and types with %s. Never guess a column name.",
			tools.URI(ep, "schema", schema), p.tool("list_objects"), p.tool("get_object_details"))
		p.line("2. Write exactly one SELECT. Pass every value the question supplies as a parameter ($1, $2, … in params), never inside the SQL text. Select only the columns needed; add ORDER BY and a LIMIT for lists.")
		p.line("3. If a table is large (row estimate above a million), check the plan first with %s and avoid full scans when an index fits.", p.tool("explain_query"))
		p.line("4. Run it with %s. If it fails, read the SQLSTATE and message, fix the statement and try again.", p.tool("execute_sql"))
		p.line("")
		p.line("Reply with the answer, then the SQL you ran and its parameters. Say so if the result was truncated.")
		return tools.UserPrompt("Answer a question with one safe query on "+ep, p.String()), nil
	}, schemas)

	tools.AddPrompt(t, &mcp.Prompt{
		Name:        promptOptimizeQuery,
		Title:       "Optimize a slow query",
		Description: fmt.Sprintf("Find out why a query on database %s is slow from its plan, test indexes hypothetically and propose a faster version.", ep),
		Arguments: []*mcp.PromptArgument{
			{Name: "sql", Title: "Query", Description: "the slow statement", Required: true},
		},
	}, []string{tools.TagRead}, func(_ context.Context, _ *mcp.GetPromptRequest, args map[string]string) (*mcp.GetPromptResult, error) {
		p := newText()
		p.line("Make this query on PostgreSQL database %s faster:", ep)
		p.line("")
		p.line("```sql\n%s\n```", strings.TrimSpace(args["sql"]))
		p.line("")
		p.line("1. Call %s with the statement (its parameters in params). If it is a read-only SELECT, also with analyze=true to see actual rows, times and buffers.", p.tool("explain_query"))
		p.line("2. In the plan, look for sequential scans on large tables, estimated rows far from actual rows (stale statistics), sorts and hashes spilling to disk, and nested loops over many rows.")
		p.line("3. Check the tables' columns and existing indexes with %s.", p.tool("get_object_details"))
		if p.has(toolQueryIndexes) {
			p.line("4. Ask the index advisor: call %s with the statement; it tries candidate indexes with hypopg and reports the cost each saves.", p.tool(toolQueryIndexes))
		} else {
			p.line("4. Test candidate indexes without creating them: call %s with hypothetical_indexes (table, columns, using) and compare the plan's total cost.", p.tool("explain_query"))
		}
		p.line("5. Consider rewriting the query too: fewer columns, a sargable WHERE (no function around an indexed column), EXISTS instead of IN over large sets, a LIMIT pushed down.")
		p.line("")
		p.line("Reply with the cause, the cost before and after each change you tested, and the index definitions or rewritten SQL you recommend, best first.")
		if mode == access.AdminRW {
			p.line("Do not create indexes yourself: give me the CREATE INDEX CONCURRENTLY statements to run.")
		}
		return tools.UserPrompt("Optimize a slow query on "+ep, p.String()), nil
	}, nil)

	if mode.Admin() {
		tools.AddPrompt(t, &mcp.Prompt{
			Name:        promptDiagnoseHealth,
			Title:       "Diagnose database health",
			Description: fmt.Sprintf("Check database %s for the usual problems — connections, long transactions, cache misses, bloat, vacuum, unused or missing indexes, slow queries — and say what to fix first.", ep),
			Arguments: []*mcp.PromptArgument{
				{Name: "focus", Title: "Focus", Description: "optional: a symptom to start from (slow queries, high CPU, disk growing, connection errors)"},
			},
		}, []string{tools.TagAdmin}, func(_ context.Context, _ *mcp.GetPromptRequest, args map[string]string) (*mcp.GetPromptResult, error) {
			p := newText()
			p.line("Diagnose the health of PostgreSQL database %s.", ep)
			if f := strings.TrimSpace(args["focus"]); f != "" {
				p.line("Start from this symptom: %s.", f)
			}
			p.line("")
			step := 1
			if p.has(toolDBHealth) {
				p.line("%d. Call %s: it checks connections, cache hit ratios, vacuum and bloat, indexes, sequences, replication and constraints in one go.", step, p.tool(toolDBHealth))
				step++
			}
			if p.has(toolTopQueries) {
				p.line("%d. Call %s to see the queries that take the most total time.", step, p.tool(toolTopQueries))
				step++
			}
			if p.has(toolWorkloadIndexes) {
				p.line("%d. Call %s for indexes that would speed up the workload as a whole.", step, p.tool(toolWorkloadIndexes))
				step++
			}
			if !p.has(toolDBHealth) {
				p.line("%d. Read the resource %s for size, version and extensions.", step, tools.URI(ep, "database"))
				step++
				p.line("%d. With %s, one SELECT per call, check:", step, p.tool("execute_sql"))
				p.line("   - connections by state and the oldest transaction: pg_stat_activity (state, xact_start, wait_event_type) against current_setting('max_connections');")
				p.line("   - cache hit ratio: blks_hit / (blks_hit + blks_read) from pg_stat_database for current_database() (below 0.99 deserves a look);")
				p.line("   - dead tuples and vacuum: n_dead_tup, n_live_tup, last_autovacuum, last_autoanalyze from pg_stat_user_tables, largest first;")
				p.line("   - unused indexes: idx_scan = 0 in pg_stat_user_indexes with their pg_relation_size;")
				p.line("   - tables read mostly by sequential scans: seq_scan and seq_tup_read against idx_scan in pg_stat_user_tables;")
				p.line("   - slow statements, if the pg_stat_statements extension is installed: mean_exec_time and calls.")
				step++
			}
			p.line("%d. Explain any slow query you find with %s.", step, p.tool("explain_query"))
			p.line("")
			p.line("Reply with a short report: each problem, the evidence (numbers), how serious it is, and the fix, most urgent first. Change nothing.")
			return tools.UserPrompt("Diagnose the health of "+ep, p.String()), nil
		}, map[string]tools.Completer{"focus": completeFrom(healthFocuses)})
	}

	if mode == access.AdminRW {
		tools.AddPrompt(t, &mcp.Prompt{
			Name:        promptReviewMigration,
			Title:       "Review a migration",
			Description: fmt.Sprintf("Review a schema migration for database %s before it runs: locks, table rewrites, data loss, ordering and rollback.", ep),
			Arguments: []*mcp.PromptArgument{
				{Name: "migration", Title: "Migration SQL", Description: "the statements of the migration", Required: true},
				schemaArg,
			},
		}, []string{tools.TagWrite}, func(_ context.Context, _ *mcp.GetPromptRequest, args map[string]string) (*mcp.GetPromptResult, error) {
			schema, err := schemaOf(args)
			if err != nil {
				return nil, err
			}
			p := newText()
			p.line("Review this migration for PostgreSQL database %s before anything runs:", ep)
			p.line("")
			p.line("```sql\n%s\n```", strings.TrimSpace(args["migration"]))
			p.line("")
			p.line("Unqualified names refer to schema %q.", schema)
			p.line("")
			p.line("1. For every table it touches, read %s (or call %s): columns, constraints, indexes, row estimate and size. Read %s for the server version.",
				expandEndpoint(TableTemplate, ep), p.tool("get_object_details"), tools.URI(ep, "database"))
			p.line("2. Check each statement for:")
			p.line("   - locks that block traffic: CREATE INDEX without CONCURRENTLY; ALTER TABLE that takes ACCESS EXCLUSIVE on a large or busy table;")
			p.line("   - table rewrites: ALTER COLUMN … TYPE, a volatile DEFAULT on ADD COLUMN, SET LOGGED/UNLOGGED, VACUUM FULL;")
			p.line("   - full scans while locked: SET NOT NULL, a new CHECK or FOREIGN KEY without NOT VALID followed by VALIDATE CONSTRAINT;")
			p.line("   - data loss: DROP, TRUNCATE, DELETE or UPDATE without WHERE, a narrowing type change;")
			p.line("   - ordering: objects used before they exist, code that still needs what is dropped;")
			p.line("   - what undoes it.")
			p.line("3. For UPDATE and DELETE statements, call %s to see how many rows they touch.", p.tool("explain_query"))
			p.line("")
			p.line("Reply with each risk and its statement, a safer rewritten migration (one statement per step, the lock_timeout to set first), and a rollback script. Do not run anything. If I then ask you to apply it, run one statement per %s call, in order, stopping at the first error; statements that drop or rewrite data ask me to confirm first.", p.tool("execute_sql"))
			return tools.UserPrompt("Review a migration for "+ep, p.String()), nil
		}, schemas)
	}
}
