package config

import (
	"fmt"
	"net"
	"path"
	"strconv"
	"strings"
	"time"
)

// Metrics configures the Prometheus endpoint (server.metrics).
type Metrics struct {
	// Enabled serves the metrics; default true.
	Enabled *bool `yaml:"enabled"`
	// Path is the URL path; default /metrics.
	Path string `yaml:"path"`
	// Listen serves the metrics on a separate address (host:port, e.g.
	// 0.0.0.0:9464) instead of the main listener; port 0 picks any free
	// port.
	Listen string `yaml:"listen,omitempty"`
	// Auth protects the metrics with a bearer token; nil serves them to
	// anyone who can reach the path.
	Auth *MetricsAuth `yaml:"auth,omitempty"`
	// TenantLabels adds a tenant label to the tool-call metrics (at most 100
	// tenants; the rest count as _other). Default false.
	TenantLabels bool `yaml:"tenant_labels"`
}

// IsEnabled reports the effective value of Enabled (default true).
func (m *Metrics) IsEnabled() bool { return m.Enabled == nil || *m.Enabled }

// MetricsAuth is the bearer token scrapers send (Authorization: Bearer …).
type MetricsAuth struct {
	// TokenHash is "sha256:<64 hex>" of the token (pgherd hash-key).
	TokenHash string `yaml:"token_hash,omitempty"`
	// Token is a plain token, accepted only as a whole ${ENV} reference
	// (at least 16 characters); it is hashed into TokenHash at load and
	// cleared.
	Token Secret `yaml:"token,omitempty"`

	tokenFromEnv bool
}

// Audit configures the audit log: one JSON line per tool call and per
// refused authentication.
type Audit struct {
	Enabled bool `yaml:"enabled"`
	// Path is the file records are appended to (created 0600 if missing).
	// "stdout" means standard output, like Stdout.
	Path string `yaml:"path,omitempty"`
	// Stdout writes records to standard output (containers); not with the
	// stdio transport, whose stdout carries JSON-RPC.
	Stdout bool `yaml:"stdout,omitempty"`
	// IncludeParams records execute_sql's and explain_query's parameter
	// values; default false (statement text only).
	IncludeParams bool `yaml:"include_params"`
	// Buffer is how many records wait for the writer when the sink is slow;
	// default 10000.
	Buffer int `yaml:"buffer"`
	// MaxWait is the longest a call waits for room in a full buffer before
	// its record is dropped (and counted); default 10ms, 0s never waits.
	MaxWait Duration `yaml:"max_wait"`
}

// ToStdout reports whether records go to standard output.
func (a *Audit) ToStdout() bool { return a.Stdout || a.Path == "stdout" }

// Tracing configures OpenTelemetry tracing. Tracing is on when the standard
// OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
// variable is set; the OTEL_* variables configure the exporter.
type Tracing struct {
	// TraceSQL puts statement text (db.query.text) on database spans;
	// default false.
	TraceSQL bool `yaml:"trace_sql"`
}

// Defaults and limits of the observability settings.
const (
	DefaultMetricsPath   = "/metrics"
	defaultAuditBuffer   = 10_000
	defaultAuditMaxWait  = 10 * time.Millisecond
	maxAuditBuffer       = 1_000_000
	maxAuditMaxWait      = time.Second
	auditMaxWaitPath     = "audit.max_wait"
	metricsTokenEnvHint  = "PGHERD_METRICS_TOKEN"
	minMetricsTokenChars = minPlainKey
)

func (c *Config) setObserveDefaults() {
	m := &c.Server.Metrics
	if m.Enabled == nil {
		on := true
		m.Enabled = &on
	}
	if m.Path == "" {
		m.Path = DefaultMetricsPath
	}
	a := &c.Audit
	if a.Buffer == 0 {
		a.Buffer = defaultAuditBuffer
	}
	if a.MaxWait == 0 && !c.zeros[auditMaxWaitPath] {
		a.MaxWait = Duration(defaultAuditMaxWait)
	}
}

