package catalog

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// relationSQL reads one relation's own row ($1 = oid, $2 = definition cap,
// $3 = locked: skip what would wait for the lock):
// ownership, flags, partitioning, foreign server, view definition, sizes and
// the row estimate. "leaves" are the relations holding its data (itself, or
// its leaf partitions).
var relationSQL = partitionTree("$1") + `,
leaves AS (
	SELECT lc.oid, lc.reltoastrelid, lc.reltuples
	FROM tree JOIN pg_class lc ON lc.oid = tree.oid
	WHERE lc.relkind IN ('r', 'm', 'i') AND (SELECT relkind FROM pg_class WHERE oid = $1) IN ('p', 'I')
	UNION ALL
	SELECT lc.oid, lc.reltoastrelid, lc.reltuples
	FROM pg_class lc
	WHERE lc.oid = $1 AND lc.relkind IN ('r', 'm', 't', 'S', 'i')
), ` + lockedCTE + `,
size AS (
	SELECT count(lk.oid) AS locked, count(*) AS n,
		sum(pg_total_relation_size(l.oid)) FILTER (WHERE lk.oid IS NULL)::int8 AS total,
		sum(pg_indexes_size(l.oid)) FILTER (WHERE lk.oid IS NULL)::int8 AS indexes,
		sum(CASE WHEN l.reltoastrelid <> 0 THEN pg_total_relation_size(l.reltoastrelid) ELSE 0 END) FILTER (WHERE lk.oid IS NULL)::int8 AS toast,
		sum(l.reltuples) FILTER (WHERE l.reltuples >= 0)::int8 AS tuples,
		count(*) FILTER (WHERE l.reltuples < 0) AS unanalyzed
	FROM leaves l LEFT JOIN locked lk ON lk.oid = l.oid
)
SELECT c.relkind::text, c.relispartition, pg_get_userbyid(c.relowner), d.description,
	c.relpersistence::text, coalesce(c.reloptions::text[], '{}'),
	ARRAY(SELECT p FROM unnest(CASE
			WHEN c.relkind = 'S' THEN ARRAY['SELECT', 'USAGE', 'UPDATE']
			WHEN c.relkind IN ('i', 'I') THEN '{}'::text[]
			ELSE ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'] END) AS p
		WHERE CASE WHEN c.relkind = 'S' THEN has_sequence_privilege(c.oid, p) ELSE has_table_privilege(c.oid, p) END),
	c.relkind NOT IN ('S', 'i', 'I') AND has_any_column_privilege(c.oid, 'SELECT'),
	c.relrowsecurity, c.relforcerowsecurity,
	CASE WHEN c.relkind IN ('r', 'p') THEN row_security_active(c.oid) ELSE false END,
	pt.partstrat::text, pg_get_partkeydef(c.oid), CASE WHEN NOT $3 THEN pg_get_expr(c.relpartbound, c.oid) END,
	fs.srvname::text, w.fdwname::text, ft.ftoptions::text[], fs.srvoptions::text[],
	left(v.def, $2), length(v.def), c.relispopulated,
	s.locked, s.n, s.total, s.indexes, s.toast, s.tuples, s.unanalyzed
FROM pg_class c
CROSS JOIN size s
LEFT JOIN pg_description d ON d.classoid = 'pg_class'::regclass AND d.objoid = c.oid AND d.objsubid = 0
LEFT JOIN pg_partitioned_table pt ON pt.partrelid = c.oid
LEFT JOIN pg_foreign_table ft ON ft.ftrelid = c.oid
LEFT JOIN pg_foreign_server fs ON fs.oid = ft.ftserver
LEFT JOIN pg_foreign_data_wrapper w ON w.oid = fs.srvfdw
LEFT JOIN LATERAL (SELECT CASE WHEN c.relkind IN ('v', 'm') AND NOT $3 THEN pg_get_viewdef(c.oid) END AS def OFFSET 0) v ON true
WHERE c.oid = $1`

const statsSQL = `SELECT seq_scan, seq_tup_read, idx_scan, idx_tup_fetch, n_tup_ins, n_tup_upd, n_tup_del,
	n_tup_hot_upd, n_live_tup, n_dead_tup, n_mod_since_analyze, n_ins_since_vacuum,
	last_vacuum, last_autovacuum, last_analyze, last_autoanalyze,
	vacuum_count, autovacuum_count, analyze_count, autoanalyze_count
FROM pg_stat_all_tables WHERE relid = $1`

