package config

import (
	"fmt"
	"strconv"
	"strings"
)

// Environment variables that override the file. They are applied after the
// file is decoded and before defaults, so they win over both.
const (
	EnvTransportMode     = "TRANSPORT_MODE"      // stdio | http | sse
	EnvMCPTransport      = "MCP_TRANSPORT"       // stdio | http | streamable-http | sse
	EnvHTTPHost          = "HTTP_HOST"           // server.host
	EnvMCPHost           = "MCP_HOST"            // server.host
	EnvHTTPPort          = "HTTP_PORT"           // server.port
	EnvMCPPort           = "MCP_PORT"            // server.port
	EnvRequireAuthHeader = "REQUIRE_AUTH_HEADER" // auth.required everywhere
	EnvDatabaseURI       = "DATABASE_URI"        // the one endpoint's database_uri
)

// envPath is how problems with an environment variable are located.
func envPath(name string) string { return "env " + name }

// envOverride reads two variables that mean the same thing (HTTP_PORT and
// MCP_PORT). An empty value counts as unset. It returns the parsed value and
// the variable it came from; ok is false when neither is set or a value is
// bad. Two different values are an error naming both.
func envOverride[T comparable](env func(string) (string, bool), a, b string, parse func(variable, v string) (T, error), errs *Errors) (value T, from string, ok bool) {
	type found struct {
		name, raw string
		value     T
	}
	var got []found
	bad := false
	for _, name := range []string{a, b} {
		raw, set := lookupEnv(env, name)
		if !set {
			continue
		}
		v, err := parse(name, raw)
		if err != nil {
			errs.add(envPath(name), "%v", err)
			bad = true
			continue
		}
		got = append(got, found{name, raw, v})
	}
	switch {
	case bad || len(got) == 0:
		return value, "", false
	case len(got) == 2 && got[0].value != got[1].value:
		errs.add(envPath(a), "%q conflicts with %s=%q; set only one of them", got[0].raw, b, got[1].raw)
		return value, "", false
	}
	return got[0].value, got[0].name, true
}

func lookupEnv(env func(string) (string, bool), name string) (string, bool) {
	v, ok := env(name)
	v = strings.TrimSpace(v)
	return v, ok && v != ""
}

// transportFromEnv maps the accepted spellings of each variable to a
// Transport.
var transportFromEnv = map[string]map[string]Transport{
	EnvTransportMode: {"stdio": TransportStdio, "http": TransportHTTP, "sse": TransportHTTP},
	EnvMCPTransport:  {"stdio": TransportStdio, "http": TransportHTTP, "streamable-http": TransportHTTP, "sse": TransportHTTP},
}

// applyEnv applies the environment overrides to c and records, in
// c.envPaths, which config paths now come from which variable.
func (c *Config) applyEnv(env func(string) (string, bool)) Errors {
	var errs Errors
	c.envPaths = map[string]string{}
	note := func(path, variable string) { c.envPaths[path] = envPath(variable) }

	parseTransport := func(variable, v string) (Transport, error) {
		t, ok := transportFromEnv[variable][strings.ToLower(v)]
		if !ok {
			valid := map[string]string{
				EnvTransportMode: "stdio, http, sse",
				EnvMCPTransport:  "stdio, http, streamable-http, sse",
			}
			return "", fmt.Errorf("%q is not one of %s", v, valid[variable])
		}
		return t, nil
	}
	if t, from, ok := envOverride(env, EnvTransportMode, EnvMCPTransport, parseTransport, &errs); ok {
		c.Server.Transport = t
		note("server.transport", from)
	}

	parseHost := func(_, v string) (string, error) { return strings.ToLower(v), nil }
	if h, from, ok := envOverride(env, EnvHTTPHost, EnvMCPHost, parseHost, &errs); ok {
		c.Server.Host = h
		note("server.host", from)
	}

	parsePort := func(_, v string) (int, error) {
		p, err := strconv.Atoi(v)
		if err != nil || p < 0 || p > 65535 {
			return 0, fmt.Errorf("%q is not a port number; use 1-65535, or 0 for any free port", v)
		}
		return p, nil
	}
	if p, from, ok := envOverride(env, EnvHTTPPort, EnvMCPPort, parsePort, &errs); ok {
		c.Server.Port = p
		note("server.port", from)
		if c.zeros == nil {
			c.zeros = map[string]bool{}
		}
		if p == 0 {
			c.zeros["server.port"] = true
		} else {
			delete(c.zeros, "server.port")
		}
	}

	if v, ok := lookupEnv(env, EnvRequireAuthHeader); ok {
		required, err := parseBool(v)
		if err != nil {
			errs.add(envPath(EnvRequireAuthHeader), "%v (also accepted: yes/no, 1/0)", err)
		} else {
			if c.Auth == nil {
				c.Auth = &Auth{}
			}
			c.Auth.Required = &required
			note("auth.required", EnvRequireAuthHeader)
			for name, e := range c.Endpoints {
				if e != nil && e.Auth != nil {
					r := required
					e.Auth.Required = &r
					note(joinKey(joinKey("endpoints", name), "auth")+".required", EnvRequireAuthHeader)
				}
			}
		}
	}

	if v, ok := lookupEnv(env, EnvDatabaseURI); ok {
		switch names := c.Names(); len(names) {
		case 0:
			c.Endpoints = map[string]*Endpoint{DefaultEndpoint: {Name: DefaultEndpoint, DatabaseURI: Secret(v)}}
			note("endpoints."+DefaultEndpoint+".database_uri", EnvDatabaseURI)
		case 1:
			e := c.Endpoints[names[0]]
			if e == nil {
				e = &Endpoint{}
				c.Endpoints[names[0]] = e
			}
			e.DatabaseURI = Secret(v)
			note(joinKey(joinKey("endpoints", names[0]), "database_uri"), EnvDatabaseURI)
		default:
			errs.add(envPath(EnvDatabaseURI), "the file has %d endpoints (%s), so it is not clear which database this is; "+
				"unset %s and give each endpoint its own database_uri (database_uri: ${%s_DATABASE_URI})",
				len(names), strings.Join(names, ", "), EnvDatabaseURI, envVarName(names[0]))
		}
	}
	return errs
}

// envVarName turns a name into the conventional variable-name form:
// "app-1" → "APP_1".
func envVarName(name string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		}
		return '_'
	}, name)
}
