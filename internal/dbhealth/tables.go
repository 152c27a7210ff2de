package dbhealth

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/jackc/pgx/v5"
)

// bloat estimates wasted space in tables and B-tree indexes from the
// planner statistics (row counts, average column widths, null fractions),
// the way the widely used estimation queries do: the pages the live rows
// need at the fill factor, against the pages the relation has. It reads
// nothing but the catalogs and pg_stats, so it is cheap and approximate
// (±20% on typical tables); tables without statistics are skipped.
func bloat(ctx context.Context, q pgx.Tx, e *env) (*outcome, error) {
	type tableRow struct {
		Name        string
		Pages       int64
		Tuples      float64
		BlockSize   int64
		FillFactor  int64
		DataWidth   *float64
		HasNulls    *bool
		Columns     int64
		StatColumns int64
	}
	tables, err := collect[tableRow](q.Query(ctx, `
WITH st AS (
  SELECT s.schemaname, s.tablename, sum((1 - s.null_frac) * s.avg_width) AS width, bool_or(s.null_frac > 0) AS nulls, count(*) AS n
    FROM pg_catalog.pg_stats s WHERE NOT s.inherited GROUP BY 1, 2
)
SELECT format('%I.%I', n.nspname, c.relname), c.relpages::bigint, c.reltuples::float8,
       current_setting('block_size')::bigint,
       coalesce((SELECT substring(o FROM 'fillfactor=([0-9]+)')::bigint FROM unnest(c.reloptions) o WHERE o LIKE 'fillfactor=%'), 100),
       st.width, st.nulls,
       (SELECT count(*) FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
       coalesce(st.n, 0)
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN st ON st.schemaname = n.nspname AND st.tablename = c.relname
 WHERE c.relkind IN ('r', 'm') AND c.relpages > 0 AND `+userRel("c", "n")))
	if err != nil {
		return nil, err
	}
	out := &outcome{}
	skipped := 0
	for _, t := range tables {
		if t.DataWidth == nil || t.StatColumns < t.Columns || t.Tuples < 0 {
			skipped++
			continue
		}
		// Heap tuple: 23-byte header (plus the null bitmap), the data,
		// both aligned to 8 bytes, and a 4-byte line pointer.
		hdr := 23.0
		if t.HasNulls != nil && *t.HasNulls {
			hdr += math.Ceil(float64(t.Columns) / 8)
		}
		tuple := align8(hdr) + align8(*t.DataWidth) + 4
		usable := float64(t.BlockSize-24) * float64(t.FillFactor) / 100
		expected := math.Ceil(t.Tuples * tuple / usable)
		if f, ok := bloatFinding(e, t.Name, "table", t.Pages, expected, t.BlockSize); ok {
			f.Remedy = []string{"VACUUM (FULL, ANALYZE) " + t.Name + ";"}
			f.Advice = "VACUUM FULL rewrites the table and its indexes under an ACCESS EXCLUSIVE lock (reads and writes wait for it); " +
				"the pg_repack extension does the same online. The estimate comes from planner statistics: run ANALYZE " + t.Name + " first if they are old."
			out.findings = append(out.findings, f)
		}
	}

	type indexRow struct {
		Name, Table string
		Pages       int64
		Tuples      float64
		BlockSize   int64
		FillFactor  int64
		Width       *float64
		Columns     int64
		StatColumns int64
	}
	// Statistics are read once and joined by name (a per-index lookup in
	// pg_stats would evaluate the view once per index).
	indexes, err := collect[indexRow](q.Query(ctx, `
WITH idx AS (
  SELECT i.indexrelid, i.indrelid, i.indkey, i.indnatts, n.nspname, ci.relname AS iname, t.relname AS tname,
         ci.relpages, ci.reltuples, ci.reloptions, format('%I.%I', n.nspname, ci.relname) AS qi, format('%I.%I', n.nspname, t.relname) AS qt
    FROM pg_catalog.pg_index i
    JOIN pg_catalog.pg_class ci ON ci.oid = i.indexrelid
    JOIN pg_catalog.pg_am am ON am.oid = ci.relam AND am.amname = 'btree'
    JOIN pg_catalog.pg_class t ON t.oid = i.indrelid
    JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
   WHERE i.indisvalid AND ci.relpages > 10 AND t.relkind IN ('r', 'm') AND `+userRel("t", "n")+`
), cols AS (
  SELECT x.indexrelid, x.nspname,
         CASE WHEN x.indkey[ia.attnum - 1] <> 0 THEN x.tname ELSE x.iname END AS relname,
         coalesce(ta.attname, ia.attname) AS attname
    FROM idx x
    JOIN pg_catalog.pg_attribute ia ON ia.attrelid = x.indexrelid AND ia.attnum > 0
    LEFT JOIN pg_catalog.pg_attribute ta ON ta.attrelid = x.indrelid AND ta.attnum = x.indkey[ia.attnum - 1] AND x.indkey[ia.attnum - 1] <> 0
), st AS MATERIALIZED (
  SELECT schemaname, tablename, attname, null_frac, avg_width FROM pg_catalog.pg_stats WHERE NOT inherited
), w AS (
  SELECT c.indexrelid, sum((1 - st.null_frac) * st.avg_width) AS width, count(st.attname) AS n
    FROM cols c LEFT JOIN st ON st.schemaname = c.nspname AND st.tablename = c.relname AND st.attname = c.attname
   GROUP BY c.indexrelid
)
SELECT x.qi, x.qt, x.relpages::bigint, x.reltuples::float8, current_setting('block_size')::bigint,
       coalesce((SELECT substring(o FROM 'fillfactor=([0-9]+)')::bigint FROM unnest(x.reloptions) o WHERE o LIKE 'fillfactor=%'), 90),
       w.width, x.indnatts::bigint, w.n
  FROM idx x JOIN w ON w.indexrelid = x.indexrelid`))
	if err != nil {
		return nil, err
	}
	for _, ix := range indexes {
		if ix.Width == nil || ix.StatColumns < ix.Columns || ix.Tuples < 0 {
			skipped++
			continue
		}
		// Index tuple: 8-byte header with the heap pointer, the key data,
		// aligned to 8, and a 4-byte line pointer; a page loses its
		// 24-byte header and 16-byte B-tree special space; plus the
		// metapage. Deduplication (PostgreSQL 13+) can make an index
		// smaller than this, never bigger.
		tuple := align8(8+*ix.Width) + 4
		usable := float64(ix.BlockSize-40) * float64(ix.FillFactor) / 100
		expected := math.Ceil(ix.Tuples*tuple/usable) + 1
		if f, ok := bloatFinding(e, ix.Name, "index", ix.Pages, expected, ix.BlockSize); ok {
			f.Evidence["table"] = ix.Table
			f.Remedy = []string{"REINDEX INDEX CONCURRENTLY " + ix.Name + ";"}
			f.Advice = "REINDEX CONCURRENTLY builds a fresh copy next to the old one (needs that much free disk) without blocking reads or writes"
			out.findings = append(out.findings, f)
		}
	}
	if skipped > 0 {
		out.notes = append(out.notes, fmt.Sprintf("%d table(s) or index(es) skipped: no planner statistics (never analyzed, or the role lacks SELECT on the table)", skipped))
	}
	return out, nil
}

