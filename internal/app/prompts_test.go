//lint:file-ignore SA1019 MCP logging is deprecated from protocol 2026-07-28 (SEP-2577) but still part of it and of every older revision pgherd serves

package app_test

import (
	"errors"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/config"
)

func promptNames(t *testing.T, cs *mcp.ClientSession) []string {
	t.Helper()
	var names []string
	for p, err := range cs.Prompts(ctx15(t), nil) {
		if err != nil {
			t.Fatalf("listing prompts: %v", err)
		}
		names = append(names, p.Name)
	}
	slices.Sort(names)
	return names
}

func getPrompt(t *testing.T, cs *mcp.ClientSession, name string, args map[string]string) (string, error) {
	t.Helper()
	res, err := cs.GetPrompt(ctx15(t), &mcp.GetPromptParams{Name: name, Arguments: args})
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, m := range res.Messages {
		if tc, ok := m.Content.(*mcp.TextContent); ok && m.Role == "user" {
			b.WriteString(tc.Text)
		}
	}
	if b.Len() == 0 {
		t.Fatalf("prompt %s rendered no user text: %+v", name, res)
	}
	return b.String(), nil
}

// toolMention finds names of pgherd tools in prompt text, with or without a
// prefix.
var toolMention = regexp.MustCompile(`\b(\w*?)(list_objects|get_object_details|list_schemas|execute_sql|explain_query)\b`)

// TestPromptsRendered renders every prompt of every access mode: each names
// the endpoint's real (prefixed) tools only, completes its arguments, and
// refuses missing arguments and, in user modes, other schemas.
func TestPromptsRendered(t *testing.T) {
	s := fourModes(t, "")
	base := []string{"explore_schema", "optimize_query", "write_safe_query"}
	want := map[string][]string{
		"app1": base, "app2": base,
		"app3": append(slices.Clone(base), "diagnose_health"),
		"app4": append(slices.Clone(base), "diagnose_health", "review_migration"),
		"app5": base,
	}
	args := map[string]map[string]string{
		"explore_schema":   {"schema": "public"},
		"write_safe_query": {"question": "Which customers spent the most last month?"},
		"optimize_query":   {"sql": "SELECT * FROM orders WHERE total > 100 ORDER BY total"},
		"diagnose_health":  {"focus": "slow queries"},
		"review_migration": {"migration": "ALTER TABLE orders ADD COLUMN note text; CREATE INDEX ON orders (customer_id);"},
	}
	for _, tr := range []transport{streamable, legacySSE} {
		for ep, names := range want {
			t.Run(string(tr)+"/"+ep, func(t *testing.T) {
				path := "/" + ep + "/mcp"
				if ep == "app5" {
					path = "/mcp"
				}
				cs := s.connect(t, path, tr, nil)
				if cs.InitializeResult().Capabilities.Prompts == nil {
					t.Errorf("%s declares no prompts capability", path)
				}
				var wantNames []string
				for _, n := range names {
					wantNames = append(wantNames, ep+"_"+n)
				}
				slices.Sort(wantNames)
				if got := promptNames(t, cs); !reflect.DeepEqual(got, wantNames) {
					t.Fatalf("prompts of %s = %v, want %v", path, got, wantNames)
				}
				for _, n := range names {
					text, err := getPrompt(t, cs, ep+"_"+n, args[n])
					if err != nil {
						t.Errorf("%s_%s: %v", ep, n, err)
						continue
					}
					mentions := toolMention.FindAllStringSubmatch(text, -1)
					if len(mentions) == 0 {
						t.Errorf("%s_%s names no tool:\n%s", ep, n, text)
					}
					for _, m := range mentions {
						if m[1] != ep+"_" {
							t.Errorf("%s_%s names tool %q, want the prefix %s_:\n%s", ep, n, m[0], ep, text)
						}
					}
					admin := ep == "app3" || ep == "app4"
					if mentions := strings.Contains(text, "list_schemas"); mentions && !admin || n == "explore_schema" && mentions != admin {
						t.Errorf("%s_%s mentions list_schemas = %v, which the endpoint has = %v", ep, n, mentions, admin)
					}
					for _, v := range args[n] {
						if !strings.Contains(text, v) {
							t.Errorf("%s_%s does not include its argument %q", ep, n, v)
						}
					}
				}
				// Arguments complete like the templates' variables.
				ref := &mcp.CompleteReference{Type: "ref/prompt", Name: ep + "_explore_schema"}
				got := complete(t, cs, ref, "schema", "pr", nil)
				if user := ep != "app3" && ep != "app4"; user && len(got) != 0 || !user && !reflect.DeepEqual(got, []string{"private"}) {
					t.Errorf("%s: schema completions for pr = %v", ep, got)
				}
				if ep == "app3" {
					if got := complete(t, cs, &mcp.CompleteReference{Type: "ref/prompt", Name: "app3_diagnose_health"}, "focus", "sl", nil); !reflect.DeepEqual(got, []string{"slow queries"}) {
						t.Errorf("focus completions for sl = %v", got)
					}
				}
				// Missing required arguments and hidden schemas are refused.
				if _, err := getPrompt(t, cs, ep+"_write_safe_query", nil); !isInvalidParams(err) || !strings.Contains(err.Error(), "question") {
					t.Errorf("%s_write_safe_query without a question: %v, want invalid params naming question", ep, err)
				}
				_, err := getPrompt(t, cs, ep+"_explore_schema", map[string]string{"schema": "private"})
				if user := ep != "app3" && ep != "app4"; user && !isInvalidParams(err) || !user && err != nil {
					t.Errorf("%s_explore_schema of private: %v", ep, err)
				}
			})
		}
	}
}

func isInvalidParams(err error) bool {
	var je *jsonrpc.Error
	return errors.As(err, &je) && je.Code == jsonrpc.CodeInvalidParams
}

// TestCapabilitiesExact: the main endpoint of a server without composed
// databases has tools, resources and logging, but neither prompts nor
// completions, in initialize and in server/discover (2026-07-28).
func TestCapabilitiesExact(t *testing.T) {
	s, _ := startAuth(t, config.Stateless)
	for _, version := range []string{"2025-11-25", "2026-07-28"} {
		cs := s.connectVersion(t, "/mcp", streamable, bearerHeader(aliceKey), version)
		caps := cs.InitializeResult().Capabilities
		want := &mcp.ServerCapabilities{Tools: &mcp.ToolCapabilities{}, Resources: &mcp.ResourceCapabilities{}, Logging: &mcp.LoggingCapabilities{}}
		if !reflect.DeepEqual(caps, want) {
			t.Errorf("%s: /mcp capabilities = %+v, want %+v", version, caps, want)
		}
		caps = s.connectVersion(t, "/app1/mcp", streamable, bearerHeader(aliceKey), version).InitializeResult().Capabilities
		want = &mcp.ServerCapabilities{Tools: &mcp.ToolCapabilities{}, Resources: &mcp.ResourceCapabilities{}, Prompts: &mcp.PromptCapabilities{},
			Completions: &mcp.CompletionCapabilities{}, Logging: &mcp.LoggingCapabilities{}}
		if !reflect.DeepEqual(caps, want) {
			t.Errorf("%s: /app1/mcp capabilities = %+v, want %+v", version, caps, want)
		}
	}
}

func bearerHeader(key string) http.Header { return http.Header{"Authorization": {"Bearer " + key}} }
