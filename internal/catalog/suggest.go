package catalog

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// similarRelationsSQL lists the tables, views, materialized views and
// foreign tables of schemas $1 (NULL: every user schema) the current role may read, with names
// roughly like $2 (see similarNamesSQL); [rankSimilar] orders them.
const similarRelationsSQL = `SELECT CASE WHEN n.nspname = 'public' THEN '' ELSE n.nspname || '.' END || c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE (n.nspname = ANY($1) OR $1 IS NULL AND n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema')
  AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND has_any_column_privilege(c.oid, 'SELECT')
  AND (abs(length(c.relname) - length($2)) <= greatest(3, length($2) / 3)
    OR left(lower(c.relname), 3) = left(lower($2), 3)
    OR strpos(lower(c.relname), lower($2)) > 0
    OR strpos(lower($2), lower(c.relname)) > 0)
LIMIT 5000`

// similarColumnsSQL lists "column (table)" for the readable columns of the
// relations of schemas $1 (NULL: every user schema; only relation $3 when it is not empty) with
// names roughly like $2.
const similarColumnsSQL = `SELECT a.attname || ' (' || CASE WHEN n.nspname = 'public' THEN '' ELSE n.nspname || '.' END || c.relname || ')'
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE (n.nspname = ANY($1) OR $1 IS NULL AND n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema')
  AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND a.attnum > 0 AND NOT a.attisdropped
  AND ($3 = '' OR c.relname = $3)
  AND has_column_privilege(c.oid, a.attnum, 'SELECT')
  AND (abs(length(a.attname) - length($2)) <= greatest(3, length($2) / 3)
    OR left(lower(a.attname), 3) = left(lower($2), 3)
    OR strpos(lower(a.attname), lower($2)) > 0
    OR strpos(lower($2), lower(a.attname)) > 0)
LIMIT 5000`

// SimilarRelations returns up to five readable tables, views, materialized
// views or foreign tables of schemas (nil: every user schema) whose names are closest to name, best
// first; names outside public are schema-qualified. It answers "relation
// does not exist" (SQLSTATE 42P01) with what the caller may have meant.
func SimilarRelations(ctx context.Context, q Querier, schemas []string, name string) ([]string, error) {
	return similar(ctx, q, similarRelationsSQL, name, schemas, name)
}

// SimilarColumns returns up to five readable columns of the relations of
// schemas (only of table when it is not empty) whose names are closest to
// name, as "column (table)", best first. It answers "column does not exist"
// (SQLSTATE 42703).
func SimilarColumns(ctx context.Context, q Querier, schemas []string, table, name string) ([]string, error) {
	return similar(ctx, q, similarColumnsSQL, name, schemas, name, table)
}

func similar(ctx context.Context, q Querier, sql, name string, args ...any) ([]string, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("looking for names like %q: %w", name, err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("looking for names like %q: %w", name, err)
	}
	// Rank on the bare name ("orders" of "sales.orders", "amount" of
	// "amount (orders)"); several relations may share it.
	full := make(map[string][]string, len(names))
	var bare []string
	for _, n := range names {
		k, _, _ := strings.Cut(n, " (")
		k = k[strings.LastIndexByte(k, '.')+1:]
		if full[k] == nil {
			bare = append(bare, k)
		}
		full[k] = append(full[k], n)
	}
	var out []string
	for _, k := range rankSimilar(name, bare, 5) {
		for _, n := range full[k] {
			if len(out) < 5 {
				out = append(out, n)
			}
		}
	}
	return out, nil
}
