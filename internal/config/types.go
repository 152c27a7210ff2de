package config

import (
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration written as "30s", "5m", "1h30m" in YAML.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("%q is not a duration; write it like 30s, 5m or 1h", n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// Secret is a string that never prints: String, LogValue and MarshalYAML
// redact it. Reveal returns the value for the one place that needs it.
type Secret string

// Redacted is what a secret prints as.
const Redacted = "REDACTED"

// Reveal returns the secret value.
func (s Secret) Reveal() string { return string(s) }

// String redacts: a URI keeps everything but its password, anything else
// prints as REDACTED (empty stays empty).
func (s Secret) String() string { return RedactURI(string(s)) }

// LogValue redacts for slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalYAML redacts.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// RedactURI hides the password of a postgres:// URI (and of key=value DSNs);
// any other non-empty string becomes REDACTED.
func RedactURI(s string) string {
	if s == "" {
		return ""
	}
	if u, err := url.Parse(s); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), Redacted)
		}
		q := u.Query()
		if q.Has("password") {
			q.Set("password", Redacted)
			u.RawQuery = q.Encode()
		}
		return strings.Replace(u.String(), url.QueryEscape(Redacted), Redacted, -1)
	}
	if strings.Contains(s, "=") && !strings.Contains(s, "://") {
		// key=value DSN: mask password=...
		fields := strings.Fields(s)
		for i, f := range fields {
			if k, _, ok := strings.Cut(f, "="); ok && strings.EqualFold(k, "password") {
				fields[i] = k + "=" + Redacted
			}
		}
		return strings.Join(fields, " ")
	}
	return Redacted
}
