package roles

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/pgherd/pgherd/internal/access"
)

// Defaults for the zero values of [Spec].
const (
	DefaultStatementTimeout         = 60 * time.Second
	DefaultIdleInTransactionTimeout = 60 * time.Second
	DefaultTempFileLimit            = "256MB"
	DefaultConnectionLimit          = 20
)

// maxNameBytes is PostgreSQL's NAMEDATALEN-1: longer names are silently
// truncated, which would make "does the role exist" checks lie.
const maxNameBytes = 63

// Spec describes one login role for one database in one access mode.
type Spec struct {
	// Role is the login role to create, or to update when it exists
	// (password included).
	Role string
	// Password is set with ALTER ROLE … PASSWORD. A SCRAM-SHA-256 verifier
	// ("SCRAM-SHA-256$4096:…") is stored as is, so the clear password never
	// reaches the server. Empty leaves the password as it is (a new role
	// then has none and can log in only by non-password methods).
	Password string
	// Mode decides what the role may do.
	Mode access.Mode
	// Database is the database the role serves; the statements must run
	// connected to it.
	Database string
	// Owner is the role owning the objects in the database's public schema:
	// grants are given on its objects, and default privileges are set FOR
	// ROLE Owner so tables it creates later are covered too. Required, and
	// different from Role, except in admin_rw, where the login role is the
	// owner: Owner must then be empty or equal to Role.
	Owner string
	// StatementTimeout is the role-level statement_timeout, a backstop
	// behind the executor's per-call SET LOCAL; zero means
	// DefaultStatementTimeout.
	StatementTimeout time.Duration
	// IdleInTransactionTimeout is the role-level
	// idle_in_transaction_session_timeout; zero means
	// DefaultIdleInTransactionTimeout.
	IdleInTransactionTimeout time.Duration
	// TempFileLimit is the role-level temp_file_limit ("256MB", "1GB", "-1"
	// for none). Only a superuser may set it, so the role cannot raise it.
	// Empty means DefaultTempFileLimit.
	TempFileLimit string
	// ConnectionLimit is the role's CONNECTION LIMIT; zero means
	// DefaultConnectionLimit. Leave room for the endpoint's pool.
	ConnectionLimit int
}

// reservedRoles are names PostgreSQL will not take as a role name.
var reservedRoles = map[string]bool{"public": true, "none": true, "current_user": true, "session_user": true, "current_role": true}

var tempFileLimitRE = regexp.MustCompile(`^(-1|[0-9]+ ?(kB|MB|GB|TB)?)$`)

// withDefaults returns s with every zero value filled, or every problem
// found.
func (s Spec) withDefaults() (Spec, error) {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if err := checkName(s.Role); err != nil {
		bad("Role", "%v", err)
	} else if reservedRoles[strings.ToLower(s.Role)] || strings.HasPrefix(s.Role, "pg_") {
		bad("Role", "%q is reserved by PostgreSQL; choose another name", s.Role)
	}
	if !s.Mode.Valid() {
		bad("Mode", "%q is not one of %s", s.Mode, access.Names())
	}
	if err := checkName(s.Database); err != nil {
		bad("Database", "%v", err)
	}
	if s.Mode == access.AdminRW {
		if s.Owner == "" {
			s.Owner = s.Role
		}
		if s.Owner != s.Role {
			bad("Owner", "%q differs from Role %q; in admin_rw the login role is the owner: leave Owner empty or set it to %q", s.Owner, s.Role, s.Role)
		}
	} else if s.Owner == "" {
		bad("Owner", "empty; name the role that owns the objects in public (grants and default privileges are given on its objects)")
	} else if err := checkName(s.Owner); err != nil {
		bad("Owner", "%v", err)
	} else if s.Owner == s.Role && s.Mode.Valid() {
		bad("Owner", "is the login role itself; in %s the login role must own nothing (an owner bypasses every GRANT): use a separate owner role, or mode admin_rw", s.Mode)
	}
	if _, err := literal(s.Password); err != nil {
		bad("Password", "%v", err)
	}
	for _, d := range []struct {
		field string
		v     *time.Duration
		def   time.Duration
	}{
		{"StatementTimeout", &s.StatementTimeout, DefaultStatementTimeout},
		{"IdleInTransactionTimeout", &s.IdleInTransactionTimeout, DefaultIdleInTransactionTimeout},
	} {
		switch {
		case *d.v == 0:
			*d.v = d.def
		case *d.v < time.Millisecond:
			bad(d.field, "%v is below PostgreSQL's 1ms resolution; zero means the default %v", *d.v, d.def)
		}
	}
	if s.TempFileLimit == "" {
		s.TempFileLimit = DefaultTempFileLimit
	} else if !tempFileLimitRE.MatchString(s.TempFileLimit) {
		bad("TempFileLimit", "%q is not a size; write it like 256MB or 1GB (units kB, MB, GB, TB), or -1 for no limit", s.TempFileLimit)
	}
	switch {
	case s.ConnectionLimit == 0:
		s.ConnectionLimit = DefaultConnectionLimit
	case s.ConnectionLimit < 0:
		bad("ConnectionLimit", "%d; a pgherd login role should have a limit: give a positive number, zero means %d", s.ConnectionLimit, DefaultConnectionLimit)
	}
	if err := errors.Join(errs...); err != nil {
		return s, fmt.Errorf("roles: spec for role %q: %w", s.Role, err)
	}
	return s, nil
}

// checkName checks a role or database name.
func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("empty")
	case len(name) > maxNameBytes:
		return fmt.Errorf("%q is %d bytes; PostgreSQL names hold at most %d", name, len(name), maxNameBytes)
	}
	if _, err := literal(name); err != nil {
		return fmt.Errorf("%q %w", name, err)
	}
	return nil
}

// setting renders a duration as a PostgreSQL time setting, in the largest
// unit that divides it.
func setting(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dmin", d/time.Minute)
	case d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return fmt.Sprintf("%dms", d/time.Millisecond)
}