func (v *validator) observe() {
	m := &v.c.Server.Metrics
	if m.IsEnabled() {
		v.metricsPath(m.Path)
		if m.Listen != "" {
			host, port, err := net.SplitHostPort(m.Listen)
			n, perr := strconv.Atoi(port)
			switch {
			case err != nil:
				v.add("server.metrics.listen", "%q is not host:port; write it like 127.0.0.1:9464 or 0.0.0.0:9464", m.Listen)
			case perr != nil || n < 0 || n > 65535:
				v.add("server.metrics.listen", "port %q is out of range; use 1-65535, or 0 for any free port", port)
			case checkHost(host) != "" && host != "":
				v.add("server.metrics.listen", "%s", checkHost(host))
			case n != 0 && n == v.c.Server.Port && sameHost(host, v.c.Server.Host):
				v.add("server.metrics.listen", "%s is the main listener (server.host, server.port); choose another port, or remove listen to serve the metrics there", m.Listen)
			}
		}
	}
	if a := m.Auth; a != nil {
		switch {
		case a.TokenHash != "" && a.Token != "":
			v.add("server.metrics.auth", "set token_hash or token, not both")
		case a.TokenHash == "" && a.Token == "":
			v.add("server.metrics.auth", "needs token_hash: sha256:… (pgherd hash-key prints it), or token: ${%s} from the environment", metricsTokenEnvHint)
		case a.TokenHash != "" && !keyHash.MatchString(a.TokenHash):
			v.add("server.metrics.auth.token_hash", "must be sha256: and 64 lower-case hex digits, as pgherd hash-key prints it")
		case a.TokenHash != "":
		case !a.tokenFromEnv:
			v.add("server.metrics.auth.token", "a plain token is accepted only from the environment (token: ${%s}); store token_hash: sha256:… instead (pgherd hash-key prints it)", metricsTokenEnvHint)
		case len(a.Token) < minMetricsTokenChars:
			v.add("server.metrics.auth.token", "the token from the environment has %d characters; use at least %d (openssl rand -hex 32 makes one)", len(a.Token), minMetricsTokenChars)
		}
	}

	a := &v.c.Audit
	if a.Enabled {
		switch {
		case a.Stdout && a.Path != "" && a.Path != "stdout":
			v.add("audit", "set path or stdout: true, not both")
		case !a.ToStdout() && a.Path == "":
			v.add("audit", "enabled needs a destination: path: /var/log/pgherd/audit.jsonl, or stdout: true")
		}
	}
	if a.Buffer < 1 || a.Buffer > maxAuditBuffer {
		v.add("audit.buffer", "%d is out of range; use 1 to %d records", a.Buffer, maxAuditBuffer)
	}
	if a.MaxWait < 0 || a.MaxWait.D() > maxAuditMaxWait {
		v.add(auditMaxWaitPath, "%s is out of range; use 0s (never wait) to %s", a.MaxWait, fmtDuration(maxAuditMaxWait))
	}
}

// metricsPath checks that p is a clean absolute path pgherd serves nothing
// else at.
func (v *validator) metricsPath(p string) {
	const key = "server.metrics.path"
	if !strings.HasPrefix(p, "/") || path.Clean(p) != p || strings.ContainsAny(p, " ?#{}") {
		v.add(key, "%q must be a clean absolute URL path like /metrics", p)
		return
	}
	first, _, _ := strings.Cut(strings.TrimPrefix(p, "/"), "/")
	switch first {
	case "mcp", "sse", "message", "health", "ready", ".well-known", "":
		v.add(key, "%q is a path pgherd serves itself; use /metrics or another path", p)
		return
	}
	if _, ok := v.c.Endpoints[first]; ok {
		v.add(key, "%q is under endpoint %s's paths (/%s/…); use /metrics or another path", p, first, first)
	}
}

// sameHost reports whether two listen hosts may be the same address.
func sameHost(a, b string) bool {
	any := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return a == b || any(a) || any(b)
}

// MetricsListen returns the address the metrics are served on: the
// separate listener, or "" for the main one.
func (c *Config) MetricsListen() string {
	if !c.Server.Metrics.IsEnabled() {
		return ""
	}
	return c.Server.Metrics.Listen
}

// String describes where the metrics are, for logs.
func (m *Metrics) String() string {
	if !m.IsEnabled() {
		return "disabled"
	}
	where := "main listener"
	if m.Listen != "" {
		where = m.Listen
	}
	return fmt.Sprintf("%s on %s", m.Path, where)
}
