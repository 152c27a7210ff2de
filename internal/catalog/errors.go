package catalog

import (
	"fmt"
	"strings"
)

// NotFoundError reports that a schema or object does not exist (or is not
// visible in the catalog), with hints for the caller to try next. Callers
// test for it with errors.As.
type NotFoundError struct {
	Schema string     `json:"schema"`
	Name   string     `json:"name,omitempty"` // empty when the schema itself was looked up
	Type   ObjectType `json:"type,omitempty"` // the kind asked for; empty means any kind
	// SchemaMissing is set when the schema does not exist; Similar then holds
	// similar schema names.
	SchemaMissing bool `json:"schema_missing,omitempty"`
	// Similar holds up to five similar names (best first) from the same
	// schema, or similar schema names when SchemaMissing is set.
	Similar []string `json:"similar,omitempty"`
	// ExistsAs lists the kinds that do exist under Name in Schema, when the
	// requested Type excluded them.
	ExistsAs []ObjectType `json:"exists_as,omitempty"`
}

func (e *NotFoundError) Error() string {
	var b strings.Builder
	if e.SchemaMissing {
		fmt.Fprintf(&b, "schema %q does not exist", e.Schema)
		if len(e.Similar) > 0 {
			fmt.Fprintf(&b, "; similar schemas: %s", strings.Join(e.Similar, ", "))
		} else {
			b.WriteString("; list the schemas to see which exist")
		}
		return b.String()
	}
	what := "object"
	if e.Type != TypeAll {
		what = strings.ReplaceAll(string(e.Type), "_", " ")
	}
	fmt.Fprintf(&b, "%s %q not found in schema %q", what, e.Name, e.Schema)
	if len(e.ExistsAs) > 0 {
		kinds := make([]string, len(e.ExistsAs))
		for i, k := range e.ExistsAs {
			kinds[i] = string(k)
		}
		fmt.Fprintf(&b, "; %q exists there as: %s (ask for that object type, or leave the type empty)", e.Name, strings.Join(kinds, ", "))
	}
	if len(e.Similar) > 0 {
		fmt.Fprintf(&b, "; similar names: %s", strings.Join(e.Similar, ", "))
	}
	if len(e.ExistsAs) == 0 && len(e.Similar) == 0 {
		b.WriteString("; list the schema's objects to find the right name (names are case-sensitive)")
	}
	return b.String()
}
