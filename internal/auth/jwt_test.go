package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/pgherd/pgherd/internal/config"
)

const issuer = "https://idp.example.com"

// testKeys are generated once per test binary (RSA generation is slow).
var testKeys = sync.OnceValue(func() (k struct {
	rsa, rsaOther *rsa.PrivateKey
	ec            *ecdsa.PrivateKey
	ed            ed25519.PrivateKey
}) {
	var err error
	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		panic(err)
	}
	if k.rsaOther, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		panic(err)
	}
	if k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		panic(err)
	}
	if _, k.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
		panic(err)
	}
	return k
})

// jwksServer serves a JWK Set and counts the requests it gets.
type jwksServer struct {
	*httptest.Server
	hits atomic.Int64
	mu   sync.Mutex
	keys []jwkset.JWKMarshal
}

func newJWKSServer(t testing.TB) *jwksServer {
	t.Helper()
	j := &jwksServer{}
	j.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j.hits.Add(1)
		j.mu.Lock()
		defer j.mu.Unlock()
		json.NewEncoder(w).Encode(jwkset.JWKSMarshal{Keys: j.keys})
	}))
	t.Cleanup(j.Close)
	return j
}

func (j *jwksServer) add(t testing.TB, kid string, pub any) {
	t.Helper()
	jwk, err := jwkset.NewJWKFromKey(pub, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: kid}})
	if err != nil {
		t.Fatal(err)
	}
	j.mu.Lock()
	j.keys = append(j.keys, jwk.Marshal())
	j.mu.Unlock()
}

// claims returns valid claims for endpoint app1; edit returns modified ones.
func claims(edit func(jwt.MapClaims)) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{
		"iss":    issuer,
		"aud":    audienceOf("app1"),
		"sub":    "u1",
		"tenant": "acme",
		"scope":  "read write",
		"iat":    now.Unix(),
		"exp":    now.Add(time.Hour).Unix(),
	}
	if edit != nil {
		edit(c)
	}
	return c
}

func sign(t testing.TB, m jwt.SigningMethod, key any, kid string, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("signing %s: %v", m.Alg(), err)
	}
	return s
}

// signRaw makes an HS256 token from header and payload JSON as given, so
// that they can hold what no JWT library writes (repeated names).
func signRaw(t testing.TB, header, payload string) string {
	t.Helper()
	enc := base64.RawURLEncoding
	input := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	mac := hmac.New(sha256.New, []byte(hsSecret))
	mac.Write([]byte(input))
	return input + "." + enc.EncodeToString(mac.Sum(nil))
}

// hsPayload is valid claims for the "hs" authenticator (org, email) as
// JSON text, with extra members appended as written.
func hsPayload(extra []string) string {
	now := time.Now()
	members := []string{
		fmt.Sprintf("%q:%q", "iss", issuer), fmt.Sprintf("%q:%q", "aud", audienceOf("app1")),
		`"org":"o1"`, `"email":"a@b"`, `"scope":"read write"`,
		fmt.Sprintf(`"iat":%d`, now.Unix()), fmt.Sprintf(`"exp":%d`, now.Add(time.Hour).Unix()),
	}
	return "{" + strings.Join(append(members, extra...), ",") + "}"
}

