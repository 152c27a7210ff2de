package config

import (
	"strings"
	"testing"
)

func TestExpand(t *testing.T) {
	env := mapEnv(map[string]string{
		"HOST":   "db.internal",
		"EMPTY":  "",
		"KEY":    "k-123",
		"NESTED": "${HOST}", // a value is never expanded again
		"YAML":   "x\nendpoints: {evil: {}}",
	})
	tests := []struct {
		in        string
		want      string
		wantWhole bool
		wantErr   string // substring; "" means no error
	}{
		{in: "plain", want: "plain"},
		{in: "", want: ""},
		{in: "${HOST}", want: "db.internal", wantWhole: true},
		{in: "postgres://u@${HOST}:5432/db", want: "postgres://u@db.internal:5432/db"},
		{in: "${HOST}${HOST}", want: "db.internaldb.internal"},
		{in: "${MISSING:-fallback}", want: "fallback"},
		{in: "${EMPTY:-fallback}", want: "fallback"},
		{in: "${HOST:-fallback}", want: "db.internal"},
		{in: "${MISSING:-}", want: ""},
		{in: "${EMPTY}", want: "", wantWhole: true},
		{in: "${MISSING:-a:-b}", want: "a:-b"},
		{in: "${KEY:-default}", want: "k-123"}, // has text of its own: not whole
		{in: " ${KEY}", want: " k-123"},
		{in: "$$", want: "$"},
		{in: "$${HOST}", want: "${HOST}"},
		{in: "pa$$word", want: "pa$word"},
		{in: "pa$word", want: "pa$word"},
		{in: "cost: 5$", want: "cost: 5$"},
		{in: "$", want: "$"},
		{in: "${NESTED}", want: "${HOST}", wantWhole: true},
		{in: "${YAML}", want: "x\nendpoints: {evil: {}}", wantWhole: true},
		{in: "${MISSING}", wantErr: "environment variable MISSING is not set; set it, or give a default: ${MISSING:-default}"},
		{in: "a ${MISSING} b", wantErr: "MISSING is not set"},
		{in: "${HOST", wantErr: `"${" has no closing "}"`},
		{in: "${}", wantErr: `"" is not a variable name`},
		{in: "${1X}", wantErr: `"1X" is not a variable name`},
		{in: "${A B}", wantErr: `"A B" is not a variable name`},
		{in: "${HOST-x}", wantErr: "only ${NAME} and ${NAME:-default} are supported"},
		{in: "${HOST:=x}", wantErr: "only ${NAME} and ${NAME:-default} are supported"},
		{in: "${HOST:?x}", wantErr: "only ${NAME} and ${NAME:-default} are supported"},
	}
	for _, tt := range tests {
		got, err := expand(tt.in, env, false)
		switch {
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("expand(%q) error = %v, want it to contain %q", tt.in, err, tt.wantErr)
			}
		case err != nil:
			t.Errorf("expand(%q) error = %v", tt.in, err)
		case got.value != tt.want || got.whole != tt.wantWhole:
			t.Errorf("expand(%q) = %q (whole %v), want %q (whole %v)", tt.in, got.value, got.whole, tt.want, tt.wantWhole)
		}
	}
}

// A secret value's text never reaches an error message, even when the part
// that failed to expand is what the operator meant as the password.
func TestExpandSecretErrorsQuoteNothing(t *testing.T) {
	for _, in := range []string{"postgres://u:${pass word}@h/db", "postgres://u:${pw-x}@h/db", "postgres://u:p${w@h/db"} {
		_, err := expand(in, mapEnv(nil), true)
		if err == nil {
			t.Fatalf("expand(%q) succeeded, want an error", in)
		}
		for _, fragment := range []string{"pass word", "pw-x", "p${w", "@h/db"} {
			if strings.Contains(err.Error(), fragment) {
				t.Errorf("expand(%q) error %q quotes %q", in, err, fragment)
			}
		}
	}
}

// An environment value lands inside one scalar: it can neither add keys nor
// be expanded again.
func TestEnvValueCannotInjectStructure(t *testing.T) {
	env := mapEnv(map[string]string{
		"DESC": "x\n    access_mode: admin_rw\nauth: {mode: none}",
		"URI":  "postgres://a@localhost/a",
	})
	c, err := Parse([]byte("endpoints:\n  app1:\n    database_uri: ${URI}\n    description: ${DESC}\n"), env)
	if err != nil {
		t.Fatal(err)
	}
	e := c.Endpoints["app1"]
	if e.AccessMode != "user_ro" || e.Description != "x\n    access_mode: admin_rw\nauth: {mode: none}" {
		t.Errorf("access_mode %q, description %q: the variable changed the structure", e.AccessMode, e.Description)
	}
}

func TestKeysAreNotExpanded(t *testing.T) {
	env := mapEnv(map[string]string{"NAME": "app1", "URI": "postgres://a@localhost/a"})
	_, err := Parse([]byte("endpoints:\n  ${NAME}:\n    database_uri: ${URI}\n"), env)
	if err == nil || !strings.Contains(err.Error(), `endpoints["${NAME}"]: "${NAME}" is not a valid endpoint name`) {
		t.Errorf("Parse with ${NAME} as a key: error = %v, want the key taken literally", err)
	}
}
