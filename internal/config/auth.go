package config

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"unicode"
)

// HashKey returns the form an API key is stored in: "sha256:" and the
// lower-case hex SHA-256 of key, exactly as given (callers trim a trailing
// newline themselves).
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(sum[:])
}

var authModes = []AuthMode{AuthNone, AuthAPIKey, AuthJWT, AuthDatabaseLogin}

// jwtAlgorithms are the algorithms pgherd verifies.
var jwtAlgorithms = []string{"RS256", "RS384", "RS512", "ES256", "ES384", "EdDSA", "HS256"}

// auth validates one auth block: the server-wide one (endpoint "") or an
// endpoint's own.
func (v *validator) auth(path string, a *Auth, endpoint string) {
	if !slices.Contains(authModes, a.Mode) {
		v.add(path+".mode", "%q is not one of none, api_key, jwt, database_login", a.Mode)
	}
	s := &v.c.Server
	served := endpoint == "" || v.c.Endpoints[endpoint].Served()
	if a.Mode == AuthNone && s.Transport == TransportHTTP && !isLoopback(s.Host) && checkHost(s.Host) == "" && served {
		// Said at the key the user wrote (server.host), naming the host
		// only: the port may be the one that failed to parse.
		where := "server.host"
		if endpoint != "" {
			where = path + ".mode"
		}
		v.add(where, "listening on %s needs auth: set %s.mode (api_key, jwt or database_login) or bind 127.0.0.1", s.Host, path)
	}

	unused := func(key string, present bool, mode AuthMode) {
		if present && a.Mode != mode && slices.Contains(authModes, a.Mode) {
			v.add(path+"."+key, "used only with mode %s (mode is %s); remove it or set mode: %s", mode, a.Mode, mode)
		}
	}
	unused("api_keys", len(a.APIKeys) > 0, AuthAPIKey)
	unused("jwt", a.JWT != nil, AuthJWT)
	unused("database_login", a.DatabaseLogin != nil, AuthDatabaseLogin)
	switch {
	case a.Mode == AuthAPIKey && len(a.APIKeys) == 0:
		v.add(path+".api_keys", "mode api_key needs at least one key; add - {name: alice, key_hash: \"sha256:…\"} (pgherd hash-key prints the hash)")
	case a.Mode == AuthJWT && a.JWT == nil:
		v.add(path+".jwt", "mode jwt needs a jwt block with issuer and one of jwks_url, public_key_file, hs256_secret")
	}
	v.apiKeys(path, a, endpoint)
	if a.JWT != nil {
		v.jwt(path+".jwt", a.JWT)
	}
	if dl := a.DatabaseLogin; dl != nil {
		p := path + ".database_login"
		if dl.MaxPools < 1 || dl.MaxPools > maxDatabasePools {
			v.add(p+".max_pools", "%d is out of range; use 1-%d", dl.MaxPools, maxDatabasePools)
		}
		v.duration(p+".pool_idle_timeout", dl.PoolIdleTimeout, 0)
		v.duration(p+".failure_cache_ttl", dl.FailureCacheTTL, 0)
		if dl.FailuresPerMinute < 1 {
			v.add(p+".failures_per_minute", "%d is out of range; use 1 or more", dl.FailuresPerMinute)
		}
	}

	if an := a.Anonymous; an != nil {
		p := path + ".anonymous"
		if a.IsRequired() {
			v.add(p, "used only when required is false (requests without Authorization are rejected now); "+
				"set %s.required: false, or remove anonymous", path)
		}
		if an.Tenant == "" {
			v.add(p+".tenant", "required: the tenant requests without Authorization act as")
		} else if msg := checkTenant(an.Tenant); msg != "" {
			v.add(p+".tenant", "%s", msg)
		}
		v.scopes(p+".scopes", an.Scopes)
	}
	for i, as := range a.AuthorizationServers {
		if msg := checkURL(as, true); msg != "" {
			v.add(fmt.Sprintf("%s.authorization_servers[%d]", path, i), "%s; write the issuer URL, like https://idp.example.com", msg)
		}
	}
}

