package dbtools

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/dbhealth"
	"github.com/pgherd/pgherd/internal/pg"
	"github.com/pgherd/pgherd/internal/tools"
)

// HealthArgs are analyze_db_health's arguments.
type HealthArgs struct {
	Checks string `json:"checks,omitempty" jsonschema:"all (default); fast (all but bloat); or a comma-separated list of checks: invalid_indexes, duplicate_indexes, unused_indexes, bloat, primary_keys, foreign_key_indexes, sequences, wraparound, vacuum, connections, idle_in_transaction, long_running_queries, locks, cache_hit, replication, constraints"`
}

// TopQueriesArgs are get_top_queries's arguments.
type TopQueriesArgs struct {
	SortBy   string `json:"sort_by,omitempty" jsonschema:"total_time (default), mean_time, calls, io (blocks read from outside the cache plus temp blocks) or temp (temp blocks: sorts and hashes spilling to disk)"`
	Limit    int    `json:"limit,omitempty" jsonschema:"how many statements (default 10, at most 100)"`
	MinCalls int64  `json:"min_calls,omitempty" jsonschema:"leave out statements called fewer times"`
}

func (d *dbtools) registerHealth(t *tools.Target) {
	checks := make([]string, 0, len(dbhealth.Checks()))
	for _, c := range dbhealth.Checks() {
		checks = append(checks, c.Name)
	}
	tools.Add(t, &mcp.Tool{
		Name:  "analyze_db_health",
		Title: "Database health check",
		Description: fmt.Sprintf("Check database %s the way a DBA would and say what needs attention. Each check returns status ok/warning/critical, "+
			"the evidence (numbers, object names) and a remedy: SQL statements safe to copy (run them one at a time) or the setting to change. "+
			"Checks: %s. A check the role lacks privileges for says which privilege is missing. "+
			"Runs only read-only catalog and statistics queries; reports progress when the client sends a progress token.",
			d.opts.Endpoint, strings.Join(checks, ", ")),
		Annotations: readOnly(),
	}, []string{tools.TagAdmin}, d.health)

	tools.Add(t, &mcp.Tool{
		Name:  "get_top_queries",
		Title: "Top queries from pg_stat_statements",
		Description: fmt.Sprintf("The statements that cost database %s the most, from pg_stat_statements (this database only, top-level statements): "+
			"normalized text, calls, total/mean/stddev/min/max execution time, rows, shared blocks hit and read, temp blocks, and each one's share of "+
			"the database's total time. sort_by: total_time (default), mean_time, calls, io or temp. Pair with analyze_workload_indexes.", d.opts.Endpoint),
		Annotations: readOnly(),
	}, []string{tools.TagAdmin}, d.topQueries)
}

func (d *dbtools) health(ctx context.Context, req *mcp.CallToolRequest, in HealthArgs) (*mcp.CallToolResult, *dbhealth.Report, error) {
	names, err := dbhealth.ParseChecks(in.Checks)
	if err != nil {
		return nil, nil, err
	}
	rep, err := RunHealth(ctx, d.opts.Resolve, req, d.opts.Health, names, tools.NewProgress(req))
	if err != nil {
		return nil, nil, err
	}
	d.opts.HealthCache.Record(d.opts.Endpoint, rep)
	return textResult(dbhealth.Render(rep)), rep, nil
}

// RunHealth resolves the caller's database and runs the named checks in a
// read-only transaction that is rolled back, reporting progress after each
// check. herd_health uses it too.
func RunHealth(ctx context.Context, resolve func(context.Context, mcp.Request) (*Handle, error), req mcp.Request,
	th dbhealth.Thresholds, names []string, progress *tools.Progress) (*dbhealth.Report, error) {
	h, err := resolve(ctx, req)
	if err != nil {
		return nil, err
	}
	if h == nil || h.Pool == nil {
		return nil, errors.New("no database connection for this call")
	}
	defer h.Done()
	opts := h.Tx
	opts.ReadOnly, opts.Rollback = true, true
	var rep *dbhealth.Report
	err = h.Pool.Do(ctx, opts, func(ctx context.Context, tx *pg.Tx) error {
		var err error
		rep, err = dbhealth.Run(ctx, tx.Conn(), dbhealth.Options{
			Checks:     names,
			Thresholds: th,
			Progress: func(done, total int, check string) {
				progress.Report(ctx, float64(done), float64(total), "checked "+check)
			},
		})
		return err
	})
	if err != nil {
		return nil, describeErr(err)
	}
	return rep, nil
}

func (d *dbtools) topQueries(ctx context.Context, req *mcp.CallToolRequest, in TopQueriesArgs) (*mcp.CallToolResult, *dbhealth.TopQueries, error) {
	if in.Limit < 0 || in.Limit > 100 {
		return nil, nil, fmt.Errorf("limit %d is out of range; use 1-100 (default 10)", in.Limit)
	}
	sortBy := strings.ToLower(strings.TrimSpace(in.SortBy))
	h, err := d.resolve(ctx, req)
	if err != nil {
		return nil, nil, err
	}
	defer h.Done()
	opts := h.Tx
	opts.ReadOnly, opts.Rollback = true, true
	var out *dbhealth.TopQueries
	err = h.Pool.Do(ctx, opts, func(ctx context.Context, tx *pg.Tx) error {
		var err error
		out, err = dbhealth.Statements(ctx, tx.Conn(), dbhealth.StatementsOptions{
			SortBy: sortBy, Limit: in.Limit, MinCalls: in.MinCalls, MaxQueryChars: 4000,
		})
		return err
	})
	if err != nil {
		return nil, nil, describeErr(err)
	}
	return textResult(renderTopQueries(out)), out, nil
}

func renderTopQueries(t *dbhealth.TopQueries) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Top %d of %d statements in database %s by %s (total %.0f ms over %d calls", len(t.Statements), t.StatementCount, t.Database,
		t.SortBy, t.TotalMS, t.TotalCalls)
	if t.StatsSince != nil {
		fmt.Fprintf(&b, " since %s", t.StatsSince.UTC().Format("2006-01-02 15:04 UTC"))
	}
	b.WriteString(")\n")
	for i, s := range t.Statements {
		hit := "-"
		if s.HitPercent != nil {
			hit = fmt.Sprintf("%.1f%%", *s.HitPercent)
		}
		fmt.Fprintf(&b, "%d. %.1f%% of time | %d calls | total %.1f ms | mean %.3f ms (±%.3f, max %.1f) | %d rows | cache hit %s | read %d blks | temp %d blks | queryid %s\n   %s\n",
			i+1, s.TimePercent, s.Calls, s.TotalMS, s.MeanMS, s.StddevMS, s.MaxMS, s.Rows, hit, s.SharedRead, s.TempRead+s.TempWritten, s.QueryID,
			oneLine(s.Query, 500))
	}
	for _, n := range t.Notes {
		fmt.Fprintf(&b, "Note: %s\n", n)
	}
	return strings.TrimRight(b.String(), "\n")
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
