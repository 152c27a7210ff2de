package httpserver

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/pgherd/pgherd/internal/auth"
	"github.com/pgherd/pgherd/internal/config"
	"github.com/pgherd/pgherd/internal/observe"
)

// MetricsEndpoint names the metrics in authentication failures.
const MetricsEndpoint = "metrics"

// ProtectMetrics serves h to GET and HEAD requests; when tokenHash is set
// ("sha256:…", server.metrics.auth), only to those whose Authorization
// header is "Bearer TOKEN" with that hash. Other requests get 401 (and
// reach the hub as authentication failures) or 405.
func ProtectMetrics(h http.Handler, tokenHash string, hub *observe.Hub) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "scrape the metrics with GET")
			return
		}
		if tokenHash != "" {
			token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			reason, msg := "", ""
			switch {
			case r.Header.Get("Authorization") == "":
				reason, msg = observe.AuthMissing, "the metrics need Authorization: Bearer <server.metrics.auth token>"
			case !ok || subtle.ConstantTimeCompare([]byte(config.HashKey(strings.TrimSpace(token))), []byte(tokenHash)) != 1:
				reason, msg = observe.AuthInvalid, "the bearer token is not the metrics token"
			}
			if reason != "" {
				hub.AuthFailed(r.Context(), auth.Failure(r, MetricsEndpoint, http.StatusUnauthorized, reason, msg))
				w.Header().Set("WWW-Authenticate", `Bearer realm="pgherd metrics"`)
				writeError(w, http.StatusUnauthorized, "unauthorized", msg)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}
