package auth

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/pgherd/pgherd/internal/config"
	"github.com/pgherd/pgherd/internal/pg"
)

// Authenticator verifies the credential of one request for one endpoint.
// Implementations are safe for concurrent use. Those that hold resources
// (a JWKS refresher, database_login's pools) also have a Close() method
// (test with interface{ Close() }): the owner calls it on the old one after
// a reload has built the replacement, and at shutdown.
type Authenticator interface {
	// Authenticate verifies the credential of one request for one endpoint.
	// Errors wrap ErrUnauthenticated (401), ErrForbidden (403, e.g. endpoint
	// not allowed) or ErrTooManyAttempts (429), as an [*Error] the client
	// may see; any other error is internal (500, logged, never shown). A
	// Principal with a Login holds its pool until [Login.Release].
	Authenticate(ctx context.Context, r *http.Request, endpoint string) (*Principal, error)
}

// Options are what New needs beyond the config. Every field may be nil
// unless the mode needs it (listed per field).
type Options struct {
	// Audience returns the canonical URL of an endpoint, the JWT audience
	// when the config names none. Needed by jwt without jwt.audience.
	Audience func(endpoint string) string
	// DatabaseURI returns an endpoint's connection URI (host, port,
	// database, TLS settings); its user and password are replaced by the
	// request's. Needed by database_login.
	DatabaseURI func(endpoint string) string
	// Connect opens a pool for uri on behalf of endpoint; it must connect
	// once before returning (pg.Connect does), so a wrong password fails
	// here. Needed by database_login.
	Connect func(ctx context.Context, endpoint, uri string) (*pg.Pool, error)
	// HTTPClient fetches JWKS; nil means a client with a 10s timeout.
	HTTPClient *http.Client
	// Logger receives failures in the background (JWKS refreshes); nil
	// discards. Refusals are logged by [Policy].
	Logger *slog.Logger
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time

	// poolClosed, when set (tests), is called after database_login closes
	// a pool.
	poolClosed func(*pg.Pool)
}

// MaxHeaderBytes is the largest Authorization header that is parsed; a
// longer one is refused with 401 unread.
const MaxHeaderBytes = 8 << 10

// MaxLeeway bounds the clock skew tolerated on JWT time claims.
const MaxLeeway = 5 * time.Minute

// New builds the Authenticator for cfg. It returns nil (and no error) for
// mode none or a nil cfg: the [Policy] then runs every request as its
// anonymous identity. A jwt config with a JWKS URL fetches the key set once
// here (a failure is logged, and retried on the first token).
func New(cfg *config.Auth, opts Options) (Authenticator, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if cfg == nil {
		return nil, nil
	}
	switch cfg.Mode {
	case config.AuthNone, "":
		return nil, nil
	case config.AuthAPIKey:
		return newAPIKeys(cfg.APIKeys, opts)
	case config.AuthJWT:
		return newJWT(cfg.JWT, opts)
	case config.AuthDatabaseLogin:
		return newDatabaseLogin(cfg.DatabaseLogin, opts)
	default:
		return nil, fmt.Errorf("auth.mode: %q is not one of none, api_key, jwt, database_login", cfg.Mode)
	}
}

// credential splits an Authorization value into its scheme and the rest.
// A value with no space has no scheme (the bare API key form). Both parts
// are trimmed; cred may contain spaces, which no mode accepts.
func credential(v string) (scheme, cred string) {
	v = strings.TrimSpace(v)
	scheme, cred, ok := strings.Cut(v, " ")
	if !ok {
		return "", v
	}
	return scheme, strings.TrimSpace(cred)
}

// bearer returns the token of "Bearer TOKEN", or a 401 explaining the form
// expected (hint names the credential: "an API key", "a JWT").
func bearer(v, hint string) (string, error) {
	scheme, tok := credential(v)
	switch {
	case scheme == "" && strings.EqualFold(tok, "bearer"):
		return "", invalid("the Bearer credential is empty; send Authorization: Bearer <"+hint+">", nil)
	case scheme == "":
		return "", invalid("the Authorization header has no scheme; send Authorization: Bearer <"+hint+">", nil)
	case !strings.EqualFold(scheme, "bearer"):
		return "", invalid(fmt.Sprintf("unsupported Authorization scheme %q; send Authorization: Bearer <%s>", printableScheme(scheme), hint), nil)
	case tok == "":
		return "", invalid("the Bearer credential is empty; send Authorization: Bearer <"+hint+">", nil)
	case strings.ContainsAny(tok, " \t"):
		return "", invalid("the Bearer credential contains spaces; send Authorization: Bearer <"+hint+">", nil)
	}
	return tok, nil
}

// printableScheme shortens and sanitises a scheme for an error message: it
// is client input, but never the credential itself.
func printableScheme(s string) string {
	if len(s) > 20 {
		s = s[:20] + "…"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}
