package admintools

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Stats is calculate_stats's output.
type Stats struct {
	Count              int      `json:"count"`
	Sum                float64  `json:"sum"`
	Mean               float64  `json:"mean"`
	Median             float64  `json:"median"`
	Min                float64  `json:"min"`
	Max                float64  `json:"max"`
	PopulationVariance float64  `json:"population_variance"`
	PopulationStdDev   float64  `json:"population_stddev"`
	SampleVariance     *float64 `json:"sample_variance" jsonschema:"null for a single number"`
	SampleStdDev       *float64 `json:"sample_stddev" jsonschema:"null for a single number"`
}

// Calculate computes descriptive statistics of numbers. It refuses an empty
// list and non-finite values.
func Calculate(numbers []float64) (*Stats, error) {
	if len(numbers) == 0 {
		return nil, errors.New("numbers is empty; pass at least one number, e.g. {\"numbers\": [1, 2, 3]}")
	}
	for i, x := range numbers {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("numbers[%d] is not a finite number", i)
		}
	}
	sorted := slices.Clone(numbers)
	slices.Sort(sorted)
	n := len(sorted)
	st := &Stats{Count: n, Min: sorted[0], Max: sorted[n-1]}

	// Kahan summation keeps the sum exact enough for long lists of mixed
	// magnitudes.
	var sum, comp float64
	for _, x := range numbers {
		y := x - comp
		t := sum + y
		comp = (t - sum) - y
		sum = t
	}
	st.Sum = sum
	st.Mean = sum / float64(n)
	if n%2 == 1 {
		st.Median = sorted[n/2]
	} else {
		st.Median = sorted[n/2-1]/2 + sorted[n/2]/2
	}
	// Two-pass variance: numerically stable, unlike E[x²]−E[x]².
	var ss float64
	for _, x := range numbers {
		d := x - st.Mean
		ss += d * d
	}
	st.PopulationVariance = ss / float64(n)
	st.PopulationStdDev = math.Sqrt(st.PopulationVariance)
	if n > 1 {
		v := ss / float64(n-1)
		sd := math.Sqrt(v)
		st.SampleVariance, st.SampleStdDev = &v, &sd
	}
	if math.IsInf(st.Sum, 0) || math.IsInf(ss, 0) {
		return nil, errors.New("the numbers are too large: their sum or variance overflows a 64-bit float")
	}
	return st, nil
}

func (s *Stats) render() string {
	f := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
	opt := func(p *float64) string {
		if p == nil {
			return "n/a"
		}
		return f(*p)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "count %d, sum %s, mean %s, median %s, min %s, max %s\n", s.Count, f(s.Sum), f(s.Mean), f(s.Median), f(s.Min), f(s.Max))
	fmt.Fprintf(&b, "population variance %s, stddev %s; sample variance %s, stddev %s",
		f(s.PopulationVariance), f(s.PopulationStdDev), opt(s.SampleVariance), opt(s.SampleStdDev))
	return b.String()
}
