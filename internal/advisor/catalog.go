package advisor

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
)

// table is a relation a query reads, as the catalog and the planner
// statistics describe it.
type table struct {
	oid          uint32
	qname        string // schema.name, quoted as SQL needs
	schema, name string
	kind         string // r, m, p, v, f…
	pages        int64
	tuples       float64
	cols         map[string]*column // by attname
	indexes      []*existingIndex
	names        map[string]bool // relation names taken in the table's schema (for index names)
}

// column is one column with its planner statistics.
type column struct {
	name, quoted, typ string
	btree             bool // has a default B-tree operator class
	distinct          float64
	nullFrac          float64
	mcv               []string
	mcf               []float64
	hasStats          bool
}

// existingIndex is an index the table already has.
type existingIndex struct {
	name, def, am  string
	unique, constr bool
	valid, exprs   bool
	keys, includes []string // column names as pg_get_indexdef prints them (quoted as needed)
	pred           string
	keyCount       int
}

// catalog loads tables once per call.
type catalog struct {
	q      pgx.Tx
	byName map[string]*table // "schema.name" as written (schema may be empty) → table, or nil when missing
}

func newCatalog(q pgx.Tx) *catalog { return &catalog{q: q, byName: map[string]*table{}} }

func refKey(r *relRef) string { return r.schema + "." + r.name }

// load looks up every relation named by refs that is not loaded yet,
// resolving unqualified names through the search_path as the planner will.
func (c *catalog) load(ctx context.Context, refs []*relRef) error {
	var want []string
	var keys []string
	for _, r := range refs {
		k := refKey(r)
		if _, ok := c.byName[k]; ok || slices.Contains(keys, k) {
			continue
		}
		name := pgx.Identifier{r.name}
		if r.schema != "" {
			name = pgx.Identifier{r.schema, r.name}
		}
		want = append(want, name.Sanitize())
		keys = append(keys, k)
	}
	if len(want) == 0 {
		return nil
	}
	rows, err := c.q.Query(ctx, `
SELECT r.ord::int, c.oid, format('%I.%I', n.nspname, c.relname), n.nspname::text, c.relname::text, c.relkind::text,
       c.relpages::bigint, c.reltuples::float8
  FROM unnest($1::text[]) WITH ORDINALITY r(name, ord)
  JOIN pg_catalog.pg_class c ON c.oid = pg_catalog.to_regclass(r.name)
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace`, want)
	if err != nil {
		return err
	}
	found := map[uint32]*table{}
	var oids []uint32
	for rows.Next() {
		var ord int
		t := &table{cols: map[string]*column{}, names: map[string]bool{}}
		if err := rows.Scan(&ord, &t.oid, &t.qname, &t.schema, &t.name, &t.kind, &t.pages, &t.tuples); err != nil {
			rows.Close()
			return err
		}
		if prev, ok := found[t.oid]; ok {
			t = prev
		} else {
			found[t.oid] = t
			oids = append(oids, t.oid)
		}
		c.byName[keys[ord-1]] = t
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, k := range keys {
		if _, ok := c.byName[k]; !ok {
			c.byName[k] = nil
		}
	}
	if len(oids) == 0 {
		return nil
	}
	if err := c.loadColumns(ctx, oids, found); err != nil {
		return fmt.Errorf("reading columns: %w", err)
	}
	if err := c.loadIndexes(ctx, oids, found); err != nil {
		return fmt.Errorf("reading indexes: %w", err)
	}
	return nil
}

func (c *catalog) loadColumns(ctx context.Context, oids []uint32, tables map[uint32]*table) error {
	rows, err := c.q.Query(ctx, `
SELECT a.attrelid, a.attname::text, quote_ident(a.attname), format_type(a.atttypid, a.atttypmod),
       EXISTS (SELECT FROM pg_catalog.pg_opclass oc JOIN pg_catalog.pg_am am ON am.oid = oc.opcmethod AND am.amname = 'btree'
                WHERE oc.opcdefault AND (oc.opcintype = coalesce(nullif(t.typbasetype, 0), t.oid)
                   OR (t.typtype = 'e' AND oc.opcintype = 'anyenum'::regtype)
                   OR (t.typcategory = 'A' AND oc.opcintype = 'anyarray'::regtype)
                   OR EXISTS (SELECT FROM pg_catalog.pg_cast k WHERE k.castsource = coalesce(nullif(t.typbasetype, 0), t.oid)
                               AND k.casttarget = oc.opcintype AND k.castmethod = 'b'))),
       s.attname IS NOT NULL, coalesce(s.n_distinct, 0)::float8, coalesce(s.null_frac, 0)::float8,
       coalesce(s.most_common_vals::text::text[], '{}'), coalesce(s.most_common_freqs::float8[], '{}')
  FROM pg_catalog.pg_attribute a
  JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
  JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_catalog.pg_stats s ON s.schemaname = n.nspname AND s.tablename = c.relname AND s.attname = a.attname
       AND s.inherited = (c.relkind = 'p')
 WHERE a.attrelid = ANY ($1::oid[]) AND a.attnum > 0 AND NOT a.attisdropped`, oids)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var oid uint32
		col := &column{}
		if err := rows.Scan(&oid, &col.name, &col.quoted, &col.typ, &col.btree, &col.hasStats, &col.distinct, &col.nullFrac, &col.mcv, &col.mcf); err != nil {
			return err
		}
		t := tables[oid]
		if col.distinct < 0 {
			col.distinct = -col.distinct * max(t.tuples, 1)
		}
		t.cols[col.name] = col
	}
	return rows.Err()
}

