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
)

// Sort orders for [Statements].
const (
	SortTotalTime = "total_time" // total execution time
	SortMeanTime  = "mean_time"  // mean execution time per call
	SortCalls     = "calls"
	SortIO        = "io"   // blocks read from outside the cache plus temporary blocks
	SortTemp      = "temp" // temporary blocks read and written (sorts, hashes spilling to disk)
)

// SortOrders lists the sort orders Statements accepts.
var SortOrders = []string{SortTotalTime, SortMeanTime, SortCalls, SortIO, SortTemp}

// StatementsOptions select and order statements.
type StatementsOptions struct {
	SortBy    string // one of SortOrders; empty means total_time
	Limit     int    // at most this many; zero means 10
	MinCalls  int64
	MinMeanMS float64
	// MaxQueryChars cuts longer query texts (with a marker); zero keeps
	// them whole.
	MaxQueryChars int
}

// Statement is one normalized statement from pg_stat_statements.
type Statement struct {
	QueryID     string   `json:"queryid" jsonschema:"pg_stat_statements queryid (as text: it does not fit a JSON number)"`
	Query       string   `json:"query" jsonschema:"normalized text: constants are $1, $2, …"`
	Role        string   `json:"role" jsonschema:"the role that ran it"`
	Calls       int64    `json:"calls"`
	TotalMS     float64  `json:"total_exec_ms"`
	MeanMS      float64  `json:"mean_exec_ms"`
	StddevMS    float64  `json:"stddev_exec_ms"`
	MinMS       float64  `json:"min_exec_ms"`
	MaxMS       float64  `json:"max_exec_ms"`
	Rows        int64    `json:"rows"`
	SharedHit   int64    `json:"shared_blks_hit"`
	SharedRead  int64    `json:"shared_blks_read"`
	HitPercent  *float64 `json:"cache_hit_percent,omitempty" jsonschema:"shared blocks found in the buffer cache, percent"`
	TempRead    int64    `json:"temp_blks_read"`
	TempWritten int64    `json:"temp_blks_written"`
	// TimePercent is this statement's share of the database's total
	// execution time; SortPercent its share of the sort metric's total.
	TimePercent float64 `json:"time_percent" jsonschema:"share of the database's total execution time, percent"`
	SortPercent float64 `json:"sort_percent" jsonschema:"share of the database's total of the sort metric, percent"`
}

// TopQueries is what [Statements] returns.
type TopQueries struct {
	Database string `json:"database"`
	SortBy   string `json:"sort_by"`
	// Statements counts the distinct statements recorded for this database.
	StatementCount int64       `json:"statement_count"`
	TotalCalls     int64       `json:"total_calls"`
	TotalMS        float64     `json:"total_exec_ms"`
	StatsSince     *time.Time  `json:"stats_since,omitempty" jsonschema:"when pg_stat_statements was last reset (PostgreSQL 14+)"`
	Statements     []Statement `json:"statements"`
	Notes          []string    `json:"notes,omitempty"`
}

// ExtensionError says pg_stat_statements cannot be read and the exact
// change that fixes it.
type ExtensionError struct{ Msg string }

func (e *ExtensionError) Error() string { return e.Msg }

