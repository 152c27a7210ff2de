package dbtools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/observe"
	"github.com/pgherd/pgherd/internal/pg"
	"github.com/pgherd/pgherd/internal/planview"
	"github.com/pgherd/pgherd/internal/sqlguard"
	"github.com/pgherd/pgherd/internal/tools"
)

// ExplainArgs are explain_query's arguments.
type ExplainArgs struct {
	SQL                 string              `json:"sql" jsonschema:"exactly one statement to explain (not itself EXPLAIN)"`
	Params              []any               `json:"params,omitempty" jsonschema:"values for $1, $2, … in order (needed when the statement has parameters)"`
	Analyze             bool                `json:"analyze,omitempty" jsonschema:"run the statement and report actual rows, times and buffers; only for read-only SELECTs, always rolled back"`
	HypotheticalIndexes []HypotheticalIndex `json:"hypothetical_indexes,omitempty" jsonschema:"indexes to simulate with hypopg for this plan only (nothing is created)"`
}

// HypotheticalIndex is an index explain_query simulates with hypopg.
type HypotheticalIndex struct {
	Table   string   `json:"table" jsonschema:"table name, optionally schema-qualified (schema.table), exactly as list_objects shows it"`
	Columns []string `json:"columns" jsonschema:"indexed columns in order"`
	Using   string   `json:"using,omitempty" jsonschema:"index method: btree (default), hash, brin, gist, gin or spgist"`
}

// ExplainResult is explain_query's output.
type ExplainResult struct {
	Plan            map[string]any     `json:"plan" jsonschema:"the plan tree as EXPLAIN (FORMAT JSON) returns it"`
	TotalCost       float64            `json:"total_cost" jsonschema:"planner's estimated total cost of the top node"`
	PlanRows        float64            `json:"plan_rows" jsonschema:"planner's estimated row count of the top node"`
	PlanningMS      *float64           `json:"planning_ms,omitempty"`
	ExecutionMS     *float64           `json:"execution_ms,omitempty" jsonschema:"with analyze: actual execution time"`
	Analyzed        bool               `json:"analyzed"`
	HypotheticalIdx []HypotheticalUsed `json:"hypothetical_indexes,omitempty"`
	// Truncated says the plan was larger than the endpoint's
	// max_result_bytes: the JSON plan is left out and the tree is cut.
	Truncated bool `json:"truncated,omitempty" jsonschema:"the plan was larger than max_result_bytes: the JSON plan is left out and the text tree cut"`
}

// HypotheticalUsed reports one simulated index and whether the plan used it.
type HypotheticalUsed struct {
	Name       string `json:"name"`
	Definition string `json:"definition"`
	SizeBytes  int64  `json:"estimated_size_bytes"`
	Used       bool   `json:"used"`
}

var indexMethods = map[string]bool{"btree": true, "hash": true, "brin": true, "gist": true, "gin": true, "spgist": true}

func (d *dbtools) registerExplain(t *tools.Target) {
	tools.Add(t, &mcp.Tool{
		Name:        "explain_query",
		Title:       "Explain a query plan",
		Description: fmt.Sprintf("Show PostgreSQL's plan for one statement on database %s as a readable tree plus the JSON plan: node types, relations, indexes used, join and filter conditions, estimated rows and cost — with analyze=true also actual rows, times and buffers (read-only SELECTs only; always rolled back). hypothetical_indexes simulates indexes with hypopg to see whether they would be used, without creating anything. The statement must be one this endpoint's execute_sql accepts (mode %s).", d.opts.Endpoint, d.opts.Mode),
		Annotations: readOnly(),
		// MCP Apps: hosts that render UI resources show the plan as a
		// drawn tree next to the answer; others use the text and JSON.
		Meta: mcp.Meta{"ui": map[string]any{"resourceUri": tools.UIURI(d.opts.Endpoint, "plan")}},
	}, []string{tools.TagRead}, d.explain)
	uri := tools.UIURI(d.opts.Endpoint, "plan")
	tools.AddResource(t, &mcp.Resource{
		URI:         uri,
		Name:        d.opts.Endpoint + "_plan_view",
		Title:       "Query plan view",
		Description: "Draws " + t.Name("explain_query") + "'s plan as a tree (MCP App: hosts that render UI resources show it with the tool's result).",
		MIMEType:    planview.AppMIME,
	}, []string{tools.TagRead}, func(context.Context, *mcp.ReadResourceRequest, map[string]string) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: uri, MIMEType: planview.AppMIME, Text: planview.AppHTML(),
			// No network, no outside resources: the page is self-contained.
			Meta: mcp.Meta{"ui": map[string]any{"prefersBorder": true}}}}}, nil
	})
}

