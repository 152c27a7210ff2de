package endpoint

import (
	"context"

	"github.com/pgherd/pgherd/internal/config"
	"github.com/pgherd/pgherd/internal/pg"
	"github.com/pgherd/pgherd/internal/tenancy"
)

// The caller → database handle moved to package tenancy (DESIGN §7). These
// names keep code written against endpoint working; new code uses tenancy.

// Database is [tenancy.Database].
type Database = tenancy.Database

// OpenOptions is [tenancy.OpenOptions].
type OpenOptions = tenancy.OpenOptions

// Open is [tenancy.Open].
func Open(ctx context.Context, ep *config.Endpoint, opts OpenOptions) (*Database, error) {
	return tenancy.Open(ctx, ep, opts)
}

// PoolOptions is [tenancy.PoolOptions].
func PoolOptions(ep *config.Endpoint) pg.PoolOptions { return tenancy.PoolOptions(ep) }

// Limits is [tenancy.Limits].
func Limits(ep *config.Endpoint) pg.Limits { return tenancy.Limits(ep) }
