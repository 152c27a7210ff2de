package interop_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pgherd/pgherd/internal/app"
)

// check is one check of a conformance scenario (checks.json).
type check struct {
	ID           string `json:"id"`
	Status       string `json:"status"` // SUCCESS, FAILURE, WARNING, INFO, SKIPPED
	ErrorMessage string `json:"errorMessage"`
}

// scenarioResult is what one scenario of a run reported.
type scenarioResult struct {
	Scenario string
	Checks   []check
}

// passed reports whether the scenario has no failure and no warning.
func (r scenarioResult) passed() bool {
	return !slices.ContainsFunc(r.Checks, func(c check) bool { return c.Status == "FAILURE" || c.Status == "WARNING" })
}

func (r scenarioResult) String() string {
	var b strings.Builder
	for _, c := range r.Checks {
		if c.Status == "FAILURE" || c.Status == "WARNING" {
			fmt.Fprintf(&b, "\n    %s %s: %s", c.Status, c.ID, c.ErrorMessage)
		}
	}
	return r.Scenario + b.String()
}

// suite names an installed release of @modelcontextprotocol/conformance.
type suite string

const (
	stable suite = "conformance"      // 0.1.16: the 2025-06-18 and 2025-11-25 scenarios
	next   suite = "conformance-next" // 0.2.0-alpha.12: adds the 2026-07-28 scenarios
)

// conform runs the suite's server scenarios against url (args select them:
// --scenario, --spec-version, …) and returns each scenario's checks.
func conform(t *testing.T, s suite, url string, args ...string) []scenarioResult {
	t.Helper()
	dir := t.TempDir()
	argv := append([]string{filepath.Join("node_modules", string(s), "dist", "index.js"), "server", "--url", url, "-o", dir}, args...)
	// The suite exits non-zero when a check fails; the checks tell which.
	out, stderr, err := nodeTry(t, 5*time.Minute, nil, "node", argv...)
	entries, _ := os.ReadDir(dir)
	var results []scenarioResult
	for _, e := range entries {
		data, rerr := os.ReadFile(filepath.Join(dir, e.Name(), "checks.json"))
		if rerr != nil {
			continue
		}
		var checks []check
		if json.Unmarshal(data, &checks) != nil {
			t.Fatalf("%s: checks.json is not JSON:\n%s", e.Name(), data)
		}
		// Directories are named server-<scenario>-<timestamp>.
		name := strings.TrimPrefix(e.Name(), "server-")
		if i := strings.LastIndex(name, "-20"); i > 0 {
			name = name[:i]
		}
		results = append(results, scenarioResult{Scenario: name, Checks: checks})
	}
	if len(results) == 0 {
		t.Fatalf("the conformance suite ran no scenario (%v)\nstdout:\n%s\nstderr:\n%s", err, tail(out, 30), tail(stderr, 30))
	}
	return results
}

// requirePass fails t for every scenario that failed or warned, and checks
// that exactly want scenarios ran.
func requirePass(t *testing.T, results []scenarioResult, want int) {
	t.Helper()
	passed := 0
	for _, r := range results {
		if r.passed() {
			passed++
		} else {
			t.Errorf("conformance scenario %s", r)
		}
	}
	if len(results) != want {
		var names []string
		for _, r := range results {
			names = append(names, r.Scenario)
		}
		t.Errorf("%d scenarios ran, want %d: %s", len(results), want, strings.Join(names, ", "))
	}
	t.Logf("conformance: %d/%d scenarios passed", passed, len(results))
}

// TestConformanceGeneric runs the conformance scenarios that need nothing
// but a working MCP server against a real pgherd database endpoint, in
// both session modes. (The scenarios that call fixed tools, resources and
// prompts run against the fixture: TestConformanceFixture.)
func TestConformanceGeneric(t *testing.T) {
	npmBin(t)
	uri := shop(t)
	for _, c := range []struct {
		mode      string
		suite     suite
		scenarios []string
		extra     []string
	}{
		{"stateless", stable, []string{"server-initialize", "ping", "tools-list", "dns-rebinding-protection"}, nil},
		{"stateful", stable, []string{"server-initialize", "ping", "tools-list", "dns-rebinding-protection", "server-sse-multiple-streams"}, nil},
		{"stateful", next, []string{"server-session-lifecycle"}, nil},
		{"stateless", next, []string{"http-header-validation"}, []string{"--spec-version", "2026-07-28"}},
	} {
		t.Run(fmt.Sprintf("%s/%s", c.mode, c.suite), func(t *testing.T) {
			t.Parallel()
			s := start(t, fmt.Sprintf("server: {port: 0, session_mode: %s}\nendpoints:\n  shop: {database_uri: \"${URI}\", access_mode: user_ro}\n", c.mode),
				map[string]string{"URI": uri}, app.Options{})
			var results []scenarioResult
			for _, sc := range c.scenarios {
				results = append(results, conform(t, c.suite, s.Base+"/shop/mcp", append([]string{"--scenario", sc}, c.extra...)...)...)
			}
			requirePass(t, results, len(c.scenarios))
		})
	}
}
