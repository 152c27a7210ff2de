package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"

	"github.com/pgherd/pgherd/internal/config"
)

// apiKeys authenticates "Authorization: Bearer KEY" and the bare
// "Authorization: KEY" against SHA-256 digests of the configured keys.
type apiKeys struct {
	digests [][sha256.Size]byte
	keys    []Principal // keys[i] is the identity of digests[i]
}

var _ Authenticator = (*apiKeys)(nil)

// hashPrefix starts every stored key hash.
const hashPrefix = "sha256:"

func newAPIKeys(keys []*config.APIKey, opts Options) (*apiKeys, error) {
	a := &apiKeys{}
	for i, k := range keys {
		path := fmt.Sprintf("api_keys[%d]", i)
		if k == nil {
			return nil, fmt.Errorf("%s: empty entry", path)
		}
		var d [sha256.Size]byte
		switch {
		case k.KeyHash != "":
			h, ok := strings.CutPrefix(k.KeyHash, hashPrefix)
			b, err := hex.DecodeString(h)
			if !ok || err != nil || len(b) != sha256.Size {
				return nil, fmt.Errorf("%s.key_hash: want %s followed by 64 hex digits; print one with `pgherd hash-key`", path, hashPrefix)
			}
			copy(d[:], b)
		case k.Key.Reveal() != "":
			d = sha256.Sum256([]byte(k.Key.Reveal()))
		default:
			return nil, fmt.Errorf("%s: set key_hash (from `pgherd hash-key`) or key: ${ENV_VAR}", path)
		}
		if k.Tenant == "" {
			return nil, fmt.Errorf("%s.tenant: required; name the tenant the key acts for", path)
		}
		a.digests = append(a.digests, d)
		a.keys = append(a.keys, Principal{
			Tenant:    k.Tenant,
			User:      k.Name,
			Method:    MethodAPIKey,
			KeyName:   k.Name,
			Scopes:    nilIfEmpty(k.Scopes),
			Endpoints: nilIfEmpty(k.Endpoints),
			Tools:     nilIfEmpty(k.Tools),
		})
	}
	if len(a.keys) == 0 {
		return nil, fmt.Errorf("api_keys: mode api_key needs at least one key")
	}
	return a, nil
}

func (a *apiKeys) Authenticate(_ context.Context, r *http.Request, endpoint string) (*Principal, error) {
	key, err := apiKey(r.Header.Get("Authorization"))
	if err != nil {
		return nil, err
	}
	i := a.lookup(key)
	if i < 0 {
		return nil, invalid("unknown API key; check the key, or ask the operator whether it was revoked", nil)
	}
	p := a.keys[i] // a copy: callers get their own Principal
	if !p.AllowsEndpoint(endpoint) {
		return nil, &Error{Kind: ErrForbidden, Code: CodeInsufficientScope,
			Description: fmt.Sprintf("API key %q may not use endpoint %q; it may use: %s", p.KeyName, endpoint, strings.Join(p.Endpoints, ", "))}
	}
	return &p, nil
}

// lookup returns the index of key's digest, or -1. It hashes key once and
// compares the digest with every stored digest in constant time, without an
// early exit, so its duration does not reveal which key matched.
func (a *apiKeys) lookup(key string) int {
	d := sha256.Sum256([]byte(key))
	found := -1
	for i := range a.digests {
		eq := subtle.ConstantTimeCompare(d[:], a.digests[i][:])
		found = subtle.ConstantTimeSelect(eq, i, found)
	}
	return found
}

// apiKey extracts the key from "Bearer KEY" or a bare "KEY".
func apiKey(v string) (string, error) {
	scheme, cred := credential(v)
	if scheme == "" && !strings.EqualFold(cred, "bearer") {
		if cred == "" {
			return "", invalid("the Authorization header is empty; send Authorization: Bearer <API key>", nil)
		}
		return cred, nil
	}
	return bearer(v, "API key")
}
