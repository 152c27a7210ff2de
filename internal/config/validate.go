package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/pgherd/pgherd/internal/access"
)

// Limits on values, as documented on the fields.
const (
	minBodyBytes        = 1 << 10
	maxBodyBytes        = 1 << 30
	maxPoolConns        = 1000
	maxRows             = 1_000_000
	maxStatementTimeout = 24 * time.Hour
	maxConcurrentCalls  = 10_000
	maxLeeway           = 5 * time.Minute
	minJWKSRefresh      = time.Second
	minHS256Secret      = 32
	minPlainKey         = 16
	maxToolName         = 128 // MCP's limit on tool names
	maxDatabasePools    = 100_000
	maxSessions         = 10_000_000
	maxCancelGrace      = time.Hour
)

var (
	endpointName = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,39}$`)
	toolPrefix   = regexp.MustCompile(`^[A-Za-z0-9_.-]{0,40}$`)
	keyHash      = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	keyName      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$`)
	settingName  = regexp.MustCompile(`^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$`)
	roleName     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$-]{0,62}$`)
)

// reservedNames are path segments pgherd serves itself or words with a
// meaning of their own, each with the reason.
var reservedNames = map[string]string{
	"mcp":        "pgherd serves /mcp itself",
	"sse":        "pgherd serves /sse itself",
	"message":    "pgherd serves /message itself",
	"messages":   "pgherd serves /messages itself",
	"health":     "pgherd serves /health itself",
	"ready":      "pgherd serves /ready itself",
	"metrics":    "pgherd serves /metrics itself",
	"main":       "it names the main /mcp endpoint",
	"well-known": "it is kept for /.well-known paths",
}

// databaseTools are the tools every database endpoint registers (with its
// prefix); mainTools are the main endpoint's own, never prefixed.
var (
	databaseTools = []string{
		"list_objects", "get_object_details", "execute_sql", "explain_query", "list_schemas",
		"analyze_workload_indexes", "analyze_query_indexes", "analyze_db_health", "get_top_queries",
	}
	mainTools = []string{"get_server_info", "get_sub_server_config", "list_all_servers", "calculate_stats", "herd_health"}
	toolTags  = []string{"read", "write", "admin"}
)

// reservedSettingPrefixes belong to PostgreSQL or to extensions, whose
// settings change how the server behaves: a tenant value must not reach them.
var reservedSettingPrefixes = []string{
	"pg_stat_statements", "auto_explain", "plpgsql", "hypopg", "pgaudit", "pg_trgm", "pg_hint_plan",
	"pg_prewarm", "pg_cron", "citus", "timescaledb", "postgres_fdw", "pg", "pgrst",
}

// validator collects the problems with one Config.
type validator struct {
	c    *Config
	errs Errors
}

// add records a problem at path, or at the environment variable the value
// came from.
func (v *validator) add(path, format string, args ...any) {
	if src, ok := v.c.envPaths[path]; ok {
		path = src
	}
	v.errs.add(path, format, args...)
}

func (c *Config) validate() Errors {
	v := &validator{c: c}
	v.server()
	v.observe()
	v.console()
	v.log()
	v.explicitZeros()
	if c.Auth != nil {
		v.auth("auth", c.Auth, "")
	}
	if len(c.Endpoints) == 0 {
		v.add("endpoints", "none configured; add endpoints.NAME.database_uri or set DATABASE_URI")
	}
	for _, name := range c.Names() {
		v.endpoint(name, c.Endpoints[name])
	}
	v.composed()
	v.rateLimits()
	return v.errs
}

func (v *validator) server() {
	s := &v.c.Server
	if msg := checkHost(s.Host); msg != "" {
		v.add("server.host", "%s", msg)
	}
	if s.Port < 0 || s.Port > 65535 {
		v.add("server.port", "%d is out of range; use 1-65535, or 0 for any free port", s.Port)
	}
	switch s.Transport {
	case TransportHTTP, TransportStdio:
	default:
		v.add("server.transport", "%q is not one of http, stdio (http serves Streamable HTTP and the legacy SSE transport)", s.Transport)
	}
	switch s.SessionMode {
	case Stateless, Stateful:
	default:
		v.add("server.session_mode", "%q is not one of stateless, stateful", s.SessionMode)
	}
	v.duration("server.session_timeout", s.SessionTimeout, 0)
	v.duration("server.shutdown_timeout", s.ShutdownTimeout, 0)
	if s.MaxBodyBytes < minBodyBytes || s.MaxBodyBytes > maxBodyBytes {
		v.add("server.max_body_bytes", "%d is out of range; use 1KiB (1024) to 1GiB (1073741824)", s.MaxBodyBytes)
	}
	if s.MaxSessions < 1 || s.MaxSessions > maxSessions {
		v.add("server.max_sessions", "%d is out of range; use 1-%d", s.MaxSessions, maxSessions)
	}
	if s.MaxSessionsPerTenant < 1 || s.MaxSessionsPerTenant > s.MaxSessions {
		v.add("server.max_sessions_per_tenant", "%d is out of range; use 1 to server.max_sessions (%d)", s.MaxSessionsPerTenant, s.MaxSessions)
	}
	v.duration("server.write_timeout", s.WriteTimeout, 0)
	for i, o := range s.AllowedOrigins {
		if msg := checkOrigin(o); msg != "" {
			v.add(fmt.Sprintf("server.allowed_origins[%d]", i), "%s", msg)
		}
	}
	if s.PublicURL != "" {
		if msg := checkURL(s.PublicURL, false); msg != "" {
			v.add("server.public_url", "%s; write it like https://mcp.example.com", msg)
		}
	}
}

func (v *validator) log() {
	switch v.c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		v.add("log.level", "%q is not one of debug, info, warn, error", v.c.Log.Level)
	}
	switch v.c.Log.Format {
	case "json", "text":
	default:
		v.add("log.format", "%q is not one of json, text", v.c.Log.Format)
	}
}

// explicitZeros reports numbers the file set to 0 where 0 means nothing:
// zero would otherwise silently become the default.
func (v *validator) explicitZeros() {
	paths := make([]string, 0, len(v.c.zeros))
	for p := range v.c.zeros {
		if p == "server.port" || p == auditMaxWaitPath || strings.HasSuffix(p, ".pool.min_conns") || strings.HasSuffix(p, "jwt.leeway") || healthZeroOK(p) ||
			p == "server.rate_limit.rate" || strings.HasSuffix(p, ".limits.rate") {
			continue
		}
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, p := range paths {
		v.add(p, "must be more than 0; remove the key to use the default")
	}
}

// duration checks that d is positive and, when limit is set, at most limit.
func (v *validator) duration(path string, d Duration, limit time.Duration) {
	switch {
	case d <= 0:
		v.add(path, "must be more than 0, got %s", d)
	case limit > 0 && d.D() > limit:
		v.add(path, "%s is more than the limit of %s", d, fmtDuration(limit))
	}
}

func fmtDuration(d time.Duration) string { return Duration(d).String() }

func (v *validator) endpoint(name string, e *Endpoint) {
	path := joinKey("endpoints", name)
	validName := false
	if why, reserved := reservedNames[name]; reserved {
		v.add(path, "%q is reserved (%s); choose another name, like %s_db", name, why, name)
	} else if !endpointName.MatchString(name) {
		hint := ""
		if strings.Contains(name, "${") {
			hint = " (keys are never expanded: ${…} works in values only)"
		}
		v.add(path, "%q is not a valid endpoint name: it becomes the URL path /NAME/mcp and the tool prefix, "+
			"so use 1-40 lower-case letters, digits, _ or -, starting with a letter%s", name, hint)
	} else {
		validName = true
	}
	if _, err := access.Parse(string(e.AccessMode)); err != nil {
		v.add(path+".access_mode", "%v", err)
	}
	prefix := e.ToolPrefix()
	switch {
	case !validName && prefix == name:
		// The prefix defaults to the name, already reported.
	case !toolPrefix.MatchString(prefix):
		v.add(path+".prefix", "%q is not a valid tool prefix; use up to 40 letters, digits, _, . or -", prefix)
	case len(toolName(prefix, "analyze_workload_indexes")) > maxToolName:
		v.add(path+".prefix", "makes tool names longer than MCP's %d characters; shorten it", maxToolName)
	}

	a := v.c.EffectiveAuth(name)
	v.databaseURI(path, e, a)
	v.pool(path+".pool", &e.Pool)
	v.limits(path+".limits", &e.Limits)
	if e.Health != nil {
		v.health(path+".health", e.Health)
	}
	switch e.ConfirmDestructive {
	case ConfirmElicit, ConfirmNever, ConfirmRefuse:
	default:
		v.add(path+".confirm_destructive", "%q is not one of elicit, never, refuse (elicit, the default, asks the user before a statement drops, truncates or rewrites data)", string(e.ConfirmDestructive))
	}
	if e.Auth != nil {
		if !e.Served() {
			v.add(path+".auth", "%s is composed into /mcp (endpoint: false), which uses the server-wide auth; "+
				"remove this block, or set endpoint: true to serve it at /%s/mcp with its own auth", name, name)
		}
		v.auth(path+".auth", e.Auth, name)
	}
	v.tenants(path, e, a)
	v.tenantSettings(path, e)
}

// toolName is the name a tool gets under a prefix.
func toolName(prefix, tool string) string {
	if prefix == "" {
		return tool
	}
	return prefix + "_" + tool
}

func (v *validator) databaseURI(path string, e *Endpoint, a *Auth) {
	p := path + ".database_uri"
	if e.DatabaseURI != "" {
		if msg := checkDatabaseURI(e.DatabaseURI.Reveal()); msg != "" {
			v.add(p, "%s", msg)
		}
		return
	}
	var shared []string // tenants that would use the endpoint's own database
	for _, t := range sortedKeys(e.Tenants) {
		if e.Tenants[t] == nil || e.Tenants[t].DatabaseURI == "" {
			shared = append(shared, t)
		}
	}
	switch {
	case a != nil && a.Mode == AuthDatabaseLogin:
		v.add(p, "required: mode database_login takes the host and database from it (each request brings the user and password); "+
			"write postgres://HOST:5432/DBNAME")
	case len(e.Tenants) == 0:
		v.add(p, "required; write postgres://USER:PASSWORD@HOST:5432/DBNAME, preferably from the environment (database_uri: ${%s_DATABASE_URI})",
			envVarName(e.Name))
	case len(shared) > 0:
		who := "tenant " + shared[0] + " has"
		if len(shared) > 1 {
			who = "tenants " + strings.Join(shared, ", ") + " have"
		}
		v.add(p, "required: %s no database_uri of its own; set database_uri, or give every tenant one", who)
	case a == nil || a.Mode == AuthNone && a.Anonymous == nil:
		v.add(p, "required: with auth mode none and no auth.anonymous identity no request names a tenant; set database_uri")
	case a.Anonymous != nil && e.Tenants[a.Anonymous.Tenant] == nil:
		v.add(p, "required: anonymous requests (tenant %q) have no database here; set database_uri, or add tenants.%s",
			a.Anonymous.Tenant, a.Anonymous.Tenant)
	default:
		// Every API key that reaches this endpoint must find its tenant.
		base := "auth"
		if e.Auth != nil {
			base = path + ".auth"
		}
		for i, k := range a.APIKeys {
			if k == nil || !k.reaches(e) || e.Tenants[k.Tenant] != nil {
				continue
			}
			v.add(fmt.Sprintf("%s.api_keys[%d].tenant", base, i),
				"tenant %q has no database on endpoint %s (no database_uri there and no tenants.%s); add one of them",
				k.Tenant, e.Name, k.Tenant)
		}
	}
}

// reaches reports whether the key may be used on endpoint e.
func (k *APIKey) reaches(e *Endpoint) bool {
	return len(k.Endpoints) == 0 || slices.Contains(k.Endpoints, e.Name) ||
		!e.Served() && slices.Contains(k.Endpoints, MainEndpoint)
}

func (v *validator) pool(path string, p *Pool) {
	if p.MaxConns < 1 || p.MaxConns > maxPoolConns {
		v.add(path+".max_conns", "%d is out of range; use 1-%d", p.MaxConns, maxPoolConns)
	}
	if p.MinConns < 0 || p.MinConns > p.MaxConns {
		v.add(path+".min_conns", "%d is out of range; use 0 to max_conns (%d)", p.MinConns, p.MaxConns)
	}
	v.duration(path+".acquire_timeout", p.AcquireTimeout, 0)
	v.duration(path+".max_conn_lifetime", p.MaxConnLifetime, 0)
	v.duration(path+".max_conn_idle_time", p.MaxConnIdleTime, 0)
}

func (v *validator) limits(path string, l *Limits) {
	v.duration(path+".statement_timeout", l.StatementTimeout, maxStatementTimeout)
	v.duration(path+".lock_timeout", l.LockTimeout, maxStatementTimeout)
	v.duration(path+".idle_in_transaction_session_timeout", l.IdleInTransactionTimeout, maxStatementTimeout)
	if l.MaxRows < 1 || l.MaxRows > maxRows {
		v.add(path+".max_rows", "%d is out of range; use 1-%d", l.MaxRows, maxRows)
	}
	if l.MaxResultBytes < minBodyBytes || l.MaxResultBytes > maxBodyBytes {
		v.add(path+".max_result_bytes", "%d is out of range; use 1KiB (1024) to 1GiB (1073741824)", l.MaxResultBytes)
	}
	if l.MaxConcurrentCalls < 1 || l.MaxConcurrentCalls > maxConcurrentCalls {
		v.add(path+".max_concurrent_calls", "%d is out of range; use 1-%d", l.MaxConcurrentCalls, maxConcurrentCalls)
	}
	v.duration(path+".cancel_grace", l.CancelGrace, maxCancelGrace)
}

func (v *validator) tenants(path string, e *Endpoint, a *Auth) {
	if len(e.Tenants) > 0 && a != nil && a.Mode == AuthDatabaseLogin {
		v.add(path+".tenants", "not used with auth mode database_login, where every caller connects with their own "+
			"PostgreSQL credentials; remove tenants")
	}
	for _, name := range sortedKeys(e.Tenants) {
		t := e.Tenants[name]
		p := joinKey(path+".tenants", name)
		if msg := checkTenant(name); msg != "" {
			v.add(p, "%s", msg)
		}
		switch {
		case t.DatabaseURI != "" && t.Role != "":
			v.add(p, "set database_uri or role, not both")
		case t.DatabaseURI == "" && t.Role == "":
			v.add(p, "needs database_uri (the tenant's own login role: the strong boundary) or role (SET ROLE on the endpoint's connections)")
		}
		if t.DatabaseURI != "" {
			if msg := checkDatabaseURI(t.DatabaseURI.Reveal()); msg != "" {
				v.add(p+".database_uri", "%s", msg)
			}
		}
		if t.Role != "" {
			if e.AccessMode == access.AdminRW {
				v.add(p+".role", "refused in admin_rw: SQL there is not validated, so the tenant could RESET ROLE and act as "+
					"the endpoint's own login; give the tenant its own database_uri (a login role) instead")
			}
			if msg := checkRole(t.Role); msg != "" {
				v.add(p+".role", "%s", msg)
			}
		}
	}
}

func (v *validator) tenantSettings(path string, e *Endpoint) {
	for _, name := range sortedKeys(e.TenantSettings) {
		p := joinKey(path+".tenant_settings", name)
		if msg := checkSettingName(name); msg != "" {
			v.add(p, "%s", msg)
		}
		if msg := checkSettingValue(e.TenantSettings[name]); msg != "" {
			v.add(p, "%s", msg)
		}
	}
}

// composed checks that the endpoints composed into /mcp give distinct tool
// names there.
func (v *validator) composed() {
	owner := map[string]string{} // tool name in /mcp → who has it
	for _, t := range mainTools {
		owner[t] = "the main endpoint"
	}
	prefixes := map[string]string{}
	for _, name := range v.c.Names() {
		e := v.c.Endpoints[name]
		if e.Served() {
			continue
		}
		p := joinKey("endpoints", name) + ".prefix"
		prefix := e.ToolPrefix()
		if other, dup := prefixes[prefix]; dup {
			v.add(p, "%q is also the prefix of endpoint %s; both are composed into /mcp (endpoint: false), "+
				"where tool names must be unique: choose another prefix", prefix, other)
			continue
		}
		prefixes[prefix] = name
		for _, t := range databaseTools {
			full := toolName(prefix, t)
			if o, clash := owner[full]; clash {
				v.add(p, "%q makes tool %s, which %s already has in /mcp; choose another prefix", prefix, full, o)
				break
			}
			owner[full] = "endpoint " + name
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// checkHost returns what is wrong with a listen host, or "".
func checkHost(h string) string {
	if strings.HasPrefix(h, "[") {
		return fmt.Sprintf("write IPv6 addresses without brackets (%s)", strings.Trim(h, "[]"))
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return ""
	}
	if _, port, err := net.SplitHostPort(h); err == nil {
		return fmt.Sprintf("%q includes a port; put %s in server.port", h, port)
	}
	if !isHostname(h) {
		return fmt.Sprintf("%q is not an IP address or host name; write e.g. 127.0.0.1, 0.0.0.0 or mcp.internal", h)
	}
	return ""
}

func isHostname(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
				return false
			}
		}
	}
	return true
}

// isLoopback reports whether host only accepts connections from this
// machine.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// checkOrigin returns what is wrong with an allowed origin, or "".
func checkOrigin(o string) string {
	if strings.Contains(o, "*") {
		return fmt.Sprintf("%q: wildcards are not supported; list each origin (https://app.example.com)", o)
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Opaque != "" {
		return fmt.Sprintf("%q is not an origin; write scheme://host[:port], like https://app.example.com", o)
	}
	if u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return fmt.Sprintf("%q: an origin has no path; write %s://%s", o, u.Scheme, u.Host)
	}
	return ""
}

// checkURL returns what is wrong with an absolute http(s) URL, or "".
// loopbackHTTP allows http only for loopback hosts (https elsewhere).
func checkURL(s string, loopbackHTTP bool) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return fmt.Sprintf("%q is not an absolute URL", s)
	}
	switch {
	case u.User != nil:
		return fmt.Sprintf("%q: remove the user name and password from the URL", s)
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return fmt.Sprintf("%q: remove the ?query and #fragment", s)
	case u.Scheme == "https":
		return ""
	case u.Scheme == "http" && (!loopbackHTTP || isLoopback(u.Hostname())):
		return ""
	case u.Scheme == "http":
		return fmt.Sprintf("%q must use https (http is accepted only for localhost)", s)
	}
	return fmt.Sprintf("%q is not an http(s) URL", s)
}

// checkTenant returns what is wrong with a tenant name, or "".
func checkTenant(t string) string {
	switch {
	case t == "":
		return "tenant name is empty"
	case len(t) > 128:
		return "tenant name is longer than 128 characters"
	case strings.IndexFunc(t, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return fmt.Sprintf("tenant name %q contains spaces or control characters", t)
	}
	return ""
}

// checkRole returns what is wrong with a role to SET ROLE to, or "".
func checkRole(r string) string {
	lower := strings.ToLower(r)
	switch {
	case slices.Contains([]string{"public", "none", "current_user", "session_user", "current_role"}, lower):
		return fmt.Sprintf("%q is a keyword, not a role; create a role for the tenant (CREATE ROLE tenant_a NOLOGIN)", r)
	case strings.HasPrefix(lower, "pg_"):
		return fmt.Sprintf("%q: pg_ roles are PostgreSQL's predefined roles; create a role for the tenant (CREATE ROLE tenant_a NOLOGIN)", r)
	case !roleName.MatchString(r):
		return fmt.Sprintf("%q is not a role name; use up to 63 letters, digits, _, $ or -, starting with a letter or _", r)
	}
	return ""
}

// checkSettingName returns what is wrong with a tenant setting's name, or
// "".
func checkSettingName(name string) string {
	if !settingName.MatchString(name) || len(name) > 127 {
		return fmt.Sprintf("%q is not a custom setting; use prefix.name in lower case (app.tenant_id): "+
			"built-in settings such as role or search_path are never allowed", name)
	}
	prefix, _, _ := strings.Cut(name, ".")
	if slices.Contains(reservedSettingPrefixes, prefix) {
		return fmt.Sprintf("%q belongs to PostgreSQL or an extension; use a prefix of your own (app.%s)", name, name[len(prefix)+1:])
	}
	return ""
}

// checkSettingValue returns what is wrong with a tenant setting's value, or
// "": every { must open {tenant} or {user}.
func checkSettingValue(val string) string {
	for rest := val; ; {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			return ""
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return `"{" without a closing "}"; only {tenant} and {user} may appear in braces`
		}
		switch name := rest[i+1 : i+j]; name {
		case "tenant", "user":
		default:
			return fmt.Sprintf("unknown placeholder {%s}; only {tenant} and {user} are replaced", name)
		}
		rest = rest[i+j+1:]
	}
}
