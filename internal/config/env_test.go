package config

import (
	"errors"
	"strings"
	"testing"
)

const twoEndpoints = `
endpoints:
  app1:
    database_uri: postgres://a@localhost/a
  app2:
    database_uri: postgres://b@localhost/b
    auth:
      mode: api_key
      api_keys: [{name: alice, key_hash: "sha256:2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db186d6e90"}]
`

func TestEnvOverrides(t *testing.T) {
	tests := []struct {
		name  string
		file  string
		env   map[string]string
		check func(t *testing.T, c *Config)
	}{
		{
			name: "transport mode sse means http",
			file: "server: {transport: stdio}\n" + twoEndpoints,
			env:  map[string]string{"TRANSPORT_MODE": "sse"},
			check: func(t *testing.T, c *Config) {
				if c.Server.Transport != TransportHTTP {
					t.Errorf("transport = %q, want http", c.Server.Transport)
				}
			},
		},
		{
			name: "MCP_TRANSPORT streamable-http, in any case",
			file: "server: {transport: stdio}\n" + twoEndpoints,
			env:  map[string]string{"MCP_TRANSPORT": "Streamable-HTTP"},
			check: func(t *testing.T, c *Config) {
				if c.Server.Transport != TransportHTTP {
					t.Errorf("transport = %q, want http", c.Server.Transport)
				}
			},
		},
		{
			name: "TRANSPORT_MODE stdio",
			file: twoEndpoints,
			env:  map[string]string{"TRANSPORT_MODE": "stdio", "MCP_TRANSPORT": "stdio"},
			check: func(t *testing.T, c *Config) {
				if c.Server.Transport != TransportStdio {
					t.Errorf("transport = %q, want stdio", c.Server.Transport)
				}
			},
		},
		{
			name: "sse and http agree",
			file: twoEndpoints,
			env:  map[string]string{"TRANSPORT_MODE": "sse", "MCP_TRANSPORT": "http"},
			check: func(t *testing.T, c *Config) {
				if c.Server.Transport != TransportHTTP {
					t.Errorf("transport = %q, want http", c.Server.Transport)
				}
			},
		},
		{
			name: "host and port win over the file",
			file: "server: {host: 127.0.0.1, port: 9000}\nauth: {mode: api_key, api_keys: [{name: a, key_hash: \"sha256:2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db186d6e90\"}]}\n" + twoEndpoints,
			env:  map[string]string{"MCP_HOST": "0.0.0.0", "HTTP_PORT": "8080", "MCP_PORT": "08080"},
			check: func(t *testing.T, c *Config) {
				if c.Listen() != "0.0.0.0:8080" {
					t.Errorf("Listen() = %q, want 0.0.0.0:8080", c.Listen())
				}
				if c.Server.PublicURL != "http://0.0.0.0:8080" {
					t.Errorf("public_url = %q, want it derived from the overridden address", c.Server.PublicURL)
				}
			},
		},
		{
			name: "HTTP_PORT=0 means any free port",
			file: "server: {port: 9000}\n" + twoEndpoints,
			env:  map[string]string{"HTTP_PORT": "0"},
			check: func(t *testing.T, c *Config) {
				if c.Server.Port != 0 || c.Server.PublicURL != "" {
					t.Errorf("port %d, public_url %q; want 0 and empty until bound", c.Server.Port, c.Server.PublicURL)
				}
			},
		},
		{
			name: "HTTP_PORT replaces a port 0 from the file",
			file: "server: {port: 0}\n" + twoEndpoints,
			env:  map[string]string{"HTTP_PORT": "8123"},
			check: func(t *testing.T, c *Config) {
				if c.Server.Port != 8123 {
					t.Errorf("port = %d, want 8123", c.Server.Port)
				}
			},
		},
		{
			name: "empty variables count as unset",
			file: "server: {port: 9000}\n" + twoEndpoints,
			env:  map[string]string{"HTTP_PORT": "", "TRANSPORT_MODE": " ", "DATABASE_URI": ""},
			check: func(t *testing.T, c *Config) {
				if c.Server.Port != 9000 || c.Server.Transport != TransportHTTP {
					t.Errorf("port %d transport %q, want the file's", c.Server.Port, c.Server.Transport)
				}
			},
		},
		{
			name: "REQUIRE_AUTH_HEADER reaches every auth block",
			file: twoEndpoints,
			env:  map[string]string{"REQUIRE_AUTH_HEADER": "no"},
			check: func(t *testing.T, c *Config) {
				if c.Auth.IsRequired() || c.Endpoints["app2"].Auth.IsRequired() {
					t.Errorf("required: server-wide %v, app2 %v; want false for both", c.Auth.IsRequired(), c.Endpoints["app2"].Auth.IsRequired())
				}
				if c.Endpoints["app1"].Auth != nil {
					t.Errorf("app1 got an auth block of its own")
				}
			},
		},
		{
			name: "REQUIRE_AUTH_HEADER creates the server-wide auth",
			file: "endpoints: {app1: {database_uri: 'postgres://a@localhost/a'}}",
			env:  map[string]string{"REQUIRE_AUTH_HEADER": "TRUE"},
			check: func(t *testing.T, c *Config) {
				if c.Auth == nil || !c.Auth.IsRequired() || c.Auth.Mode != AuthNone {
					t.Errorf("auth = %+v, want mode none, required", c.Auth)
				}
			},
		},
		{
			name: "DATABASE_URI alone makes endpoint db",
			file: "",
			env:  map[string]string{"DATABASE_URI": "postgres://u:pw@localhost/x"},
			check: func(t *testing.T, c *Config) {
				e := c.Endpoints["db"]
				if len(c.Endpoints) != 1 || e == nil || e.Name != "db" || e.DatabaseURI.Reveal() != "postgres://u:pw@localhost/x" {
					t.Fatalf("endpoints = %v, want only db with the URI", c.Names())
				}
				if e.AccessMode != "user_ro" || e.ToolPrefix() != "db" || !e.Served() {
					t.Errorf("db endpoint not defaulted: mode %q prefix %q served %v", e.AccessMode, e.ToolPrefix(), e.Served())
				}
			},
		},
		{
			name: "DATABASE_URI replaces the only endpoint's URI",
			file: "endpoints: {app1: {database_uri: 'postgres://a@localhost/a', access_mode: admin_ro}}",
			env:  map[string]string{"DATABASE_URI": "postgres://b@localhost/b"},
			check: func(t *testing.T, c *Config) {
				e := c.Endpoints["app1"]
				if e.DatabaseURI.Reveal() != "postgres://b@localhost/b" || e.AccessMode != "admin_ro" {
					t.Errorf("app1 = %q %q, want the variable's URI and the file's mode", e.DatabaseURI.Reveal(), e.AccessMode)
				}
			},
		},
		{
			name: "DATABASE_URI fills an endpoint that has none",
			file: "endpoints: {app1: {access_mode: user_rw}}",
			env:  map[string]string{"DATABASE_URI": "postgres://b@localhost/b"},
			check: func(t *testing.T, c *Config) {
				if got := c.Endpoints["app1"].DatabaseURI.Reveal(); got != "postgres://b@localhost/b" {
					t.Errorf("database_uri = %q", got)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.file), mapEnv(tt.env))
			if err != nil {
				t.Fatalf("Parse:\n%v", err)
			}
			tt.check(t, c)
		})
	}
}

