// Package auth decides who is calling an HTTP endpoint and hands that
// identity to the MCP tools without any shared mutable state.
//
// # Why there is no global client
//
// The design this replaces served many users from one process by swapping a
// global API client inside every tool call, built from the current request's
// Authorization header. Two concurrent requests race on that global: one
// user's call can run with another user's client. Here nothing about the
// caller is ever stored outside the request. Each request is authenticated
// on its own (stateful sessions too), the result is an immutable
// [Principal], and the Principal travels with the request to the tool
// handler, which takes it from its own arguments.
//
// # How identity flows
//
//	Authorization header
//	  → Policy.Middleware: Authenticator.Authenticate(request, endpoint) → *Principal
//	  → Principal.TokenInfo(): go-sdk auth.TokenInfo{UserID: "tenant/user", Extra["principal"]}
//	  → go-sdk auth.RequireBearerToken puts it in the request context
//	  → StreamableHTTPHandler copies it into req.Extra.TokenInfo of each call
//	    (and binds a stateful session to TokenInfo.UserID)
//	  → tool handler: auth.FromTokenInfo(req.Extra.TokenInfo)
//
// go-sdk stores TokenInfo under an unexported context key that only its
// RequireBearerToken middleware can set, and the Streamable handler reads it
// from there. [Policy.Middleware] therefore does every check itself (so the
// statuses and challenges are exactly right for each mode, including the
// bare-key and Basic forms go-sdk does not parse), then passes the request
// on through RequireBearerToken with:
//   - the verified Principal in the request context, under this package's
//     key ([PrincipalFromRequest] reads it);
//   - the Authorization header replaced by a fixed placeholder Bearer token,
//     which is all RequireBearerToken needs to call its verifier;
//   - a verifier that ignores that token and returns the TokenInfo of the
//     Principal in the context, with expiry checks relaxed (missing
//     expiration allowed, clock skew up to [MaxLeeway]) because the
//     Authenticator has already applied them with the configured leeway.
//
// The placeholder also means no handler after the middleware ever sees the
// client's credential: it cannot be logged, and it cannot be forwarded to
// another service (the MCP specification forbids token passthrough).
//
// Stateful sessions are bound by go-sdk to [Principal.ID]: another user
// presenting the session id gets 403, an unknown one 404. The ID depends
// only on tenant and user (each path-escaped), so a user keeps their session
// across credentials (a renewed JWT, a rotated key).
//
// Over stdio there is no request: req.Extra is nil, and the identity comes
// from configuration ([FromIdentity] with [MethodConfig]).
//
// # Modes
//
// none: no [Authenticator] ([New] returns nil). Every request runs as the
// configured anonymous identity or [LocalPrincipal]; the header is ignored.
// Config validation allows it only on loopback addresses.
//
// api_key: "Authorization: Bearer KEY" or the bare "Authorization: KEY".
// Keys are configured as SHA-256 hashes. The presented key is hashed once and
// compared with every configured digest in constant time with no early
// exit, so the time taken does not reveal which key matched. Each key names
// its tenant (the user is the key's name), and may be limited to endpoints
// (403 elsewhere), scopes and tools. Keys do not expire; revoking one is a
// config reload, which builds a new Authenticator.
//
// jwt: "Authorization: Bearer JWT". The algorithms are pinned (never none;
// HMAC and public-key algorithms are never mixed, so a public key cannot be
// used as an HMAC secret); iss must equal the configured issuer; aud must
// contain the configured audience or else the endpoint's canonical URL (a
// token for one endpoint does not work on another); exp is required; nbf and
// iat are honoured, all with a bounded leeway. Keys come from a JWKS URL
// (cached by keyfunc, re-read hourly, and on an unknown kid at most once
// per jwks_refresh_interval: a flood of random kids costs the identity
// provider one request), a PEM public key, or an HS256 secret. Tenant and
// user come from configurable claims; scopes from "scope" or "scp" (a token
// with neither is unrestricted, one with an empty list has no scopes).
//
// database_login: "Authorization: Basic base64(user:password)", and
// PostgreSQL is the judge: the endpoint's database is opened as that user.
// This is the old design's "client per request from the header", done
// safely. Each verified credential gets its own pool, cached under a SHA-256
// of endpoint, user and password (the password itself is not kept), at most
// max_pools of them, least recently used first out; pools idle for
// pool_idle_timeout are closed. A request holds its pool ([Principal.Login])
// until [Login.Release], which the middleware calls when the request ends,
// so eviction never closes a pool under a running call. A rejected password
// (SQLSTATE 28P01 or 28000) is remembered for failure_cache_ttl and
// answered without asking PostgreSQL again, and failed logins per client
// address (the TCP peer; an IPv6 /64; X-Forwarded-For is not trusted) are
// limited to failures_per_minute (then 429 with Retry-After). Already
// verified credentials keep working from a blocked address.
//
// # Refusals
//
// 401 carries WWW-Authenticate: Bearer resource_metadata="…" (RFC 9728), plus
// error="invalid_token" and an error_description when a credential was
// presented; database_login endpoints add a Basic challenge. 403 carries
// error="insufficient_scope" and, when known, the scope that would do. 429
// carries Retry-After. The body is a short JSON object
// {"error":…, "error_description":…} that tells a human what to fix and
// never repeats the credential. Internal failures are logged and answered
// 500 without detail. An Authorization header over [MaxHeaderBytes] is
// refused unparsed.
package auth
