package app_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/config"
	"github.com/pgherd/pgherd/internal/pgtest"
	"github.com/pgherd/pgherd/internal/testenv"
)

// API keys of the auth tests (plain keys come from the environment).
const (
	aliceKey   = "alice-key-0123456789abcdef"   // tenant acme, everything
	bobKey     = "bob-key-0123456789abcdef0"    // tenant acme, everything
	carolKey   = "carol-key-0123456789abcdef"   // tenant globex, everything
	readerKey  = "reader-key-0123456789abcdef"  // tenant acme, scopes [read]
	app1Key    = "app1only-key-0123456789abcd"  // tenant globex, endpoints [app1]
	listerKey  = "lister-key-0123456789abcdef"  // tenant acme, tools [list_objects]
	unknownKey = "unknown-key-0123456789abcdef" // configured nowhere
)

// authYAML serves one database on app1 (user_ro) and app2 (user_rw) with the
// server-wide API keys, and on jwt1 and jwt2 (user_ro) with JWTs from
// issuer. keys replaces the api_keys list when not empty (reload tests).
func authYAML(mode config.SessionMode, issuer *testIssuer, keys string) string {
	if keys == "" {
		keys = `
    - {name: alice, key: "${ALICE}", tenant: acme}
    - {name: bob, key: "${BOB}", tenant: acme}
    - {name: carol, key: "${CAROL}", tenant: globex}
    - {name: reader, key: "${READER}", tenant: acme, scopes: [read]}
    - {name: app1only, key: "${APP1ONLY}", tenant: globex, endpoints: [app1]}
    - {name: lister, key: "${LISTER}", tenant: acme, tools: [list_objects]}`
	}
	jwtAuth := fmt.Sprintf(`
    auth:
      mode: jwt
      jwt: {issuer: %q, jwks_url: %q, algorithms: [RS256]}
      authorization_servers: [%q]`, issuer.iss, issuer.jwksURL, issuer.iss)
	return fmt.Sprintf(`
server: {port: 0, session_mode: %s, shutdown_timeout: 5s}
auth:
  mode: api_key
  api_keys:%s
  authorization_servers: [https://keys.example.com]
endpoints:
  app1: {database_uri: "${DB}", access_mode: user_ro}
  app2: {database_uri: "${DB}", access_mode: user_rw}
  jwt1:
    database_uri: "${DB}"%s
  jwt2:
    database_uri: "${DB}"%s
`, mode, keys, jwtAuth, jwtAuth)
}

func authEnv(db *pgtest.Database) map[string]string {
	return map[string]string{
		"DB": db.URI, "ALICE": aliceKey, "BOB": bobKey, "CAROL": carolKey,
		"READER": readerKey, "APP1ONLY": app1Key, "LISTER": listerKey,
	}
}

// startAuth starts pgherd with authYAML on a fresh database holding the app
// test fixture.
func startAuth(t *testing.T, mode config.SessionMode) (*server, *testIssuer) {
	t.Helper()
	db := pgtest.NewDatabase(t)
	pgtest.Exec(t, db.URI, fixture)
	iss := newTestIssuer(t)
	return start(t, authYAML(mode, iss, ""), authEnv(db)), iss
}

// testIssuer is an identity provider: an RSA key published as a JWKS on a
// loopback HTTP server (config accepts http:// JWKS URLs on loopback hosts;
// the app offers no way to inject an HTTP client for an https test server).
type testIssuer struct {
	iss     string
	kid     string
	key     *rsa.PrivateKey
	jwksURL string
}

func newTestIssuer(t *testing.T) *testIssuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	i := &testIssuer{iss: "https://idp.test", kid: "key-1", key: key}
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": i.kid,
		"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes()),
	}}})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(jwks)
	}))
	t.Cleanup(ts.Close)
	i.jwksURL = ts.URL + "/jwks.json"
	return i
}

// claims returns valid claims for the endpoint URL aud.
func (i *testIssuer) claims(aud string) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"iss": i.iss, "aud": aud, "sub": "dana", "tenant": "acme",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
}

