package localpg

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
)

// ScramSecret returns the SCRAM-SHA-256 secret PostgreSQL stores for
// password, derived with iterations rounds of PBKDF2 (PostgreSQL's default
// is 4096), in the form CREATE ROLE … PASSWORD and initdb --pwfile accept
// as is (RFC 5803; PostgreSQL's scram_build_secret).
//
// Throwaway clusters for tests use a low count: every login makes the
// client derive the key again with the server's count, and under the race
// detector 4096 rounds cost pgx tens of milliseconds of CPU per connection.
func ScramSecret(password string, iterations int) (string, error) {
	if iterations < 1 {
		return "", fmt.Errorf("SCRAM iterations must be at least 1, not %d", iterations)
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		return "", err
	}
	mac := func(key []byte, msg string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(msg))
		return h.Sum(nil)
	}
	stored := sha256.Sum256(mac(salted, "Client Key"))
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", iterations, b64(salt), b64(stored[:]), b64(mac(salted, "Server Key"))), nil
}
