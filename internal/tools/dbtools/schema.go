package dbtools

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/catalog"
	"github.com/pgherd/pgherd/internal/pg"
	"github.com/pgherd/pgherd/internal/tools"
)

// ListObjectsArgs are list_objects's arguments.
type ListObjectsArgs struct {
	SchemaName  string `json:"schema_name,omitempty" jsonschema:"schema to list; default public (user modes: only public)"`
	ObjectType  string `json:"object_type,omitempty" jsonschema:"table, view, materialized_view, sequence, extension, function, type, enum, foreign_table or index; empty lists every kind"`
	NamePattern string `json:"name_pattern,omitempty" jsonschema:"optional SQL LIKE pattern on the name, case-insensitive (% any text, _ one character)"`
	Limit       int    `json:"limit,omitempty" jsonschema:"at most this many objects (default 200, max 5000)"`
}

// ObjectDetailsArgs are get_object_details's arguments.
type ObjectDetailsArgs struct {
	SchemaName string `json:"schema_name,omitempty" jsonschema:"schema of the object; default public (user modes: only public)"`
	ObjectName string `json:"object_name" jsonschema:"name of the object, as list_objects shows it"`
	ObjectType string `json:"object_type,omitempty" jsonschema:"kind of object, to disambiguate; empty finds any kind"`
	// IncludeStats asks for the usage counters, left out by default.
	IncludeStats bool `json:"include_stats,omitempty" jsonschema:"also return usage counters, which change with every query: table scans, tuples inserted/updated/deleted, live and dead tuples, vacuum and analyze times, index scans"`
}

// SchemaList is list_schemas's output.
type SchemaList struct {
	Schemas []catalog.SchemaInfo `json:"schemas"`
}

func (d *dbtools) registerSchema(t *tools.Target) {
	read := []string{tools.TagRead}
	scope := "in the public schema"
	if d.opts.Mode.Admin() {
		scope = "in any schema"
	}

	tools.Add(t, &mcp.Tool{
		Name:        "list_objects",
		Title:       "List database objects",
		Description: fmt.Sprintf("List tables, views, materialized views, sequences, extensions, functions, types and foreign tables %s of database %s, with approximate row counts, sizes and comments.", scope, d.opts.Endpoint),
		Annotations: readOnly(),
	}, read, func(ctx context.Context, req *mcp.CallToolRequest, in ListObjectsArgs) (*mcp.CallToolResult, *catalog.ObjectList, error) {
		schema, err := d.schema(in.SchemaName)
		if err != nil {
			return nil, nil, err
		}
		typ, err := catalog.ParseObjectType(in.ObjectType)
		if err != nil {
			return nil, nil, err
		}
		var out *catalog.ObjectList
		err = d.catalogTx(ctx, req, func(ctx context.Context, q catalog.Querier) error {
			var err error
			out, err = catalog.ListObjects(ctx, q, catalog.ListOptions{Schema: schema, Type: typ, Pattern: in.NamePattern, Limit: in.Limit})
			return err
		})
		if err != nil {
			return nil, nil, err
		}
		if out.Truncated {
			tools.Log(ctx).LogAttrs(ctx, slog.LevelWarn, "object list truncated",
				slog.Int("objects_returned", len(out.Objects)), slog.Int("total", out.Total))
		}
		return textResult(renderObjects(out)), out, nil
	})

	tools.Add(t, &mcp.Tool{
		Name:        "get_object_details",
		Title:       "Describe a database object",
		Description: fmt.Sprintf("Describe one object %s of database %s: columns with types, nullability, defaults and comments; primary, foreign, unique, check and exclusion constraints; indexes with definitions, sizes and usage; triggers; row-level security policies; size and row estimate. Views show their definition, functions their signature and source, types their labels or attributes.", scope, d.opts.Endpoint),
		Annotations: readOnly(),
	}, read, func(ctx context.Context, req *mcp.CallToolRequest, in ObjectDetailsArgs) (*mcp.CallToolResult, *catalog.Details, error) {
		schema, err := d.schema(in.SchemaName)
		if err != nil {
			return nil, nil, err
		}
		if strings.TrimSpace(in.ObjectName) == "" {
			return nil, nil, fmt.Errorf("object_name is empty; pass the name of a table, view, function… (list_objects lists them)")
		}
		typ, err := catalog.ParseObjectType(in.ObjectType)
		if err != nil {
			return nil, nil, err
		}
		var out *catalog.Details
		err = d.catalogTx(ctx, req, func(ctx context.Context, q catalog.Querier) error {
			var err error
			out, err = catalog.Describe(ctx, q, schema, in.ObjectName, typ)
			return err
		})
		if err != nil {
			return nil, nil, err
		}
		if d.opts.Mode.PublicOnly() {
			publicOnly(out)
		}
		if !in.IncludeStats {
			dropCounters(out)
		}
		return textResult(detailsText(out)), out, nil
	})

	if !d.opts.Mode.Admin() {
		return
	}
	tools.Add(t, &mcp.Tool{
		Name:        "list_schemas",
		Title:       "List schemas",
		Description: fmt.Sprintf("List every schema of database %s with its owner, whether it is a user or system schema, object counts and total size.", d.opts.Endpoint),
		Annotations: readOnly(),
	}, []string{tools.TagAdmin}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, *SchemaList, error) {
		out := &SchemaList{}
		err := d.catalogTx(ctx, req, func(ctx context.Context, q catalog.Querier) error {
			var err error
			out.Schemas, err = catalog.ListSchemas(ctx, q)
			return err
		})
		if err != nil {
			return nil, nil, err
		}
		var b strings.Builder
		for _, s := range out.Schemas {
			fmt.Fprintf(&b, "%s (%s, owner %s): %d tables, %d views, %d functions, %s\n", s.Name, s.Kind, s.Owner, s.Tables, s.Views, s.Functions, s.Size)
		}
		return textResult(strings.TrimRight(b.String(), "\n")), out, nil
	})
}

