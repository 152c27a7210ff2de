package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgherd/pgherd/internal/config"
	"github.com/pgherd/pgherd/internal/pg"
	"github.com/pgherd/pgherd/internal/pgtest"
	"github.com/pgherd/pgherd/internal/testenv"
)

// clock is an injectable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// loginEnv is a database_login Authenticator on a fresh database, with its
// PostgreSQL login attempts counted and its pool closes reported.
type loginEnv struct {
	db       *pgtest.Database
	auth     *databaseLogin
	clock    *clock
	attempts atomic.Int64
	closes   chan *pg.Pool
}

func newLoginEnv(t *testing.T, cfg config.DatabaseLogin) *loginEnv {
	t.Helper()
	e := &loginEnv{db: pgtest.NewDatabase(t), clock: newClock(), closes: make(chan *pg.Pool, 2000)}
	a, err := New(&config.Auth{Mode: config.AuthDatabaseLogin, DatabaseLogin: &cfg}, Options{
		// The superuser URI: its credentials must be replaced by the request's.
		DatabaseURI: func(string) string { return e.db.URI },
		Connect: func(ctx context.Context, endpoint, uri string) (*pg.Pool, error) {
			e.attempts.Add(1)
			return pg.Connect(ctx, endpoint, uri, pg.PoolOptions{MaxConns: 2})
		},
		Now:        e.clock.Now,
		poolClosed: func(p *pg.Pool) { e.closes <- p },
	})
	if err != nil {
		t.Fatal(err)
	}
	e.auth = a.(*databaseLogin)
	t.Cleanup(func() { e.auth.Close() })
	return e
}

func basicAuth(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// roleName returns a cluster-unique role name (roles outlive databases).
func roleName(prefix string) string { return prefix + "_" + strings.ToLower(rand.Text()[:8]) }

// authenticate calls Authenticate directly, as if from addr.
func (e *loginEnv) authenticate(addr, authz string) (*Principal, error) {
	r := httptest.NewRequest(http.MethodPost, "/app1/mcp", nil)
	r.RemoteAddr = addr
	r.Header.Set("Authorization", authz)
	return e.auth.Authenticate(r.Context(), r, "app1")
}

// backends counts the server connections of roles named like pattern.
func backends(t *testing.T, db, pattern string) int {
	t.Helper()
	return int(pgtest.QueryValue[int64](t, pgtest.URI("postgres"),
		"SELECT count(*) FROM pg_stat_activity WHERE usename LIKE $1 AND datname = $2", pattern, db))
}

// waitBackends polls pg_stat_activity until at most want connections of
// the roles remain: a backend leaves it shortly after its client closed the
// socket, which no client-side signal reports.
func waitBackends(t *testing.T, db, pattern string, want int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		n := backends(t, db, pattern)
		if n <= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections of %s still open, want at most %d", n, pattern, want)
		}
		<-tick.C
	}
}

