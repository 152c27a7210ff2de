package dbtools

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/catalog"
	"github.com/pgherd/pgherd/internal/tools"
)

// The resource templates of every database endpoint. {endpoint} is the
// endpoint's name; the other variables are percent-encoded as URI template
// simple strings.
const (
	SchemaTemplate = "pgherd://{endpoint}/schema/{schema}"
	TableTemplate  = "pgherd://{endpoint}/table/{schema}/{table}"
)

// schemaObjectLimit bounds a schema resource: list_objects with a
// name_pattern shows the rest.
const schemaObjectLimit = 1000

// DatabaseResource is the content of pgherd://ENDPOINT/database.
type DatabaseResource struct {
	Endpoint string `json:"endpoint"`
	catalog.DatabaseInfo
	AccessMode string               `json:"access_mode"`
	Rules      string               `json:"rules" jsonschema:"what SQL the access mode allows"`
	Limits     LimitsInfo           `json:"limits"`
	Schemas    []catalog.SchemaInfo `json:"schemas" jsonschema:"the schemas this endpoint shows (user modes: public only)"`
	Tools      []string             `json:"tools"`
	Templates  []string             `json:"resource_templates" jsonschema:"read a schema's objects or a table's details through these"`
}

// LimitsInfo are the limits every call on the endpoint runs under.
type LimitsInfo struct {
	StatementTimeout string `json:"statement_timeout"`
	LockTimeout      string `json:"lock_timeout"`
	MaxRows          int    `json:"max_rows"`
	MaxResultBytes   int64  `json:"max_result_bytes"`
}

func (d *dbtools) registerResources(t *tools.Target) {
	ep := d.opts.Endpoint
	read := []string{tools.TagRead}
	dbURI := tools.URI(ep, "database")
	tools.AddResource(t, &mcp.Resource{
		URI:         dbURI,
		Name:        ep + "_database",
		Title:       "Database " + ep,
		Description: fmt.Sprintf("Database %s (%s): server version, size, extensions, access mode and its rules, limits, schemas and tools.", ep, d.opts.Mode),
		MIMEType:    "application/json",
	}, read, func(ctx context.Context, req *mcp.ReadResourceRequest, _ map[string]string) (*mcp.ReadResourceResult, error) {
		out := &DatabaseResource{
			Endpoint:   ep,
			AccessMode: string(d.opts.Mode),
			Rules:      ModeRules(d.opts.Mode),
			Limits: LimitsInfo{
				StatementTimeout: d.opts.Limits.StatementTimeout.String(),
				LockTimeout:      d.opts.Limits.LockTimeout.String(),
				MaxRows:          d.opts.Limits.MaxRows,
				MaxResultBytes:   d.opts.Limits.MaxResultBytes,
			},
			Templates: []string{expandEndpoint(SchemaTemplate, ep), expandEndpoint(TableTemplate, ep)},
		}
		for _, n := range Names(d.opts.Mode) {
			out.Tools = append(out.Tools, t.Name(n))
		}
		err := d.catalogTx(ctx, req, func(ctx context.Context, q catalog.Querier) error {
			info, err := catalog.Database(ctx, q)
			if err != nil {
				return err
			}
			out.DatabaseInfo = *info
			schemas, err := catalog.ListSchemas(ctx, q)
			if err != nil {
				return err
			}
			if d.opts.Mode.PublicOnly() {
				schemas = slices.DeleteFunc(schemas, func(s catalog.SchemaInfo) bool { return s.Name != "public" })
			}
			out.Schemas = schemas
			return nil
		})
		if err != nil {
			return nil, err
		}
		return tools.JSONContents(dbURI, out)
	})

	// One template serves every endpoint composed into a server: the
	// description holds for all of them.
	const scope = "user_ro and user_rw endpoints show only public, admin modes every schema"
	complete := map[string]tools.Completer{"schema": d.completeSchema}
	tools.AddTemplate(t, &mcp.ResourceTemplate{
		URITemplate: SchemaTemplate,
		Name:        "schema",
		Title:       "Schema objects",
		Description: fmt.Sprintf("The objects of one schema as JSON: name, kind, row estimate, size and comment of every table, view, materialized view, sequence, function, type and extension (up to %d; list_objects with name_pattern shows more). Schemas: %s.", schemaObjectLimit, scope),
		MIMEType:    "application/json",
	}, read, d.readSchema, complete)

	tools.AddTemplate(t, &mcp.ResourceTemplate{
		URITemplate: TableTemplate,
		Name:        "table",
		Title:       "Table details",
		Description: fmt.Sprintf("One table, view, materialized view or foreign table as JSON: columns with types, nullability, defaults and comments; primary, foreign, unique and check constraints; indexes; triggers; row estimate and size. Schemas: %s.", scope),
		MIMEType:    "application/json",
	}, read, d.readTable, map[string]tools.Completer{"schema": d.completeSchema, "table": d.completeTable})
}

