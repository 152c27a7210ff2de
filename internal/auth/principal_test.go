package auth

import (
	"testing"
	"time"

	sdkauth "github.com/modelcontextprotocol/go-sdk/auth"

	"github.com/pgherd/pgherd/internal/config"
)

func TestAllowsTool(t *testing.T) {
	tests := []struct {
		name   string
		scopes []string
		tools  []string
		tool   string
		tags   []string
		want   bool
	}{
		{"unrestricted", nil, nil, "execute_sql", []string{"write"}, true},
		{"scope grants the tag", []string{"read"}, nil, "list_objects", []string{"read"}, true},
		{"scope lacks the tag", []string{"read"}, nil, "execute_sql", []string{"write"}, false},
		{"scope names the tool", []string{"execute_sql"}, nil, "execute_sql", []string{"write"}, true},
		{"one of several tags", []string{"admin"}, nil, "list_schemas", []string{"read", "admin"}, true},
		{"empty scopes grant nothing", []string{}, nil, "list_objects", []string{"read"}, false},
		{"tools list by name", nil, []string{"list_objects"}, "list_objects", []string{"read"}, true},
		{"tools list excludes", nil, []string{"list_objects"}, "explain_query", []string{"read"}, false},
		{"tools list by tag", nil, []string{"read"}, "explain_query", []string{"read"}, true},
		{"both must pass: tools fails", []string{"read"}, []string{"list_objects"}, "explain_query", []string{"read"}, false},
		{"both must pass: scopes fail", []string{"read"}, []string{"execute_sql"}, "execute_sql", []string{"write"}, false},
		{"both pass", []string{"read", "write"}, []string{"execute_sql"}, "execute_sql", []string{"write"}, true},
		{"untagged tool needs its name", []string{"read"}, nil, "calculate_stats", nil, false},
	}
	for _, tt := range tests {
		p := &Principal{Scopes: tt.scopes, Tools: tt.tools}
		if got := p.AllowsTool(tt.tool, tt.tags); got != tt.want {
			t.Errorf("%s: AllowsTool(%q, %q) with scopes %q tools %q = %v, want %v", tt.name, tt.tool, tt.tags, tt.scopes, tt.tools, got, tt.want)
		}
	}
	var nilP *Principal
	if nilP.AllowsTool("x", nil) || nilP.AllowsEndpoint("app1") {
		t.Error("a nil Principal is allowed something")
	}
}

func TestAllowsEndpoint(t *testing.T) {
	tests := []struct {
		endpoints []string
		name      string
		want      bool
	}{
		{nil, "app1", true},
		{nil, "main", true},
		{[]string{"app1", "app2"}, "app2", true},
		{[]string{"app1", "app2"}, "app3", false},
		{[]string{"app1"}, "main", false},
		{[]string{}, "app1", false},
	}
	for _, tt := range tests {
		p := &Principal{Endpoints: tt.endpoints}
		if got := p.AllowsEndpoint(tt.name); got != tt.want {
			t.Errorf("endpoints %q: AllowsEndpoint(%q) = %v, want %v", tt.endpoints, tt.name, got, tt.want)
		}
	}
}

func TestID(t *testing.T) {
	tests := []struct {
		tenant, user, want string
	}{
		{"acme", "alice", "acme/alice"},
		{"a/b", "c", "a%2Fb/c"},
		{"a", "b/c", "a/b%2Fc"},
		{"", "", "/"},
	}
	for _, tt := range tests {
		p := &Principal{Tenant: tt.tenant, User: tt.user, Method: MethodJWT}
		if got := p.ID(); got != tt.want {
			t.Errorf("ID(%q, %q) = %q, want %q", tt.tenant, tt.user, got, tt.want)
		}
		// Stable: the credential, scopes and expiry do not enter the ID.
		q := &Principal{Tenant: tt.tenant, User: tt.user, Method: MethodAPIKey, KeyName: "k", Scopes: []string{"read"}, Expires: time.Now()}
		if p.ID() != q.ID() {
			t.Errorf("ID differs by method or scopes: %q vs %q", p.ID(), q.ID())
		}
	}
	if (&Principal{Tenant: "a/b", User: "c"}).ID() == (&Principal{Tenant: "a", User: "b/c"}).ID() {
		t.Error("tenant a/b user c and tenant a user b/c share an ID")
	}
}

func TestTokenInfoRoundTrip(t *testing.T) {
	if FromTokenInfo(nil) != nil {
		t.Error("FromTokenInfo(nil) != nil")
	}
	if FromTokenInfo(&sdkauth.TokenInfo{UserID: "x", Extra: map[string]any{"principal": "not a principal"}}) != nil {
		t.Error("FromTokenInfo accepted a foreign Extra value")
	}
	if (*Principal)(nil).TokenInfo() != nil {
		t.Error("nil Principal has a TokenInfo")
	}
	exp := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	p := &Principal{Tenant: "acme", User: "alice", Method: MethodJWT, Scopes: []string{"read"}, Expires: exp}
	ti := p.TokenInfo()
	if ti.UserID != "acme/alice" || !equal(ti.Scopes, []string{"read"}) || !ti.Expiration.Equal(exp) {
		t.Errorf("TokenInfo = %+v", ti)
	}
	if FromTokenInfo(ti) != p {
		t.Error("FromTokenInfo(p.TokenInfo()) is not p")
	}
}

func TestFromIdentity(t *testing.T) {
	if FromIdentity(nil, MethodConfig) != nil {
		t.Error("FromIdentity(nil) != nil")
	}
	id := &config.Identity{Tenant: "t", User: "u", Scopes: []string{"read"}}
	p := FromIdentity(id, MethodConfig)
	id.Scopes[0] = "admin" // later edits of the config have no effect
	if p.ID() != "t/u" || p.Method != MethodConfig || !equal(p.Scopes, []string{"read"}) || p.Endpoints != nil || p.Tools != nil {
		t.Errorf("FromIdentity = %+v", p)
	}
	if q := FromIdentity(&config.Identity{Tenant: "t", User: "u"}, MethodAnonymous); q.Scopes != nil {
		t.Errorf("no scopes should mean unrestricted (nil), got %q", q.Scopes)
	}
}
