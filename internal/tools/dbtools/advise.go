package dbtools

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/access"
	"github.com/pgherd/pgherd/internal/advisor"
	"github.com/pgherd/pgherd/internal/dbhealth"
	"github.com/pgherd/pgherd/internal/pg"
	"github.com/pgherd/pgherd/internal/sqlguard"
	"github.com/pgherd/pgherd/internal/tools"
)

// Bounds of the index advisor's arguments.
const (
	maxAdviceQueries    = 100
	maxWorkloadQueries  = 200
	maxAdviceQueryBytes = 100 << 10
	maxAdviceIndexes    = 50
	maxAdviceTime       = 5 * time.Minute
)

// SearchArgs are the search settings both advisor tools take.
type SearchArgs struct {
	MaxIndexSizeMB        int     `json:"max_index_size_mb,omitempty" jsonschema:"size budget: the recommended indexes add up to at most this many MB (default: no budget)"`
	MaxIndexes            int     `json:"max_indexes,omitempty" jsonschema:"at most this many recommendations (default 10, at most 50)"`
	MinImprovementPercent float64 `json:"min_improvement_percent,omitempty" jsonschema:"each recommended index must cut the estimated cost of the analyzed queries by at least this much, in percent of one average query (default 10)"`
	TimeBudgetSeconds     int     `json:"time_budget_seconds,omitempty" jsonschema:"stop searching after this long and return what is chosen so far (default: the endpoint's statement timeout, at most 300)"`
}

// QueryIndexesArgs are analyze_query_indexes's arguments.
type QueryIndexesArgs struct {
	Queries []string `json:"queries" jsonschema:"the statements to analyze, one per item: SELECT, UPDATE, DELETE or INSERT … SELECT; $1, $2… parameters are fine (planned as a prepared statement's generic plan). They are parsed and planned, never executed."`
	SearchArgs
}

// WorkloadIndexesArgs are analyze_workload_indexes's arguments.
type WorkloadIndexesArgs struct {
	MinCalls  int64   `json:"min_calls,omitempty" jsonschema:"only statements called at least this often (default 1)"`
	MinMeanMS float64 `json:"min_mean_ms,omitempty" jsonschema:"only statements whose mean execution time is at least this many milliseconds"`
	Limit     int     `json:"limit,omitempty" jsonschema:"analyze the statements with the most total execution time, at most this many (default 50, at most 200)"`
	SearchArgs
}

// WorkloadAdvice is analyze_workload_indexes's output.
type WorkloadAdvice struct {
	Workload        string          `json:"workload" jsonschema:"which statements were analyzed"`
	StatementsShare float64         `json:"statements_time_percent" jsonschema:"share of the database's total execution time the analyzed statements account for"`
	Advice          *advisor.Result `json:"advice"`
}

func (d *dbtools) registerAdvisor(t *tools.Target) {
	tools.Add(t, &mcp.Tool{
		Name:  "analyze_query_indexes",
		Title: "Recommend indexes for queries",
		Description: fmt.Sprintf("Recommend indexes for up to %d queries on database %s. Candidates come from each query's parse tree (equality columns first, then a range, "+
			"ORDER BY/GROUP BY keys, join keys, INCLUDE for index-only scans, partial indexes for selective constants); each configuration is costed by the "+
			"planner with hypothetical indexes (hypopg) in a rolled-back transaction, and a greedy search keeps the indexes that pay off. Returns for each "+
			"index the CREATE INDEX CONCURRENTLY statement, estimated size, every helped query's cost before/after and plan change, why, and existing "+
			"indexes it makes redundant. The queries are parsed and planned, never executed. Reports progress when the client sends a progress token.",
			maxAdviceQueries, d.opts.Endpoint),
		Annotations: readOnly(),
	}, []string{tools.TagAdmin}, d.queryIndexes)

	tools.Add(t, &mcp.Tool{
		Name:  "analyze_workload_indexes",
		Title: "Recommend indexes for the workload",
		Description: fmt.Sprintf("Recommend indexes for the statements that cost database %s the most, taken from pg_stat_statements (this database, top-level, "+
			"by total execution time) and weighted by their share of it; otherwise as analyze_query_indexes. Statements there have their constants "+
			"replaced by $n, so they are planned as generic plans (average selectivities) and partial indexes on constants are not proposed.", d.opts.Endpoint),
		Annotations: readOnly(),
	}, []string{tools.TagAdmin}, d.workloadIndexes)
}

