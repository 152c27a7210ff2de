package config

import (
	"fmt"
	"io"
)

// When a verb does not suit a value (%s of a pointer field, %d of a string),
// fmt prints it in an error form that skips String and Format methods, so a
// Secret inside a struct would print in clear. The types that hold secrets
// therefore format themselves: whatever the verb, they print as %v (or %+v,
// %#v) of a copy without methods, where every Secret field goes through
// [Secret.String].
type (
	plainConfig   Config
	plainEndpoint Endpoint
	plainTenant   Tenant
	plainAuth     Auth
	plainAPIKey   APIKey
	plainJWT      JWT
)

// Format prints c with secrets redacted; see [Secret].
func (c Config) Format(f fmt.State, verb rune) { formatPlain(f, verb, plainConfig(c)) }

// Format prints e with secrets redacted; see [Secret].
func (e Endpoint) Format(f fmt.State, verb rune) { formatPlain(f, verb, plainEndpoint(e)) }

// Format prints t with secrets redacted; see [Secret].
func (t Tenant) Format(f fmt.State, verb rune) { formatPlain(f, verb, plainTenant(t)) }

// Format prints a with secrets redacted; see [Secret].
func (a Auth) Format(f fmt.State, verb rune) { formatPlain(f, verb, plainAuth(a)) }

// Format prints k with secrets redacted; see [Secret].
func (k APIKey) Format(f fmt.State, verb rune) { formatPlain(f, verb, plainAPIKey(k)) }

// Format prints j with secrets redacted; see [Secret].
func (j JWT) Format(f fmt.State, verb rune) { formatPlain(f, verb, plainJWT(j)) }

func formatPlain(f fmt.State, verb rune, v any) {
	spec := "%v"
	switch {
	case verb == 'v' && f.Flag('#'):
		spec = "%#v"
	case f.Flag('+'):
		spec = "%+v"
	}
	fmt.Fprintf(f, spec, v)
}

// Format prints the redacted form ([Secret.String]) with any verb, and
// [Secret.GoString] for %#v.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = io.WriteString(f, s.GoString())
		return
	}
	fmt.Fprintf(f, fmt.FormatString(f, verb), s.String())
}
