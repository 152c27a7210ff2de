package dbhealth

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// invalidIndexes finds indexes PostgreSQL does not use because a build
// failed (CREATE INDEX CONCURRENTLY, REINDEX CONCURRENTLY) or, for a
// partitioned index, because a partition has no index attached. They still
// cost every write.
func invalidIndexes(ctx context.Context, q pgx.Tx, e *env) (*outcome, error) {
	type row struct {
		Index, Table, Def string
		Bytes             int64
		Partitioned       bool
		Building          bool
		Leftover          bool
	}
	rows, err := collect[row](q.Query(ctx, `
SELECT format('%I.%I', n.nspname, c.relname), format('%I.%I', n.nspname, t.relname), pg_catalog.pg_get_indexdef(c.oid),
       pg_catalog.pg_relation_size(c.oid), t.relkind = 'p',
       EXISTS (SELECT FROM pg_catalog.pg_stat_progress_create_index p WHERE p.index_relid = c.oid),
       c.relname ~ '_cc(new|old)[0-9]*$'
  FROM pg_catalog.pg_index i
  JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
  JOIN pg_catalog.pg_class t ON t.oid = i.indrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
 WHERE NOT i.indisvalid AND `+userRel("t", "n")+`
 ORDER BY 1`))
	if err != nil {
		return nil, err
	}
	out := &outcome{}
	building := 0
	for _, r := range rows {
		if r.Building {
			building++
			continue
		}
		f := Finding{
			Status:   Warning,
			Object:   r.Index,
			Summary:  fmt.Sprintf("index %s on %s is invalid: queries never use it, but every write still maintains it", r.Index, r.Table),
			Evidence: map[string]any{"table": r.Table, "definition": r.Def, "size_bytes": r.Bytes},
		}
		switch {
		case r.Partitioned:
			f.Advice = "a partitioned index is valid only once every partition has a matching index attached: create the missing partition indexes, then ALTER INDEX " + r.Index + " ATTACH PARTITION each of them"
		case r.Leftover:
			f.Summary = fmt.Sprintf("index %s on %s is a leftover of a failed REINDEX CONCURRENTLY (invalid, still maintained on every write)", r.Index, r.Table)
			f.Remedy = []string{"DROP INDEX CONCURRENTLY IF EXISTS " + r.Index + ";"}
		default:
			f.Remedy = []string{"REINDEX INDEX CONCURRENTLY " + r.Index + ";"}
			f.Advice = "if the build failed on duplicate values (a unique index) or an expression error, fix the data first; " +
				"if the index is not needed, DROP INDEX CONCURRENTLY " + r.Index + " instead"
		}
		out.findings = append(out.findings, f)
	}
	if building > 0 {
		out.notes = append(out.notes, fmt.Sprintf("%d index(es) are being built right now (invalid until the build ends) and are not reported", building))
	}
	return out, nil
}

// indexInfo is one valid index, as the duplicate check compares them.
type indexInfo struct {
	OID        uint32
	Name       string
	Table      string
	TableOID   uint32
	AM         string
	Unique     bool
	KeyCount   int16
	Cols       []string
	OpClasses  string
	Collations string
	Options    string
	Predicate  string
	Constraint *string
	FKDepends  bool
	Bytes      int64
	Scans      int64
	Def        string
}

func (ix *indexInfo) keys() []string     { return ix.Cols[:ix.KeyCount] }
func (ix *indexInfo) includes() []string { return ix.Cols[ix.KeyCount:] }

// duplicateIndexes finds indexes another index makes unnecessary: exact
// duplicates (same method, columns or expressions, operator classes,
// collations, ordering, predicate) and, for B-trees, indexes whose key
// columns are a leading prefix of another's with the same predicate.
func duplicateIndexes(ctx context.Context, q pgx.Tx, e *env) (*outcome, error) {
	// pg_constraint has no index on conindid: constraints are grouped
	// once and joined, never looked up per index.
	list, err := collect[indexInfo](q.Query(ctx, `
WITH cons AS (
  SELECT conindid, min(conname::text) FILTER (WHERE contype IN ('p', 'u', 'x')) AS backing, bool_or(contype = 'f') AS fk
    FROM pg_catalog.pg_constraint WHERE conindid <> 0 GROUP BY conindid
)
SELECT c.oid, format('%I.%I', n.nspname, c.relname), format('%I.%I', n.nspname, t.relname), t.oid, am.amname,
       i.indisunique, i.indnkeyatts,
       ARRAY(SELECT pg_catalog.pg_get_indexdef(c.oid, k, true) FROM pg_catalog.generate_series(1, i.indnatts::int) k ORDER BY k),
       i.indclass::text, i.indcollation::text, i.indoption::text,
       coalesce(pg_catalog.pg_get_expr(i.indpred, i.indrelid, true), ''),
       cons.backing, coalesce(cons.fk, false),
       pg_catalog.pg_relation_size(c.oid), coalesce(pg_catalog.pg_stat_get_numscans(c.oid), 0), pg_catalog.pg_get_indexdef(c.oid)
  FROM pg_catalog.pg_index i
  JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
  JOIN pg_catalog.pg_class t ON t.oid = i.indrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
  JOIN pg_catalog.pg_am am ON am.oid = c.relam
  LEFT JOIN cons ON cons.conindid = c.oid
 WHERE i.indisvalid AND `+userRel("t", "n")+`
   -- Only indexes sharing their first key column (or both starting with
   -- an expression) with another index of the table can be duplicates
   -- or prefixes: the rest need no definition text.
   AND EXISTS (SELECT FROM pg_catalog.pg_index o WHERE o.indrelid = i.indrelid AND o.indexrelid <> i.indexrelid
                 AND o.indisvalid AND o.indkey[0] = i.indkey[0])
 ORDER BY t.oid, c.oid`))
	if err != nil {
		return nil, err
	}
	out := &outcome{}
	byTable := map[uint32][]*indexInfo{}
	var tables []uint32
	for i := range list {
		ix := &list[i]
		if _, ok := byTable[ix.TableOID]; !ok {
			tables = append(tables, ix.TableOID)
		}
		byTable[ix.TableOID] = append(byTable[ix.TableOID], ix)
	}
	for _, t := range tables {
		out.findings = append(out.findings, redundantIn(byTable[t])...)
	}
	return out, nil
}