func (c *catalog) loadIndexes(ctx context.Context, oids []uint32, tables map[uint32]*table) error {
	rows, err := c.q.Query(ctx, `
SELECT i.indrelid, format('%I.%I', n.nspname, c.relname), pg_catalog.pg_get_indexdef(c.oid), am.amname::text,
       i.indisunique, EXISTS (SELECT FROM pg_catalog.pg_constraint k WHERE k.conindid = c.oid), i.indisvalid,
       i.indexprs IS NOT NULL, i.indnkeyatts::int,
       ARRAY(SELECT pg_catalog.pg_get_indexdef(c.oid, k, true) FROM generate_series(1, i.indnatts::int) k ORDER BY k),
       coalesce(pg_catalog.pg_get_expr(i.indpred, i.indrelid, true), '')
  FROM pg_catalog.pg_index i
  JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_am am ON am.oid = c.relam
 WHERE i.indrelid = ANY ($1::oid[])
 ORDER BY c.relname`, oids)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var oid uint32
		ix := &existingIndex{}
		var cols []string
		if err := rows.Scan(&oid, &ix.name, &ix.def, &ix.am, &ix.unique, &ix.constr, &ix.valid, &ix.exprs, &ix.keyCount, &cols, &ix.pred); err != nil {
			return err
		}
		ix.keys, ix.includes = cols[:ix.keyCount], cols[ix.keyCount:]
		tables[oid].indexes = append(tables[oid].indexes, ix)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	// Relation names taken in each schema, so recommended names are new.
	nrows, err := c.q.Query(ctx, `
SELECT t.oid, c.relname::text FROM pg_catalog.pg_class t JOIN pg_catalog.pg_class c ON c.relnamespace = t.relnamespace
 WHERE t.oid = ANY ($1::oid[]) AND c.relname LIKE t.relname || '%'`, oids)
	if err != nil {
		return err
	}
	defer nrows.Close()
	for nrows.Next() {
		var oid uint32
		var name string
		if err := nrows.Scan(&oid, &name); err != nil {
			return err
		}
		tables[oid].names[name] = true
	}
	return nrows.Err()
}

// selectivity estimates the share of rows where col equals value, from
// the most common values and the distinct count; -1 when unknown.
func (col *column) selectivity(value string) float64 {
	if !col.hasStats {
		return -1
	}
	sum := 0.0
	for i, v := range col.mcv {
		if i < len(col.mcf) {
			if v == value {
				return col.mcf[i]
			}
			sum += col.mcf[i]
		}
	}
	rest := col.distinct - float64(len(col.mcv))
	if rest < 1 {
		return 0
	}
	return max(0, 1-sum-col.nullFrac) / rest
}