// columnsSQL reads the columns of relation $1 (also a composite type's
// attributes, through its typrelid); $2 = locked leaves out defaults and
// generation expressions, whose deparsing waits for the lock.
const columnsSQL = `SELECT a.attnum::int4, a.attname::text, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull,
	CASE WHEN a.attgenerated = '' AND NOT $2 THEN pg_get_expr(ad.adbin, ad.adrelid) END,
	a.attidentity::text, a.attgenerated::text,
	CASE WHEN a.attgenerated <> '' AND NOT $2 THEN pg_get_expr(ad.adbin, ad.adrelid) END,
	CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation THEN
		CASE WHEN cn.nspname = 'pg_catalog' THEN co.collname::text ELSE cn.nspname || '.' || co.collname END
	END,
	d.description, a.attfdwoptions::text[]
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
LEFT JOIN pg_collation co ON co.oid = a.attcollation
LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
LEFT JOIN pg_description d ON d.classoid = 'pg_class'::regclass AND d.objoid = a.attrelid AND d.objsubid = a.attnum
WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum`

// constraintsSQL reads the constraints of table $1 and the foreign keys of
// other tables that reference it. Copies of a foreign key that PostgreSQL
// keeps per partition of a referenced partitioned table, and per partition
// of a referencing one (for incoming keys), are left out. $2 = locked
// leaves out what deparses expressions (check and exclusion constraints).
//
// pg_constraint has no index on confrelid: incoming keys are found through
// pg_depend, which has one on the referenced object.
const constraintsSQL = `WITH cons AS (
	SELECT con.oid FROM pg_constraint con
	WHERE con.conrelid = $1 AND con.contype IN ('p', 'u', 'f', 'c', 'x')
	  AND NOT (con.contype = 'f' AND con.conparentid <> 0 AND EXISTS (
		SELECT FROM pg_constraint pc WHERE pc.oid = con.conparentid AND pc.conrelid = con.conrelid))
	UNION ALL
	SELECT con.oid FROM pg_constraint con
	WHERE con.oid IN (SELECT dep.objid FROM pg_depend dep
			WHERE dep.refclassid = 'pg_class'::regclass AND dep.refobjid = $1 AND dep.classid = 'pg_constraint'::regclass)
	  AND con.confrelid = $1 AND con.conrelid <> $1 AND con.contype = 'f' AND con.conparentid = 0
)
SELECT con.conname::text, con.contype::text, con.conrelid = $1, con.confrelid = $1,
	sn.nspname::text, sc.relname::text,
	ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(num, ord)
		JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num ORDER BY k.ord),
	rn.nspname::text, rc.relname::text,
	ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(num, ord)
		JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num ORDER BY k.ord),
	con.confupdtype::text, con.confdeltype::text, con.confmatchtype::text,
	con.condeferrable, con.condeferred, con.convalidated,
	CASE WHEN NOT $2 OR con.contype IN ('p', 'u', 'f') THEN pg_get_constraintdef(con.oid) END,
	CASE WHEN con.contype = 'c' AND NOT $2 THEN pg_get_expr(con.conbin, con.conrelid) END,
	ic.relname::text, NOT con.conislocal, con.connoinherit,
	(SELECT d.description FROM pg_description d
		WHERE d.objoid = con.oid AND d.classoid = 'pg_constraint'::regclass AND d.objsubid = 0)
FROM cons
JOIN pg_constraint con ON con.oid = cons.oid
JOIN pg_class sc ON sc.oid = con.conrelid
JOIN pg_namespace sn ON sn.oid = sc.relnamespace
LEFT JOIN pg_class rc ON rc.oid = con.confrelid
LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
LEFT JOIN pg_class ic ON ic.oid = con.conindid
ORDER BY con.contype, con.conname COLLATE "C", sn.nspname COLLATE "C", sc.relname COLLATE "C"`