// schema returns the schema a schema tool may look at: the argument (default
// public), and in user modes nothing but public.
func (d *dbtools) schema(arg string) (string, error) {
	s := arg
	if s == "" {
		s = "public"
	}
	if d.opts.Mode.PublicOnly() && s != "public" {
		return "", fmt.Errorf("schema %q is not available in %s mode: this endpoint shows only the public schema", arg, d.opts.Mode)
	}
	return s, nil
}

// publicOnly removes from d what lies outside the public schema: tables in
// other schemas referencing this one, inheritance children and partitions
// elsewhere, columns of other schemas using a type. The object's own
// definition (a foreign key to another schema, say) stays as it is.
func publicOnly(d *catalog.Details) {
	hidden := 0
	keep := func(schema string) bool {
		if schema == "public" {
			return true
		}
		hidden++
		return false
	}
	d.ReferencedBy = slices.DeleteFunc(d.ReferencedBy, func(fk catalog.ForeignKey) bool { return !keep(fk.Schema) })
	d.InheritedBy = slices.DeleteFunc(d.InheritedBy, func(r catalog.RelationRef) bool { return !keep(r.Schema) })
	if d.Partitioning != nil {
		d.Partitioning.Partitions = slices.DeleteFunc(d.Partitioning.Partitions, func(p catalog.Partition) bool { return !keep(p.Schema) })
	}
	if d.DataType != nil {
		d.DataType.UsedBy = slices.DeleteFunc(d.DataType.UsedBy, func(c catalog.ColumnRef) bool { return !keep(c.Schema) })
	}
	if hidden > 0 {
		d.Notes = append(d.Notes, fmt.Sprintf("%d related object(s) outside the public schema are not shown in this access mode", hidden))
	}
}

// catalogTx runs trusted catalog queries in the caller's read-only,
// rolled-back transaction (same role and tenant settings as its SQL).
//
// A client that asked for progress hears of each step: waiting for a
// connection, reading the catalog.
func (d *dbtools) catalogTx(ctx context.Context, req mcp.Request, fn func(context.Context, catalog.Querier) error) error {
	progress := tools.NewProgress(req)
	progress.SetTotal(2)
	progress.Step(ctx, "waiting for a connection to "+d.opts.Endpoint)
	h, err := d.resolve(ctx, req)
	if err != nil {
		return err
	}
	defer h.Done()
	opts := h.Tx
	opts.ReadOnly, opts.Rollback = true, true
	return describeErr(h.Pool.Do(ctx, opts, func(ctx context.Context, tx *pg.Tx) error {
		progress.Step(ctx, "reading the catalog")
		return fn(ctx, tx.Conn())
	}))
}

func renderObjects(l *catalog.ObjectList) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d objects in schema %s", len(l.Objects), l.Schema)
	if l.Truncated {
		fmt.Fprintf(&b, " (of %d; raise limit or narrow name_pattern)", l.Total)
	}
	b.WriteString("\n")
	for _, o := range l.Objects {
		fmt.Fprintf(&b, "%s %s", o.Type, o.Name)
		if o.RowEstimate != nil {
			fmt.Fprintf(&b, " ~%d rows", *o.RowEstimate)
		}
		if o.Size != "" {
			fmt.Fprintf(&b, " %s", o.Size)
		}
		if o.Comment != "" {
			fmt.Fprintf(&b, " — %s", o.Comment)
		}
		b.WriteString("\n")
	}
	return strings.TrimRight(b.String(), "\n")
}
