package catalog

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Limits of [ListOptions.Limit].
const (
	DefaultListLimit = 200
	MaxListLimit     = 5000
)

// ListOptions select the objects [ListObjects] returns.
type ListOptions struct {
	// Schema to list; required. Matched exactly (schema names are
	// case-sensitive).
	Schema string
	// Type narrows the list to one kind; [TypeAll] lists every kind except
	// indexes (each table's indexes are in its details; ask for [TypeIndex]
	// to list them).
	Type ObjectType
	// Pattern optionally filters names with SQL LIKE syntax, ignoring case:
	// '%' matches any run of characters, '_' one character, and a backslash
	// escapes either. Empty means every name.
	Pattern string
	// Limit caps the number of objects; zero or less means
	// [DefaultListLimit], more than [MaxListLimit] means MaxListLimit.
	Limit int
	// IncludeExtensionObjects lists the functions, types, tables … that
	// belong to an extension (btree_gist alone adds hundreds of functions).
	// False lists only the extension itself.
	IncludeExtensionObjects bool
}

// ObjectList is the answer of [ListObjects].
type ObjectList struct {
	Schema  string   `json:"schema"`
	Objects []Object `json:"objects"`
	// Total counts every object that matched, also those cut by the limit.
	Total int `json:"total"`
	// Truncated is set when the limit cut the list (Total > len(Objects)).
	Truncated bool `json:"truncated"`
	// Note says how to see the rest when the list was cut.
	Note string `json:"note,omitempty"`
}

// Object is one entry of an [ObjectList]. Fields that do not apply to the
// object's type are omitted from JSON.
type Object struct {
	Name string     `json:"name"`
	Type ObjectType `json:"type"`
	// Kind refines Type: "partitioned", "partition" or "toast" for tables;
	// "primary_key" or "unique" for indexes; "function", "procedure",
	// "aggregate" or "window" for functions; "enum", "composite", "domain",
	// "range" or "base" for types.
	Kind    string `json:"kind,omitempty"`
	Owner   string `json:"owner,omitempty"`
	Comment string `json:"comment,omitempty"`
	// RowEstimate is the planner's row count estimate (tables, materialized
	// views, foreign tables); absent when the table was never analyzed.
	// Partitioned tables sum their partitions.
	RowEstimate *int64 `json:"row_estimate,omitempty"`
	// SizeBytes is the total on-disk size including indexes and TOAST
	// (tables, materialized views, sequences, indexes); absent when another
	// session holds an exclusive lock on the relation.
	SizeBytes *int64 `json:"size_bytes,omitempty"`
	Size      string `json:"size,omitempty"` // SizeBytes for humans, like pg_size_pretty
	// Table is the table an index belongs to (same schema).
	Table string `json:"table,omitempty"`
	// PartitionOf is the parent ("schema.table") of a partition.
	PartitionOf string `json:"partition_of,omitempty"`
	// Arguments are a function's identity arguments (present, possibly
	// empty, for every function).
	Arguments *string `json:"arguments,omitempty"`
	// Result is a function's result type; absent for procedures.
	Result     string `json:"result,omitempty"`
	Language   string `json:"language,omitempty"`
	Volatility string `json:"volatility,omitempty"` // immutable, stable or volatile
	// Labels are an enum's values in sort order.
	Labels []string `json:"labels,omitempty"`
	// Version and Description of an extension.
	Version     string `json:"version,omitempty"`
	Description string `json:"description,omitempty"`
	// Server is a foreign table's foreign server.
	Server string `json:"server,omitempty"`
}

