package sqlguard

import "testing"

// TestWarmParses: the warm-up statement is valid SQL, so Warm really runs
// the parser over its node types (a syntax error would stop early).
func TestWarmParses(t *testing.T) {
	if _, err := parseOne(warmSQL); err != nil {
		t.Fatalf("parseOne(warmSQL): %v", err)
	}
	Warm()
}
