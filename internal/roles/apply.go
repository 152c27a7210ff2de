package roles

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Apply runs stmts (from [Harden] or [Statements]: trusted SQL, never a
// caller's) on conn one by one, in a single transaction: either all of them
// take effect or none does. conn must be a superuser's, connected to the
// database the statements are for. An error names the failing statement,
// with any password in it redacted, and says what to do where it can.
func Apply(ctx context.Context, conn *pgx.Conn, stmts []string) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("roles: beginning transaction: %w", err)
	}
	// Harmless after Commit; on failure it leaves nothing half done.
	defer tx.Rollback(context.WithoutCancel(ctx))
	for i, stmt := range stmts {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("roles: statement %d of %d (%s): %w%s", i+1, len(stmts), summary(stmt), err, advice(err))
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("roles: committing: %w", err)
	}
	return nil
}

// summary shortens a statement for an error message and hides its password.
func summary(stmt string) string {
	s := strings.Join(strings.Fields(stmt), " ")
	if i := strings.Index(s, " PASSWORD "); i >= 0 {
		s = s[:i] + " PASSWORD [REDACTED]"
	}
	const limit = 120
	if r := []rune(s); len(r) > limit {
		s = string(r[:limit]) + "…"
	}
	return s
}

// advice adds the server's hint, or ours for failures with a known cause.
func advice(err error) string {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return ""
	}
	switch {
	case pe.Code == "42501" && strings.Contains(pe.Message, "temp_file_limit"):
		return "; only a superuser may set temp_file_limit: apply the statements as one"
	case pe.Hint != "":
		return "; " + pe.Hint
	}
	return ""
}