func TestDatabaseLogin(t *testing.T) {
	e := newLoginEnv(t, config.DatabaseLogin{})
	alice := roleName("dl_alice")
	pw := pgtest.CreateRole(t, alice, "")
	srv := serve(t, &Policy{Endpoint: "app1", Authenticator: e.auth, Required: true, ResourceMetadataURL: metadataURL, Realm: "pgherd app1"})
	basicChallenge := `Basic realm="pgherd app1", charset="UTF-8"`
	refused := "PostgreSQL rejected this user name and password for the endpoint's database"
	form := "send your PostgreSQL user and password as HTTP Basic authentication (Authorization: Basic base64(user:password))"

	steps := []struct {
		name     string
		authz    string
		status   int
		chal     []string
		attempts int64 // PostgreSQL logins so far
		pools    int
	}{
		{"right password", basicAuth(alice, pw), 200, nil, 1, 1},
		{"right password again: cached pool", basicAuth(alice, pw), 200, nil, 1, 1},
		{"wrong password", basicAuth(alice, "wrong"), 401, append(challenge(CodeInvalidToken, refused), basicChallenge), 2, 1},
		{"wrong password again: cached failure", basicAuth(alice, "wrong"), 401, append(challenge(CodeInvalidToken, refused), basicChallenge), 2, 1},
		{"unknown user", basicAuth("dl_nobody_"+alice, "pw"), 401, append(challenge(CodeInvalidToken, refused), basicChallenge), 3, 1},
		// A password that occurs in the server's message ("password
		// authentication failed for user …") must not lose the SQLSTATE to
		// redaction: still 401 and cached, not an internal error.
		{"password inside the error text", basicAuth(alice, "authentication"), 401, append(challenge(CodeInvalidToken, refused), basicChallenge), 4, 1},
		{"password inside the error text again", basicAuth(alice, "authentication"), 401, append(challenge(CodeInvalidToken, refused), basicChallenge), 4, 1},
		{"missing", "", 401, append(challenge("", ""), basicChallenge), 4, 1},
		{"bearer", "Bearer abc", 401, append(challenge(CodeInvalidToken, "unsupported Authorization scheme; "+form), basicChallenge), 4, 1},
		{"not base64", "Basic !!!", 401, append(challenge(CodeInvalidToken, "the Basic credential is not valid base64; "+form), basicChallenge), 4, 1},
		{"no colon", "Basic " + base64.StdEncoding.EncodeToString([]byte(alice)), 401,
			append(challenge(CodeInvalidToken, "the Basic credential has no ':' between user and password; "+form), basicChallenge), 4, 1},
		{"empty password", basicAuth(alice, ""), 401,
			append(challenge(CodeInvalidToken, "the Basic credential has an empty password; "+form), basicChallenge), 4, 1},
	}
	for _, s := range steps {
		var res response
		if s.authz == "" {
			res = get(t, srv.URL)
		} else {
			res = get(t, srv.URL, s.authz)
		}
		if res.status != s.status || !equal(res.challenges, s.chal) {
			t.Errorf("%s: %d %q\nwant %d %q", s.name, res.status, res.challenges, s.status, s.chal)
		}
		if s.status == 200 && (res.seen.ID != alice+"/"+alice || res.seen.Method != MethodDatabaseLogin || !res.seen.HasLogin) {
			t.Errorf("%s: principal %+v", s.name, res.seen)
		}
		if strings.Contains(res.body, pw) {
			t.Errorf("%s: body contains the password", s.name)
		}
		if got := e.attempts.Load(); got != s.attempts {
			t.Errorf("%s: %d PostgreSQL logins, want %d", s.name, got, s.attempts)
		}
		if got := e.auth.Len(); got != s.pools {
			t.Errorf("%s: %d pools, want %d", s.name, got, s.pools)
		}
	}

	// The failure is forgotten after the TTL.
	e.clock.Advance(DefaultFailureCacheTTL + time.Second)
	if res := get(t, srv.URL, basicAuth(alice, "wrong")); res.status != 401 || e.attempts.Load() != 5 {
		t.Errorf("wrong password after the failure TTL: %d, %d logins; want 401 and a new login", res.status, e.attempts.Load())
	}

	// The pool really is alice's, on the endpoint's database.
	p, err := e.authenticate("192.0.2.1:1000", basicAuth(alice, pw))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Login.Release()
	if p.Login.User != alice || p.Login.Endpoint != "app1" {
		t.Errorf("Login.User, Endpoint = %q, %q; want %q, app1", p.Login.User, p.Login.Endpoint, alice)
	}
	if _, err := p.Login.Pool.Ping(t.Context()); err != nil {
		t.Fatalf("ping: %v", err)
	}
	if n := backends(t, e.db.Name, alice); n < 1 {
		t.Errorf("no connection of %s to %s in pg_stat_activity", alice, e.db.Name)
	}

	// The same credential on another endpoint gets a pool of its own.
	before := e.attempts.Load()
	r := httptest.NewRequest(http.MethodPost, "/app2/mcp", nil)
	r.Header.Set("Authorization", basicAuth(alice, pw))
	q, err := e.auth.Authenticate(r.Context(), r, "app2")
	if err != nil {
		t.Fatal(err)
	}
	defer q.Login.Release()
	if q.Login.Endpoint != "app2" || q.Login.Pool == p.Login.Pool || e.attempts.Load() != before+1 || e.auth.Len() != 2 {
		t.Errorf("app2: endpoint %q, shared pool %v, %d new logins, %d pools; want app2, false, 1, 2",
			q.Login.Endpoint, q.Login.Pool == p.Login.Pool, e.attempts.Load()-before, e.auth.Len())
	}
}