// Fragments of the list query, one per kind. Each yields (and names, for
// when it stands alone) oid, classoid, name, otype and sortkey for the objects of the schema in the CTE "ns". The
// extension-member filter is appended by listFragment.
const (
	listRelationsSQL = `SELECT c.oid, 'pg_class'::regclass::oid AS classoid, c.relname::text AS name,
	CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized_view' WHEN 'S' THEN 'sequence'
		WHEN 'f' THEN 'foreign_table' WHEN 'i' THEN 'index' WHEN 'I' THEN 'index' ELSE 'table' END AS otype,
	''::text AS sortkey
FROM pg_class c
WHERE c.relnamespace = (SELECT oid FROM ns) AND c.relkind IN (%s)`
	// Functions, without those PostgreSQL made as part of another object
	// (a range type's constructors).
	listFunctionsSQL = `SELECT p.oid, 'pg_proc'::regclass::oid AS classoid, p.proname::text AS name, 'function' AS otype,
	pg_get_function_identity_arguments(p.oid) AS sortkey
FROM pg_proc p
WHERE p.pronamespace = (SELECT oid FROM ns)
  AND NOT EXISTS (SELECT FROM pg_depend dep WHERE dep.classid = 'pg_proc'::regclass AND dep.objid = p.oid AND dep.deptype = 'i')`
	// Types: not arrays, not the row types of tables and views (only
	// stand-alone composite types), not pseudo-types or multiranges (a
	// range's multirange comes with it).
	listTypesSQL = `SELECT t.oid, 'pg_type'::regclass::oid AS classoid, t.typname::text AS name, 'type' AS otype, '' AS sortkey
FROM pg_type t
LEFT JOIN pg_class r ON r.oid = t.typrelid
WHERE t.typnamespace = (SELECT oid FROM ns) AND t.typtype IN (%s)
  AND (t.typrelid = 0 OR r.relkind = 'c')
  AND NOT EXISTS (SELECT FROM pg_type el WHERE el.typarray = t.oid)`
	listExtensionsSQL = `SELECT e.oid, 'pg_extension'::regclass::oid AS classoid, e.extname::text AS name, 'extension' AS otype, '' AS sortkey
FROM pg_extension e
WHERE e.extnamespace = (SELECT oid FROM ns)`
)

// Per-kind membership tests for the extension-member filter.
var memberOf = map[string]string{
	"c": `'pg_class'::regclass AND dep.objid = c.oid`,
	"p": `'pg_proc'::regclass AND dep.objid = p.oid`,
	"t": `'pg_type'::regclass AND dep.objid = t.oid`,
}

func listFragment(sql, alias string, includeMembers bool) string {
	if includeMembers || alias == "" {
		return sql
	}
	return sql + "\n  AND NOT EXISTS (SELECT FROM pg_depend dep WHERE dep.deptype = 'e' AND dep.classid = " + memberOf[alias] + ")"
}

// fragments returns the union branches for a type.
func fragments(t ObjectType, includeMembers bool) []string {
	rel := func(kinds string) string {
		return listFragment(fmt.Sprintf(listRelationsSQL, kinds), "c", includeMembers)
	}
	fn := listFragment(listFunctionsSQL, "p", includeMembers)
	typ := func(kinds string) string {
		return listFragment(fmt.Sprintf(listTypesSQL, kinds), "t", includeMembers)
	}
	ext := listExtensionsSQL
	switch t {
	case TypeTable:
		return []string{rel(`'r','p','t'`)}
	case TypeView:
		return []string{rel(`'v'`)}
	case TypeMaterializedView:
		return []string{rel(`'m'`)}
	case TypeSequence:
		return []string{rel(`'S'`)}
	case TypeForeignTable:
		return []string{rel(`'f'`)}
	case TypeIndex:
		return []string{rel(`'i','I'`)}
	case TypeFunction:
		return []string{fn}
	case TypeType:
		return []string{typ(`'b','c','d','e','r'`)}
	case TypeEnum:
		return []string{typ(`'e'`)}
	case TypeExtension:
		return []string{ext}
	}
	return []string{rel(`'r','p','t','v','m','S','f'`), fn, typ(`'b','c','d','e','r'`), ext}
}

