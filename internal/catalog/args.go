package catalog

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// maxNameBytes bounds names and patterns. PostgreSQL identifiers are at most
// 63 bytes; a LIKE pattern may be longer, but not without end.
const maxNameBytes = 1024

// checkText refuses strings PostgreSQL would reject as a text parameter.
// Such an error would abort the caller's transaction, so it is caught here.
func checkText(arg, s string) error {
	switch {
	case !utf8.ValidString(s):
		return &InvalidArgumentError{Argument: arg, Message: arg + " is not valid UTF-8"}
	case strings.IndexByte(s, 0) >= 0:
		return &InvalidArgumentError{Argument: arg, Message: arg + " must not contain a NUL character"}
	case len(s) > maxNameBytes:
		return &InvalidArgumentError{Argument: arg, Message: fmt.Sprintf("%s is %d bytes long, more than the %d allowed", arg, len(s), maxNameBytes)}
	}
	return nil
}

// checkPattern refuses LIKE patterns PostgreSQL would reject: besides
// [checkText], a pattern must not end with an unpaired escape character.
func checkPattern(p string) error {
	if err := checkText("pattern", p); err != nil {
		return err
	}
	trailing := len(p) - len(strings.TrimRight(p, `\`))
	if trailing%2 == 1 {
		return &InvalidArgumentError{Argument: "pattern", Message: `pattern must not end with a single backslash (write \\ for a literal backslash)`}
	}
	return nil
}