func TestDatabaseLoginRateLimit(t *testing.T) {
	e := newLoginEnv(t, config.DatabaseLogin{FailuresPerMinute: 3})
	alice := roleName("dl_alice")
	pw := pgtest.CreateRole(t, alice, "")
	bob := roleName("dl_bob")
	bobPW := pgtest.CreateRole(t, bob, "")
	const attacker, other = "198.51.100.7:4000", "203.0.113.9:5000"
	isErr := func(err error, status int) bool {
		ae, ok := err.(*Error)
		return ok && ae.Status() == status
	}

	if p, err := e.authenticate(attacker, basicAuth(alice, pw)); err != nil { // cached before the attack
		t.Fatal(err)
	} else {
		p.Login.Release()
	}
	for i := range 3 {
		if _, err := e.authenticate(attacker, basicAuth(alice, fmt.Sprint("guess", i))); !isErr(err, 401) {
			t.Fatalf("guess %d: %v, want 401", i, err)
		}
	}
	_, err := e.authenticate(attacker, basicAuth(alice, "guess-4"))
	ae, _ := err.(*Error)
	if ae == nil || ae.Status() != 429 || ae.RetryAfter != 20*time.Second {
		t.Fatalf("4th failure within a minute: %v, want 429 with RetryAfter 20s", err)
	}
	if got := e.attempts.Load(); got != 4 { // alice once, 3 guesses
		t.Errorf("%d PostgreSQL logins, want 4: the blocked attempt must not reach PostgreSQL", got)
	}
	if _, err := e.authenticate(attacker, basicAuth(bob, bobPW)); !isErr(err, 429) {
		t.Errorf("an uncached credential from the blocked address: %v, want 429", err)
	}
	if p, err := e.authenticate(attacker, basicAuth(alice, pw)); err != nil {
		t.Errorf("alice's already verified credential from the blocked address: %v", err)
	} else {
		p.Login.Release()
	}
	if _, err := e.authenticate(other, basicAuth(alice, "guess-x")); !isErr(err, 401) {
		t.Errorf("another address: %v, want 401", err)
	}
	e.clock.Advance(20 * time.Second)
	if _, err := e.authenticate(attacker, basicAuth(alice, "guess-5")); !isErr(err, 401) {
		t.Errorf("after Retry-After: %v, want 401", err)
	}
	if _, err := e.authenticate(attacker, basicAuth(alice, "guess-6")); !isErr(err, 429) {
		t.Errorf("right after the refilled token was spent: %v, want 429", err)
	}

	// Through the middleware: 429 with Retry-After in seconds.
	srv := serve(t, &Policy{Endpoint: "app1", Authenticator: e.auth, Required: true})
	for range 4 {
		get(t, srv.URL, basicAuth(bob, "nope"))
	}
	res := get(t, srv.URL, basicAuth(bob, "nope-again"))
	if res.status != 429 || res.retryAfter != "20" || res.challenges != nil {
		t.Errorf("middleware: %d Retry-After %q challenges %q, want 429, 20, none", res.status, res.retryAfter, res.challenges)
	}
}

