// Package advisor recommends indexes for a set of queries, the way a DBA
// would with a what-if tool: it reads each query's parse tree (libpg_query)
// for the columns it filters, joins, sorts and groups on, builds candidate
// indexes from them, and costs configurations of hypothetical indexes
// (hypopg) with the planner itself, on one connection, inside a read-only
// transaction that is rolled back. The queries are parsed and planned,
// never executed.
//
// The search is greedy: starting from the indexes the database has, each
// step adds the candidate that lowers the weighted estimated cost of the
// queries the most, while the step brings at least the minimum benefit,
// the size budget and the index count allow, and the time budget lasts.
// docs/intelligence.md describes the method and its limits.
package advisor

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pgherd/pgherd/internal/pg"
)

// Defaults for zero Options.
const (
	DefaultMaxIndexes     = 10
	DefaultMinImprovement = 0.10
	DefaultTimeBudget     = 30 * time.Second
	// DefaultMinCostSaving is the least estimated cost (planner units,
	// about one page read each) an index must save a query of average
	// weight for the saving to count: a query that already costs less
	// needs no index.
	DefaultMinCostSaving = 100
	// nearBest: candidates whose benefit is within this share of the best
	// count as equally good, and the smallest of them is picked.
	nearBest = 0.02
	// MaxCandidates bounds the candidates one call considers (the ones
	// suggested by the most important queries first).
	MaxCandidates = 400
	// noise: a query's cost changing by less than this share counts as
	// unchanged.
	noise = 0.01
)

// Query is one statement to advise on.
type Query struct {
	SQL   string
	Label string // how the report names it: "query 1", "queryid 8812…"
	// Weight is the query's importance relative to the others: 1 each for
	// a list of queries; for a workload, its share of the total execution
	// time times the number of queries (so the average is 1). Zero means 1.
	Weight  float64
	Calls   int64
	TotalMS float64
}

// Options configure [Analyze].
type Options struct {
	MaxIndexes int // at most this many recommendations; default 10
	// MaxIndexBytes is the size budget: the recommendations' estimated
	// sizes add up to at most this much; zero means no budget.
	MaxIndexBytes int64
	// MinImprovement is the least weighted improvement a step must bring:
	// the sum over queries of weight × relative cost reduction. 0.10 means
	// "10% of one average query"; default 0.10.
	MinImprovement float64
	// MinCostSaving is the least cost saving (planner units) that counts,
	// for a query of weight 1; default 100.
	MinCostSaving float64
	TimeBudget    time.Duration // default 30s
	// Screen checks a query before it is parsed (size, depth, one
	// statement); Validate checks the SELECT that will be planned (the
	// endpoint's SQL rules, including the owner code the planner may run,
	// looked up in tx). Either may be nil.
	Screen   func(sql string) error
	Validate func(ctx context.Context, tx *pg.Tx, planned string) error
	// Progress receives the work done so far (monotonic), the total when
	// known (zero otherwise) and what is happening.
	Progress func(done, total float64, msg string)
}

// Result is the advice.
type Result struct {
	// PlanningMethod says how parameterized queries ($1, $2…) were planned.
	PlanningMethod  string           `json:"planning_method" jsonschema:"how queries with $n parameters were planned: generic plans, as prepared statements get them"`
	Recommendations []Recommendation `json:"recommendations" jsonschema:"indexes to create, most valuable first"`
	Queries         []QueryResult    `json:"queries" jsonschema:"each query's estimated cost before and after the recommendations"`
	// WorkloadCostBefore and After are the weighted sums of the queries'
	// estimated costs (planner units).
	WorkloadCostBefore  float64  `json:"workload_cost_before"`
	WorkloadCostAfter   float64  `json:"workload_cost_after"`
	ImprovementPercent  float64  `json:"estimated_improvement_percent" jsonschema:"weighted reduction of the estimated cost of the analyzed queries"`
	CandidatesGenerated int      `json:"candidates_generated"`
	CandidatesUseful    int      `json:"candidates_useful" jsonschema:"candidates that lowered some query's cost on their own"`
	Evaluations         int      `json:"configurations_evaluated" jsonschema:"EXPLAINs run with hypothetical indexes"`
	Stopped             string   `json:"stopped_because" jsonschema:"why the search stopped adding indexes"`
	Notes               []string `json:"notes,omitempty"`
	ElapsedMS           float64  `json:"elapsed_ms"`
}

