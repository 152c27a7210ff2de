package auth

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pgherd/pgherd/internal/config"
)

const (
	aliceKey = "alice-key-0123456789abcdef"
	bobKey   = "bob-key-0123456789abcdefgh"
	carolKey = "carol-key-0123456789abcdef"
)

// keyConfig has alice (acme, app1+app2, read), bob (globex, app2 only) and
// carol (a plain key from the environment, all endpoints).
func keyConfig() *config.Auth {
	return &config.Auth{Mode: config.AuthAPIKey, APIKeys: []*config.APIKey{
		{Name: "alice", KeyHash: config.HashKey(aliceKey), Tenant: "acme", Endpoints: []string{"app1", "app2"}, Scopes: []string{"read"}},
		{Name: "bob", KeyHash: config.HashKey(bobKey), Tenant: "globex", Endpoints: []string{"app2"}},
		{Name: "carol", Key: config.Secret(carolKey), Tenant: "initech"},
	}}
}

func mustNew(t *testing.T, cfg *config.Auth, opts Options) Authenticator {
	t.Helper()
	a, err := New(cfg, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

func TestAPIKeyPolicy(t *testing.T) {
	a := mustNew(t, keyConfig(), Options{})
	required := serve(t, &Policy{Endpoint: "app1", Authenticator: a, Required: true, ResourceMetadataURL: metadataURL})
	optional := serve(t, &Policy{Endpoint: "app1", Authenticator: a, Required: false, ResourceMetadataURL: metadataURL,
		Anonymous: FromIdentity(&config.Identity{Tenant: "public", User: "guest", Scopes: []string{"read"}}, MethodAnonymous)})
	noAnon := serve(t, &Policy{Endpoint: "app1", Authenticator: a, Required: false, ResourceMetadataURL: metadataURL})

	const schemeAdvice = "; send Authorization: Bearer <API key>"
	tests := []struct {
		name   string
		srv    string
		authz  []string
		status int
		chal   []string
		id     string // principal ID on success
	}{
		{"missing", required.URL, nil, 401, challenge("", ""), ""},
		{"bearer", required.URL, []string{"Bearer " + aliceKey}, 200, nil, "acme/alice"},
		{"bearer lower case", required.URL, []string{"bearer " + aliceKey}, 200, nil, "acme/alice"},
		{"bare key", required.URL, []string{aliceKey}, 200, nil, "acme/alice"},
		{"plain key from env", required.URL, []string{"Bearer " + carolKey}, 200, nil, "initech/carol"},
		{"unknown key", required.URL, []string{"Bearer " + strings.Repeat("x", 26)}, 401,
			challenge(CodeInvalidToken, "unknown API key; check the key, or ask the operator whether it was revoked"), ""},
		{"bare unknown key", required.URL, []string{"nope-nope-nope-nope"}, 401,
			challenge(CodeInvalidToken, "unknown API key; check the key, or ask the operator whether it was revoked"), ""},
		{"empty bearer", required.URL, []string{"Bearer "}, 401,
			challenge(CodeInvalidToken, "the Bearer credential is empty"+schemeAdvice), ""},
		{"malformed: spaces", required.URL, []string{"Bearer " + aliceKey + " extra"}, 401,
			challenge(CodeInvalidToken, "the Bearer credential contains spaces"+schemeAdvice), ""},
		{"wrong scheme", required.URL, []string{"Basic YWxpY2U6c2VjcmV0"}, 401,
			challenge(CodeInvalidToken, `unsupported Authorization scheme 'Basic'`+schemeAdvice), ""},
		{"key not allowed on endpoint", required.URL, []string{"Bearer " + bobKey}, 403,
			challenge(CodeInsufficientScope, `API key 'bob' may not use endpoint 'app1'; it may use: app2`), ""},
		{"oversized header", required.URL, []string{"Bearer " + strings.Repeat("a", MaxHeaderBytes)}, 401,
			challenge(CodeInvalidToken, "the Authorization header is larger than 8192 bytes"), ""},
		{"two headers", required.URL, []string{"Bearer " + aliceKey, "Bearer " + carolKey}, 401,
			challenge(CodeInvalidToken, "send one Authorization header, not several"), ""},
		{"not required: missing runs as anonymous", optional.URL, nil, 200, nil, "public/guest"},
		{"not required: invalid is still 401", optional.URL, []string{"Bearer wrong-wrong-wrong-wrong"}, 401,
			challenge(CodeInvalidToken, "unknown API key; check the key, or ask the operator whether it was revoked"), ""},
		{"not required: valid key wins", optional.URL, []string{aliceKey}, 200, nil, "acme/alice"},
		{"not required, no anonymous: missing is 401", noAnon.URL, nil, 401, challenge("", ""), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := get(t, tt.srv, tt.authz...)
			if res.status != tt.status {
				t.Fatalf("status = %d, want %d (body %s)", res.status, tt.status, res.body)
			}
			if !equal(res.challenges, tt.chal) {
				t.Errorf("WWW-Authenticate = %q\nwant               %q", res.challenges, tt.chal)
			}
			if tt.status != 200 {
				if strings.Contains(res.body, aliceKey) || strings.Contains(res.body, carolKey) {
					t.Errorf("body echoes the credential: %s", res.body)
				}
				var body struct{ Error, ErrorDescription string }
				if err := json.Unmarshal([]byte(res.body), &body); err != nil || body.Error == "" {
					t.Errorf("body %q is not {\"error\":…}", res.body)
				}
				return
			}
			if res.seen.ID != tt.id || res.seen.SDKUserID != tt.id || !res.seen.SDKSame {
				t.Errorf("principal %q, go-sdk UserID %q (same principal: %v), want %q", res.seen.ID, res.seen.SDKUserID, res.seen.SDKSame, tt.id)
			}
			if res.seen.Authz != handoffHeader {
				t.Errorf("downstream Authorization = %q, want the placeholder", res.seen.Authz)
			}
		})
	}
}

func TestAPIKeyPrincipal(t *testing.T) {
	a := mustNew(t, keyConfig(), Options{})
	r := httptest.NewRequest(http.MethodPost, "/app1/mcp", nil)
	r.Header.Set("Authorization", "Bearer "+aliceKey)
	p, err := a.Authenticate(r.Context(), r, "app1")
	if err != nil {
		t.Fatal(err)
	}
	want := Principal{Tenant: "acme", User: "alice", Method: MethodAPIKey, KeyName: "alice",
		Scopes: []string{"read"}, Endpoints: []string{"app1", "app2"}}
	if p.Tenant != want.Tenant || p.User != want.User || p.Method != want.Method || p.KeyName != want.KeyName ||
		!equal(p.Scopes, want.Scopes) || !equal(p.Endpoints, want.Endpoints) || p.Tools != nil || !p.Expires.IsZero() {
		t.Errorf("Authenticate = %+v, want %+v", *p, want)
	}
	p.Tenant = "mutated"
	q, _ := a.Authenticate(r.Context(), r, "app1")
	if q.Tenant != "acme" {
		t.Errorf("a caller's edit leaked into the next Principal: tenant %q", q.Tenant)
	}
}

// TestAPIKeyRevokedOnReload rebuilds the Authenticator from a config
// without bob, as a reload does, and checks bob is refused at once while
// alice is not.
func TestAPIKeyRevokedOnReload(t *testing.T) {
	var h atomic.Pointer[http.Handler]
	install := func(cfg *config.Auth) {
		pol := &Policy{Endpoint: "app2", Authenticator: mustNew(t, cfg, Options{}), Required: true, ResourceMetadataURL: metadataURL}
		mw := pol.Middleware(echo)
		h.Store(&mw)
	}
	install(keyConfig())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*h.Load()).ServeHTTP(w, r) }))
	defer srv.Close()

	if res := get(t, srv.URL, "Bearer "+bobKey); res.status != 200 || res.seen.ID != "globex/bob" {
		t.Fatalf("before reload: bob got %d %q", res.status, res.seen.ID)
	}
	cfg := keyConfig()
	cfg.APIKeys = cfg.APIKeys[:1] // bob and carol removed
	install(cfg)
	res := get(t, srv.URL, "Bearer "+bobKey)
	if res.status != 401 || !equal(res.challenges, challenge(CodeInvalidToken, "unknown API key; check the key, or ask the operator whether it was revoked")) {
		t.Errorf("after reload: bob got %d %q, want 401 invalid_token", res.status, res.challenges)
	}
	if res := get(t, srv.URL, "Bearer "+aliceKey); res.status != 200 || res.seen.ID != "acme/alice" {
		t.Errorf("after reload: alice got %d %q", res.status, res.seen.ID)
	}
}