func TestClientAddr(t *testing.T) {
	tests := []struct{ remote, want string }{
		{"192.0.2.1:1234", "192.0.2.1"},
		{"[::ffff:192.0.2.1]:1234", "192.0.2.1"},
		{"[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff::1]:443", "2001:db8:1:2::/64"},
		{"not-an-address", "not-an-address"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = tt.remote
		r.Header.Set("X-Forwarded-For", "10.9.9.9")
		if got := clientAddr(r); got != tt.want {
			t.Errorf("clientAddr(%q) = %q, want %q", tt.remote, got, tt.want)
		}
	}
}

// TestDatabaseLoginHeldAcrossEviction: a pool evicted while a request holds
// it stays usable until released, then closes.
func TestDatabaseLoginHeldAcrossEviction(t *testing.T) {
	e := newLoginEnv(t, config.DatabaseLogin{MaxPools: 1})
	alice, bob := roleName("dl_alice"), roleName("dl_bob")
	apw, bpw := pgtest.CreateRole(t, alice, ""), pgtest.CreateRole(t, bob, "")

	a, err := e.authenticate("192.0.2.1:1", basicAuth(alice, apw))
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.authenticate("192.0.2.1:1", basicAuth(bob, bpw)) // evicts alice's entry
	if err != nil {
		t.Fatal(err)
	}
	defer b.Login.Release()
	if n := e.auth.Len(); n != 1 {
		t.Fatalf("Len = %d, want 1", n)
	}
	if _, err := a.Login.Pool.Ping(t.Context()); err != nil {
		t.Fatalf("alice's evicted but held pool: %v", err)
	}
	select {
	case p := <-e.closes:
		t.Fatalf("pool %p closed while held", p)
	default:
	}
	a.Login.Release()
	a.Login.Release() // idempotent
	if p := <-e.closes; p != a.Login.Pool {
		t.Fatalf("closed pool %p, want alice's %p", p, a.Login.Pool)
	}
	if _, err := a.Login.Pool.Ping(t.Context()); err == nil {
		t.Error("alice's pool still works after release")
	}
	if _, err := b.Login.Pool.Ping(t.Context()); err != nil {
		t.Errorf("bob's cached pool: %v", err)
	}
}

func TestDatabaseLoginIdle(t *testing.T) {
	e := newLoginEnv(t, config.DatabaseLogin{PoolIdleTimeout: config.Duration(time.Minute)})
	alice := roleName("dl_alice")
	pw := pgtest.CreateRole(t, alice, "")
	p, err := e.authenticate("192.0.2.1:1", basicAuth(alice, pw))
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Minute)
	e.auth.pools.sweep()
	if e.auth.Len() != 1 {
		t.Fatal("a held pool was dropped as idle")
	}
	p.Login.Release()
	e.clock.Advance(59 * time.Second)
	e.auth.pools.sweep()
	if e.auth.Len() != 1 {
		t.Fatal("a pool used 59s ago was dropped with a 1m idle timeout")
	}
	e.clock.Advance(2 * time.Second)
	e.auth.pools.sweep()
	if e.auth.Len() != 0 {
		t.Fatal("an idle pool was kept")
	}
	if got := <-e.closes; got != p.Login.Pool {
		t.Errorf("closed %p, want the idle pool %p", got, p.Login.Pool)
	}
	p, err = e.authenticate("192.0.2.1:1", basicAuth(alice, pw))
	if err != nil || e.attempts.Load() != 2 {
		t.Fatalf("login after the idle close: %v, %d logins; want a new login", err, e.attempts.Load())
	}
	p.Login.Release()
}

func TestDatabaseLoginConcurrentFirstLogin(t *testing.T) {
	e := newLoginEnv(t, config.DatabaseLogin{})
	alice := roleName("dl_alice")
	pw := pgtest.CreateRole(t, alice, "")
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range 20 {
		wg.Go(func() {
			p, err := e.authenticate("192.0.2.1:1", basicAuth(alice, pw))
			if err != nil {
				failed.Add(1)
				return
			}
			p.Login.Release()
		})
	}
	wg.Wait()
	if failed.Load() != 0 || e.attempts.Load() != 1 || e.auth.Len() != 1 {
		t.Errorf("20 concurrent first logins: %d failed, %d PostgreSQL logins, %d pools; want 0, 1, 1", failed.Load(), e.attempts.Load(), e.auth.Len())
	}
}