// Statements reads pg_stat_statements for the current database only (its
// dbid), top-level statements only where the server records the
// distinction (PostgreSQL 14+), with the column names of PostgreSQL 13 to
// 17. A missing, not created or not preloaded extension gives an
// *ExtensionError naming the change to make.
func Statements(ctx context.Context, q pgx.Tx, opts StatementsOptions) (*TopQueries, error) {
	if opts.SortBy == "" {
		opts.SortBy = SortTotalTime
	}
	if !slices.Contains(SortOrders, opts.SortBy) {
		return nil, fmt.Errorf("sort_by %q is not one of %s", opts.SortBy, strings.Join(SortOrders, ", "))
	}
	if opts.Limit <= 0 {
		opts.Limit = 10
	}
	var (
		db, schema, preload *string
		version             int
		available           bool
		dbName              string
	)
	err := q.QueryRow(ctx, `
SELECT current_database(),
       (SELECT n.nspname::text FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_stat_statements'),
       EXISTS (SELECT FROM pg_catalog.pg_available_extensions WHERE name = 'pg_stat_statements'),
       (SELECT setting FROM pg_catalog.pg_settings WHERE name = 'shared_preload_libraries'),
       current_setting('server_version_num')::int`).Scan(&dbName, &schema, &available, &preload, &version)
	if err != nil {
		return nil, err
	}
	db = &dbName
	major := version / 10000
	preloaded := preload == nil || slices.Contains(splitList(*preload), "pg_stat_statements")
	loadStep := "add pg_stat_statements to shared_preload_libraries and restart PostgreSQL: ALTER SYSTEM SET shared_preload_libraries = " +
		quoteLiteral(strings.Join(append(splitListOr(preload), "pg_stat_statements"), ", ")) + " (as a superuser; keep what is already listed), then restart"
	createStep := fmt.Sprintf("run CREATE EXTENSION pg_stat_statements in database %s (as its owner or a superuser)", quoteIdent(*db))
	switch {
	case !available:
		return nil, &ExtensionError{fmt.Sprintf("pg_stat_statements is not installed on this PostgreSQL %d server: install it "+
			"(Debian/Ubuntu ship it in postgresql-%d, RHEL in postgresql%d-contrib), %s, then %s", major, major, major, loadStep, createStep)}
	case schema == nil && !preloaded:
		return nil, &ExtensionError{fmt.Sprintf("pg_stat_statements is not set up: %s, then %s", loadStep, createStep)}
	case schema == nil:
		return nil, &ExtensionError{"pg_stat_statements is loaded but not created in this database: " + createStep}
	case !preloaded:
		return nil, &ExtensionError{"pg_stat_statements is created but not loaded, so it records nothing: " + loadStep}
	}
	view := quoteIdent(*schema) + ".pg_stat_statements"

	var cols []string
	if err := q.QueryRow(ctx, `SELECT array_agg(attname::text) FROM pg_catalog.pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped`, view).Scan(&cols); err != nil {
		return nil, err
	}
	col := func(names ...string) string {
		for _, n := range names {
			if slices.Contains(cols, n) {
				return n
			}
		}
		return "0"
	}
	total, mean, stddev := col("total_exec_time", "total_time"), col("mean_exec_time", "mean_time"), col("stddev_exec_time", "stddev_time")
	minT, maxT := col("min_exec_time", "min_time"), col("max_exec_time", "max_time")
	io := "(shared_blks_read + local_blks_read + temp_blks_read + temp_blks_written)"
	temp := "(temp_blks_read + temp_blks_written)"
	metric := map[string]string{SortTotalTime: total, SortMeanTime: mean, SortCalls: "calls", SortIO: io, SortTemp: temp}[opts.SortBy]
	where := "dbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())"
	if slices.Contains(cols, "toplevel") {
		where += " AND toplevel"
	}

	out := &TopQueries{Database: *db, SortBy: opts.SortBy}
	var sortTotal float64
	err = q.QueryRow(ctx, `SELECT count(*), coalesce(sum(calls), 0)::bigint, coalesce(sum(`+total+`), 0)::float8, coalesce(sum(`+metric+`), 0)::float8
	  FROM `+view+` WHERE `+where).Scan(&out.StatementCount, &out.TotalCalls, &out.TotalMS, &sortTotal)
	if err != nil {
		return nil, statementsError(err, loadStep)
	}
	if major >= 14 {
		var since time.Time
		if err := q.QueryRow(ctx, `SELECT stats_reset FROM `+quoteIdent(*schema)+`.pg_stat_statements_info`).Scan(&since); err == nil {
			out.StatsSince = &since
		}
	}
	rows, err := q.Query(ctx, `
SELECT coalesce(queryid::text, ''), coalesce(query, ''), coalesce(userid::regrole::text, ''), calls,
       `+total+`::float8, `+mean+`::float8, `+stddev+`::float8, `+minT+`::float8, `+maxT+`::float8, rows,
       shared_blks_hit, shared_blks_read, temp_blks_read, temp_blks_written, (`+metric+`)::float8
  FROM `+view+`
 WHERE `+where+` AND calls >= $1 AND `+mean+` >= $2
 ORDER BY 15 DESC, 1
 LIMIT $3`, opts.MinCalls, opts.MinMeanMS, opts.Limit)
	if err != nil {
		return nil, statementsError(err, loadStep)
	}
	defer rows.Close()
	hidden := 0
	for rows.Next() {
		var s Statement
		var m float64
		if err := rows.Scan(&s.QueryID, &s.Query, &s.Role, &s.Calls, &s.TotalMS, &s.MeanMS, &s.StddevMS, &s.MinMS, &s.MaxMS, &s.Rows,
			&s.SharedHit, &s.SharedRead, &s.TempRead, &s.TempWritten, &m); err != nil {
			return nil, err
		}
		if s.Query == "<insufficient privilege>" {
			hidden++
		}
		if opts.MaxQueryChars > 0 {
			if r := []rune(s.Query); len(r) > opts.MaxQueryChars {
				s.Query = string(r[:opts.MaxQueryChars]) + " …[cut]"
			}
		}
		if all := s.SharedHit + s.SharedRead; all > 0 {
			p := percent(float64(s.SharedHit), float64(all))
			s.HitPercent = &p
		}
		s.TotalMS, s.MeanMS, s.StddevMS, s.MinMS, s.MaxMS = round3(s.TotalMS), round3(s.MeanMS), round3(s.StddevMS), round3(s.MinMS), round3(s.MaxMS)
		s.TimePercent = percent(s.TotalMS, out.TotalMS)
		s.SortPercent = percent(m, sortTotal)
		out.Statements = append(out.Statements, s)
	}
	if err := rows.Err(); err != nil {
		return nil, statementsError(err, loadStep)
	}
	out.TotalMS = round3(out.TotalMS)
	if hidden > 0 {
		out.Notes = append(out.Notes, fmt.Sprintf("%d statement(s) of other roles show no text: the role needs pg_read_all_stats (GRANT pg_monitor TO %s)", hidden, quoteIdent(roleOf(ctx, q))))
	}
	if out.StatementCount == 0 {
		out.Notes = append(out.Notes, "pg_stat_statements has recorded no statements in this database yet (since its last reset)")
	}
	return out, nil
}

// statementsError turns "must be loaded via shared_preload_libraries" into
// the change to make.
func statementsError(err error, loadStep string) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "55000" && strings.Contains(pe.Message, "shared_preload_libraries") {
		return &ExtensionError{"pg_stat_statements is created but not loaded: " + loadStep}
	}
	return err
}

func roleOf(ctx context.Context, q pgx.Tx) string {
	var r string
	_ = q.QueryRow(ctx, `SELECT current_user`).Scan(&r)
	return r
}

func round3(x float64) float64 { return float64(int64(x*1000+0.5)) / 1000 }

// splitList splits a comma-separated setting value.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.Trim(strings.TrimSpace(f), `"`); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func splitListOr(p *string) []string {
	if p == nil {
		return nil
	}
	return slices.DeleteFunc(splitList(*p), func(s string) bool { return s == "pg_stat_statements" })
}
