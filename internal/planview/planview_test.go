package planview

import (
	"regexp"
	"strings"
	"testing"
)

// TestAppHTML: the App's page is one self-contained document — the
// inlined files cannot end their element early, and nothing is loaded
// from anywhere.
func TestAppHTML(t *testing.T) {
	for _, name := range []string{"plan.js", "plan.css", "bridge.js"} {
		b, err := files.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "</") {
			t.Errorf("%s holds \"</\": inlined, it could end its <script> or <style> early", name)
		}
		if !strings.Contains(AppHTML(), string(b)) {
			t.Errorf("the App does not inline %s", name)
		}
	}
	html := AppHTML()
	if strings.Contains(html, "/*PLAN_") || strings.Contains(html, "/*BRIDGE_") {
		t.Error("a placeholder was left in the App's page")
	}
	if m := regexp.MustCompile(`(?i)(src|href)\s*=|@import|url\(|https?://`).FindString(html); m != "" {
		t.Errorf("the App's page loads something (%q); it must be self-contained", m)
	}
}