func (d *dbtools) explain(ctx context.Context, req *mcp.CallToolRequest, in ExplainArgs) (*mcp.CallToolResult, *ExplainResult, error) {
	rec := observe.CallFrom(ctx)
	rec.SetStatement(in.SQL, in.Params)
	h, err := d.resolve(ctx, req)
	if err != nil {
		return nil, nil, err
	}
	defer h.Done()
	verdict, err := sqlguard.ValidateExplain(in.SQL, guardOptions(d.opts.Mode, h.Pool), in.Analyze)
	logVerdict(ctx, verdict, err)
	if err != nil {
		return nil, nil, err
	}
	rec.SetVerdict(verdict.Command, verdict.ReadOnly)
	if verdict.Params != len(in.Params) {
		return nil, nil, fmt.Errorf("the statement uses %d parameter(s) ($1…$%d) but params has %d value(s); EXPLAIN needs representative values for them", verdict.Params, verdict.Params, len(in.Params))
	}
	defs := make([]string, len(in.HypotheticalIndexes))
	for i, hi := range in.HypotheticalIndexes {
		if defs[i], err = d.indexDefinition(hi); err != nil {
			return nil, nil, fmt.Errorf("hypothetical_indexes[%d]: %w", i, err)
		}
	}

	opts := h.Tx
	// EXPLAIN never needs to write; with analyze the statement runs, and is
	// rolled back whatever the mode.
	opts.ReadOnly, opts.Rollback = true, true
	// Hypothetical indexes discard the connection; otherwise the rollback
	// undoes all the call can change (see pg.TxOptions.NoSessionState).
	opts.NoSessionState = !verdict.SessionState

	options := "FORMAT JSON, COSTS"
	if in.Analyze {
		options += ", ANALYZE, BUFFERS"
	}
	out := &ExplainResult{Analyzed: in.Analyze}
	// The plan obeys the endpoint's byte cap like any result; it is one
	// JSON value, which must arrive whole to be read.
	maxBytes := h.Tx.Limits.MaxResultBytes
	if maxBytes <= 0 {
		maxBytes = h.Pool.Limits().MaxResultBytes
	}
	stop := runningProgress(ctx, req, nil)
	defer stop()
	err = h.Pool.Do(ctx, opts, func(ctx context.Context, tx *pg.Tx) error {
		// Before runs after the statement is parsed (which runs none of
		// its code) and before it is planned and executed.
		before := func(ctx context.Context) error {
			// The planner evaluates immutable functions and the statement's
			// casts: the same owner code as running it.
			if err := judge(ctx, tx, verdict); err != nil {
				return err
			}
			if len(defs) > 0 {
				// Hypothetical indexes live in the backend, not the
				// transaction: the connection is not reused after this call.
				tx.Discard()
				used, err := createHypothetical(ctx, tx.Conn(), defs)
				if err != nil {
					return err
				}
				out.HypotheticalIdx = used
			}
			return nil
		}
		// The statement passed CheckExplain as exactly one statement; the
		// extended protocol would refuse a second one regardless.
		res, err := tx.Query(ctx, pg.Call{SQL: "EXPLAIN (" + options + ") " + in.SQL, Args: in.Params, MaxRows: 1, MaxBytes: maxBytes, MaxCellBytes: maxBytes,
			Before: before, Last: true})
		if err != nil {
			return err
		}
		if res.CutValues > 0 || res.Truncated {
			return fmt.Errorf("the plan is larger than this endpoint's max_result_bytes (%d bytes); explain a smaller statement (fewer joins, subqueries or UNION arms), or ask the operator to raise limits.max_result_bytes", maxBytes)
		}
		return out.decode(res)
	})
	if err != nil {
		// The lookup takes a slot and a connection of its own: let this
		// call's go first (with max_conns 1 it would wait for itself).
		h.Done()
		return nil, nil, d.withSuggestions(ctx, req, describeErr(err))
	}
	tree := renderPlan(out.Plan)
	for i := range out.HypotheticalIdx {
		out.HypotheticalIdx[i].Used = strings.Contains(tree, out.HypotheticalIdx[i].Name)
	}
	text := out.fit(out.render(tree), maxBytes)
	return textResult(text), out, nil
}

