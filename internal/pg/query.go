package pg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Call is one user statement.
type Call struct {
	SQL string
	// Args bind $1…: JSON-decoded values (string, float64, bool, nil,
	// []any, map[string]any), converted to the parameter types PostgreSQL
	// infers for the statement.
	Args     []any
	MaxRows  int   // zero means the limits' MaxRows
	MaxBytes int64 // zero means the limits' MaxResultBytes
	// MaxCellBytes is the most one value may cost in the response (both
	// copies, encoded) before it is cut with a marker; zero means a share
	// of MaxBytes that leaves room for the rest of the row and more rows
	// (cellBudget).
	MaxCellBytes int64
	// Discard destroys the connection afterwards instead of resetting it.
	// DISCARD ALL after every call already clears settings, prepared
	// statements, cursors, LISTEN, temporary tables, advisory locks and
	// sequence state; set Discard for what it cannot reach (LOAD, extension
	// state such as hypopg's) or whenever the validator is unsure.
	Discard bool
	// ReadOnly promises the statement writes nothing (the validator's
	// verdict). A cap may then cancel it even in a transaction that
	// commits; a statement that may write is read to its end instead, its
	// extra rows dropped, so a cap never undoes a write.
	ReadOnly bool
	// Received, when set, counts the rows kept as they are read, for
	// progress reports while the statement runs.
	Received *atomic.Int64
	// Before, when set, runs in the transaction after the statement was
	// parsed and described and before it executes: the checks that must
	// precede running it (the owner-code judge, with trusted SQL through
	// [Tx.Conn]). Its error is returned as is and the statement does not
	// run.
	Before func(ctx context.Context) error
	// Last says nothing runs in the transaction after this statement. A
	// read-only transaction that needs no session reset (see
	// TxOptions.NoSessionState) then sends its ROLLBACK with the
	// statement's execution, in the same round trip.
	Last bool
}

// Query runs one user statement in the transaction, through the extended
// protocol only (one statement per call, parameters never spliced into the
// text), and streams its rows into a [Result] under the row and byte caps.
//
// When a cap is reached the rows read so far are returned with Truncated
// set. If the transaction is rolled back anyway (or the call is ReadOnly and
// nothing was written before it in the transaction) the statement is
// cancelled on the server and the connection is destroyed after the
// transaction; the cancel aborts the transaction, so further statements in
// it fail with SQLSTATE 25P02. Otherwise the remaining rows are read and
// dropped.
func (tx *Tx) Query(ctx context.Context, c Call) (*Result, error) {
	if tx.done {
		return nil, errors.New("pg: Tx.Query called after its Do returned")
	}
	if tx.startErr != nil {
		return nil, tx.startErr
	}
	if tx.ended {
		return nil, errors.New("pg: Tx.Query called after the transaction's last statement (Call.Last)")
	}
	cancelOnCap := tx.rollbackOnly || (c.ReadOnly && !tx.wrote)
	if !c.ReadOnly {
		tx.wrote = true
	}
	if c.Discard {
		tx.markDiscard("the statement may leave session state")
	}
	first := !tx.queried
	tx.queried = true
	var pre *parsed
	if !tx.started {
		// The transaction's first round trip parses the statement too.
		if err := tx.p.checkLexing(tx.conn.PgConn()); err != nil {
			tx.markDiscard("lexing settings changed")
			return nil, err
		}
		sd, stmtErr, err := tx.begin(ctx, true, c.SQL)
		if err != nil {
			return nil, err
		}
		pre = &parsed{sd: sd, err: stmtErr}
	}
	if c.Before != nil && (pre == nil || pre.err == nil) {
		conned := tx.conned
		tx.conned = false
		if err := c.Before(ctx); err != nil {
			return nil, err
		}
		if pre != nil && tx.conned {
			pre.reparse = true // the unnamed statement may hold trusted SQL now
		}
		tx.conned = tx.conned || conned
	}
	var end string
	if c.Last && tx.keepable && tx.discard == "" {
		end = "ROLLBACK"
	}
	res, reason, out, err := tx.p.query(ctx, tx.conn, c, tx.limits, cancelOnCap, pre, end)
	if out.ended {
		tx.ended = true
		tx.p.keptSessions.Add(1)
	}
	if out.endReason != "" {
		tx.markDiscard(out.endReason)
		if err == nil {
			err = out.endErr
		}
	}
	if reason == reasonStale && first && tx.lone {
		// The server had ended the session before the statement was
		// parsed: nothing of the call ran, so Run may run it again.
		tx.stale = true
	}
	if reason != "" {
		tx.markDiscard(reason)
	}
	if reason == reasonGivenUp {
		tx.mayRun = true
	}
	if reason == reasonCapCancelled && !tx.wrote {
		// The cancel aborted the transaction, and nothing in it wrote:
		// rolling back loses nothing, where a COMMIT would fail and turn the
		// truncated rows into an error.
		tx.rollbackOnly = true
	}
	return res, err
}