func (v *validator) apiKeys(path string, a *Auth, endpoint string) {
	names := map[string]int{}
	hashes := map[string]int{}
	for i, k := range a.APIKeys {
		p := fmt.Sprintf("%s.api_keys[%d]", path, i)
		if k == nil {
			v.add(p, "empty entry; give name and key_hash")
			continue
		}
		switch j, dup := names[k.Name]; {
		case k.Name == "":
			v.add(p+".name", "required: who holds the key (alice); it appears in logs")
		case !keyName.MatchString(k.Name):
			v.add(p+".name", "%q: use up to 64 letters, digits, _, ., @ or -, starting with a letter or digit", k.Name)
		case dup:
			v.add(p+".name", "%q is already the name of api_keys[%d]; names must be unique", k.Name, j)
		default:
			names[k.Name] = i
		}

		envName := envVarName(k.Name) + "_KEY"
		hash := ""
		switch {
		case k.KeyHash != "" && k.Key != "":
			v.add(p, "set key_hash or key, not both")
		case k.KeyHash == "" && k.Key == "":
			v.add(p, "needs key_hash: sha256:… (pgherd hash-key prints it), or key: ${%s} from the environment", envName)
		case k.KeyHash != "" && !keyHash.MatchString(k.KeyHash):
			hint := ""
			if !strings.HasPrefix(k.KeyHash, "sha256:") {
				hint = " (if this is the key itself, store its hash instead)"
			}
			v.add(p+".key_hash", "must be sha256: and 64 lower-case hex digits, as pgherd hash-key prints it%s", hint)
		case k.KeyHash != "":
			hash = k.KeyHash
		case !k.keyFromEnv:
			v.add(p+".key", "plain keys are accepted only from the environment (key: ${%s}); "+
				"store key_hash: sha256:… instead (pgherd hash-key prints it)", envName)
		case len(k.Key) < minPlainKey:
			v.add(p+".key", "the key from the environment has %d characters; use at least %d (openssl rand -hex 32 makes one)",
				len(k.Key), minPlainKey)
		default:
			hash = HashKey(k.Key.Reveal())
		}
		if hash != "" {
			if j, dup := hashes[hash]; dup {
				v.add(p, "has the same key as api_keys[%d]; give every holder a key of their own", j)
			} else {
				hashes[hash] = i
			}
		}

		if msg := checkTenant(k.Tenant); msg != "" && k.Name != "" {
			v.add(p+".tenant", "%s", msg)
		}
		v.keyEndpoints(p+".endpoints", k.Endpoints, endpoint)
		v.scopes(p+".scopes", k.Scopes)
		for j, t := range k.Tools {
			if msg := checkTool(t); msg != "" {
				v.add(fmt.Sprintf("%s.tools[%d]", p, j), "%s", msg)
			}
		}
	}
}

// keyEndpoints checks the endpoints a key is limited to.
func (v *validator) keyEndpoints(path string, names []string, endpoint string) {
	for i, name := range names {
		p := fmt.Sprintf("%s[%d]", path, i)
		if endpoint != "" {
			if name != endpoint {
				v.add(p, "this key is defined in endpoints.%s.auth, so it works only on %s; "+
					"remove endpoints, or move the key to the server-wide auth", endpoint, endpoint)
			}
			continue
		}
		if name == MainEndpoint {
			continue
		}
		e, ok := v.c.Endpoints[name]
		switch {
		case !ok:
			v.add(p, "no endpoint %q; endpoints are %s (and main for /mcp)", name, strings.Join(v.c.Names(), ", "))
		case e != nil && e.Auth != nil:
			v.add(p, "endpoint %s has its own auth block, so server-wide keys never reach it; "+
				"remove %s here, or add the key to endpoints.%s.auth", name, name, name)
		}
	}
}

func (v *validator) scopes(path string, scopes []string) {
	for i, s := range scopes {
		if s == "" || strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
			v.add(fmt.Sprintf("%s[%d]", path, i), "%q is not a scope: scopes are single words (read, write, admin, reports:view)", s)
		}
	}
}

// checkTool returns what is wrong with an entry of an API key's tools, or
// "".
func checkTool(t string) string {
	known := slices.Concat(toolTags, databaseTools, mainTools)
	if slices.Contains(known, t) {
		return ""
	}
	for i := range len(t) {
		if t[i] == '_' && slices.Contains(databaseTools, t[i+1:]) {
			return fmt.Sprintf("%q: list tools without the endpoint prefix (%s)", t, t[i+1:])
		}
	}
	if s := closest(t, known); s != "" {
		return fmt.Sprintf("%q is not a tool name or tag; did you mean %s?", t, s)
	}
	return fmt.Sprintf("%q is not a tool name or tag; use one of %s", t, strings.Join(known, ", "))
}

