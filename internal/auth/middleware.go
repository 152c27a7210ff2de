package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"

	sdkauth "github.com/modelcontextprotocol/go-sdk/auth"

	"github.com/pgherd/pgherd/internal/observe"
)

// Policy is how one endpoint authenticates: [Policy.Middleware] applies it
// to every request. Build one per endpoint; it is safe for concurrent use
// and must not be modified after Middleware is called.
type Policy struct {
	// Endpoint is the endpoint name passed to the Authenticator ("main" for
	// /mcp).
	Endpoint string
	// Authenticator verifies credentials; nil is mode none: every request
	// runs as Anonymous (or, when that is nil too, as [LocalPrincipal]) and
	// the Authorization header is ignored.
	Authenticator Authenticator
	// Required rejects requests without Authorization (config
	// Auth.IsRequired()). When false they run as Anonymous.
	Required bool
	// Anonymous is the identity of requests without Authorization when
	// Required is false; nil rejects them anyway.
	Anonymous *Principal
	// ResourceMetadataURL is the endpoint's RFC 9728 metadata URL, named in
	// every challenge; "" omits the parameter.
	ResourceMetadataURL string
	// Realm names the Basic challenge that 401s carry when the
	// Authenticator is database_login (other modes never send one); ""
	// means "pgherd".
	Realm string
	// Logger receives refusals (debug) and internal failures (error); nil
	// discards.
	Logger *slog.Logger
	// Observe receives every refusal (metrics, audit); nil: none.
	Observe *observe.Hub
}

// LocalPrincipal is the identity of requests on an endpoint with mode none
// and no anonymous identity configured.
func LocalPrincipal() *Principal {
	return &Principal{Tenant: "local", User: "local", Method: MethodAnonymous}
}

type requestKey struct{}

// handoffHeader replaces the client's Authorization on the request passed
// downstream: go-sdk's RequireBearerToken needs a Bearer token to hand to
// its verifier, and nothing after this middleware should see the real
// credential.
const handoffHeader = "Bearer verified-by-pgherd"

// Middleware authenticates every request to the endpoint and hands the
// verified [Principal] to go-sdk. Refusals get their status (401, 403, 429,
// or 500 for internal failures), WWW-Authenticate challenge and a short JSON
// body. On success the request continues with:
//   - the Principal in its context ([PrincipalFromRequest]);
//   - go-sdk's TokenInfo ([Principal.TokenInfo]) in its context, placed by
//     go-sdk's own RequireBearerToken so the Streamable handler fills
//     req.Extra.TokenInfo and binds sessions to [Principal.ID];
//   - its Authorization header replaced by a placeholder, so the
//     credential never reaches handlers (no token passthrough).
//
// A Principal's Login is released when next returns.
func (p *Policy) Middleware(next http.Handler) http.Handler {
	if p.Endpoint == "" {
		panic("auth: Policy.Endpoint is empty")
	}
	pol := *p // later edits of p have no effect
	if pol.Logger == nil {
		pol.Logger = slog.New(slog.DiscardHandler)
	}
	// RequireBearerToken's own checks are redundant by design: the token is
	// the placeholder, the verifier returns what we verified, expiry was
	// checked with the configured leeway (hence ClockSkew), and API keys and
	// logins do not expire.
	sdk := sdkauth.RequireBearerToken(handoff, &sdkauth.RequireBearerTokenOptions{
		ResourceMetadataURL:    pol.ResourceMetadataURL,
		AllowMissingExpiration: true,
		ClockSkew:              MaxLeeway,
	})(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		prin, err := pol.authenticate(r)
		if err != nil {
			pol.WriteError(w, r, err)
			return
		}
		defer prin.Login.Release()
		r = r.WithContext(context.WithValue(r.Context(), requestKey{}, prin))
		r.Header = r.Header.Clone()
		r.Header.Set("Authorization", handoffHeader)
		sdk.ServeHTTP(w, r)
	})
}

