package httpserver

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/pgherd/pgherd/internal/auth"
)

// sessionLimiter caps the stateful MCP sessions of the process
// (server.max_sessions) and of each owner (server.max_sessions_per_tenant):
// a tenant, or the client's address when the caller is anonymous. One
// client must not be able to exhaust the server's memory by opening
// sessions.
//
// Legacy SSE sessions live exactly as long as their event stream and are
// counted from its start to its end. Streamable sessions are created by a
// POST without Mcp-Session-Id and end later (DELETE, session_timeout,
// shutdown) inside go-sdk, which has no hook for it: they are recorded by
// the id the response carries, and forgotten when the MCP servers no
// longer have a session with that id (checked when a cap would refuse, and
// at most every syncEvery otherwise).
type sessionLimiter struct {
	max, perOwner int
	live          func() map[string]bool // ids of the sessions the MCP servers hold

	mu       sync.Mutex
	owners   map[string]int    // owner → sessions held or being opened
	byID     map[string]string // streamable session id → owner
	total    int
	lastSync time.Time
}

// syncEvery bounds how long ended streamable sessions stay counted when no
// cap is near.
const syncEvery = 10 * time.Second

func newSessionLimiter(max, perOwner int, live func() map[string]bool) *sessionLimiter {
	return &sessionLimiter{max: max, perOwner: perOwner, live: live,
		owners: make(map[string]int), byID: make(map[string]string), lastSync: time.Now()}
}

// capError is a refused session.
type capError struct {
	status int
	msg    string
}

// reserve counts one session being opened by owner, or refuses it. The
// returned function undoes the reservation (call it unless the session
// was recorded with keep, or when an SSE stream ends).
func (l *sessionLimiter) reserve(owner string) (release func(), err *capError) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if time.Since(l.lastSync) > syncEvery || l.total >= l.max || l.owners[owner] >= l.perOwner {
		l.syncLocked()
	}
	switch {
	case l.total >= l.max:
		return nil, &capError{http.StatusServiceUnavailable, fmt.Sprintf(
			"too many sessions: the server holds %d (server.max_sessions); close sessions you no longer use (DELETE with Mcp-Session-Id) or retry later", l.total)}
	case l.owners[owner] >= l.perOwner:
		return nil, &capError{http.StatusTooManyRequests, fmt.Sprintf(
			"too many sessions: you hold %d (server.max_sessions_per_tenant); close sessions you no longer use (DELETE with Mcp-Session-Id) or reuse one", l.owners[owner])}
	}
	l.total++
	l.owners[owner]++
	var once sync.Once
	return func() { once.Do(func() { l.mu.Lock(); l.dropLocked(owner); l.mu.Unlock() }) }, nil
}

// keep records a reserved streamable session under its id: it now counts
// until the MCP servers no longer hold it.
func (l *sessionLimiter) keep(id, owner string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.byID[id] = owner
}

// forget stops counting a streamable session that ended (DELETE).
func (l *sessionLimiter) forget(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if owner, ok := l.byID[id]; ok {
		delete(l.byID, id)
		l.dropLocked(owner)
	}
}

func (l *sessionLimiter) dropLocked(owner string) {
	l.total--
	if l.owners[owner]--; l.owners[owner] <= 0 {
		delete(l.owners, owner)
	}
}

// syncLocked forgets streamable sessions the MCP servers no longer hold.
func (l *sessionLimiter) syncLocked() {
	l.lastSync = time.Now()
	if len(l.byID) == 0 {
		return
	}
	live := l.live()
	for id, owner := range l.byID {
		if !live[id] {
			delete(l.byID, id)
			l.dropLocked(owner)
		}
	}
}

// sessionOwner is whom a new session counts against: the caller's tenant
// (or user, without a tenant), or the client's address when the caller is
// anonymous.
func sessionOwner(r *http.Request) string {
	if p := auth.PrincipalFromRequest(r); p != nil && p.Method != auth.MethodAnonymous {
		if p.Tenant != "" {
			return "tenant:" + p.Tenant
		}
		return "user:" + p.ID()
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "addr:" + host
}

// limitStreamable caps the sessions a stateful Streamable HTTP handler
// creates.
func (l *sessionLimiter) limitStreamable(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("Mcp-Session-Id")
		switch {
		case r.Method == http.MethodDelete && id != "":
			next.ServeHTTP(w, r)
			l.forget(id) // the session is closed, or never was ours
			return
		case r.Method != http.MethodPost || id != "":
			next.ServeHTTP(w, r)
			return
		}
		owner := sessionOwner(r)
		release, cerr := l.reserve(owner)
		if cerr != nil {
			refuseSession(w, r, cerr)
			return
		}
		next.ServeHTTP(w, r)
		if sid := w.Header().Get("Mcp-Session-Id"); sid != "" {
			l.keep(sid, owner)
			return
		}
		release()
	})
}

// limitStream caps the sessions of a legacy SSE stream handler: each GET
// is one session for as long as it lasts.
func (l *sessionLimiter) limitStream(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			next.ServeHTTP(w, r)
			return
		}
		release, cerr := l.reserve(sessionOwner(r))
		if cerr != nil {
			refuseSession(w, r, cerr)
			return
		}
		defer release()
		next.ServeHTTP(w, r)
	})
}

// refuseSession answers a refused session: the status (503 or 429) with
// Retry-After, and a JSON-RPC error carrying the request's id when the
// body has one.
func refuseSession(w http.ResponseWriter, r *http.Request, cerr *capError) {
	var id any
	if r.Method == http.MethodPost {
		var probe struct {
			ID any `json:"id"`
		}
		if data, err := io.ReadAll(io.LimitReader(r.Body, 1<<20)); err == nil && json.Unmarshal(data, &probe) == nil {
			id = probe.ID
		}
	}
	body, _ := json.Marshal(map[string]any{
		"jsonrpc": "2.0",
		"id":      id,
		"error":   map[string]any{"code": -32000, "message": cerr.msg},
	})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Retry-After", strconv.Itoa(5))
	w.WriteHeader(cerr.status)
	w.Write(body)
}