// sign signs claims with RS256 under the published kid.
func (i *testIssuer) sign(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = i.kid
	s, err := tok.SignedString(i.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// publicPEM is the PEM of the issuer's public key: what an attacker would
// use as an HMAC secret.
func (i *testIssuer) publicPEM(t *testing.T) []byte {
	der, err := x509.MarshalPKIXPublicKey(&i.key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// challenge is a parsed WWW-Authenticate value.
type challenge struct {
	scheme string
	params map[string]string
}

// parseChallenge parses `Scheme k="v", k2="v2"` (quoted values only, as
// pgherd writes them).
func parseChallenge(t *testing.T, h string) challenge {
	t.Helper()
	scheme, rest, _ := strings.Cut(h, " ")
	c := challenge{scheme: scheme, params: map[string]string{}}
	for rest = strings.TrimSpace(rest); rest != ""; rest = strings.TrimLeft(rest, ", ") {
		k, v, ok := strings.Cut(rest, "=")
		if !ok || !strings.HasPrefix(v, `"`) {
			t.Fatalf("WWW-Authenticate %q: cannot parse at %q", h, rest)
		}
		end := strings.Index(v[1:], `"`)
		if end < 0 {
			t.Fatalf("WWW-Authenticate %q: unterminated quoted value", h)
		}
		c.params[strings.TrimSpace(k)] = v[1 : end+1]
		rest = v[end+2:]
	}
	return c
}

func (c challenge) keys() []string {
	var ks []string
	for k := range c.params {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// initializeBody is a JSON-RPC initialize request.
const initializeBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`

// response is what rawRequest read.
type response struct {
	status int
	header http.Header
	body   string // empty for event streams, which are not read
}

// rawRequest sends one HTTP request to the server with the given
// Authorization values (nil: none) and extra headers. An event-stream
// response is closed unread once its headers arrive.
func (s *server) rawRequest(t *testing.T, method, path string, authz []string, extra http.Header, body string) response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.Base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
	} else {
		req.Header.Set("Accept", "text/event-stream")
	}
	for _, v := range authz {
		req.Header.Add("Authorization", v)
	}
	for k, v := range extra {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	r := response{status: resp.StatusCode, header: resp.Header}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") || method == http.MethodPost {
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("%s %s: reading body: %v", method, path, err)
		}
		r.body = string(b)
	}
	return r
}

// authRoute is one way into an endpoint; every one of them must refuse a
// bad credential identically.
type authRoute struct {
	name   string
	method string
	path   func(endpoint string) string
	body   string
	ok     int // status when the credential is accepted
}

var authRoutes = []authRoute{
	{"streamable", http.MethodPost, func(ep string) string { return "/" + ep + "/mcp" }, initializeBody, http.StatusOK},
	{"sse-stream", http.MethodGet, func(ep string) string { return "/" + ep + "/sse" }, "", http.StatusOK},
	// Authentication comes before the session lookup: an accepted credential
	// reaches it and gets 404 for the made-up session.
	{"sse-message", http.MethodPost, func(ep string) string { return "/" + ep + "/message?sessionid=NOSUCHSESSION" }, initializeBody, http.StatusNotFound},
}

// TestAuthRefusals sends every kind of credential problem to pgherd's real
// routes (Streamable HTTP and both legacy SSE routes) and checks the exact
// status, the WWW-Authenticate challenge (RFC 6750 / RFC 9728) and that the
// metadata URL it names serves the endpoint's protected-resource document.
func TestAuthRefusals(t *testing.T) {
	s, iss := startAuth(t, config.Stateless)
	url := func(ep string) string { return s.Base + "/" + ep + "/mcp" }
	valid := func(mut func(jwt.MapClaims)) []string {
		c := iss.claims(url("jwt1"))
		if mut != nil {
			mut(c)
		}
		return []string{"Bearer " + iss.sign(t, c)}
	}
	now := time.Now()

	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	unknownKid := jwt.NewWithClaims(jwt.SigningMethodRS256, iss.claims(url("jwt1")))
	unknownKid.Header["kid"] = "key-that-was-never-published"
	unknownKidTok, _ := unknownKid.SignedString(other)
	wrongKey := jwt.NewWithClaims(jwt.SigningMethodRS256, iss.claims(url("jwt1")))
	wrongKey.Header["kid"] = iss.kid // right kid, signed by someone else
	wrongKeyTok, _ := wrongKey.SignedString(other)
	none := jwt.NewWithClaims(jwt.SigningMethodNone, iss.claims(url("jwt1")))
	none.Header["kid"] = iss.kid
	noneTok, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, iss.claims(url("jwt1")))
	hs.Header["kid"] = iss.kid
	hsTok, _ := hs.SignedString(iss.publicPEM(t))
	good := valid(nil)[0]
	parts := strings.Split(strings.TrimPrefix(good, "Bearer "), ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tampered := strings.Join([]string{parts[0],
		base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), `"acme"`, `"globex"`, 1))), parts[2]}, ".")

	cases := []struct {
		name     string
		endpoint string
		authz    []string // Authorization values; nil sends none
		status   int      // 200 = accepted (each route's ok status)
		code     string   // RFC 6750 error code in the challenge; "" = none
		desc     string   // fragment of error_description
	}{
		// API keys (server-wide auth on app1, app2).
		{"key/missing", "app1", nil, 401, "", "needs an Authorization header"},
		{"key/empty value", "app1", []string{""}, 401, "invalid_token", "empty"},
		{"key/bearer without credential", "app1", []string{"Bearer"}, 401, "invalid_token", "Bearer credential is empty"},
		{"key/bearer with spaces", "app1", []string{"Bearer " + aliceKey + " extra"}, 401, "invalid_token", "contains spaces"},
		{"key/wrong scheme", "app1", []string{"Basic " + base64.StdEncoding.EncodeToString([]byte("alice:"+aliceKey))}, 401, "invalid_token", `unsupported Authorization scheme 'Basic'`},
		{"key/unknown", "app1", []string{"Bearer " + unknownKey}, 401, "invalid_token", "unknown API key"},
		{"key/unknown bare", "app1", []string{unknownKey}, 401, "invalid_token", "unknown API key"},
		{"key/bearer", "app1", []string{"Bearer " + aliceKey}, 200, "", ""},
		{"key/bearer lower case", "app1", []string{"bearer " + aliceKey}, 200, "", ""},
		{"key/bare form", "app1", []string{aliceKey}, 200, "", ""},
		{"key/allowed endpoint", "app1", []string{"Bearer " + app1Key}, 200, "", ""},
		{"key/endpoint not allowed", "app2", []string{"Bearer " + app1Key}, 403, "insufficient_scope", `may not use endpoint 'app2'`},
		{"key/endpoint not allowed bare", "app2", []string{app1Key}, 403, "insufficient_scope", `may not use endpoint 'app2'`},
		{"key/oversized header", "app1", []string{"Bearer " + strings.Repeat("k", 9<<10)}, 401, "invalid_token", "larger than 8192 bytes"},
		{"key/two headers", "app1", []string{"Bearer " + aliceKey, "Bearer " + aliceKey}, 401, "invalid_token", "one Authorization header"},
		{"key/a JWT", "app1", valid(nil), 401, "invalid_token", "unknown API key"},

		// JWTs (jwt1's own auth block; audience = its canonical URL).
		{"jwt/valid", "jwt1", valid(nil), 200, "", ""},
		{"jwt/missing", "jwt1", nil, 401, "", "needs an Authorization header"},
		{"jwt/malformed", "jwt1", []string{"Bearer not-a-jwt"}, 401, "invalid_token", "not a well-formed JWT"},
		{"jwt/an API key", "jwt1", []string{"Bearer " + aliceKey}, 401, "invalid_token", "not a well-formed JWT"},
		{"jwt/bare token", "jwt1", []string{strings.TrimPrefix(good, "Bearer ")}, 401, "invalid_token", "no scheme"},
		{"jwt/wrong scheme", "jwt1", []string{"Token " + strings.TrimPrefix(good, "Bearer ")}, 401, "invalid_token", "unsupported Authorization scheme"},
		{"jwt/expired", "jwt1", valid(func(c jwt.MapClaims) {
			c["iat"], c["exp"] = now.Add(-2*time.Hour).Unix(), now.Add(-time.Hour).Unix()
		}), 401, "invalid_token", "expired"},
		{"jwt/expired within leeway", "jwt1", valid(func(c jwt.MapClaims) { c["exp"] = now.Add(-10 * time.Second).Unix() }), 200, "", ""},
		{"jwt/no exp", "jwt1", valid(func(c jwt.MapClaims) { delete(c, "exp") }), 401, "invalid_token", "lacks a required claim"},
		{"jwt/not yet valid", "jwt1", valid(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Hour).Unix() }), 401, "invalid_token", "not valid yet"},
		{"jwt/issued in the future", "jwt1", valid(func(c jwt.MapClaims) { c["iat"] = now.Add(time.Hour).Unix() }), 401, "invalid_token", "issued in the future"},
		{"jwt/audience of another endpoint", "jwt1", valid(func(c jwt.MapClaims) { c["aud"] = url("jwt2") }), 401, "invalid_token", "audience does not include"},
		{"jwt/no audience", "jwt1", valid(func(c jwt.MapClaims) { delete(c, "aud") }), 401, "invalid_token", "lacks a required claim"},
		{"jwt/wrong issuer", "jwt1", valid(func(c jwt.MapClaims) { c["iss"] = "https://evil.test" }), 401, "invalid_token", `issuer is not 'https://idp.test'`},
		{"jwt/no tenant claim", "jwt1", valid(func(c jwt.MapClaims) { delete(c, "tenant") }), 401, "invalid_token", `no 'tenant' claim`},
		{"jwt/alg none", "jwt1", []string{"Bearer " + noneTok}, 401, "invalid_token", "signature does not verify"},
		{"jwt/HS256 signed with the RS public key", "jwt1", []string{"Bearer " + hsTok}, 401, "invalid_token", "signature does not verify"},
		{"jwt/signed by another key", "jwt1", []string{"Bearer " + wrongKeyTok}, 401, "invalid_token", "signature does not verify"},
		{"jwt/tampered payload", "jwt1", []string{"Bearer " + tampered}, 401, "invalid_token", "signature does not verify"},
		{"jwt/unknown kid", "jwt1", []string{"Bearer " + unknownKidTok}, 401, "invalid_token", "signing key is unknown"},
		{"jwt/oversized header", "jwt1", []string{"Bearer " + strings.Repeat("a", 9<<10)}, 401, "invalid_token", "larger than 8192 bytes"},
	}
	for _, tc := range cases {
		for _, rt := range authRoutes {
			t.Run(tc.name+"/"+rt.name, func(t *testing.T) {
				resp := s.rawRequest(t, rt.method, rt.path(tc.endpoint), tc.authz, nil, rt.body)
				want := tc.status
				if want == http.StatusOK {
					want = rt.ok
				}
				if resp.status != want {
					t.Fatalf("status = %d, want %d\nbody: %s", resp.status, want, resp.body)
				}
				if tc.status == http.StatusOK {
					if h := resp.header.Values("WWW-Authenticate"); len(h) != 0 {
						t.Errorf("accepted request carries WWW-Authenticate %q", h)
					}
					return
				}
				checkRefusal(t, s, resp, tc.endpoint, tc.code, tc.desc)
			})
		}
	}

	// The metadata every challenge points at.
	for ep, servers := range map[string][]string{
		"app1": {"https://keys.example.com"}, "app2": {"https://keys.example.com"},
		"jwt1": {iss.iss}, "jwt2": {iss.iss},
	} {
		t.Run("metadata/"+ep, func(t *testing.T) {
			checkMetadata(t, s, ep, servers)
		})
	}
}

// checkRefusal checks a 401/403 response: one Bearer challenge whose
// parameters are exactly resource_metadata (the endpoint's RFC 9728 URL),
// plus error and error_description when code is set; a JSON body with the
// same code and a description containing desc; no-store caching.
func checkRefusal(t *testing.T, s *server, resp response, endpoint, code, desc string) {
	t.Helper()
	hs := resp.header.Values("WWW-Authenticate")
	if len(hs) != 1 {
		t.Fatalf("WWW-Authenticate = %q, want exactly one Bearer challenge", hs)
	}
	c := parseChallenge(t, hs[0])
	wantKeys := []string{"resource_metadata"}
	if code != "" {
		wantKeys = []string{"error", "error_description", "resource_metadata"}
	}
	if c.scheme != "Bearer" || !reflect.DeepEqual(c.keys(), wantKeys) {
		t.Errorf("WWW-Authenticate = %q, want scheme Bearer with parameters %v", hs[0], wantKeys)
	}
	if want := s.Base + "/.well-known/oauth-protected-resource/" + endpoint + "/mcp"; c.params["resource_metadata"] != want {
		t.Errorf("resource_metadata = %q, want %q", c.params["resource_metadata"], want)
	}
	if c.params["error"] != code {
		t.Errorf("challenge error = %q, want %q", c.params["error"], code)
	}
	if code != "" && !strings.Contains(c.params["error_description"], desc) {
		t.Errorf("challenge error_description = %q, want it to contain %q", c.params["error_description"], desc)
	}
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal([]byte(resp.body), &body); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, resp.body)
	}
	wantCode := code
	if wantCode == "" {
		wantCode = "unauthorized"
	}
	if body.Error != wantCode || !strings.Contains(strings.ReplaceAll(body.Description, `"`, "'"), desc) {
		t.Errorf("body = %+v, want error %q and a description containing %q", body, wantCode, desc)
	}
	if cc := resp.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	for _, secret := range []string{aliceKey, app1Key, unknownKey} {
		if strings.Contains(resp.body, secret) || strings.Contains(hs[0], secret) {
			t.Errorf("refusal repeats the credential: %s / %s", hs[0], resp.body)
		}
	}
}

// checkMetadata fetches an endpoint's RFC 9728 document at the
// path-inserted well-known URL and checks resource and authorization
// servers.
func checkMetadata(t *testing.T, s *server, endpoint string, servers []string) {
	t.Helper()
	code, body := s.get(t, "/.well-known/oauth-protected-resource/"+endpoint+"/mcp", nil)
	if code != http.StatusOK {
		t.Fatalf("metadata of %s = %d %s", endpoint, code, body)
	}
	var md struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers"`
		BearerMethods        []string `json:"bearer_methods_supported"`
	}
	if err := json.Unmarshal([]byte(body), &md); err != nil {
		t.Fatalf("metadata is not JSON: %v\n%s", err, body)
	}
	if want := s.Base + "/" + endpoint + "/mcp"; md.Resource != want {
		t.Errorf("resource = %q, want the endpoint's canonical URL %q", md.Resource, want)
	}
	if !reflect.DeepEqual(md.AuthorizationServers, servers) {
		t.Errorf("authorization_servers = %q, want %q", md.AuthorizationServers, servers)
	}
	if !reflect.DeepEqual(md.BearerMethods, []string{"header"}) {
		t.Errorf("bearer_methods_supported = %q, want [header]", md.BearerMethods)
	}
}

// TestRevokedKeyAfterReload: after App.Reload drops a key, every route
// refuses it with the unknown-key challenge, including sessions it opened
// before (a stateful Streamable session and a legacy SSE stream); other
// keys and their sessions keep working.
func TestRevokedKeyAfterReload(t *testing.T) {
	db := pgtest.NewDatabase(t)
	pgtest.Exec(t, db.URI, fixture)
	iss := newTestIssuer(t)
	env := authEnv(db)
	s := start(t, authYAML(config.Stateful, iss, ""), env)
	alice := http.Header{"Authorization": {"Bearer " + aliceKey}}
	bob := http.Header{"Authorization": {"Bearer " + bobKey}}

	aliceHTTP := s.connect(t, "/app1/mcp", streamable, alice)
	callOK(t, aliceHTTP, "app1_execute_sql", map[string]any{"sql": "SELECT 1"})
	aliceSSE := s.openSSE(t, "/app1/sse", []string{"Bearer " + aliceKey})
	bobHTTP := s.connect(t, "/app1/mcp", streamable, bob)

	next, err := config.Parse([]byte(authYAML(config.Stateful, iss, `
    - {name: bob, key: "${BOB}", tenant: acme}`)), mapEnv(env))
	if err != nil {
		t.Fatal(err)
	}
	allowSuperuser(next, "")
	if err := s.App.Reload(next); err != nil {
		t.Fatalf("Reload: %v", err)
	}

	for _, rt := range authRoutes {
		t.Run("new request/"+rt.name, func(t *testing.T) {
			resp := s.rawRequest(t, rt.method, rt.path("app1"), []string{"Bearer " + aliceKey}, nil, rt.body)
			if resp.status != http.StatusUnauthorized {
				t.Fatalf("revoked key: status = %d, want 401\n%s", resp.status, resp.body)
			}
			checkRefusal(t, s, resp, "app1", "invalid_token", "unknown API key")
		})
	}
	t.Run("open streamable session", func(t *testing.T) {
		resp := s.rawRequest(t, http.MethodPost, "/app1/mcp", []string{"Bearer " + aliceKey},
			http.Header{"Mcp-Session-Id": {aliceHTTP.ID()}, "Mcp-Protocol-Version": {aliceHTTP.InitializeResult().ProtocolVersion}},
			`{"jsonrpc":"2.0","id":99,"method":"tools/list"}`)
		if resp.status != http.StatusUnauthorized {
			t.Fatalf("revoked key on its open session: status = %d, want 401\n%s", resp.status, resp.body)
		}
		checkRefusal(t, s, resp, "app1", "invalid_token", "unknown API key")
	})
	t.Run("open SSE session", func(t *testing.T) {
		resp := s.rawRequest(t, http.MethodPost, aliceSSE.messagePath, []string{"Bearer " + aliceKey}, nil,
			`{"jsonrpc":"2.0","id":99,"method":"tools/list"}`)
		if resp.status != http.StatusUnauthorized {
			t.Fatalf("revoked key on its open SSE session: status = %d, want 401\n%s", resp.status, resp.body)
		}
		checkRefusal(t, s, resp, "app1", "invalid_token", "unknown API key")
	})
	t.Run("other key keeps working", func(t *testing.T) {
		callOK(t, bobHTTP, "app1_execute_sql", map[string]any{"sql": "SELECT 1"})
		cs := s.connect(t, "/app1/mcp", legacySSE, bob)
		callOK(t, cs, "app1_execute_sql", map[string]any{"sql": "SELECT 1"})
	})
}

// sseStream is a legacy SSE stream opened by hand.
type sseStream struct {
	messagePath string // path and query of the session's message URL
}

// openSSE opens a legacy SSE stream and returns the message path announced
// in its endpoint event; the stream stays open until the test ends.
func (s *server) openSSE(t *testing.T, path string, authz []string) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.Base+path, nil)
	req.Header.Set("Accept", "text/event-stream")
	for _, v := range authz {
		req.Header.Add("Authorization", v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET %s: %v", path, err)
	}
	t.Cleanup(func() {
		cancel()
		resp.Body.Close()
	})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d, want 200", path, resp.StatusCode)
	}
	// The first event names the message endpoint; a deadline guards a
	// server that never sends it.
	timer := time.AfterFunc(10*time.Second, cancel)
	defer timer.Stop()
	sc := bufio.NewScanner(resp.Body)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:") && event == "endpoint":
			return &sseStream{messagePath: strings.TrimSpace(strings.TrimPrefix(line, "data:"))}
		}
	}
	t.Fatalf("GET %s: no endpoint event (%v)", path, sc.Err())
	return nil
}

