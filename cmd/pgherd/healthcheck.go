package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/pgherd/pgherd/internal/config"
)

// healthcheckCmd probes a running pgherd: the container HEALTHCHECK (a
// distroless image has no curl) and scripts. It exits 0 when the URL answers
// 200 within the timeout, 1 otherwise.
func healthcheckCmd() *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "healthcheck [URL]",
		Short: "Exit 0 when a pgherd answers 200 on /health (container HEALTHCHECK)",
		Long: `Probe a running pgherd. Without URL: http://127.0.0.1:PORT/health, PORT from HTTP_PORT
(or MCP_PORT), default 8000. Use URL .../ready to require every database to answer.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			url := defaultHealthURL()
			if len(args) == 1 {
				url = args[0]
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return usageError{fmt.Sprintf("healthcheck: %q is not a URL: %v", url, err)}
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return fmt.Errorf("healthcheck: %w", err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("healthcheck: %s answered %s: %s", url, resp.Status, body)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s\n", body)
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "give up after this long")
	return cmd
}

func defaultHealthURL() string {
	port := strconv.Itoa(config.DefaultPort)
	for _, name := range []string{"HTTP_PORT", "MCP_PORT"} {
		if p := os.Getenv(name); p != "" {
			port = p
			break
		}
	}
	return "http://" + net.JoinHostPort("127.0.0.1", port) + "/health"
}
