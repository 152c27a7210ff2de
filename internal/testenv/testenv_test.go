package testenv

import "testing"

func TestLong(t *testing.T) {
	for _, tc := range []struct {
		long, reliability string
		want              bool
	}{
		{"", "", false},
		{"0", "", false},
		{"1", "", true},
		{"yes", "", true},
		{"", "long", true},
		{"", "short", false},
		{"0", "long", true},
	} {
		t.Setenv(LongEnv, tc.long)
		t.Setenv("PGHERD_RELIABILITY", tc.reliability)
		if got := Long(); got != tc.want {
			t.Errorf("PGHERD_LONG=%q PGHERD_RELIABILITY=%q: Long() = %v, want %v", tc.long, tc.reliability, got, tc.want)
		}
	}
}