// TestToolAuthorization: a key limited to scope read sees no execute_sql on
// a user_rw endpoint (tagged write) and gets 403 insufficient_scope when it
// calls it anyway; a key limited to one tool sees and calls only that one.
func TestToolAuthorization(t *testing.T) {
	s, _ := startAuth(t, config.Stateless)
	reader := http.Header{"Authorization": {"Bearer " + readerKey}}
	lister := http.Header{"Authorization": {"Bearer " + listerKey}}
	call := func(name string) string {
		return fmt.Sprintf(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":%q,"arguments":{"sql":"SELECT 1"}}}`, name)
	}

	for _, tr := range []transport{streamable, legacySSE} {
		t.Run(string(tr), func(t *testing.T) {
			cs := s.connect(t, "/app2/mcp", tr, reader)
			want := []string{"app2_explain_query", "app2_get_object_details", "app2_list_objects"}
			if got := toolNames(t, cs); !reflect.DeepEqual(got, want) {
				t.Errorf("tools of a read-scoped key on a user_rw endpoint = %v, want %v", got, want)
			}
			callOK(t, cs, "app2_list_objects", map[string]any{})
			ro := s.connect(t, "/app1/mcp", tr, reader)
			callOK(t, ro, "app1_execute_sql", map[string]any{"sql": "SELECT 1"}) // tagged read on user_ro

			one := s.connect(t, "/app1/mcp", tr, lister)
			if got := toolNames(t, one); !reflect.DeepEqual(got, []string{"app1_list_objects"}) {
				t.Errorf("tools of a key limited to list_objects = %v, want [app1_list_objects]", got)
			}
			callOK(t, one, "app1_list_objects", map[string]any{})
		})
	}

	// Over Streamable HTTP the refusal is HTTP 403 on the POST carrying the
	// call (MCP authorization: step-up), which the client sees as an error.
	cs := s.connect(t, "/app2/mcp", streamable, reader)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "app2_execute_sql", Arguments: map[string]any{"sql": "SELECT 1"}})
	if err == nil || !strings.Contains(err.Error(), "Forbidden") {
		t.Errorf("calling a tool outside the key's scopes: result %v, err %v; want a 403 Forbidden error", res, err)
	}

	// The exact refusal.
	for _, tc := range []struct {
		name, path, tool, scope string
		key                     string
		endpoint                string
	}{
		{"streamable/write tool", "/app2/mcp", "app2_execute_sql", "write", readerKey, "app2"},
		{"streamable/tool not listed for the key", "/app1/mcp", "app1_explain_query", "read", listerKey, "app1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := s.rawRequest(t, http.MethodPost, tc.path, []string{"Bearer " + tc.key}, nil, call(tc.tool))
			if resp.status != http.StatusForbidden {
				t.Fatalf("status = %d, want 403\n%s", resp.status, resp.body)
			}
			hs := resp.header.Values("WWW-Authenticate")
			if len(hs) != 1 {
				t.Fatalf("WWW-Authenticate = %q, want one challenge", hs)
			}
			c := parseChallenge(t, hs[0])
			want := map[string]string{
				"error":             "insufficient_scope",
				"scope":             tc.scope,
				"resource_metadata": s.Base + "/.well-known/oauth-protected-resource/" + tc.endpoint + "/mcp",
			}
			if c.scheme != "Bearer" || !reflect.DeepEqual(c.params, want) {
				t.Errorf("WWW-Authenticate = %q, want Bearer %v", hs[0], want)
			}
			if !strings.Contains(resp.body, `"insufficient_scope"`) || !strings.Contains(resp.body, tc.tool) {
				t.Errorf("body = %s, want insufficient_scope naming %s", resp.body, tc.tool)
			}
		})
	}

	// A key limited to endpoints [app1] cannot even open a session elsewhere.
	app1Only := http.Header{"Authorization": {"Bearer " + app1Key}}
	for _, tr := range []transport{streamable, legacySSE} {
		if _, err := s.tryConnect("/app2/mcp", tr, app1Only, ""); err == nil || !strings.Contains(err.Error(), "Forbidden") {
			t.Errorf("%s: key for [app1] on /app2/mcp: err = %v, want 403 Forbidden", tr, err)
		}
		cs := s.connect(t, "/app1/mcp", tr, app1Only)
		callOK(t, cs, "app1_execute_sql", map[string]any{"sql": "SELECT 1"})
	}
}