func TestModeNone(t *testing.T) {
	a, err := New(&config.Auth{Mode: config.AuthNone}, Options{})
	if err != nil || a != nil {
		t.Fatalf("New(none) = %v, %v; want nil, nil", a, err)
	}
	local := serve(t, &Policy{Endpoint: "app1", Required: true})
	anon := serve(t, &Policy{Endpoint: "app1", Anonymous: FromIdentity(&config.Identity{Tenant: "t", User: "u"}, MethodAnonymous)})
	for _, tt := range []struct {
		srv, authz, id string
	}{
		{local.URL, "", "local/local"},
		{local.URL, "Bearer anything", "local/local"}, // mode none ignores credentials
		{anon.URL, "", "t/u"},
	} {
		var res response
		if tt.authz == "" {
			res = get(t, tt.srv)
		} else {
			res = get(t, tt.srv, tt.authz)
		}
		if res.status != 200 || res.seen.ID != tt.id || res.seen.SDKUserID != tt.id {
			t.Errorf("mode none with %q: %d %q (go-sdk %q), want 200 %q", tt.authz, res.status, res.seen.ID, res.seen.SDKUserID, tt.id)
		}
	}
}

func TestAPIKeyConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		keys []*config.APIKey
		want string
	}{
		{"no keys", nil, "api_keys: mode api_key needs at least one key"},
		{"bad hash", []*config.APIKey{{Name: "a", KeyHash: "md5:abc", Tenant: "t"}}, "api_keys[0].key_hash: want sha256: followed by 64 hex digits"},
		{"short hash", []*config.APIKey{{Name: "a", KeyHash: "sha256:abcd", Tenant: "t"}}, "api_keys[0].key_hash: want sha256:"},
		{"no key", []*config.APIKey{{Name: "a", Tenant: "t"}}, "api_keys[0]: set key_hash"},
		{"no tenant", []*config.APIKey{{Name: "a", KeyHash: config.HashKey(aliceKey)}}, "api_keys[0].tenant: required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(&config.Auth{Mode: config.AuthAPIKey, APIKeys: tt.keys}, Options{})
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("New = %v, want an error starting %q", err, tt.want)
			}
		})
	}
}

// BenchmarkAPIKeyLookup measures the lookup over 100 keys, matching the
// first, the last and none: the times should agree (no early exit).
func BenchmarkAPIKeyLookup(b *testing.B) {
	var keys []*config.APIKey
	for i := range 100 {
		keys = append(keys, &config.APIKey{Name: "k", KeyHash: config.HashKey(strings.Repeat(string(rune('a'+i%26)), 20) + string(rune('0'+i/26))), Tenant: "t"})
	}
	a, err := newAPIKeys(keys, Options{Now: time.Now})
	if err != nil {
		b.Fatal(err)
	}
	first := strings.Repeat("a", 20) + "0"
	last := strings.Repeat(string(rune('a'+99%26)), 20) + string(rune('0'+99/26))
	if a.lookup(first) != 0 || a.lookup(last) != 99 || a.lookup("missing-missing") != -1 {
		b.Fatal("lookup does not find the keys")
	}
	for _, c := range []struct{ name, key string }{{"first", first}, {"last", last}, {"none", "missing-missing-key"}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				a.lookup(c.key)
			}
		})
	}
}