// listDetailsSQL completes the page of objects (CTE "page") with the
// columns that cost something (sizes, estimates, comments), so only the
// returned objects pay for them.
var listDetailsSQL = `SELECT p.name, p.otype,
	CASE
		WHEN c.relkind = 'p' THEN 'partitioned'
		WHEN c.relispartition AND c.relkind IN ('r', 'f') THEN 'partition'
		WHEN c.relkind = 't' THEN 'toast'
		WHEN ix.indisprimary THEN 'primary_key'
		WHEN ix.indisunique THEN 'unique'
		WHEN f.prokind = 'f' THEN 'function' WHEN f.prokind = 'p' THEN 'procedure'
		WHEN f.prokind = 'a' THEN 'aggregate' WHEN f.prokind = 'w' THEN 'window'
		WHEN t.typtype = 'e' THEN 'enum' WHEN t.typtype = 'c' THEN 'composite' WHEN t.typtype = 'd' THEN 'domain'
		WHEN t.typtype = 'r' THEN 'range' WHEN t.typtype = 'b' THEN 'base'
	END,
	pg_get_userbyid(coalesce(c.relowner, f.proowner, t.typowner, e.extowner)),
	d.description,
	CASE
		WHEN c.relkind IN ('r', 'm', 't', 'f') AND c.reltuples >= 0 THEN c.reltuples::int8
		WHEN c.relkind = 'p' THEN (
			` + partitionTree("c.oid") + `
			SELECT sum(lc.reltuples) FILTER (WHERE lc.reltuples >= 0)::int8
			FROM tree JOIN pg_class lc ON lc.oid = tree.oid
			WHERE lc.relkind NOT IN ('p', 'I'))
	END,
	CASE
		WHEN c.relkind IN ('r', 'm', 't', 'S', 'i') THEN
			CASE WHEN NOT EXISTS (SELECT FROM locked WHERE locked.oid = c.oid) THEN pg_total_relation_size(c.oid) END
		WHEN c.relkind IN ('p', 'I') THEN (
			` + partitionTree("c.oid") + `
			SELECT CASE WHEN count(lk.oid) = 0 THEN coalesce(sum(pg_total_relation_size(lc.oid)) FILTER (WHERE lk.oid IS NULL), 0) END::int8
			FROM tree JOIN pg_class lc ON lc.oid = tree.oid LEFT JOIN locked lk ON lk.oid = lc.oid
			WHERE lc.relkind IN ('r', 'm', 'i'))
	END,
	ixt.relname::text,
	CASE WHEN c.relispartition THEN (
		SELECT pn.nspname || '.' || pc.relname
		FROM pg_inherits ih JOIN pg_class pc ON pc.oid = ih.inhparent JOIN pg_namespace pn ON pn.oid = pc.relnamespace
		WHERE ih.inhrelid = c.oid)
	END,
	CASE WHEN f.oid IS NOT NULL THEN p.sortkey END,
	pg_get_function_result(f.oid),
	l.lanname::text,
	CASE f.provolatile WHEN 'i' THEN 'immutable' WHEN 's' THEN 'stable' WHEN 'v' THEN 'volatile' END,
	CASE WHEN t.typtype = 'e' THEN ARRAY(SELECT en.enumlabel::text FROM pg_enum en WHERE en.enumtypid = t.oid ORDER BY en.enumsortorder) END,
	e.extversion,
	fs.srvname::text,
	p.total
FROM page p
LEFT JOIN pg_class c ON p.classoid = 'pg_class'::regclass AND c.oid = p.oid
LEFT JOIN pg_index ix ON ix.indexrelid = c.oid
LEFT JOIN pg_class ixt ON ixt.oid = ix.indrelid
LEFT JOIN pg_foreign_table ft ON ft.ftrelid = c.oid
LEFT JOIN pg_foreign_server fs ON fs.oid = ft.ftserver
LEFT JOIN pg_proc f ON p.classoid = 'pg_proc'::regclass AND f.oid = p.oid
LEFT JOIN pg_language l ON l.oid = f.prolang
LEFT JOIN pg_type t ON p.classoid = 'pg_type'::regclass AND t.oid = p.oid
LEFT JOIN pg_extension e ON p.classoid = 'pg_extension'::regclass AND e.oid = p.oid
LEFT JOIN pg_description d ON d.objoid = p.oid AND d.classoid = p.classoid AND d.objsubid = 0
ORDER BY lower(p.name) COLLATE "C", p.name COLLATE "C", p.otype, p.sortkey COLLATE "C"`

