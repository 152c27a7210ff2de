package demo

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgherd/pgherd/internal/access"
	"github.com/pgherd/pgherd/internal/config"
	"github.com/pgherd/pgherd/internal/localpg"
	"github.com/pgherd/pgherd/internal/roles"
)

// marker is the comment on every database and role the demo creates on an
// existing server: a later demo removes leftovers carrying it (from a demo
// that was killed), and refuses to touch anything else.
const marker = "created by pgherd demo; dropped when the demo stops"

// existingPrefix names the demo's databases and roles on an existing server,
// where app1 could be anyone's.
const existingPrefix = "pgherd_demo_"

// cleanupTimeout bounds dropping databases and stopping the cluster.
const cleanupTimeout = 30 * time.Second

// database is one demo database and the endpoint serving it.
type database struct {
	Endpoint string      // endpoint name and tool prefix: app1
	Mode     access.Mode // the endpoint's access mode
	Allows   string      // what the mode allows, in one line
	Name     string      // database name
	Owner    string      // role owning the objects (the login role in admin_rw)
	Login    string      // the endpoint's login role
	password string
}

// layout is the design document's four endpoints.
var layout = []struct {
	endpoint string
	mode     access.Mode
	allows   string
}{
	{"app1", access.UserRO, "one SELECT at a time, public schema only, read-only"},
	{"app2", access.UserRW, "SELECT, INSERT, UPDATE, DELETE on the public schema"},
	{"app3", access.AdminRO, "read-only statements on every schema; list_schemas, health checks, top queries"},
	{"app4", access.AdminRW, "any single statement, DDL included, as the database owner; health checks, top queries"},
}

// server is the PostgreSQL server the demo runs on: a throwaway cluster it
// started, or an existing server it was pointed at.
type server struct {
	base    *url.URL         // superuser URI of the maintenance database
	cluster *localpg.Cluster // nil on an existing server
	prefix  string           // prepended to database and role names
	version string           // server_version, for the banner
	logger  *slog.Logger

	mu        sync.Mutex
	databases []string // created, to drop on an existing server
	roles     []string
}

