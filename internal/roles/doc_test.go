package roles

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/pgherd/pgherd/internal/access"
)

var update = flag.Bool("update", false, "rewrite the generated SQL blocks of docs/security.md")

const securityDoc = "../../docs/security.md"

// docSpecs are the sample specs docs/security.md shows, by block name.
var docSpecs = map[string]Spec{
	"user_ro":  {Role: "app_user_ro", Password: "change-me", Mode: access.UserRO, Database: "app", Owner: "app_owner"},
	"user_rw":  {Role: "app_user_rw", Password: "change-me", Mode: access.UserRW, Database: "app", Owner: "app_owner"},
	"admin_ro": {Role: "app_admin_ro", Password: "change-me", Mode: access.AdminRO, Database: "app", Owner: "app_owner"},
	"admin_rw": {Role: "app_owner", Password: "change-me", Mode: access.AdminRW, Database: "app"},
}

// docBlock renders what the block named name must hold.
func docBlock(t *testing.T, name string) string {
	t.Helper()
	if name == "harden" {
		return render(`Harden("app", "app_owner")`, Harden("app", "app_owner"))
	}
	spec, ok := docSpecs[name]
	if !ok {
		t.Fatalf("%s: unknown generated block %q", securityDoc, name)
	}
	stmts, err := Statements(spec)
	if err != nil {
		t.Fatalf("Statements(%+v): %v", spec, err)
	}
	title := fmt.Sprintf("Statements: role %s, mode %s, database %s", spec.Role, spec.Mode, spec.Database)
	if spec.Owner != "" {
		title += ", owner " + spec.Owner
	}
	return render(title, stmts)
}

// render lays statements out as a psql script: one-line statements together,
// multi-line ones set apart by blank lines.
func render(title string, stmts []string) string {
	var b strings.Builder
	b.WriteString("```sql\n-- " + title + "\n")
	prevMulti := false
	for i, s := range stmts {
		multi := strings.Contains(s, "\n")
		if i > 0 && (multi || prevMulti) {
			b.WriteString("\n")
		}
		b.WriteString(s + ";\n")
		prevMulti = multi
	}
	b.WriteString("```\n")
	return b.String()
}

var blockRE = regexp.MustCompile("(?s)(<!-- generated: roles ([a-z_]+) -->\n)(.*?)(<!-- end generated -->)")

// TestSecurityDoc fails when a generated SQL block of docs/security.md no
// longer matches what this package emits; -update rewrites the blocks.
func TestSecurityDoc(t *testing.T) {
	data, err := os.ReadFile(securityDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	seen := map[string]bool{}
	var stale []string
	out := blockRE.ReplaceAllStringFunc(doc, func(m string) string {
		parts := blockRE.FindStringSubmatch(m)
		name := parts[2]
		seen[name] = true
		want := docBlock(t, name)
		if parts[3] != want {
			stale = append(stale, name)
		}
		return parts[1] + want + parts[4]
	})
	for _, name := range []string{"harden", "user_ro", "user_rw", "admin_ro", "admin_rw"} {
		if !seen[name] {
			t.Errorf("%s has no generated block %q (<!-- generated: roles %s --> … <!-- end generated -->)", securityDoc, name, name)
		}
	}
	if len(stale) == 0 {
		return
	}
	if *update {
		if err := os.WriteFile(securityDoc, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote blocks %v of %s", stale, securityDoc)
		return
	}
	t.Errorf("%s: generated blocks %v differ from what internal/roles emits; run go test ./internal/roles -run TestSecurityDoc -update and review the diff", securityDoc, stale)
}
