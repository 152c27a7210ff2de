package auth

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/pgherd/pgherd/internal/config"
)

// BenchmarkMiddleware measures one authenticated request through
// Policy.Middleware and go-sdk's RequireBearerToken to a no-op handler.
func BenchmarkMiddleware(b *testing.B) {
	k := testKeys()
	idp := newJWKSServer(b)
	idp.add(b, "k1", &k.rsa.PublicKey)
	jwks, err := New(&config.Auth{Mode: config.AuthJWT, JWT: &config.JWT{Issuer: issuer, JWKSURL: idp.URL}}, Options{Audience: audienceOf})
	if err != nil {
		b.Fatal(err)
	}
	defer jwks.(*jwtAuth).Close()
	hs, _ := New(&config.Auth{Mode: config.AuthJWT, JWT: &config.JWT{Issuer: issuer, HS256Secret: hsSecret}}, Options{Audience: audienceOf})
	keys, _ := New(keyConfig(), Options{})
	noop := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	cases := []struct {
		name  string
		a     Authenticator
		authz string
	}{
		{"api_key", keys, "Bearer " + carolKey},
		{"jwt_HS256", hs, "Bearer " + sign(b, jwt.SigningMethodHS256, []byte(hsSecret), "", claims(nil))},
		{"jwt_RS256_jwks", jwks, "Bearer " + sign(b, jwt.SigningMethodRS256, k.rsa, "k1", claims(nil))},
	}
	for _, c := range cases {
		h := (&Policy{Endpoint: "app1", Authenticator: c.a, Required: true}).Middleware(noop)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest(http.MethodPost, "/app1/mcp", nil)
				r.Header.Set("Authorization", c.authz)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != 200 {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}
