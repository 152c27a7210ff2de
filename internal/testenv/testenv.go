// Package testenv finds the programs tests need beyond Go and PostgreSQL
// (redis-server, helm, systemd-analyze, …). A missing program skips the test
// on a developer's machine, naming what to install, and fails it in CI
// (PGHERD_CI set, as .ci/run does), where scripts/deps.sh must have
// installed it: a test that cannot run must not pass silently there.
//
// It also holds the one switch for the long forms of heavy tests: [Long].
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// CI reports whether the tests run in CI (PGHERD_CI is set and not "0").
func CI() bool {
	v := os.Getenv("PGHERD_CI")
	return v != "" && v != "0"
}

// LongEnv is the variable that selects the long forms of heavy tests.
const LongEnv = "PGHERD_LONG"

// Long reports whether heavy tests run their long form (PGHERD_LONG=1, or
// the older PGHERD_RELIABILITY=long). By default, as in make test and CI,
// they run a short form that still proves the property on fewer calls,
// vectors or combinations, so that the whole suite fits CI's 15 minutes on
// two cores; the long form runs everything (go test -race -timeout 60m with
// PGHERD_LONG=1). A test's long form never asserts less than its short one.
func Long() bool {
	if v := os.Getenv(LongEnv); v != "" && v != "0" {
		return true
	}
	return os.Getenv("PGHERD_RELIABILITY") == "long"
}

// Missing skips t, or fails it in CI, because what is not available; fix
// says how to get it.
func Missing(t testing.TB, what, fix string) {
	t.Helper()
	if CI() {
		t.Fatalf("%s is not available (PGHERD_CI is set, so this fails instead of skipping); %s", what, fix)
	}
	t.Skipf("%s is not available; %s", what, fix)
}

// LookPath returns the path of program name, found on PATH or in extra
// directories, or calls [Missing].
func LookPath(t testing.TB, name, fix string, extra ...string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range extra {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	Missing(t, name, fix)
	return ""
}

// GoBin is where go install puts programs ($GOBIN, else $GOPATH/bin), for
// LookPath's extra directories.
func GoBin() string {
	if b := os.Getenv("GOBIN"); b != "" {
		return b
	}
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		return ""
	}
	first, _, _ := strings.Cut(strings.TrimSpace(string(out)), string(os.PathListSeparator))
	return filepath.Join(first, "bin")
}
