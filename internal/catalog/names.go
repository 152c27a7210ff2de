package catalog

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// SchemaNames returns up to limit schema names starting with prefix
// (ignoring case), user schemas first, then by name. Other sessions'
// temporary schemas and TOAST schemas are left out. It serves completions.
func SchemaNames(ctx context.Context, q Querier, prefix string, limit int) ([]string, error) {
	if err := checkText("prefix", prefix); err != nil {
		return nil, err
	}
	rows, err := q.Query(ctx, `SELECT n.nspname::text FROM pg_namespace n
WHERE NOT pg_is_other_temp_schema(n.oid) AND n.nspname !~ '^pg_toast'
  AND starts_with(lower(n.nspname), lower($1))
ORDER BY (n.nspname IN ('pg_catalog', 'information_schema') OR n.nspname ~ '^pg_temp_'), n.nspname COLLATE "C"
LIMIT $2`, prefix, limit)
	if err != nil {
		return nil, fmt.Errorf("listing schema names: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("listing schema names: %w", err)
	}
	return names, nil
}

// RelationNames returns up to limit names of the tables, views,
// materialized views and foreign tables of schema that start with prefix
// (ignoring case), by name. It serves completions.
func RelationNames(ctx context.Context, q Querier, schema, prefix string, limit int) ([]string, error) {
	if err := checkText("schema", schema); err != nil {
		return nil, err
	}
	if err := checkText("prefix", prefix); err != nil {
		return nil, err
	}
	rows, err := q.Query(ctx, `SELECT c.relname::text FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND starts_with(lower(c.relname), lower($2))
ORDER BY c.relname COLLATE "C"
LIMIT $3`, schema, prefix, limit)
	if err != nil {
		return nil, fmt.Errorf("listing relation names: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("listing relation names: %w", err)
	}
	return names, nil
}
