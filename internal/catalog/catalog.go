package catalog

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Querier runs the package's catalog queries. pgx.Tx, *pgx.Conn and
// *pgxpool.Pool satisfy it. When the value also has pgx's SendBatch method
// (all three do), [Describe] sends its sections in one round trip.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// batcher is the optional capability [Describe] uses to save round trips.
type batcher interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// ObjectType names a kind of schema object, as the tools accept and report
// it. The zero value, [TypeAll], means every kind.
type ObjectType string

// The object types. [TypeType] covers enums, composite types, domains, range
// and base types; [TypeEnum] narrows it to enums. [TypeTable] includes
// partitioned tables and partitions. [TypeFunction] covers functions,
// procedures, aggregates and window functions.
const (
	TypeAll              ObjectType = ""
	TypeTable            ObjectType = "table"
	TypeView             ObjectType = "view"
	TypeMaterializedView ObjectType = "materialized_view"
	TypeSequence         ObjectType = "sequence"
	TypeExtension        ObjectType = "extension"
	TypeFunction         ObjectType = "function"
	TypeType             ObjectType = "type"
	TypeEnum             ObjectType = "enum"
	TypeForeignTable     ObjectType = "foreign_table"
	TypeIndex            ObjectType = "index"
)

// objectTypes lists every concrete object type in documentation order.
var objectTypes = []ObjectType{
	TypeTable, TypeView, TypeMaterializedView, TypeSequence, TypeExtension,
	TypeFunction, TypeType, TypeEnum, TypeForeignTable, TypeIndex,
}

// ObjectTypes returns every concrete object type ([TypeAll] excluded).
func ObjectTypes() []ObjectType { return slices.Clone(objectTypes) }

// typeAliases maps the accepted spellings (after normalising case, spaces and
// hyphens) to an object type.
var typeAliases = map[string]ObjectType{
	"":                   TypeAll,
	"all":                TypeAll,
	"any":                TypeAll,
	"*":                  TypeAll,
	"table":              TypeTable,
	"tables":             TypeTable,
	"relation":           TypeTable,
	"relations":          TypeTable,
	"partitioned_table":  TypeTable,
	"partitioned_tables": TypeTable,
	"base_table":         TypeTable,
	"view":               TypeView,
	"views":              TypeView,
	"materialized_view":  TypeMaterializedView,
	"materialized_views": TypeMaterializedView,
	"matview":            TypeMaterializedView,
	"matviews":           TypeMaterializedView,
	"mview":              TypeMaterializedView,
	"mviews":             TypeMaterializedView,
	"sequence":           TypeSequence,
	"sequences":          TypeSequence,
	"seq":                TypeSequence,
	"extension":          TypeExtension,
	"extensions":         TypeExtension,
	"ext":                TypeExtension,
	"function":           TypeFunction,
	"functions":          TypeFunction,
	"func":               TypeFunction,
	"routine":            TypeFunction,
	"routines":           TypeFunction,
	"procedure":          TypeFunction,
	"procedures":         TypeFunction,
	"aggregate":          TypeFunction,
	"aggregates":         TypeFunction,
	"type":               TypeType,
	"types":              TypeType,
	"data_type":          TypeType,
	"data_types":         TypeType,
	"domain":             TypeType,
	"domains":            TypeType,
	"composite":          TypeType,
	"composite_type":     TypeType,
	"composite_types":    TypeType,
	"range":              TypeType,
	"range_type":         TypeType,
	"range_types":        TypeType,
	"enum":               TypeEnum,
	"enums":              TypeEnum,
	"enum_type":          TypeEnum,
	"enum_types":         TypeEnum,
	"foreign_table":      TypeForeignTable,
	"foreign_tables":     TypeForeignTable,
	"index":              TypeIndex,
	"indexes":            TypeIndex,
	"indices":            TypeIndex,
	"idx":                TypeIndex,
}

// ParseObjectType turns a caller's spelling into an [ObjectType]. It accepts
// the canonical names, their plurals and a few aliases ("matview",
// "procedure", "domain", …), in any case, with spaces or hyphens for
// underscores; "" and "all" mean [TypeAll]. The error lists the valid names.
func ParseObjectType(s string) (ObjectType, error) {
	norm := strings.ToLower(strings.TrimSpace(s))
	norm = strings.NewReplacer(" ", "_", "-", "_").Replace(norm)
	if t, ok := typeAliases[norm]; ok {
		return t, nil
	}
	names := make([]string, len(objectTypes))
	for i, t := range objectTypes {
		names[i] = string(t)
	}
	msg := fmt.Sprintf("unknown object type %q: use one of %s (or leave it empty for every kind)", s, strings.Join(names, ", "))
	if best := closest(norm, names, 2); best != "" {
		msg += fmt.Sprintf("; did you mean %q?", best)
	}
	return "", &InvalidArgumentError{Argument: "object_type", Message: msg}
}

// InvalidArgumentError reports an argument the package cannot use, with a
// message that says what to pass instead.
type InvalidArgumentError struct {
	Argument string // "schema", "object_type", "name", …
	Message  string
}

func (e *InvalidArgumentError) Error() string { return e.Message }

// relationType maps pg_class.relkind to the object type it is reported as.
func relationType(relkind string) ObjectType {
	switch relkind {
	case "r", "p", "t":
		return TypeTable
	case "v":
		return TypeView
	case "m":
		return TypeMaterializedView
	case "S":
		return TypeSequence
	case "f":
		return TypeForeignTable
	case "i", "I":
		return TypeIndex
	}
	return ""
}