// indexesSQL reads indexes; %s is the column ($1) selects them by: indrelid
// for a table's indexes, indexrelid for one index. $2 = locked leaves out
// definitions and predicates.
var indexesSQL = `WITH ` + lockedCTE + `
SELECT ic.relname::text, tn.nspname::text, tc.relname::text,
	CASE WHEN NOT $2 THEN pg_get_indexdef(i.indexrelid) END, coalesce(am.amname::text, ''),
	i.indisprimary, i.indisunique, i.indisexclusion, i.indisvalid, ic.relkind = 'I',
	CASE WHEN NOT $2 THEN pg_get_expr(i.indpred, i.indrelid) END, con.conname::text,
	CASE
		WHEN ic.relkind = 'i' THEN
			CASE WHEN NOT EXISTS (SELECT FROM locked lk WHERE lk.oid IN (i.indexrelid, i.indrelid)) THEN pg_relation_size(i.indexrelid) END
		ELSE (
			` + partitionTree("i.indexrelid") + `
			SELECT CASE WHEN count(lk.oid) = 0 THEN coalesce(sum(pg_relation_size(li.indexrelid)) FILTER (WHERE lk.oid IS NULL), 0) END::int8
			FROM tree
			JOIN pg_index li ON li.indexrelid = tree.oid
			JOIN pg_class lc ON lc.oid = li.indexrelid AND lc.relkind = 'i'
			LEFT JOIN locked lk ON lk.oid IN (li.indexrelid, li.indrelid))
	END,
	s.idx_scan, s.idx_tup_read, s.idx_tup_fetch, d.description
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class tc ON tc.oid = i.indrelid
JOIN pg_namespace tn ON tn.oid = tc.relnamespace
LEFT JOIN pg_am am ON am.oid = ic.relam
LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x')
LEFT JOIN pg_stat_all_indexes s ON s.indexrelid = i.indexrelid
LEFT JOIN pg_description d ON d.classoid = 'pg_class'::regclass AND d.objoid = i.indexrelid AND d.objsubid = 0
WHERE i.%s = $1
ORDER BY ic.relname COLLATE "C"`

// triggersSQL reads the triggers of $1; $2 = locked leaves out the
// definitions of triggers with a WHEN condition (deparsing it waits for the
// lock).
const triggersSQL = `SELECT t.tgname::text, t.tgtype::int4, t.tgenabled::text, pn.nspname || '.' || p.proname,
	CASE WHEN NOT $2 OR t.tgqual IS NULL THEN pg_get_triggerdef(t.oid) END, t.tgqual IS NOT NULL, t.tgconstraint <> 0, t.tgparentid <> 0
FROM pg_trigger t
JOIN pg_proc p ON p.oid = t.tgfoid
JOIN pg_namespace pn ON pn.oid = p.pronamespace
WHERE t.tgrelid = $1 AND NOT t.tgisinternal
ORDER BY t.tgname COLLATE "C"`

// policiesSQL reads the policies of $1; $2 = locked leaves out their
// expressions.
const policiesSQL = `SELECT pol.polname::text, pol.polcmd::text, pol.polpermissive,
	ARRAY(SELECT CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r)::text END FROM unnest(pol.polroles) r ORDER BY 1),
	CASE WHEN NOT $2 THEN pg_get_expr(pol.polqual, pol.polrelid) END,
	CASE WHEN NOT $2 THEN pg_get_expr(pol.polwithcheck, pol.polrelid) END
FROM pg_policy pol
WHERE pol.polrelid = $1
ORDER BY pol.polname COLLATE "C"`

// inheritanceSQL reads the parents (first) and children of relation $1,
// partitions included, with the total count of each side; at most $2 rows.
// A partition's bound is left out while the partition is locked.
const inheritanceSQL = `WITH ` + lockedCTE + `
SELECT ih.inhrelid = $1 AS is_parent, n.nspname::text, c.relname::text, c.relkind::text,
	CASE WHEN ih.inhparent = $1 AND NOT EXISTS (SELECT FROM locked WHERE locked.oid = c.oid)
		THEN pg_get_expr(c.relpartbound, c.oid) END,
	CASE WHEN c.reltuples >= 0 AND c.relkind <> 'p' THEN c.reltuples::int8 END,
	count(*) OVER (PARTITION BY ih.inhrelid = $1)
FROM pg_inherits ih
JOIN pg_class c ON c.oid = CASE WHEN ih.inhrelid = $1 THEN ih.inhparent ELSE ih.inhrelid END
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE ih.inhrelid = $1 OR ih.inhparent = $1
ORDER BY ih.inhrelid = $1 DESC, ih.inhseqno, n.nspname COLLATE "C", c.relname COLLATE "C"
LIMIT $2`

// sequenceSQL reads sequence $1. The last value needs SELECT or USAGE on
// the sequence (and is unreadable in other sessions' temporary schemas);
// without them the value stays NULL instead of failing the transaction.
const sequenceSQL = `WITH ` + lockedCTE + `
SELECT format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle,
	has_sequence_privilege(s.seqrelid, 'SELECT,USAGE'),
	EXISTS (SELECT FROM locked WHERE locked.oid = s.seqrelid),
	CASE WHEN has_sequence_privilege(s.seqrelid, 'SELECT,USAGE') AND NOT pg_is_other_temp_schema(c.relnamespace)
		AND NOT EXISTS (SELECT FROM locked WHERE locked.oid = s.seqrelid)
		THEN pg_sequence_last_value(s.seqrelid) END,
	dep.deptype::text, tn.nspname::text, tc.relname::text, a.attname::text
FROM pg_sequence s
JOIN pg_class c ON c.oid = s.seqrelid
LEFT JOIN pg_depend dep ON dep.classid = 'pg_class'::regclass AND dep.objid = s.seqrelid
	AND dep.refclassid = 'pg_class'::regclass AND dep.refobjsubid > 0 AND dep.deptype IN ('a', 'i')
LEFT JOIN pg_class tc ON tc.oid = dep.refobjid
LEFT JOIN pg_namespace tn ON tn.oid = tc.relnamespace
LEFT JOIN pg_attribute a ON a.attrelid = dep.refobjid AND a.attnum = dep.refobjsubid
WHERE s.seqrelid = $1`