func TestEnvOverrideErrors(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  map[string]string
		want string // the whole error text
	}{
		{
			name: "conflicting ports name both",
			file: twoEndpoints,
			env:  map[string]string{"HTTP_PORT": "1", "MCP_PORT": "2"},
			want: `env HTTP_PORT: "1" conflicts with MCP_PORT="2"; set only one of them`,
		},
		{
			name: "conflicting transports",
			file: twoEndpoints,
			env:  map[string]string{"TRANSPORT_MODE": "stdio", "MCP_TRANSPORT": "streamable-http"},
			want: `env TRANSPORT_MODE: "stdio" conflicts with MCP_TRANSPORT="streamable-http"; set only one of them`,
		},
		{
			name: "streamable-http is not a TRANSPORT_MODE",
			file: twoEndpoints,
			env:  map[string]string{"TRANSPORT_MODE": "streamable-http"},
			want: `env TRANSPORT_MODE: "streamable-http" is not one of stdio, http, sse`,
		},
		{
			name: "bad port and bad bool",
			file: twoEndpoints,
			env:  map[string]string{"MCP_PORT": "http", "REQUIRE_AUTH_HEADER": "required"},
			want: "env MCP_PORT: \"http\" is not a port number; use 1-65535, or 0 for any free port\n" +
				`env REQUIRE_AUTH_HEADER: "required" is not true or false (also accepted: yes/no, 1/0)`,
		},
		{
			name: "DATABASE_URI with several endpoints",
			file: twoEndpoints,
			env:  map[string]string{"DATABASE_URI": "postgres://u:hunter2@localhost/x"},
			want: "env DATABASE_URI: the file has 2 endpoints (app1, app2), so it is not clear which database this is; " +
				"unset DATABASE_URI and give each endpoint its own database_uri (database_uri: ${APP1_DATABASE_URI})",
		},
		{
			name: "a bad DATABASE_URI is reported at the variable, without its password",
			file: "",
			env:  map[string]string{"DATABASE_URI": "postgres://u:hunter2@localhost:port/x"},
			want: "env DATABASE_URI: cannot be parsed (invalid port); " + uriHint,
		},
		{
			name: "a public host from the environment needs auth",
			file: "endpoints: {app1: {database_uri: 'postgres://a@localhost/a'}}",
			env:  map[string]string{"HTTP_HOST": "0.0.0.0", "HTTP_PORT": "8080"},
			want: "env HTTP_HOST: listening on 0.0.0.0 needs auth: set auth.mode (api_key, jwt or database_login) or bind 127.0.0.1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.file), mapEnv(tt.env))
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("Parse error = %v (%T), want config.Errors", err, err)
			}
			if err.Error() != tt.want {
				t.Errorf("Parse error:\n%v\nwant:\n%v", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error text contains the password")
			}
		})
	}
}
