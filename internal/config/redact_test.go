package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// secretConfig has a secret in every kind of place one can be.
const secretConfig = `
auth:
  mode: api_key
  api_keys:
    - name: alice
      key: ${ALICE_KEY}
endpoints:
  app1:
    database_uri: postgres://app1:pw-in-userinfo@db.internal:5432/app1?sslmode=require
    tenants:
      acme:
        database_uri: "host=db.internal user=acme password='pw in keyword value' dbname=app1"
      globex:
        database_uri: postgres://globex@db.internal/app1?password=pw-in-query
  app2:
    database_uri: postgres://app2:pw-in-app2@db.internal/app2
    auth:
      mode: jwt
      jwt:
        issuer: https://idp.example.com
        hs256_secret: ${JWT_SECRET}
`

var secrets = []string{
	"pw-in-userinfo", "pw in keyword value", "pw-in-query", "pw-in-app2",
	"alice-plain-key-0123456789", "jwt-shared-secret-0123456789-0123456789",
}

func loadSecretConfig(t *testing.T) *Config {
	t.Helper()
	c, err := Parse([]byte(secretConfig), mapEnv(map[string]string{
		"ALICE_KEY":  "alice-plain-key-0123456789",
		"JWT_SECRET": "jwt-shared-secret-0123456789-0123456789",
	}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Every way a Config or one of its parts gets printed must hide the
// secrets: the check-config output, fmt verbs, and slog in both formats.
func TestSecretsDoNotLeak(t *testing.T) {
	c := loadSecretConfig(t)
	e := c.Endpoints["app1"]
	redacted, err := c.Redacted()
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{"Redacted": string(redacted)}
	for _, v := range []struct {
		name  string
		value any
	}{
		{"Config", c}, {"*Config", *c}, {"Endpoint", e}, {"*Endpoint", *e},
		{"Tenant", e.Tenants["acme"]}, {"*Tenant", *e.Tenants["globex"]},
		{"JWT", c.Endpoints["app2"].Auth.JWT}, {"APIKey", c.Auth.APIKeys[0]},
		{"Secret", e.DatabaseURI}, {"[]Secret", []Secret{e.DatabaseURI}},
	} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
			outputs[verb+" of "+v.name] = fmt.Sprintf(verb, v.value)
		}
		var jsonLog, textLog bytes.Buffer
		slog.New(slog.NewJSONHandler(&jsonLog, nil)).Info("config", "value", v.value)
		slog.New(slog.NewTextHandler(&textLog, nil)).Info("config", "value", v.value)
		outputs["slog JSON of "+v.name] = jsonLog.String()
		outputs["slog text of "+v.name] = textLog.String()
		j, err := json.Marshal(v.value)
		if err != nil {
			t.Fatal(err)
		}
		outputs["json of "+v.name] = string(j)
	}
	for name, out := range outputs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s contains the secret %q:\n%s", name, s, out)
			}
		}
	}
	// Redaction must hide the secret, not everything: an operator still
	// needs to see which database and user a URI names.
	for _, want := range []string{
		"postgres://app1:REDACTED@db.internal:5432/app1?sslmode=require",
		"host=db.internal user=acme password=REDACTED dbname=app1",
		"postgres://globex@db.internal/app1?password=REDACTED",
		"hs256_secret: REDACTED",
		"key_hash: " + HashKey("alice-plain-key-0123456789"),
	} {
		if !strings.Contains(string(redacted), want) {
			t.Errorf("Redacted() lacks %q:\n%s", want, redacted)
		}
	}
	if strings.Contains(string(redacted), "key:") {
		t.Errorf("Redacted() still shows a plain key:\n%s", redacted)
	}
}

// The plain key is hashed at load and not kept anywhere in the Config.
func TestPlainKeyIsHashedAndCleared(t *testing.T) {
	c := loadSecretConfig(t)
	k := c.Auth.APIKeys[0]
	if k.Key != "" {
		t.Errorf("Key = %q after load, want it cleared", k.Key.Reveal())
	}
	if want := HashKey("alice-plain-key-0123456789"); k.KeyHash != want {
		t.Errorf("KeyHash = %q, want %q", k.KeyHash, want)
	}
	if k.Tenant != "alice" {
		t.Errorf("Tenant = %q, want the name (alice) by default", k.Tenant)
	}
}

func TestRedactURI(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"postgres://u:secret@h:5432/db", "postgres://u:REDACTED@h:5432/db"},
		{"postgresql://u:secret@h/db?sslmode=verify-full", "postgresql://u:REDACTED@h/db?sslmode=verify-full"},
		{"postgres://u@h/db", "postgres://u@h/db"},
		{"postgres://h/db", "postgres://h/db"},
		{"postgres:///db?host=/tmp", "postgres:///db?host=%2Ftmp"},
		{"postgres://u:p%40ss@h/db", "postgres://u:REDACTED@h/db"},
		{"postgres://u@h/db?password=secret&sslmode=require", "postgres://u@h/db?password=REDACTED&sslmode=require"},
		{"postgres://u@h/db?sslpassword=secret", "postgres://u@h/db?sslpassword=REDACTED"},
		// Malformed: the password holds characters that end the user info.
		{"postgres://u:se#cret@h/db", "postgres://u:REDACTED@h/db"},
		{"postgres://u:12/cret@h/db", "postgres://u:REDACTED@h/db"},
		{"postgres://u:se@cret@h/db", "postgres://u:REDACTED@h/db"},
		{"postgres://u:se?cret@h/db?password=x", "postgres://u:REDACTED@h/db?password=REDACTED"},
		{"postgres://u:secret@h1:5432,h2:5432/db", "postgres://u:REDACTED@h1:5432,h2:5432/db"},
		{"host=h user=u password=secret dbname=db", "host=h user=u password=REDACTED dbname=db"},
		{"host=h password = 'se cret \\' x' dbname=db", "host=h password=REDACTED dbname=db"},
		{"host=h password='unterminated", Redacted},
		{"mysql://u:secret@h/db", Redacted},
		{"just-a-secret", Redacted},
	}
	for _, tt := range tests {
		if got := RedactURI(tt.in); got != tt.want {
			t.Errorf("RedactURI(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzRedactURI checks that whatever the password is, neither RedactURI nor
// a validation message quotes it.
func FuzzRedactURI(f *testing.F) {
	for _, pw := range []string{"secret", "se#cret", "s/e?c@r:et", "p%40ss", "12/34", "'quoted'", "sp ace", "${X}"} {
		f.Add(pw)
	}
	f.Fuzz(func(t *testing.T, pw string) {
		templates := []string{
			"postgres://user:%s@host.example/dbname?sslmode=prefer",
			"postgresql://user:%s@host.example:1/dbname",
			"postgres://user@host.example/dbname?password=%s",
		}
		for _, tmpl := range templates {
			uri := fmt.Sprintf(tmpl, pw)
			if len(pw) < 4 || strings.Contains(tmpl, pw) || strings.Contains(Redacted, pw) || strings.Contains(uriHint, pw) {
				return // too short or common to tell a leak from the rest
			}
			if got := RedactURI(uri); strings.Contains(got, pw) {
				t.Errorf("RedactURI(%q) = %q, leaks the password", uri, got)
			}
			if msg := checkDatabaseURI(uri); strings.Contains(msg, pw) {
				t.Errorf("checkDatabaseURI(%q) = %q, leaks the password", uri, msg)
			}
		}
	})
}