// describeRelation fills d for the relation oid of the given relkind. When
// locked, it leaves out what would wait for another session's lock.
func describeRelation(ctx context.Context, q Querier, d *Details, oid uint32, relkind string, locked bool) error {
	if locked {
		d.Notes = append(d.Notes, "another session holds or awaits an exclusive lock on this relation (ALTER TABLE, VACUUM FULL, REINDEX …): "+
			"sizes, definitions and expressions that PostgreSQL can only print by opening it are left out; describe it again once the lock is gone")
	}
	var (
		partOf   *PartitionParent // set for a partition; its parent comes from the inheritance rows
		parent   *RelationRef
		children int
	)
	secs := []section{{name: "relation", sql: relationSQL, args: []any{oid, MaxDefinitionLength, locked},
		scan: func(rows pgx.Rows) error {
			return eachRow(rows, func() error { return scanRelation(rows, d, &partOf) })
		}}}

	switch relkind {
	case "r", "p", "t", "m", "f", "v":
		secs = append(secs, section{name: "columns", sql: columnsSQL, args: []any{oid, locked},
			scan: func(rows pgx.Rows) error {
				cols, err := scanColumns(rows)
				d.Columns = cols
				return err
			}})
	}
	switch relkind {
	case "r", "p", "t", "m":
		secs = append(secs, section{name: "statistics", sql: statsSQL, args: []any{oid},
			scan: func(rows pgx.Rows) error { return eachRow(rows, func() error { return scanStats(rows, d) }) }})
	}
	switch relkind {
	case "r", "p", "f":
		secs = append(secs, section{name: "constraints", sql: constraintsSQL, args: []any{oid, locked},
			scan: func(rows pgx.Rows) error { return eachRow(rows, func() error { return scanConstraint(rows, d) }) }})
	}
	switch relkind {
	case "r", "p", "t", "m":
		secs = append(secs, section{name: "indexes", sql: fmt.Sprintf(indexesSQL, "indrelid"), args: []any{oid, locked},
			scan: func(rows pgx.Rows) error {
				return eachRow(rows, func() error {
					ix, err := scanIndex(rows)
					ix.Schema, ix.Table = "", ""
					d.Indexes = append(d.Indexes, ix)
					return err
				})
			}})
	case "i", "I":
		secs = append(secs, section{name: "index", sql: fmt.Sprintf(indexesSQL, "indexrelid"), args: []any{oid, locked},
			scan: func(rows pgx.Rows) error {
				return eachRow(rows, func() error {
					ix, err := scanIndex(rows)
					d.Index = &ix
					return err
				})
			}})
	}
	switch relkind {
	case "r", "p", "f", "v":
		secs = append(secs, section{name: "triggers", sql: triggersSQL, args: []any{oid, locked},
			scan: func(rows pgx.Rows) error { return eachRow(rows, func() error { return scanTrigger(rows, d) }) }})
	}
	switch relkind {
	case "r", "p":
		secs = append(secs, section{name: "policies", sql: policiesSQL, args: []any{oid, locked},
			scan: func(rows pgx.Rows) error { return eachRow(rows, func() error { return scanPolicy(rows, d) }) }})
	}
	switch relkind {
	case "r", "p", "f":
		secs = append(secs, section{name: "inheritance", sql: inheritanceSQL, args: []any{oid, maxChildren + 64},
			scan: func(rows pgx.Rows) error {
				return eachRow(rows, func() error {
					p, n, err := scanInheritance(rows, d)
					if p != nil && parent == nil {
						parent = p
					}
					children = max(children, n)
					return err
				})
			}})
	case "S":
		secs = append(secs, section{name: "sequence", sql: sequenceSQL, args: []any{oid},
			scan: func(rows pgx.Rows) error { return eachRow(rows, func() error { return scanSequence(rows, d) }) }})
	}

	if err := runSections(ctx, q, secs); err != nil {
		return err
	}
	if partOf != nil && parent != nil {
		partOf.Schema, partOf.Table = parent.Schema, parent.Name
		d.PartitionOf = partOf
		d.Inherits = nil
	}
	if shown := len(d.InheritedBy); d.Partitioning != nil {
		shown = len(d.Partitioning.Partitions)
		if shown < children {
			d.Notes = append(d.Notes, fmt.Sprintf("only the first %d of %d partitions are listed", shown, children))
		}
	} else if shown < children {
		d.Notes = append(d.Notes, fmt.Sprintf("only the first %d of %d child tables are listed", shown, children))
	}
	if d.RowSecurity != nil && d.RowSecurity.Policies == nil {
		d.RowSecurity.Policies = []Policy{}
	}
	if d.Partitioning != nil && d.Partitioning.Partitions == nil {
		d.Partitioning.Partitions = []Partition{}
	}
	return nil
}

