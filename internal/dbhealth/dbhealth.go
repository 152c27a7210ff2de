package dbhealth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgherd/pgherd/internal/editdist"
)

// Status is how bad a finding or a check is.
type Status string

// Statuses, from best to worst. Unknown means the check could not run (a
// missing privilege, an error); it ranks between ok and warning.
const (
	OK       Status = "ok"
	Unknown  Status = "unknown"
	Warning  Status = "warning"
	Critical Status = "critical"
)

// Rank orders statuses: ok 0, unknown 1, warning 2, critical 3.
func (s Status) Rank() int {
	switch s {
	case Unknown:
		return 1
	case Warning:
		return 2
	case Critical:
		return 3
	}
	return 0
}

// Worse returns the worse of s and o.
func (s Status) Worse(o Status) Status {
	if o.Rank() > s.Rank() {
		return o
	}
	return s
}

// Finding is one thing a check found, with what proves it and what fixes it.
type Finding struct {
	Status Status `json:"status" jsonschema:"warning or critical (ok findings are not listed)"`
	// Object is the object concerned, schema-qualified and quoted as SQL
	// needs it; empty for the database or server as a whole.
	Object  string `json:"object,omitempty" jsonschema:"the object concerned (schema.name as SQL spells it); empty for the whole database"`
	Summary string `json:"summary" jsonschema:"what is wrong, in one line"`
	// Evidence holds the numbers and names the finding rests on.
	Evidence map[string]any `json:"evidence,omitempty" jsonschema:"the numbers and names the finding rests on"`
	// Remedy lists statements to run one at a time, in order, outside a
	// transaction block (some are CONCURRENTLY).
	Remedy []string `json:"remedy_sql,omitempty" jsonschema:"statements that fix it, to run one at a time in this order (outside a transaction block: some use CONCURRENTLY)"`
	// Advice says what the statements cannot: a setting, a restart, a
	// caveat (locks taken, table rewrites).
	Advice string `json:"advice,omitempty" jsonschema:"settings to change, caveats (locks, rewrites), what to check first"`
}

// CheckResult is the outcome of one check.
type CheckResult struct {
	Check    string    `json:"check" jsonschema:"check name"`
	Title    string    `json:"title"`
	Status   Status    `json:"status" jsonschema:"ok, warning or critical; unknown when the check could not run"`
	Summary  string    `json:"summary" jsonschema:"the result in one line"`
	Findings []Finding `json:"findings,omitempty"`
	// Omitted counts findings beyond Thresholds.MaxFindings (the worst are
	// kept).
	Omitted int `json:"omitted_findings,omitempty" jsonschema:"findings left out beyond the per-check cap (the worst are listed)"`
	// MissingPrivilege names what the role lacks when the check could not
	// read its views, and how to grant it.
	MissingPrivilege string   `json:"missing_privilege,omitempty" jsonschema:"the privilege the role lacks for this check, and how to grant it"`
	Error            string   `json:"error,omitempty" jsonschema:"why the check failed, when it did"`
	Notes            []string `json:"notes,omitempty" jsonschema:"caveats about this result (objects skipped, statistics age)"`
	DurationMS       float64  `json:"duration_ms"`
}

// Report is the outcome of a run.
type Report struct {
	Database      string        `json:"database"`
	ServerVersion string        `json:"server_version"`
	Role          string        `json:"role" jsonschema:"the role the checks ran as"`
	Status        Status        `json:"status" jsonschema:"the worst status of all checks"`
	CheckedAt     time.Time     `json:"checked_at"`
	DurationMS    float64       `json:"duration_ms"`
	Checks        []CheckResult `json:"checks"`
}

// Worst returns the worst finding of the report and its check, or false
// when every check is ok.
func (r *Report) Worst() (CheckResult, Finding, bool) {
	var bc CheckResult
	var bf Finding
	found := false
	for _, c := range r.Checks {
		if c.Status == OK {
			continue
		}
		f := Finding{Status: c.Status, Summary: c.Summary}
		if len(c.Findings) > 0 {
			f = c.Findings[0]
		}
		if !found || f.Status.Rank() > bf.Status.Rank() {
			bc, bf, found = c, f, true
		}
	}
	return bc, bf, found
}

