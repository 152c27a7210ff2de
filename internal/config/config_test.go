package config

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/pgherd/pgherd/internal/access"
)

const helpersConfig = `
server:
  public_url: https://mcp.example.com/base/
auth:
  mode: api_key
  api_keys: [{name: alice, key_hash: "sha256:2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db186d6e90"}]
endpoints:
  zeta:
    database_uri: postgres://z@localhost/z
  alpha:
    database_uri: postgres://a@localhost/a
    auth:
      mode: jwt
      jwt: {issuer: https://idp.example.com, jwks_url: https://idp.example.com/jwks}
  mid:
    database_uri: postgres://m@localhost/m
    endpoint: false
    prefix: ""
`

func TestHelpers(t *testing.T) {
	c, err := Parse([]byte(helpersConfig), mapEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Names(), []string{"alpha", "mid", "zeta"}; !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
	for name, e := range c.Endpoints {
		if e.Name != name {
			t.Errorf("Endpoints[%q].Name = %q", name, e.Name)
		}
	}

	auths := []struct {
		name string
		want *Auth
	}{
		{"", c.Auth}, {"main", c.Auth}, {"zeta", c.Auth}, {"mid", c.Auth},
		{"alpha", c.Endpoints["alpha"].Auth}, {"nope", nil},
	}
	for _, tt := range auths {
		if got := c.EffectiveAuth(tt.name); got != tt.want {
			t.Errorf("EffectiveAuth(%q) = %p, want %p", tt.name, got, tt.want)
		}
	}
	if c.EffectiveAuth("alpha").Mode != AuthJWT || c.EffectiveAuth("zeta").Mode != AuthAPIKey {
		t.Errorf("EffectiveAuth modes: alpha %q, zeta %q", c.EffectiveAuth("alpha").Mode, c.EffectiveAuth("zeta").Mode)
	}

	urls := map[string]string{
		"":      "https://mcp.example.com/base/mcp",
		"main":  "https://mcp.example.com/base/mcp",
		"alpha": "https://mcp.example.com/base/alpha/mcp",
	}
	for name, want := range urls {
		if got := c.EndpointURL(name); got != want {
			t.Errorf("EndpointURL(%q) = %q, want %q", name, got, want)
		}
	}
	if got := c.Listen(); got != "127.0.0.1:8000" {
		t.Errorf("Listen() = %q", got)
	}
	if p := c.Endpoints["mid"].ToolPrefix(); p != "" {
		t.Errorf("mid prefix = %q, want the explicit empty prefix", p)
	}
	if p := c.Endpoints["zeta"].ToolPrefix(); p != "zeta" {
		t.Errorf("zeta prefix = %q, want its name", p)
	}
}

func TestHashKey(t *testing.T) {
	sum := sha256.Sum256([]byte("alice-key"))
	want := "sha256:" + hex.EncodeToString(sum[:])
	if got := HashKey("alice-key"); got != want {
		t.Errorf("HashKey = %q, want %q", got, want)
	}
	if !keyHash.MatchString(HashKey("")) {
		t.Errorf("HashKey output %q does not pass key_hash validation", HashKey(""))
	}
	if HashKey("a") == HashKey("a\n") {
		t.Errorf("HashKey trims its input; it must hash it exactly")
	}
}

func TestPortZeroAndSetBoundPort(t *testing.T) {
	c, err := Parse([]byte("server: {port: 0, host: '::1'}\nendpoints: {app1: {database_uri: 'postgres://a@localhost/a'}}"), mapEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.Port != 0 || c.Listen() != "[::1]:0" || c.Server.PublicURL != "" {
		t.Fatalf("port %d listen %q public_url %q; want 0, [::1]:0 and no URL yet", c.Server.Port, c.Listen(), c.Server.PublicURL)
	}
	c.SetBoundPort(43210)
	if c.Server.PublicURL != "http://[::1]:43210" || c.EndpointURL("app1") != "http://[::1]:43210/app1/mcp" {
		t.Errorf("after SetBoundPort: public_url %q, app1 URL %q", c.Server.PublicURL, c.EndpointURL("app1"))
	}

	// A configured public_url is never replaced.
	c, err = Parse([]byte("server: {port: 0, public_url: 'https://x.example'}\nendpoints: {app1: {database_uri: 'postgres://a@localhost/a'}}"), mapEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	c.SetBoundPort(43210)
	if c.Server.PublicURL != "https://x.example" {
		t.Errorf("public_url = %q, want the configured one", c.Server.PublicURL)
	}
}

func TestNameFor(t *testing.T) {
	for uri, want := range map[string]string{
		"postgres://u:pw@localhost/shop":                "shop",
		"postgres://u@localhost/Sales-2024?sslmode=off": "sales-2024",
		"postgres://localhost/my.db":                    "my_db",
		"postgres://localhost/":                         DefaultEndpoint,
		"postgres://localhost?dbname=crm":               "crm",
		"postgres://localhost/2024":                     DefaultEndpoint, // must start with a letter
		"host=localhost dbname=orders":                  "orders", "host=localhost": DefaultEndpoint,
	} {
		if got := NameFor(uri); got != want {
			t.Errorf("NameFor(%q) = %q, want %q", uri, got, want)
		}
	}
}

func TestForDatabase(t *testing.T) {
	c, err := ForDatabase("postgres://u:pw@localhost/app", access.AdminRO)
	if err != nil {
		t.Fatal(err)
	}
	e := c.Endpoints["app"]
	if len(c.Endpoints) != 1 || e == nil || e.Name != "app" {
		t.Fatalf("endpoints %v, want only app (named after the database)", c.Names())
	}
	if e.ToolPrefix() != "" || e.AccessMode != access.AdminRO || !e.Served() || c.Server.Transport != TransportStdio {
		t.Errorf("prefix %q mode %q served %v transport %q", e.ToolPrefix(), e.AccessMode, e.Served(), c.Server.Transport)
	}
	if e.Limits.StatementTimeout.D() == 0 || e.Pool.MaxConns != 10 || c.Auth == nil || c.Auth.Mode != AuthNone {
		t.Errorf("defaults not filled: %+v, auth %+v", e, c.Auth)
	}

	_, err = ForDatabase("mysql://u:pw@localhost/app", "superuser")
	want := `endpoints.app.access_mode: "superuser" is not one of user_ro, user_rw, admin_ro, admin_rw` + "\n" +
		"endpoints.app.database_uri: scheme mysql:// is not postgres:// or postgresql://; " + uriHint
	var errs Errors
	if !errors.As(err, &errs) || err.Error() != want {
		t.Errorf("ForDatabase(bad) error:\n%v\nwant:\n%s", err, want)
	}
}

// Finish serves configs built in code: it fills defaults, names endpoints,
// refuses plain keys (only the environment may supply them) and can run
// twice.
func TestFinish(t *testing.T) {
	c := &Config{Endpoints: map[string]*Endpoint{"app1": {DatabaseURI: "postgres://a@localhost/a"}}}
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	if c.Endpoints["app1"].Name != "app1" || c.Server.Port != DefaultPort || c.Server.PublicURL != "http://127.0.0.1:8000" {
		t.Errorf("after Finish: name %q port %d public_url %q", c.Endpoints["app1"].Name, c.Server.Port, c.Server.PublicURL)
	}
	c.Server.Port = 9000
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	if c.Server.PublicURL != "http://127.0.0.1:9000" {
		t.Errorf("second Finish: public_url %q, want it derived again", c.Server.PublicURL)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate after Finish: %v", err)
	}

	c.Auth = &Auth{Mode: AuthAPIKey, APIKeys: []*APIKey{{Name: "alice", Key: "alice-key-in-code-0123"}}}
	err := c.Finish()
	if err == nil || !strings.Contains(err.Error(), "auth.api_keys[0].key: plain keys are accepted only from the environment") {
		t.Errorf("Finish with a plain key in code: %v", err)
	}
}

func TestValidateReportsWithoutChanging(t *testing.T) {
	c := &Config{}
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "endpoints: none configured") {
		t.Errorf("Validate of an empty Config: %v", err)
	}
	if c.Server.Host != "" || c.Auth != nil {
		t.Errorf("Validate changed the config: %+v", c)
	}
}

func TestErrorsFormat(t *testing.T) {
	errs := Errors{
		{Path: "endpoints.app1.auth.api_keys[10].name", Message: "ten"},
		{Path: "server.port", Message: "port"},
		{Path: "endpoints.app1.auth.api_keys[2].name", Message: "two"},
		{Path: "endpoints.app10.database_uri", Message: "app10"},
		{Path: "endpoints.app2.database_uri", Message: "app2"},
		{Path: "", Message: "whole file"},
		{Path: "env HTTP_PORT", Message: "env"},
		{Path: "server.port", Message: "port"},
	}
	want := "whole file\n" +
		"endpoints.app1.auth.api_keys[2].name: two\n" +
		"endpoints.app1.auth.api_keys[10].name: ten\n" +
		"endpoints.app2.database_uri: app2\n" +
		"endpoints.app10.database_uri: app10\n" +
		"env HTTP_PORT: env\n" +
		"server.port: port"
	if got := errs.err().Error(); got != want {
		t.Errorf("Errors:\n%s\nwant:\n%s", got, want)
	}
	if (Errors{}).err() != nil || Errors(nil).err() != nil {
		t.Errorf("no problems must give a nil error")
	}
	if got := (Error{Path: "a.b", Message: "m"}).Error(); got != "a.b: m" {
		t.Errorf("Error() = %q", got)
	}
}

func TestClosest(t *testing.T) {
	keys := []string{"database_uri", "access_mode", "endpoint", "prefix", "description", "pool", "limits", "auth", "tenants", "tenant_settings"}
	tests := map[string]string{
		"acces_mode":     "access_mode",
		"AccessMode":     "access_mode",
		"access-mode":    "access_mode",
		"database_url":   "database_uri",
		"databaseURI":    "database_uri",
		"tenant":         "tenants",
		"tenantsettings": "tenant_settings",
		"pools":          "pool",
		"x":              "",
		"password":       "",
		"mode":           "",
	}
	for in, want := range tests {
		if got := closest(in, keys); got != want {
			t.Errorf("closest(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseNumbers(t *testing.T) {
	sizes := map[string]int64{"1024": 1024, "4MiB": 4 << 20, "4 MiB": 4 << 20, "512KiB": 512 << 10, "1GiB": 1 << 30, "1_000": 1000}
	for in, want := range sizes {
		if got, err := parseSize(in, 64); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"4MB", "MiB", "1.5MiB", "-", "_1", "1__0", "0x10", "9999999999GiB"} {
		if got, err := parseSize(in, 64); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, got)
		}
	}
	if _, err := parseInt("3000000000", 32); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("parseInt overflow: %v", err)
	}
	if got, err := parseInt("010", 64); err != nil || got != 10 {
		t.Errorf("parseInt(010) = %d, %v; want decimal 10", got, err)
	}
}
