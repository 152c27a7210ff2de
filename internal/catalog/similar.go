package catalog

import (
	"cmp"
	"slices"
	"strings"

	"github.com/pgherd/pgherd/internal/editdist"
)

// similarity scores how close candidate is to the wanted name; lower is
// closer, and ok is false when the candidate is not worth suggesting.
// Comparison ignores case: an agent writing "Users" for "users" is the most
// common miss.
func similarity(want, candidate string) (score int, ok bool) {
	w, c := strings.ToLower(want), strings.ToLower(candidate)
	if w == c {
		return 0, true
	}
	d := editdist.Levenshtein(w, c)
	// Allow roughly one edit per three characters, at least two.
	limit := max(2, len([]rune(w))/3)
	switch {
	case d <= limit:
		return d, true
	case len(w) >= 3 && (strings.Contains(c, w) || strings.Contains(w, c) && len(c) >= 3):
		// "order" for "customer_orders", or "customer_orders_2024" for "orders".
		return limit + 1 + abs(len(c)-len(w)), true
	case len(w) >= 3 && len(c) >= 3 && w[:3] == c[:3]:
		return limit + 100 + d, true
	}
	return 0, false
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// rankSimilar returns up to n candidates closest to want, best first, ties
// broken by name. Duplicates are dropped.
func rankSimilar(want string, candidates []string, n int) []string {
	type scored struct {
		name  string
		score int
		exact int // case-sensitive distance, to prefer "orders" over "Orders" for "ordrs"
	}
	var hits []scored
	seen := make(map[string]bool, len(candidates))
	for _, c := range candidates {
		if seen[c] || c == want {
			continue
		}
		seen[c] = true
		if s, ok := similarity(want, c); ok {
			hits = append(hits, scored{c, s, editdist.Levenshtein(want, c)})
		}
	}
	slices.SortFunc(hits, func(a, b scored) int {
		return cmp.Or(cmp.Compare(a.score, b.score), cmp.Compare(a.exact, b.exact), cmp.Compare(a.name, b.name))
	})
	out := make([]string, 0, min(n, len(hits)))
	for _, h := range hits[:min(n, len(hits))] {
		out = append(out, h.name)
	}
	return out
}

// closest returns the candidate within maxDist edits of s, or "".
func closest(s string, candidates []string, maxDist int) string {
	best, bestD := "", maxDist+1
	for _, c := range candidates {
		if d := editdist.Levenshtein(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}
