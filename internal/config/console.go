package config

import (
	"path"
	"strings"
)

// Console configures the operator console (server.console): the web pages
// at Path that show the herd, live calls, health and query plans.
type Console struct {
	// Enabled serves the console. Unset, it is on only when the server
	// binds a loopback address with auth.mode none (nobody but this
	// machine can reach it, and nobody needs to sign in); with any other
	// auth mode set it to true, and operators sign in with an API key or
	// JWT that has the "console" scope.
	Enabled *bool `yaml:"enabled"`
	// Path is where the console is served; default /ui.
	Path string `yaml:"path"`
}

// DefaultConsolePath is where the console is served unless
// server.console.path says otherwise.
const DefaultConsolePath = "/ui"

// ConsoleScope is the scope a key or token needs to sign in to the console.
const ConsoleScope = "console"

// ConsoleOn reports whether the console is served: server.console.enabled,
// or by default when the server binds a loopback address with auth.mode
// none over HTTP.
func (c *Config) ConsoleOn() bool {
	if c.Server.Transport == TransportStdio {
		return false
	}
	if e := c.Server.Console.Enabled; e != nil {
		return *e
	}
	return isLoopback(c.Server.Host) && c.ConsoleOpen()
}

// ConsoleOpen reports whether the console needs no sign-in: the
// server-wide auth.mode is none.
func (c *Config) ConsoleOpen() bool {
	return c.Auth == nil || c.Auth.Mode == AuthNone || c.Auth.Mode == ""
}

func (c *Config) setConsoleDefaults() {
	if c.Server.Console.Path == "" {
		c.Server.Console.Path = DefaultConsolePath
	}
	if c.Server.Console.Enabled == nil {
		on := isLoopback(c.Server.Host) && c.ConsoleOpen()
		c.Server.Console.Enabled = &on
	}
}

func (v *validator) console() {
	const key = "server.console"
	con := v.c.Server.Console
	p := con.Path
	if !strings.HasPrefix(p, "/") || path.Clean(p) != p || strings.ContainsAny(p, " ?#{}") || p == "/" {
		v.add(key+".path", "%q must be a clean absolute URL path like /ui", p)
		return
	}
	first, _, _ := strings.Cut(strings.TrimPrefix(p, "/"), "/")
	switch first {
	case "mcp", "sse", "message", "health", "ready", ".well-known":
		v.add(key+".path", "%q is a path pgherd serves itself; use /ui or another path", p)
		return
	}
	if _, ok := v.c.Endpoints[first]; ok {
		v.add(key+".path", "%q is under endpoint %s's paths (/%s/…); use /ui or another path", p, first, first)
		return
	}
	if m := v.c.Server.Metrics; m.IsEnabled() && m.Listen == "" && (m.Path == p || strings.HasPrefix(m.Path, p+"/") || strings.HasPrefix(p, m.Path+"/")) {
		v.add(key+".path", "%q overlaps server.metrics.path %q; choose another path", p, m.Path)
	}
	if con.Enabled != nil && *con.Enabled && v.c.Auth != nil && v.c.Auth.Mode == AuthDatabaseLogin {
		v.add(key+".enabled", "operators sign in to the console with an API key or a JWT that has the %q scope, and auth.mode is database_login; "+
			"set server.console.enabled: false, or use auth.mode api_key or jwt server-wide (endpoints may keep database_login in their own auth block)", ConsoleScope)
	}
}
