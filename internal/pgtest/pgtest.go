// Package pgtest gives tests a real PostgreSQL: one throwaway cluster per test
// binary (started by [Main]) and one fresh database per test ([NewDatabase]).
//
// Set PGHERD_TEST_DATABASE_URL to a superuser (or CREATEDB + CREATEROLE) URI
// to use an existing server instead of starting one.
package pgtest

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgherd/pgherd/internal/localpg"
)

// EnvURL names the variable that points tests at an existing server.
const EnvURL = "PGHERD_TEST_DATABASE_URL"

var (
	mu      sync.Mutex
	base    *url.URL         // superuser URI of the server in use
	cluster *localpg.Cluster // nil when EnvURL is set
	hypopg  bool
	started bool
)

// Main starts the cluster (unless EnvURL is set), runs the tests and stops it.
// Call it from TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if err := start(); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		return 1
	}
	defer func() {
		if cluster != nil {
			cluster.Stop()
		}
	}()
	return m.Run()
}

func start() error {
	mu.Lock()
	defer mu.Unlock()
	if started {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if s := os.Getenv(EnvURL); s != "" {
		u, err := url.Parse(s)
		if err != nil {
			return fmt.Errorf("%s: %w", EnvURL, err)
		}
		base = u
		conn, err := pgx.Connect(ctx, s)
		if err != nil {
			return fmt.Errorf("connecting to %s: %w", EnvURL, err)
		}
		defer conn.Close(ctx)
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_available_extensions WHERE name = 'hypopg')").Scan(&hypopg); err != nil {
			return err
		}
	} else {
		c, err := localpg.Start(ctx, localpg.Options{ScramIterations: ScramIterations})
		if err != nil {
			return err
		}
		cluster = c
		hypopg = c.HasHypoPG()
		base, _ = url.Parse(c.URI("postgres"))
	}
	started = true
	return nil
}

// ensure starts the server on first use when a test binary has no TestMain
// calling [Main]; packages should call Main so the cluster is stopped.
func ensure(t testing.TB) {
	t.Helper()
	if err := start(); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
}

// Cluster returns the throwaway cluster, or nil when EnvURL is in use.
func Cluster() *localpg.Cluster { return cluster }

// HasHypoPG reports whether the server can create the hypopg extension.
func HasHypoPG() bool { return hypopg }

// URI returns the superuser URI for database db on the test server.
func URI(db string) string {
	u := *base
	u.Path = "/" + db
	return u.String()
}

// URIAs returns a URI for database db as user with password.
func URIAs(db, user, password string) string {
	u := *base
	u.Path = "/" + db
	u.User = url.UserPassword(user, password)
	return u.String()
}

// Port returns the server's port as a string.
func Port() string { return base.Port() }

// Database is a fresh database created for one test.
type Database struct {
	Name string
	URI  string // superuser URI
}

// NewDatabase creates an empty database for t and drops it (with FORCE) when
// the test ends.
func NewDatabase(t testing.TB) *Database {
	t.Helper()
	ensure(t)
	name := "t_" + strings.ToLower(rand.Text()[:12])
	ctx := context.Background()
	Exec(t, URI("postgres"), "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, URI("postgres"))
		if err != nil {
			t.Errorf("pgtest: dropping %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: dropping %s: %v", name, err)
		}
	})
	return &Database{Name: name, URI: URI(name)}
}

// Exec runs trusted set-up SQL (may hold several statements) on uri and fails
// the test on error.
func Exec(t testing.TB, uri, sql string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, uri)
	if err != nil {
		t.Fatalf("pgtest: connecting: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("pgtest: %v\nSQL: %s", err, sql)
	}
}

// QueryValue runs a single-value query on uri and returns the value.
func QueryValue[T any](t testing.TB, uri, sql string, args ...any) T {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, uri)
	if err != nil {
		t.Fatalf("pgtest: connecting: %v", err)
	}
	defer conn.Close(ctx)
	var v T
	if err := conn.QueryRow(ctx, sql, args...).Scan(&v); err != nil {
		t.Fatalf("pgtest: %v\nSQL: %s", err, sql)
	}
	return v
}

// ScramIterations is the PBKDF2 round count of the passwords the test
// cluster's superuser and the roles of [CreateRole] and [Secret] log in
// with, instead of PostgreSQL's 4096: every login makes the client derive
// the key with the server's count, which under the race detector cost
// about 9 ms of CPU per connection, and the suites open thousands. SCRAM
// itself (the exchange, the proofs, a wrong password's refusal) is the
// same.
const ScramIterations = 1

// Secret returns the SCRAM secret of password with [ScramIterations]
// rounds, for CREATE ROLE … PASSWORD or ALTER ROLE … PASSWORD (which store
// it as is; it holds no quote). Logins then use password.
func Secret(password string) string {
	s, err := localpg.ScramSecret(password, ScramIterations)
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return s
}

// CreateRole creates a login role with a random password and drops it (and
// what it owns in the cluster's databases is the test's business) at cleanup.
// It returns the password.
func CreateRole(t testing.TB, name string, options string) string {
	t.Helper()
	ensure(t)
	pw := rand.Text()
	Exec(t, URI("postgres"), fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s' %s", pgx.Identifier{name}.Sanitize(), Secret(pw), options))
	t.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, URI("postgres"))
		if err != nil {
			return
		}
		defer conn.Close(ctx)
		conn.Exec(ctx, "DROP ROLE IF EXISTS "+pgx.Identifier{name}.Sanitize())
	})
	return pw
}
