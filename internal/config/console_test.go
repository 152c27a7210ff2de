package config

import (
	"strings"
	"testing"
)

func TestConsoleOn(t *testing.T) {
	const keys = `
auth:
  mode: api_key
  api_keys: [{name: ops, key_hash: "sha256:2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db186d6e90", scopes: [console, read]}]
`
	const eps = `
endpoints:
  app1: {database_uri: postgres://u@localhost/db}
`
	tests := []struct {
		name     string
		yaml     string
		on, open bool
	}{
		{"loopback, auth none: on, no sign-in", "server: {host: 127.0.0.1}\n" + eps, true, true},
		{"localhost, auth none: on", "server: {host: localhost}\n" + eps, true, true},
		{"IPv6 loopback, auth none: on", "server: {host: \"::1\"}\n" + eps, true, true},
		{"loopback, auth none, turned off", "server: {host: 127.0.0.1, console: {enabled: false}}\n" + eps, false, true},
		{"loopback, api_key: off unless enabled", "server: {host: 127.0.0.1}\n" + keys + eps, false, false},
		{"all interfaces, api_key: off unless enabled", "server: {host: 0.0.0.0}\n" + keys + eps, false, false},
		{"api_key, enabled: sign-in", "server: {host: 0.0.0.0, console: {enabled: true}}\n" + keys + eps, true, false},
		{"stdio: never", "server: {transport: stdio, console: {enabled: true}}\n" + eps, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml), mapEnv(nil))
			if err != nil {
				t.Fatalf("Parse: %v\n%s", err, tt.yaml)
			}
			if got := c.ConsoleOn(); got != tt.on {
				t.Errorf("ConsoleOn() = %v, want %v", got, tt.on)
			}
			if got := c.ConsoleOpen(); got != tt.open {
				t.Errorf("ConsoleOpen() = %v, want %v", got, tt.open)
			}
			if c.Server.Console.Path != DefaultConsolePath {
				t.Errorf("server.console.path = %q, want the default %q", c.Server.Console.Path, DefaultConsolePath)
			}
		})
	}
}

func TestConsoleInvalid(t *testing.T) {
	tests := []struct {
		name, server, auth, want string
	}{
		{"relative path", "console: {path: ui}", "", `server.console.path: "ui" must be a clean absolute URL path`},
		{"root", "console: {path: /}", "", `server.console.path: "/" must be a clean absolute URL path`},
		{"unclean", "console: {path: /ui/}", "", `server.console.path: "/ui/" must be a clean absolute URL path`},
		{"MCP path", "console: {path: /mcp}", "", `server.console.path: "/mcp" is a path pgherd serves itself`},
		{"health path", "console: {path: /health/ui}", "", `server.console.path: "/health/ui" is a path pgherd serves itself`},
		{"an endpoint's paths", "console: {path: /app1/ui}", "", `server.console.path: "/app1/ui" is under endpoint app1's paths`},
		{"database_login", "console: {enabled: true}",
			"auth: {mode: database_login, database_login: {}}",
			`server.console.enabled: operators sign in to the console with an API key or a JWT that has the "console" scope, and auth.mode is database_login`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			yaml := "server:\n  host: 127.0.0.1\n  " + tt.server + "\n" + tt.auth + "\nendpoints:\n  app1: {database_uri: postgres://u@localhost/db}\n"
			_, err := Parse([]byte(yaml), mapEnv(nil))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse error = %v\nwant one containing %q\n%s", err, tt.want, yaml)
			}
		})
	}
}
