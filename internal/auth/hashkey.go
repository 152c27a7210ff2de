package auth

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/pgherd/pgherd/internal/config"
)

// MinKeyLength is the shortest API key [HashKeyFrom] accepts, in characters.
const MinKeyLength = 16

// maxKeyLine bounds the line HashKeyFrom reads.
const maxKeyLine = 4 << 10

// HashKeyFrom reads one API key (one line; the newline is dropped) and
// returns its [config.HashKey] ("sha256:<hex>") for api_keys[].key_hash:
// what `pgherd hash-key` prints. It refuses an empty key, one shorter than
// MinKeyLength characters, and one with whitespace (it could not be sent as
// Authorization: Bearer KEY).
func HashKeyFrom(r io.Reader) (string, error) {
	br := bufio.NewReaderSize(io.LimitReader(r, maxKeyLine+1), 512)
	line, err := br.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the key: %w", err)
	}
	if len(line) > maxKeyLine {
		return "", fmt.Errorf("the key is longer than %d bytes; API keys are short random strings (openssl rand -base64 32)", maxKeyLine)
	}
	key := strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	switch n := utf8.RuneCountInString(key); {
	case n == 0:
		return "", errors.New("no key on stdin; pipe one in, e.g. openssl rand -base64 32 | tee key.txt | pgherd hash-key")
	case strings.ContainsAny(key, " \t\r\n"):
		return "", errors.New("the key contains spaces; clients send it as Authorization: Bearer KEY, so use a key without whitespace (openssl rand -base64 32)")
	case n < MinKeyLength:
		return "", fmt.Errorf("the key has %d characters; use at least %d, preferably 32 random bytes (openssl rand -base64 32)", n, MinKeyLength)
	}
	return config.HashKey(key), nil
}
