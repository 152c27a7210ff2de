package advisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgherd/pgherd/internal/pg"
)

// How parameterized queries are planned.
const (
	// MethodPlain: the query has no parameters; EXPLAIN plans it as is.
	MethodPlain = "plain"
	// MethodGenericPlan: EXPLAIN (GENERIC_PLAN), PostgreSQL 16 and later.
	MethodGenericPlan = "explain_generic_plan"
	// MethodPrepare: PREPARE, then EXPLAIN EXECUTE with NULLs under
	// plan_cache_mode = force_generic_plan: the same generic plan, on
	// PostgreSQL 13 to 15.
	MethodPrepare = "prepare_force_generic_plan"
)

// planResult is what one EXPLAIN of one query under one configuration
// says.
type planResult struct {
	cost    float64
	summary string   // the plan in one line
	used    []int    // candidates the plan uses
	indexes []string // existing indexes the plan uses
}

// engine plans queries under hypothetical index configurations, on one
// connection, inside the caller's rolled-back transaction.
type engine struct {
	tx      *pg.Tx
	q       pgx.Tx
	version int
	cands   []*candidate

	active    map[int]uint32 // candidate → hypothetical index oid
	names     map[string]int // hypothetical index name → candidate
	changed   bool           // the hypothetical set changed since the last EXPLAIN EXECUTE
	memo      map[string]planResult
	evaluated int // EXPLAINs run (memo misses)
	prepared  int
	onEval    func(n int)
	minSaving float64
}

func newEngine(tx *pg.Tx, version int) *engine {
	return &engine{tx: tx, q: tx.Conn(), version: version, active: map[int]uint32{}, names: map[string]int{}, memo: map[string]planResult{}}
}