// TestSessionBinding: a stateful Streamable session and a legacy SSE
// session belong to the user who opened them. Another user (same tenant or
// another) presenting the session id gets 403; an unknown id gets 404.
func TestSessionBinding(t *testing.T) {
	s, _ := startAuth(t, config.Stateful)
	alice := s.connect(t, "/app1/mcp", streamable, http.Header{"Authorization": {"Bearer " + aliceKey}})
	sid := alice.ID()
	if sid == "" {
		t.Fatal("stateful server gave no Mcp-Session-Id")
	}
	version := alice.InitializeResult().ProtocolVersion
	sse := s.openSSE(t, "/app1/sse", []string{"Bearer " + aliceKey})
	list := `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`
	session := func(id string) http.Header {
		return http.Header{"Mcp-Session-Id": {id}, "Mcp-Protocol-Version": {version}}
	}
	cases := []struct {
		name   string
		key    string
		path   string
		header http.Header
		want   int
	}{
		{"streamable/owner", aliceKey, "/app1/mcp", session(sid), http.StatusOK},
		{"streamable/same tenant, other user", bobKey, "/app1/mcp", session(sid), http.StatusForbidden},
		{"streamable/other tenant", carolKey, "/app1/mcp", session(sid), http.StatusForbidden},
		{"streamable/unknown session", aliceKey, "/app1/mcp", session("NOSUCHSESSION"), http.StatusNotFound},
		{"streamable/unknown session, other user", bobKey, "/app1/mcp", session("NOSUCHSESSION"), http.StatusNotFound},
		{"sse/owner", aliceKey, sse.messagePath, nil, http.StatusAccepted},
		{"sse/same tenant, other user", bobKey, sse.messagePath, nil, http.StatusForbidden},
		{"sse/other tenant", carolKey, sse.messagePath, nil, http.StatusForbidden},
		{"sse/unknown session", aliceKey, "/app1/message?sessionid=NOSUCHSESSION", nil, http.StatusNotFound},
		{"sse/session of another endpoint", aliceKey, strings.Replace(sse.messagePath, "/app1/", "/app2/", 1), nil, http.StatusNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := s.rawRequest(t, http.MethodPost, tc.path, []string{"Bearer " + tc.key}, tc.header, list)
			if resp.status != tc.want {
				t.Errorf("status = %d, want %d\n%s", resp.status, tc.want, resp.body)
			}
		})
	}
	// The session still works for its owner after the attempts.
	callOK(t, alice, "app1_execute_sql", map[string]any{"sql": "SELECT 1"})
}

