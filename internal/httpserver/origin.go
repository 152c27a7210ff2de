package httpserver

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// originGuard rejects browser requests from origins that are neither the
// server itself nor listed in server.allowed_origins. It checks every method:
// an MCP GET opens an event stream, so a cross-origin GET matters too (the
// standard library's CrossOriginProtection only looks at unsafe methods, and
// is applied as well for its Sec-Fetch-Site logic).
type originGuard struct {
	allowed map[string]bool
	csrf    *http.CrossOriginProtection
}

func newOriginGuard(allowed []string) (*originGuard, error) {
	g := &originGuard{allowed: make(map[string]bool), csrf: http.NewCrossOriginProtection()}
	for _, o := range allowed {
		o = strings.TrimRight(o, "/")
		if err := g.csrf.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("server.allowed_origins: %w", err)
		}
		g.allowed[strings.ToLower(o)] = true
	}
	g.csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusForbidden, "forbidden_origin", "cross-origin request refused; add the origin to server.allowed_origins if it is trusted")
	}))
	return g, nil
}

func (g *originGuard) wrap(next http.Handler) http.Handler {
	inner := g.csrf.Handler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if origin := r.Header.Get("Origin"); origin != "" && !g.ok(origin, r) {
			writeError(w, http.StatusForbidden, "forbidden_origin",
				fmt.Sprintf("origin %q may not call this server; add it to server.allowed_origins if it is trusted", origin))
			return
		}
		inner.ServeHTTP(w, r)
	})
}

func (g *originGuard) ok(origin string, r *http.Request) bool {
	if g.allowed[strings.ToLower(strings.TrimRight(origin, "/"))] {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false // "null" and other opaque origins
	}
	return strings.EqualFold(u.Host, r.Host)
}