// Recommendation is one index to create.
type Recommendation struct {
	Name           string   `json:"name"`
	Table          string   `json:"table"`
	Columns        []string `json:"columns" jsonschema:"key columns, in order"`
	Include        []string `json:"include,omitempty" jsonschema:"INCLUDE columns (stored, not searched) that make index-only scans possible"`
	Where          string   `json:"where,omitempty" jsonschema:"predicate of a partial index"`
	CreateSQL      string   `json:"create_sql" jsonschema:"the statement to run (CONCURRENTLY: does not block writes; outside a transaction block)"`
	EstimatedBytes int64    `json:"estimated_size_bytes" jsonschema:"hypopg's estimate of the index size"`
	Why            string   `json:"why"`
	// BenefitPercent is the weighted improvement the index brought when
	// the search added it (in units of one average query).
	BenefitPercent float64     `json:"step_benefit_percent"`
	Helps          []Helped    `json:"helps" jsonschema:"queries whose plan uses it, with their estimated cost before and after and the plan change"`
	MakesRedundant []Redundant `json:"makes_redundant,omitempty" jsonschema:"existing indexes this one makes unnecessary"`
}

// Helped is a query a recommendation speeds up.
type Helped struct {
	Query              string  `json:"query"`
	CostBefore         float64 `json:"cost_before"`
	CostAfter          float64 `json:"cost_after"`
	ImprovementPercent float64 `json:"improvement_percent"`
	PlanBefore         string  `json:"plan_before"`
	PlanAfter          string  `json:"plan_after"`
}

// Redundant is an existing index a recommendation covers.
type Redundant struct {
	Index      string `json:"index"`
	Definition string `json:"definition"`
	DropSQL    string `json:"drop_sql" jsonschema:"run after the new index is built"`
}

// QueryResult is one query's outcome.
type QueryResult struct {
	Query              string   `json:"query" jsonschema:"the label of the query"`
	SQL                string   `json:"sql"`
	Kind               string   `json:"kind,omitempty"`
	Planned            string   `json:"planned_as,omitempty" jsonschema:"what was planned, when not the query itself (an UPDATE's row search)"`
	Method             string   `json:"planning_method,omitempty"`
	Weight             float64  `json:"weight"`
	CostBefore         float64  `json:"cost_before"`
	CostAfter          float64  `json:"cost_after"`
	ImprovementPercent float64  `json:"improvement_percent"`
	PlanBefore         string   `json:"plan_before,omitempty"`
	PlanAfter          string   `json:"plan_after,omitempty"`
	Uses               []string `json:"uses_recommended,omitempty"`
	NotAnalyzed        string   `json:"not_analyzed,omitempty" jsonschema:"why the query was left out"`
	Note               string   `json:"note,omitempty"`
}

// query is the advisor's working state for one Query.
type query struct {
	index  int
	in     Query
	weight float64
	prep   *prepared
	uses   []*use
	tables []*table
	stmt   string // prepared statement name (MethodPrepare)
	base   planResult
	cur    float64 // cost under the configuration chosen so far
	err    string
}

