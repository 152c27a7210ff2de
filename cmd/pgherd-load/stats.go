package main

import (
	"math"
	"slices"
	"time"
)

// Summary describes a set of durations.
type Summary struct {
	N    int           `json:"n"`
	Mean time.Duration `json:"mean_ns"`
	P50  time.Duration `json:"p50_ns"`
	P90  time.Duration `json:"p90_ns"`
	P99  time.Duration `json:"p99_ns"`
	Max  time.Duration `json:"max_ns"`
}

// summarize sorts d in place and returns its summary. Percentiles use the
// nearest-rank method: p99 of 100 samples is the 99th smallest, of 10 samples
// the largest — an observed value, never an interpolation.
func summarize(d []time.Duration) Summary {
	if len(d) == 0 {
		return Summary{}
	}
	slices.Sort(d)
	var sum time.Duration
	for _, v := range d {
		sum += v
	}
	return Summary{
		N:    len(d),
		Mean: sum / time.Duration(len(d)),
		P50:  rank(d, 50),
		P90:  rank(d, 90),
		P99:  rank(d, 99),
		Max:  d[len(d)-1],
	}
}

// rank returns the nearest-rank p-th percentile of sorted d.
func rank(d []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p/100*float64(len(d)))) - 1
	return d[max(i, 0)]
}