func bloatFinding(e *env, name, kind string, pages int64, expected float64, blockSize int64) (Finding, bool) {
	wasted := float64(pages) - expected
	if wasted <= 0 || pages == 0 {
		return Finding{}, false
	}
	pct := 100 * wasted / float64(pages)
	bytes := int64(wasted) * blockSize
	st := level(pct, float64(e.th.BloatWarningPercent), float64(e.th.BloatCriticalPercent))
	if st == OK || bytes < e.th.BloatMinBytes {
		return Finding{}, false
	}
	return Finding{
		Status: st,
		Object: name,
		Summary: fmt.Sprintf("%s %s is about %.0f%% bloated: ~%s of its %s hold no live rows", kind, name, pct,
			bytesText(bytes), bytesText(pages*blockSize)),
		Evidence: map[string]any{"size_bytes": pages * blockSize, "estimated_bloat_bytes": bytes, "estimated_bloat_percent": round1(pct),
			"pages": pages, "estimated_needed_pages": int64(expected)},
	}, true
}

func align8(x float64) float64 { return math.Ceil(x/8) * 8 }

// primaryKeys finds tables without a primary key: rows cannot be
// addressed reliably, logical replication cannot replicate their UPDATEs
// and DELETEs, and duplicates creep in.
func primaryKeys(ctx context.Context, q pgx.Tx, e *env) (*outcome, error) {
	type row struct {
		Table       string
		Partitioned bool
		Rows        int64
		Bytes       int64
		Candidate   *string
		HasID       bool
		TableName   string
	}
	rows, err := collect[row](q.Query(ctx, `
SELECT format('%I.%I', n.nspname, c.relname), c.relkind = 'p', greatest(c.reltuples, 0)::bigint, pg_catalog.pg_total_relation_size(c.oid),
       (SELECT format('%I.%I', n.nspname, ic.relname) FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
         WHERE i.indrelid = c.oid AND i.indisunique AND i.indisvalid AND i.indpred IS NULL AND i.indexprs IS NULL
           AND i.indnkeyatts = i.indnatts
           AND NOT EXISTS (SELECT FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum = ANY (i.indkey) AND NOT a.attnotnull)
         ORDER BY i.indnatts, ic.relname LIMIT 1),
       EXISTS (SELECT FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'id' AND NOT a.attisdropped),
       c.relname
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
   AND NOT EXISTS (SELECT FROM pg_catalog.pg_constraint con WHERE con.conrelid = c.oid AND con.contype = 'p')
   AND `+userRel("c", "n")+`
 ORDER BY 4 DESC, 1`))
	if err != nil {
		return nil, err
	}
	out := &outcome{}
	for _, r := range rows {
		f := Finding{
			Status:   Warning,
			Object:   r.Table,
			Summary:  fmt.Sprintf("table %s (~%d rows) has no primary key", r.Table, r.Rows),
			Evidence: map[string]any{"estimated_rows": r.Rows, "total_bytes": r.Bytes},
			Advice:   "without a primary key rows cannot be addressed reliably, duplicates go unnoticed, and logical replication cannot replicate UPDATE and DELETE",
		}
		switch {
		case r.Candidate != nil && !r.Partitioned:
			f.Evidence["unique_index"] = *r.Candidate
			f.Remedy = []string{fmt.Sprintf("ALTER TABLE %s ADD PRIMARY KEY USING INDEX %s;", r.Table, unqualified(*r.Candidate))}
			f.Advice += "; unique index " + *r.Candidate + " on NOT NULL columns can become the primary key without a rebuild (brief ACCESS EXCLUSIVE lock)"
		case r.Partitioned:
			f.Advice += "; a partitioned table's primary key must include the partition key: ALTER TABLE " + r.Table + " ADD PRIMARY KEY (…)"
		default:
			col := "id"
			if r.HasID {
				col = quoteIdent(r.TableName + "_pk")
			}
			f.Remedy = []string{fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY;", r.Table, col)}
			f.Advice += "; if the table has a natural key, make that the primary key instead (ALTER TABLE … ADD PRIMARY KEY (columns)). Adding an identity column rewrites the table under an ACCESS EXCLUSIVE lock"
		}
		out.findings = append(out.findings, f)
	}
	return out, nil
}

// unqualified drops the schema from a qualified name (ADD PRIMARY KEY USING
// INDEX takes an index of the same table, unqualified).
func unqualified(name string) string {
	// Names come from format('%I.%I'): the last dot outside quotes splits.
	inQuote := false
	for i := len(name) - 1; i >= 0; i-- {
		switch name[i] {
		case '"':
			inQuote = !inQuote
		case '.':
			if !inQuote {
				return name[i+1:]
			}
		}
	}
	return name
}

// foreignKeyIndexes finds foreign keys whose columns do not lead any index
// of the referencing table: deleting or updating a referenced row then
// scans the whole referencing table, and joins on the key cannot use an
// index.
func foreignKeyIndexes(ctx context.Context, q pgx.Tx, e *env) (*outcome, error) {
	type row struct {
		Table, Constraint, Referenced string
		Columns                       []string
		Rows                          int64
		Bytes                         int64
	}
	rows, err := collect[row](q.Query(ctx, `
SELECT format('%I.%I', n.nspname, c.relname), con.conname::text, format('%I.%I', rn.nspname, r.relname),
       ARRAY(SELECT format('%I', a.attname) FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
               JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.ord),
       greatest(c.reltuples::bigint, coalesce(s.n_live_tup, 0)), pg_catalog.pg_relation_size(c.oid)
  FROM pg_catalog.pg_constraint con
  JOIN pg_catalog.pg_class c ON c.oid = con.conrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_class r ON r.oid = con.confrelid
  JOIN pg_catalog.pg_namespace rn ON rn.oid = r.relnamespace
  LEFT JOIN pg_catalog.pg_stat_user_tables s ON s.relid = c.oid
 WHERE con.contype = 'f' AND con.conparentid = 0
   AND greatest(c.reltuples::bigint, coalesce(s.n_live_tup, 0)) >= $1
   AND NOT EXISTS (
     SELECT FROM pg_catalog.pg_index i
      WHERE i.indrelid = con.conrelid AND i.indisvalid AND i.indpred IS NULL AND i.indnkeyatts >= cardinality(con.conkey)
        AND (SELECT array_agg(k) FROM (SELECT unnest(i.indkey::int2[]) AS k LIMIT cardinality(con.conkey)) lead)
            OPERATOR(pg_catalog.@>) con.conkey
   )
   AND `+userRel("c", "n")+`
 ORDER BY 5 DESC, 1, 2`, e.th.ForeignKeyMinRows))
	if err != nil {
		return nil, err
	}
	out := &outcome{}
	for _, r := range rows {
		cols := strings.Join(r.Columns, ", ")
		out.findings = append(out.findings, Finding{
			Status:  Warning,
			Object:  r.Table,
			Summary: fmt.Sprintf("foreign key %s on %s (%s) → %s has no index leading with its columns", r.Constraint, r.Table, cols, r.Referenced),
			Evidence: map[string]any{"constraint": r.Constraint, "columns": r.Columns, "referenced_table": r.Referenced,
				"estimated_rows": r.Rows, "size_bytes": r.Bytes},
			Remedy: []string{fmt.Sprintf("CREATE INDEX CONCURRENTLY ON %s (%s);", r.Table, cols)},
			Advice: fmt.Sprintf("without it every DELETE from %s, and every UPDATE of its key, scans %s to check the constraint, and joins on (%s) cannot use an index",
				r.Referenced, r.Table, cols),
		})
	}
	return out, nil
}

// notValid finds CHECK and FOREIGN KEY constraints added NOT VALID and never
// validated: rows from before may violate them, and the planner cannot
// rely on them.
func notValid(ctx context.Context, q pgx.Tx, e *env) (*outcome, error) {
	type row struct {
		Table, Constraint, Kind, Def string
	}
	rows, err := collect[row](q.Query(ctx, `
SELECT format('%I.%I', n.nspname, c.relname), format('%I', con.conname),
       CASE con.contype WHEN 'f' THEN 'foreign key' ELSE 'check' END, pg_catalog.pg_get_constraintdef(con.oid)
  FROM pg_catalog.pg_constraint con
  JOIN pg_catalog.pg_class c ON c.oid = con.conrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE NOT con.convalidated AND con.contype IN ('c', 'f') AND con.conparentid = 0 AND `+userRel("c", "n")+`
 ORDER BY 1, 2`))
	if err != nil {
		return nil, err
	}
	out := &outcome{}
	for _, r := range rows {
		out.findings = append(out.findings, Finding{
			Status:   Warning,
			Object:   r.Table,
			Summary:  fmt.Sprintf("%s constraint %s on %s is NOT VALID: rows written before it was added were never checked", r.Kind, r.Constraint, r.Table),
			Evidence: map[string]any{"constraint": r.Constraint, "definition": r.Def},
			Remedy:   []string{fmt.Sprintf("ALTER TABLE %s VALIDATE CONSTRAINT %s;", r.Table, r.Constraint)},
			Advice:   "VALIDATE scans the table under a SHARE UPDATE EXCLUSIVE lock (reads and writes go on) and fails, naming a row, if existing rows violate the constraint: fix those rows first",
		})
	}
	return out, nil
}
