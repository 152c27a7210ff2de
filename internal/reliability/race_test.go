//go:build race

package reliability_test

// raceEnabled: the race detector changes how much memory the process keeps
// (shadow state, slower frees, larger stacks), so memory-return checks
// report their figures but assert nothing under it.
const raceEnabled = true