// startServer starts a throwaway cluster, or checks the existing server at
// databaseURL can host the demo.
func startServer(ctx context.Context, databaseURL string, logger *slog.Logger) (*server, error) {
	s := &server{logger: logger}
	if databaseURL == "" {
		c, err := localpg.Start(ctx, localpg.Options{Logger: logger.With("component", "localpg")})
		if err != nil {
			return nil, fmt.Errorf("demo: starting a throwaway PostgreSQL: %w; "+
				"or run pgherd demo --database-url postgres://… against a server you have", err)
		}
		s.cluster = c
		s.base, _ = url.Parse(c.URI("postgres"))
	} else {
		u, err := url.Parse(databaseURL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
			return nil, fmt.Errorf("demo: --database-url %s is not a postgres://user:password@host:port/database URI", config.RedactURI(databaseURL))
		}
		if strings.Trim(u.Path, "/") == "" {
			u.Path = "/postgres"
		}
		s.base, s.prefix = u, existingPrefix
	}
	conn, err := pgx.Connect(ctx, s.base.String())
	if err != nil {
		s.stop()
		return nil, fmt.Errorf("demo: connecting to %s: %w", config.RedactURI(s.base.String()), err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var super bool
	err = conn.QueryRow(ctx, "SELECT current_setting('server_version'), rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user").Scan(&s.version, &super)
	if err != nil {
		s.stop()
		return nil, fmt.Errorf("demo: asking the server about itself: %w", err)
	}
	if !super {
		s.stop()
		return nil, fmt.Errorf("demo: --database-url connects as %q, which is not a superuser; the demo hardens its databases "+
			"(revoking built-in functions from PUBLIC) and sets superuser-only limits on its roles: connect as a superuser, "+
			"or leave out --database-url to start a throwaway server", s.base.User.Username())
	}
	return s, nil
}

// uri returns the superuser URI for database db.
func (s *server) uri(db string) string {
	u := *s.base
	u.Path = "/" + db
	return u.String()
}

// uriAs returns the URI for database db as user.
func (s *server) uriAs(db, user, password string) string {
	u := *s.base
	u.Path = "/" + db
	u.User = url.UserPassword(user, password)
	return u.String()
}

// where describes the server for the banner (no credentials).
func (s *server) where() string {
	if s.cluster != nil {
		return fmt.Sprintf("PostgreSQL %s, a throwaway cluster on 127.0.0.1:%d (removed when the demo stops)", s.version, s.cluster.Port())
	}
	return fmt.Sprintf("PostgreSQL %s at %s (databases %s*, dropped when the demo stops)", s.version, s.base.Host, s.prefix)
}

// plan names the demo's databases and roles and draws their passwords.
func (s *server) plan() []*database {
	dbs := make([]*database, 0, len(layout))
	for _, l := range layout {
		name := s.prefix + l.endpoint
		d := &database{Endpoint: l.endpoint, Mode: l.mode, Allows: l.allows, Name: name,
			Owner: name + "_owner", Login: name + "_" + string(l.mode), password: rand.Text()}
		if l.mode == access.AdminRW {
			d.Owner = d.Login
		}
		dbs = append(dbs, d)
	}
	return dbs
}

// setup creates the roles and databases, fills them and confines the login
// roles. What it created is recorded for [server.stop] even when it fails.
func (s *server) setup(ctx context.Context, dbs []*database) error {
	conn, err := pgx.Connect(ctx, s.base.String())
	if err != nil {
		return fmt.Errorf("demo: connecting to %s: %w", config.RedactURI(s.base.String()), err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if s.cluster == nil {
		if err := s.removeLeftovers(ctx, conn, dbs); err != nil {
			return err
		}
	}
	for _, d := range dbs {
		for _, role := range []string{d.Owner, d.Login} {
			if s.has(role) {
				continue
			}
			// NOLOGIN for now: roles.Statements gives the login role its
			// LOGIN, password and limits once its database is ready.
			if _, err := conn.Exec(ctx, "CREATE ROLE "+ident(role)+" NOLOGIN"); err != nil {
				return fmt.Errorf("demo: creating role %s: %w", role, err)
			}
			s.record(&s.roles, role)
			if _, err := conn.Exec(ctx, "COMMENT ON ROLE "+ident(role)+" IS "+quote(marker)); err != nil {
				return fmt.Errorf("demo: marking role %s: %w", role, err)
			}
		}
		// One at a time: CREATE DATABASE copies template1 and fails while
		// another copy is in progress.
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident(d.Name)+" OWNER "+ident(d.Owner)); err != nil {
			return fmt.Errorf("demo: creating database %s: %w", d.Name, err)
		}
		s.record(&s.databases, d.Name)
		if _, err := conn.Exec(ctx, "COMMENT ON DATABASE "+ident(d.Name)+" IS "+quote(marker)); err != nil {
			return fmt.Errorf("demo: marking database %s: %w", d.Name, err)
		}
	}

	var wg sync.WaitGroup
	errs := make([]error, len(dbs))
	for i, d := range dbs {
		wg.Go(func() { errs[i] = s.fill(ctx, d) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (s *server) has(role string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.roles {
		if r == role {
			return true
		}
	}
	return false
}

func (s *server) record(list *[]string, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	*list = append(*list, name)
}

// fill creates the extensions and the shop schema in d, as its owner, then
// hardens the database and creates its login role.
func (s *server) fill(ctx context.Context, d *database) error {
	conn, err := pgx.Connect(ctx, s.uri(d.Name))
	if err != nil {
		return fmt.Errorf("demo: connecting to database %s: %w", d.Name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))

	rows, err := conn.Query(ctx, "SELECT name FROM pg_catalog.pg_available_extensions WHERE name IN ('pg_stat_statements', 'hypopg') ORDER BY name")
	if err != nil {
		return fmt.Errorf("demo: database %s: listing extensions: %w", d.Name, err)
	}
	extensions, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("demo: database %s: listing extensions: %w", d.Name, err)
	}
	for _, e := range extensions {
		if _, err := conn.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS "+ident(e)); err != nil {
			return fmt.Errorf("demo: database %s: creating extension %s: %w", d.Name, e, err)
		}
	}
	if d.Endpoint == layout[0].endpoint { // say it once, not per database
		if !slices.Contains(extensions, "hypopg") {
			s.logger.Warn("hypopg is not installed: explain_query cannot simulate hypothetical indexes",
				"fix", "apt-get install postgresql-"+strings.Split(s.version, ".")[0]+"-hypopg")
		}
		if !slices.Contains(extensions, "pg_stat_statements") {
			s.logger.Warn("pg_stat_statements is not available: query statistics stay empty")
		}
	}

	// The objects belong to the owner, as in a real database; the
	// superuser only sets things up.
	script := "SET ROLE " + ident(d.Owner) + ";\n" + shopSQL + "\nRESET ROLE;\nANALYZE;"
	if _, err := conn.Exec(ctx, script); err != nil {
		return fmt.Errorf("demo: database %s: creating the shop schema: %w", d.Name, err)
	}
	if err := roles.Apply(ctx, conn, roles.Harden(d.Name, d.Owner)); err != nil {
		return fmt.Errorf("demo: database %s: %w", d.Name, err)
	}
	stmts, err := roles.Statements(roles.Spec{Role: d.Login, Password: d.password, Mode: d.Mode, Database: d.Name, Owner: d.Owner})
	if err != nil {
		return fmt.Errorf("demo: database %s: %w", d.Name, err)
	}
	if err := roles.Apply(ctx, conn, stmts); err != nil {
		return fmt.Errorf("demo: database %s: %w", d.Name, err)
	}
	return nil
}

// removeLeftovers drops what an earlier, killed demo left on an existing
// server, and refuses to run over a database or role someone else owns.
func (s *server) removeLeftovers(ctx context.Context, conn *pgx.Conn, dbs []*database) error {
	comment := func(sql, name string) (exists bool, mine bool, err error) {
		var c *string
		switch err := conn.QueryRow(ctx, sql, name).Scan(&c); {
		case errors.Is(err, pgx.ErrNoRows):
			return false, false, nil
		case err != nil:
			return false, false, err
		}
		return true, c != nil && *c == marker, nil
	}
	var leftRoles []string
	for _, d := range dbs {
		exists, mine, err := comment("SELECT pg_catalog.shobj_description(oid, 'pg_database') FROM pg_catalog.pg_database WHERE datname = $1", d.Name)
		switch {
		case err != nil:
			return fmt.Errorf("demo: looking for database %s: %w", d.Name, err)
		case exists && !mine:
			return fmt.Errorf("demo: database %s already exists and was not created by pgherd demo; drop or rename it, or point --database-url at another server", d.Name)
		case exists:
			s.logger.Info("dropping a database left by an earlier demo", "database", d.Name)
			if _, err := conn.Exec(ctx, "DROP DATABASE "+ident(d.Name)+" WITH (FORCE)"); err != nil {
				return fmt.Errorf("demo: dropping database %s left by an earlier demo: %w", d.Name, err)
			}
		}
		for _, role := range []string{d.Owner, d.Login} {
			exists, mine, err := comment("SELECT pg_catalog.shobj_description(oid, 'pg_authid') FROM pg_catalog.pg_roles WHERE rolname = $1", role)
			switch {
			case err != nil:
				return fmt.Errorf("demo: looking for role %s: %w", role, err)
			case exists && !mine:
				return fmt.Errorf("demo: role %s already exists and was not created by pgherd demo; drop or rename it, or point --database-url at another server", role)
			case exists:
				leftRoles = append(leftRoles, role)
			}
		}
	}
	for _, role := range leftRoles {
		s.logger.Info("dropping a role left by an earlier demo", "role", role)
		if _, err := conn.Exec(ctx, "DROP ROLE IF EXISTS "+ident(role)); err != nil {
			return fmt.Errorf("demo: dropping role %s left by an earlier demo: %w; drop what it owns elsewhere (DROP OWNED BY) and try again", role, err)
		}
	}
	return nil
}

// stop removes everything the demo created: the whole cluster, or the
// databases and roles on an existing server. It has its own deadline, so it
// works after the demo's context has ended.
func (s *server) stop() error {
	if s.cluster != nil {
		if err := s.cluster.Stop(); err != nil {
			return fmt.Errorf("demo: removing the throwaway cluster: %w", err)
		}
		return nil
	}
	s.mu.Lock()
	databases, roleNames := s.databases, s.roles
	s.databases, s.roles = nil, nil
	s.mu.Unlock()
	if len(databases) == 0 && len(roleNames) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.base.String())
	if err != nil {
		return fmt.Errorf("demo: connecting to drop the demo databases %s: %w; drop them by hand", strings.Join(databases, ", "), err)
	}
	defer conn.Close(ctx)
	var errs []error
	for _, db := range databases {
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(db)+" WITH (FORCE)"); err != nil {
			errs = append(errs, fmt.Errorf("demo: dropping database %s: %w", db, err))
		}
	}
	for _, role := range roleNames {
		if _, err := conn.Exec(ctx, "DROP ROLE IF EXISTS "+ident(role)); err != nil {
			errs = append(errs, fmt.Errorf("demo: dropping role %s: %w", role, err))
		}
	}
	s.logger.Info("demo databases and roles dropped", "databases", len(databases), "roles", len(roleNames))
	return errors.Join(errs...)
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

// quote quotes a string constant the demo itself wrote (no backslashes).
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