// adviceOptions checks the search settings and fills the defaults.
func (d *dbtools) adviceOptions(s SearchArgs) (advisor.Options, error) {
	var o advisor.Options
	switch {
	case s.MaxIndexes < 0 || s.MaxIndexes > maxAdviceIndexes:
		return o, fmt.Errorf("max_indexes %d is out of range; use 1-%d (default %d)", s.MaxIndexes, maxAdviceIndexes, advisor.DefaultMaxIndexes)
	case s.MaxIndexSizeMB < 0:
		return o, fmt.Errorf("max_index_size_mb %d must not be negative; leave it out for no budget", s.MaxIndexSizeMB)
	case s.MinImprovementPercent < 0 || s.MinImprovementPercent > 100:
		return o, fmt.Errorf("min_improvement_percent %g is out of range; use 0-100 (default 10)", s.MinImprovementPercent)
	case s.TimeBudgetSeconds < 0 || time.Duration(s.TimeBudgetSeconds)*time.Second > maxAdviceTime:
		return o, fmt.Errorf("time_budget_seconds %d is out of range; use 1-%d", s.TimeBudgetSeconds, int(maxAdviceTime.Seconds()))
	}
	o.MaxIndexes = s.MaxIndexes
	o.MaxIndexBytes = int64(s.MaxIndexSizeMB) << 20
	o.MinImprovement = s.MinImprovementPercent / 100
	o.TimeBudget = time.Duration(s.TimeBudgetSeconds) * time.Second
	if o.TimeBudget == 0 {
		o.TimeBudget = min(d.opts.Limits.StatementTimeout, maxAdviceTime)
	}
	// Every query passes the validator's screen (one statement, bounded
	// depth) before libpg_query parses it; in admin_ro the SELECT that is
	// planned must be one execute_sql would accept.
	o.Screen = func(sql string) error {
		if len(sql) > maxAdviceQueryBytes {
			return fmt.Errorf("the query is %d bytes; at most %d are analyzed", len(sql), maxAdviceQueryBytes)
		}
		_, err := sqlguard.Check(sql, access.AdminRW)
		return err
	}
	return o, nil
}