func (v *validator) jwt(path string, j *JWT) {
	if j.Issuer == "" {
		v.add(path+".issuer", "required: the iss your identity provider puts in its tokens (https://idp.example.com)")
	}
	var sources []string
	if j.JWKSURL != "" {
		sources = append(sources, "jwks_url")
		if msg := checkURL(j.JWKSURL, true); msg != "" {
			v.add(path+".jwks_url", "%s", msg)
		}
	}
	if j.PublicKeyFile != "" {
		sources = append(sources, "public_key_file")
		if fi, err := os.Stat(j.PublicKeyFile); err != nil {
			v.add(path+".public_key_file", "cannot read it: %v", err)
		} else if !fi.Mode().IsRegular() {
			v.add(path+".public_key_file", "%s is not a regular file; give the PEM file of the public key", j.PublicKeyFile)
		}
	}
	if j.HS256Secret != "" {
		sources = append(sources, "hs256_secret")
		if n := len(j.HS256Secret); n < minHS256Secret {
			v.add(path+".hs256_secret", "is %d bytes; HS256 needs at least %d (openssl rand -base64 48 makes one)", n, minHS256Secret)
		}
	}
	switch len(sources) {
	case 0:
		v.add(path, "needs a key source: one of jwks_url, public_key_file, hs256_secret")
	case 1:
	default:
		v.add(path, "set exactly one of jwks_url, public_key_file, hs256_secret (found %s)", strings.Join(sources, " and "))
	}

	hmac, asym := false, false
	for i, alg := range j.Algorithms {
		p := fmt.Sprintf("%s.algorithms[%d]", path, i)
		switch {
		case strings.EqualFold(alg, "none"):
			v.add(p, `"none" is never accepted: tokens must be signed`)
		case !slices.Contains(jwtAlgorithms, alg):
			v.add(p, "%q is not supported; use %s", alg, strings.Join(jwtAlgorithms, ", "))
		case alg == "HS256":
			hmac = true
		default:
			asym = true
		}
	}
	switch {
	case hmac && asym:
		v.add(path+".algorithms", "HS256 cannot be mixed with asymmetric algorithms (a public key must never verify an HMAC token); "+
			"use [HS256] with hs256_secret, or asymmetric ones with jwks_url or public_key_file")
	case hmac && j.HS256Secret == "":
		v.add(path+".algorithms", "HS256 needs hs256_secret; with jwks_url or public_key_file use RS256, ES256 or EdDSA")
	case asym && j.HS256Secret != "" && j.JWKSURL == "" && j.PublicKeyFile == "":
		v.add(path+".algorithms", "hs256_secret verifies HS256 only; write algorithms: [HS256]")
	}

	switch {
	case j.Leeway < 0:
		v.add(path+".leeway", "must not be negative, got %s", j.Leeway)
	case j.Leeway.D() > maxLeeway:
		v.add(path+".leeway", "%s is more than the limit of 5m; a clock that far off needs fixing (NTP)", j.Leeway)
	}
	if j.JWKSRefreshInterval.D() < minJWKSRefresh {
		v.add(path+".jwks_refresh_interval", "%s is too short; use at least 1s so unknown key ids cannot flood the identity provider", j.JWKSRefreshInterval)
	}
	if j.Audience != "" {
		if msg := checkURL(j.Audience, false); msg != "" {
			v.add(path+".audience", "%s; it is the URL clients use for the endpoint (https://mcp.example.com/app1/mcp)", msg)
		}
	} else if v.c.derivedPublicURL && !isLoopback(v.c.Server.Host) && v.c.Server.Transport == TransportHTTP {
		v.add(path+".audience", "tokens are checked against the endpoint URL, but server.public_url is not set and "+
			"http://%s is not what clients use; set server.public_url (https://mcp.example.com) or %s.audience",
			net.JoinHostPort(v.c.Server.Host, fmt.Sprint(v.c.Server.Port)), path)
	}
	if j.TenantClaim == "" {
		v.add(path+".tenant_claim", "must not be empty; the default is tenant")
	}
	if j.UserClaim == "" {
		v.add(path+".user_claim", "must not be empty; the default is sub")
	}
}
