// Package access defines the four access modes an endpoint runs in and what
// each one implies for the tool set and for the SQL it may run.
package access

import (
	"fmt"
	"strings"
)

// Mode is an endpoint's access mode.
type Mode string

// The four access modes, from least to most privileged.
const (
	UserRO  Mode = "user_ro"  // one SELECT on the public schema
	UserRW  Mode = "user_rw"  // SELECT and DML on the public schema
	AdminRO Mode = "admin_ro" // one read-only statement on any schema
	AdminRW Mode = "admin_rw" // any single statement
)

// Modes lists every mode in order of privilege.
var Modes = []Mode{UserRO, UserRW, AdminRO, AdminRW}

// Parse returns the mode named by s, or an error listing the valid names.
func Parse(s string) (Mode, error) {
	m := Mode(s)
	if m.Valid() {
		return m, nil
	}
	return "", fmt.Errorf("%q is not one of %s", s, Names())
}

// Names returns the valid mode names joined by ", ".
func Names() string {
	names := make([]string, len(Modes))
	for i, m := range Modes {
		names[i] = string(m)
	}
	return strings.Join(names, ", ")
}

// Valid reports whether m is one of the four modes.
func (m Mode) Valid() bool {
	switch m {
	case UserRO, UserRW, AdminRO, AdminRW:
		return true
	}
	return false
}

// ReadOnly reports whether the mode forbids every write.
func (m Mode) ReadOnly() bool { return m == UserRO || m == AdminRO }

// Admin reports whether the mode gets the full tool set and all schemas.
func (m Mode) Admin() bool { return m == AdminRO || m == AdminRW }

// PublicOnly reports whether the mode confines the caller to the public schema.
func (m Mode) PublicOnly() bool { return m == UserRO || m == UserRW }

// Unrestricted reports whether SQL runs without validation (admin_rw).
func (m Mode) Unrestricted() bool { return m == AdminRW }

func (m Mode) String() string { return string(m) }
