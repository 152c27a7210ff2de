//lint:file-ignore SA1019 MCP logging is deprecated from protocol 2026-07-28 (SEP-2577) but still part of it and of every older revision pgherd serves

package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/config"
)

func ctx15(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func resourceURIs(t *testing.T, cs *mcp.ClientSession) []string {
	t.Helper()
	var uris []string
	for r, err := range cs.Resources(ctx15(t), nil) {
		if err != nil {
			t.Fatalf("listing resources: %v", err)
		}
		uris = append(uris, r.URI)
	}
	slices.Sort(uris)
	return uris
}

func templateURIs(t *testing.T, cs *mcp.ClientSession) []string {
	t.Helper()
	var uris []string
	for r, err := range cs.ResourceTemplates(ctx15(t), nil) {
		if err != nil {
			t.Fatalf("listing resource templates: %v", err)
		}
		uris = append(uris, r.URITemplate)
	}
	slices.Sort(uris)
	return uris
}

// readJSON reads a JSON resource into a generic map.
func readJSON(t *testing.T, cs *mcp.ClientSession, uri string) map[string]any {
	t.Helper()
	res, err := cs.ReadResource(ctx15(t), &mcp.ReadResourceParams{URI: uri})
	if err != nil {
		t.Fatalf("reading %s: %v", uri, err)
	}
	if len(res.Contents) != 1 || res.Contents[0].MIMEType != "application/json" {
		t.Fatalf("reading %s: contents %+v, want one application/json", uri, res.Contents)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(res.Contents[0].Text), &m); err != nil {
		t.Fatalf("reading %s: %v\n%s", uri, err, res.Contents[0].Text)
	}
	return m
}

// readNotFound reads uri, which must fail with JSON-RPC resource not found;
// it returns the message.
func readNotFound(t *testing.T, cs *mcp.ClientSession, uri string) string {
	t.Helper()
	res, err := cs.ReadResource(ctx15(t), &mcp.ReadResourceParams{URI: uri})
	var je *jsonrpc.Error
	if !errors.As(err, &je) || je.Code != jsonrpc.CodeInvalidParams {
		t.Fatalf("reading %s: result %v, err %v; want resource not found (%d)", uri, res, err, jsonrpc.CodeInvalidParams)
	}
	return je.Message
}

func complete(t *testing.T, cs *mcp.ClientSession, ref *mcp.CompleteReference, arg, value string, args map[string]string) []string {
	t.Helper()
	p := &mcp.CompleteParams{Ref: ref, Argument: mcp.CompleteParamsArgument{Name: arg, Value: value}}
	if args != nil {
		p.Context = &mcp.CompleteContext{Arguments: args}
	}
	res, err := cs.Complete(ctx15(t), p)
	if err != nil {
		t.Fatalf("completing %s=%q on %+v: %v", arg, value, ref, err)
	}
	return res.Completion.Values
}

func sortedObjectNames(m map[string]any) []string {
	var names []string
	objs, _ := m["objects"].([]any)
	for _, o := range objs {
		names = append(names, o.(map[string]any)["name"].(string))
	}
	slices.Sort(names)
	return names
}

// TestResourcesPerMode lists and reads the resources and templates of each
// access mode over Streamable HTTP (both session modes) and legacy SSE: a
// user-mode caller never sees another schema, in lists, reads or
// completions; the main endpoint serves the redacted configuration and the
// endpoints.
func TestResourcesPerMode(t *testing.T) {
	for _, mode := range []config.SessionMode{config.Stateless, config.Stateful} {
		t.Run(string(mode), func(t *testing.T) {
			s := fourModes(t, "  session_mode: "+string(mode)+"\n")
			for _, tr := range []transport{streamable, legacySSE} {
				if tr == legacySSE && mode == config.Stateful {
					continue // legacy SSE does not depend on the session mode
				}
				t.Run(string(tr), func(t *testing.T) {
					testResources(t, s, tr)
				})
			}
		})
	}
}

func testResources(t *testing.T, s *server, tr transport) {
	templates := []string{"pgherd://{endpoint}/schema/{schema}", "pgherd://{endpoint}/table/{schema}/{table}"}
	for _, ep := range []string{"app1", "app2", "app3", "app4"} {
		cs := s.connect(t, "/"+ep+"/mcp", tr, nil)
		if got, want := resourceURIs(t, cs), []string{"pgherd://" + ep + "/database", "ui://pgherd/" + ep + "/plan"}; !reflect.DeepEqual(got, want) {
			t.Errorf("%s resources = %v, want %v", ep, got, want)
		}
		if got := templateURIs(t, cs); !reflect.DeepEqual(got, templates) {
			t.Errorf("%s templates = %v, want %v", ep, got, templates)
		}
		caps := cs.InitializeResult().Capabilities
		if caps.Resources == nil || caps.Completions == nil || caps.Tools == nil || caps.Logging == nil {
			t.Errorf("%s capabilities = %+v, want tools, resources, completions and logging", ep, caps)
		} else if caps.Resources.ListChanged || caps.Resources.Subscribe || caps.Tools.ListChanged {
			t.Errorf("%s capabilities promise list changes or subscriptions: %+v %+v", ep, caps.Resources, caps.Tools)
		}

		db := readJSON(t, cs, "pgherd://"+ep+"/database")
		user := ep == "app1" || ep == "app2"
		var schemas []string
		for _, sc := range db["schemas"].([]any) {
			schemas = append(schemas, sc.(map[string]any)["name"].(string))
		}
		if db["server_version"] == "" || db["endpoint"] != ep || db["size_bytes"].(float64) <= 0 {
			t.Errorf("%s database resource = %v", ep, db)
		}
		if user && !reflect.DeepEqual(schemas, []string{"public"}) {
			t.Errorf("%s (user mode) database resource shows schemas %v, want only public", ep, schemas)
		}
		if !user && !slices.Contains(schemas, "private") {
			t.Errorf("%s (admin mode) database resource shows schemas %v, want private among them", ep, schemas)
		}

		public := readJSON(t, cs, "pgherd://"+ep+"/schema/public")
		if got := sortedObjectNames(public); !reflect.DeepEqual(got, []string{"big_orders", "customers", "orders"}) {
			t.Errorf("%s schema public objects = %v", ep, got)
		}
		customers := readJSON(t, cs, "pgherd://"+ep+"/table/public/customers")
		if customers["row_estimate"] != float64(50) || customers["primary_key"] == nil || len(customers["columns"].([]any)) != 3 {
			t.Errorf("%s table customers = %v", ep, customers)
		}
		if user {
			msg := readNotFound(t, cs, "pgherd://"+ep+"/schema/private")
			if strings.Contains(msg, "secrets") {
				t.Errorf("%s: refusal of schema private names its objects: %q", ep, msg)
			}
			readNotFound(t, cs, "pgherd://"+ep+"/table/private/secrets")
			readNotFound(t, cs, "pgherd://"+ep+"/schema/nosuch")
		} else {
			if got := sortedObjectNames(readJSON(t, cs, "pgherd://"+ep+"/schema/private")); !reflect.DeepEqual(got, []string{"secrets"}) {
				t.Errorf("%s schema private objects = %v", ep, got)
			}
			readJSON(t, cs, "pgherd://"+ep+"/table/private/secrets")
			if msg := readNotFound(t, cs, "pgherd://"+ep+"/schema/privat"); !strings.Contains(msg, "private") {
				t.Errorf("%s: a misspelt schema gets %q, want a suggestion", ep, msg)
			}
		}
		if msg := readNotFound(t, cs, "pgherd://"+ep+"/table/public/custmers"); !strings.Contains(msg, "customers") {
			t.Errorf("%s: a misspelt table gets %q, want a suggestion", ep, msg)
		}
		readNotFound(t, cs, "pgherd://other/schema/public")

		schemaRef := &mcp.CompleteReference{Type: "ref/resource", URI: templates[0]}
		tableRef := &mcp.CompleteReference{Type: "ref/resource", URI: templates[1]}
		if got := complete(t, cs, schemaRef, "endpoint", "", nil); !reflect.DeepEqual(got, []string{ep}) {
			t.Errorf("%s: endpoint completions = %v, want [%s]", ep, got, ep)
		}
		gotSchemas := complete(t, cs, schemaRef, "schema", "p", nil)
		if user && !reflect.DeepEqual(gotSchemas, []string{"public"}) {
			t.Errorf("%s (user mode): schema completions for p = %v, want [public]", ep, gotSchemas)
		}
		if !user && (!slices.Contains(gotSchemas, "private") || !slices.Contains(gotSchemas, "public") || slices.Contains(gotSchemas, "pg_toast")) {
			t.Errorf("%s (admin mode): schema completions for p = %v, want private and public, no pg_toast", ep, gotSchemas)
		}
		if got := complete(t, cs, tableRef, "table", "C", map[string]string{"schema": "public"}); !reflect.DeepEqual(got, []string{"customers"}) {
			t.Errorf("%s: table completions for C = %v, want [customers]", ep, got)
		}
		got := complete(t, cs, tableRef, "table", "", map[string]string{"schema": "private"})
		if user && len(got) != 0 {
			t.Errorf("%s (user mode): table completions in private = %v, want none", ep, got)
		}
		if !user && !reflect.DeepEqual(got, []string{"secrets"}) {
			t.Errorf("%s (admin mode): table completions in private = %v, want [secrets]", ep, got)
		}
	}

	// The main endpoint: configuration, endpoints, and the composed app5.
	cs := s.connect(t, "/mcp", tr, nil)
	want := []string{"pgherd://app5/database", "pgherd://main/config", "pgherd://main/endpoints", "ui://pgherd/app5/plan"}
	if got := resourceURIs(t, cs); !reflect.DeepEqual(got, want) {
		t.Errorf("/mcp resources = %v, want %v", got, want)
	}
	if got := templateURIs(t, cs); !reflect.DeepEqual(got, templates) {
		t.Errorf("/mcp templates = %v, want %v", got, templates)
	}
	res, err := cs.ReadResource(ctx15(t), &mcp.ReadResourceParams{URI: "pgherd://main/config"})
	if err != nil {
		t.Fatalf("reading the configuration: %v", err)
	}
	yaml := res.Contents[0].Text
	if res.Contents[0].MIMEType != "application/yaml" || !strings.Contains(yaml, "app3:") || !strings.Contains(yaml, "REDACTED") {
		t.Errorf("configuration resource (%s):\n%s", res.Contents[0].MIMEType, yaml)
	}
	for _, name := range []string{"app1", "app2", "app3", "app4", "app5"} {
		if pw := passwordOf(s.Config.Endpoints[name].DatabaseURI.Reveal()); pw == "" || strings.Contains(yaml, pw) {
			t.Errorf("configuration resource leaks the password of %s", name)
		}
	}
	eps := readJSON(t, cs, "pgherd://main/endpoints")
	if servers, _ := eps["servers"].([]any); len(servers) != 6 {
		t.Errorf("endpoints resource lists %d servers, want 6: %v", len(servers), eps)
	}
	if got := sortedObjectNames(readJSON(t, cs, "pgherd://app5/schema/public")); len(got) != 3 {
		t.Errorf("app5 (composed) schema public objects = %v", got)
	}
	readNotFound(t, cs, "pgherd://app5/schema/private")
	readNotFound(t, cs, "pgherd://app1/schema/public") // app1 is served on its own path
	if got := complete(t, cs, &mcp.CompleteReference{Type: "ref/resource", URI: templates[1]}, "endpoint", "", nil); !reflect.DeepEqual(got, []string{"app5"}) {
		t.Errorf("/mcp endpoint completions = %v, want [app5]", got)
	}
}

// TestResourcesFollowScopes: a key without the admin scope does not see
// the configuration; a key limited to one tool sees no resources at all;
// both get not found when they read one anyway.
func TestResourcesFollowScopes(t *testing.T) {
	s, _ := startAuth(t, config.Stateless)

	alice := s.connect(t, "/mcp", streamable, bearerHeader(aliceKey))
	if got, want := resourceURIs(t, alice), []string{"pgherd://main/config", "pgherd://main/endpoints"}; !reflect.DeepEqual(got, want) {
		t.Errorf("alice's /mcp resources = %v, want %v", got, want)
	}
	reader := s.connect(t, "/mcp", streamable, bearerHeader(readerKey))
	if got, want := resourceURIs(t, reader), []string{"pgherd://main/endpoints"}; !reflect.DeepEqual(got, want) {
		t.Errorf("reader's /mcp resources = %v, want %v (no admin scope)", got, want)
	}
	readNotFound(t, reader, "pgherd://main/config")

	lister := s.connect(t, "/app1/mcp", streamable, bearerHeader(listerKey))
	if got := resourceURIs(t, lister); len(got) != 0 {
		t.Errorf("lister's /app1/mcp resources = %v, want none (key limited to list_objects)", got)
	}
	if got := templateURIs(t, lister); len(got) != 0 {
		t.Errorf("lister's /app1/mcp templates = %v, want none", got)
	}
	readNotFound(t, lister, "pgherd://app1/schema/public")
	if got := complete(t, lister, &mcp.CompleteReference{Type: "ref/resource", URI: "pgherd://{endpoint}/schema/{schema}"}, "endpoint", "", nil); len(got) != 0 {
		t.Errorf("lister's endpoint completions = %v, want none", got)
	}
}