func (d *dbtools) queryIndexes(ctx context.Context, req *mcp.CallToolRequest, in QueryIndexesArgs) (*mcp.CallToolResult, *advisor.Result, error) {
	if len(in.Queries) == 0 || len(in.Queries) > maxAdviceQueries {
		return nil, nil, fmt.Errorf("queries has %d item(s); give 1-%d statements, one per item", len(in.Queries), maxAdviceQueries)
	}
	opts, err := d.adviceOptions(in.SearchArgs)
	if err != nil {
		return nil, nil, err
	}
	qs := make([]advisor.Query, len(in.Queries))
	for i, s := range in.Queries {
		if strings.TrimSpace(s) == "" {
			return nil, nil, fmt.Errorf("queries[%d] is empty", i)
		}
		qs[i] = advisor.Query{SQL: s, Label: fmt.Sprintf("query %d", i+1)}
	}
	var out *advisor.Result
	err = d.adviceTx(ctx, req, &opts, func(ctx context.Context, tx *pg.Tx) error {
		var err error
		out, err = advisor.Analyze(ctx, tx, qs, opts)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return textResult(renderAdvice(out, "")), out, nil
}

func (d *dbtools) workloadIndexes(ctx context.Context, req *mcp.CallToolRequest, in WorkloadIndexesArgs) (*mcp.CallToolResult, *WorkloadAdvice, error) {
	limit := in.Limit
	switch {
	case limit == 0:
		limit = 50
	case limit < 0 || limit > maxWorkloadQueries:
		return nil, nil, fmt.Errorf("limit %d is out of range; use 1-%d (default 50)", in.Limit, maxWorkloadQueries)
	}
	if in.MinCalls < 0 || in.MinMeanMS < 0 {
		return nil, nil, fmt.Errorf("min_calls and min_mean_ms must not be negative")
	}
	opts, err := d.adviceOptions(in.SearchArgs)
	if err != nil {
		return nil, nil, err
	}
	out := &WorkloadAdvice{}
	err = d.adviceTx(ctx, req, &opts, func(ctx context.Context, tx *pg.Tx) error {
		// Read more than limit: utility statements are skipped.
		top, err := dbhealth.Statements(ctx, tx.Conn(), dbhealth.StatementsOptions{
			SortBy: dbhealth.SortTotalTime, Limit: 4 * limit, MinCalls: max(in.MinCalls, 1), MinMeanMS: in.MinMeanMS,
		})
		if err != nil {
			return err
		}
		var picked []dbhealth.Statement
		var sum float64
		for _, s := range top.Statements {
			if len(picked) == limit {
				break
			}
			if !plannable(s.Query) {
				continue
			}
			picked = append(picked, s)
			sum += s.TotalMS
		}
		out.Workload = fmt.Sprintf("the %d statement(s) with the most total execution time in pg_stat_statements for database %s (of %d recorded; min_calls %d",
			len(picked), top.Database, top.StatementCount, max(in.MinCalls, 1))
		if in.MinMeanMS > 0 {
			out.Workload += fmt.Sprintf(", min_mean_ms %g", in.MinMeanMS)
		}
		out.Workload += "); SELECT, UPDATE, DELETE and INSERT … SELECT only"
		out.StatementsShare = round1(100 * sum / max(top.TotalMS, 1e-9))
		if len(picked) == 0 {
			out.Advice = &advisor.Result{Stopped: "pg_stat_statements holds no SELECT, UPDATE, DELETE or INSERT … SELECT for this database matching the filters",
				Recommendations: []advisor.Recommendation{}, Queries: []advisor.QueryResult{}}
			return nil
		}
		qs := make([]advisor.Query, len(picked))
		for i, s := range picked {
			w := 1.0
			if sum > 0 {
				w = float64(len(picked)) * s.TotalMS / sum
			}
			qs[i] = advisor.Query{SQL: s.Query, Label: "queryid " + s.QueryID, Weight: w, Calls: s.Calls, TotalMS: s.TotalMS}
		}
		out.Advice, err = advisor.Analyze(ctx, tx, qs, opts)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return textResult(renderAdvice(out.Advice, fmt.Sprintf("Workload: %s, %.1f%% of its execution time.\n", out.Workload, out.StatementsShare))), out, nil
}

// adviceTx runs fn in the caller's read-only transaction, rolled back, on
// a connection destroyed afterwards (hypothetical indexes live in the
// backend), with progress reported.
func (d *dbtools) adviceTx(ctx context.Context, req *mcp.CallToolRequest, o *advisor.Options, fn func(context.Context, *pg.Tx) error) error {
	h, err := d.resolve(ctx, req)
	if err != nil {
		return err
	}
	defer h.Done()
	if mode := d.opts.Mode; mode != access.AdminRW {
		// The planner evaluates immutable functions and casts: the same
		// owner-code rules as execute_sql, with this connection's facts.
		guard := guardOptions(mode, h.Pool)
		o.Validate = func(ctx context.Context, tx *pg.Tx, planned string) error {
			v, err := sqlguard.ValidateExplain(planned, guard, false)
			if err != nil {
				return err
			}
			return judge(ctx, tx, v)
		}
	}
	progress := tools.NewProgress(req)
	o.Progress = func(done, total float64, msg string) { progress.Report(ctx, done, total, msg) }
	opts := h.Tx
	opts.ReadOnly, opts.Rollback = true, true
	return describeErr(h.Pool.Do(ctx, opts, func(ctx context.Context, tx *pg.Tx) error {
		tx.Discard()
		return fn(ctx, tx)
	}))
}

// plannable reports whether a pg_stat_statements text is a statement the
// advisor plans (its first keyword, after comments).
func plannable(sql string) bool {
	s := strings.TrimSpace(sql)
	for {
		switch {
		case strings.HasPrefix(s, "--"):
			if i := strings.IndexByte(s, '\n'); i >= 0 {
				s = strings.TrimSpace(s[i+1:])
				continue
			}
			return false
		case strings.HasPrefix(s, "/*"):
			if i := strings.Index(s, "*/"); i >= 0 {
				s = strings.TrimSpace(s[i+2:])
				continue
			}
			return false
		case strings.HasPrefix(s, "("):
			s = strings.TrimSpace(s[1:])
			continue
		}
		break
	}
	words := strings.FieldsFunc(s, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') })
	if len(words) == 0 || !strings.HasPrefix(s, words[0]) {
		return false
	}
	switch strings.ToLower(words[0]) {
	case "select", "with", "update", "delete", "insert", "table":
		return true
	}
	return false
}

func round1(x float64) float64 { return float64(int64(x*10+0.5)) / 10 }

// renderAdvice is the compact text of an advice.
func renderAdvice(r *advisor.Result, head string) string {
	var b strings.Builder
	b.WriteString(head)
	analyzed := 0
	for _, q := range r.Queries {
		if q.NotAnalyzed == "" {
			analyzed++
		}
	}
	fmt.Fprintf(&b, "%d recommendation(s) for %d analyzed queries; estimated cost of the analyzed queries %.0f → %.0f (−%.1f%%). %d candidates, %d useful, %d plans, %.1f s. Stopped: %s.\n",
		len(r.Recommendations), analyzed, r.WorkloadCostBefore, r.WorkloadCostAfter, r.ImprovementPercent,
		r.CandidatesGenerated, r.CandidatesUseful, r.Evaluations, r.ElapsedMS/1000, r.Stopped)
	for i, rec := range r.Recommendations {
		fmt.Fprintf(&b, "%d. %s  (~%.1f MB)\n   why: %s\n", i+1, rec.CreateSQL, float64(rec.EstimatedBytes)/(1<<20), rec.Why)
		for _, h := range rec.Helps {
			fmt.Fprintf(&b, "   %s: cost %.0f → %.0f (−%.1f%%): %s → %s\n", h.Query, h.CostBefore, h.CostAfter, h.ImprovementPercent, h.PlanBefore, h.PlanAfter)
		}
		for _, x := range rec.MakesRedundant {
			fmt.Fprintf(&b, "   makes redundant: %s (%s); after creating it: %s\n", x.Index, x.Definition, x.DropSQL)
		}
	}
	b.WriteString("Queries:\n")
	for _, q := range r.Queries {
		switch {
		case q.NotAnalyzed != "":
			fmt.Fprintf(&b, "- %s: not analyzed: %s\n", q.Query, q.NotAnalyzed)
		case len(q.Uses) == 0:
			fmt.Fprintf(&b, "- %s: cost %.0f, no index helps enough (%s)\n", q.Query, q.CostBefore, q.PlanBefore)
		default:
			fmt.Fprintf(&b, "- %s: cost %.0f → %.0f (−%.1f%%) with %s\n", q.Query, q.CostBefore, q.CostAfter, q.ImprovementPercent, strings.Join(q.Uses, ", "))
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "Note: %s\n", n)
	}
	fmt.Fprintf(&b, "Planning: %s.", r.PlanningMethod)
	return b.String()
}
