package catalog

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
)

// MaxDefinitionLength caps function and view definitions, in characters.
// Longer ones are cut and flagged (DefinitionTruncated).
const MaxDefinitionLength = 16000

// Caps on lists inside [Details]; a note says when one was reached.
const (
	maxChildren = 1000 // partitions and inheritance children
	maxUsedBy   = 100  // columns using a type
)

// candidate is one catalog object with the requested name.
type candidate struct {
	src    string // relation, function, type or extension
	oid    uint32
	kind   string // relkind, prokind or typtype
	locked bool   // another session holds or awaits an exclusive lock (relations)
}

func (c candidate) objectType() ObjectType {
	switch c.src {
	case "relation":
		return relationType(c.kind)
	case "function":
		return TypeFunction
	case "type":
		return TypeType
	case "extension":
		return TypeExtension
	}
	return ""
}

// matches reports whether the candidate is of the requested type.
func (c candidate) matches(t ObjectType) bool {
	switch t {
	case TypeAll:
		return true
	case TypeEnum:
		return c.src == "type" && c.kind == "e"
	}
	return c.objectType() == t
}

// hasColumns reports whether objects of type t have columns: such types are
// interchangeable enough that asking for the wrong one still answers.
func hasColumns(t ObjectType) bool {
	return t == TypeTable || t == TypeView || t == TypeMaterializedView || t == TypeForeignTable
}

// resolveSQL finds every object named $2 in schema $1, in the order Describe
// prefers them when no type is given.
//
// For relations it also tells whether another session holds or awaits an
// ACCESS EXCLUSIVE lock that PostgreSQL's deparsing functions
// (pg_get_expr, pg_get_indexdef, pg_get_viewdef …) would queue behind: on
// the relation, one of its indexes or its TOAST table; for an index, on its
// table; for a view, on a relation it reads.
const resolveSQL = `WITH ns AS (SELECT oid FROM pg_namespace WHERE nspname = $1), ` + lockedCTE + `
SELECT 'relation', c.oid, c.relkind::text,
	EXISTS (SELECT FROM locked WHERE locked.oid = c.oid)
	OR c.relkind IN ('i', 'I') AND EXISTS (
		SELECT FROM pg_index i JOIN locked ON locked.oid = i.indrelid WHERE i.indexrelid = c.oid)
	OR c.relkind IN ('v', 'm') AND EXISTS (
		SELECT FROM pg_rewrite r
		JOIN pg_depend dep ON dep.classid = 'pg_rewrite'::regclass AND dep.objid = r.oid AND dep.refclassid = 'pg_class'::regclass
		JOIN locked ON locked.oid = dep.refobjid
		WHERE r.ev_class = c.oid)
FROM pg_class c
WHERE c.relnamespace = (SELECT oid FROM ns) AND c.relname = $2 AND c.relkind <> 'c'
UNION ALL
SELECT 'type', t.oid, t.typtype::text, false FROM pg_type t LEFT JOIN pg_class r ON r.oid = t.typrelid
WHERE t.typnamespace = (SELECT oid FROM ns) AND t.typname = $2 AND (t.typrelid = 0 OR r.relkind = 'c')
  AND NOT EXISTS (SELECT FROM pg_type el WHERE el.typarray = t.oid)
UNION ALL
SELECT 'function', p.oid, p.prokind::text, false FROM pg_proc p
WHERE p.pronamespace = (SELECT oid FROM ns) AND p.proname = $2
UNION ALL
SELECT 'extension', e.oid, '', false FROM pg_extension e
WHERE e.extnamespace = (SELECT oid FROM ns) AND e.extname = $2`