// ListObjects lists the objects of one schema, sorted by name (ignoring
// case), then type. A missing schema is a [*NotFoundError] with similar
// schema names. Caller strings travel only as query parameters.
func ListObjects(ctx context.Context, q Querier, opts ListOptions) (*ObjectList, error) {
	if opts.Schema == "" {
		return nil, &InvalidArgumentError{Argument: "schema", Message: `schema is required (for example "public")`}
	}
	typ, err := ParseObjectType(string(opts.Type))
	if err != nil {
		return nil, err
	}
	if err := checkText("schema", opts.Schema); err != nil {
		return nil, err
	}
	if err := checkPattern(opts.Pattern); err != nil {
		return nil, err
	}
	limit := opts.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	limit = min(limit, MaxListLimit)

	args := []any{opts.Schema}
	var filter string
	if opts.Pattern != "" {
		args = append(args, opts.Pattern)
		filter = "WHERE o.name ILIKE $2"
	}
	args = append(args, limit)
	var b strings.Builder
	b.WriteString("WITH ns AS (SELECT oid FROM pg_namespace WHERE nspname = $1),\nobjs AS (\n")
	for i, f := range fragments(typ, opts.IncludeExtensionObjects) {
		if i > 0 {
			b.WriteString("\nUNION ALL\n")
		}
		b.WriteString(f)
	}
	b.WriteString("\n),\npage AS (\n\tSELECT o.*, count(*) OVER () AS total FROM objs o " + filter +
		"\n\tORDER BY lower(o.name) COLLATE \"C\", o.name COLLATE \"C\", o.otype, o.sortkey COLLATE \"C\"\n\tLIMIT $" +
		strconv.Itoa(len(args)) + "\n),\n" + lockedCTE + "\n" + listDetailsSQL)

	rows, err := q.Query(ctx, b.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("listing objects in schema %q: %w", opts.Schema, err)
	}
	list := &ObjectList{Schema: opts.Schema, Objects: []Object{}}
	err = eachRow(rows, func() error {
		var (
			o                                                 Object
			kind, owner, comment, table, parent, result, lang *string
			volatility, version, server                       *string
		)
		var total int64
		if err := rows.Scan(&o.Name, &o.Type, &kind, &owner, &comment, &o.RowEstimate, &o.SizeBytes,
			&table, &parent, &o.Arguments, &result, &lang, &volatility, &o.Labels, &version, &server, &total); err != nil {
			return err
		}
		o.Kind, o.Owner, o.Table, o.PartitionOf = deref(kind), deref(owner), deref(table), deref(parent)
		o.Result, o.Language, o.Volatility, o.Version, o.Server = deref(result), deref(lang), deref(volatility), deref(version), deref(server)
		if o.Type == TypeExtension {
			o.Description = deref(comment)
		} else {
			o.Comment = deref(comment)
		}
		o.Size = sizeOf(o.SizeBytes)
		list.Total = int(total)
		list.Objects = append(list.Objects, o)
		return nil
	})
	rows.Close()
	if err != nil {
		return nil, fmt.Errorf("listing objects in schema %q: %w", opts.Schema, err)
	}
	if len(list.Objects) == 0 {
		if err := checkSchema(ctx, q, opts.Schema); err != nil {
			return nil, err
		}
	}
	if list.Total > len(list.Objects) {
		list.Truncated = true
		list.Note = fmt.Sprintf("showing %d of %d objects: narrow the list with a name pattern or an object type, or raise the limit (at most %d)",
			len(list.Objects), list.Total, MaxListLimit)
	}
	return list, nil
}

// deref returns the string or "" for NULL.
func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// checkSchema returns a [*NotFoundError] with similar schema names when the
// schema does not exist, nil when it does.
func checkSchema(ctx context.Context, q Querier, schema string) error {
	rows, err := q.Query(ctx, `SELECT nspname::text FROM pg_namespace WHERE NOT pg_is_other_temp_schema(oid)`)
	if err != nil {
		return fmt.Errorf("checking schema %q: %w", schema, err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("checking schema %q: %w", schema, err)
	}
	for _, n := range names {
		if n == schema {
			return nil
		}
	}
	return &NotFoundError{Schema: schema, SchemaMissing: true, Similar: rankSimilar(schema, names, 5)}
}