// handoff is the TokenVerifier given to go-sdk: it returns the TokenInfo of
// the Principal the middleware already verified for this very request.
func handoff(_ context.Context, _ string, r *http.Request) (*sdkauth.TokenInfo, error) {
	p, _ := r.Context().Value(requestKey{}).(*Principal)
	if p == nil {
		return nil, fmt.Errorf("%w: request did not pass the pgherd auth middleware", sdkauth.ErrInvalidToken)
	}
	return p.TokenInfo(), nil
}

// PrincipalFromRequest returns the Principal the middleware verified for r,
// or nil when r did not pass through [Policy.Middleware]. For HTTP-level
// code (legacy SSE, the tools/call scope check); tool handlers use
// [FromTokenInfo] on req.Extra.TokenInfo instead.
func PrincipalFromRequest(r *http.Request) *Principal {
	if p, ok := r.Context().Value(requestKey{}).(*Principal); ok {
		return p
	}
	return FromTokenInfo(sdkauth.TokenInfoFromContext(r.Context()))
}

// Principal authenticates r as the policy's endpoint would and returns
// the caller, for HTTP routes outside MCP that sign callers in with the
// same credentials (the operator console). Errors are as Authenticate's.
// The caller must Release the Principal's Login.
func (p *Policy) Principal(r *http.Request) (*Principal, error) {
	return p.authenticate(r)
}

func (p *Policy) authenticate(r *http.Request) (*Principal, error) {
	values := r.Header.Values("Authorization")
	if p.Authenticator == nil {
		if p.Anonymous != nil {
			return p.Anonymous, nil
		}
		return LocalPrincipal(), nil
	}
	if len(values) == 0 {
		if !p.Required && p.Anonymous != nil {
			return p.Anonymous, nil
		}
		return nil, &Error{Kind: ErrUnauthenticated, Description: "this endpoint needs an Authorization header" + p.hint()}
	}
	size := 0
	for _, v := range values {
		size += len(v)
	}
	switch {
	case size > MaxHeaderBytes:
		return nil, invalid(fmt.Sprintf("the Authorization header is larger than %d bytes", MaxHeaderBytes), nil)
	case len(values) > 1:
		return nil, invalid("send one Authorization header, not several", nil)
	}
	prin, err := p.Authenticator.Authenticate(r.Context(), r, p.Endpoint)
	switch {
	case err != nil:
		return nil, err
	case prin == nil:
		return nil, fmt.Errorf("authenticator %T returned no principal and no error", p.Authenticator)
	}
	// Authenticators check this themselves; checked again here so that no
	// implementation can forget it.
	if !prin.AllowsEndpoint(p.Endpoint) {
		prin.Login.Release()
		return nil, &Error{Kind: ErrForbidden, Code: CodeInsufficientScope,
			Description: fmt.Sprintf("this credential may not use endpoint %q", p.Endpoint)}
	}
	return prin, nil
}

// Verify reports whether r carries a credential this policy accepts (for
// routes outside MCP that show more to authenticated callers, such as
// /ready). A nil policy, or one without an Authenticator, accepts nobody:
// without authentication there is no caller to trust.
func (p *Policy) Verify(r *http.Request) bool {
	if p == nil || p.Authenticator == nil || len(r.Header.Values("Authorization")) == 0 {
		return false
	}
	prin, err := p.authenticate(r)
	if err != nil || prin == nil {
		return false
	}
	if prin.Login != nil {
		prin.Login.Release()
	}
	return true
}

// hint says what credential the endpoint expects.
func (p *Policy) hint() string {
	switch p.Authenticator.(type) {
	case *apiKeys:
		return ": send Authorization: Bearer <API key>"
	case *jwtAuth:
		return ": send Authorization: Bearer <JWT> from the authorization server in the resource metadata"
	case *databaseLogin:
		return ": send your PostgreSQL user and password as HTTP Basic authentication"
	}
	return ""
}

