package app

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestReleaseWhenIdle: memory is released once per quiet spell that follows
// activity, never while requests keep coming, never before any came. The
// activity counts are a script, one value per tick, so the outcome does
// not depend on timing: a tick is taken only once the previous one is
// done with.
func TestReleaseWhenIdle(t *testing.T) {
	cases := []struct {
		name   string
		counts []uint64 // the first is read at start, then one per tick
		want   int
	}{
		{"never busy", []uint64{0, 0, 0, 0, 0}, 0},
		{"busy then quiet", []uint64{0, 3, 3, 3, 3}, 1},
		{"always busy", []uint64{0, 1, 2, 3, 4}, 0},
		{"two bursts", []uint64{0, 5, 5, 9, 9, 9}, 2},
		{"busy until the end", []uint64{0, 0, 2, 2, 7}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var reads, released atomic.Int64
			activity := func() uint64 { return c.counts[reads.Add(1)-1] }
			ticks := make(chan time.Time)
			stop := releaseWhenIdle(activity, ticks, func() { released.Add(1) })
			for range len(c.counts) - 1 {
				ticks <- time.Now()
			}
			stop() // after the last tick is done with
			if got := int(released.Load()); got != c.want {
				t.Errorf("counts %v: released %d times, want %d", c.counts, got, c.want)
			}
		})
	}
}
