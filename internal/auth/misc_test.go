package auth

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/pgherd/pgherd/internal/config"
)

func TestHashKeyFrom(t *testing.T) {
	tests := []struct {
		name  string
		input io.Reader
		want  string // hash, or the start of the error
		isErr bool
	}{
		{"newline", strings.NewReader(aliceKey + "\n"), config.HashKey(aliceKey), false},
		{"crlf", strings.NewReader(aliceKey + "\r\n"), config.HashKey(aliceKey), false},
		{"no newline", strings.NewReader(aliceKey), config.HashKey(aliceKey), false},
		{"only the first line", strings.NewReader(aliceKey + "\nsecond line\n"), config.HashKey(aliceKey), false},
		{"empty", strings.NewReader(""), "no key on stdin", true},
		{"empty line", strings.NewReader("\n"), "no key on stdin", true},
		{"short", strings.NewReader("short-key\n"), "the key has 9 characters; use at least 16", true},
		{"spaces", strings.NewReader("a key with some spaces in it\n"), "the key contains spaces", true},
		{"huge", strings.NewReader(strings.Repeat("k", 5000)), "the key is longer than 4096 bytes", true},
		{"read error", iotest.ErrReader(errors.New("boom")), "reading the key: boom", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := HashKeyFrom(tt.input)
			if tt.isErr {
				if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
					t.Errorf("HashKeyFrom = %q, %v; want an error starting %q", got, err, tt.want)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("HashKeyFrom = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	// A known vector: SHA-256 of "abc".
	if got := config.HashKey("abc"); got != "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("config.HashKey(abc) = %s", got)
	}
}

func TestMetadata(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"/app1/mcp", "/.well-known/oauth-protected-resource/app1/mcp"},
		{"/mcp", "/.well-known/oauth-protected-resource/mcp"},
		{"app1/mcp/", "/.well-known/oauth-protected-resource/app1/mcp"},
		{"/", "/.well-known/oauth-protected-resource"},
		{"", "/.well-known/oauth-protected-resource"},
	} {
		if got := MetadataPath(tt.in); got != tt.want {
			t.Errorf("MetadataPath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}

	h := MetadataHandler(audienceOf("app1"), []string{issuer}, []string{"read", "write"})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, MetadataPath("/app1/mcp"), nil))
	var doc map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil || rec.Code != 200 {
		t.Fatalf("metadata: %d %s", rec.Code, rec.Body)
	}
	want := `{"authorization_servers":["https://idp.example.com"],"bearer_methods_supported":["header"],"resource":"https://mcp.example.com/app1/mcp","scopes_supported":["read","write"]}`
	if got, _ := json.Marshal(doc); string(got) != want {
		t.Errorf("metadata = %s\nwant       %s", got, want)
	}
}

// TestWriteError covers the refusals the HTTP layer writes itself and the
// internal-failure path.
func TestWriteError(t *testing.T) {
	var logs strings.Builder
	pol := &Policy{Endpoint: "app1", ResourceMetadataURL: metadataURL, Realm: "r", Authenticator: mustNew(t, keyConfig(), Options{}),
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	tests := []struct {
		name   string
		err    error
		status int
		chal   []string
		body   string
	}{
		{"insufficient scope", Forbidden("tool execute_sql needs scope write", "write"), 403,
			[]string{`Bearer resource_metadata="` + metadataURL + `", error="insufficient_scope", error_description="tool execute_sql needs scope write", scope="write"`},
			`{"error":"insufficient_scope","error_description":"tool execute_sql needs scope write"}`},
		{"control characters and quotes are neutralised", invalid("bad \"x\"\n\\é", nil), 401,
			// No Basic challenge: Realm is set but the mode is not database_login.
			[]string{`Bearer resource_metadata="` + metadataURL + `", error="invalid_token", error_description="bad 'x'?'??"`},
			`{"error":"invalid_token","error_description":"bad \"x\"\n\\é"}`},
		{"internal", errors.New("database on fire: password=hunter2"), 500, nil,
			`{"error":"server_error","error_description":"authentication failed on the server; try again later or tell the operator"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			pol.WriteError(rec, httptest.NewRequest(http.MethodPost, "/app1/mcp", nil), tt.err)
			if rec.Code != tt.status || !equal(rec.Header().Values("WWW-Authenticate"), tt.chal) || strings.TrimSpace(rec.Body.String()) != tt.body {
				t.Errorf("got %d %q %s\nwant %d %q %s", rec.Code, rec.Header().Values("WWW-Authenticate"), rec.Body, tt.status, tt.chal, tt.body)
			}
		})
	}
	if !strings.Contains(logs.String(), "authentication failed internally") {
		t.Errorf("internal failure not logged: %s", logs.String())
	}
	if !errors.Is(Forbidden("x"), ErrForbidden) || !errors.Is(invalid("x", io.EOF), io.EOF) {
		t.Error("errors.Is does not see the kind and the cause")
	}
}
