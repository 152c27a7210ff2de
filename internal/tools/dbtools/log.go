package dbtools

import (
	"context"
	"errors"
	"log/slog"

	"github.com/pgherd/pgherd/internal/pg"
	"github.com/pgherd/pgherd/internal/sqlguard"
	"github.com/pgherd/pgherd/internal/tools"
)

// logVerdict tells the client what the validator decided: the verdict at
// debug level, a refusal (its reason, never the SQL) as a warning.
func logVerdict(ctx context.Context, v *sqlguard.Verdict, err error) {
	l := tools.Log(ctx)
	if err != nil {
		var ge *sqlguard.Error
		if errors.As(err, &ge) {
			l.LogAttrs(ctx, slog.LevelWarn, "statement refused by the validator", slog.String("reason", ge.Reason.String()))
		}
		return
	}
	if v == nil || !l.Enabled(ctx, slog.LevelDebug) {
		return
	}
	l.LogAttrs(ctx, slog.LevelDebug, "statement validated",
		slog.String("command", v.Command), slog.Bool("read_only", v.ReadOnly),
		slog.Int("params", v.Params), slog.Bool("outside_transaction", v.NoTransaction))
}

// logResult reports rows and time at debug level and a cap that cut the
// result as a warning.
func logResult(ctx context.Context, res *pg.Result, maxRows int, maxBytes int64) {
	l := tools.Log(ctx)
	if res.Truncated {
		attrs := []slog.Attr{slog.String("truncated_by", res.TruncatedBy), slog.Int("rows_returned", res.RowCount)}
		switch res.TruncatedBy {
		case pg.TruncatedByRows:
			attrs = append(attrs, slog.Int("max_rows", maxRows))
		case pg.TruncatedByBytes:
			if maxBytes > 0 {
				attrs = append(attrs, slog.Int64("max_result_bytes", maxBytes))
			}
		}
		l.LogAttrs(ctx, slog.LevelWarn, "result truncated", attrs...)
	}
	if l.Enabled(ctx, slog.LevelDebug) {
		attrs := []slog.Attr{slog.Int("rows", res.RowCount), slog.Float64("elapsed_ms", res.ElapsedMS)}
		if res.Command != "" {
			attrs = append(attrs, slog.String("command", res.Command))
		}
		if res.RowsAffected != nil {
			attrs = append(attrs, slog.Int64("rows_affected", *res.RowsAffected))
		}
		l.LogAttrs(ctx, slog.LevelDebug, "statement finished", attrs...)
	}
}