// WriteError writes the refusal for err: [*Error] gets its status,
// WWW-Authenticate challenges and JSON body; any other error is logged and
// answered 500 with no detail. The HTTP layer uses it for its own checks
// (e.g. [Forbidden] on tools/call) so every refusal looks the same.
func (p *Policy) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	logger := p.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var ae *Error
	if !errors.As(err, &ae) {
		logger.LogAttrs(r.Context(), slog.LevelError, "authentication failed internally",
			slog.String("endpoint", p.Endpoint), slog.String("error", err.Error()))
		const msg = "authentication failed on the server; try again later or tell the operator"
		p.Observe.AuthFailed(r.Context(), Failure(r, p.Endpoint, http.StatusInternalServerError, observe.AuthInternalError, msg))
		writeJSON(w, http.StatusInternalServerError, "server_error", msg)
		return
	}
	status := ae.Status()
	p.Observe.AuthFailed(r.Context(), Failure(r, p.Endpoint, status, ae.reason(), ae.Description))
	attrs := []slog.Attr{slog.String("endpoint", p.Endpoint), slog.Int("status", status), slog.String("reason", ae.Description)}
	if ae.Err != nil {
		attrs = append(attrs, slog.String("cause", ae.Err.Error()))
	}
	logger.LogAttrs(r.Context(), slog.LevelDebug, "request refused", attrs...)

	h := w.Header()
	switch status {
	case http.StatusUnauthorized:
		h.Add("WWW-Authenticate", p.bearerChallenge(ae))
		if _, ok := p.Authenticator.(*databaseLogin); ok {
			h.Add("WWW-Authenticate", fmt.Sprintf("Basic realm=%s, charset=\"UTF-8\"", quote(orDefault(p.Realm, "pgherd"))))
		}
	case http.StatusForbidden:
		h.Add("WWW-Authenticate", p.bearerChallenge(ae))
	case http.StatusTooManyRequests:
		h.Set("Retry-After", strconv.Itoa(int(math.Ceil(ae.RetryAfter.Seconds()))))
	}
	code := ae.Code
	if code == "" {
		code = "unauthorized"
		if status == http.StatusTooManyRequests {
			code = "too_many_requests"
		}
	}
	writeJSON(w, status, code, ae.Description)
}

// bearerChallenge builds the RFC 6750 / RFC 9728 challenge for e.
func (p *Policy) bearerChallenge(e *Error) string {
	var params []string
	if p.ResourceMetadataURL != "" {
		params = append(params, "resource_metadata="+quote(p.ResourceMetadataURL))
	}
	if e.Code != "" {
		params = append(params, "error="+quote(e.Code))
		if e.Description != "" {
			params = append(params, "error_description="+quote(e.Description))
		}
	}
	if len(e.Scope) > 0 {
		params = append(params, "scope="+quote(scopeParam(e.Scope)))
	}
	if len(params) == 0 {
		return "Bearer"
	}
	return "Bearer " + strings.Join(params, ", ")
}

// quote makes an RFC 9110 quoted-string. RFC 6750 limits error_description
// to printable ASCII without '"' and '\\', so quotes and backslashes become
// "'" and anything else outside printable ASCII becomes '?', rather than an
// escape a client might mishandle.
func quote(s string) string {
	b := make([]byte, 0, len(s)+2)
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\'')
		case c < 0x20 || c > 0x7e:
			b = append(b, '?')
		default:
			b = append(b, c)
		}
	}
	return string(append(b, '"'))
}

func writeJSON(w http.ResponseWriter, status int, code, description string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{code, description})
}

// Failure describes a refused request for observers (metrics, audit):
// never the credential.
func Failure(r *http.Request, endpoint string, status int, reason, description string) *observe.AuthFailure {
	return &observe.AuthFailure{
		RequestID:   r.Header.Get(observe.RequestIDHeader),
		Endpoint:    endpoint,
		Reason:      reason,
		Status:      status,
		Description: description,
		Remote:      r.RemoteAddr,
		Method:      r.Method,
		Path:        r.URL.Path,
	}
}
