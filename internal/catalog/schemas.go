package catalog

import (
	"context"
	"fmt"
)

// SchemaInfo describes one schema in [ListSchemas]' answer. Object counts
// leave out objects that belong to an extension (as [ListObjects] does by
// default) and count the extensions instead.
type SchemaInfo struct {
	Name  string `json:"name"`
	Owner string `json:"owner"`
	// Kind is "system" for pg_catalog, information_schema, pg_toast and the
	// session's own temporary schemas; "user" otherwise.
	Kind              string `json:"kind"`
	Comment           string `json:"comment,omitempty"`
	Tables            int    `json:"tables"` // including partitioned tables and partitions
	Views             int    `json:"views"`
	MaterializedViews int    `json:"materialized_views"`
	Sequences         int    `json:"sequences"`
	Functions         int    `json:"functions"` // functions, procedures, aggregates
	Types             int    `json:"types"`     // enums, composite types, domains, ranges, base types
	ForeignTables     int    `json:"foreign_tables"`
	Indexes           int    `json:"indexes"`
	Extensions        int    `json:"extensions"`
	// SizeBytes sums the total size (with indexes and TOAST) of the schema's
	// tables and materialized views; relations another session holds an
	// exclusive lock on are skipped (see SizeIncomplete).
	SizeBytes      int64  `json:"size_bytes"`
	Size           string `json:"size"`
	SizeIncomplete bool   `json:"size_incomplete,omitempty"`
}

const listSchemasSQL = `WITH ` + lockedCTE + `,
members AS MATERIALIZED (
	SELECT classid, objid FROM pg_depend WHERE deptype = 'e'
	UNION
	-- Functions PostgreSQL made as part of another object (range constructors).
	SELECT classid, objid FROM pg_depend WHERE deptype = 'i' AND classid = 'pg_proc'::regclass
),
rels AS (
	SELECT c.relnamespace AS nsp,
		count(*) FILTER (WHERE c.relkind IN ('r', 'p')) AS tables,
		count(*) FILTER (WHERE c.relkind = 'v') AS views,
		count(*) FILTER (WHERE c.relkind = 'm') AS matviews,
		count(*) FILTER (WHERE c.relkind = 'S') AS sequences,
		count(*) FILTER (WHERE c.relkind = 'f') AS foreign_tables,
		count(*) FILTER (WHERE c.relkind IN ('i', 'I')) AS indexes,
		coalesce(sum(pg_total_relation_size(c.oid)) FILTER (WHERE c.relkind IN ('r', 'm', 't') AND lk.oid IS NULL), 0)::int8 AS size,
		bool_or(lk.oid IS NOT NULL AND c.relkind IN ('r', 'm', 't')) AS size_incomplete
	FROM pg_class c
	LEFT JOIN locked lk ON lk.oid = c.oid
	WHERE NOT EXISTS (SELECT FROM members m WHERE m.classid = 'pg_class'::regclass AND m.objid = c.oid)
	GROUP BY c.relnamespace
),
funcs AS (
	SELECT p.pronamespace AS nsp, count(*) AS n
	FROM pg_proc p
	WHERE NOT EXISTS (SELECT FROM members m WHERE m.classid = 'pg_proc'::regclass AND m.objid = p.oid)
	GROUP BY p.pronamespace
),
types AS (
	SELECT t.typnamespace AS nsp, count(*) AS n
	FROM pg_type t
	LEFT JOIN pg_class r ON r.oid = t.typrelid
	WHERE t.typtype IN ('b', 'c', 'd', 'e', 'r')
	  AND (t.typrelid = 0 OR r.relkind = 'c')
	  AND NOT EXISTS (SELECT FROM pg_type el WHERE el.typarray = t.oid)
	  AND NOT EXISTS (SELECT FROM members m WHERE m.classid = 'pg_type'::regclass AND m.objid = t.oid)
	GROUP BY t.typnamespace
),
exts AS (
	SELECT extnamespace AS nsp, count(*) AS n FROM pg_extension GROUP BY extnamespace
)
SELECT n.nspname::text,
	pg_get_userbyid(n.nspowner),
	CASE WHEN n.nspname IN ('pg_catalog', 'information_schema') OR n.nspname LIKE 'pg\_toast%' OR n.nspname LIKE 'pg\_temp\_%'
		THEN 'system' ELSE 'user' END AS kind,
	d.description,
	coalesce(r.tables, 0), coalesce(r.views, 0), coalesce(r.matviews, 0), coalesce(r.sequences, 0),
	coalesce(f.n, 0), coalesce(t.n, 0), coalesce(r.foreign_tables, 0), coalesce(r.indexes, 0), coalesce(e.n, 0),
	coalesce(r.size, 0), coalesce(r.size_incomplete, false)
FROM pg_namespace n
LEFT JOIN rels r ON r.nsp = n.oid
LEFT JOIN funcs f ON f.nsp = n.oid
LEFT JOIN types t ON t.nsp = n.oid
LEFT JOIN exts e ON e.nsp = n.oid
LEFT JOIN pg_description d ON d.objoid = n.oid AND d.classoid = 'pg_namespace'::regclass AND d.objsubid = 0
WHERE NOT pg_is_other_temp_schema(n.oid)
ORDER BY kind DESC, n.nspname COLLATE "C"`

// ListSchemas lists the database's schemas, user schemas first, each with
// its owner, comment, object counts and size. Other sessions' temporary
// schemas are left out.
func ListSchemas(ctx context.Context, q Querier) ([]SchemaInfo, error) {
	rows, err := q.Query(ctx, listSchemasSQL)
	if err != nil {
		return nil, fmt.Errorf("listing schemas: %w", err)
	}
	defer rows.Close()
	out := []SchemaInfo{}
	err = eachRow(rows, func() error {
		var s SchemaInfo
		var comment *string
		if err := rows.Scan(&s.Name, &s.Owner, &s.Kind, &comment, &s.Tables, &s.Views, &s.MaterializedViews,
			&s.Sequences, &s.Functions, &s.Types, &s.ForeignTables, &s.Indexes, &s.Extensions,
			&s.SizeBytes, &s.SizeIncomplete); err != nil {
			return err
		}
		s.Comment = deref(comment)
		s.Size = prettySize(s.SizeBytes)
		out = append(out, s)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing schemas: %w", err)
	}
	return out, nil
}