// fit keeps the response (the structured result and the text, both as
// JSON) within maxBytes: first without the JSON plan, then with the text
// tree cut.
func (r *ExplainResult) fit(text string, maxBytes int64) string {
	const envelope = 512
	size := func() int64 {
		s, _ := json.Marshal(r)
		t, _ := json.Marshal(text)
		return int64(len(s)+len(t)) + envelope
	}
	if size() <= maxBytes {
		return text
	}
	r.Plan, r.Truncated = nil, true
	// Cut the tree, a quarter at a time, until it fits.
	whole := text
	for keep := len(whole); keep > 0 && size() > maxBytes; {
		keep = keep * 3 / 4
		text = pg.CutText(whole, keep)
	}
	return text
}

// indexDefinition builds the CREATE INDEX text hypopg simulates, quoting
// every identifier; in user modes the table must be in public.
func (d *dbtools) indexDefinition(hi HypotheticalIndex) (string, error) {
	schema, table := "", strings.TrimSpace(hi.Table)
	if s, t, ok := strings.Cut(table, "."); ok {
		schema, table = s, t
	}
	if table == "" {
		return "", errors.New("table is empty")
	}
	if d.opts.Mode.PublicOnly() && schema != "" && schema != "public" {
		return "", fmt.Errorf("table %s is outside the public schema, which is all %s mode may use", hi.Table, d.opts.Mode)
	}
	if schema == "" && d.opts.Mode.PublicOnly() {
		schema = "public"
	}
	if len(hi.Columns) == 0 {
		return "", errors.New("columns is empty; name at least one column")
	}
	using := strings.ToLower(strings.TrimSpace(hi.Using))
	if using == "" {
		using = "btree"
	}
	if !indexMethods[using] {
		return "", fmt.Errorf("using %q is not an index method; use btree, hash, brin, gist, gin or spgist", hi.Using)
	}
	rel := pgx.Identifier{table}
	if schema != "" {
		rel = pgx.Identifier{schema, table}
	}
	cols := make([]string, len(hi.Columns))
	for i, c := range hi.Columns {
		if strings.TrimSpace(c) == "" {
			return "", fmt.Errorf("columns[%d] is empty", i)
		}
		cols[i] = pgx.Identifier{c}.Sanitize()
	}
	return fmt.Sprintf("CREATE INDEX ON %s USING %s (%s)", rel.Sanitize(), using, strings.Join(cols, ", ")), nil
}

// createHypothetical creates the hypothetical indexes, after checking that
// hypopg is there and saying how to get it when it is not.
func createHypothetical(ctx context.Context, q pgx.Tx, defs []string) ([]HypotheticalUsed, error) {
	var installed, available bool
	var version int
	err := q.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'hypopg'),
		EXISTS (SELECT FROM pg_available_extensions WHERE name = 'hypopg'),
		current_setting('server_version_num')::int / 10000`).Scan(&installed, &available, &version)
	if err != nil {
		return nil, err
	}
	switch {
	case !available:
		return nil, fmt.Errorf("hypothetical indexes need the hypopg extension, which is not installed on this PostgreSQL %d server; install it (Debian/Ubuntu: apt-get install postgresql-%d-hypopg), then run CREATE EXTENSION hypopg in this database", version, version)
	case !installed:
		return nil, errors.New("hypothetical indexes need the hypopg extension: it is installed on the server but not created in this database; ask the database owner to run CREATE EXTENSION hypopg")
	}
	out := make([]HypotheticalUsed, 0, len(defs))
	for _, def := range defs {
		var u HypotheticalUsed
		err := q.QueryRow(ctx, `SELECT h.indexname, hypopg_get_indexdef(h.indexrelid), hypopg_relation_size(h.indexrelid)
			FROM hypopg_create_index($1) h`, def).Scan(&u.Name, &u.Definition, &u.SizeBytes)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// decode reads EXPLAIN (FORMAT JSON)'s single value: [{"Plan": …, "Planning
// Time": …, "Execution Time": …}].
func (r *ExplainResult) decode(res *pg.Result) error {
	if len(res.Rows) != 1 || len(res.Rows[0]) != 1 {
		return errors.New("EXPLAIN returned no plan")
	}
	raw, err := json.Marshal(res.Rows[0][0])
	if err != nil {
		return err
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		raw = []byte(s) // delivered as text
	}
	var doc []struct {
		Plan          map[string]any `json:"Plan"`
		PlanningTime  *float64       `json:"Planning Time"`
		ExecutionTime *float64       `json:"Execution Time"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil || len(doc) == 0 {
		return fmt.Errorf("reading EXPLAIN output: %v", err)
	}
	r.Plan, r.PlanningMS, r.ExecutionMS = doc[0].Plan, doc[0].PlanningTime, doc[0].ExecutionTime
	r.TotalCost, _ = r.Plan["Total Cost"].(float64)
	r.PlanRows, _ = r.Plan["Plan Rows"].(float64)
	return nil
}

