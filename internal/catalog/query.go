package catalog

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// section is one catalog query of a larger answer: its SQL, its arguments and
// the function that reads its rows into the answer.
type section struct {
	name string // what the query reads, for error messages
	sql  string
	args []any
	scan func(pgx.Rows) error
}

// runSections runs the sections in order. When q can send batches, all of
// them go in one round trip; otherwise one query each. Either way the first
// error wins and names its section.
func runSections(ctx context.Context, q Querier, secs []section) error {
	if b, ok := q.(batcher); ok && len(secs) > 1 {
		batch := &pgx.Batch{}
		for _, s := range secs {
			batch.Queue(s.sql, s.args...).Query(func(rows pgx.Rows) error {
				if err := s.scan(rows); err != nil {
					return fmt.Errorf("reading %s: %w", s.name, err)
				}
				return nil
			})
		}
		return b.SendBatch(ctx, batch).Close()
	}
	for _, s := range secs {
		rows, err := q.Query(ctx, s.sql, s.args...)
		if err != nil {
			return fmt.Errorf("reading %s: %w", s.name, err)
		}
		err = s.scan(rows)
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", s.name, err)
		}
	}
	return nil
}

// eachRow calls fn for every row, then reports the rows' error.
func eachRow(rows pgx.Rows, fn func() error) error {
	for rows.Next() {
		if err := fn(); err != nil {
			return err
		}
	}
	return rows.Err()
}

// lockedCTE defines "locked": the tables whose size cannot be read right now
// without waiting, because another session holds or awaits an ACCESS
// EXCLUSIVE lock on them, their TOAST table or one of their indexes (ALTER
// TABLE, VACUUM FULL, REINDEX, DROP …). Size functions open the relation and
// would queue behind that lock, so queries skip sizes for these and say so.
const lockedCTE = `locks AS MATERIALIZED (
	SELECT DISTINCT l.relation AS oid
	FROM pg_catalog.pg_locks l
	WHERE l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock'
	  AND l.pid IS DISTINCT FROM pg_catalog.pg_backend_pid()
	  AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database())
), locked AS MATERIALIZED (
	SELECT oid FROM locks
	UNION SELECT i.indrelid FROM pg_catalog.pg_index i JOIN locks k ON k.oid = i.indexrelid
	UNION SELECT c.oid FROM pg_catalog.pg_class c JOIN locks k ON k.oid = c.reltoastrelid
)`

// partitionTree starts a WITH RECURSIVE clause defining "tree": every
// relation below root (an SQL expression) in pg_inherits, at any depth. For
// a partitioned table or index that is its partitions; leaves are those not
// partitioned themselves (relkind not p or I). Unlike pg_partition_tree,
// which locks every partition, reading pg_inherits waits for no one.
func partitionTree(root string) string {
	return `WITH RECURSIVE tree AS (
	SELECT inhrelid AS oid FROM pg_inherits WHERE inhparent = ` + root + `
	UNION ALL
	SELECT ih.inhrelid FROM pg_inherits ih JOIN tree ON ih.inhparent = tree.oid
)`
}