// redundantIn compares the indexes of one table.
func redundantIn(ixs []*indexInfo) []Finding {
	// covers[a] is an index that makes a unnecessary. dropFirst is a
	// strict order, so following covers ends at an index that stays.
	covers := map[*indexInfo]*indexInfo{}
	for _, a := range ixs {
		for _, b := range ixs {
			if a != b && dropFirst(a, b) {
				covers[a] = b
				break
			}
		}
	}
	var out []Finding
	for _, a := range ixs {
		b, ok := covers[a]
		if !ok {
			continue
		}
		for i := 0; i < len(ixs) && covers[b] != nil; i++ {
			b = covers[b]
		}
		kind := "made redundant by"
		if sameIndex(a, b) && a.Unique == b.Unique {
			kind = "a duplicate of"
		}
		f := Finding{
			Status:  Warning,
			Object:  a.Name,
			Summary: fmt.Sprintf("index %s on %s is %s %s: drop it to save %s and the cost of maintaining it on every write", a.Name, a.Table, kind, b.Name, bytesText(a.Bytes)),
			Evidence: map[string]any{
				"table": a.Table, "definition": a.Def, "size_bytes": a.Bytes, "index_scans": a.Scans,
				"covered_by": b.Name, "covered_by_definition": b.Def,
			},
		}
		if a.Constraint != nil {
			table := a.Table
			f.Remedy = []string{fmt.Sprintf("ALTER TABLE %s DROP CONSTRAINT %s;", table, quoteIdent(*a.Constraint))}
			f.Advice = "the index backs constraint " + *a.Constraint + "; dropping the constraint drops the index (ACCESS EXCLUSIVE lock, brief)"
		} else {
			f.Remedy = []string{"DROP INDEX CONCURRENTLY " + a.Name + ";"}
		}
		if a.Scans > 0 {
			f.Advice = strings.TrimPrefix(f.Advice+"; ", "; ") + fmt.Sprintf("queries used it %d times since the statistics reset; %s serves them as well", a.Scans, b.Name)
		}
		out = append(out, f)
	}
	return out
}

// dropFirst reports whether a can be dropped because b does its job.
func dropFirst(a, b *indexInfo) bool {
	if a.AM != b.AM || a.Predicate != b.Predicate || a.FKDepends {
		return false
	}
	if sameIndex(a, b) {
		switch {
		case a.Unique != b.Unique:
			return !a.Unique // the unique one also serves every lookup
		case (a.Constraint != nil) != (b.Constraint != nil):
			return a.Constraint == nil
		case a.Constraint != nil && b.FKDepends:
			return true // both back constraints; b is the one foreign keys use
		case a.Constraint != nil:
			return a.OID > b.OID && !b.FKDepends
		case a.Scans != b.Scans:
			return a.Scans < b.Scans
		}
		return a.OID > b.OID
	}
	// A B-tree whose keys lead another's: the longer one serves every
	// search the shorter can, unless the shorter enforces uniqueness.
	if a.AM != "btree" || a.Unique || a.Constraint != nil || int(a.KeyCount) > int(b.KeyCount) {
		return false
	}
	if !slices.Equal(a.keys(), b.keys()[:a.KeyCount]) ||
		!prefixFields(a.OpClasses, b.OpClasses, int(a.KeyCount)) ||
		!prefixFields(a.Collations, b.Collations, int(a.KeyCount)) ||
		!prefixFields(a.Options, b.Options, int(a.KeyCount)) {
		return false
	}
	have := append(slices.Clone(b.keys()), b.includes()...)
	for _, c := range a.includes() {
		if !slices.Contains(have, c) {
			return false
		}
	}
	// Keys equal and includes equal is the duplicate case above.
	return int(a.KeyCount) < int(b.KeyCount) || len(a.includes()) < len(b.includes())
}

