package sqlguard

// AllowedFunctions returns the function names on the user-mode list and the
// admin_ro additions (explicit names only, not prefix families).
func AllowedFunctions() (user, admin []string) {
	for n := range userFuncs {
		user = append(user, n)
	}
	for n := range adminFuncs {
		admin = append(admin, n)
	}
	return user, admin
}

// FunctionAllowed reports whether a bare pg_catalog function name passes the
// allow-list of the user modes (admin false) or of admin_ro (admin true).
func FunctionAllowed(name string, admin bool) bool {
	return userFuncs[name] || (admin && isAdminFunc(name))
}

// MaxChainTokens exports the depth screen's limit.
const MaxChainTokens = maxChainTokens