// expandEndpoint fills {endpoint} into a template.
func expandEndpoint(tmpl, ep string) string {
	return tools.URI(ep) + tmpl[len("pgherd://{endpoint}"):]
}

// visibleSchema reports whether the endpoint shows schema: user modes show
// only public, and say so without telling whether another one exists.
func (d *dbtools) visibleSchema(uri, schema string) error {
	if schema == "" {
		return tools.NotFound(uri, "the schema is empty")
	}
	if d.opts.Mode.PublicOnly() && schema != "public" {
		return tools.NotFound(uri, fmt.Sprintf("endpoint %s (%s) shows only the public schema", d.opts.Endpoint, d.opts.Mode))
	}
	return nil
}

func (d *dbtools) readSchema(ctx context.Context, req *mcp.ReadResourceRequest, vars map[string]string) (*mcp.ReadResourceResult, error) {
	uri := req.Params.URI
	schema := vars["schema"]
	if err := d.visibleSchema(uri, schema); err != nil {
		return nil, err
	}
	var out *catalog.ObjectList
	err := d.catalogTx(ctx, req, func(ctx context.Context, q catalog.Querier) error {
		var err error
		out, err = catalog.ListObjects(ctx, q, catalog.ListOptions{Schema: schema, Limit: schemaObjectLimit})
		return err
	})
	if err != nil {
		return nil, resourceErr(uri, err)
	}
	return tools.JSONContents(uri, out)
}

// relationTypes are the kinds the table template describes.
var relationTypes = []catalog.ObjectType{catalog.TypeTable, catalog.TypeView, catalog.TypeMaterializedView, catalog.TypeForeignTable}

func (d *dbtools) readTable(ctx context.Context, req *mcp.ReadResourceRequest, vars map[string]string) (*mcp.ReadResourceResult, error) {
	uri := req.Params.URI
	schema, table := vars["schema"], vars["table"]
	if err := d.visibleSchema(uri, schema); err != nil {
		return nil, err
	}
	if table == "" {
		return nil, tools.NotFound(uri, "the table name is empty")
	}
	var out *catalog.Details
	err := d.catalogTx(ctx, req, func(ctx context.Context, q catalog.Querier) error {
		var err error
		out, err = catalog.Describe(ctx, q, schema, table, catalog.TypeAll)
		return err
	})
	if err != nil {
		return nil, resourceErr(uri, err)
	}
	if !slices.Contains(relationTypes, out.Type) {
		return nil, tools.NotFound(uri, fmt.Sprintf("%s.%s is a %s, not a table or view; get_object_details describes it", schema, table, out.Type))
	}
	if d.opts.Mode.PublicOnly() {
		publicOnly(out)
	}
	return tools.JSONContents(uri, out)
}

// resourceErr turns catalog errors into the JSON-RPC errors of a resource
// read: a missing object is not found (with the catalog's suggestions), a
// bad argument invalid params.
func resourceErr(uri string, err error) error {
	var nf *catalog.NotFoundError
	if errors.As(err, &nf) {
		return tools.NotFound(uri, nf.Error())
	}
	var ia *catalog.InvalidArgumentError
	if errors.As(err, &ia) {
		return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: ia.Message}
	}
	return err
}

func (d *dbtools) completeSchema(ctx context.Context, req *mcp.CompleteRequest, prefix string, _ map[string]string) ([]string, error) {
	if d.opts.Mode.PublicOnly() {
		return []string{"public"}, nil
	}
	var names []string
	err := d.catalogTx(ctx, req, func(ctx context.Context, q catalog.Querier) error {
		var err error
		names, err = catalog.SchemaNames(ctx, q, prefix, tools.MaxCompletions+1)
		return err
	})
	return names, err
}

func (d *dbtools) completeTable(ctx context.Context, req *mcp.CompleteRequest, prefix string, args map[string]string) ([]string, error) {
	schema := args["schema"]
	if schema == "" {
		schema = "public"
	}
	if d.opts.Mode.PublicOnly() && schema != "public" {
		return nil, nil
	}
	var names []string
	err := d.catalogTx(ctx, req, func(ctx context.Context, q catalog.Querier) error {
		var err error
		names, err = catalog.RelationNames(ctx, q, schema, prefix, tools.MaxCompletions+1)
		return err
	})
	return names, err
}