func scanRelation(rows pgx.Rows, d *Details, partOf **PartitionParent) error {
	var (
		relkind, persistence             string
		isPartition, anyColSelect        bool
		owner, comment                   *string
		rlsEnabled, rlsForced, rlsActive bool
		strategy, partKey, bound         *string
		server, wrapper                  *string
		ftOptions, srvOptions            []string
		viewDef                          *string
		viewDefLen                       *int64
		populated                        bool
		locked, leaves                   int64
		total, indexes, toast, tuples    *int64
		unanalyzed                       int64
	)
	if err := rows.Scan(&relkind, &isPartition, &owner, &comment, &persistence, &d.Options,
		&d.CurrentRolePrivileges, &anyColSelect, &rlsEnabled, &rlsForced, &rlsActive,
		&strategy, &partKey, &bound, &server, &wrapper, &ftOptions, &srvOptions,
		&viewDef, &viewDefLen, &populated,
		&locked, &leaves, &total, &indexes, &toast, &tuples, &unanalyzed); err != nil {
		return err
	}
	d.Owner, d.Comment = deref(owner), deref(comment)
	d.Type = relationType(relkind)
	switch {
	case relkind == "p":
		d.Kind = "partitioned"
	case relkind == "t":
		d.Kind = "toast"
	case isPartition && (relkind == "r" || relkind == "f"):
		d.Kind = "partition"
	}
	if isPartition {
		*partOf = &PartitionParent{Bound: deref(bound)}
	}
	switch persistence {
	case "u":
		d.Persistence = "unlogged"
	case "t":
		d.Persistence = "temporary"
	}
	if len(d.Options) == 0 {
		d.Options = nil
	}
	if anyColSelect && !contains(d.CurrentRolePrivileges, "SELECT") {
		d.CurrentRolePrivileges = append(d.CurrentRolePrivileges, "SELECT (some columns)")
	}
	if len(d.CurrentRolePrivileges) == 0 && relkind != "i" && relkind != "I" {
		d.Notes = append(d.Notes, "the current role holds no privilege on this relation: it can see its definition but not query it")
	}
	if relkind == "r" || relkind == "p" {
		d.RowSecurity = &RowSecurity{Enabled: rlsEnabled, Forced: rlsForced, ActiveForCurrentRole: rlsActive}
	}
	if relkind == "p" {
		d.Partitioning = &Partitioning{Strategy: partitionStrategy(deref(strategy)), Key: deref(partKey)}
	}
	if server != nil {
		d.ForeignTable = &ForeignTableInfo{Server: *server, Wrapper: deref(wrapper),
			Options: maskOptions(ftOptions), ServerOptions: maskOptions(srvOptions)}
	}
	if relkind == "v" || relkind == "m" {
		v := &ViewInfo{Definition: strings.TrimSpace(deref(viewDef))}
		if viewDefLen != nil && *viewDefLen > MaxDefinitionLength {
			v.DefinitionTruncated = true
			d.Notes = append(d.Notes, fmt.Sprintf("the view definition has %d characters; only the first %d are shown", *viewDefLen, MaxDefinitionLength))
		}
		if relkind == "m" {
			v.Populated = &populated
			if !populated {
				d.Notes = append(d.Notes, "the materialized view has never been refreshed (created WITH NO DATA): selecting from it fails until REFRESH MATERIALIZED VIEW")
			}
		}
		d.View = v
	}

	switch {
	case relkind == "v" || relkind == "f" || relkind == "i" || relkind == "I":
		// No storage of their own, or (indexes) reported with the index.
	case locked > 0:
		d.Notes = append(d.Notes, "size not shown: another session holds an exclusive lock on the relation (ALTER TABLE, VACUUM FULL, REINDEX …)")
	default:
		d.Size = newRelationSize(derefInt(total), derefInt(indexes), derefInt(toast))
	}
	if relkind == "p" {
		d.Notes = append(d.Notes, fmt.Sprintf("size and row estimate are sums over the %d leaf partitions", leaves))
	}
	if relkind == "r" || relkind == "p" || relkind == "m" || relkind == "t" {
		switch {
		case relkind == "p" && leaves == 0:
			zero := int64(0)
			d.RowEstimate = &zero
		case tuples == nil:
			d.Notes = append(d.Notes, "no row estimate: the table has never been vacuumed or analyzed (run ANALYZE)")
		case unanalyzed > 0:
			d.RowEstimate = tuples
			d.Notes = append(d.Notes, fmt.Sprintf("the row estimate leaves out %d partitions never analyzed", unanalyzed))
		default:
			d.RowEstimate = tuples
		}
	}
	if relkind == "f" {
		d.Notes = append(d.Notes, "foreign table: size and row estimate live on the remote side")
	}
	return nil
}