func publicPEM(t *testing.T, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func writeFile(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const hsSecret = "an-hs256-secret-of-at-least-32-bytes-length"

func TestJWTPolicy(t *testing.T) {
	k := testKeys()
	idp := newJWKSServer(t)
	idp.add(t, "k1", &k.rsa.PublicKey)
	idp.add(t, "e1", &k.ec.PublicKey)
	idp.add(t, "d1", k.ed.Public())
	rsaPEM := publicPEM(t, &k.rsa.PublicKey)

	opts := Options{Audience: audienceOf}
	jwks := mustNew(t, &config.Auth{Mode: config.AuthJWT, JWT: &config.JWT{Issuer: issuer, JWKSURL: idp.URL,
		Algorithms: []string{"RS256", "ES256", "EdDSA"}}}, opts)
	t.Cleanup(func() { jwks.(*jwtAuth).Close() })
	pemAuth := mustNew(t, &config.Auth{Mode: config.AuthJWT, JWT: &config.JWT{Issuer: issuer, PublicKeyFile: writeFile(t, rsaPEM)}}, opts)
	hs := mustNew(t, &config.Auth{Mode: config.AuthJWT, JWT: &config.JWT{Issuer: issuer, HS256Secret: hsSecret,
		TenantClaim: "org", UserClaim: "email"}}, opts)
	pinnedAud := mustNew(t, &config.Auth{Mode: config.AuthJWT, JWT: &config.JWT{Issuer: issuer, HS256Secret: hsSecret,
		Audience: "https://api.example.com"}}, opts)

	srv := map[string]string{}
	for name, a := range map[string]Authenticator{"jwks": jwks, "pem": pemAuth, "hs": hs, "pinned": pinnedAud} {
		srv[name] = serve(t, &Policy{Endpoint: "app1", Authenticator: a, Required: true, ResourceMetadataURL: metadataURL}).URL
	}

	rs := func(edit func(jwt.MapClaims)) string {
		return sign(t, jwt.SigningMethodRS256, k.rsa, "k1", claims(edit))
	}
	none := func() string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims(nil)).SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	const (
		badSig    = "the token's signature does not verify with an accepted algorithm (RS256, ES256, EdDSA)"
		expired   = "the token has expired; get a new one"
		wrongAud  = "the token's audience does not include 'https://mcp.example.com/app1/mcp'; request a token for this resource (RFC 8707 resource parameter)"
		noClaim   = "the token lacks a required claim (exp, iss and aud are required); have the identity provider issue expiring tokens for this resource"
		unknownKD = "the token's signing key is unknown (no key with its kid in the issuer's key set); get a fresh token"
	)
	tests := []struct {
		name   string
		srv    string
		token  string
		status int
		desc   string   // error_description; "" on success
		id     string   // on success
		scopes []string // on success
	}{
		{"valid RS256", "jwks", rs(nil), 200, "", "acme/u1", []string{"read", "write"}},
		{"valid ES256", "jwks", sign(t, jwt.SigningMethodES256, k.ec, "e1", claims(nil)), 200, "", "acme/u1", []string{"read", "write"}},
		{"valid EdDSA", "jwks", sign(t, jwt.SigningMethodEdDSA, k.ed, "d1", claims(nil)), 200, "", "acme/u1", []string{"read", "write"}},
		{"scp array", "jwks", rs(func(c jwt.MapClaims) { delete(c, "scope"); c["scp"] = []string{"admin"} }), 200, "", "acme/u1", []string{"admin"}},
		{"no scope claim is unrestricted", "jwks", rs(func(c jwt.MapClaims) { delete(c, "scope") }), 200, "", "acme/u1", nil},
		{"aud array containing the endpoint", "jwks", rs(func(c jwt.MapClaims) { c["aud"] = []string{"https://other", audienceOf("app1")} }), 200, "", "acme/u1", []string{"read", "write"}},
		{"expired within leeway", "jwks", rs(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-10 * time.Second).Unix() }), 200, "", "acme/u1", []string{"read", "write"}},
		{"expired", "jwks", rs(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Minute).Unix() }), 401, expired, "", nil},
		{"not yet valid", "jwks", rs(func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(time.Minute).Unix() }), 401,
			"the token is not valid yet (nbf is in the future); check the clocks", "", nil},
		{"iat in the future beyond leeway", "jwks", rs(func(c jwt.MapClaims) { c["iat"] = time.Now().Add(time.Minute).Unix() }), 401,
			"the token was issued in the future (iat); check the identity provider's clock", "", nil},
		{"iat in the future within leeway", "jwks", rs(func(c jwt.MapClaims) { c["iat"] = time.Now().Add(10 * time.Second).Unix() }), 200, "", "acme/u1", []string{"read", "write"}},
		{"wrong aud", "jwks", rs(func(c jwt.MapClaims) { c["aud"] = "https://evil.example.com/mcp" }), 401, wrongAud, "", nil},
		{"another endpoint's aud", "jwks", rs(func(c jwt.MapClaims) { c["aud"] = audienceOf("app2") }), 401, wrongAud, "", nil},
		{"wrong iss", "jwks", rs(func(c jwt.MapClaims) { c["iss"] = "https://evil.example.com" }), 401, "the token's issuer is not 'https://idp.example.com'", "", nil},
		{"missing exp", "jwks", rs(func(c jwt.MapClaims) { delete(c, "exp") }), 401, noClaim, "", nil},
		{"missing iss", "jwks", rs(func(c jwt.MapClaims) { delete(c, "iss") }), 401, noClaim, "", nil},
		{"alg none", "jwks", none(), 401, badSig, "", nil},
		{"HS256 signed with the RS public key (JWKS)", "jwks", sign(t, jwt.SigningMethodHS256, rsaPEM, "k1", claims(nil)), 401, badSig, "", nil},
		{"HS256 signed with the RS public key (PEM)", "pem", sign(t, jwt.SigningMethodHS256, rsaPEM, "", claims(nil)), 401,
			"the token's signature does not verify with an accepted algorithm (RS256)", "", nil},
		{"RS256 via PEM file", "pem", sign(t, jwt.SigningMethodRS256, k.rsa, "", claims(nil)), 200, "", "acme/u1", []string{"read", "write"}},
		{"signed by another key with a known kid", "jwks", sign(t, jwt.SigningMethodRS256, k.rsaOther, "k1", claims(nil)), 401, badSig, "", nil},
		{"unknown kid", "jwks", sign(t, jwt.SigningMethodRS256, k.rsaOther, "nope", claims(nil)), 401, unknownKD, "", nil},
		{"missing tenant claim", "jwks", rs(func(c jwt.MapClaims) { delete(c, "tenant") }), 401,
			"the token has no 'tenant' claim naming the tenant; have the identity provider add it, or set auth.jwt.tenant_claim to the claim it uses", "", nil},
		{"missing user claim", "jwks", rs(func(c jwt.MapClaims) { delete(c, "sub") }), 401,
			"the token has no 'sub' claim naming the user; have the identity provider add it, or set auth.jwt.user_claim", "", nil},
		{"not a JWT", "jwks", "abc.def", 401, "the Bearer credential is not a well-formed JWT", "", nil},
		{"valid HS256, custom claims", "hs", sign(t, jwt.SigningMethodHS256, []byte(hsSecret), "", claims(func(c jwt.MapClaims) { c["org"] = "o1"; c["email"] = "a@b" })), 200, "", "o1/a@b", []string{"read", "write"}},
		{"RS256 against an HS-only config", "hs", rs(func(c jwt.MapClaims) { c["org"] = "o1"; c["email"] = "a@b" }), 401,
			"the token's signature does not verify with an accepted algorithm (HS256)", "", nil},
		{"HS256 with another secret", "hs", sign(t, jwt.SigningMethodHS256, []byte(strings.Repeat("z", 40)), "", claims(func(c jwt.MapClaims) { c["org"] = "o1"; c["email"] = "a@b" })), 401,
			"the token's signature does not verify with an accepted algorithm (HS256)", "", nil},
		{"crit header", "hs", signRaw(t, `{"alg":"HS256","typ":"JWT","crit":["b64"],"b64":false}`, hsPayload(nil)), 401,
			"the token's header marks extensions as critical (crit: b64), which pgherd does not process, so it must refuse the token (RFC 7515); have the identity provider issue tokens without crit", "", nil},
		{"empty crit header", "hs", signRaw(t, `{"alg":"HS256","crit":[]}`, hsPayload(nil)), 401,
			"the token's header marks extensions as critical (crit: ), which pgherd does not process, so it must refuse the token (RFC 7515); have the identity provider issue tokens without crit", "", nil},
		{"repeated claim", "hs", signRaw(t, `{"alg":"HS256","typ":"JWT"}`, hsPayload([]string{`"org":"evil"`})), 401,
			"the token repeats the claim 'org', so its meaning is ambiguous (RFC 7519 requires unique claim names); have the identity provider issue well-formed tokens", "", nil},
		{"repeated claim spelled with an escape", "hs", signRaw(t, `{"alg":"HS256","typ":"JWT"}`, hsPayload([]string{`"\u006frg":"evil"`})), 401,
			"the token repeats the claim 'org', so its meaning is ambiguous (RFC 7519 requires unique claim names); have the identity provider issue well-formed tokens", "", nil},
		{"repeated header parameter", "hs", signRaw(t, `{"alg":"HS256","typ":"JWT","typ":"JWT"}`, hsPayload(nil)), 401,
			"the token's header repeats the parameter 'typ'; have the identity provider issue well-formed tokens", "", nil},
		{"hand-made token without repeats", "hs", signRaw(t, `{"alg":"HS256","typ":"JWT"}`, hsPayload(nil)), 200, "", "o1/a@b", []string{"read", "write"}},
		{"configured audience", "pinned", sign(t, jwt.SigningMethodHS256, []byte(hsSecret), "", claims(func(c jwt.MapClaims) { c["aud"] = "https://api.example.com" })), 200, "", "acme/u1", []string{"read", "write"}},
		{"configured audience replaces the endpoint's", "pinned", sign(t, jwt.SigningMethodHS256, []byte(hsSecret), "", claims(nil)), 401,
			"the token's audience does not include 'https://api.example.com'; request a token for this resource (RFC 8707 resource parameter)", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := get(t, srv[tt.srv], "Bearer "+tt.token)
			if res.status != tt.status {
				t.Fatalf("status = %d, want %d (body %s)", res.status, tt.status, res.body)
			}
			if tt.status != 200 {
				if want := challenge(CodeInvalidToken, tt.desc); !equal(res.challenges, want) {
					t.Errorf("WWW-Authenticate = %q\nwant               %q", res.challenges, want)
				}
				if strings.Contains(res.body, tt.token) {
					t.Errorf("body echoes the token")
				}
				return
			}
			if res.seen.ID != tt.id || res.seen.Method != MethodJWT || !equal(res.seen.Scopes, tt.scopes) || (res.seen.Scopes == nil) != (tt.scopes == nil) {
				t.Errorf("principal %q %s scopes %q, want %q scopes %q", res.seen.ID, res.seen.Method, res.seen.Scopes, tt.id, tt.scopes)
			}
			if res.seen.SDKUserID != tt.id {
				t.Errorf("go-sdk UserID = %q, want %q", res.seen.SDKUserID, tt.id)
			}
		})
	}
}

