package tenancy

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgherd/pgherd/internal/pg"
)

// Status is one endpoint's database state, as readiness reports it.
type Status struct {
	Ready     bool    `json:"ready"`
	LatencyMS float64 `json:"latency_ms"`
	Error     string  `json:"error,omitempty"`
}

// Check reports whether the database answers, within ctx's deadline: every
// pool is probed on its control connection (pg.Pool.Probe), so the check
// takes no connection from calls, is not fooled by a stale pooled
// connection, and says "database unreachable" when the server does not
// answer. A pool not connected yet is connected first (in the background:
// the check waits for it only until ctx ends).
func (d *Database) Check(ctx context.Context) Status {
	start := time.Now()
	if d.login {
		return d.checkReachable(ctx, start)
	}
	pools := d.pools()
	errs := make([]error, len(pools))
	var wg sync.WaitGroup
	for i, lp := range pools {
		wg.Go(func() {
			p, err := lp.get(ctx, d)
			if err == nil {
				_, err = p.Probe(ctx)
			}
			if err != nil {
				errs[i] = describeUnreachable(lp.name, err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return Status{Error: pg.PublicText(err), LatencyMS: ms(time.Since(start))}
	}
	return Status{Ready: true, LatencyMS: ms(time.Since(start))}
}

// describeUnreachable words a failed check: a server that answered with an
// error (a wrong password, a missing database) is reachable but refuses;
// anything else is unreachable.
func describeUnreachable(name string, err error) error {
	if _, ok := pg.AsError(err); ok {
		return fmt.Errorf("database %s refused the connection: %w", name, err)
	}
	if strings.Contains(err.Error(), "database unreachable") {
		return err
	}
	return fmt.Errorf("database unreachable: %w", err)
}

// checkReachable reports whether the server of a database_login endpoint
// answers: with no credentials of its own, an authentication failure proves
// the server is up.
func (d *Database) checkReachable(ctx context.Context, start time.Time) Status {
	u, err := url.Parse(d.cfg.DatabaseURI.Reveal())
	if err != nil {
		return Status{Error: "database_uri does not parse"}
	}
	u.User = url.UserPassword("pgherd_readiness_probe", "x")
	cfg, err := pgconn.ParseConfig(u.String())
	if err != nil {
		return Status{Error: "database_uri does not parse"}
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = pg.DefaultConnectTimeout
	}
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err == nil {
		conn.Close(ctx)
		return Status{Ready: true, LatencyMS: ms(time.Since(start))}
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && strings.HasPrefix(pe.Code, "28") {
		return Status{Ready: true, LatencyMS: ms(time.Since(start))}
	}
	return Status{Error: "database unreachable: " + pg.PublicText(err), LatencyMS: ms(time.Since(start))}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
