package dbhealth

import (
	"context"
	"fmt"
	"math"
	"math/big"
	"time"

	"github.com/jackc/pgx/v5"
)

// sequences finds sequences (serial, identity and plain ones used by a
// column default) that have used up much of their range. The range ends at
// the sequence's own limit or at the column type's, whichever comes first:
// an integer column fed by a bigint sequence fails at 2^31-1.
func sequences(ctx context.Context, q pgx.Tx, e *env) (*outcome, error) {
	type user struct {
		Table    string `json:"table"`
		TableOID int64  `json:"tableoid"`
		Column   string `json:"column"`
		AttNum   int16  `json:"attnum"`
		Type     string `json:"type"`
		TypeMin  *int64 `json:"typemin"`
		TypeMax  *int64 `json:"typemax"`
		Identity bool   `json:"identity"`
	}
	type row struct {
		Seq       string
		SeqType   string
		Min, Max  int64
		Increment int64
		Cycle     bool
		Readable  bool
		Last      *int64
		Users     []user
	}
	rows, err := collect[row](q.Query(ctx, `
WITH users AS (
  SELECT d.objid AS seq, d.refobjid AS tbl, d.refobjsubid::int2 AS attnum
    FROM pg_catalog.pg_depend d
   WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.refclassid = 'pg_catalog.pg_class'::regclass
     AND d.refobjsubid > 0 AND d.deptype IN ('a', 'i')
  UNION
  SELECT d.refobjid, ad.adrelid, ad.adnum
    FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_attrdef ad ON ad.oid = d.objid
   WHERE d.classid = 'pg_catalog.pg_attrdef'::regclass AND d.refclassid = 'pg_catalog.pg_class'::regclass
), cols AS (
  -- Grouped once and joined: a lookup per sequence would scan every
  -- dependency once per sequence.
  SELECT u.seq, json_agg(json_build_object(
           'table', format('%I.%I', tn.nspname, t.relname), 'tableoid', t.oid::bigint, 'column', format('%I', a.attname), 'attnum', a.attnum,
           'type', format_type(a.atttypid, a.atttypmod),
           'typemin', CASE a.atttypid WHEN 'int2'::regtype THEN -32768 WHEN 'int4'::regtype THEN -2147483648 END,
           'typemax', CASE a.atttypid WHEN 'int2'::regtype THEN 32767 WHEN 'int4'::regtype THEN 2147483647 END,
           'identity', a.attidentity <> '') ORDER BY t.relname, a.attname) AS users
    FROM users u JOIN pg_catalog.pg_class t ON t.oid = u.tbl
    JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace
    JOIN pg_catalog.pg_attribute a ON a.attrelid = u.tbl AND a.attnum = u.attnum
   GROUP BY u.seq
)
SELECT format('%I.%I', n.nspname, c.relname), format_type(s.seqtypid, NULL), s.seqmin, s.seqmax, s.seqincrement, s.seqcycle,
       pg_catalog.has_sequence_privilege(c.oid, 'SELECT,USAGE'),
       CASE WHEN pg_catalog.has_sequence_privilege(c.oid, 'SELECT,USAGE') THEN pg_catalog.pg_sequence_last_value(c.oid) END,
       coalesce(cols.users, '[]')
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_sequence s ON s.seqrelid = c.oid
  LEFT JOIN cols ON cols.seq = c.oid
 WHERE c.relkind = 'S' AND `+userRel("c", "n")+`
 ORDER BY 1`))
	if err != nil {
		return nil, err
	}
	out := &outcome{}
	unreadable := 0
	for _, r := range rows {
		if !r.Readable {
			unreadable++
			continue
		}
		if r.Last == nil || r.Cycle || r.Increment == 0 {
			continue // never used; or wraps around on purpose
		}
		// The usable range, narrowed by every column the sequence feeds.
		lo, hi := r.Min, r.Max
		limitedBy := "sequence " + r.Seq + " (" + r.SeqType + ")"
		var narrow []user
		cols := make([]map[string]any, 0, len(r.Users))
		for _, u := range r.Users {
			cols = append(cols, map[string]any{"table": u.Table, "column": u.Column, "type": u.Type, "identity": u.Identity})
			if r.Increment > 0 && u.TypeMax != nil && *u.TypeMax <= hi {
				hi, limitedBy = *u.TypeMax, "column "+u.Table+"."+u.Column+" ("+u.Type+")"
			}
			if r.Increment < 0 && u.TypeMin != nil && *u.TypeMin >= lo {
				lo, limitedBy = *u.TypeMin, "column "+u.Table+"."+u.Column+" ("+u.Type+")"
			}
			if u.TypeMax != nil {
				narrow = append(narrow, u)
			}
		}
		var used, span *big.Int
		if r.Increment > 0 {
			used, span = new(big.Int).Sub(big.NewInt(*r.Last), big.NewInt(r.Min)), new(big.Int).Sub(big.NewInt(hi), big.NewInt(r.Min))
		} else {
			used, span = new(big.Int).Sub(big.NewInt(r.Max), big.NewInt(*r.Last)), new(big.Int).Sub(big.NewInt(r.Max), big.NewInt(lo))
		}
		if span.Sign() <= 0 {
			continue
		}
		uf, _ := new(big.Float).SetInt(used).Float64()
		sf, _ := new(big.Float).SetInt(span).Float64()
		pct := 100 * uf / sf
		st := level(pct, float64(e.th.SequenceWarningPercent), float64(e.th.SequenceCriticalPercent))
		if st == OK {
			continue
		}
		left := new(big.Int).Sub(span, used)
		leftCalls := new(big.Int).Quo(left, big.NewInt(abs(r.Increment)))
		f := Finding{
			Status: st,
			Object: r.Seq,
			Summary: fmt.Sprintf("sequence %s has used %.1f%% of its range (limited by %s): %s values left", r.Seq, pct, limitedBy,
				leftCalls.String()),
			Evidence: map[string]any{"last_value": *r.Last, "min_value": lo, "max_value": hi, "increment": r.Increment,
				"sequence_type": r.SeqType, "limited_by": limitedBy, "used_percent": round1(pct), "values_left": leftCalls.String(),
				"columns": cols},
		}
		if len(narrow) > 0 {
			// Widen every integer column fed by the sequence, then every
			// foreign key column referencing them, then the sequence.
			for _, u := range narrow {
				f.Remedy = append(f.Remedy, fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s TYPE bigint;", u.Table, u.Column))
				refs, err := referencing(ctx, q, u.TableOID, u.AttNum)
				if err != nil {
					return nil, err
				}
				f.Remedy = append(f.Remedy, refs...)
			}
			f.Advice = "ALTER COLUMN … TYPE bigint rewrites the table and its indexes under an ACCESS EXCLUSIVE lock: plan a window, " +
				"or on a big table migrate through a new bigint column filled in batches"
		}
		if r.SeqType != "bigint" || (r.Increment > 0 && r.Max < math.MaxInt64 && len(narrow) == 0) || (r.Increment < 0 && r.Min > math.MinInt64 && len(narrow) == 0) {
			bound := "NO MAXVALUE"
			if r.Increment < 0 {
				bound = "NO MINVALUE"
			}
			f.Remedy = append(f.Remedy, fmt.Sprintf("ALTER SEQUENCE %s AS bigint %s;", r.Seq, bound))
		}
		out.findings = append(out.findings, f)
	}
	if unreadable > 0 {
		out.notes = append(out.notes, fmt.Sprintf("%d sequence(s) not checked: the role lacks SELECT or USAGE on them (GRANT SELECT ON ALL SEQUENCES IN SCHEMA … TO %s)", unreadable, quoteIdent(e.role)))
	}
	return out, nil
}

// referencing returns ALTER statements widening the integer columns of
// foreign keys that reference column attnum of table tbl.
func referencing(ctx context.Context, q pgx.Tx, tbl int64, attnum int16) ([]string, error) {
	rows, err := collect[struct{ Stmt string }](q.Query(ctx, `
SELECT DISTINCT format('ALTER TABLE %I.%I ALTER COLUMN %I TYPE bigint;', n.nspname, c.relname, a.attname)
  FROM pg_catalog.pg_constraint f
  CROSS JOIN LATERAL unnest(f.confkey, f.conkey) AS k(ref, col)
  JOIN pg_catalog.pg_class c ON c.oid = f.conrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_attribute a ON a.attrelid = f.conrelid AND a.attnum = k.col
 WHERE f.contype = 'f' AND f.confrelid = $1::bigint::oid AND k.ref = $2 AND f.conparentid = 0
   AND a.atttypid IN ('int2'::regtype, 'int4'::regtype)
 ORDER BY 1`, tbl, attnum))
	if err != nil {
		return nil, err
	}
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.Stmt
	}
	return out, nil
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// wraparound reports the transaction ID and multixact ID age of the
// database and of the tables holding it back. PostgreSQL stops assigning
// transaction IDs near 2^31 to avoid wraparound; VACUUM (FREEZE) advances
// a table's horizon, if nothing (an old transaction, prepared transaction
// or replication slot) holds it back.
func wraparound(ctx context.Context, q pgx.Tx, e *env) (*outcome, error) {
	var dbXID, dbMXID, freezeMax int64
	err := q.QueryRow(ctx, `SELECT age(d.datfrozenxid), mxid_age(d.datminmxid), current_setting('autovacuum_freeze_max_age')::bigint
	  FROM pg_catalog.pg_database d WHERE d.datname = current_database()`).Scan(&dbXID, &dbMXID, &freezeMax)
	if err != nil {
		return nil, err
	}
	type row struct {
		Table string
		XID   int64
		MXID  int64
		Bytes int64
	}
	rows, err := collect[row](q.Query(ctx, `
SELECT format('%I.%I', n.nspname, c.relname), max(age(x.relfrozenxid)), max(mxid_age(x.relminmxid)), pg_catalog.pg_total_relation_size(c.oid)
  FROM pg_catalog.pg_class x
  JOIN pg_catalog.pg_class c ON c.oid = x.oid OR (x.relkind = 't' AND c.reltoastrelid = x.oid)
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE x.relkind IN ('r', 'm', 't') AND c.relkind IN ('r', 'm')
   AND (age(x.relfrozenxid) >= $1 OR mxid_age(x.relminmxid) >= $1)
 GROUP BY 1, 4
 ORDER BY greatest(max(age(x.relfrozenxid)), max(mxid_age(x.relminmxid))) DESC, 1
 LIMIT 100`, e.th.XIDAgeWarning))
	if err != nil {
		return nil, err
	}
	out := &outcome{}
	worst := max(dbXID, dbMXID)
	out.summary = fmt.Sprintf("database XID age %d, multixact age %d (2^31 ≈ 2147 million stops writes; autovacuum_freeze_max_age %d)", dbXID, dbMXID, freezeMax)
	var holders string
	if worst >= e.th.XIDAgeWarning {
		holders = xminHolders(ctx, q)
	}
	for _, r := range rows {
		age := max(r.XID, r.MXID)
		st := level(age, e.th.XIDAgeWarning, e.th.XIDAgeCritical)
		kind := "transaction ID"
		if r.MXID > r.XID {
			kind = "multixact ID"
		}
		f := Finding{
			Status: st,
			Object: r.Table,
			Summary: fmt.Sprintf("table %s has %s age %d: %.0f%% of the way to wraparound", r.Table, kind, age,
				100*float64(age)/float64(1<<31)),
			Evidence: map[string]any{"xid_age": r.XID, "multixact_age": r.MXID, "total_bytes": r.Bytes,
				"database_xid_age": dbXID, "database_multixact_age": dbMXID, "autovacuum_freeze_max_age": freezeMax},
			Remedy: []string{"VACUUM (FREEZE, ANALYZE) " + r.Table + ";"},
			Advice: "run it as the table's owner or a superuser. If the age does not drop afterwards, something holds the horizon back: " +
				"a long-open transaction, a forgotten prepared transaction (pg_prepared_xacts) or a replication slot (pg_replication_slots)",
		}
		if holders != "" {
			f.Evidence["oldest_horizon_holders"] = holders
		}
		out.findings = append(out.findings, f)
	}
	if len(out.findings) == 0 && worst >= e.th.XIDAgeWarning {
		out.findings = append(out.findings, Finding{
			Status:   level(worst, e.th.XIDAgeWarning, e.th.XIDAgeCritical),
			Summary:  fmt.Sprintf("database has XID age %d and multixact age %d, but no table this role can see is that old", dbXID, dbMXID),
			Evidence: map[string]any{"database_xid_age": dbXID, "database_multixact_age": dbMXID, "oldest_horizon_holders": holders},
			Advice:   "run vacuumdb --freeze on this database as a superuser",
		})
	}
	return out, nil
}

// xminHolders describes what may hold the xmin horizon back, for the
// evidence of a wraparound finding; it never fails the check.
func xminHolders(ctx context.Context, q pgx.Tx) string {
	sp, err := q.Begin(ctx)
	if err != nil {
		return ""
	}
	defer sp.Rollback(ctx)
	var s string
	err = sp.QueryRow(ctx, `SELECT concat_ws('; ',
	  (SELECT 'oldest session xmin age ' || max(age(backend_xmin)) FROM pg_catalog.pg_stat_activity WHERE backend_xmin IS NOT NULL),
	  (SELECT 'prepared transactions: ' || count(*) || ', oldest age ' || max(age(transaction)) FROM pg_catalog.pg_prepared_xacts HAVING count(*) > 0),
	  (SELECT 'replication slots holding xmin: ' || string_agg(slot_name || ' (age ' || greatest(age(xmin), age(catalog_xmin)) || ')', ', ')
	     FROM pg_catalog.pg_replication_slots WHERE xmin IS NOT NULL OR catalog_xmin IS NOT NULL))`).Scan(&s)
	if err != nil {
		return ""
	}
	return s
}

// vacuum finds tables with many dead tuples (vacuum has not kept up),
// statistics that are stale or missing (the planner is guessing), and
// autovacuum switched off.
func vacuum(ctx context.Context, q pgx.Tx, e *env) (*outcome, error) {
	out := &outcome{}
	var autovacuum, trackCounts string
	if err := q.QueryRow(ctx, `SELECT current_setting('autovacuum'), current_setting('track_counts')`).Scan(&autovacuum, &trackCounts); err != nil {
		return nil, err
	}
	if trackCounts != "on" {
		out.findings = append(out.findings, Finding{
			Status:  Critical,
			Summary: "track_counts is off: PostgreSQL keeps no table statistics, so autovacuum cannot work and this check sees nothing",
			Remedy:  []string{"ALTER SYSTEM SET track_counts = on;", "SELECT pg_reload_conf();"},
			Advice:  "needs a superuser",
		})
	}
	if autovacuum != "on" {
		out.findings = append(out.findings, Finding{
			Status:  Critical,
			Summary: "autovacuum is off: dead tuples pile up, statistics go stale and only anti-wraparound vacuums still run",
			Remedy:  []string{"ALTER SYSTEM SET autovacuum = on;", "SELECT pg_reload_conf();"},
			Advice:  "needs a superuser (or check postgresql.conf, where it may be set)",
		})
	}
	type row struct {
		Table        string
		Live, Dead   int64
		ModSince     int64
		Tuples       int64
		LastVacuum   *time.Time
		LastAutoVac  *time.Time
		LastAnalyze  *time.Time
		LastAutoAnal *time.Time
		AVOff        bool
	}
	rows, err := collect[row](q.Query(ctx, `
SELECT format('%I.%I', n.nspname, c.relname), s.n_live_tup, s.n_dead_tup, s.n_mod_since_analyze, greatest(c.reltuples, 0)::bigint,
       s.last_vacuum, s.last_autovacuum, s.last_analyze, s.last_autoanalyze,
       coalesce('autovacuum_enabled=false' = ANY (c.reloptions) OR 'autovacuum_enabled=off' = ANY (c.reloptions), false)
  FROM pg_catalog.pg_stat_user_tables s
  JOIN pg_catalog.pg_class c ON c.oid = s.relid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'm') AND `+userRel("c", "n")+`
   AND (s.n_dead_tup >= $1 OR s.n_mod_since_analyze >= $2 OR (s.last_analyze IS NULL AND s.last_autoanalyze IS NULL AND s.n_live_tup >= $2))
 ORDER BY s.n_dead_tup DESC, 1`, e.th.DeadTupleMinRows, e.th.AnalyzeMinRows))
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		ev := map[string]any{"live_tuples": r.Live, "dead_tuples": r.Dead, "modified_since_analyze": r.ModSince,
			"last_vacuum": orNever(newest(r.LastVacuum, r.LastAutoVac)), "last_analyze": orNever(newest(r.LastAnalyze, r.LastAutoAnal))}
		var reset []string
		if r.AVOff {
			ev["autovacuum_enabled"] = false
			reset = []string{"ALTER TABLE " + r.Table + " RESET (autovacuum_enabled);"}
		}
		deadPct := percent(float64(r.Dead), float64(r.Live+r.Dead))
		if r.Dead >= e.th.DeadTupleMinRows {
			if st := level(deadPct, float64(e.th.DeadTupleWarningPercent), float64(e.th.DeadTupleCriticalPercent)); st != OK {
				f := Finding{
					Status:   st,
					Object:   r.Table,
					Summary:  fmt.Sprintf("table %s is %.0f%% dead tuples (%d dead, %d live): vacuum has not kept up", r.Table, deadPct, r.Dead, r.Live),
					Evidence: ev,
					Remedy:   append([]string{"VACUUM (ANALYZE) " + r.Table + ";"}, reset...),
					Advice:   "VACUUM does not block reads or writes. If this recurs, make autovacuum visit the table sooner (ALTER TABLE … SET (autovacuum_vacuum_scale_factor = 0.05)) or look for long transactions that keep dead rows alive",
				}
				if r.AVOff {
					f.Summary += "; autovacuum is disabled for this table"
				}
				out.findings = append(out.findings, f)
				continue
			}
		}
		never := r.LastAnalyze == nil && r.LastAutoAnal == nil
		stale := float64(r.ModSince) >= math.Max(float64(e.th.AnalyzeMinRows), float64(e.th.AnalyzeStalePercent)/100*float64(r.Tuples))
		if (never && r.Live >= e.th.AnalyzeMinRows) || (stale && r.ModSince >= e.th.AnalyzeMinRows) {
			summary := fmt.Sprintf("table %s has never been analyzed (%d rows): the planner guesses its row counts and value distributions", r.Table, r.Live)
			if !never {
				summary = fmt.Sprintf("statistics of table %s are stale: %d rows changed since the last analyze (%s)", r.Table, r.ModSince,
					newest(r.LastAnalyze, r.LastAutoAnal).Format(time.RFC3339))
			}
			out.findings = append(out.findings, Finding{
				Status:   Warning,
				Object:   r.Table,
				Summary:  summary,
				Evidence: ev,
				Remedy:   append([]string{"ANALYZE " + r.Table + ";"}, reset...),
				Advice:   "ANALYZE reads a sample of the table and does not block reads or writes",
			})
		}
	}
	return out, nil
}

// newest returns the later of two optional times (zero when both are nil).
func newest(a, b *time.Time) time.Time {
	switch {
	case a == nil && b == nil:
		return time.Time{}
	case a == nil:
		return *b
	case b == nil || a.After(*b):
		return *a
	}
	return *b
}

func orNever(t time.Time) any {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}
