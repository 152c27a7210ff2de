// Command pgherd serves PostgreSQL databases to MCP clients (AI agents):
// many databases, each on its own MCP endpoint with its own access mode,
// over Streamable HTTP, legacy HTTP+SSE or stdio.
//
// Usage:
//
//	pgherd serve --config pgherd.yaml
//	pgherd stdio --config pgherd.yaml --endpoint app1
//	pgherd stdio --database-url postgres://… --access-mode user_ro
//	pgherd demo [--port 8000] [--database-url postgres://…]
//	pgherd check-config pgherd.yaml
//	pgherd hash-key < key.txt
//	pgherd healthcheck [URL]
//	pgherd version
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/pgherd/pgherd/internal/config"
)

func main() {
	err := newRoot().Execute()
	if err == nil {
		return
	}
	fmt.Fprintln(os.Stderr, "pgherd:", err)
	var cfgErrs config.Errors
	var usage usageError
	switch {
	case errors.As(err, &cfgErrs), errors.As(err, &usage):
		os.Exit(2)
	default:
		os.Exit(1)
	}
}
