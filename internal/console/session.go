package console

import (
	"crypto/rand"
	"crypto/subtle"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/pgherd/pgherd/internal/auth"
)

// Session limits.
const (
	sessionIdle     = 30 * time.Minute // signed out after this long without a request
	sessionLifetime = 12 * time.Hour   // signed out after this long whatever happens
	maxSessions     = 1000             // the oldest is dropped beyond this
	// Sign-in attempts: at most failLimit failures per address per
	// failWindow, then 429 until the window ends.
	failLimit  = 10
	failWindow = time.Minute
)

// session is one signed-in operator (or, when the console needs no
// sign-in, one browser). It lives in memory only: the browser holds its id
// in an HttpOnly cookie and never sees the credential.
type session struct {
	id   string
	csrf string // sent back by the page with every action
	// credential is the key or token the operator signed in with ("" when
	// no sign-in is needed): every request checks it again, so a key
	// revoked by a reload ends the session, and the console's tool calls
	// present it as any MCP client would.
	credential string
	who        *auth.Principal
	created    time.Time
	seen       time.Time
	expires    time.Time
}

// sessions holds the sessions. It is safe for concurrent use.
type sessions struct {
	mu    sync.Mutex
	m     map[string]*session
	fails map[string]*failures
	now   func() time.Time
}

type failures struct {
	n     int
	start time.Time
}

func newSessions() *sessions {
	return &sessions{m: make(map[string]*session), fails: make(map[string]*failures), now: time.Now}
}

// token returns 32 random bytes in base32 (rand.Text: 26 characters, 130
// bits), fit for a cookie or a header.
func token() string { return rand.Text() + rand.Text() }

// create starts a session for who, signed in with credential.
func (s *sessions) create(credential string, who *auth.Principal) *session {
	now := s.now()
	sess := &session{id: token(), csrf: token(), credential: credential, who: who, created: now, seen: now,
		expires: now.Add(sessionLifetime)}
	if who != nil && !who.Expires.IsZero() && who.Expires.Before(sess.expires) {
		sess.expires = who.Expires
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= maxSessions {
		var oldest *session
		for _, o := range s.m {
			if oldest == nil || o.seen.Before(oldest.seen) {
				oldest = o
			}
		}
		delete(s.m, oldest.id)
	}
	s.m[sess.id] = sess
	return sess
}

// get returns the live session with id, refreshing its idle timer.
func (s *sessions) get(id string) *session {
	if id == "" {
		return nil
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.m[id]
	if sess == nil {
		return nil
	}
	if now.After(sess.expires) || now.Sub(sess.seen) > sessionIdle {
		delete(s.m, id)
		return nil
	}
	sess.seen = now
	return sess
}

func (s *sessions) drop(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
}

// throttled reports whether addr has failed to sign in too often lately.
func (s *sessions) throttled(addr string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.fails[host(addr)]
	return f != nil && s.now().Sub(f.start) < failWindow && f.n >= failLimit
}

// failed counts a failed sign-in from addr.
func (s *sessions) failed(addr string) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	h := host(addr)
	f := s.fails[h]
	if f == nil || now.Sub(f.start) >= failWindow {
		if len(s.fails) > 10_000 {
			for k, v := range s.fails {
				if now.Sub(v.start) >= failWindow {
					delete(s.fails, k)
				}
			}
		}
		f = &failures{start: now}
		s.fails[h] = f
	}
	f.n++
}

func host(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// sameToken compares two secrets in constant time.
func sameToken(a, b string) bool {
	return a != "" && len(a) == len(b) && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// Cookie names. With HTTPS the __Host- prefix binds them to this origin.
const (
	sessionCookie = "pgherd_console"
	signinCookie  = "pgherd_console_signin"
)

// cookie builds a console cookie: HttpOnly, SameSite=Strict, Secure over
// HTTPS.
func (c *Console) cookie(r *http.Request, name, value string, maxAge int) *http.Cookie {
	secure := c.secure(r)
	path := c.path + "/"
	if secure {
		name = "__Host-" + name
		path = "/"
	}
	return &http.Cookie{Name: name, Value: value, Path: path, MaxAge: maxAge, HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteStrictMode}
}

// readCookie returns the value of the console cookie name, or "".
func (c *Console) readCookie(r *http.Request, name string) string {
	if c.secure(r) {
		name = "__Host-" + name
	}
	ck, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	return ck.Value
}
