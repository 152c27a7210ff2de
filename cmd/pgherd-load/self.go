package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/jackc/pgx/v5"

	"github.com/pgherd/pgherd/internal/app"
	"github.com/pgherd/pgherd/internal/config"
	"github.com/pgherd/pgherd/internal/localpg"
)

// selfEndpoint is the endpoint name --self serves, the same as pgherd demo's
// first endpoint, so the default URL path and tool name work for both.
const selfEndpoint = "app1"

// seedSQL gives --self a table shaped like the demo's customers table
// (internal/demo), so the same arguments work against pgherd demo.
const seedSQL = `
CREATE TABLE customers (
    id         bigint PRIMARY KEY,
    email      text NOT NULL UNIQUE,
    name       text NOT NULL,
    country    char(2) NOT NULL,
    created_at timestamptz NOT NULL
);
INSERT INTO customers
SELECT i, 'customer' || i || '@example.com', 'Customer ' || i,
       (ARRAY['US', 'DE', 'FR', 'GB', 'JP', 'BR', 'IN', 'CA', 'ES', 'NL'])[1 + (i * 7) % 10],
       timestamptz '2023-01-01 00:00+00' + (i * 17) % 700 * interval '1 day'
  FROM generate_series(1, 500) AS i;
ANALYZE customers;
`

// selfServer is a throwaway PostgreSQL and an in-process pgherd serving it.
type selfServer struct {
	Base    string // http://127.0.0.1:port
	cluster *localpg.Cluster
	app     *app.App
	cancel  context.CancelFunc
	served  chan error
}

// startSelf starts a throwaway cluster from the local PostgreSQL binaries,
// creates and fills database app1, and serves it with pgherd in this process
// in session mode (stateless or stateful) with access mode user_ro.
func startSelf(ctx context.Context, mode string, scale float64, logger *slog.Logger) (*selfServer, error) {
	cluster, uri, err := startPostgres(ctx, scale, logger)
	if err != nil {
		return nil, err
	}
	s, err := serveInProcess(ctx, uri, mode, logger)
	if err != nil {
		cluster.Stop()
		return nil, err
	}
	s.cluster = cluster
	return s, nil
}

// startPostgres starts a throwaway cluster with database app1 holding the
// benchmark dataset at scale (dataset.go), and returns it with the
// database's URI.
func startPostgres(ctx context.Context, scale float64, logger *slog.Logger) (_ *localpg.Cluster, uri string, err error) {
	cluster, err := localpg.Start(ctx, localpg.Options{Logger: logger})
	if err != nil {
		return nil, "", fmt.Errorf("starting PostgreSQL: %w", err)
	}
	defer func() {
		if err != nil {
			cluster.Stop()
		}
	}()
	if err := cluster.CreateDatabase(ctx, selfEndpoint); err != nil {
		return nil, "", err
	}
	if err := seedDataset(ctx, cluster.URI(selfEndpoint), scale); err != nil {
		return nil, "", err
	}
	return cluster, localpg.URI(benchRole, benchRole, cluster.Port(), selfEndpoint), nil
}

// seed creates the small customers table (500 rows) in the database at
// uri: what the tests need.
func seed(ctx context.Context, uri string) error {
	conn, err := pgx.Connect(ctx, uri)
	if err != nil {
		return fmt.Errorf("connecting to seed the database: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, seedSQL); err != nil {
		return fmt.Errorf("seeding the database: %w", err)
	}
	return nil
}

// serveInProcess serves the database at uri as endpoint app1 (user_ro) on
// a free loopback port, in session mode (stateless or stateful).
func serveInProcess(ctx context.Context, uri, mode string, logger *slog.Logger) (*selfServer, error) {
	return serveInProcessWith(ctx, uri, mode, "", "", logger)
}

// serveInProcessWith is serveInProcess with more server settings (", metrics:
// {enabled: false}") and more top-level YAML (audit, tracing).
func serveInProcessWith(ctx context.Context, uri, mode, server, extra string, logger *slog.Logger) (*selfServer, error) {
	// The throwaway cluster's superuser: allowed, as a benchmark of the
	// serving path (the login role check is not what is measured).
	yaml := fmt.Sprintf("server: {port: 0, session_mode: %s%s}\nlog: {level: warn}\nendpoints:\n  %s: {database_uri: \"${URI}\", access_mode: user_ro, allow_privileged_role: true, limits: {max_result_bytes: 1048576}}\n",
		mode, server, selfEndpoint) + extra
	cfg, err := config.Parse([]byte(yaml), func(k string) (string, bool) {
		if k == "URI" {
			return uri, true
		}
		return "", false
	})
	if err != nil {
		return nil, err
	}
	a, err := app.New(ctx, cfg, app.Options{Version: "pgherd-load", Logger: logger})
	if err != nil {
		return nil, err
	}
	l, err := a.Listen()
	if err != nil {
		a.Close()
		return nil, err
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &selfServer{Base: "http://" + l.Addr().String(), app: a, cancel: cancel, served: make(chan error, 1)}
	go func() { s.served <- a.Serve(sctx, l) }()
	return s, nil
}

// Stop shuts pgherd down, then PostgreSQL, and removes the cluster.
func (s *selfServer) Stop() error {
	s.cancel()
	err := <-s.served
	s.app.Close()
	if s.cluster != nil {
		err = errors.Join(err, s.cluster.Stop())
	}
	return err
}

// tuneGC does what pgherd serve does (cmd/pgherd, tuneGC): GOGC 400 unless
// the environment sets GOGC or GOMEMLIMIT. With --self the server runs in
// this process and shares its garbage collector with the client. It returns
// the setting in effect, for the report.
func tuneGC() string {
	if v := os.Getenv("GOGC"); v != "" {
		return "GOGC=" + v + " (environment)"
	}
	if v := os.Getenv("GOMEMLIMIT"); v != "" {
		return "GOGC default, GOMEMLIMIT=" + v + " (environment)"
	}
	debug.SetGCPercent(400)
	return "GOGC=400 (pgherd serve's default)"
}
