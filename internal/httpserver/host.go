package httpserver

import (
	"fmt"
	"net"
	"net/http"
	"strings"
)

// hostGuard applies the DNS-rebinding check go-sdk applies to Streamable
// HTTP to every route: a request that reached a loopback address must name
// a loopback host. A page on evil.example whose name the attacker rebinds
// to 127.0.0.1 sends Host: evil.example, and gets 403 — from /ready and
// the RFC 9728 metadata as from the MCP paths and legacy SSE.
func hostGuard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok && local != nil &&
			isLoopback(local.String()) && !isLoopback(r.Host) {
			writeError(w, http.StatusForbidden, "forbidden_host",
				fmt.Sprintf("Host %q is not a loopback name, and this request reached a loopback address (a DNS-rebinding attack looks like this); use localhost or 127.0.0.1", r.Host))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// isLoopback reports whether addr (host or host:port) is localhost or a
// loopback IP address.
func isLoopback(addr string) bool {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loopbackCaller reports whether r comes from this machine and not through
// a proxy that says it forwards someone else's request.
func loopbackCaller(r *http.Request) bool {
	if r.Header.Get("Forwarded") != "" || r.Header.Get("X-Forwarded-For") != "" || r.Header.Get("X-Real-Ip") != "" {
		return false
	}
	return isLoopback(r.RemoteAddr)
}