// Analyze advises on queries within tx (a read-only transaction the caller
// rolls back; its connection is marked for destruction because hypopg's
// indexes outlive transactions). Errors of single queries are reported in
// their QueryResult; Analyze fails only when nothing can be done (no hypopg,
// the transaction broke, ctx ended).
func Analyze(ctx context.Context, tx *pg.Tx, queries []Query, opts Options) (*Result, error) {
	start := time.Now()
	if opts.MaxIndexes <= 0 {
		opts.MaxIndexes = DefaultMaxIndexes
	}
	if opts.MinImprovement <= 0 {
		opts.MinImprovement = DefaultMinImprovement
	}
	if opts.TimeBudget <= 0 {
		opts.TimeBudget = DefaultTimeBudget
	}
	if opts.MinCostSaving <= 0 {
		opts.MinCostSaving = DefaultMinCostSaving
	}
	deadline := start.Add(opts.TimeBudget)
	var version int
	if err := tx.Conn().QueryRow(ctx, `SELECT current_setting('server_version_num')::int`).Scan(&version); err != nil {
		return nil, err
	}
	e := newEngine(tx, version)
	e.minSaving = opts.MinCostSaving
	if err := e.start(ctx); err != nil {
		return nil, err
	}
	work := 0.0
	progress := func(msg string) {
		if opts.Progress != nil {
			opts.Progress(work, 0, msg)
		}
	}
	e.onEval = func(n int) {
		work++
		progress(fmt.Sprintf("evaluated %d configurations", n))
	}

	// Parse, validate, find the tables.
	qs := make([]*query, len(queries))
	cat := newCatalog(tx.Conn())
	for i, in := range queries {
		q := &query{index: i, in: in, weight: in.Weight}
		if q.weight <= 0 {
			q.weight = 1
		}
		if q.in.Label == "" {
			q.in.Label = "query " + strconv.Itoa(i+1)
		}
		qs[i] = q
		if opts.Screen != nil {
			if err := opts.Screen(in.SQL); err != nil {
				q.err = err.Error()
				continue
			}
		}
		p, err := prepare(in.SQL)
		if err != nil {
			q.err = strings.TrimPrefix(err.Error(), errNotAnalyzable.Error()+": ")
			continue
		}
		if opts.Validate != nil {
			if err := opts.Validate(ctx, tx, p.planned); err != nil {
				q.err = "refused by this endpoint's SQL rules: " + err.Error()
				continue
			}
		}
		q.prep = p
		var refs []*relRef
		var walk func(l *level)
		walk = func(l *level) {
			refs = append(refs, l.rels...)
			for _, k := range l.kids {
				walk(k)
			}
		}
		walk(p.root)
		if err := cat.load(ctx, refs); err != nil {
			return nil, err
		}
	}
	work++
	progress("parsed the queries")

	// Baseline plans and candidates.
	gen := newGenerator()
	res := &Result{}
	for _, q := range qs {
		if q.prep == nil {
			continue
		}
		q.uses = analyzeUses(q.prep.root, cat)
		for _, u := range q.uses {
			if !slices.Contains(q.tables, u.rel.table) {
				q.tables = append(q.tables, u.rel.table)
			}
		}
		base, err := e.baseline(ctx, q)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			q.err = "does not plan: " + describe(err)
			q.prep = nil
			continue
		}
		q.base, q.cur = base, base.cost
		for _, u := range q.uses {
			if u.rel.table.kind == "p" {
				addNote(res, fmt.Sprintf("%s is partitioned: hypopg cannot simulate indexes on partitioned tables, so none is proposed for it", u.rel.table.qname))
				continue
			}
			gen.generate(q.index, u)
		}
	}
	res.CandidatesGenerated = len(gen.list)
	cands := gen.list
	if len(cands) > MaxCandidates {
		slices.SortStableFunc(cands, func(a, b *candidate) int {
			return compareF(weightOf(qs, b.queries), weightOf(qs, a.queries))
		})
		cands = cands[:MaxCandidates]
		addNote(res, fmt.Sprintf("%d candidates were generated; the %d suggested by the most important queries were considered", len(gen.list), MaxCandidates))
	}
	e.cands = gen.list
	progress(fmt.Sprintf("generated %d candidate indexes", len(cands)))

	// Each candidate alone: its size, and whether it helps at all. Its
	// benefit alone bounds its benefit next to other indexes (adding
	// indexes only ever takes work away from it), which lets the search
	// below re-evaluate only candidates that could still win.
	var useful []*candidate
	bound := map[*candidate]float64{}
	stopped := ""
	for _, c := range cands {
		if time.Now().After(deadline) {
			stopped = fmt.Sprintf("the time budget (%s) ran out while trying candidates one by one", opts.TimeBudget)
			break
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := e.size(ctx, c); err != nil {
			addNote(res, fmt.Sprintf("candidate %s could not be simulated: %s", c.def, describe(err)))
			continue
		}
		benefit, err := e.benefit(ctx, qs, nil, c)
		if err != nil {
			return nil, err
		}
		if benefit > 0 {
			useful = append(useful, c)
			bound[c] = benefit
		}
	}
	res.CandidatesUseful = len(useful)

	// Greedy search, lazily evaluated.
	var chosen []int
	var steps []float64
	var used int64
	for stopped == "" {
		if len(chosen) >= opts.MaxIndexes {
			stopped = fmt.Sprintf("max_indexes (%d) reached", opts.MaxIndexes)
			break
		}
		hadUseful := len(useful) > 0
		fits := useful[:0:0]
		for _, c := range useful {
			if opts.MaxIndexBytes <= 0 || used+c.bytes <= opts.MaxIndexBytes {
				fits = append(fits, c)
			}
		}
		slices.SortStableFunc(fits, func(a, b *candidate) int { return compareF(bound[b], bound[a]) })
		exact := map[*candidate]float64{}
		bestBenefit := 0.0
		for _, c := range fits {
			if bound[c] < (1-nearBest)*bestBenefit {
				break // neither this one nor any after it can come near the best
			}
			if time.Now().After(deadline) {
				stopped = fmt.Sprintf("the time budget (%s) ran out; the indexes chosen so far are fully costed", opts.TimeBudget)
				break
			}
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			b, err := e.benefit(ctx, qs, chosen, c)
			if err != nil {
				return nil, err
			}
			bound[c], exact[c] = b, b
			bestBenefit = max(bestBenefit, b)
		}
		if stopped != "" {
			break
		}
		// About as good and smaller wins: a plain index over a covering
		// one that saves a few more cost units, a partial one over a full.
		var best *candidate
		for _, c := range fits {
			b, ok := exact[c]
			if !ok || b <= 0 || b < (1-nearBest)*bestBenefit {
				continue
			}
			if best == nil || c.bytes < best.bytes {
				best = c
			}
		}
		// Candidates that no longer help, or no longer fit, leave for good.
		useful = slices.DeleteFunc(fits, func(c *candidate) bool { return bound[c] <= 0 || c == best })
		if best == nil {
			switch {
			case hadUseful && len(fits) == 0:
				stopped = fmt.Sprintf("the size budget (%d MB) leaves no room for another useful index", opts.MaxIndexBytes>>20)
			case len(chosen) == 0:
				stopped = "no candidate index lowers the estimated cost of any query"
			default:
				stopped = "no further index lowers the estimated cost"
			}
			break
		}
		bestBenefit = exact[best]
		if bestBenefit < opts.MinImprovement {
			stopped = fmt.Sprintf("the best remaining index would improve the workload by %.1f%% of one query, below the minimum of %.0f%%",
				100*bestBenefit, 100*opts.MinImprovement)
			break
		}
		chosen = append(chosen, best.id)
		steps = append(steps, bestBenefit)
		used += best.bytes
		for _, q := range qs {
			if q.prep != nil && slices.Contains(q.tables, best.t) {
				r, err := e.plan(ctx, q, chosen)
				if err != nil {
					return nil, err
				}
				q.cur = r.cost
			}
		}
		progress(fmt.Sprintf("chose %d index(es)", len(chosen)))
	}
	res.Stopped = stopped

	if err := assemble(ctx, e, qs, chosen, steps, res); err != nil {
		return nil, err
	}
	res.Evaluations = e.evaluated
	res.ElapsedMS = float64(time.Since(start).Microseconds()) / 1000
	res.PlanningMethod = "generic plans: queries without parameters are planned as written; queries with $1, $2… get the plan a prepared statement gets after its first executions (EXPLAIN (GENERIC_PLAN) on PostgreSQL 16+, PREPARE with plan_cache_mode = force_generic_plan before), so estimates use average selectivities, not particular values"
	work++
	if opts.Progress != nil {
		opts.Progress(work, work, "done")
	}
	return res, nil
}

