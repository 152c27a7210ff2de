package auth

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdkauth "github.com/modelcontextprotocol/go-sdk/auth"

	"github.com/pgherd/pgherd/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const (
	publicURL   = "https://mcp.example.com"
	metadataURL = publicURL + "/.well-known/oauth-protected-resource/app1/mcp"
)

// audienceOf is the Options.Audience the tests use.
func audienceOf(endpoint string) string { return publicURL + "/" + endpoint + "/mcp" }

// seen is what the echo handler reports about the request it received.
type seen struct {
	ID        string   `json:"id"`
	Tenant    string   `json:"tenant"`
	User      string   `json:"user"`
	Method    string   `json:"method"`
	Scopes    []string `json:"scopes"`
	SDKUserID string   `json:"sdk_user_id"` // go-sdk's TokenInfo.UserID
	SDKSame   bool     `json:"sdk_same"`    // FromTokenInfo(go-sdk's) is PrincipalFromRequest's
	Authz     string   `json:"authz"`       // the Authorization header downstream
	HasLogin  bool     `json:"has_login"`
}

// echo reports the principal the middleware handed on.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	p := PrincipalFromRequest(r)
	ti := sdkauth.TokenInfoFromContext(r.Context())
	s := seen{Authz: r.Header.Get("Authorization")}
	if p != nil {
		s.ID, s.Tenant, s.User, s.Method, s.Scopes = p.ID(), p.Tenant, p.User, p.Method, p.Scopes
		s.HasLogin = p.Login != nil
	}
	if ti != nil {
		s.SDKUserID = ti.UserID
		s.SDKSame = FromTokenInfo(ti) == p
	}
	json.NewEncoder(w).Encode(s)
})

// response is one HTTP exchange's outcome.
type response struct {
	status     int
	challenges []string // WWW-Authenticate values
	retryAfter string
	body       string
	seen       seen
}

// get sends a GET to url with the given Authorization values (none when
// empty).
func get(t *testing.T, url string, authz ...string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range authz {
		req.Header.Add("Authorization", a)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	out := response{status: res.StatusCode, challenges: res.Header.Values("WWW-Authenticate"),
		retryAfter: res.Header.Get("Retry-After"), body: string(b)}
	if res.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &out.seen); err != nil {
			t.Fatalf("echo body %q: %v", b, err)
		}
	} else if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("refusal Content-Type = %q, want application/json", ct)
	}
	return out
}

// serve runs pol's middleware around echo.
func serve(t *testing.T, pol *Policy) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(pol.Middleware(echo))
	t.Cleanup(srv.Close)
	return srv
}

// bearerChallenge is the WWW-Authenticate the tests expect for a refusal.
func challenge(code, description string) []string {
	s := `Bearer resource_metadata="` + metadataURL + `"`
	if code != "" {
		s += `, error="` + code + `", error_description="` + description + `"`
	}
	return []string{s}
}

func equal(a, b []string) bool { return strings.Join(a, "\n") == strings.Join(b, "\n") }
