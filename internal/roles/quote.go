package roles

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// ident quotes a name as an SQL identifier.
func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

var (
	errNUL     = errors.New("contains a NUL byte, which PostgreSQL cannot store")
	errNotUTF8 = errors.New("is not valid UTF-8")
)

// literal quotes s as an SQL string constant with quote_literal's rules:
// quotes are doubled and, when s holds a backslash, the E'…' form with
// backslashes doubled is used, so the constant means s whatever
// standard_conforming_strings says. Strings PostgreSQL cannot hold (a NUL
// byte, invalid UTF-8) are refused.
func literal(s string) (string, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return "", errNUL
	}
	if !utf8.ValidString(s) {
		return "", errNotUTF8
	}
	q := "'" + strings.ReplaceAll(s, "'", "''") + "'"
	if strings.Contains(s, `\`) {
		q = "E" + strings.ReplaceAll(q, `\`, `\\`)
	}
	return q, nil
}

// mustLiteral quotes a string already checked by [Spec.check] (names).
func mustLiteral(s string) string {
	q, err := literal(s)
	if err != nil {
		panic("roles: unchecked literal: " + err.Error())
	}
	return q
}

// dollarQuote wraps body in the first dollar-quote tag ($$, $do$, $do1$, …)
// that does not occur in it, so no name embedded in body can end the
// constant early.
func dollarQuote(body string) string {
	tag := "$$"
	for i := 0; strings.Contains(body, tag); i++ {
		if i == 0 {
			tag = "$do$"
		} else {
			tag = "$do" + strconv.Itoa(i) + "$"
		}
	}
	return tag + "\n" + body + "\n" + tag
}
