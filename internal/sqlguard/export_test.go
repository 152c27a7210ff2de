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

// CredentialRelations returns the relations admin_ro refuses, as
// schema.name: always, and with a privileged login only.
func CredentialRelations() (always, privileged []string) {
	for s, names := range credentialRelations {
		for n := range names {
			always = append(always, s+"."+n)
		}
	}
	for s, names := range privilegedCredentialRelations {
		for n := range names {
			privileged = append(privileged, s+"."+n)
		}
	}
	return always, privileged
}

// CatalogLookupType reports whether user modes refuse a cast to typname.
func CatalogLookupType(typname string) bool { return catalogLookupTypes[typname] }
