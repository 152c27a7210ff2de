package auth

import (
	"sync"

	"github.com/pgherd/pgherd/internal/pg"
)

// Login is the pool of one verified PostgreSQL credential (database_login).
// The pool stays open at least until [Login.Release] is called, even when
// the credential's cache entry is evicted meanwhile.
type Login struct {
	User string // the PostgreSQL role that logged in
	// Endpoint is the endpoint whose database Pool connects to; a pool is
	// valid only for that endpoint's database (check it before use).
	Endpoint string
	Pool     *pg.Pool // connects as User to Endpoint's database

	once    sync.Once
	release func()
}

// Release gives the pool back to the login cache, which may then close it
// if the entry was evicted. [Policy.Middleware] calls it when the request
// ends; call it yourself only for a Principal you got from
// [Authenticator.Authenticate] directly. Safe to call more than once, and on
// nil.
func (l *Login) Release() {
	if l == nil {
		return
	}
	l.once.Do(func() {
		if l.release != nil {
			l.release()
		}
	})
}
