package auth

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"

	"github.com/pgherd/pgherd/internal/config"
)

// jwtAuth verifies bearer JWTs: pinned algorithms, iss, aud (per endpoint),
// exp required, nbf/iat with bounded leeway; keys from a JWKS URL (cached by
// keyfunc), a PEM public key, or an HS256 secret.
type jwtAuth struct {
	issuer   string
	audience string                       // configured; "" means audienceOf(endpoint)
	audOf    func(endpoint string) string // canonical endpoint URL
	algs     []string
	keyfunc  func(ctx context.Context) jwt.Keyfunc
	tenant   string // claim names
	user     string
	leeway   time.Duration
	now      func() time.Time

	closeOnce sync.Once
	cancel    context.CancelFunc // stops the JWKS refresher; nil without JWKS
}

var (
	_ Authenticator        = (*jwtAuth)(nil)
	_ interface{ Close() } = (*jwtAuth)(nil)
)

// Defaults of config.JWT.
const (
	DefaultLeeway              = 30 * time.Second
	DefaultJWKSRefreshInterval = 5 * time.Minute
	DefaultTenantClaim         = "tenant"
	DefaultUserClaim           = "sub"
)

// jwksPeriodicRefresh is how often the JWKS is re-read regardless of kids,
// so removed (revoked) keys stop verifying.
const jwksPeriodicRefresh = time.Hour

// jwksTimeout bounds one JWKS fetch.
const jwksTimeout = 10 * time.Second

// Algorithm families: a key verifies only the algorithms of its family.
var (
	algsRSA   = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
	algsEC    = []string{"ES256", "ES384", "ES512"}
	algsEd    = []string{"EdDSA"}
	algsHMAC  = []string{"HS256", "HS384", "HS512"}
	algsAsym  = slices.Concat(algsRSA, algsEC, algsEd)
	jwksAlgs  = []string{"RS256", "ES256", "EdDSA"} // JWKS default
	hmacAlgs  = []string{"HS256"}                   // hs256_secret default
	minSecret = 32                                  // bytes: RFC 7518 §3.2, key size ≥ hash size
)

func newJWT(cfg *config.JWT, opts Options) (*jwtAuth, error) {
	if cfg == nil {
		return nil, errors.New("jwt: mode jwt needs a jwt block with issuer and a key source")
	}
	a := &jwtAuth{
		issuer:   cfg.Issuer,
		audience: cfg.Audience,
		audOf:    opts.Audience,
		tenant:   orDefault(cfg.TenantClaim, DefaultTenantClaim),
		user:     orDefault(cfg.UserClaim, DefaultUserClaim),
		leeway:   cfg.Leeway.D(),
		now:      opts.Now,
	}
	if a.issuer == "" {
		return nil, errors.New("jwt.issuer: required; set it to your identity provider's issuer URL (the tokens' iss)")
	}
	if a.audience == "" && a.audOf == nil {
		return nil, errors.New("jwt.audience: required when the endpoints' canonical URLs are unknown; set server.public_url or jwt.audience")
	}
	switch {
	case a.leeway == 0:
		a.leeway = DefaultLeeway
	case a.leeway < 0 || a.leeway > MaxLeeway:
		return nil, fmt.Errorf("jwt.leeway: %v is outside 0s…%v", a.leeway, MaxLeeway)
	}

	sources := 0
	for _, set := range []bool{cfg.JWKSURL != "", cfg.PublicKeyFile != "", cfg.HS256Secret.Reveal() != ""} {
		if set {
			sources++
		}
	}
	if sources != 1 {
		return nil, errors.New("jwt: set exactly one of jwks_url, public_key_file, hs256_secret")
	}

	var family, defaults []string
	switch {
	case cfg.JWKSURL != "":
		family, defaults = algsAsym, jwksAlgs
		if err := a.useJWKS(cfg, opts); err != nil {
			return nil, err
		}
	case cfg.PublicKeyFile != "":
		key, err := readPublicKey(cfg.PublicKeyFile)
		if err != nil {
			return nil, fmt.Errorf("jwt.public_key_file: %w", err)
		}
		family, defaults = keyAlgs(key)
		a.keyfunc = func(context.Context) jwt.Keyfunc {
			return func(*jwt.Token) (any, error) { return key, nil }
		}
	default:
		secret := []byte(cfg.HS256Secret.Reveal())
		if len(secret) < minSecret {
			return nil, fmt.Errorf("jwt.hs256_secret: %d bytes is too short for HMAC; use at least %d random bytes (openssl rand -base64 48)", len(secret), minSecret)
		}
		family, defaults = algsHMAC, hmacAlgs
		a.keyfunc = func(context.Context) jwt.Keyfunc {
			return func(t *jwt.Token) (any, error) {
				// Only HMAC tokens get the secret; the parser has already
				// refused other algorithms, this keeps it so if that changes.
				if _, ok := t.Method.(*jwt.SigningMethodHMAC); !ok {
					return nil, errors.New("not an HMAC token")
				}
				return secret, nil
			}
		}
	}

	a.algs = slices.Clone(cfg.Algorithms)
	if len(a.algs) == 0 {
		a.algs = defaults
	}
	for _, alg := range a.algs {
		if !slices.Contains(family, alg) {
			a.Close()
			return nil, fmt.Errorf("jwt.algorithms: %q cannot be used with this key source; choose from %s", alg, strings.Join(family, ", "))
		}
	}
	return a, nil
}