// Info describes a check for tool descriptions and argument help.
type Info struct {
	Name  string
	Title string
	// Slow checks read per-column statistics of every table; the herd view
	// leaves them out unless asked.
	Slow bool
}

// Checks lists every check in the order Run runs them.
func Checks() []Info {
	out := make([]Info, len(registry))
	for i, c := range registry {
		out[i] = Info{Name: c.name, Title: c.title, Slow: c.slow}
	}
	return out
}

// Names returns every check name, in order.
func Names() []string {
	out := make([]string, len(registry))
	for i, c := range registry {
		out[i] = c.name
	}
	return out
}

// ParseChecks turns a checks argument into check names: "all" (or empty)
// is every check, "fast" every check but the slow ones, otherwise a comma-
// or space-separated list of names. Unknown names are an error that lists
// the valid ones.
func ParseChecks(spec string) ([]string, error) {
	spec = strings.TrimSpace(strings.ToLower(spec))
	switch spec {
	case "", "all":
		return Names(), nil
	case "fast":
		var out []string
		for _, c := range registry {
			if !c.slow {
				out = append(out, c.name)
			}
		}
		return out, nil
	}
	var out []string
	for _, f := range strings.FieldsFunc(spec, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
		if lookup(f) == nil {
			msg := fmt.Sprintf("unknown check %q; use all, fast, or a comma-separated list of: %s", f, strings.Join(Names(), ", "))
			if s := closest(f, Names()); s != "" {
				msg = fmt.Sprintf("unknown check %q (did you mean %s?); use all, fast, or a comma-separated list of: %s", f, s, strings.Join(Names(), ", "))
			}
			return nil, errors.New(msg)
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		return Names(), nil
	}
	return out, nil
}

// Options configure [Run].
type Options struct {
	// Checks names the checks to run (see [ParseChecks]); empty runs all.
	Checks     []string
	Thresholds Thresholds
	// Progress, when set, is called after each check with how many are
	// done, the total and the check just finished.
	Progress func(done, total int, check string)
}

// Run runs the checks in tx, each inside its own savepoint so that one
// failing check (a view the role cannot read, a statement timeout) does not
// spoil the others. It returns an error only when the transaction itself
// fails or ctx ends.
func Run(ctx context.Context, tx pgx.Tx, opts Options) (*Report, error) {
	if err := opts.Thresholds.Check(); err != nil {
		return nil, fmt.Errorf("health thresholds: %w", err)
	}
	names := opts.Checks
	if len(names) == 0 {
		names = Names()
	}
	start := time.Now()
	e := &env{th: opts.Thresholds}
	rep := &Report{Status: OK}
	err := tx.QueryRow(ctx, `SELECT current_database(), current_setting('server_version'),
		current_setting('server_version_num')::int, current_user,
		pg_has_role('pg_read_all_stats', 'USAGE'), now()`).
		Scan(&rep.Database, &rep.ServerVersion, &e.version, &rep.Role, &e.readAllStats, &rep.CheckedAt)
	if err != nil {
		return nil, err
	}
	e.role = rep.Role
	for i, name := range names {
		c := lookup(name)
		if c == nil {
			return nil, fmt.Errorf("unknown check %q", name)
		}
		res, err := runOne(ctx, tx, e, c)
		if err != nil {
			return nil, err
		}
		rep.Checks = append(rep.Checks, res)
		rep.Status = rep.Status.Worse(res.Status)
		if opts.Progress != nil {
			opts.Progress(i+1, len(names), name)
		}
	}
	rep.DurationMS = ms(time.Since(start))
	return rep, nil
}

// runOne runs c in a savepoint and turns what it found into a CheckResult.
func runOne(ctx context.Context, tx pgx.Tx, e *env, c *check) (CheckResult, error) {
	start := time.Now()
	res := CheckResult{Check: c.name, Title: c.title, Status: OK}
	if c.needsStats && !e.readAllStats {
		res.Status = Unknown
		res.MissingPrivilege = fmt.Sprintf("role %s cannot see other sessions' state and queries: it needs pg_read_all_stats "+
			"(included in pg_monitor); a superuser can run GRANT pg_monitor TO %s", e.role, quoteIdent(e.role))
		res.Summary = "not checked: missing privilege pg_read_all_stats"
		return res, nil
	}
	sp, err := tx.Begin(ctx)
	if err != nil {
		return res, err
	}
	out, cerr := c.run(ctx, sp, e)
	if cerr != nil {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		if rerr := sp.Rollback(ctx); rerr != nil {
			return res, fmt.Errorf("check %s: %v (and rolling back its savepoint: %w)", c.name, cerr, rerr)
		}
		res.Status = Unknown
		var pe *pgconn.PgError
		switch {
		case errors.As(cerr, &pe) && pe.Code == "42501":
			res.MissingPrivilege = fmt.Sprintf("%s (SQLSTATE 42501); role %s needs pg_monitor (GRANT pg_monitor TO %s) and SELECT on the tables concerned",
				pe.Message, e.role, quoteIdent(e.role))
			res.Summary = "not checked: missing privilege"
		case errors.As(cerr, &pe) && pe.Code == "57014":
			res.Error = "the check's query was cancelled by the statement timeout; raise the endpoint's limits.statement_timeout or run this check alone"
			res.Summary = "not checked: timed out"
		case errors.As(cerr, &pe):
			res.Error = fmt.Sprintf("%s (SQLSTATE %s)", pe.Message, pe.Code)
			res.Summary = "not checked: " + pe.Message
		default:
			res.Error = cerr.Error()
			res.Summary = "not checked: " + cerr.Error()
		}
		res.DurationMS = ms(time.Since(start))
		return res, nil
	}
	if err := sp.Commit(ctx); err != nil {
		return res, err
	}
	slices.SortStableFunc(out.findings, func(a, b Finding) int { return b.Status.Rank() - a.Status.Rank() })
	for _, f := range out.findings {
		res.Status = res.Status.Worse(f.Status)
	}
	if n := e.th.MaxFindings; len(out.findings) > n {
		res.Omitted = len(out.findings) - n
		out.findings = out.findings[:n]
	}
	res.Findings = out.findings
	res.Notes = out.notes
	res.Summary = out.summary
	if res.Summary == "" {
		res.Summary = defaultSummary(c, res, len(out.findings)+res.Omitted)
	}
	res.DurationMS = ms(time.Since(start))
	return res, nil
}

func defaultSummary(c *check, res CheckResult, n int) string {
	if n == 0 {
		return "none found"
	}
	noun := c.noun
	if n != 1 {
		noun = c.nouns
	}
	return fmt.Sprintf("%d %s", n, noun)
}

// env is what every check gets.
type env struct {
	th           Thresholds
	version      int // server_version_num, e.g. 150004
	role         string
	readAllStats bool
}

// outcome is what a check returns.
type outcome struct {
	findings []Finding
	summary  string // empty: "N <nouns>" or "ok"
	notes    []string
}

// check is one registered check.
type check struct {
	name, title string
	noun, nouns string // for the default summary: "invalid index", "invalid indexes"
	slow        bool
	// needsStats: the check reads other sessions' rows of
	// pg_stat_activity, which need pg_read_all_stats.
	needsStats bool
	run        func(ctx context.Context, q pgx.Tx, e *env) (*outcome, error)
}

func lookup(name string) *check {
	for i := range registry {
		if registry[i].name == name {
			return &registry[i]
		}
	}
	return nil
}

// registry is every check, in run order.
var registry = []check{
	{name: "invalid_indexes", title: "Invalid indexes", noun: "invalid index", nouns: "invalid indexes", run: invalidIndexes},
	{name: "duplicate_indexes", title: "Duplicate and redundant indexes", noun: "duplicate or redundant index", nouns: "duplicate or redundant indexes", run: duplicateIndexes},
	{name: "unused_indexes", title: "Unused indexes", noun: "unused index", nouns: "unused indexes", run: unusedIndexes},
	{name: "bloat", title: "Table and index bloat (estimated)", noun: "bloated relation", nouns: "bloated relations", slow: true, run: bloat},
	{name: "primary_keys", title: "Tables without a primary key", noun: "table without a primary key", nouns: "tables without a primary key", run: primaryKeys},
	{name: "foreign_key_indexes", title: "Foreign keys without a supporting index", noun: "foreign key without an index", nouns: "foreign keys without an index", run: foreignKeyIndexes},
	{name: "sequences", title: "Sequences and identity columns near exhaustion", noun: "sequence near exhaustion", nouns: "sequences near exhaustion", run: sequences},
	{name: "wraparound", title: "Transaction ID and multixact wraparound", noun: "relation with old XIDs", nouns: "relations with old XIDs", run: wraparound},
	{name: "vacuum", title: "Vacuum and analyze staleness, dead tuples", noun: "table needing vacuum or analyze", nouns: "tables needing vacuum or analyze", run: vacuum},
	{name: "connections", title: "Connections against max_connections", noun: "connection problem", nouns: "connection problems", needsStats: true, run: connections},
	{name: "idle_in_transaction", title: "Sessions idle in transaction", noun: "session idle in transaction", nouns: "sessions idle in transaction", needsStats: true, run: idleInTransaction},
	{name: "long_running_queries", title: "Long-running queries", noun: "long-running query", nouns: "long-running queries", needsStats: true, run: longQueries},
	{name: "locks", title: "Lock waits and blockers", noun: "session waiting for a lock", nouns: "sessions waiting for locks", needsStats: true, run: lockWaits},
	{name: "cache_hit", title: "Buffer cache hit ratio", noun: "low hit ratio", nouns: "low hit ratios", run: cacheHit},
	{name: "replication", title: "Replication lag and slots retaining WAL", noun: "replication problem", nouns: "replication problems", needsStats: true, run: replication},
	{name: "constraints", title: "NOT VALID constraints", noun: "constraint not validated", nouns: "constraints not validated", run: notValid},
}

// closest returns the name nearest to s when it is a likely typo.
func closest(s string, names []string) string {
	best, dist := "", 4
	for _, n := range names {
		if d := editdist.Levenshtein(s, n); d < dist {
			best, dist = n, d
		}
	}
	return best
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// quoteIdent quotes an identifier the way quote_ident does for the names
// pgherd prints in advice (always quoting is correct, just noisier).
func quoteIdent(s string) string {
	simple := s != ""
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || i > 0 && (r >= '0' && r <= '9' || r == '$')) {
			simple = false
			break
		}
	}
	if simple {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// quoteLiteral quotes a string constant (standard_conforming_strings on).
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// collect reads every row of rows into T by position.
func collect[T any](rows pgx.Rows, err error) ([]T, error) {
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[T])
}

// userRel is a condition on the pg_class alias c, with its pg_namespace
// joined as n: the relation is in a user schema and not part of an
// extension.
func userRel(c, n string) string {
	return strings.NewReplacer("{c}", c, "{n}", n).Replace(
		`{n}.nspname NOT IN ('pg_catalog', 'information_schema') AND {n}.nspname !~ '^pg_(toast|temp_)'
	AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend dep WHERE dep.classid = 'pg_catalog.pg_class'::regclass AND dep.objid = {c}.oid AND dep.deptype = 'e')`)
}

func percent(part, whole float64) float64 {
	if whole <= 0 {
		return 0
	}
	return round1(100 * part / whole)
}

func round1(x float64) float64 { return float64(int64(x*10+0.5)) / 10 }

func bytesText(b int64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", b)
}

func durText(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%.1f days", d.Hours()/24)
	case d >= time.Hour:
		return fmt.Sprintf("%.1f h", d.Hours())
	case d >= time.Minute:
		return fmt.Sprintf("%.1f min", d.Minutes())
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

// interval renders d as a PostgreSQL interval literal.
func interval(d time.Duration) string {
	return fmt.Sprintf("interval '%d milliseconds'", d.Milliseconds())
}

// truncate shortens s to n runes with an ellipsis.
func truncate(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// level maps a value to a status given its warning and critical levels
// (higher is worse).
func level[T int64 | float64 | time.Duration](v, warn, crit T) Status {
	switch {
	case v >= crit:
		return Critical
	case v >= warn:
		return Warning
	}
	return OK
}
