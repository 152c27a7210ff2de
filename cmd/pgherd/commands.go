package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/pgherd/pgherd/internal/access"
	"github.com/pgherd/pgherd/internal/app"
	"github.com/pgherd/pgherd/internal/auth"
	"github.com/pgherd/pgherd/internal/config"
	"github.com/pgherd/pgherd/internal/demo"
	"github.com/pgherd/pgherd/internal/memlimit"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// usageError marks a command-line mistake (exit code 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "pgherd",
		Short:         "Safe, multi-tenant MCP access to a herd of PostgreSQL databases",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       buildVersion(),
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err.Error()} })
	root.Args = func(_ *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usageError{fmt.Sprintf("unknown command %q; pgherd --help lists the commands", args[0])}
		}
		return nil
	}
	root.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	root.AddCommand(serveCmd(), stdioCmd(), demoCmd(), checkConfigCmd(), hashKeyCmd(), versionCmd(), healthcheckCmd())
	// Argument errors are usage errors (exit code 2), like flag errors.
	for _, c := range root.Commands() {
		if c.Args == nil {
			continue
		}
		check := c.Args
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				var u usageError
				if errors.As(err, &u) {
					return err
				}
				return usageError{fmt.Sprintf("%s: %v", cmd.CommandPath(), err)}
			}
			return nil
		}
	}
	return root
}

func buildVersion() string {
	if version != "dev" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return version
}

// signalContext is cancelled by SIGINT or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// newLogger builds the process logger on stderr from the log config.
func newLogger(c config.Log) *slog.Logger {
	var level slog.LevelVar
	switch strings.ToLower(c.Level) {
	case "debug":
		level.Set(slog.LevelDebug)
	case "warn", "warning":
		level.Set(slog.LevelWarn)
	case "error":
		level.Set(slog.LevelError)
	default:
		level.Set(slog.LevelInfo)
	}
	opts := &slog.HandlerOptions{Level: &level, ReplaceAttr: readableDuration}
	if strings.ToLower(c.Format) == "text" {
		return slog.New(slog.NewTextHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, opts))
}

// readableDuration writes durations as "1.5ms" or "30s": slog's JSON
// handler would write nanoseconds, which nobody reads.
func readableDuration(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}

// tuneGC raises GOGC for a server process: the MCP SDK's per-call cost is
// dominated by garbage collection (DESIGN.md §6). An operator's GOGC or
// GOMEMLIMIT wins.
func tuneGC() {
	if os.Getenv("GOGC") == "" && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetGCPercent(400)
	}
}

// setMemoryLimit sets the runtime's soft memory limit to 90% of the
// cgroup's memory limit (or of the machine's memory), unless GOMEMLIMIT is
// set, and logs what it did.
func setMemoryLimit(logger *slog.Logger) {
	detected, set, ok, err := memlimit.Set()
	switch {
	case err != nil:
		logger.Warn("memory limit not set: could not detect the memory available; set GOMEMLIMIT", "error", err)
	case ok:
		logger.Info("memory limit set", "gomemlimit_bytes", set, "detected_bytes", detected.Bytes, "from", detected.Source)
	}
}

func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return nil, usageError{"--config is required (or use pgherd demo, or pgherd stdio --database-url URL)"}
	}
	return config.Load(path, nil)
}

// runApp builds the logger and the app from cfg, runs fn until SIGINT or
// SIGTERM cancels its context, and closes the app.
func runApp(cfg *config.Config, fn func(ctx context.Context, a *app.App, logger *slog.Logger) error) error {
	logger := newLogger(cfg.Log)
	setMemoryLimit(logger)
	defer heapProfileOnSignal(logger)()
	ctx, stop := signalContext()
	defer stop()
	go func() {
		// After the first signal, a second one ends the process at once
		// (the default action) instead of waiting for the grace period.
		<-ctx.Done()
		stop()
	}()
	a, err := app.New(ctx, cfg, app.Options{Version: buildVersion(), Logger: logger})
	if err != nil {
		return err
	}
	defer a.Close()
	return fn(ctx, a, logger)
}

func serveCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve every configured endpoint over HTTP (or stdio when TRANSPORT_MODE=stdio)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(path)
			if err != nil {
				return err
			}
			tuneGC()
			return runApp(cfg, func(ctx context.Context, a *app.App, logger *slog.Logger) error {
				if cfg.Server.Transport == config.TransportStdio {
					return a.RunStdio(ctx, "main", os.Stdin, nopCloser{os.Stdout})
				}
				l, err := a.Listen()
				if err != nil {
					return err
				}
				stopReload := reloadOnHangup(path, a, cfg.Server.WatchConfig, logger)
				defer stopReload()
				return a.Serve(ctx, l)
			})
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "", "config file (YAML)")
	return cmd
}

func stdioCmd() *cobra.Command {
	var path, name, url, mode string
	var allowPrivileged bool
	cmd := &cobra.Command{
		Use:   "stdio",
		Short: "Serve one endpoint over stdin/stdout (for Claude Desktop, Cursor, VS Code)",
		Long: `Serve one endpoint over stdio. Either name an endpoint of a config file:

  pgherd stdio --config pgherd.yaml --endpoint app1     (--endpoint main: /mcp with composed tools)

or give one database directly, with no config file:

  pgherd stdio --database-url postgres://user:pass@host/db --access-mode user_ro

Logs go to stderr; stdout carries nothing but JSON-RPC.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cfg *config.Config
			switch {
			case url != "" && path != "":
				return usageError{"use either --config or --database-url, not both"}
			case url != "":
				m, err := access.Parse(mode)
				if err != nil {
					return usageError{"--access-mode: " + err.Error()}
				}
				if cfg, err = config.ForDatabase(url, m); err != nil {
					return err
				}
				name = cfg.Names()[0] // named after the database
				cfg.Endpoints[name].AllowPrivilegedRole = allowPrivileged
			case allowPrivileged:
				return usageError{"--allow-privileged-role goes with --database-url; in a config file set endpoints.NAME.allow_privileged_role: true"}
			default:
				var err error
				if cfg, err = loadConfig(path); err != nil {
					return err
				}
				if name == "" {
					return usageError{"--endpoint is required with --config: name an endpoint (" + strings.Join(cfg.Names(), ", ") + ") or main"}
				}
				if err := checkServed(cfg, name); err != nil {
					return err
				}
			}
			return runApp(cfg, func(ctx context.Context, a *app.App, _ *slog.Logger) error {
				return a.RunStdio(ctx, name, os.Stdin, nopCloser{os.Stdout})
			})
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "", "config file (YAML)")
	cmd.Flags().StringVarP(&name, "endpoint", "e", "", "endpoint to serve (or main)")
	cmd.Flags().StringVar(&url, "database-url", "", "serve this one database, no config file needed")
	cmd.Flags().StringVar(&mode, "access-mode", string(access.UserRO), "access mode with --database-url: "+access.Names())
	cmd.Flags().BoolVar(&allowPrivileged, "allow-privileged-role", false,
		"with --database-url: start although the login role is a superuser, has BYPASSRLS or reads all data (a warning is logged)")
	return cmd
}

func demoCmd() *cobra.Command {
	var opts demo.Options
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Start a throwaway PostgreSQL with four demo databases and serve them",
		Long: `Start a throwaway PostgreSQL cluster from the local server binaries, create the demo
databases app1…app4 with sample data and least-privilege roles, and serve them on
127.0.0.1:8000 as four endpoints with the four access modes, plus /mcp. Ctrl-C stops
everything and removes the cluster. --database-url uses an existing server instead
(a superuser URL: the demo creates databases and roles, and drops them on exit).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("port") {
				if p := os.Getenv("HTTP_PORT"); p != "" {
					if _, err := fmt.Sscan(p, &opts.Port); err != nil {
						return usageError{"HTTP_PORT: " + p + " is not a port number"}
					}
				}
			}
			tuneGC()
			logger := newLogger(config.Log{Level: "info", Format: "text"})
			setMemoryLimit(logger)
			// SIGHUP too: closing the terminal must not leave the cluster
			// behind.
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
			defer stop()
			if exe, err := os.Executable(); err == nil {
				opts.Command = exe
			}
			opts.Version = buildVersion()
			opts.Logger = logger
			opts.Out = cmd.OutOrStdout()
			return demo.Run(ctx, opts)
		},
	}
	cmd.Flags().IntVarP(&opts.Port, "port", "p", 8000, "HTTP port (also HTTP_PORT)")
	cmd.Flags().StringVar(&opts.DatabaseURL, "database-url", "", "use this existing server (a superuser URL) instead of a throwaway one")
	cmd.Flags().StringVar(&opts.Audit, "audit", "", "write the audit log (one JSON line per tool call) to this file, or stdout")
	cmd.Flags().BoolVar(&opts.TraceSQL, "trace-sql", false, "with tracing on (OTEL_EXPORTER_OTLP_ENDPOINT), put statement text on database spans")
	return cmd
}

func checkConfigCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "check-config FILE",
		Short: "Validate a config file and print the effective config with secrets redacted",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{"check-config takes exactly one file"}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := config.Load(args[0], nil)
			if err != nil {
				return fmt.Errorf("%s:\n%w", args[0], err)
			}
			out, err := cfg.Redacted()
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
}

func hashKeyCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "hash-key",
		Short: "Print the key_hash of an API key read from stdin",
		Long:  "Reads one API key from stdin and prints the sha256:… value for auth.api_keys[].key_hash.\n\n  head -c 32 /dev/urandom | base64 | tee key.txt | pgherd hash-key",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			h, err := auth.HashKeyFrom(cmd.InOrStdin())
			if err != nil {
				return usageError{err.Error()}
			}
			fmt.Fprintln(cmd.OutOrStdout(), h)
			return nil
		},
	}
}

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(cmd.OutOrStdout(), "pgherd", buildVersion())
			return nil
		},
	}
}

// reloadOnHangup re-reads the config file on SIGHUP and, with
// server.watch_config, when its content changes, and applies it (see
// app.Reload). The returned function stops it.
func reloadOnHangup(path string, a *app.App, watch bool, logger *slog.Logger) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	finished := make(chan struct{})
	var tick <-chan time.Time
	if watch {
		t := time.NewTicker(2 * time.Second)
		defer func() {
			inner := stop
			stop = func() { inner(); t.Stop() }
		}()
		tick = t.C
	}
	last := fileSum(path)
	reload := func(why string) {
		cfg, err := config.Load(path, nil)
		if err == nil {
			err = a.Reload(cfg)
		}
		if err != nil {
			logger.Error("reload failed; the previous configuration stays in effect", "config", path, "trigger", why, "error", err)
		}
	}
	go func() {
		defer close(finished)
		for {
			select {
			case <-done:
				return
			case <-hup:
				last = fileSum(path)
				reload("SIGHUP")
			case <-tick:
				if sum := fileSum(path); sum != last && sum != "" {
					last = sum
					reload("file changed")
				}
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
		<-finished
	}
}

// fileSum is the SHA-256 of the file at path, "" when it cannot be read
// (being replaced: the next check sees the new one).
func fileSum(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// checkServed fails, before any database is connected, when name is not an
// endpoint stdio can serve: main or an endpoint with its own path.
func checkServed(cfg *config.Config, name string) error {
	served := []string{"main"}
	for _, n := range cfg.Names() {
		if cfg.Endpoints[n].Served() {
			if n == name {
				return nil
			}
			served = append(served, n)
		}
	}
	if name == "main" {
		return nil
	}
	return usageError{fmt.Sprintf("no endpoint %q is served on its own; choose one of: %s (composed databases are in main)", name, strings.Join(served, ", "))}
}

// nopCloser keeps the MCP transport from closing the process's stdout.
type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