func TestJWTExpiresAndClock(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	a := mustNew(t, &config.Auth{Mode: config.AuthJWT, JWT: &config.JWT{Issuer: issuer, HS256Secret: hsSecret, Leeway: config.Duration(time.Minute)}},
		Options{Audience: audienceOf, Now: func() time.Time { return now }})
	tok := sign(t, jwt.SigningMethodHS256, []byte(hsSecret), "", jwt.MapClaims{
		"iss": issuer, "aud": audienceOf("app1"), "sub": "u", "tenant": "t",
		"iat": now.Add(-time.Hour).Unix(), "exp": now.Add(-50 * time.Second).Unix(),
	})
	r := httptest.NewRequest(http.MethodPost, "/app1/mcp", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	p, err := a.Authenticate(r.Context(), r, "app1")
	if err != nil {
		t.Fatalf("a token 50s past exp with 1m leeway on the injected clock: %v", err)
	}
	if !p.Expires.Equal(now.Add(-50 * time.Second)) {
		t.Errorf("Expires = %v, want %v", p.Expires, now.Add(-50*time.Second))
	}
	if ti := p.TokenInfo(); !ti.Expiration.Equal(p.Expires) {
		t.Errorf("TokenInfo.Expiration = %v, want %v", ti.Expiration, p.Expires)
	}
	now = now.Add(20 * time.Second) // 70s past exp
	if _, err := a.Authenticate(r.Context(), r, "app1"); err == nil {
		t.Error("a token 70s past exp with 1m leeway was accepted")
	}
}

// TestJWKSRefreshFloor: an unknown kid refreshes the JWKS at most once per
// jwks_refresh_interval, whatever the number of random kids; a rotated-in
// key is picked up by that one refresh.
func TestJWKSRefreshFloor(t *testing.T) {
	k := testKeys()
	idp := newJWKSServer(t)
	idp.add(t, "k1", &k.rsa.PublicKey)
	a := mustNew(t, &config.Auth{Mode: config.AuthJWT, JWT: &config.JWT{Issuer: issuer, JWKSURL: idp.URL,
		JWKSRefreshInterval: config.Duration(time.Hour)}}, Options{Audience: audienceOf})
	defer a.(*jwtAuth).Close()
	if got := idp.hits.Load(); got != 1 {
		t.Fatalf("JWKS requests after New = %d, want 1", got)
	}
	auth := func(tok string) error {
		r := httptest.NewRequest(http.MethodPost, "/app1/mcp", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		_, err := a.Authenticate(r.Context(), r, "app1")
		return err
	}

	// Key rotation: k2 appears at the IdP; the first token with it refreshes.
	idp.add(t, "k2", &k.rsaOther.PublicKey)
	if err := auth(sign(t, jwt.SigningMethodRS256, k.rsaOther, "k2", claims(nil))); err != nil {
		t.Fatalf("token with rotated-in kid: %v", err)
	}
	if got := idp.hits.Load(); got != 2 {
		t.Fatalf("JWKS requests after rotation = %d, want 2", got)
	}

	var flood []string
	for range 200 {
		flood = append(flood, sign(t, jwt.SigningMethodRS256, k.rsa, "random-"+rand.Text(), claims(nil)))
	}
	var wg sync.WaitGroup
	var accepted atomic.Int64
	for _, tok := range flood {
		wg.Go(func() {
			if auth(tok) == nil {
				accepted.Add(1)
			}
		})
	}
	wg.Wait()
	if got := idp.hits.Load(); got != 2 {
		t.Errorf("JWKS requests after 200 random kids = %d, want still 2", got)
	}
	if accepted.Load() != 0 {
		t.Errorf("%d tokens with unknown kids were accepted", accepted.Load())
	}
	if err := auth(sign(t, jwt.SigningMethodRS256, k.rsa, "k1", claims(nil))); err != nil {
		t.Errorf("known kid after the flood: %v", err)
	}
}

func TestJWTPEMKeyTypes(t *testing.T) {
	k := testKeys()
	tests := []struct {
		name string
		pub  any
		m    jwt.SigningMethod
		key  any
	}{
		{"RSA", &k.rsa.PublicKey, jwt.SigningMethodRS256, k.rsa},
		{"EC P-256", &k.ec.PublicKey, jwt.SigningMethodES256, k.ec},
		{"Ed25519", k.ed.Public(), jwt.SigningMethodEdDSA, k.ed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := mustNew(t, &config.Auth{Mode: config.AuthJWT, JWT: &config.JWT{Issuer: issuer, PublicKeyFile: writeFile(t, publicPEM(t, tt.pub))}},
				Options{Audience: audienceOf})
			r := httptest.NewRequest(http.MethodPost, "/app1/mcp", nil)
			r.Header.Set("Authorization", "Bearer "+sign(t, tt.m, tt.key, "", claims(nil)))
			if p, err := a.Authenticate(r.Context(), r, "app1"); err != nil || p.ID() != "acme/u1" {
				t.Errorf("Authenticate = %v, %v", p, err)
			}
			// The same claims signed by a key of another type fail.
			other := sign(t, jwt.SigningMethodHS256, []byte(hsSecret), "", claims(nil))
			r.Header.Set("Authorization", "Bearer "+other)
			if _, err := a.Authenticate(r.Context(), r, "app1"); err == nil {
				t.Error("an HS256 token was accepted by a public-key config")
			}
		})
	}
}

func TestJWTConfigErrors(t *testing.T) {
	k := testKeys()
	der, _ := x509.MarshalPKCS8PrivateKey(k.ec)
	privPEM := writeFile(t, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	ecPEM := writeFile(t, publicPEM(t, &k.ec.PublicKey))
	tests := []struct {
		name string
		cfg  *config.JWT
		opts Options
		want string
	}{
		{"no block", nil, Options{Audience: audienceOf}, "jwt: mode jwt needs a jwt block"},
		{"no issuer", &config.JWT{HS256Secret: hsSecret}, Options{Audience: audienceOf}, "jwt.issuer: required"},
		{"no audience source", &config.JWT{Issuer: issuer, HS256Secret: hsSecret}, Options{}, "jwt.audience: required"},
		{"no key source", &config.JWT{Issuer: issuer}, Options{Audience: audienceOf}, "jwt: set exactly one of jwks_url, public_key_file, hs256_secret"},
		{"two key sources", &config.JWT{Issuer: issuer, HS256Secret: hsSecret, PublicKeyFile: ecPEM}, Options{Audience: audienceOf}, "jwt: set exactly one"},
		{"short secret", &config.JWT{Issuer: issuer, HS256Secret: "short"}, Options{Audience: audienceOf}, "jwt.hs256_secret: 5 bytes is too short"},
		{"RS256 with a secret", &config.JWT{Issuer: issuer, HS256Secret: hsSecret, Algorithms: []string{"RS256"}}, Options{Audience: audienceOf},
			`jwt.algorithms: "RS256" cannot be used with this key source; choose from HS256, HS384, HS512`},
		{"none", &config.JWT{Issuer: issuer, HS256Secret: hsSecret, Algorithms: []string{"none"}}, Options{Audience: audienceOf}, `jwt.algorithms: "none" cannot be used`},
		{"HS256 with a public key", &config.JWT{Issuer: issuer, PublicKeyFile: ecPEM, Algorithms: []string{"HS256"}}, Options{Audience: audienceOf},
			`jwt.algorithms: "HS256" cannot be used with this key source; choose from ES256`},
		{"private key file", &config.JWT{Issuer: issuer, PublicKeyFile: privPEM}, Options{Audience: audienceOf}, "jwt.public_key_file: the file holds a private key"},
		{"missing file", &config.JWT{Issuer: issuer, PublicKeyFile: "/nonexistent.pem"}, Options{Audience: audienceOf}, "jwt.public_key_file: open /nonexistent.pem"},
		{"leeway", &config.JWT{Issuer: issuer, HS256Secret: hsSecret, Leeway: config.Duration(time.Hour)}, Options{Audience: audienceOf}, "jwt.leeway: 1h0m0s is outside"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(&config.Auth{Mode: config.AuthJWT, JWT: tt.cfg}, tt.opts)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("New = %v, want an error starting %q", err, tt.want)
			}
		})
	}
}