// TestToolAuthorizationOverSSE: on a legacy SSE session a call outside the
// key's scopes is refused as a tool error, and the session stays usable.
// The legacy transport (protocol 2024-11-05) has no step-up authorization,
// and an HTTP 403 on the message POST makes the client close the session.
func TestToolAuthorizationOverSSE(t *testing.T) {
	s, _ := startAuth(t, config.Stateless)
	cs := s.connect(t, "/app2/mcp", legacySSE, http.Header{"Authorization": {"Bearer " + readerKey}})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "app2_execute_sql", Arguments: map[string]any{"sql": "SELECT 1"}})
	switch {
	case err != nil:
		t.Errorf("calling a tool outside the key's scopes over SSE: err = %v; want a tool error (isError) naming the scope", err)
	case !res.IsError || !strings.Contains(text(res), "write"):
		t.Errorf("calling a tool outside the key's scopes over SSE: %v, want a tool error naming the scope write", text(res))
	}
	callOK(t, cs, "app2_list_objects", map[string]any{})
}

// createLoginRoles creates n login roles prefix_1 … prefix_n with passwords
// pw-prefix-1 … and drops them when the test ends. Call it before creating
// the database they log in to, so that the database is dropped first.
// The passwords are stored as SCRAM secrets of pgtest.ScramIterations
// rounds: every login derives the key again on the client, which with
// PostgreSQL's 4096 rounds cost most of this process's CPU per login under
// the race detector.
func createLoginRoles(t *testing.T, prefix string, n int) {
	t.Helper()
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "CREATE ROLE %s LOGIN PASSWORD '%s';\n",
			pgx.Identifier{fmt.Sprintf("%s_%d", prefix, i)}.Sanitize(), pgtest.Secret(fmt.Sprintf("pw-%s-%d", prefix, i)))
	}
	pgtest.Exec(t, pgtest.URI("postgres"), b.String())
	t.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, pgtest.URI("postgres"))
		if err != nil {
			t.Errorf("dropping roles %s_*: %v", prefix, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, fmt.Sprintf(`DO $$
BEGIN
  FOR i IN 1..%d LOOP
    EXECUTE format('DROP ROLE IF EXISTS %%I', '%s_' || i);
  END LOOP;
END $$`, n, prefix)); err != nil {
			t.Errorf("dropping roles %s_*: %v", prefix, err)
		}
	})
}

