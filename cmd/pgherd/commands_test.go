package main_test

import (
	"regexp"
	"strings"
	"testing"
)

// TestUsageErrors: command-line mistakes exit 2 with a message saying what
// is wrong and what would be right; they need no database.
func TestUsageErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		args []string
		want []string // substrings of stderr
	}{
		{"unknown command", []string{"nonsense"}, []string{`unknown command "nonsense"`}},
		{"unknown flag", []string{"serve", "--bogus"}, []string{"unknown flag: --bogus"}},
		{"access mode admin", []string{"stdio", "--database-url", "postgres://u@127.0.0.1:1/db", "--access-mode", "admin"},
			[]string{"--access-mode", `"admin"`, "user_ro, user_rw, admin_ro, admin_rw"}},
		{"config and url", []string{"stdio", "--database-url", "postgres://u@127.0.0.1:1/db", "--config", "x.yaml"},
			[]string{"either --config or --database-url"}},
		{"serve without config", []string{"serve"}, []string{"--config is required"}},
		{"check-config without file", []string{"check-config"}, []string{"exactly one file"}},
		{"version with argument", []string{"version", "extra"}, []string{`unknown command "extra"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, "", nil, c.args...)
			if r.code != 2 {
				t.Errorf("pgherd %s: exit %d, want 2 (usage error)\nstderr: %s", strings.Join(c.args, " "), r.code, r.stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("pgherd %s: stderr %q does not contain %q", strings.Join(c.args, " "), r.stderr, w)
				}
			}
			if r.stdout != "" {
				t.Errorf("pgherd %s: stdout = %q, want nothing (errors go to stderr)", strings.Join(c.args, " "), r.stdout)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"version"}, {"--version"}} {
		r := runCLI(t, "", nil, args...)
		if r.code != 0 || !strings.Contains(r.stdout, testVersion) {
			t.Errorf("pgherd %s: exit %d, stdout %q; want exit 0 and the version %s set with -ldflags",
				strings.Join(args, " "), r.code, r.stdout, testVersion)
		}
	}
}

func TestHashKey(t *testing.T) {
	t.Parallel()
	// printf %s 0123456789abcdef0123 | sha256sum
	const want = "sha256:1bd8fd47297046f993e608e398d5905b00a33e163c6b1172dd38887fed05ed6a"
	cases := []struct {
		name, stdin string
		code        int
		stdout      string // exact, when code is 0
		stderr      string // substring, when code is not 0
	}{
		{"newline", "0123456789abcdef0123\n", 0, want + "\n", ""},
		{"no newline", "0123456789abcdef0123", 0, want + "\n", ""},
		{"crlf", "0123456789abcdef0123\r\n", 0, want + "\n", ""},
		{"only the first line", "0123456789abcdef0123\nsecond line\n", 0, want + "\n", ""},
		{"short", "short-key\n", 2, "", "the key has 9 characters; use at least 16"},
		{"empty", "", 2, "", "no key on stdin"},
		{"spaces", "0123456789 abcdef 0123\n", 2, "", "contains spaces"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, c.stdin, nil, "hash-key")
			if r.code != c.code {
				t.Fatalf("hash-key < %q: exit %d, want %d\nstderr: %s", c.stdin, r.code, c.code, r.stderr)
			}
			if c.code == 0 && r.stdout != c.stdout {
				t.Errorf("hash-key < %q: stdout %q, want %q", c.stdin, r.stdout, c.stdout)
			}
			if c.code != 0 && (!strings.Contains(r.stderr, c.stderr) || r.stdout != "") {
				t.Errorf("hash-key < %q: stdout %q, stderr %q; want no output and an error containing %q", c.stdin, r.stdout, r.stderr, c.stderr)
			}
		})
	}
}

// TestCheckConfigBroken: every problem of the file is listed, each under
// its key path, and the exit code is 2. The secret in the file is not
// printed.
func TestCheckConfigBroken(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "broken.yaml", `
server:
  port: 70000
  session_mode: sometimes
  shutdown_timeout: soon
endpoints:
  app1:
    database_uri: postgres://app:hunter2-secret@db.internal/app1
    access_mode: admin
    pool: {max_conns: 0, max_conn: 5}
  app2:
    access_mode: user_ro
`)
	r := runCLI(t, "", nil, "check-config", path)
	if r.code != 2 {
		t.Fatalf("check-config broken.yaml: exit %d, want 2\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("stdout = %q, want nothing: a broken config prints no effective config", r.stdout)
	}
	want := []struct{ path, message string }{
		{"server.port", "70000 is out of range"},
		{"server.session_mode", `"sometimes" is not one of stateless, stateful`},
		{"server.shutdown_timeout", `"soon" is not a duration`},
		{"endpoints.app1.access_mode", `"admin" is not one of user_ro, user_rw, admin_ro, admin_rw`},
		{"endpoints.app1.pool.max_conn", "unknown key"},
		{"endpoints.app1.pool.max_conns", "must be more than 0"},
		{"endpoints.app2.database_uri", ""},
	}
	lines := strings.Split(r.stderr, "\n")
	for _, w := range want {
		found := false
		for _, l := range lines {
			if strings.HasPrefix(l, w.path+": ") && strings.Contains(l, w.message) {
				found = true
			}
		}
		if !found {
			t.Errorf("stderr has no line %q: …%s…\nstderr:\n%s", w.path, w.message, r.stderr)
		}
	}
	if !strings.Contains(r.stderr, path) {
		t.Errorf("stderr does not name the file %s:\n%s", path, r.stderr)
	}
	if strings.Contains(r.stderr, "hunter2-secret") {
		t.Errorf("stderr shows the database password:\n%s", r.stderr)
	}
}

// TestCheckConfigGood: a valid file prints the effective configuration,
// defaults filled, with the database password and the API key redacted.
func TestCheckConfigGood(t *testing.T) {
	t.Parallel()
	const password, key = "hunter2-secret-pw", "alice-key-0123456789abcdef"
	path := writeFile(t, "good.yaml", `
auth:
  mode: api_key
  api_keys:
    - {name: alice, key: "${ALICE_KEY}"}
endpoints:
  app1:
    database_uri: postgres://app:`+password+`@db.internal:5432/app1?sslmode=require
    access_mode: user_rw
`)
	r := runCLI(t, "", []string{"ALICE_KEY=" + key}, "check-config", path)
	if r.code != 0 {
		t.Fatalf("check-config good.yaml: exit %d, want 0\nstderr: %s", r.code, r.stderr)
	}
	for _, secret := range []string{password, key} {
		if strings.Contains(r.stdout+r.stderr, secret) {
			t.Errorf("check-config printed the secret %q:\n%s", secret, r.stdout)
		}
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^\s+database_uri: postgres://app:REDACTED@db\.internal:5432/app1`),
		regexp.MustCompile(`(?m)^\s+access_mode: user_rw$`),
		regexp.MustCompile(`(?m)^\s+port: 8000$`),                    // a default, filled in
		regexp.MustCompile(`(?m)^\s+key_hash: sha256:[0-9a-f]{64}$`), // the key, hashed
	} {
		if !want.MatchString(r.stdout) {
			t.Errorf("effective config does not match %s:\n%s", want, r.stdout)
		}
	}
}
