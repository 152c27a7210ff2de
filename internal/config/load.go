package config

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/pgherd/pgherd/internal/access"
)

// Load reads the YAML file at path and returns the effective configuration:
// see [Parse]. A relative jwt.public_key_file is taken relative to the
// file's directory. Problems with the content are returned as [Errors]; a
// file that cannot be read gives an error wrapping the os error.
func Load(path string, env func(string) (string, bool)) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return parse(data, env, filepath.Dir(path))
}

// Parse decodes a YAML configuration and returns the effective one:
//
//  1. the file, strictly: an unknown key is an error (with a suggestion when
//     it looks like a known one), and ${VAR} / ${VAR:-default} in values are
//     replaced from env ($$ is a literal $);
//  2. the environment overrides (TRANSPORT_MODE, MCP_TRANSPORT, HTTP_HOST,
//     MCP_HOST, HTTP_PORT, MCP_PORT, REQUIRE_AUTH_HEADER, DATABASE_URI),
//     read from env too;
//  3. defaults and validation, as [Config.Finish].
//
// env nil means [os.LookupEnv]. Every problem found is returned at once, as
// [Errors] sorted by key path; the Config is nil then.
func Parse(data []byte, env func(string) (string, bool)) (*Config, error) {
	return parse(data, env, "")
}

func parse(data []byte, env func(string) (string, bool), dir string) (*Config, error) {
	if env == nil {
		env = os.LookupEnv
	}
	root, err := parseYAML(data)
	if err != nil {
		return nil, Errors{{Message: err.Error()}}
	}
	c := &Config{}
	d := newDecoder(env)
	if root != nil {
		d.decode(root, reflect.ValueOf(c).Elem(), "")
	}
	if d.exhausted() {
		return nil, d.errs.err()
	}
	c.zeros = d.zeros
	c.resolveFiles(dir)
	errs := d.errs
	errs = append(errs, c.applyEnv(env)...)
	c.setDefaults()
	for _, e := range c.validate() {
		// A value that failed to decode was already reported; what
		// validation says about the zero left in its place would only
		// confuse.
		if !failedUnder(d.failed, e.Path) {
			errs = append(errs, e)
		}
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	c.hashKeys()
	return c, nil
}

// resolveFiles makes relative file paths relative to dir (the config file's
// directory); "" leaves them relative to the working directory.
func (c *Config) resolveFiles(dir string) {
	if dir == "" {
		return
	}
	fix := func(a *Auth) {
		if a != nil && a.JWT != nil && a.JWT.PublicKeyFile != "" && !filepath.IsAbs(a.JWT.PublicKeyFile) {
			a.JWT.PublicKeyFile = filepath.Join(dir, a.JWT.PublicKeyFile)
		}
	}
	fix(c.Auth)
	for _, e := range c.Endpoints {
		if e != nil {
			fix(e.Auth)
		}
	}
}

// ForDatabase returns the configuration of the stdio quick form
// (pgherd stdio --database-url URL --access-mode MODE): one endpoint named
// after the database ([NameFor]), served on its own, with no tool prefix,
// transport stdio, everything else default. It goes through
// [Config.Finish], so a bad URI or mode comes back as [Errors] (located at
// endpoints.NAME.database_uri and endpoints.NAME.access_mode).
func ForDatabase(uri string, mode access.Mode) (*Config, error) {
	noPrefix := ""
	name := NameFor(uri)
	c := &Config{
		Server: Server{Transport: TransportStdio},
		Endpoints: map[string]*Endpoint{name: {
			Name:        name,
			DatabaseURI: Secret(uri),
			AccessMode:  mode,
			Prefix:      &noPrefix,
		}},
	}
	if err := c.Finish(); err != nil {
		return nil, err
	}
	return c, nil
}

// NameFor returns the endpoint name for a database URI: the database's
// name, lowercased, with characters an endpoint name cannot have replaced
// by "_" ("Sales-2024" → "sales-2024", "my.db" → "my_db"), or
// [DefaultEndpoint] when the URI names no database or the name cannot be
// made valid. Clients show it (server name, instructions).
func NameFor(uri string) string {
	var db string
	if u, err := url.Parse(uri); err == nil && u.Scheme != "" {
		db = strings.TrimPrefix(u.Path, "/")
		if db == "" {
			db = u.Query().Get("dbname")
		}
	} else {
		for _, f := range strings.Fields(uri) { // keyword/value form
			if v, ok := strings.CutPrefix(f, "dbname="); ok {
				db = strings.Trim(v, "'")
			}
		}
	}
	var b strings.Builder
	for _, r := range strings.ToLower(db) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	name := b.String()
	if len(name) > 40 {
		name = name[:40]
	}
	if !endpointName.MatchString(name) {
		return DefaultEndpoint
	}
	return name
}

// Finish makes a Config built in code (or by [ForDatabase]) ready for use,
// as [Parse] does for a file: it sets each Endpoint.Name from its map key,
// fills every default, validates, and replaces plain API keys by their
// hashes. It returns [Errors] listing every problem. A plain APIKey.Key set
// in code is refused: keys are accepted in plain text only from the
// environment. Finish may be called again after a change.
func (c *Config) Finish() error {
	c.setDefaults()
	if err := c.validate().err(); err != nil {
		return err
	}
	c.hashKeys()
	return nil
}

// Validate reports every problem with c as [Errors] (nil if none), without
// changing it. It expects defaults filled, as [Config.Finish] does first.
func (c *Config) Validate() error { return c.validate().err() }

// hashKeys replaces each plain API key by its hash; validation has accepted
// it.
func (c *Config) hashKeys() {
	hash := func(a *Auth) {
		if a == nil {
			return
		}
		for _, k := range a.APIKeys {
			if k != nil && k.Key != "" {
				k.KeyHash = HashKey(k.Key.Reveal())
				k.Key = ""
			}
		}
	}
	hash(c.Auth)
	if a := c.Server.Metrics.Auth; a != nil && a.Token != "" {
		a.TokenHash = HashKey(a.Token.Reveal())
		a.Token = ""
	}
	for _, e := range c.Endpoints {
		hash(e.Auth)
	}
}

// Names returns the endpoint names, sorted.
func (c *Config) Names() []string {
	names := make([]string, 0, len(c.Endpoints))
	for name := range c.Endpoints {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// MainEndpoint names the main /mcp endpoint in [Config.EffectiveAuth] and
// [Config.EndpointURL] (as does "").
const MainEndpoint = "main"

// EffectiveAuth returns the authentication that applies to the named
// endpoint: its own auth block if it has one, else the server-wide one. ""
// and "main" name the main /mcp endpoint (server-wide auth). It returns nil
// for an unknown name, and for the server-wide auth of a Config that has not
// been through [Config.Finish] or [Parse].
func (c *Config) EffectiveAuth(name string) *Auth {
	if name == "" || name == MainEndpoint {
		return c.Auth
	}
	e, ok := c.Endpoints[name]
	if !ok {
		return nil
	}
	if e != nil && e.Auth != nil {
		return e.Auth
	}
	return c.Auth
}

// EndpointURL returns the canonical URL of the named endpoint
// (server.public_url + "/app1/mcp"), the JWT audience it expects by default;
// "" and "main" give the main endpoint's URL (public_url + "/mcp"). It does
// not check that the endpoint exists.
func (c *Config) EndpointURL(name string) string {
	base := c.Server.PublicURL
	if base == "" {
		base = "http://" + c.Listen()
	}
	if name == "" || name == MainEndpoint {
		return base + "/mcp"
	}
	return base + "/" + name + "/mcp"
}