func basicAuth(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// TestDatabaseLogin: auth mode database_login through the real HTTP route.
// The right password of a real role works and the calls run as that role;
// a wrong one is 401 (with the Bearer and Basic challenges) and opens no
// pool; 200 distinct credentials (ten times max_pools; 1,000 in the long
// form, PGHERD_LONG=1) never keep more than max_pools pools open.
//
// The app exposes no pool count, so pools are counted in PostgreSQL:
// every cached pool keeps its first connection, named pgherd/<endpoint>,
// so the distinct users among those connections are the open pools.
func TestDatabaseLogin(t *testing.T) {
	const maxPools = 20
	credentials := 200
	if testenv.Long() {
		credentials = 1000
	}
	run := strings.ToLower(rand.Text()[:8])
	alice := "dl_" + run + "_alice"
	alicePW := pgtest.CreateRole(t, alice, "")
	prefix := "dl_" + run
	createLoginRoles(t, prefix, credentials)
	db := pgtest.NewDatabase(t)
	u, err := neturl.Parse(pgtest.URI(db.Name))
	if err != nil {
		t.Fatal(err)
	}
	u.User = nil // each request brings its own
	s := start(t, fmt.Sprintf(`
server: {port: 0}
endpoints:
  login:
    database_uri: %q
    auth:
      mode: database_login
      database_login: {max_pools: %d}
`, u.String(), maxPools), nil)
	pools := func() int64 {
		return pgtest.QueryValue[int64](t, pgtest.URI("postgres"),
			"SELECT count(DISTINCT usename) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'pgherd/login'", db.Name)
	}
	if n := pools(); n != 0 {
		t.Fatalf("%d pools before any login, want 0", n)
	}

	t.Run("right password", func(t *testing.T) {
		for _, tr := range []transport{streamable, legacySSE} {
			cs := s.connect(t, "/login/mcp", tr, http.Header{"Authorization": {basicAuth(alice, alicePW)}})
			res := callOK(t, cs, "login_execute_sql", map[string]any{"sql": "SELECT current_user, session_user"})
			if rows := fmt.Sprint(res["rows"]); rows != fmt.Sprintf("[[%s %s]]", alice, alice) {
				t.Errorf("%s: current_user, session_user = %s, want %s twice", tr, rows, alice)
			}
		}
		if n := pools(); n != 1 {
			t.Errorf("%d pools after logins of one credential, want 1", n)
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		for _, tc := range []struct{ name, user, password string }{
			{"wrong password", alice, "not-" + alicePW},
			{"same wrong password again", alice, "not-" + alicePW}, // answered from the failure cache
			{"unknown role", "dl_" + run + "_nobody", "whatever"},
		} {
			resp := s.rawRequest(t, http.MethodPost, "/login/mcp", []string{basicAuth(tc.user, tc.password)}, nil, initializeBody)
			if resp.status != http.StatusUnauthorized {
				t.Fatalf("%s: status = %d, want 401\n%s", tc.name, resp.status, resp.body)
			}
			hs := resp.header.Values("WWW-Authenticate")
			if len(hs) != 2 {
				t.Fatalf("%s: WWW-Authenticate = %q, want a Bearer and a Basic challenge", tc.name, hs)
			}
			bearer, basic := parseChallenge(t, hs[0]), parseChallenge(t, hs[1])
			if bearer.scheme != "Bearer" || bearer.params["error"] != "invalid_token" ||
				bearer.params["resource_metadata"] != s.Base+"/.well-known/oauth-protected-resource/login/mcp" ||
				!strings.Contains(bearer.params["error_description"], "PostgreSQL rejected") {
				t.Errorf("%s: Bearer challenge = %q", tc.name, hs[0])
			}
			if want := map[string]string{"realm": "pgherd login", "charset": "UTF-8"}; basic.scheme != "Basic" || !reflect.DeepEqual(basic.params, want) {
				t.Errorf("%s: Basic challenge = %q, want realm and charset", tc.name, hs[1])
			}
			if strings.Contains(resp.body, tc.password) {
				t.Errorf("%s: the refusal repeats the password: %s", tc.name, resp.body)
			}
		}
		if n := pools(); n != 1 {
			t.Errorf("%d pools after refused logins, want still 1", n)
		}
		checkMetadata(t, s, "login", nil)
	})

	t.Run(fmt.Sprintf("%d credentials", credentials), func(t *testing.T) {
		began := time.Now()
		var most int64
		next := make(chan int)
		errs := make(chan error, credentials)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for i := range next {
					user, pw := fmt.Sprintf("%s_%d", prefix, i), fmt.Sprintf("pw-%s-%d", prefix, i)
					resp := s.rawRequest(t, http.MethodPost, "/login/mcp", []string{basicAuth(user, pw)}, nil, initializeBody)
					if resp.status != http.StatusOK {
						errs <- fmt.Errorf("login as %s: status %d: %s", user, resp.status, resp.body)
					}
				}
			})
		}
		for i := 1; i <= credentials; i++ {
			next <- i
			if i%100 == 0 {
				most = max(most, pools())
				// Evicted pools close in the background: allow them to
				// finish, but a leak never gets back under the cap.
				waitFor(t, fmt.Sprintf("at most %d pools after %d logins", maxPools, i), func() bool { return pools() <= maxPools })
			}
		}
		close(next)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		elapsed := time.Since(began)
		waitFor(t, fmt.Sprintf("exactly %d pools once the last logins are cached", maxPools), func() bool { return pools() == maxPools })
		t.Logf("%d distinct credentials logged in through HTTP in %v (%.0f/s); at most %d pools seen while logging in (max_pools %d)",
			credentials, elapsed.Round(time.Millisecond), float64(credentials)/elapsed.Seconds(), most, maxPools)

		// An evicted credential logs in again.
		cs := s.connect(t, "/login/mcp", streamable, http.Header{"Authorization": {basicAuth(alice, alicePW)}})
		callOK(t, cs, "login_execute_sql", map[string]any{"sql": "SELECT 1"})
	})
}