// benefit is the weighted relative improvement c brings to the queries it
// concerns, next to config.
func (e *engine) benefit(ctx context.Context, qs []*query, config []int, c *candidate) (float64, error) {
	with := append(slices.Clone(config), c.id)
	total := 0.0
	for _, q := range qs {
		if q.prep == nil || !slices.Contains(q.tables, c.t) || q.base.cost <= 0 {
			continue
		}
		r, err := e.plan(ctx, q, with)
		if err != nil {
			return 0, err
		}
		saved := q.cur - r.cost
		if saved/q.base.cost >= noise && q.weight*saved >= e.minSaving {
			total += q.weight * saved / q.base.cost
		}
	}
	return total, nil
}

// assemble builds the recommendations and per-query results from the
// chosen configuration.
func assemble(ctx context.Context, e *engine, qs []*query, chosen []int, steps []float64, res *Result) error {
	names := map[int]string{}
	taken := map[string]bool{}
	for _, id := range chosen {
		c := e.cands[id]
		names[id] = indexName(c, taken)
	}
	label := func(s string) string {
		for id, n := range names {
			s = strings.ReplaceAll(s, "{"+strconv.Itoa(id)+"}", n)
		}
		return s
	}
	final := map[int]planResult{}
	res.Queries = []QueryResult{}
	for _, q := range qs {
		qr := QueryResult{Query: q.in.Label, SQL: cut(q.in.SQL, 2000), Weight: round2(q.weight), NotAnalyzed: q.err}
		if q.prep == nil {
			res.Queries = append(res.Queries, qr)
			continue
		}
		r, err := e.plan(ctx, q, chosen)
		if err != nil {
			return err
		}
		final[q.index] = r
		qr.Kind, qr.Method, qr.Note = q.prep.kind, e.method(q), q.prep.note
		if q.prep.kind != "SELECT" {
			qr.Planned = cut(q.prep.planned, 2000)
		}
		qr.CostBefore, qr.CostAfter = round2(q.base.cost), round2(r.cost)
		qr.ImprovementPercent = improvement(q.base.cost, r.cost)
		qr.PlanBefore, qr.PlanAfter = label(q.base.summary), label(r.summary)
		for _, id := range r.used {
			if n, ok := names[id]; ok {
				qr.Uses = append(qr.Uses, n)
			}
		}
		if len(q.uses) == 0 && qr.Note == "" {
			qr.Note = "it reads no table the advisor can index (views, functions and CTE results are not indexed)"
		}
		res.WorkloadCostBefore += q.weight * q.base.cost
		res.WorkloadCostAfter += q.weight * r.cost
		res.Queries = append(res.Queries, qr)
	}
	res.ImprovementPercent = improvement(res.WorkloadCostBefore, res.WorkloadCostAfter)
	res.WorkloadCostBefore, res.WorkloadCostAfter = round2(res.WorkloadCostBefore), round2(res.WorkloadCostAfter)

	res.Recommendations = []Recommendation{}
	for i, id := range chosen {
		c := e.cands[id]
		rec := Recommendation{
			Name:           names[id],
			Table:          c.t.qname,
			EstimatedBytes: c.bytes,
			BenefitPercent: round2(100 * steps[i]),
			Where:          c.where,
		}
		for _, k := range c.keys {
			rec.Columns = append(rec.Columns, k.quoted)
		}
		for _, k := range c.include {
			rec.Include = append(rec.Include, k.quoted)
		}
		rec.CreateSQL = "CREATE INDEX CONCURRENTLY " + quoteIdent(rec.Name) + strings.TrimPrefix(c.def, "CREATE INDEX") + ";"
		var sum float64
		for _, q := range qs {
			r, ok := final[q.index]
			if !ok || !slices.Contains(r.used, id) {
				continue
			}
			h := Helped{Query: q.in.Label, CostBefore: round2(q.base.cost), CostAfter: round2(r.cost),
				ImprovementPercent: improvement(q.base.cost, r.cost), PlanBefore: label(q.base.summary), PlanAfter: label(r.summary)}
			sum += h.ImprovementPercent
			rec.Helps = append(rec.Helps, h)
		}
		why := strings.Join(c.why, "; ")
		if n := len(rec.Helps); n > 0 {
			why += fmt.Sprintf(". Used by %d of the analyzed queries, cutting their estimated cost by %.0f%% on average", n, sum/float64(n))
		}
		rec.Why = why
		rec.MakesRedundant = redundantWith(c)
		res.Recommendations = append(res.Recommendations, rec)
	}
	slices.SortStableFunc(res.Recommendations, func(a, b Recommendation) int { return compareF(b.BenefitPercent, a.BenefitPercent) })
	return nil
}

