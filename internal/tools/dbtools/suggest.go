package dbtools

import (
	"context"
	"regexp"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/catalog"
	"github.com/pgherd/pgherd/internal/pg"
)

var (
	undefinedTable  = regexp.MustCompile(`relation "([^"]+)" does not exist`)
	undefinedColumn = regexp.MustCompile(`column "?([^" ]+?)"?(?: of relation "([^"]+)")? does not exist`)
)

// withSuggestions adds to an "undefined table" (42P01) or "undefined
// column" (42703) error the nearest names the caller may read, as
// get_object_details does for a missing object: the tables and views of the
// schemas this mode shows, or the columns of their tables. Other errors are
// returned as they are; so is this one when the lookup fails.
func (d *dbtools) withSuggestions(ctx context.Context, req *mcp.CallToolRequest, err error) error {
	pe, ok := pg.AsError(err)
	if !ok || pe.SQLState != "42P01" && pe.SQLState != "42703" {
		return err
	}
	var schemas []string // nil: every user schema
	if d.opts.Mode.PublicOnly() {
		schemas = []string{"public"}
	}
	var names []string
	var what string
	lookup := d.catalogTx(ctx, req, func(ctx context.Context, q catalog.Querier) error {
		var err error
		if m := undefinedTable.FindStringSubmatch(pe.Message); pe.SQLState == "42P01" && m != nil {
			name := m[1][strings.LastIndexByte(m[1], '.')+1:]
			names, err = catalog.SimilarRelations(ctx, q, schemas, name)
			what = "tables and views you can read"
		} else if m := undefinedColumn.FindStringSubmatch(pe.Message); pe.SQLState == "42703" && m != nil {
			name := m[1][strings.LastIndexByte(m[1], '.')+1:]
			names, err = catalog.SimilarColumns(ctx, q, schemas, m[2], name)
			what = "columns you can read"
		}
		return err
	})
	if lookup != nil || len(names) == 0 {
		return err
	}
	se, ok := err.(sqlError)
	if !ok {
		return err
	}
	se.suggest = "did you mean " + strings.Join(names, ", ") + "? (" + what + ")"
	return se
}
