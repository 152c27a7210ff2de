package catalog

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// typeSQL reads type $1. The multirange of a range type exists from
// PostgreSQL 14; reading it through to_jsonb keeps the query valid on 13.
const typeSQL = `SELECT t.typtype::text, pg_get_userbyid(t.typowner), d.description,
	ARRAY(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder),
	CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END,
	t.typnotnull, coalesce(pg_get_expr(t.typdefaultbin, 0), t.typdefault),
	CASE WHEN t.typtype = 'd' AND t.typcollation <> 0 AND t.typcollation <> bt.typcollation THEN
		CASE WHEN cn.nspname = 'pg_catalog' THEN co.collname::text ELSE cn.nspname || '.' || co.collname END
	END,
	format_type(r.rngsubtype, NULL), opc.opcname::text,
	CASE WHEN r.rngcanonical <> 0 THEN r.rngcanonical::text END,
	CASE WHEN r.rngsubdiff <> 0 THEN r.rngsubdiff::text END,
	format_type(nullif(to_jsonb(r) ->> 'rngmultitypid', '')::oid, NULL),
	t.typlen::int4, t.typinput::text, t.typoutput::text
FROM pg_type t
LEFT JOIN pg_type bt ON bt.oid = t.typbasetype
LEFT JOIN pg_collation co ON co.oid = t.typcollation
LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
LEFT JOIN pg_range r ON r.rngtypid = t.oid
LEFT JOIN pg_opclass opc ON opc.oid = r.rngsubopc
LEFT JOIN pg_description d ON d.classoid = 'pg_type'::regclass AND d.objoid = t.oid AND d.objsubid = 0
WHERE t.oid = $1`

const domainConstraintsSQL = `SELECT con.conname::text, pg_get_constraintdef(con.oid), pg_get_expr(con.conbin, 0),
	con.convalidated, d.description
FROM pg_constraint con
LEFT JOIN pg_description d ON d.classoid = 'pg_constraint'::regclass AND d.objoid = con.oid AND d.objsubid = 0
WHERE con.contypid = $1 AND con.contype = 'c'
ORDER BY con.conname COLLATE "C"`

// usedBySQL lists up to $2 columns of type $1 or of its array type in
// tables (not partitions: they repeat their parent), views and composite
// types.
const usedBySQL = `SELECT n.nspname::text, c.relname::text, a.attname::text
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE a.atttypid IN (SELECT $1::oid UNION ALL SELECT typarray FROM pg_type WHERE oid = $1 AND typarray <> 0)
  AND a.attnum > 0 AND NOT a.attisdropped
  AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c') AND NOT c.relispartition
ORDER BY n.nspname COLLATE "C", c.relname COLLATE "C", a.attnum
LIMIT $2`

// describeType fills d for type oid.
func describeType(ctx context.Context, q Querier, d *Details, oid uint32) error {
	ti := &TypeInfo{}
	d.DataType = ti
	attrSQL := strings.Replace(columnsSQL, "a.attrelid = $1", "a.attrelid = (SELECT typrelid FROM pg_type WHERE oid = $1)", 1)
	usedBy := 0
	err := runSections(ctx, q, []section{
		{name: "type", sql: typeSQL, args: []any{oid}, scan: func(rows pgx.Rows) error {
			return eachRow(rows, func() error { return scanType(rows, d, ti) })
		}},
		{name: "attributes", sql: attrSQL, args: []any{oid, false}, scan: func(rows pgx.Rows) error {
			cols, err := scanColumns(rows)
			ti.Attributes = cols
			return err
		}},
		{name: "domain constraints", sql: domainConstraintsSQL, args: []any{oid}, scan: func(rows pgx.Rows) error {
			return eachRow(rows, func() error {
				var c Constraint
				var expr, comment *string
				var valid bool
				if err := rows.Scan(&c.Name, &c.Definition, &expr, &valid, &comment); err != nil {
					return err
				}
				c.Expression, c.NotValid, c.Comment = deref(expr), !valid, deref(comment)
				ti.Constraints = append(ti.Constraints, c)
				return nil
			})
		}},
		{name: "columns using the type", sql: usedBySQL, args: []any{oid, maxUsedBy + 1}, scan: func(rows pgx.Rows) error {
			return eachRow(rows, func() error {
				var r ColumnRef
				if err := rows.Scan(&r.Schema, &r.Table, &r.Column); err != nil {
					return err
				}
				usedBy++
				if len(ti.UsedBy) < maxUsedBy {
					ti.UsedBy = append(ti.UsedBy, r)
				}
				return nil
			})
		}},
	})
	if usedBy > maxUsedBy {
		d.Notes = append(d.Notes, fmt.Sprintf("more than %d columns use this type; only the first %d are listed", maxUsedBy, maxUsedBy))
	}
	return err
}

func scanType(rows pgx.Rows, d *Details, ti *TypeInfo) error {
	var (
		typtype                                  string
		owner, comment, baseType, def, collation *string
		subtype, opclass, canonical, diff, multi *string
		length                                   int
		input, output                            string
		labels                                   []string
	)
	if err := rows.Scan(&typtype, &owner, &comment, &labels, &baseType, &ti.NotNull, &def, &collation,
		&subtype, &opclass, &canonical, &diff, &multi, &length, &input, &output); err != nil {
		return err
	}
	d.Owner, d.Comment = deref(owner), deref(comment)
	switch typtype {
	case "e":
		ti.Kind = "enum"
		ti.Labels = labels
		if ti.Labels == nil {
			ti.Labels = []string{}
		}
	case "c":
		ti.Kind = "composite"
	case "d":
		ti.Kind = "domain"
		ti.BaseType, ti.Default, ti.Collation = deref(baseType), deref(def), deref(collation)
	case "r":
		ti.Kind = "range"
		ti.Subtype, ti.SubtypeOpclass, ti.Canonical, ti.SubtypeDiff, ti.Multirange =
			deref(subtype), deref(opclass), deref(canonical), deref(diff), deref(multi)
	case "m":
		ti.Kind = "multirange"
	case "p":
		ti.Kind = "pseudo"
	default:
		ti.Kind = "base"
		ti.InternalLength, ti.Input, ti.Output = &length, input, output
		ti.Default = deref(def)
	}
	d.Kind = ti.Kind
	return nil
}
