package pg

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// Sentinel errors callers branch on with [errors.Is]. The errors returned by
// this package wrap them in a message that says what happened and what to do.
var (
	// ErrPoolExhausted: no connection became free within the pool's
	// AcquireTimeout (every connection is busy with other calls).
	ErrPoolExhausted = errors.New("no database connection became free in time")

	// ErrPoolClosed: the pool was closed (the server is shutting down).
	ErrPoolClosed = errors.New("the database pool is closed")

	// ErrMessageTooLarge: one message from the server (one result row, or
	// one error) was larger than PoolOptions.MaxMessageBytes; the
	// connection was closed without reading it.
	ErrMessageTooLarge = errors.New("a result row is larger than the per-message cap")

	// ErrParams: the call's parameters do not fit the statement (wrong
	// count, or a value PostgreSQL's inferred type cannot take).
	ErrParams = errors.New("invalid statement parameters")

	// ErrSettingsChanged: the connection reports a value of a setting that
	// changes how SQL is lexed (standard_conforming_strings,
	// client_encoding) other than the one pgherd pins; user SQL is not run
	// on it, and the connection is destroyed.
	ErrSettingsChanged = errors.New("a setting that changes how SQL is read differs from pgherd's")
)

// Error is an error reported by PostgreSQL, with the fields a caller shows
// to a user. Every database error this package returns is an *Error (or
// wraps a *pgconn.PgError, which [AsError] converts).
type Error struct {
	SQLState   string `json:"sqlstate"`
	Severity   string `json:"severity"`
	Message    string `json:"message"`
	Detail     string `json:"detail,omitempty"`
	Hint       string `json:"hint,omitempty"`
	Position   int    `json:"position,omitempty"` // 1-based character offset into the SQL text; 0 when unknown
	Where      string `json:"where,omitempty"`
	Schema     string `json:"schema,omitempty"`
	Table      string `json:"table,omitempty"`
	Column     string `json:"column,omitempty"`
	Constraint string `json:"constraint,omitempty"`

	pgErr *pgconn.PgError
}

// Error returns "SEVERITY: message (SQLSTATE code)", as psql prints it.
func (e *Error) Error() string {
	return e.Severity + ": " + e.Message + " (SQLSTATE " + e.SQLState + ")"
}

// Unwrap returns the driver's error.
func (e *Error) Unwrap() error { return e.pgErr }

// AsError finds a PostgreSQL error in err's chain: an *Error, or a
// *pgconn.PgError converted to one.
func AsError(err error) (*Error, bool) {
	if err == nil {
		return nil, false
	}
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return fromPgError(pe), true
	}
	return nil, false
}

// MaxErrorText is the most of one field of a PostgreSQL error (message,
// detail, hint, context) pgherd passes on: an error can quote megabytes of
// the statement or of a value ("invalid input syntax for type integer:
// "xxx…"", "Failing row contains (…)"). Longer fields are cut with a marker.
const MaxErrorText = 2000

// CutText returns s when it is at most limit bytes long, and otherwise its
// first bytes (on a rune boundary) followed by a marker saying how long it
// was.
func CutText(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	keep := limit
	for keep > 0 && !utf8.RuneStart(s[keep]) {
		keep--
	}
	return s[:keep] + fmt.Sprintf("… [pgherd cut this text: %d of %d bytes shown]", keep, len(s))
}

func fromPgError(pe *pgconn.PgError) *Error {
	return &Error{
		SQLState:   pe.Code,
		Severity:   pe.Severity,
		Message:    CutText(pe.Message, MaxErrorText),
		Detail:     CutText(pe.Detail, MaxErrorText),
		Hint:       CutText(pe.Hint, MaxErrorText),
		Position:   int(pe.Position),
		Where:      CutText(pe.Where, MaxErrorText),
		Schema:     pe.SchemaName,
		Table:      pe.TableName,
		Column:     pe.ColumnName,
		Constraint: pe.ConstraintName,
		pgErr:      pe,
	}
}

