package auth

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/pgherd/pgherd/internal/observe"
)

// Sentinels for the kinds of refusal; an [Authenticator]'s errors wrap one of
// them (through [*Error]) or are internal failures.
var (
	// ErrUnauthenticated: no usable credential (HTTP 401).
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrForbidden: a valid credential that may not do this (HTTP 403).
	ErrForbidden = errors.New("forbidden")
	// ErrTooManyAttempts: too many failed logins from one address (HTTP 429).
	ErrTooManyAttempts = errors.New("too many failed logins")
)

// RFC 6750 error codes used in WWW-Authenticate and response bodies.
const (
	CodeInvalidToken      = "invalid_token"
	CodeInsufficientScope = "insufficient_scope"
)

// Error is a refusal the client may see: [Policy.WriteError] turns it into
// the status, WWW-Authenticate challenge and JSON body. Description is meant
// for the human fixing the client and never contains the credential; Err is
// the cause, logged at debug level and never shown.
type Error struct {
	Kind        error  // ErrUnauthenticated, ErrForbidden or ErrTooManyAttempts
	Code        string // RFC 6750 code; "" when no credential was presented
	Description string
	// Scope lists the scopes that would have allowed the request (403).
	Scope []string
	// RetryAfter is when the client may try again (429).
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string {
	s := e.Kind.Error()
	if e.Description != "" {
		s += ": " + e.Description
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the kind and the cause, so errors.Is works on both.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// Status is the HTTP status for e.
func (e *Error) Status() int {
	switch e.Kind {
	case ErrForbidden:
		return http.StatusForbidden
	case ErrTooManyAttempts:
		return http.StatusTooManyRequests
	default:
		return http.StatusUnauthorized
	}
}

// invalid is a 401 for a presented credential that does not verify.
func invalid(description string, cause error) *Error {
	return &Error{Kind: ErrUnauthenticated, Code: CodeInvalidToken, Description: description, Err: cause}
}

// Forbidden returns a 403 refusal for a valid credential lacking a right;
// scopes, when given, are the ones that would allow the request and appear
// in the challenge's scope parameter. The HTTP layer uses it for tool
// authorization on tools/call.
func Forbidden(description string, scopes ...string) error {
	return &Error{Kind: ErrForbidden, Code: CodeInsufficientScope, Description: description, Scope: scopes}
}

// scopeParam renders scopes as the challenge's scope value.
func scopeParam(scopes []string) string { return strings.Join(scopes, " ") }

// reason is the observe.Auth… reason for e: a fixed set of label values.
func (e *Error) reason() string {
	switch {
	case e.Kind == ErrTooManyAttempts:
		return observe.AuthTooMany
	case e.Kind == ErrForbidden && e.Code == CodeInsufficientScope && len(e.Scope) > 0:
		return observe.AuthScope
	case e.Kind == ErrForbidden:
		return observe.AuthForbidden
	case e.Code == "":
		return observe.AuthMissing
	default:
		return observe.AuthInvalid
	}
}