func (r *ExplainResult) render(tree string) string {
	var b strings.Builder
	b.WriteString(tree)
	if r.PlanningMS != nil {
		fmt.Fprintf(&b, "Planning time: %.3f ms\n", *r.PlanningMS)
	}
	if r.ExecutionMS != nil {
		fmt.Fprintf(&b, "Execution time: %.3f ms\n", *r.ExecutionMS)
	}
	for _, h := range r.HypotheticalIdx {
		state := "not used"
		if h.Used {
			state = "USED"
		}
		fmt.Fprintf(&b, "Hypothetical index %s (%s, ~%d bytes): %s\n", h.Name, h.Definition, h.SizeBytes, state)
	}
	return strings.TrimRight(b.String(), "\n")
}

// renderPlan draws the plan as an indented tree, one node per line followed
// by its conditions, in the spirit of EXPLAIN's text format.
func renderPlan(plan map[string]any) string {
	var b strings.Builder
	writeNode(&b, plan, 0)
	return b.String()
}

// nodeDetails are the plan keys shown under a node, in this order.
var nodeDetails = []string{
	"Join Filter", "Hash Cond", "Merge Cond", "Index Cond", "Recheck Cond", "Filter",
	"Rows Removed by Filter", "Rows Removed by Join Filter", "Rows Removed by Index Recheck",
	"Sort Key", "Sort Method", "Group Key", "Presorted Key", "Cache Key", "One-Time Filter",
	"Subplan Name", "CTE Name", "Function Name", "Heap Fetches", "Workers Planned", "Workers Launched",
}

func writeNode(b *strings.Builder, n map[string]any, depth int) {
	indent := strings.Repeat("  ", depth)
	arrow := ""
	if depth > 0 {
		arrow = "-> "
	}
	head := str(n["Node Type"])
	if s := str(n["Strategy"]); s != "" && s != "Plain" {
		head = s + " " + head
	}
	if jt := str(n["Join Type"]); jt != "" && jt != "Inner" {
		head += " " + jt + " Join"
	}
	if dir := str(n["Scan Direction"]); dir == "Backward" {
		head += " Backward"
	}
	if idx := str(n["Index Name"]); idx != "" {
		head += " using " + idx
	}
	if rel := str(n["Relation Name"]); rel != "" {
		on := rel
		if s := str(n["Schema"]); s != "" {
			on = s + "." + rel
		}
		if a := str(n["Alias"]); a != "" && a != rel {
			on += " " + a
		}
		head += " on " + on
	}
	fmt.Fprintf(b, "%s%s%s  (cost=%s..%s rows=%s width=%s)", indent, arrow, head,
		num(n["Startup Cost"]), num(n["Total Cost"]), num(n["Plan Rows"]), num(n["Plan Width"]))
	if _, ok := n["Actual Total Time"]; ok {
		fmt.Fprintf(b, " (actual time=%s..%s rows=%s loops=%s)", num(n["Actual Startup Time"]), num(n["Actual Total Time"]), num(n["Actual Rows"]), num(n["Actual Loops"]))
	} else if _, ok := n["Actual Rows"]; ok {
		fmt.Fprintf(b, " (actual rows=%s loops=%s)", num(n["Actual Rows"]), num(n["Actual Loops"]))
	}
	b.WriteByte('\n')
	for _, k := range nodeDetails {
		if v, ok := n[k]; ok {
			fmt.Fprintf(b, "%s      %s: %s\n", indent, k, detail(v))
		}
	}
	if hit, ok := n["Shared Hit Blocks"]; ok {
		fmt.Fprintf(b, "%s      Buffers: shared hit=%s read=%s dirtied=%s written=%s\n", indent, num(hit), num(n["Shared Read Blocks"]), num(n["Shared Dirtied Blocks"]), num(n["Shared Written Blocks"]))
	}
	if kids, ok := n["Plans"].([]any); ok {
		for _, k := range kids {
			if m, ok := k.(map[string]any); ok {
				writeNode(b, m, depth+1)
			}
		}
	}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func num(v any) string {
	switch x := v.(type) {
	case float64:
		if x == float64(int64(x)) {
			return fmt.Sprintf("%d", int64(x))
		}
		return fmt.Sprintf("%.2f", x)
	case nil:
		return "?"
	}
	return fmt.Sprint(v)
}

func detail(v any) string {
	switch x := v.(type) {
	case []any:
		parts := make([]string, len(x))
		for i, p := range x {
			parts[i] = fmt.Sprint(p)
		}
		return strings.Join(parts, ", ")
	case float64:
		return num(x)
	}
	return fmt.Sprint(v)
}