// useJWKS sets up keyfunc's cached JWKS: one fetch now, a refresh every
// hour, and a refresh on an unknown kid at most once per
// jwks_refresh_interval. A token whose kid is unknown while the limiter is
// empty fails at once instead of waiting for the next allowed refresh.
func (a *jwtAuth) useJWKS(cfg *config.JWT, opts Options) error {
	interval := orDefault(cfg.JWKSRefreshInterval.D(), DefaultJWKSRefreshInterval)
	client := opts.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: jwksTimeout}
	}
	logger := opts.Logger
	ctx, cancel := context.WithCancel(context.Background())
	kf, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{cfg.JWKSURL}, keyfunc.Override{
		Client:      client,
		HTTPTimeout: jwksTimeout,
		// keyfunc waits on the unknown-kid limiter up to this long and uses
		// the same deadline for the fetch: long enough for a fetch, short
		// enough that a kid flood is refused at once (the limiter's next
		// token is jwks_refresh_interval away, beyond this deadline).
		RateLimitWaitMax: jwksTimeout,
		RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
			return func(ctx context.Context, err error) {
				logger.WarnContext(ctx, "jwks refresh failed", "url", u, "error", err)
			}
		},
		RefreshInterval:   jwksPeriodicRefresh,
		RefreshUnknownKID: rate.NewLimiter(rate.Every(interval), 1),
	})
	if err != nil {
		cancel()
		return fmt.Errorf("jwt.jwks_url: %w", err)
	}
	a.cancel = cancel
	a.keyfunc = kf.KeyfuncCtx
	return nil
}

// Close stops the JWKS refresher. Safe to call more than once.
func (a *jwtAuth) Close() {
	a.closeOnce.Do(func() {
		if a.cancel != nil {
			a.cancel()
		}
	})
}

// readPublicKey reads the first public key (PKIX, PKCS#1 RSA, or a
// certificate's) from a PEM file.
func readPublicKey(path string) (any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, errors.New("no PEM public key found; give a PUBLIC KEY or CERTIFICATE block")
		}
		switch b.Type {
		case "PUBLIC KEY":
			key, err := x509.ParsePKIXPublicKey(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parsing PUBLIC KEY: %w", err)
			}
			return supportedKey(key)
		case "RSA PUBLIC KEY":
			return x509.ParsePKCS1PublicKey(b.Bytes)
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parsing CERTIFICATE: %w", err)
			}
			return supportedKey(c.PublicKey)
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
			return nil, errors.New("the file holds a private key; give the public key instead (openssl pkey -in key.pem -pubout)")
		}
	}
}

func supportedKey(key any) (any, error) {
	switch k := key.(type) {
	case *rsa.PublicKey, ed25519.PublicKey:
		return key, nil
	case *ecdsa.PublicKey:
		if _, ok := curveAlg[k.Curve]; ok {
			return key, nil
		}
		return nil, fmt.Errorf("unsupported elliptic curve %s; use P-256, P-384 or P-521", k.Curve.Params().Name)
	}
	return nil, fmt.Errorf("unsupported key type %T; use RSA, ECDSA or Ed25519", key)
}

// curveAlg maps the curves JWS supports to their algorithm.
var curveAlg = map[elliptic.Curve]string{elliptic.P256(): "ES256", elliptic.P384(): "ES384", elliptic.P521(): "ES512"}

// keyAlgs returns the algorithms a public key may verify and the default.
func keyAlgs(key any) (family, defaults []string) {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return algsRSA, []string{"RS256"}
	case *ecdsa.PublicKey:
		alg := curveAlg[k.Curve]
		return []string{alg}, []string{alg}
	default:
		return algsEd, algsEd
	}
}

