package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
)

// The raw baseline runs the statement of --args straight through pgx, the
// driver pgherd itself uses, with its defaults (statements prepared once
// per connection and cached, binary formats): one pool connection per
// session, every row decoded with Rows.Values as a generic client would.
// It is what PostgreSQL and the driver cost without pgherd, measured in the
// same way and on the same machine, so pgherd's figures are ratios to it.

// rawArgs is what the baseline takes from --args.
type rawArgs struct {
	SQL    string `json:"sql"`
	Params []any  `json:"params"`
}

// openRaw opens the baseline's pool: one connection per session, all
// connected before the run.
func openRaw(ctx context.Context, dsn string, sessions int) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("--raw-dsn: %w", err)
	}
	cfg.MaxConns = int32(sessions)
	cfg.MinConns = int32(sessions)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("--raw-dsn: %w", err)
	}
	// Connect every connection now, not during the warm-up.
	conns := make([]*pgxpool.Conn, 0, sessions)
	defer func() {
		for _, c := range conns {
			c.Release()
		}
	}()
	for range sessions {
		c, err := pool.Acquire(ctx)
		if err != nil {
			pool.Close()
			return nil, fmt.Errorf("--raw-dsn: connecting: %w", err)
		}
		conns = append(conns, c)
	}
	return pool, nil
}

// rawCaller runs the statement on the shared pool.
type rawCaller struct {
	pool *pgxpool.Pool
	args rawArgs
}

func newRawCaller(pool *pgxpool.Pool, args json.RawMessage) (*rawCaller, error) {
	var a rawArgs
	if err := json.Unmarshal(args, &a); err != nil || a.SQL == "" {
		return nil, fmt.Errorf("--raw-dsn: --args must hold the statement as {\"sql\": …} (%v)", err)
	}
	return &rawCaller{pool: pool, args: a}, nil
}

func (c *rawCaller) call(ctx context.Context) outcome {
	rows, err := c.pool.Query(ctx, c.args.SQL, c.args.Params...)
	if err != nil {
		return protocolFailure(err.Error())
	}
	for rows.Next() {
		if _, err := rows.Values(); err != nil {
			rows.Close()
			return protocolFailure(err.Error())
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return protocolFailure(err.Error())
	}
	return outcome{kind: callOK}
}

func (c *rawCaller) info() (string, string) { return "", "" }
func (c *rawCaller) close()                 {}

// postmasterOf finds the postmaster of pool's server: the parent of one of
// its backends, when that server runs on this machine. 0 when unknown.
func postmasterOf(ctx context.Context, pool *pgxpool.Pool) int {
	var backend int
	if err := pool.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&backend); err != nil {
		return 0
	}
	// Another machine, or another PID namespace, may have an unrelated
	// process of that number.
	if !isPostgres(backend) {
		return 0
	}
	if pm := parentPID(backend); isPostgres(pm) {
		return pm
	}
	return 0
}

func isPostgres(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	return err == nil && strings.HasPrefix(string(b), "postgres")
}
