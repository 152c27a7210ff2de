package config

import (
	"bytes"
	"net/url"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Redacted returns the effective configuration as YAML with every secret
// masked: URIs keep user, host and database but lose their password, API
// keys show only their key_hash, other secrets print as REDACTED. It is what
// pgherd check-config prints. Defaults appear filled in.
func (c *Config) Redacted() ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// RedactURI hides the passwords of a postgres:// URI (in the user info and
// the password and sslpassword parameters) and of keyword=value settings;
// any other non-empty string becomes REDACTED. For a malformed URI it errs
// on the side of hiding too much.
func RedactURI(s string) string {
	if s == "" {
		return ""
	}
	if scheme, rest, ok := strings.Cut(s, "://"); ok {
		if !isPostgresScheme(scheme) {
			return Redacted
		}
		return scheme + "://" + redactURIRest(rest)
	}
	if strings.Contains(s, "=") {
		return redactKeywordValue(s)
	}
	return Redacted
}

// redactURIRest redacts what follows "postgres://".
func redactURIRest(rest string) string {
	if u, err := url.Parse("postgres://" + rest); err == nil && u.Fragment == "" && u.Opaque == "" &&
		strings.Count(rest, "@") == boolInt(u.User != nil) {
		// A clean URI: the components are certain.
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), Redacted)
		}
		q := u.Query()
		for k := range q {
			if isPasswordKey(k) {
				q[k] = []string{Redacted}
			}
		}
		u.RawQuery = q.Encode()
		out := strings.TrimPrefix(u.String(), "postgres://")
		return strings.ReplaceAll(out, url.QueryEscape(Redacted), Redacted)
	}
	// Malformed, or an @ in an odd place: mask everything from the first :
	// to the last @ (where a password in the user info could end), then
	// everything after a password= (where a query password could end).
	out := rest
	if at := strings.LastIndexByte(out, '@'); at >= 0 {
		if colon := strings.IndexByte(out[:at], ':'); colon >= 0 {
			out = out[:colon+1] + Redacted + out[at:]
		}
	}
	lower := strings.ToLower(out)
	if i := strings.Index(lower, "password="); i >= 0 {
		out = out[:i+len("password=")] + Redacted
	}
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// keywordValue is one setting of a keyword=value connection string.
type keywordValue struct {
	key   string
	value string // unquoted
	raw   string // as written, quotes included
}

// keywordValues splits a keyword=value connection string the way libpq
// does (values may be 'quoted' with \ escapes). It returns nil when s does
// not follow that syntax.
func keywordValues(s string) []keywordValue {
	var out []keywordValue
	for {
		s = strings.TrimLeft(s, " \t\n\r\f\v")
		if s == "" {
			return out
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return nil
		}
		key := strings.TrimSpace(s[:eq])
		if strings.ContainsAny(key, " \t\n\r'") {
			return nil
		}
		s = strings.TrimLeft(s[eq+1:], " \t\n\r\f\v")
		var val strings.Builder
		start := s
		if strings.HasPrefix(s, "'") {
			s = s[1:]
			closed := false
			for s != "" {
				c := s[0]
				s = s[1:]
				if c == '\\' && s != "" {
					val.WriteByte(s[0])
					s = s[1:]
					continue
				}
				if c == '\'' {
					closed = true
					break
				}
				val.WriteByte(c)
			}
			if !closed {
				return nil
			}
		} else {
			for s != "" && !strings.ContainsRune(" \t\n\r\f\v", rune(s[0])) {
				c := s[0]
				s = s[1:]
				if c == '\\' && s != "" {
					val.WriteByte(s[0])
					s = s[1:]
					continue
				}
				val.WriteByte(c)
			}
		}
		out = append(out, keywordValue{key: key, value: val.String(), raw: start[:len(start)-len(s)]})
	}
}

// redactKeywordValue masks the password settings of a keyword=value
// connection string; one it cannot split is masked whole.
func redactKeywordValue(s string) string {
	kvs := keywordValues(s)
	if kvs == nil {
		return Redacted
	}
	parts := make([]string, len(kvs))
	for i, kv := range kvs {
		if isPasswordKey(kv.key) {
			parts[i] = kv.key + "=" + Redacted
		} else {
			parts[i] = kv.key + "=" + kv.raw
		}
	}
	return strings.Join(parts, " ")
}
