package dbtools

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pgherd/pgherd/internal/pg"
	"github.com/pgherd/pgherd/internal/sqlguard"
)

func errNoDatabase(endpoint string) error {
	return fmt.Errorf("endpoint %s has no database connection for this call", endpoint)
}

// describeErr turns a database or validator error into the text a tool error
// shows: what PostgreSQL said with its SQLSTATE, detail and hint; or what
// the validator refused and why.
func describeErr(err error) error {
	if err == nil {
		return nil
	}
	var ge *sqlguard.Error
	if errors.As(err, &ge) {
		return err
	}
	if pe, ok := pg.AsError(err); ok {
		return sqlError{pe: pe}
	}
	return shortError{err}
}

// maxErrorText bounds any error text a tool returns: driver errors can
// quote a parameter's value.
const maxErrorText = 4 * pg.MaxErrorText

// shortError is err with its text cut to maxErrorText.
type shortError struct{ err error }

func (e shortError) Error() string { return pg.CutText(pg.PublicText(e.err), maxErrorText) }
func (e shortError) Unwrap() error { return e.err }

// sqlError renders a PostgreSQL error for an agent: message, SQLSTATE,
// detail, hint and position, each on its own line. It unwraps to the
// *pg.Error so logs keep the SQLSTATE.
type sqlError struct {
	pe      *pg.Error
	suggest string // nearest names, for 42P01 and 42703
}

func (e sqlError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ERROR: %s (SQLSTATE %s)", e.pe.Message, e.pe.SQLState)
	if e.pe.Detail != "" {
		fmt.Fprintf(&b, "\nDETAIL: %s", e.pe.Detail)
	}
	if e.pe.Hint != "" {
		fmt.Fprintf(&b, "\nHINT: %s", e.pe.Hint)
	}
	if e.pe.Position > 0 {
		fmt.Fprintf(&b, "\nPOSITION: %d", e.pe.Position)
	}
	if e.suggest != "" {
		fmt.Fprintf(&b, "\nSUGGESTION: %s", e.suggest)
	}
	return b.String()
}

func (e sqlError) Unwrap() error { return e.pe }