// reasonCapCancelled is why a connection is destroyed after a cap stopped
// its statement on the server.
const reasonCapCancelled = "a cap cancelled the statement"

// reasonGivenUp is why a connection is destroyed when its statement did
// not answer the cancel request in time: the connection was closed on our
// side and the backend may still be running the statement.
const reasonGivenUp = "the statement did not stop when cancelled"

// reasonStale is why a connection is destroyed when the server had closed
// it before the statement was even parsed (a terminated backend, a
// restart).
const reasonStale = "the server had closed the connection"

// Run runs one user statement in its own transaction ([Pool.Do] plus
// [Tx.Query]): the path of execute_sql.
func (p *Pool) Run(ctx context.Context, opts TxOptions, c Call) (*Result, error) {
	var res *Result
	c.Last = true
	err := p.Do(ctx, opts, func(ctx context.Context, tx *Tx) error {
		tx.lone = true
		r, err := tx.Query(ctx, c)
		res = r
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// RunBare runs one statement outside a transaction block, for the
// statements PostgreSQL refuses inside one (VACUUM, CREATE DATABASE,
// CREATE INDEX CONCURRENTLY…), in admin_rw only. The server's timeouts are
// the session's (the pool's limits, set at connect); of opts only Start,
// Hold and Limits.StatementTimeout (for the call's deadline) are used. The
// connection is always destroyed afterwards: nothing the statement did to
// the session can reach the next call.
func (p *Pool) RunBare(ctx context.Context, opts TxOptions, c Call) (*Result, error) {
	lim := p.limits
	if opts.Limits.StatementTimeout > lim.StatementTimeout {
		lim.StatementTimeout = opts.Limits.StatementTimeout
	}
	ctx, cancel, start := p.callContext(ctx, opts.Start, lim)
	defer cancel()
	pc, err := p.acquire(ctx, start.Add(p.acquireTimeout))
	if err != nil {
		return nil, err
	}
	res, reason, _, err := p.query(ctx, pc.Conn(), c, p.limits, c.ReadOnly, nil, "")
	p.release(ctx, pc, "bare statement", reason == reasonGivenUp, opts.Hold)
	if err == nil && ctx.Err() != nil {
		err = fmt.Errorf("database %q: %w", p.name, context.Cause(ctx))
	}
	return res, p.explainDeadline(ctx, "while running the statement", err)
}

// parsed is a statement parsed and described by the transaction's first
// round trip (Tx.begin).
type parsed struct {
	sd  *pgconn.StatementDescription
	err error // the parse failed (a *pgconn.PgError)
	// reparse: the unnamed statement was used since (Call.Before), so the
	// execution sends the text again.
	reparse bool
}

// ending is what became of a transaction end sent with the statement.
type ending struct {
	ended     bool   // the transaction ended cleanly
	endReason string // why the connection must be destroyed, from the end
	endErr    error  // an error to report for the end, when the statement had none
}

// query runs c on conn and reads its result under the caps, reporting it
// to the pool's tracer as one round trip. pre, when set, is the statement
// as the transaction's start already parsed it; end, when set ("ROLLBACK"),
// is sent right after the statement's execution, in the same round trip.
// It returns a reason to destroy the connection when one arose.
func (p *Pool) query(ctx context.Context, conn *pgx.Conn, c Call, lim Limits, cancelOnCap bool, pre *parsed, end string) (*Result, string, ending, error) {
	if p.tracer == nil {
		return p.runQuery(ctx, conn, c, lim, cancelOnCap, pre, end, nil)
	}
	tr := &stmtTrace{p: p, conn: conn, call: ctx}
	tr.ctx = p.tracer.TraceQueryStart(ctx, conn, pgx.TraceQueryStartData{SQL: c.SQL, Args: c.Args})
	res, reason, out, err := p.runQuery(tr.ctx, conn, c, lim, cancelOnCap, pre, end, tr)
	var tag pgconn.CommandTag
	if res != nil {
		tag = pgconn.NewCommandTag(res.Command)
	}
	tr.end(tag, err)
	return res, reason, out, err
}

// stmtTrace is a statement's report to the pool's tracer. When the
// transaction's end goes with the statement, the statement's report ends
// once its rows are read, and the end is reported apart, as the next round
// trip of the call.
type stmtTrace struct {
	p         *Pool
	conn      *pgx.Conn
	call, ctx context.Context // the call's context; the statement's, traced
	done      bool
}

func (tr *stmtTrace) end(tag pgconn.CommandTag, err error) {
	if tr == nil || tr.done {
		return
	}
	tr.done = true
	tr.p.tracer.TraceQueryEnd(tr.ctx, tr.conn, pgx.TraceQueryEndData{CommandTag: tag, Err: err})
}

// readEnd reads the transaction's end sent with the statement, reported to
// the tracer on its own.
func (tr *stmtTrace) readEnd(pl *pgconn.Pipeline, pgc *pgconn.PgConn, endSQL string) ending {
	ctx := tr.p.tracer.TraceQueryStart(tr.call, tr.conn, pgx.TraceQueryStartData{SQL: endSQL})
	out := tr.p.readEnd(pl, pgc)
	tr.p.tracer.TraceQueryEnd(ctx, tr.conn, pgx.TraceQueryEndData{CommandTag: pgconn.NewCommandTag(endSQL), Err: out.endErr})
	return out
}

// checkLexing refuses a connection that would lex SQL differently from
// the validator.
func (p *Pool) checkLexing(pgc *pgconn.PgConn) error {
	bad := lexingMismatch(pgc)
	if bad == "" {
		return nil
	}
	// The validator read the text with the pinned settings; this server
	// would read it differently.
	return fmt.Errorf("database %q: %w: the connection reports %s, and pgherd validates SQL as PostgreSQL reads it with %s; the statement was not run, retry",
		p.name, ErrSettingsChanged, bad, PinnedSettings[strings.SplitN(bad, "=", 2)[0]])
}

func (p *Pool) runQuery(ctx context.Context, conn *pgx.Conn, c Call, lim Limits, cancelOnCap bool, pre *parsed, end string, tr *stmtTrace) (res *Result, reason string, out ending, err error) {
	pgc := conn.PgConn()
	start := time.Now()
	maxRows, maxBytes := c.MaxRows, c.MaxBytes
	if maxRows <= 0 {
		maxRows = lim.MaxRows
	}
	if maxBytes <= 0 {
		maxBytes = lim.MaxResultBytes
	}
	if lim.StatementTimeout > 0 {
		// Backstop for what statement_timeout does not cover (a statement
		// waiting on the client, as COPY FROM STDIN would, or one that
		// never checks for interrupts): the call ends on our side too, two
		// seconds after the server should have ended it, and before the
		// call's deadline leaves no time to end the transaction.
		backstop := start.Add(lim.StatementTimeout + backstopSlack)
		if d, ok := ctx.Deadline(); ok && d.Add(-finishReserve).Before(backstop) {
			backstop = d.Add(-finishReserve)
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadlineCause(ctx, backstop,
			fmt.Errorf("no answer from the database within statement_timeout (%s) + %s: the server or the network to it may be down, or the statement ignores cancellation", lim.StatementTimeout, backstopSlack))
		defer cancel()
	}

	// Parse and describe through the unnamed statement: a string holding
	// two statements fails here (SQLSTATE 42601), and nothing is kept on
	// the server.
	var sd *pgconn.StatementDescription
	if pre != nil {
		sd, err = pre.sd, pre.err
	} else {
		if err := p.checkLexing(pgc); err != nil {
			return nil, "lexing settings changed", out, err
		}
		sd, err = pgc.Prepare(ctx, "", c.SQL, nil)
	}
	if err != nil {
		reason := brokenReason(ctx, pgc, err)
		if pgc.IsClosed() && ctx.Err() == nil {
			reason = reasonStale
		}
		return nil, reason, out, p.stmtError(ctx, "preparing the statement", err)
	}
	if len(sd.ParamOIDs) != len(c.Args) {
		return nil, "", out, paramCountError(len(sd.ParamOIDs), len(c.Args))
	}

	cols, infos, formats, looked, err := p.describeColumns(ctx, conn, sd.Fields)
	if err != nil {
		return nil, brokenReason(ctx, pgc, nil), out, err
	}
	args, lookedArgs, err := p.convertArgs(ctx, conn, sd.ParamOIDs, c.Args)
	if err != nil {
		return nil, brokenReason(ctx, pgc, nil), out, err
	}
	var eqb pgx.ExtendedQueryBuilder
	if err := eqb.Build(conn.TypeMap(), sd, args); err != nil {
		return nil, "", out, fmt.Errorf("%w: %v", ErrParams, err)
	}

	// A type lookup or trusted SQL (Call.Before) used the unnamed
	// statement since the describe: send the text again (parse, bind and
	// execute in one round trip).
	reparse := looked || lookedArgs || (pre != nil && pre.reparse)
	var rr *pgconn.ResultReader
	var pl *pgconn.Pipeline
	if end != "" {
		// The statement's execution and the transaction's end, in one
		// round trip: the statement's rows stream in first.
		pl = pgc.StartPipeline(ctx)
		defer func() {
			if pl != nil {
				_ = pl.Close()
			}
		}()
		if reparse {
			pl.SendQueryParams(c.SQL, eqb.ParamValues, sd.ParamOIDs, eqb.ParamFormats, formats)
		} else {
			pl.SendQueryStatement(sd, eqb.ParamValues, eqb.ParamFormats, formats)
		}
		pl.SendPipelineSync()
		pl.SendQueryParams(end, nil, nil, nil, nil)
		pl.SendPipelineSync()
		if err := pl.Flush(); err != nil {
			return nil, brokenReason(ctx, pgc, err), out, p.stmtError(ctx, "running the statement", err)
		}
		r, err := pl.GetResults()
		if err != nil {
			out = p.readEnd(pl, pgc)
			pl = nil
			return nil, brokenReason(ctx, pgc, err), out, p.stmtError(ctx, "running the statement", err)
		}
		var ok bool
		if rr, ok = r.(*pgconn.ResultReader); !ok {
			return nil, "protocol error", out, fmt.Errorf("database %q: unexpected %T in the pipeline", p.name, r)
		}
	} else if reparse {
		rr = pgc.ExecParams(ctx, c.SQL, eqb.ParamValues, sd.ParamOIDs, eqb.ParamFormats, formats)
	} else {
		rr = pgc.ExecStatement(ctx, sd, eqb.ParamValues, eqb.ParamFormats, formats)
	}
	if err := sameTypes(rr.FieldDescriptions(), sd.Fields); err != nil {
		_, _ = rr.Close()
		if pl != nil {
			out = p.readEnd(pl, pgc)
			pl = nil
		}
		return nil, brokenReason(ctx, pgc, nil), out, fmt.Errorf("database %q: %w", p.name, err)
	}
	res = &Result{Columns: cols, Rows: make([][]any, 0, min(maxRows, 64))}
	// What the response may spend on rows: the cap less the column list
	// and the envelope (see size.go), counted as encoded, both copies.
	budget := maxBytes - responseOverhead - columnsWeight(cols)
	cellMax := c.MaxCellBytes
	if cellMax <= 0 {
		cellMax = cellBudget(maxBytes, len(cols))
	}
	var (
		size      int64
		decodeErr error
		slab      []any
		enc       = newRowEncoder()
		totals    []int // per column: the raw size of a value cut before decoding, else 0
	)
	for rr.NextRow() {
		vals := rr.Values()
		if len(res.Rows) >= maxRows {
			res.Truncated, res.TruncatedBy = true, TruncatedByRows
			break
		}
		if len(slab) < len(vals) {
			// Rows are carved from one allocation per 64 rows.
			slab = make([]any, len(vals)*min(maxRows, 64))
		}
		row := slab[:len(vals):len(vals)]
		slab = slab[len(vals):]
		if totals == nil {
			totals = make([]int, len(vals))
		}
		cut := false
		for i, v := range vals {
			// A value far over the cell budget is shortened on the wire
			// before decoding: a 50 MB value is never copied.
			v, totals[i] = preCut(&infos[i], formats[i], v, cellMax)
			if totals[i] < 0 {
				row[i], totals[i] = cutMarker(0, -totals[i]), 0
				cut = true
				res.CutValues++
				continue
			}
			var dv any
			var n int
			var err error
			if totals[i] > 0 && formats[i] == 0 {
				dv, n = string(v), len(v) // a cut text value is text, whatever its type
			} else {
				dv, n, err = decodeValue(&infos[i], formats[i], v)
			}
			if err != nil {
				decodeErr = fmt.Errorf("database %q: decoding column %q (%s): %w", p.name, cols[i].Name, cols[i].Type, err)
				break
			}
			// Escaping can make a value cost up to 13 times its size:
			// measure the ones that might be over their budget.
			if totals[i] > 0 || int64(n)*13 > cellMax {
				if cv, ok := cutValue(dv, cellMax, totals[i], enc); ok {
					dv = cv
					cut = true
					res.CutValues++
				}
			}
			row[i] = dv
		}
		if decodeErr != nil {
			break
		}
		line, err := enc.line(row)
		if err != nil {
			decodeErr = fmt.Errorf("database %q: encoding a row: %w", p.name, err)
			break
		}
		w := lineWeight(line)
		if size+w > budget {
			if cut {
				res.CutValues-- // not returned after all
			}
			res.Truncated, res.TruncatedBy = true, TruncatedByBytes
			break
		}
		size += w
		res.Rows = append(res.Rows, row)
		res.lines = append(res.lines, line)
		if c.Received != nil {
			c.Received.Add(1)
		}
	}
	res.RowCount = len(res.Rows)

	if (res.Truncated || decodeErr != nil) && cancelOnCap {
		// Stop the statement on the server; then read what is already in
		// flight, so when this returns the backend no longer runs it.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cancelWait)
		_ = pgc.CancelRequest(cctx)
		cancel()
		// The cancel may arrive late and hit the next statement.
		reason = reasonCapCancelled
	}
	tag, err := rr.Close()
	res.ElapsedMS = float64(time.Since(start).Microseconds()) / 1000
	if pl != nil {
		if tr != nil {
			tr.end(tag, err)
			out = tr.readEnd(pl, pgc, end)
		} else {
			out = p.readEnd(pl, pgc)
		}
		pl = nil
	}
	if r := brokenReason(ctx, pgc, err); r != "" && (reason == "" || r == reasonGivenUp) {
		reason = r
	}
	if decodeErr != nil {
		return nil, "a value could not be decoded", out, decodeErr
	}
	if err != nil {
		if reason == reasonCapCancelled && isQueryCanceled(err) {
			return res, reason, out, nil
		}
		return nil, reason, out, p.stmtError(ctx, "running the statement", err)
	}
	if !res.Truncated || !cancelOnCap {
		res.Command = tag.String()
		if n, ok := rowsAffected(res.Command); ok {
			res.RowsAffected = &n
		}
	}
	if p.logger.Enabled(ctx, slog.LevelDebug) {
		// Never the SQL text: it may hold a password (CREATE ROLE …).
		p.logger.LogAttrs(ctx, slog.LevelDebug, "statement",
			slog.Int("rows", res.RowCount), slog.Bool("truncated", res.Truncated),
			slog.Float64("elapsed_ms", res.ElapsedMS), slog.String("command", res.Command))
	}
	return res, reason, out, nil
}

// readEnd reads what is left of a pipeline that ends the transaction after
// the statement (the statement's sync, the end, its sync) and closes it.
func (p *Pool) readEnd(pl *pgconn.Pipeline, pgc *pgconn.PgConn) (out ending) {
	var endErr error
	syncs := 0
	for syncs < 2 {
		res, err := pl.GetResults()
		if err != nil {
			if _, ok := AsError(err); !ok {
				endErr = err
				break
			}
			if syncs == 1 {
				endErr = err // the end failed
			}
			continue // the statement's error, reported by its reader
		}
		switch r := res.(type) {
		case *pgconn.PipelineSync:
			syncs++
			if syncs == 1 && pgc.TxStatus() == 'I' {
				// The statement itself ended the transaction.
				out.endReason = "transaction ended inside the transaction function"
				out.endErr = fmt.Errorf("database %q: the statement ended the transaction; transaction control (COMMIT, ROLLBACK) cannot run inside a call", p.name)
			}
		case *pgconn.ResultReader:
			if _, err := r.Close(); err != nil && syncs == 1 {
				endErr = err
			}
		case nil:
			syncs = 2
			endErr = errors.New("the pipeline ended early")
		}
	}
	if err := pl.Close(); err != nil && endErr == nil {
		endErr = err
	}
	if endErr != nil {
		if out.endReason == "" {
			out.endReason = "ending the transaction failed"
		}
		return out
	}
	out.ended = out.endReason == ""
	return out
}

// brokenReason says why the connection must not be reused after err, or ""
// when err is a plain SQL error (or nil) on a healthy connection.
func brokenReason(ctx context.Context, pgc *pgconn.PgConn, err error) string {
	switch {
	case pgc.IsClosed() && ctx.Err() != nil:
		return reasonGivenUp
	case pgc.IsClosed():
		return "connection closed"
	case ctx.Err() != nil:
		return "context cancelled"
	case err == nil:
		return ""
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return ""
	}
	return "protocol error"
}

// stmtError describes err from a statement's round trip; when the
// statement's context ended first, it says why (the backstop past
// statement_timeout, the call's deadline, the caller leaving).
func (p *Pool) stmtError(ctx context.Context, what string, err error) error {
	if _, ok := AsError(err); ok || ctx.Err() == nil {
		return p.dbError(what, err)
	}
	return fmt.Errorf("database %q: %s: %w", p.name, what, context.Cause(ctx))
}

func isQueryCanceled(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "57014"
}

// rowsAffected reads the count from a command tag other than SELECT's.
func rowsAffected(tag string) (int64, bool) {
	i := strings.LastIndexByte(tag, ' ')
	if i < 0 || strings.HasPrefix(tag, "SELECT ") {
		return 0, false
	}
	n, err := strconv.ParseInt(tag[i+1:], 10, 64)
	return n, err == nil
}

func paramCountError(want, got int) error {
	var b strings.Builder
	switch want {
	case 0:
		b.WriteString("the statement has no parameters")
	case 1:
		b.WriteString("the statement has 1 parameter ($1)")
	default:
		fmt.Fprintf(&b, "the statement has %d parameters ($1 to $%d)", want, want)
	}
	fmt.Fprintf(&b, " but %d value", got)
	if got != 1 {
		b.WriteByte('s')
	}
	b.WriteString(" were given in params")
	if got == 1 {
		return fmt.Errorf("%w: %s", ErrParams, strings.Replace(b.String(), "were given", "was given", 1))
	}
	return fmt.Errorf("%w: %s", ErrParams, b.String())
}

// sameTypes checks that the executed statement returns the columns its
// describe announced (a concurrent ALTER could change them when no lock
// holds them between the two round trips).
func sameTypes(got, want []pgconn.FieldDescription) error {
	if got == nil {
		return nil // the statement failed; its error comes from Close
	}
	if len(got) != len(want) {
		return fmt.Errorf("the statement's result changed between describe and execute (%d columns, then %d); run it again", len(want), len(got))
	}
	for i := range got {
		if got[i].DataTypeOID != want[i].DataTypeOID {
			return fmt.Errorf("column %q changed type between describe and execute; run the statement again", got[i].Name)
		}
	}
	return nil
}

// describeColumns names the result columns and picks each one's format,
// looking up types the pool does not know yet (looked reports a lookup ran
// on conn).
func (p *Pool) describeColumns(ctx context.Context, conn *pgx.Conn, fields []pgconn.FieldDescription) (cols []Column, infos []typeInfo, formats []int16, looked bool, err error) {
	cols = make([]Column, len(fields))
	infos = make([]typeInfo, len(fields))
	formats = make([]int16, len(fields))
	var missing []uint32
	for i, f := range fields {
		t, ok := p.types.get(f.DataTypeOID)
		if !ok {
			missing = append(missing, f.DataTypeOID)
			continue
		}
		infos[i] = t
	}
	if len(missing) > 0 {
		looked = true
		if err := p.types.lookup(ctx, conn, missing); err != nil {
			return nil, nil, nil, looked, p.dbError("describing the result", err)
		}
		for i, f := range fields {
			if infos[i].name == "" {
				infos[i], _ = p.types.get(f.DataTypeOID)
			}
		}
	}
	for i, f := range fields {
		if infos[i].name == "" { // evicted between lookup and now
			infos[i] = typeInfo{name: fmt.Sprintf("oid %d", f.DataTypeOID), kind: kText}
		}
		cols[i] = Column{Name: f.Name, Type: infos[i].name}
		formats[i] = infos[i].format()
	}
	return cols, infos, formats, looked, nil
}

// preCut shortens a wire value that alone is over the cell budget (every
// byte costs at least 2 in the response), so that it is never decoded
// whole. It returns the value to decode and the full size when it cut
// (0 when it did not); a negative size means the value cannot be cut on
// the wire (a binary array) and is replaced by a marker altogether.
func preCut(t *typeInfo, format int16, v []byte, cellMax int64) ([]byte, int) {
	if v == nil || int64(len(v))*2 <= cellMax {
		return v, 0
	}
	keep := int(cellMax / 2)
	switch {
	case format == 0:
		// Text: a prefix on a rune boundary, decoded as text (json and
		// arrays become strings once cut).
		for keep > 0 && !utf8.RuneStart(v[keep]) {
			keep--
		}
		return v[:keep], len(v)
	case t.kind == kBytea:
		return v[:keep*3/4], len(v) // base64 takes 4/3
	case t.kind == kArray:
		return nil, -len(v)
	}
	return v, 0 // fixed-size binary values are small
}