func (a *jwtAuth) Authenticate(ctx context.Context, r *http.Request, endpoint string) (*Principal, error) {
	raw, err := bearer(r.Header.Get("Authorization"), "JWT")
	if err != nil {
		return nil, err
	}
	if why := checkJOSE(raw); why != "" {
		return nil, invalid(why, nil)
	}
	aud := a.audience
	if aud == "" {
		aud = a.audOf(endpoint)
	}
	parser := jwt.NewParser(
		jwt.WithValidMethods(a.algs),
		jwt.WithIssuer(a.issuer),
		jwt.WithAudience(aud),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(a.leeway),
		jwt.WithTimeFunc(a.now),
	)
	claims := jwt.MapClaims{}
	if _, err := parser.ParseWithClaims(raw, claims, a.keyfunc(ctx)); err != nil {
		return nil, invalid(a.describe(err, aud), err)
	}

	tenant, ok := stringClaim(claims, a.tenant)
	if !ok {
		return nil, invalid(fmt.Sprintf("the token has no %q claim naming the tenant; have the identity provider add it, or set auth.jwt.tenant_claim to the claim it uses", a.tenant), nil)
	}
	user, ok := stringClaim(claims, a.user)
	if !ok {
		return nil, invalid(fmt.Sprintf("the token has no %q claim naming the user; have the identity provider add it, or set auth.jwt.user_claim", a.user), nil)
	}
	exp, _ := claims.GetExpirationTime() // present: required above
	return &Principal{
		Tenant:  tenant,
		User:    user,
		Method:  MethodJWT,
		Scopes:  scopes(claims),
		Expires: exp.Time,
	}, nil
}

// checkJOSE refuses what the JWT library accepts but the standards do not:
// a header whose crit parameter lists extensions (RFC 7515 §4.1.11: a
// recipient that does not understand them must reject the token, and
// pgherd processes none), and a header or payload that repeats a name (RFC
// 7519 §4: claim names must be unique; a parser keeping the last "tenant"
// would let a token say two things). It returns why, or "" (a token it
// cannot decode is left to the parser, which says so).
func checkJOSE(raw string) string {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return ""
	}
	header, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[0], "="))
	if err != nil {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return ""
	}
	hkeys, dup, ok := objectKeys(header)
	if !ok {
		return ""
	}
	if dup != "" {
		return fmt.Sprintf("the token's header repeats the parameter %q; have the identity provider issue well-formed tokens", dup)
	}
	if _, ok := hkeys["crit"]; ok {
		var crit struct {
			Crit []string `json:"crit"`
		}
		_ = json.Unmarshal(header, &crit)
		return fmt.Sprintf("the token's header marks extensions as critical (crit: %s), which pgherd does not process, so it must refuse the token (RFC 7515); have the identity provider issue tokens without crit",
			strings.Join(crit.Crit, ", "))
	}
	if _, dup, ok := objectKeys(payload); ok && dup != "" {
		return fmt.Sprintf("the token repeats the claim %q, so its meaning is ambiguous (RFC 7519 requires unique claim names); have the identity provider issue well-formed tokens", dup)
	}
	return ""
}

// objectKeys reads the top-level names of a JSON object, and the first one
// that repeats; ok is false when data is not a JSON object.
func objectKeys(data []byte) (keys map[string]struct{}, dup string, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	t, err := dec.Token()
	if d, isDelim := t.(json.Delim); err != nil || !isDelim || d != '{' {
		return nil, "", false
	}
	keys = map[string]struct{}{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, "", false
		}
		k, _ := t.(string)
		if _, seen := keys[k]; seen && dup == "" {
			dup = k
		}
		keys[k] = struct{}{}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, "", false
		}
	}
	return keys, dup, true
}

// describe turns a jwt parse error into advice for whoever holds the token.
// It never quotes the token; issuer and audience are public.
func (a *jwtAuth) describe(err error, aud string) string {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "the Bearer credential is not a well-formed JWT"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return "the token's signing key is unknown (no key with its kid in the issuer's key set); get a fresh token"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "the token's signature does not verify with an accepted algorithm (" + strings.Join(a.algs, ", ") + ")"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "the token lacks a required claim (exp, iss and aud are required); have the identity provider issue expiring tokens for this resource"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "the token has expired; get a new one"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "the token is not valid yet (nbf is in the future); check the clocks"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "the token was issued in the future (iat); check the identity provider's clock"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return fmt.Sprintf("the token's issuer is not %q", a.issuer)
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return fmt.Sprintf("the token's audience does not include %q; request a token for this resource (RFC 8707 resource parameter)", aud)
	default:
		return "the token is not valid"
	}
}

// stringClaim returns a non-empty string (or integral number) claim.
func stringClaim(c jwt.MapClaims, name string) (string, bool) {
	switch v := c[name].(type) {
	case string:
		return v, v != ""
	case float64:
		if v == float64(int64(v)) {
			return strconv.FormatInt(int64(v), 10), true
		}
	}
	return "", false
}

// scopes reads "scope" (space-separated, RFC 8693) or "scp" (array or
// string). No claim means nil (unrestricted); an empty one means none.
func scopes(c jwt.MapClaims) []string {
	if s, ok := c["scope"].(string); ok {
		return append([]string{}, strings.Fields(s)...)
	}
	switch v := c["scp"].(type) {
	case string:
		return append([]string{}, strings.Fields(v)...)
	case []any:
		out := []string{}
		for _, e := range v {
			if s, ok := e.(string); ok && s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
