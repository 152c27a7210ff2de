package httpserver

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/pgherd/pgherd/internal/auth"
	"github.com/pgherd/pgherd/internal/ratelimit"
	"github.com/pgherd/pgherd/internal/tools"
)

// RateCheckedHeader marks a request whose tools/call messages the HTTP layer
// has counted against the rate limit, so the MCP layer does not count them
// again. The HTTP layer removes it from every incoming request: a client
// cannot set it.
const RateCheckedHeader = "X-Pgherd-Rate-Checked"

// stripRateChecked removes [RateCheckedHeader] from every incoming request:
// only inspect sets it.
func stripRateChecked(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Del(RateCheckedHeader)
		next.ServeHTTP(w, r)
	})
}

// allowRate counts the tools/call messages of one Streamable HTTP request
// (names, from its body) against the caller's limits, per endpoint whose
// database they use. When one is over, it answers 429 with Retry-After and
// returns false: the request never reaches MCP.
func allowRate(w http.ResponseWriter, r *http.Request, g *ratelimit.Guard, reg *tools.Registry, p *auth.Principal, names []string) bool {
	perEndpoint := map[string]int{}
	for _, name := range names {
		if spec, ok := reg.Lookup(name); ok && g.Limited(spec.Endpoint) {
			perEndpoint[spec.Endpoint]++
		}
	}
	endpoints := make([]string, 0, len(perEndpoint))
	for e := range perEndpoint {
		endpoints = append(endpoints, e)
	}
	slices.Sort(endpoints)
	for _, e := range endpoints {
		retry, ok := g.Check(r.Context(), e, p.Tenant, perEndpoint[e])
		if ok {
			continue
		}
		writeRateLimited(w, e, p.Tenant, retry)
		return false
	}
	return true
}

// writeRateLimited answers 429 Too Many Requests: Retry-After in whole
// seconds (rounded up, as HTTP has no finer unit) and retry_after_ms in the
// body.
func writeRateLimited(w http.ResponseWriter, endpoint, tenant string, retry time.Duration) {
	ms := max(1, int64(math.Ceil(float64(retry)/float64(time.Millisecond))))
	w.Header().Set("Retry-After", strconv.FormatInt(max(1, int64(math.Ceil(retry.Seconds()))), 10))
	writeJSON(w, http.StatusTooManyRequests, map[string]any{
		"error": "rate_limited",
		"error_description": fmt.Sprintf("tenant %s is over the rate limit of endpoint %s (endpoints.%s.limits.rate); retry in %d ms",
			tenant, endpoint, endpoint, ms),
		"retry_after_ms": ms,
	})
}