// sameIndex: same keys in the same order with the same operator classes,
// collations and ordering, and the same included columns.
func sameIndex(a, b *indexInfo) bool {
	ai, bi := slices.Clone(a.includes()), slices.Clone(b.includes())
	slices.Sort(ai)
	slices.Sort(bi)
	return slices.Equal(a.keys(), b.keys()) && a.OpClasses == b.OpClasses && a.Collations == b.Collations &&
		a.Options == b.Options && slices.Equal(ai, bi)
}

// prefixFields compares the first n space-separated fields of two vectors
// as PostgreSQL prints them ("1978 1978").
func prefixFields(a, b string, n int) bool {
	fa, fb := strings.Fields(a), strings.Fields(b)
	if len(fa) < n || len(fb) < n {
		return false
	}
	return slices.Equal(fa[:n], fb[:n])
}

// unusedIndexes finds indexes no query has used since the statistics were
// reset, once the statistics are old enough to mean something. Unique and
// constraint indexes are never reported: they enforce something.
func unusedIndexes(ctx context.Context, q pgx.Tx, e *env) (*outcome, error) {
	var age time.Duration
	var since time.Time
	var reset bool
	var standby bool
	err := q.QueryRow(ctx, `
SELECT now() - coalesce(d.stats_reset, pg_catalog.pg_postmaster_start_time()),
       coalesce(d.stats_reset, pg_catalog.pg_postmaster_start_time()), d.stats_reset IS NOT NULL,
       pg_catalog.pg_is_in_recovery()
  FROM pg_catalog.pg_stat_database d WHERE d.datname = current_database()`).Scan(&age, &since, &reset, &standby)
	if err != nil {
		return nil, err
	}
	type row struct {
		Index, Table, Def string
		Bytes             int64
	}
	rows, err := collect[row](q.Query(ctx, `
SELECT format('%I.%I', n.nspname, c.relname), format('%I.%I', n.nspname, t.relname), pg_catalog.pg_get_indexdef(c.oid),
       pg_catalog.pg_relation_size(c.oid)
  FROM pg_catalog.pg_stat_user_indexes s
  JOIN pg_catalog.pg_index i ON i.indexrelid = s.indexrelid
  JOIN pg_catalog.pg_class c ON c.oid = s.indexrelid
  JOIN pg_catalog.pg_class t ON t.oid = s.relid
  JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
  LEFT JOIN (SELECT DISTINCT conindid FROM pg_catalog.pg_constraint WHERE conindid <> 0) con ON con.conindid = c.oid
 WHERE s.idx_scan = 0 AND i.indisvalid AND NOT i.indisunique AND NOT i.indisreplident AND con.conindid IS NULL
   AND pg_catalog.pg_relation_size(c.oid) >= $1
   AND `+userRel("t", "n")+`
 ORDER BY 4 DESC, 1`, e.th.UnusedIndexMinBytes))
	if err != nil {
		return nil, err
	}
	out := &outcome{}
	origin := "the server start; never reset"
	if reset {
		origin = "the last statistics reset"
	}
	sinceText := fmt.Sprintf("%s, %s", since.UTC().Format(time.RFC3339), origin)
	if standby {
		out.notes = append(out.notes, "this server is a standby: its index statistics count only queries run here, not on the primary or other standbys")
	}
	if age < e.th.UnusedIndexMinStatsAge {
		out.summary = fmt.Sprintf("not judged yet: index usage has been counted for only %s (since %s); health.unused_index_min_stats_age is %s",
			durText(age), sinceText, durText(e.th.UnusedIndexMinStatsAge))
		if len(rows) > 0 {
			out.notes = append(out.notes, fmt.Sprintf("%d index(es) have no scans so far; check again later", len(rows)))
		}
		return out, nil
	}
	out.notes = append(out.notes, fmt.Sprintf("scans are counted since %s (%s ago); indexes used only on standbys, or created since then, show no scans here", sinceText, durText(age)))
	for _, r := range rows {
		out.findings = append(out.findings, Finding{
			Status:   Warning,
			Object:   r.Index,
			Summary:  fmt.Sprintf("index %s on %s (%s) has not been used by any query in %s", r.Index, r.Table, bytesText(r.Bytes), durText(age)),
			Evidence: map[string]any{"table": r.Table, "definition": r.Def, "size_bytes": r.Bytes, "index_scans": 0, "stats_age_seconds": int64(age.Seconds())},
			Remedy:   []string{"DROP INDEX CONCURRENTLY " + r.Index + ";"},
			Advice:   "keep it if it serves rare but important queries (month-end reports) or queries on standbys; save its definition first: " + r.Def,
		})
	}
	return out, nil
}
