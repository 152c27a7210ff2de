package auth

import (
	"net/http"
	"slices"
	"strings"

	sdkauth "github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// MetadataPrefix is the well-known path of RFC 9728 protected-resource
// metadata.
const MetadataPrefix = "/.well-known/oauth-protected-resource"

// MetadataPath returns the path-inserted well-known URL path of an endpoint
// (RFC 9728 §3.1): "/app1/mcp" → "/.well-known/oauth-protected-resource/app1/mcp";
// "" or "/" → the bare prefix.
func MetadataPath(endpointPath string) string {
	p := strings.TrimRight(endpointPath, "/")
	if p == "" {
		return MetadataPrefix
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return MetadataPrefix + p
}

// MetadataHandler serves the RFC 9728 protected-resource metadata of one
// endpoint: resource is its canonical URL, authServers the issuers clients
// may get tokens from, scopes those it understands. Bearer tokens are
// accepted in the header only. The document is public (CORS: any origin).
func MetadataHandler(resource string, authServers []string, scopes []string) http.Handler {
	return sdkauth.ProtectedResourceMetadataHandler(&oauthex.ProtectedResourceMetadata{
		Resource:               resource,
		AuthorizationServers:   slices.Clone(authServers),
		ScopesSupported:        slices.Clone(scopes),
		BearerMethodsSupported: []string{"header"},
	})
}
