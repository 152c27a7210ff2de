package config

import (
	"fmt"
	"slices"
	"strings"
)

// Error is one problem in a configuration, located by its key path.
type Error struct {
	// Path locates the value: "endpoints.app1.pool.max_conns",
	// "auth.api_keys[0].key", "endpoints.app1.tenant_settings[\"app.x\"]", or
	// "env HTTP_PORT" for an environment override. It is empty for problems
	// with the file as a whole (YAML syntax).
	Path string
	// Message says what is wrong and how to fix it. It never contains a
	// secret.
	Message string
}

func (e Error) Error() string {
	if e.Path == "" {
		return e.Message
	}
	return e.Path + ": " + e.Message
}

// Errors is every problem found in a configuration, sorted by path (indexes
// in numeric order). Its Error method prints one problem per line.
type Errors []Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// add records a problem; args format the message.
func (es *Errors) add(path, format string, args ...any) {
	*es = append(*es, Error{Path: path, Message: fmt.Sprintf(format, args...)})
}

// sorted returns the problems ordered by path, without exact duplicates (an
// anchor merged in two places can report the same problem twice).
func (es Errors) sorted() Errors {
	out := slices.Clone(es)
	slices.SortStableFunc(out, func(a, b Error) int { return comparePaths(a.Path, b.Path) })
	return slices.Compact(out)
}

// err returns es as an error, or nil when there is no problem.
func (es Errors) err() error {
	if len(es) == 0 {
		return nil
	}
	return es.sorted()
}

// comparePaths orders key paths as text, except that runs of digits compare
// as numbers, so api_keys[2] comes before api_keys[10].
func comparePaths(a, b string) int {
	for a != "" && b != "" {
		da, db := digitPrefix(a), digitPrefix(b)
		if da > 0 && db > 0 {
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if c := len(na) - len(nb); c != 0 {
				return c
			}
			if c := strings.Compare(na, nb); c != 0 {
				return c
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return int(a[0]) - int(b[0])
		}
		a, b = a[1:], b[1:]
	}
	return len(a) - len(b)
}

func digitPrefix(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}