// start checks hypopg and clears any hypothetical index the connection
// holds; hypothetical indexes live in the backend, so the caller's
// connection is destroyed afterwards.
func (e *engine) start(ctx context.Context) error {
	e.tx.Discard()
	var installed, available bool
	var version int
	err := e.q.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'hypopg'),
		EXISTS (SELECT FROM pg_catalog.pg_available_extensions WHERE name = 'hypopg'),
		current_setting('server_version_num')::int / 10000`).Scan(&installed, &available, &version)
	if err != nil {
		return err
	}
	switch {
	case !available:
		return fmt.Errorf("index advice needs the hypopg extension, which is not installed on this PostgreSQL %d server; install it (Debian/Ubuntu: apt-get install postgresql-%d-hypopg), then run CREATE EXTENSION hypopg in this database", version, version)
	case !installed:
		return errors.New("index advice needs the hypopg extension: it is installed on the server but not created in this database; ask the database owner to run CREATE EXTENSION hypopg")
	}
	if _, err := e.q.Exec(ctx, `SELECT hypopg_reset()`); err != nil {
		return err
	}
	// The prepared-statement method relies on it; harmless otherwise.
	_, err = e.q.Exec(ctx, `SELECT pg_catalog.set_config('plan_cache_mode', 'force_generic_plan', true)`)
	return err
}

// method says how q is planned.
func (e *engine) method(q *query) string {
	switch {
	case q.prep.params == 0:
		return MethodPlain
	case e.version >= 160000:
		return MethodGenericPlan
	}
	return MethodPrepare
}

// prepare readies q for planning (PREPARE on PostgreSQL 15 and older) and
// plans it without hypothetical indexes, inside a savepoint: a query that
// does not plan (a missing table, a type error, the validator) fails alone.
func (e *engine) baseline(ctx context.Context, q *query) (planResult, error) {
	sp, err := e.q.Begin(ctx)
	if err != nil {
		return planResult{}, err
	}
	if e.method(q) == MethodPrepare {
		e.prepared++
		q.stmt = "pgherd_advice_" + strconv.Itoa(e.prepared)
		if _, err := e.tx.Query(ctx, pg.Call{SQL: "PREPARE " + q.stmt + " AS " + q.prep.planned, ReadOnly: true, MaxRows: 1}); err != nil {
			return planResult{}, rollbackWith(ctx, sp, err)
		}
	}
	if err := e.activate(ctx, nil); err != nil {
		return planResult{}, rollbackWith(ctx, sp, err)
	}
	res, err := e.explain(ctx, q)
	if err != nil {
		return planResult{}, rollbackWith(ctx, sp, err)
	}
	if err := sp.Commit(ctx); err != nil {
		return planResult{}, err
	}
	e.memo[memoKey(q, nil)] = res
	return res, nil
}

func rollbackWith(ctx context.Context, sp pgx.Tx, err error) error {
	if rerr := sp.Rollback(ctx); rerr != nil {
		return errors.Join(err, rerr)
	}
	return err
}

func memoKey(q *query, config []int) string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(q.index))
	for _, c := range config {
		b.WriteByte(',')
		b.WriteString(strconv.Itoa(c))
	}
	return b.String()
}

// relevant keeps the candidates of config on tables q reads, sorted.
func (e *engine) relevant(q *query, config []int) []int {
	var out []int
	for _, c := range config {
		if slices.Contains(q.tables, e.cands[c].t) {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out
}

// plan returns q's plan under config (candidate ids), from the memo when
// the same relevant configuration was planned before.
func (e *engine) plan(ctx context.Context, q *query, config []int) (planResult, error) {
	rel := e.relevant(q, config)
	key := memoKey(q, rel)
	if r, ok := e.memo[key]; ok {
		return r, nil
	}
	if err := e.activate(ctx, rel); err != nil {
		return planResult{}, err
	}
	r, err := e.explain(ctx, q)
	if err != nil {
		return planResult{}, err
	}
	e.memo[key] = r
	return r, nil
}

// activate makes the hypothetical indexes exactly config.
func (e *engine) activate(ctx context.Context, config []int) error {
	for c, oid := range e.active {
		if !slices.Contains(config, c) {
			if _, err := e.q.Exec(ctx, `SELECT hypopg_drop_index($1)`, oid); err != nil {
				return err
			}
			delete(e.active, c)
			e.changed = true
		}
	}
	for _, c := range config {
		if _, ok := e.active[c]; ok {
			continue
		}
		var oid uint32
		var name string
		if err := e.q.QueryRow(ctx, `SELECT indexrelid, indexname FROM hypopg_create_index($1)`, e.cands[c].def).Scan(&oid, &name); err != nil {
			return fmt.Errorf("simulating %s: %w", e.cands[c].def, err)
		}
		e.active[c] = oid
		e.names[name] = c
		e.changed = true
	}
	return nil
}

// size creates candidate c alone to learn its estimated size; a candidate
// hypopg cannot simulate (an operator class it does not know) is reported
// as an error, inside a savepoint.
func (e *engine) size(ctx context.Context, c *candidate) error {
	if err := e.activate(ctx, nil); err != nil {
		return err
	}
	sp, err := e.q.Begin(ctx)
	if err != nil {
		return err
	}
	var oid uint32
	var name string
	err = sp.QueryRow(ctx, `SELECT indexrelid, indexname FROM hypopg_create_index($1)`, c.def).Scan(&oid, &name)
	if err != nil {
		return rollbackWith(ctx, sp, err)
	}
	if err := sp.QueryRow(ctx, `SELECT hypopg_relation_size($1)`, oid).Scan(&c.bytes); err != nil {
		return rollbackWith(ctx, sp, err)
	}
	if _, err := sp.Exec(ctx, `SELECT hypopg_drop_index($1)`, oid); err != nil {
		return rollbackWith(ctx, sp, err)
	}
	return sp.Commit(ctx)
}

// explain plans q under the current hypothetical set.
func (e *engine) explain(ctx context.Context, q *query) (planResult, error) {
	var sql string
	switch e.method(q) {
	case MethodPlain:
		sql = "EXPLAIN (FORMAT JSON) " + q.prep.planned
	case MethodGenericPlan:
		sql = "EXPLAIN (GENERIC_PLAN, FORMAT JSON) " + q.prep.planned
	default:
		if e.changed {
			// A prepared statement keeps its generic plan; hypothetical
			// indexes send no invalidation, so drop cached plans.
			if _, err := e.q.Exec(ctx, `DISCARD PLANS`); err != nil {
				return planResult{}, err
			}
		}
		nulls := strings.TrimSuffix(strings.Repeat("NULL, ", q.prep.params), ", ")
		sql = "EXPLAIN (FORMAT JSON) EXECUTE " + q.stmt + "(" + nulls + ")"
	}
	e.changed = false
	res, err := e.tx.Query(ctx, pg.Call{SQL: sql, ReadOnly: true, MaxRows: 1, MaxBytes: 64 << 20})
	if err != nil {
		return planResult{}, err
	}
	e.evaluated++
	if e.onEval != nil {
		e.onEval(e.evaluated)
	}
	return e.decode(res)
}

// decode reads EXPLAIN (FORMAT JSON)'s single value.
func (e *engine) decode(res *pg.Result) (planResult, error) {
	if len(res.Rows) != 1 || len(res.Rows[0]) != 1 {
		return planResult{}, errors.New("EXPLAIN returned no plan")
	}
	raw, err := json.Marshal(res.Rows[0][0])
	if err != nil {
		return planResult{}, err
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		raw = []byte(s)
	}
	var doc []struct {
		Plan map[string]any `json:"Plan"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil || len(doc) == 0 {
		return planResult{}, fmt.Errorf("reading EXPLAIN output: %v", err)
	}
	out := planResult{}
	out.cost, _ = doc[0].Plan["Total Cost"].(float64)
	var scans []string
	var walk func(n map[string]any)
	walk = func(n map[string]any) {
		node, _ := n["Node Type"].(string)
		if idx, _ := n["Index Name"].(string); idx != "" {
			if c, ok := e.names[idx]; ok {
				if !slices.Contains(out.used, c) {
					out.used = append(out.used, c)
				}
				idx = "{" + strconv.Itoa(c) + "}"
			} else if !slices.Contains(out.indexes, idx) {
				out.indexes = append(out.indexes, idx)
			}
			node += " using " + idx
		}
		if rel, _ := n["Relation Name"].(string); rel != "" {
			node += " on " + rel
			scans = append(scans, node)
		} else if strings.Contains(node, " using ") {
			scans = append(scans, node)
		}
		if kids, ok := n["Plans"].([]any); ok {
			for _, k := range kids {
				if m, ok := k.(map[string]any); ok {
					walk(m)
				}
			}
		}
	}
	walk(doc[0].Plan)
	top, _ := doc[0].Plan["Node Type"].(string)
	_, topScans := doc[0].Plan["Relation Name"]
	switch {
	case len(scans) == 0:
		out.summary = top
	case topScans:
		out.summary = strings.Join(scans, "; ")
	default:
		out.summary = top + ": " + strings.Join(scans, "; ")
	}
	return out, nil
}
