package config

import (
	"strings"
	"testing"
)

func TestIndentProblem(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"deeper than a key with a value", "server:\n  port: 8000\n   host: 127.0.0.1\n", "line 3 is indented 3 spaces, deeper than line 2 (port)"},
		{"lines up with nothing", "server:\n  port: 8000\nendpoints:\n  app1:\n    database_uri: x\n    access_mode: user_ro\n   pool: {max_conns: 5}\n",
			"line 7 (pool) is indented 3 spaces, which lines up with no key above it; indent it 0 or 2 or 4 spaces"},
		{"tab", "server:\n\tport: 8000\n", "line 2 is indented with a tab"},
		{"lists", "auth:\n  mode: api_key\n  api_keys:\n    - name: a\n      key_hash: x\n    - name: b\n       tenant: t\n", "line 7 is indented 7 spaces, deeper than line 6"},
		{"block scalar", "endpoints:\n  a:\n    description: |\n      one\n        two\n    access_mode: user_ro\n", ""},
		{"fine", "server:\n  port: 8000\n# comment\nendpoints:\n  app1:\n    database_uri: x\n", ""},
	} {
		got := indentProblem([]byte(tc.yaml))
		if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("%s: indentProblem = %q, want it to contain %q", tc.name, got, tc.want)
		}
	}
}