func derefInt(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func newRelationSize(total, indexes, toast int64) *RelationSize {
	table := total - indexes - toast
	return &RelationSize{
		TotalBytes: total, Total: prettySize(total),
		TableBytes: table, Table: prettySize(table),
		IndexesBytes: indexes, Indexes: prettySize(indexes),
		ToastBytes: toast, Toast: prettySize(toast),
	}
}

func partitionStrategy(s string) string {
	switch s {
	case "r":
		return "range"
	case "l":
		return "list"
	case "h":
		return "hash"
	}
	return s
}

// secretOptionWords mark option names whose values are masked.
var secretOptionWords = []string{"password", "passwd", "secret", "token", "key", "credential"}

// maskOptions masks the values of options ("name=value") whose name
// suggests a secret.
func maskOptions(opts []string) []string {
	if len(opts) == 0 {
		return nil
	}
	out := make([]string, len(opts))
	for i, o := range opts {
		name, _, _ := strings.Cut(o, "=")
		out[i] = o
		lower := strings.ToLower(name)
		for _, w := range secretOptionWords {
			if strings.Contains(lower, w) {
				out[i] = name + "=********"
				break
			}
		}
	}
	return out
}

func scanColumns(rows pgx.Rows) ([]Column, error) {
	var cols []Column
	err := eachRow(rows, func() error {
		var c Column
		var def, genExpr, coll, comment *string
		if err := rows.Scan(&c.Position, &c.Name, &c.Type, &c.Nullable, &def, &c.Identity, &c.Generated,
			&genExpr, &coll, &comment, &c.FDWOptions); err != nil {
			return err
		}
		c.Default, c.GenerationExpression, c.Collation, c.Comment = deref(def), deref(genExpr), deref(coll), deref(comment)
		switch c.Identity {
		case "a":
			c.Identity = "always"
		case "d":
			c.Identity = "by_default"
		}
		switch c.Generated {
		case "s":
			c.Generated = "stored"
		case "v":
			c.Generated = "virtual"
		}
		c.FDWOptions = maskOptions(c.FDWOptions)
		cols = append(cols, c)
		return nil
	})
	return cols, err
}

func scanStats(rows pgx.Rows, d *Details) error {
	var s TableStats
	var seq, seqRead, ins, upd, del, hot, live, dead, mod, insVac, vac, avac, an, aan *int64
	if err := rows.Scan(&seq, &seqRead, &s.IndexScans, &s.IndexTuplesFetched, &ins, &upd, &del,
		&hot, &live, &dead, &mod, &insVac,
		&s.LastVacuum, &s.LastAutovacuum, &s.LastAnalyze, &s.LastAutoanalyze,
		&vac, &avac, &an, &aan); err != nil {
		return err
	}
	s.SeqScans, s.SeqTuplesRead = derefInt(seq), derefInt(seqRead)
	s.Inserted, s.Updated, s.Deleted, s.HotUpdated = derefInt(ins), derefInt(upd), derefInt(del), derefInt(hot)
	s.LiveTuples, s.DeadTuples, s.ModifiedSinceAnalyze, s.InsertedSinceVacuum = derefInt(live), derefInt(dead), derefInt(mod), derefInt(insVac)
	s.VacuumCount, s.AutovacuumCount, s.AnalyzeCount, s.AutoanalyzeCount = derefInt(vac), derefInt(avac), derefInt(an), derefInt(aan)
	for _, t := range []**time.Time{&s.LastVacuum, &s.LastAutovacuum, &s.LastAnalyze, &s.LastAutoanalyze} {
		if *t != nil {
			u := (*t).UTC()
			*t = &u
		}
	}
	d.Stats = &s
	return nil
}

func fkAction(c string) string {
	switch c {
	case "a":
		return "no action"
	case "r":
		return "restrict"
	case "c":
		return "cascade"
	case "n":
		return "set null"
	case "d":
		return "set default"
	}
	return c
}

func fkMatch(c string) string {
	switch c {
	case "s":
		return "simple"
	case "f":
		return "full"
	case "p":
		return "partial"
	}
	return c
}

func scanConstraint(rows pgx.Rows, d *Details) error {
	var (
		name, contype, srcSchema, srcTable string
		outgoing, incoming                 bool
		cols, refCols                      []string
		refSchema, refTable                *string
		updType, delType, matchType        string
		deferrable, deferred, validated    bool
		def, expr, index, comment          *string
		inherited, noInherit               bool
	)
	if err := rows.Scan(&name, &contype, &outgoing, &incoming, &srcSchema, &srcTable, &cols, &refSchema, &refTable,
		&refCols, &updType, &delType, &matchType, &deferrable, &deferred, &validated, &def, &expr, &index,
		&inherited, &noInherit, &comment); err != nil {
		return err
	}
	if contype == "f" {
		fk := ForeignKey{
			Name: name, Schema: srcSchema, Table: srcTable, Columns: cols,
			ReferencedSchema: deref(refSchema), ReferencedTable: deref(refTable), ReferencedColumns: refCols,
			OnUpdate: fkAction(updType), OnDelete: fkAction(delType), Match: fkMatch(matchType),
			Deferrable: deferrable, InitiallyDeferred: deferred, NotValid: !validated, Inherited: inherited,
			Definition: deref(def), Comment: deref(comment),
		}
		if outgoing {
			d.ForeignKeys = append(d.ForeignKeys, fk)
		}
		if incoming {
			fk.Inherited = false
			d.ReferencedBy = append(d.ReferencedBy, fk)
		}
		return nil
	}
	c := Constraint{
		Name: name, Columns: cols, Definition: deref(def), Expression: deref(expr), Index: deref(index),
		Deferrable: deferrable, InitiallyDeferred: deferred, NotValid: !validated,
		Inherited: inherited, NoInherit: noInherit && contype == "c", Comment: deref(comment),
	}
	switch contype {
	case "p":
		d.PrimaryKey = &c
	case "u":
		d.UniqueConstraints = append(d.UniqueConstraints, c)
	case "c":
		d.CheckConstraints = append(d.CheckConstraints, c)
	case "x":
		d.ExclusionConstraints = append(d.ExclusionConstraints, c)
	}
	return nil
}

func scanIndex(rows pgx.Rows) (Index, error) {
	var ix Index
	var def, predicate, constraint, comment *string
	err := rows.Scan(&ix.Name, &ix.Schema, &ix.Table, &def, &ix.Method,
		&ix.Primary, &ix.Unique, &ix.Exclusion, &ix.Valid, &ix.Partitioned,
		&predicate, &constraint, &ix.SizeBytes, &ix.Scans, &ix.TuplesRead, &ix.TuplesFetched, &comment)
	ix.Definition, ix.Predicate, ix.Constraint, ix.Comment = deref(def), deref(predicate), deref(constraint), deref(comment)
	ix.Size = sizeOf(ix.SizeBytes)
	return ix, err
}

// Bits of pg_trigger.tgtype (PostgreSQL's TRIGGER_TYPE_* macros).
const (
	triggerRow      = 1 << 0
	triggerBefore   = 1 << 1
	triggerInsert   = 1 << 2
	triggerDelete   = 1 << 3
	triggerUpdate   = 1 << 4
	triggerTruncate = 1 << 5
	triggerInstead  = 1 << 6
)

func scanTrigger(rows pgx.Rows, d *Details) error {
	var t Trigger
	var tgtype int32
	var enabled string
	var hasCondition bool
	var def *string
	if err := rows.Scan(&t.Name, &tgtype, &enabled, &t.Function, &def, &hasCondition,
		&t.Constraint, &t.Inherited); err != nil {
		return err
	}
	t.Definition = deref(def)
	switch {
	case tgtype&triggerInstead != 0:
		t.Timing = "INSTEAD OF"
	case tgtype&triggerBefore != 0:
		t.Timing = "BEFORE"
	default:
		t.Timing = "AFTER"
	}
	t.Level = "STATEMENT"
	if tgtype&triggerRow != 0 {
		t.Level = "ROW"
	}
	t.Events = []string{}
	for _, e := range []struct {
		bit  int32
		name string
	}{{triggerInsert, "INSERT"}, {triggerUpdate, "UPDATE"}, {triggerDelete, "DELETE"}, {triggerTruncate, "TRUNCATE"}} {
		if tgtype&e.bit != 0 {
			t.Events = append(t.Events, e.name)
		}
	}
	t.Enabled = enabled != "D"
	switch enabled {
	case "R":
		t.FiresOn = "replica"
	case "A":
		t.FiresOn = "always"
	}
	if hasCondition {
		t.Condition = triggerCondition(t.Definition)
	}
	d.Triggers = append(d.Triggers, t)
	return nil
}

// triggerCondition extracts the WHEN expression from a trigger definition
// as pg_get_triggerdef prints it: "… FOR EACH ROW WHEN ((cond)) EXECUTE …".
// PostgreSQL has no function returning the condition alone (pg_get_expr
// cannot print its OLD/NEW references).
func triggerCondition(def string) string {
	for _, level := range []string{" FOR EACH ROW WHEN (", " FOR EACH STATEMENT WHEN ("} {
		i := strings.Index(def, level)
		if i < 0 {
			continue
		}
		rest := def[i+len(level)-1:] // starts at the WHEN parenthesis
		j := strings.LastIndex(rest, ") EXECUTE ")
		if j < 0 {
			return ""
		}
		cond := rest[:j+1]
		// Drop the parentheses WHEN requires.
		if strings.HasPrefix(cond, "(") && strings.HasSuffix(cond, ")") {
			cond = cond[1 : len(cond)-1]
		}
		return cond
	}
	return ""
}

func scanPolicy(rows pgx.Rows, d *Details) error {
	var p Policy
	var cmd string
	var using, check *string
	if err := rows.Scan(&p.Name, &cmd, &p.Permissive, &p.Roles, &using, &check); err != nil {
		return err
	}
	switch cmd {
	case "*":
		p.Command = "ALL"
	case "r":
		p.Command = "SELECT"
	case "a":
		p.Command = "INSERT"
	case "w":
		p.Command = "UPDATE"
	case "d":
		p.Command = "DELETE"
	default:
		p.Command = cmd
	}
	p.Using, p.WithCheck = deref(using), deref(check)
	if d.RowSecurity == nil {
		d.RowSecurity = &RowSecurity{}
	}
	d.RowSecurity.Policies = append(d.RowSecurity.Policies, p)
	return nil
}

// scanInheritance reads one parent or child; it returns the parent, if the
// row is one, and the number of children.
func scanInheritance(rows pgx.Rows, d *Details) (*RelationRef, int, error) {
	var (
		isParent           bool
		schema, name, kind string
		bound              *string
		estimate           *int64
		count              int64
	)
	if err := rows.Scan(&isParent, &schema, &name, &kind, &bound, &estimate, &count); err != nil {
		return nil, 0, err
	}
	ref := RelationRef{Schema: schema, Name: name}
	if isParent {
		d.Inherits = append(d.Inherits, ref)
		return &ref, 0, nil
	}
	if d.Partitioning != nil {
		d.Partitioning.PartitionCount = int(count)
		if len(d.Partitioning.Partitions) < maxChildren {
			d.Partitioning.Partitions = append(d.Partitioning.Partitions, Partition{Schema: schema, Name: name, Bound: deref(bound),
				Partitioned: kind == "p", Foreign: kind == "f", RowEstimate: estimate})
		}
		return nil, int(count), nil
	}
	if len(d.InheritedBy) < maxChildren {
		d.InheritedBy = append(d.InheritedBy, ref)
	}
	return nil, int(count), nil
}

func scanSequence(rows pgx.Rows, d *Details) error {
	var s SequenceInfo
	var canRead, locked bool
	var deptype, ownerSchema, ownerTable, ownerColumn *string
	if err := rows.Scan(&s.DataType, &s.Start, &s.Increment, &s.Min, &s.Max, &s.Cache, &s.Cycle,
		&canRead, &locked, &s.LastValue, &deptype, &ownerSchema, &ownerTable, &ownerColumn); err != nil {
		return err
	}
	if ownerColumn != nil {
		s.OwnedBy = &ColumnRef{Schema: deref(ownerSchema), Table: deref(ownerTable), Column: *ownerColumn}
		s.Identity = deref(deptype) == "i"
	}
	switch {
	case !canRead:
		d.Notes = append(d.Notes, "last_value not shown: the current role has neither SELECT nor USAGE on the sequence")
	case locked:
		d.Notes = append(d.Notes, "last_value not shown: another session holds an exclusive lock on the sequence")
	case s.LastValue == nil:
		d.Notes = append(d.Notes, "the sequence has not handed out a value yet")
	}
	d.Sequence = &s
	return nil
}
