package dbtools

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/access"
	"github.com/pgherd/pgherd/internal/catalog"
	"github.com/pgherd/pgherd/internal/config"
	"github.com/pgherd/pgherd/internal/destructive"
	"github.com/pgherd/pgherd/internal/observe"
	"github.com/pgherd/pgherd/internal/pg"
	"github.com/pgherd/pgherd/internal/sqlguard"
	"github.com/pgherd/pgherd/internal/tools"
)

// ExecuteArgs are execute_sql's arguments.
type ExecuteArgs struct {
	SQL     string `json:"sql" jsonschema:"exactly one SQL statement"`
	Params  []any  `json:"params,omitempty" jsonschema:"values for $1, $2, … in order"`
	MaxRows int    `json:"max_rows,omitempty" jsonschema:"return at most this many rows (capped by the endpoint's max_rows)"`
}

func (d *dbtools) registerSQL(t *tools.Target) {
	mode := d.opts.Mode
	ann := readOnly()
	tags := []string{tools.TagRead}
	if !mode.ReadOnly() {
		ann = &mcp.ToolAnnotations{DestructiveHint: new(true), OpenWorldHint: new(false)}
		tags = []string{tools.TagWrite}
	}
	tools.Add(t, &mcp.Tool{
		Name:  "execute_sql",
		Title: "Run SQL",
		Description: fmt.Sprintf("Run exactly one SQL statement on database %s and return its rows as {columns, rows, row_count, truncated, elapsed_ms} (or the command tag and rows affected). Mode %s: %s Use params ($1, $2, …) for values. At most %d rows and %d bytes are returned; truncated says when the result was cut.",
			d.opts.Endpoint, mode, ModeRules(mode), d.opts.Limits.MaxRows, d.opts.Limits.MaxResultBytes),
		Annotations: ann,
	}, tags, d.executeSQL)
}

func (d *dbtools) executeSQL(ctx context.Context, req *mcp.CallToolRequest, in ExecuteArgs) (*mcp.CallToolResult, *pg.Result, error) {
	mode := d.opts.Mode
	rec := observe.CallFrom(ctx)
	rec.SetStatement(in.SQL, in.Params)
	if in.MaxRows < 0 {
		return nil, nil, fmt.Errorf("max_rows must be positive")
	}
	h, err := d.resolve(ctx, req)
	if err != nil {
		return nil, nil, err
	}
	defer func() { h.Done() }() // h changes when a confirmation is asked for
	verdict, err := d.verdicts.Validate(in.SQL, guardOptions(mode, h.Pool))
	logVerdict(ctx, verdict, err)
	if err != nil {
		return nil, nil, err
	}
	rec.SetVerdict(verdict.Command, verdict.ReadOnly)
	if verdict.Params != len(in.Params) {
		return nil, nil, fmt.Errorf("the statement uses %d parameter(s) ($1…$%d) but params has %d value(s)", verdict.Params, verdict.Params, len(in.Params))
	}
	call := pg.Call{SQL: in.SQL, Args: in.Params, MaxRows: d.opts.Limits.MaxRows, Discard: verdict.SessionState,
		// A statement that writes nothing may be cancelled at a cap; a
		// write must run to its end even when its RETURNING rows are capped.
		ReadOnly: verdict.ReadOnly}
	if in.MaxRows > 0 && in.MaxRows < call.MaxRows {
		call.MaxRows = in.MaxRows
	}

	var note string
	if d.opts.Confirm != config.ConfirmNever {
		f, err := destructive.Classify(in.SQL, mode)
		if err != nil {
			return nil, nil, err
		}
		if f != nil {
			// No concurrency slot is held while the user decides.
			h.Done()
			c, err := d.confirm(ctx, req, in, verdict, call, f)
			if err != nil {
				return nil, nil, err
			}
			if c.ask != nil {
				return c.ask, nil, nil
			}
			note = c.note
			if h, err = d.resolve(ctx, req); err != nil {
				return nil, nil, err
			}
		}
	}

	var received atomic.Int64
	call.Received = &received
	stop := runningProgress(ctx, req, &received)
	defer stop()

	var res *pg.Result
	switch {
	case mode.Unrestricted() && verdict.NoTransaction && len(h.Tx.Settings) == 0 && h.Tx.Role == "":
		// VACUUM, CREATE DATABASE, CREATE INDEX CONCURRENTLY…: PostgreSQL
		// refuses them inside a transaction block. (admin_rw: nothing to
		// look up in the catalog.)
		res, err = h.Pool.RunBare(ctx, h.Tx, call)
	default:
		opts := h.Tx
		opts.Rollback = mode.ReadOnly()
		// A read-only call that leaves no session state needs no reset
		// after its rollback (see pg.TxOptions.NoSessionState).
		opts.NoSessionState = !verdict.SessionState
		err = h.Pool.Do(ctx, opts, func(ctx context.Context, tx *pg.Tx) error {
			c := call
			// The owner-code judge runs in the call's transaction after the
			// statement is parsed (which runs none of its code) and before
			// it executes; nothing follows the statement.
			c.Before = func(ctx context.Context) error { return judge(ctx, tx, verdict) }
			c.Last = true
			r, err := tx.Query(ctx, c)
			res = r
			return err
		})
	}
	if err != nil {
		// The lookup takes a slot and a connection of its own: let this
		// call's go first (with max_conns 1 it would wait for itself).
		h.Done()
		return nil, nil, d.withSuggestions(ctx, req, describeErr(err))
	}
	logResult(ctx, res, call.MaxRows, h.Tx.Limits.MaxResultBytes)
	text := res.Text()
	if note != "" {
		text += "\n" + note
	}
	return textResult(text), res, nil
}

// runningProgress reports a running statement to a client that asked for
// progress: at once, then every tools.ProgressInterval, the time it has run
// and the rows received so far. Call stop when the statement ends.
func runningProgress(ctx context.Context, req mcp.Request, received *atomic.Int64) (stop func()) {
	start := time.Now()
	return tools.NewProgress(req).While(ctx, func() string {
		elapsed := time.Since(start).Round(100 * time.Millisecond)
		if received == nil {
			return fmt.Sprintf("statement running for %s", elapsed)
		}
		return fmt.Sprintf("statement running for %s, %d rows received so far", elapsed, received.Load())
	})
}

// guardOptions tells the validator what it must know of the connection a
// call runs on: the database's name (three-part names), the server's
// version (its grammar) and whether the login bypasses privileges.
func guardOptions(mode access.Mode, p *pg.Pool) sqlguard.Options {
	return sqlguard.Options{
		Mode:            mode,
		Database:        p.Database(),
		ServerMajor:     p.ServerMajor(),
		PrivilegedLogin: len(p.Login().Privileges()) > 0,
	}
}

// judge looks up, in the call's own transaction (its search_path and
// role), the code PostgreSQL may run for what the statement names, and
// refuses the statement when any of it is not the server's own.
func judge(ctx context.Context, tx *pg.Tx, v *sqlguard.Verdict) error {
	if v.Lookup == nil {
		return nil
	}
	found, err := catalog.Resolve(ctx, tx.Conn(), v.Lookup)
	if err != nil {
		return err
	}
	return v.Judge(found)
}
