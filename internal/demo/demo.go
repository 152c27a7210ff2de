package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"syscall"

	"github.com/pgherd/pgherd/internal/access"
	"github.com/pgherd/pgherd/internal/app"
	"github.com/pgherd/pgherd/internal/config"
)

// Options configure [Run]. The zero value runs the demo on a throwaway
// cluster and any free port, silently.
type Options struct {
	// Port to serve on (127.0.0.1); zero picks any free port.
	Port int
	// DatabaseURL, when set, is an existing server to use instead of a
	// throwaway cluster: a superuser URI (postgres://…). The demo creates
	// databases pgherd_demo_app1…4 and roles named after them, and drops
	// them when it stops.
	DatabaseURL string
	// Version is reported by the main endpoint.
	Version string
	// Logger receives lifecycle messages; nil discards them.
	Logger *slog.Logger
	// Out receives the endpoint list and client configuration; nil
	// discards them.
	Out io.Writer
	// Command is how the printed stdio connection lines run pgherd (the CLI
	// passes its own path); empty means "pgherd".
	Command string
	// Audit, when set, writes the audit log to this file ("stdout" for
	// standard output).
	Audit string
	// TraceSQL records statement text on database spans when tracing is on
	// (the OTEL_* variables turn tracing on).
	TraceSQL bool
	// OnReady, if set, is called once with the base URL
	// (http://127.0.0.1:PORT) when the listener is bound and the demo is
	// about to serve; requests made from then on are answered. It must not
	// block.
	OnReady func(baseURL string)
}

// Run starts the demo and serves it until ctx ends, then shuts the server
// down and removes the databases, roles and cluster it created. It returns
// nil after a clean shutdown. Errors say what to do: install the PostgreSQL
// server binaries, choose another port, use a superuser.
func Run(ctx context.Context, opts Options) (err error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	out := opts.Out
	if out == nil {
		out = io.Discard
	}
	// Fail before the slow part when the port is taken.
	if opts.Port != 0 {
		l, err := net.Listen("tcp", net.JoinHostPort(config.DefaultHost, strconv.Itoa(opts.Port)))
		if err != nil {
			return portError(opts.Port, err)
		}
		l.Close()
	}

	// Ctrl-C while starting is a clean stop, not a failure: whatever
	// failed, failed because ctx ended.
	stopped := func(err error) error {
		if ctx.Err() != nil {
			logger.Info("demo stopped while starting")
			return nil
		}
		return err
	}
	srv, err := startServer(ctx, opts.DatabaseURL, logger)
	if err != nil {
		return stopped(err)
	}
	defer func() { err = errors.Join(err, srv.stop()) }()
	dbs := srv.plan()
	if err := srv.setup(ctx, dbs); err != nil {
		return stopped(err)
	}
	logger.Info("demo databases ready", "databases", len(dbs))

	uris := make(map[string]string, len(dbs))
	for _, d := range dbs {
		uris[envName(d.Endpoint)] = srv.uriAs(d.Name, d.Login, d.password)
	}
	// The URIs reach the config through env only: the YAML text holds
	// ${APP1_URI} and nothing secret. Nothing else is read from the
	// environment (the caller chose the port).
	env := func(name string) (string, bool) {
		v, ok := uris[name]
		return v, ok
	}
	cfg, err := config.Parse([]byte(configYAML(dbs, opts.Port)+observeYAML(opts)), env)
	if err != nil {
		return fmt.Errorf("demo: the demo's own configuration is invalid (a bug): %w", err)
	}
	a, err := app.New(ctx, cfg, app.Options{Version: opts.Version, Logger: logger})
	if err != nil {
		return stopped(fmt.Errorf("demo: %w", err))
	}
	defer a.Close()
	l, err := a.Listen()
	if err != nil {
		if opts.Port != 0 && errors.Is(err, syscall.EADDRINUSE) {
			return portError(opts.Port, err)
		}
		return fmt.Errorf("demo: %w", err)
	}
	base := "http://" + l.Addr().String()
	command := opts.Command
	if command == "" {
		command = "pgherd"
	}
	if err := writeWelcome(out, base, srv.where(), dbs, uris, command); err != nil {
		l.Close()
		return fmt.Errorf("demo: printing the endpoints: %w", err)
	}
	if opts.OnReady != nil {
		opts.OnReady(base)
	}
	return a.Serve(ctx, l)
}

func portError(port int, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("demo: port %d on %s is already in use (another pgherd demo?): choose another with pgherd demo --port %d (or HTTP_PORT)",
			port, config.DefaultHost, port+1)
	}
	return fmt.Errorf("demo: cannot listen on port %d: %w; choose another with pgherd demo --port", port, err)
}

// envName is the variable carrying an endpoint's URI: app1 → APP1_URI.
func envName(endpoint string) string { return strings.ToUpper(endpoint) + "_URI" }

// description describes a demo database to the agents of an endpoint in
// mode: the analytics schema only where the mode can read it (the
// instructions of a user mode name nothing it cannot see).
func description(m access.Mode) string {
	s := "demo shop database (" + m.String() + "): customers, products, orders, order_items, order_totals"
	if !m.PublicOnly() {
		s += "; analytics schema (daily_sales, top_products)"
	}
	return s
}

// configYAML is the demo's configuration: the design document's four
// endpoints, each on its own path with its own login role.
func configYAML(dbs []*database, port int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "server:\n  host: %s\n  port: %d\nendpoints:\n", config.DefaultHost, port)
	for _, d := range dbs {
		fmt.Fprintf(&b, "  %s:\n", d.Endpoint)
		fmt.Fprintf(&b, "    database_uri: ${%s}\n", envName(d.Endpoint))
		fmt.Fprintf(&b, "    access_mode: %s\n", d.Mode)
		b.WriteString("    endpoint: true\n")
		fmt.Fprintf(&b, "    description: %s\n", strconv.Quote(description(d.Mode)))
	}
	return b.String()
}

// observeYAML is the demo's audit and tracing configuration from opts
// (metrics are on by default at /metrics).
func observeYAML(opts Options) string {
	var b strings.Builder
	if opts.Audit != "" {
		fmt.Fprintf(&b, "audit: {enabled: true, path: %s}\n", strconv.Quote(opts.Audit))
	}
	if opts.TraceSQL {
		b.WriteString("tracing: {trace_sql: true}\n")
	}
	return b.String()
}