// TestDatabaseLoginPoolCap logs in 250 distinct roles (1,000 in the long
// form, PGHERD_LONG=1) through the middleware with MaxPools 20: the cache
// never holds more than 20 pools, evicted pools are closed, and Close
// closes the rest.
func TestDatabaseLoginPoolCap(t *testing.T) {
	if testing.Short() {
		t.Skip("hundreds of PostgreSQL logins")
	}
	const maxPools, workers = 20, 8
	roles := 250
	if testenv.Long() {
		roles = 1000
	}
	e := newLoginEnv(t, config.DatabaseLogin{MaxPools: maxPools})
	prefix := "dlcap_" + strings.ToLower(rand.Text()[:6]) + "_"
	// SCRAM secrets of pgtest.ScramIterations rounds: each login derives
	// the key again on the client, which PostgreSQL's 4096 rounds make the
	// bulk of a login's CPU under the race detector.
	var create strings.Builder
	for i := 1; i <= roles; i++ {
		fmt.Fprintf(&create, "CREATE ROLE %s LOGIN PASSWORD '%s';\n", pgx.Identifier{fmt.Sprint(prefix, i)}.Sanitize(), pgtest.Secret(fmt.Sprint("pw-", i)))
	}
	pgtest.Exec(t, pgtest.URI("postgres"), create.String())
	t.Cleanup(func() {
		pgtest.Exec(t, pgtest.URI("postgres"), fmt.Sprintf(`DO $$ DECLARE r text; BEGIN
			FOR r IN SELECT rolname FROM pg_roles WHERE starts_with(rolname, %s) LOOP EXECUTE format('DROP ROLE %%I', r); END LOOP;
		END $$`, pgLiteral(prefix)))
	})
	srv := serve(t, &Policy{Endpoint: "app1", Authenticator: e.auth, Required: true})

	next := make(chan int)
	go func() {
		defer close(next)
		for i := 1; i <= roles; i++ {
			next <- i
		}
	}()
	var wg sync.WaitGroup
	var over, bad atomic.Int64
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for i := range next {
				res := getQuiet(srv.URL, basicAuth(fmt.Sprint(prefix, i), fmt.Sprint("pw-", i)))
				if res != http.StatusOK {
					bad.Add(1)
				}
				if n := e.auth.Len(); n > maxPools {
					over.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	t.Logf("%d logins in %v (%.1f/s)", roles, elapsed, float64(roles)/elapsed.Seconds())
	if bad.Load() != 0 {
		t.Fatalf("%d logins failed", bad.Load())
	}
	if over.Load() != 0 || e.auth.Len() > maxPools {
		t.Errorf("the cache exceeded %d pools %d times (now %d)", maxPools, over.Load(), e.auth.Len())
	}
	if got := e.attempts.Load(); got != int64(roles) {
		t.Errorf("%d PostgreSQL logins, want %d", got, roles)
	}
	// Evicted pools are closed without waiting for Close: at most the
	// cached pools' connections remain.
	waitBackends(t, e.db.Name, prefix+"%", maxPools*2)
	e.auth.Close()
	waitBackends(t, e.db.Name, prefix+"%", 0)
}

// getQuiet is get for goroutines: it reports the status (0 on error).
func getQuiet(url, authz string) int {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", authz)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	res.Body.Close()
	return res.StatusCode
}

func pgLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// TestDatabaseLoginAfterClose: a login racing with Close (a reload or
// shutdown) is an internal error and leaves no pool open.
func TestDatabaseLoginAfterClose(t *testing.T) {
	e := newLoginEnv(t, config.DatabaseLogin{})
	alice := roleName("dl_alice")
	pw := pgtest.CreateRole(t, alice, "")
	e.auth.Close()
	_, err := e.authenticate("192.0.2.1:1", basicAuth(alice, pw))
	var ae *Error
	if err == nil || errors.As(err, &ae) || !strings.Contains(err.Error(), "the authenticator is closed") {
		t.Fatalf("login after Close: %v, want an internal error saying the authenticator is closed", err)
	}
	if e.auth.Len() != 0 {
		t.Errorf("Len = %d after Close", e.auth.Len())
	}
	waitBackends(t, e.db.Name, alice, 0)
}