// Describe returns the details of the object called name in schema (both
// matched exactly, as PostgreSQL stores them). typ narrows the kind; with
// [TypeAll] a relation wins over a type, a function or an extension of the
// same name, and the others are listed in OtherTypesWithName. Asking for a
// table, view, materialized view or foreign table finds any of the four
// (with a note when the kind differs). Functions answer with every overload.
//
// When nothing matches, the error is a [*NotFoundError] with similar names
// and the kinds that do exist under that name.
func Describe(ctx context.Context, q Querier, schema, name string, typ ObjectType) (*Details, error) {
	typ, err := ParseObjectType(string(typ))
	if err != nil {
		return nil, err
	}
	if schema == "" {
		return nil, &InvalidArgumentError{Argument: "schema", Message: `schema is required (for example "public")`}
	}
	if name == "" {
		return nil, &InvalidArgumentError{Argument: "name", Message: "object name is required"}
	}
	if err := checkText("schema", schema); err != nil {
		return nil, err
	}
	if err := checkText("name", name); err != nil {
		return nil, err
	}

	rows, err := q.Query(ctx, resolveSQL, schema, name)
	if err != nil {
		return nil, fmt.Errorf("looking up %s.%s: %w", schema, name, err)
	}
	cands, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (candidate, error) {
		var c candidate
		err := r.Scan(&c.src, &c.oid, &c.kind, &c.locked)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("looking up %s.%s: %w", schema, name, err)
	}

	var chosen []candidate
	var notes []string
	for _, c := range cands {
		if c.matches(typ) && (len(chosen) == 0 || c.src == "function" && chosen[0].src == "function") {
			chosen = append(chosen, c)
		}
	}
	if len(chosen) == 0 && hasColumns(typ) {
		for _, c := range cands {
			if hasColumns(c.objectType()) {
				chosen = append(chosen, c)
				notes = append(notes, fmt.Sprintf("asked for a %s, but %s.%s is a %s", spaced(typ), schema, name, spaced(c.objectType())))
				break
			}
		}
	}
	if len(chosen) == 0 {
		return nil, notFound(ctx, q, schema, name, typ, cands)
	}

	first := chosen[0]
	d := &Details{Schema: schema, Name: name, Type: first.objectType(), Notes: notes}
	for _, c := range cands {
		if t := c.objectType(); t != d.Type && !slices.Contains(d.OtherTypesWithName, t) {
			d.OtherTypesWithName = append(d.OtherTypesWithName, t)
		}
	}
	switch first.src {
	case "relation":
		err = describeRelation(ctx, q, d, first.oid, first.kind, first.locked)
	case "function":
		oids := make([]uint32, len(chosen))
		for i, c := range chosen {
			oids[i] = c.oid
		}
		err = describeFunctions(ctx, q, d, oids)
	case "type":
		err = describeType(ctx, q, d, first.oid)
	case "extension":
		err = describeExtension(ctx, q, d, first.oid)
	}
	if err != nil {
		return nil, fmt.Errorf("describing %s %s.%s: %w", spaced(d.Type), schema, name, err)
	}
	return d, nil
}

// spaced turns an object type into words: "materialized view".
func spaced(t ObjectType) string {
	b := []byte(t)
	for i, c := range b {
		if c == '_' {
			b[i] = ' '
		}
	}
	return string(b)
}

// similarNamesSQL lists names in schema $1 that could be what $2 meant: a
// rough filter (length, shared prefix, containment) so a schema of 100,000
// objects does not travel; [rankSimilar] orders them.
const similarNamesSQL = `WITH ns AS (SELECT oid FROM pg_namespace WHERE nspname = $1),
names AS (
	SELECT relname::text AS name FROM pg_class WHERE relnamespace = (SELECT oid FROM ns) AND relkind NOT IN ('c', 't')
	UNION SELECT proname::text FROM pg_proc WHERE pronamespace = (SELECT oid FROM ns)
	UNION SELECT t.typname::text FROM pg_type t LEFT JOIN pg_class r ON r.oid = t.typrelid
		WHERE t.typnamespace = (SELECT oid FROM ns) AND (t.typrelid = 0 OR r.relkind = 'c')
		AND NOT EXISTS (SELECT FROM pg_type el WHERE el.typarray = t.oid)
	UNION SELECT extname::text FROM pg_extension WHERE extnamespace = (SELECT oid FROM ns)
)
SELECT name FROM names
WHERE abs(length(name) - length($2)) <= greatest(3, length($2) / 3)
   OR left(lower(name), 3) = left(lower($2), 3)
   OR strpos(lower(name), lower($2)) > 0
   OR strpos(lower($2), lower(name)) > 0
LIMIT 5000`

// notFound builds the [*NotFoundError] for a failed lookup; cands are the
// objects of the name that exist under other types.
func notFound(ctx context.Context, q Querier, schema, name string, typ ObjectType, cands []candidate) error {
	if len(cands) == 0 {
		if err := checkSchema(ctx, q, schema); err != nil {
			return err
		}
	}
	e := &NotFoundError{Schema: schema, Name: name, Type: typ}
	for _, c := range cands {
		if t := c.objectType(); !slices.Contains(e.ExistsAs, t) {
			e.ExistsAs = append(e.ExistsAs, t)
		}
	}
	rows, err := q.Query(ctx, similarNamesSQL, schema, name)
	if err != nil {
		return fmt.Errorf("looking for names like %q in schema %q: %w", name, schema, err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("looking for names like %q in schema %q: %w", name, schema, err)
	}
	e.Similar = rankSimilar(name, names, 5)
	return e
}
