package config

import (
	"fmt"
	"strings"
)

// expansion is the result of expanding one scalar value.
type expansion struct {
	value string
	// whole: the value was exactly one ${VAR} reference, without a default,
	// whose variable is set — so its text came from the environment, not the
	// file.
	whole bool
}

// expand replaces ${VAR} and ${VAR:-default} in s by the variable's value and
// $$ by $. A default applies when the variable is unset or empty; an unset
// variable without default is an error. A $ followed by anything else stays
// as it is. The expanded text is never expanded again, so a variable's value
// cannot reference other variables (or inject anything: it lands in one
// scalar value). When secret is true, error messages do not quote any part
// of s.
func expand(s string, env func(string) (string, bool), secret bool) (expansion, error) {
	if !strings.Contains(s, "$") {
		return expansion{value: s}, nil
	}
	// A value that is exactly ${NAME} has no text of its own: once the
	// variable is known to be set, all of it came from the environment.
	whole := strings.HasPrefix(s, "${") && strings.HasSuffix(s, "}") && isVarName(s[2:len(s)-1])
	var b strings.Builder
	rest := s
	for {
		i := strings.IndexByte(rest, '$')
		if i < 0 || i == len(rest)-1 {
			b.WriteString(rest)
			break
		}
		b.WriteString(rest[:i])
		switch rest[i+1] {
		case '$':
			b.WriteByte('$')
			rest = rest[i+2:]
			continue
		case '{':
		default:
			b.WriteByte('$')
			rest = rest[i+1:]
			continue
		}
		end := strings.IndexByte(rest[i:], '}')
		if end < 0 {
			return expansion{}, fmt.Errorf(`"${" has no closing "}"; write $$ for a literal $`)
		}
		inner := rest[i+2 : i+end]
		rest = rest[i+end+1:]
		name, def, hasDefault := strings.Cut(inner, ":-")
		if !isVarName(name) {
			if secret {
				return expansion{}, fmt.Errorf("a ${…} reference does not name a variable; write ${NAME} or ${NAME:-default} (letters, digits and _), or $$ for a literal $")
			}
			if j := strings.IndexAny(inner, ":-=?+"); j > 0 && isVarName(inner[:j]) {
				return expansion{}, fmt.Errorf("${%s}: only ${NAME} and ${NAME:-default} are supported", inner)
			}
			return expansion{}, fmt.Errorf("${%s}: %q is not a variable name; use letters, digits and _ (not starting with a digit), or write $$ for a literal $", inner, name)
		}
		v, ok := env(name)
		switch {
		case hasDefault && (!ok || v == ""):
			v = def
		case !ok:
			return expansion{}, fmt.Errorf("environment variable %s is not set; set it, or give a default: ${%s:-default}", name, name)
		}
		b.WriteString(v)
	}
	return expansion{value: b.String(), whole: whole}, nil
}

func isVarName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
