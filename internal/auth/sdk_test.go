package auth

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// whoami is what the test tool returns: the caller as the handler sees it
// through req.Extra.TokenInfo.
type whoami struct {
	ID     string   `json:"id"`
	Tenant string   `json:"tenant"`
	User   string   `json:"user"`
	Method string   `json:"method"`
	Scopes []string `json:"scopes,omitempty"`
}

func newWhoamiServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "auth-test", Version: "0"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "whoami", Description: "the caller"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, whoami, error) {
			p := FromTokenInfo(req.Extra.TokenInfo)
			if p == nil {
				return nil, whoami{}, errNoPrincipal
			}
			return nil, whoami{ID: p.ID(), Tenant: p.Tenant, User: p.User, Method: p.Method, Scopes: p.Scopes}, nil
		})
	return s
}

var errNoPrincipal = &Error{Kind: ErrUnauthenticated, Description: "no principal in req.Extra.TokenInfo"}

// keyTransport adds an Authorization header to every request.
type keyTransport struct{ authz string }

func (k keyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", k.authz)
	return http.DefaultTransport.RoundTrip(r)
}

func connect(t *testing.T, url, key string) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "client", Version: "0"}, nil)
	cs, err := c.Connect(t.Context(), &mcp.StreamableClientTransport{
		Endpoint:             url,
		HTTPClient:           &http.Client{Transport: keyTransport{"Bearer " + key}},
		DisableStandaloneSSE: true,
		MaxRetries:           -1,
	}, nil)
	if err != nil {
		t.Fatalf("connect with %q…: %v", key[:5], err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func callWhoami(t *testing.T, cs *mcp.ClientSession) whoami {
	t.Helper()
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "whoami"})
	if err != nil {
		t.Fatal(err)
	}
	if res.IsError {
		t.Fatalf("whoami: tool error %v", res.Content)
	}
	b, _ := json.Marshal(res.StructuredContent)
	var w whoami
	if err := json.Unmarshal(b, &w); err != nil {
		t.Fatal(err)
	}
	return w
}

// TestGoSDK serves a real mcp.Server behind the middleware, stateful and
// stateless: each user's tool call sees its own identity, and in stateful
// mode a session cannot be used by another user.
func TestGoSDK(t *testing.T) {
	a := mustNew(t, keyConfig(), Options{})
	server := newWhoamiServer()
	for _, stateless := range []bool{false, true} {
		name := "stateful"
		if stateless {
			name = "stateless"
		}
		t.Run(name, func(t *testing.T) {
			h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server },
				&mcp.StreamableHTTPOptions{Stateless: stateless})
			pol := &Policy{Endpoint: "app2", Authenticator: a, Required: true, ResourceMetadataURL: metadataURL}
			srv := httptest.NewServer(pol.Middleware(h))
			defer srv.Close()

			alice, bob := connect(t, srv.URL, aliceKey), connect(t, srv.URL, bobKey)
			for range 3 { // interleaved calls on both sessions
				if w := callWhoami(t, alice); w.ID != "acme/alice" || w.Method != MethodAPIKey || !equal(w.Scopes, []string{"read"}) {
					t.Errorf("alice's call saw %+v", w)
				}
				if w := callWhoami(t, bob); w.ID != "globex/bob" || w.Tenant != "globex" {
					t.Errorf("bob's call saw %+v", w)
				}
			}
			if stateless {
				return
			}
			if alice.ID() == "" {
				t.Fatal("stateful session has no id")
			}
			post := func(key, session string) int {
				body := `{"jsonrpc":"2.0","id":99,"method":"tools/call","params":{"name":"whoami","arguments":{}}}`
				req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+key)
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", "application/json, text/event-stream")
				req.Header.Set("Mcp-Session-Id", session)
				req.Header.Set("Mcp-Protocol-Version", alice.InitializeResult().ProtocolVersion)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				return res.StatusCode
			}
			if got := post(bobKey, alice.ID()); got != http.StatusForbidden {
				t.Errorf("bob reusing alice's session: status %d, want 403", got)
			}
			if got := post(aliceKey, "no-such-session"); got != http.StatusNotFound {
				t.Errorf("unknown session id: status %d, want 404", got)
			}
			if got := post(aliceKey, alice.ID()); got != http.StatusOK {
				t.Errorf("alice on her own session: status %d, want 200", got)
			}
		})
	}
}

// TestGoSDKConcurrentIdentities runs many clients of different users at
// once (run with -race): every call must see its own caller, never another.
func TestGoSDKConcurrentIdentities(t *testing.T) {
	a := mustNew(t, keyConfig(), Options{})
	server := newWhoamiServer()
	for _, stateless := range []bool{false, true} {
		h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server },
			&mcp.StreamableHTTPOptions{Stateless: stateless})
		srv := httptest.NewServer((&Policy{Endpoint: "app2", Authenticator: a, Required: true}).Middleware(h))
		users := []struct{ key, id string }{{aliceKey, "acme/alice"}, {bobKey, "globex/bob"}, {carolKey, "initech/carol"}}
		var wg sync.WaitGroup
		var wrong, failed atomic.Int64
		for i := range 24 {
			u := users[i%len(users)]
			cs := connect(t, srv.URL, u.key)
			wg.Go(func() {
				for range 20 {
					res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "whoami"})
					if err != nil || res.IsError {
						failed.Add(1)
						continue
					}
					b, _ := json.Marshal(res.StructuredContent)
					var w whoami
					if json.Unmarshal(b, &w) != nil || w.ID != u.id {
						wrong.Add(1)
					}
				}
			})
		}
		wg.Wait()
		srv.Close()
		if wrong.Load() != 0 || failed.Load() != 0 {
			t.Errorf("stateless=%v: %d calls saw another identity, %d failed", stateless, wrong.Load(), failed.Load())
		}
	}
}