// dbError turns a PostgreSQL error into an *Error and gives every other
// error the caps' explanations; what names the step that failed.
func (p *Pool) dbError(what string, err error) error {
	if err == nil {
		return nil
	}
	if e, ok := AsError(err); ok {
		if strings.HasPrefix(e.SQLState, "57P0") {
			// admin_shutdown, crash_shutdown, cannot_connect_now: the
			// server is ending sessions (a restart, a failover, a
			// terminated backend). Idle connections are likely dead too:
			// drop them now rather than fail the calls that would take
			// them.
			p.resetPool(e.SQLState)
		}
		return e
	}
	var tooLarge *pgproto3.ExceededMaxBodyLenErr
	if errors.As(err, &tooLarge) {
		return fmt.Errorf("%w: the server sent a %s message and the cap is %s (pool max_message_bytes); "+
			"select less of the large value (for example left(col, 10000) or length(col)) or fewer columns",
			ErrMessageTooLarge, formatBytes(int64(tooLarge.ActualBodyLen)), formatBytes(int64(tooLarge.MaxExpectedBodyLen)))
	}
	return fmt.Errorf("database %q: %s: %w", p.name, what, err)
}

// resetPool closes every idle connection; connections in use are destroyed
// when returned.
func (p *Pool) resetPool(sqlstate string) {
	if p.closed.Load() {
		return
	}
	p.resets.Add(1)
	p.pool.Reset()
	p.logger.Info("pool reset: the server is ending sessions", "sqlstate", sqlstate)
}

// formatBytes prints n in the largest binary unit that divides it
// reasonably: "64 MiB", "300.0 MiB", "512 bytes".
func formatBytes(n int64) string {
	const (
		kib = 1 << 10
		mib = 1 << 20
		gib = 1 << 30
	)
	switch {
	case n >= gib:
		return trimUnit(float64(n)/gib, "GiB")
	case n >= mib:
		return trimUnit(float64(n)/mib, "MiB")
	case n >= kib:
		return trimUnit(float64(n)/kib, "KiB")
	}
	return fmt.Sprintf("%d bytes", n)
}

func trimUnit(v float64, unit string) string {
	s := fmt.Sprintf("%.1f", v)
	s = strings.TrimSuffix(s, ".0")
	return s + " " + unit
}

// redactedError replaces an error whose text showed a password. It unwraps
// only to what callers branch on: the server's error (which never holds the
// client's password) and context errors.
type redactedError struct {
	msg   string
	chain []error
}

func newRedactedError(msg string, err error) *redactedError {
	e := &redactedError{msg: msg}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		e.chain = append(e.chain, pe)
	}
	for _, c := range []error{context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, c) {
			e.chain = append(e.chain, c)
		}
	}
	return e
}

func (e *redactedError) Error() string   { return e.msg }
func (e *redactedError) Unwrap() []error { return e.chain }

// redact removes the password of uri from msg. pgconn already masks
// passwords in its own errors; this is the backstop for every error that
// leaves Connect.
func redact(msg, uri string) string {
	pw := uriPassword(uri)
	if pw == "" {
		return msg
	}
	msg = strings.ReplaceAll(msg, pw, "xxxxx")
	if esc := url.QueryEscape(pw); esc != pw {
		msg = strings.ReplaceAll(msg, esc, "xxxxx")
	}
	if esc := url.PathEscape(pw); esc != pw {
		msg = strings.ReplaceAll(msg, esc, "xxxxx")
	}
	return msg
}

// uriPassword extracts the password from a URL or keyword/value
// connection string, without relying on the string being valid.
func uriPassword(uri string) string {
	if u, err := url.Parse(uri); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok {
			return pw
		}
	}
	// URL that url.Parse rejects: take what lies between the scheme's
	// user-info colon and the last '@'.
	if i := strings.Index(uri, "://"); i >= 0 {
		rest := uri[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if c := strings.Index(rest[:at], ":"); c >= 0 {
				return rest[c+1 : at]
			}
		}
	}
	// keyword/value form: password=secret or password='se cret'
	if i := strings.Index(uri, "password="); i >= 0 {
		v := uri[i+len("password="):]
		if strings.HasPrefix(v, "'") {
			if j := strings.Index(v[1:], "'"); j >= 0 {
				return v[1 : j+1]
			}
			return v[1:]
		}
		if j := strings.IndexAny(v, " \t\n"); j >= 0 {
			return v[:j]
		}
		return v
	}
	return ""
}
