package auth

import (
	"net/url"
	"slices"
	"time"

	sdkauth "github.com/modelcontextprotocol/go-sdk/auth"

	"github.com/pgherd/pgherd/internal/config"
)

// Methods name how a [Principal] was established.
const (
	MethodAPIKey        = "api_key"
	MethodJWT           = "jwt"
	MethodDatabaseLogin = "database_login"
	MethodAnonymous     = "anonymous"
	MethodConfig        = "config" // stdio: the identity comes from configuration
)

// Principal is a verified caller. It is read-only once built: code that
// receives one must not modify it or its slices, which may be shared.
type Principal struct {
	Tenant, User string
	// Method is one of the Method constants.
	Method string
	// KeyName is the API key's name (api_key only), for logs and audit.
	KeyName string
	// Scopes granted; nil means unrestricted, an empty non-nil slice none.
	Scopes []string
	// Endpoints the caller may use; nil means all.
	Endpoints []string
	// Tools the caller may use, as unprefixed tool names or tags (read,
	// write, admin); nil means every tool its Scopes allow.
	Tools []string
	// Expires is when the credential stops being valid; zero means never.
	Expires time.Time
	// Login is the verified PostgreSQL credential's pool (database_login
	// only); nil otherwise.
	Login *Login
}

// ID returns "tenant/user", stable for the same identity whatever the
// credential: the key go-sdk binds stateful sessions to. Each part is
// path-escaped so that a "/" inside a tenant or user name cannot make two
// identities collide.
func (p *Principal) ID() string {
	if p == nil {
		return ""
	}
	return url.PathEscape(p.Tenant) + "/" + url.PathEscape(p.User)
}

// AllowsEndpoint reports whether the caller may use the endpoint name.
func (p *Principal) AllowsEndpoint(name string) bool {
	if p == nil {
		return false
	}
	return p.Endpoints == nil || slices.Contains(p.Endpoints, name)
}

// AllowsTool reports whether the caller may use the tool with the given
// unprefixed name and tags. Scopes and Tools are both checked; each passes
// when it is nil or grants the tool's name or one of its tags.
func (p *Principal) AllowsTool(name string, tags []string) bool {
	if p == nil {
		return false
	}
	return grants(p.Scopes, name, tags) && grants(p.Tools, name, tags)
}

func grants(list []string, name string, tags []string) bool {
	if list == nil {
		return true
	}
	if slices.Contains(list, name) {
		return true
	}
	for _, t := range tags {
		if slices.Contains(list, t) {
			return true
		}
	}
	return false
}

// principalKey is the Extra key of [Principal.TokenInfo].
const principalKey = "principal"

// TokenInfo returns the go-sdk TokenInfo carrying p: UserID is [Principal.ID]
// (stateful sessions bind to it), Scopes and Expiration are p's, and
// Extra["principal"] is p itself for [FromTokenInfo].
func (p *Principal) TokenInfo() *sdkauth.TokenInfo {
	if p == nil {
		return nil
	}
	return &sdkauth.TokenInfo{
		UserID:     p.ID(),
		Scopes:     p.Scopes,
		Expiration: p.Expires,
		Extra:      map[string]any{principalKey: p},
	}
}

// FromTokenInfo returns the Principal inside ti, or nil when ti is nil or
// was not made by [Principal.TokenInfo]. Tool handlers call it on
// req.Extra.TokenInfo (req.Extra is nil over stdio: check it first).
func FromTokenInfo(ti *sdkauth.TokenInfo) *Principal {
	if ti == nil {
		return nil
	}
	p, _ := ti.Extra[principalKey].(*Principal)
	return p
}

// FromIdentity returns a Principal for a fixed identity from configuration:
// method is [MethodAnonymous] for requests without Authorization,
// [MethodConfig] for stdio. A nil id gives nil. The Principal has no
// endpoint or tool limits; Scopes are id's (nil when id has none).
func FromIdentity(id *config.Identity, method string) *Principal {
	if id == nil {
		return nil
	}
	return &Principal{
		Tenant: id.Tenant,
		User:   id.User,
		Method: method,
		Scopes: nilIfEmpty(id.Scopes),
	}
}

// nilIfEmpty maps an omitted config list (nil or empty: "all") to nil and
// copies anything else so later edits of the config have no effect.
func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return slices.Clone(s)
}
