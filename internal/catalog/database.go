package catalog

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// DatabaseInfo describes the connected database as a whole.
type DatabaseInfo struct {
	Name             string `json:"name"`
	ServerVersion    string `json:"server_version"`     // as SHOW server_version prints it
	ServerVersionNum int    `json:"server_version_num"` // 170002 for 17.2
	Encoding         string `json:"encoding"`
	// SizeBytes is pg_database_size; absent when the role may not read it
	// (it needs CONNECT on the database, which every caller has).
	SizeBytes  int64           `json:"size_bytes"`
	Size       string          `json:"size"`
	Extensions []ExtensionItem `json:"extensions"`
}

// ExtensionItem is one installed extension.
type ExtensionItem struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Schema  string `json:"schema"`
}

const databaseSQL = `SELECT current_database()::text, current_setting('server_version'),
	current_setting('server_version_num')::int, pg_encoding_to_char(d.encoding)::text,
	pg_database_size(d.oid)
FROM pg_database d WHERE d.datname = current_database()`

const extensionsSQL = `SELECT e.extname::text, e.extversion, n.nspname::text
FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
ORDER BY e.extname COLLATE "C"`

// Database describes the connected database: name, server version,
// encoding, size and installed extensions.
func Database(ctx context.Context, q Querier) (*DatabaseInfo, error) {
	var d DatabaseInfo
	if err := q.QueryRow(ctx, databaseSQL).Scan(&d.Name, &d.ServerVersion, &d.ServerVersionNum, &d.Encoding, &d.SizeBytes); err != nil {
		return nil, fmt.Errorf("describing the database: %w", err)
	}
	d.Size = prettySize(d.SizeBytes)
	rows, err := q.Query(ctx, extensionsSQL)
	if err != nil {
		return nil, fmt.Errorf("listing extensions: %w", err)
	}
	d.Extensions, err = pgx.CollectRows(rows, pgx.RowToStructByPos[ExtensionItem])
	if err != nil {
		return nil, fmt.Errorf("listing extensions: %w", err)
	}
	if d.Extensions == nil {
		d.Extensions = []ExtensionItem{}
	}
	return &d, nil
}