// redundantWith lists existing indexes of c's table that c covers: plain
// B-tree indexes enforcing nothing whose keys lead c's and whose included
// columns c holds.
func redundantWith(c *candidate) []Redundant {
	var out []Redundant
	have := make([]string, 0, len(c.keys)+len(c.include))
	for i, k := range c.keys {
		s := k.quoted
		if i < len(c.desc) && c.desc[i] {
			s += " DESC"
		}
		have = append(have, s)
	}
	for _, k := range c.include {
		have = append(have, k.quoted)
	}
	for _, ix := range c.t.indexes {
		if !ix.valid || ix.am != "btree" || ix.unique || ix.constr || ix.exprs || ix.pred != "" || c.where != "" {
			continue
		}
		if len(ix.keys) > len(c.keys) || !slices.Equal(ix.keys, have[:len(ix.keys)]) {
			continue
		}
		ok := true
		for _, inc := range ix.includes {
			if !slices.Contains(have, inc) {
				ok = false
			}
		}
		if ok {
			out = append(out, Redundant{Index: ix.name, Definition: ix.def, DropSQL: "DROP INDEX CONCURRENTLY " + ix.name + ";"})
		}
	}
	return out
}

// indexName names an index after its table and key columns, as
// PostgreSQL would, avoiding names taken.
func indexName(c *candidate, taken map[string]bool) string {
	parts := []string{c.t.name}
	for _, k := range c.keys {
		parts = append(parts, k.name)
	}
	base := strings.Join(parts, "_")
	suffix := "_idx"
	if c.where != "" {
		suffix = "_part_idx"
	}
	for i := 0; ; i++ {
		s := suffix
		if i > 0 {
			s = suffix + strconv.Itoa(i)
		}
		name := base
		if len(name)+len(s) > 63 {
			name = truncateBytes(name, 63-len(s))
		}
		name += s
		if !taken[name] && !c.t.names[name] {
			taken[name] = true
			return name
		}
	}
}

func truncateBytes(s string, n int) string {
	for len(s) > n {
		s = s[:len(s)-1]
	}
	for !utf8Valid(s) {
		s = s[:len(s)-1]
	}
	return s
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

// quoteIdent quotes a generated index name when it needs it. Names end in
// _idx, so they are never keywords.
func quoteIdent(s string) string {
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
		}
	}
	return s
}

func weightOf(qs []*query, ids []int) float64 {
	w := 0.0
	for _, i := range ids {
		w += qs[i].weight
	}
	return w
}

func compareF(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func improvement(before, after float64) float64 {
	if before <= 0 {
		return 0
	}
	return round2(100 * (before - after) / before)
}

func round2(x float64) float64 { return math.Round(x*100) / 100 }

func cut(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

func addNote(res *Result, note string) {
	if !slices.Contains(res.Notes, note) {
		res.Notes = append(res.Notes, note)
	}
}

// describe renders a planning error for a query's report.
func describe(err error) string {
	if pe, ok := pg.AsError(err); ok {
		return fmt.Sprintf("%s (SQLSTATE %s)", pe.Message, pe.SQLState)
	}
	return err.Error()
}
