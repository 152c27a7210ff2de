package dbtools

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/config"
	"github.com/pgherd/pgherd/internal/destructive"
	"github.com/pgherd/pgherd/internal/pg"
	"github.com/pgherd/pgherd/internal/sqlguard"
	"github.com/pgherd/pgherd/internal/tools"
)

// Confirmation of destructive statements (endpoints.NAME.confirm_destructive).
//
// A statement the destructive package flags is first run as a dry run in a
// transaction that is rolled back, to learn what it would do: the objects
// it drops, the rows it deletes or rewrites. The tool then returns an
// input request (MCP elicitation) with that preview instead of a result;
// go-sdk asks the client's user — directly on a session-based connection
// (stateful Streamable HTTP, legacy SSE, stdio), or by returning the input
// request for the client to answer and retry (protocol 2026-07-28) — and
// calls the tool again with the answer and the request state. Accepted, the
// statement runs; declined, nothing happens.
//
// The request state binds the answer to this statement, its parameters,
// the endpoint and the caller, and expires: an answer for another
// statement is not a confirmation. It is an HMAC with a key every replica
// derives from the endpoint's configuration, so a retry may reach any of
// them. It does not protect from the client itself, which answers the
// elicitation anyway: the confirmation guards the user against the model,
// which sees neither the request state nor the answer.

// confirmKey names the input request.
const confirmKey = "confirm"

// confirmTTL bounds how long a preview stays valid.
const confirmTTL = 10 * time.Minute

// rowCountCap bounds the rows counted per table for a preview.
const rowCountCap = 100_000

// confirmSchema is the form the user answers.
var confirmSchema = json.RawMessage(`{"type":"object","properties":{"confirm":{"type":"boolean","title":"Run this statement","description":"true runs it; false (or declining) changes nothing"}},"required":["confirm"]}`)

// errDeclined is the tool error of a statement the user did not confirm.
var errDeclined = errors.New("not run: the user declined to confirm this statement, so nothing was changed; do not retry it unless the user asks for it")

// preview is what the dry run learned.
type preview struct {
	finding *destructive.Finding
	dryRun  bool
	why     string // why there was no dry run
	rows    *int64 // rows the statement's command tag reports (DELETE, UPDATE)
	dropped []relRows
	emptied []relRows // truncated, rewritten or losing a column
}

// relRows is a relation and how many rows it holds.
type relRows struct {
	name   string
	kind   string
	rows   int64 // -1: not counted
	capped bool
}

func (r relRows) String() string {
	s := r.kind + " " + r.name
	switch {
	case r.rows < 0:
	case r.capped:
		s += fmt.Sprintf(" (more than %d rows)", r.rows)
	case r.rows == 1:
		s += " (1 row)"
	default:
		s += fmt.Sprintf(" (%d rows)", r.rows)
	}
	return s
}

// confirmation says how a destructive statement proceeds.
type confirmation struct {
	ask  *mcp.CallToolResult // return this (an input request) instead of running
	note string              // add this line to the result when it runs
}

// confirm decides whether the destructive statement of call may run now.
// It returns an input request to send, a note for the result, or an error
// (declined, refused, or the dry run failed).
func (d *dbtools) confirm(ctx context.Context, req *mcp.CallToolRequest, in ExecuteArgs, v *sqlguard.Verdict, call pg.Call, f *destructive.Finding) (confirmation, error) {
	log := tools.Log(ctx)
	if resp, ok := req.Params.InputResponses[confirmKey]; ok && d.validState(req, in, req.Params.RequestState) {
		er, _ := resp.(*mcp.ElicitResult)
		if er != nil && er.Action == "accept" && er.Content["confirm"] == true {
			log.LogAttrs(ctx, slog.LevelInfo, "destructive statement confirmed", slog.String("kind", f.Kind))
			return confirmation{note: fmt.Sprintf("(%s confirmed by the user after a dry run)", f.Kind)}, nil
		}
		log.LogAttrs(ctx, slog.LevelWarn, "destructive statement declined", slog.String("kind", f.Kind))
		return confirmation{}, errDeclined
	}
	if !canElicit(req) {
		if d.opts.Confirm == config.ConfirmRefuse {
			log.LogAttrs(ctx, slog.LevelWarn, "destructive statement refused", slog.String("kind", f.Kind), slog.String("reason", "client cannot confirm"))
			return confirmation{}, fmt.Errorf("refused: %s (%s) needs the user's confirmation, and this client cannot ask for it (MCP elicitation); endpoint %s has confirm_destructive: refuse. Use a client that supports elicitation, or ask the operator",
				f.Kind, strings.Join(f.Changes, "; "), d.opts.Endpoint)
		}
		log.LogAttrs(ctx, slog.LevelWarn, "destructive statement runs unconfirmed", slog.String("kind", f.Kind), slog.String("reason", "client cannot confirm"))
		return confirmation{note: fmt.Sprintf("(%s ran without confirmation: this client does not support MCP elicitation; endpoint %s has confirm_destructive: elicit)", f.Kind, d.opts.Endpoint)}, nil
	}
	p, err := d.dryRun(ctx, req, v, call, f)
	if err != nil {
		return confirmation{}, err
	}
	log.LogAttrs(ctx, slog.LevelInfo, "destructive statement awaits confirmation", slog.String("kind", f.Kind))
	return confirmation{ask: &mcp.CallToolResult{
		InputRequests: mcp.InputRequestMap{confirmKey: &mcp.ElicitParams{
			Mode:            "form",
			Message:         d.previewText(p, in.SQL),
			RequestedSchema: confirmSchema,
		}},
		RequestState: d.state(req, in, time.Now().Add(confirmTTL)),
	}}, nil
}

// canElicit reports whether the client can answer a form elicitation.
func canElicit(req *mcp.CallToolRequest) bool {
	caps := req.ClientCapabilities()
	if caps == nil || caps.Elicitation == nil {
		return false
	}
	// Neither mode named means form, for older clients.
	return caps.Elicitation.Form != nil || caps.Elicitation.URL == nil
}

// dryRun runs the statement in a transaction that is rolled back and
// reports what it changed. A statement PostgreSQL refuses in a transaction
// (DROP DATABASE, DROP INDEX CONCURRENTLY) is not run.
func (d *dbtools) dryRun(ctx context.Context, req mcp.Request, v *sqlguard.Verdict, call pg.Call, f *destructive.Finding) (*preview, error) {
	p := &preview{finding: f}
	if v.NoTransaction {
		p.why = "PostgreSQL runs it outside a transaction, so it cannot be tried and rolled back"
		return p, nil
	}
	h, err := d.resolve(ctx, req)
	if err != nil {
		return nil, err
	}
	defer h.Done()
	opts := h.Tx
	opts.Rollback = true
	call.MaxRows, call.Received = 1, nil // the preview needs no rows
	err = h.Pool.Do(ctx, opts, func(ctx context.Context, tx *pg.Tx) error {
		q := tx.Conn()
		var before map[uint32]relation
		if f.DDL {
			var err error
			if before, err = relations(ctx, q); err != nil {
				return err
			}
		}
		sp, err := q.Begin(ctx) // a savepoint: its locks go when it is rolled back
		if err != nil {
			return err
		}
		res, err := tx.Query(ctx, call)
		if err != nil {
			return err
		}
		p.dryRun = true
		p.rows = res.RowsAffected
		var lost []relation
		if f.DDL {
			after, err := relations(ctx, q)
			if err != nil {
				return err
			}
			for oid, r := range before {
				a, ok := after[oid]
				switch {
				case !ok:
					lost = append(lost, r)
					p.dropped = append(p.dropped, relRows{name: r.name(), kind: r.kindName(), rows: -1})
				case a.filenode != r.filenode && r.filenode != 0:
					lost = append(lost, r)
					p.emptied = append(p.emptied, relRows{name: r.name(), kind: r.kindName(), rows: -1})
				}
			}
		}
		if err := sp.Rollback(ctx); err != nil {
			return err
		}
		// Count the rows the statement would lose, now that the savepoint
		// gave the relations back.
		for _, group := range []*[]relRows{&p.dropped, &p.emptied} {
			for i := range *group {
				r := &(*group)[i]
				idx := slices.IndexFunc(lost, func(l relation) bool { return l.name() == r.name })
				if idx < 0 || !lost[idx].hasRows() {
					continue
				}
				if r.rows, r.capped, err = countRows(ctx, q, lost[idx]); err != nil {
					return err
				}
			}
		}
		if f.DDL && len(p.dropped)+len(p.emptied) == 0 {
			// DROP COLUMN changes no relation file: count the tables named.
			for _, t := range f.Tables {
				rel := relation{schema: t.Schema, relname: t.Name, kind: "r"}
				n, capped, err := countRows(ctx, q, rel)
				if err != nil {
					return err
				}
				p.emptied = append(p.emptied, relRows{name: t.String(), kind: "table", rows: n, capped: capped})
			}
		}
		return nil
	})
	if err != nil {
		return nil, describeErr(err)
	}
	slices.SortFunc(p.dropped, func(a, b relRows) int { return strings.Compare(a.name, b.name) })
	slices.SortFunc(p.emptied, func(a, b relRows) int { return strings.Compare(a.name, b.name) })
	return p, nil
}

// relation is one row of the dry run's catalog snapshot.
type relation struct {
	filenode        uint32
	kind            string
	schema, relname string
}

func (r relation) name() string { return r.schema + "." + r.relname }

// hasRows: tables and materialized views (not views, sequences or foreign
// tables, whose count would reach another server).
func (r relation) hasRows() bool { return r.kind == "r" || r.kind == "p" || r.kind == "m" }

func (r relation) kindName() string {
	switch r.kind {
	case "r", "p":
		return "table"
	case "v":
		return "view"
	case "m":
		return "materialized view"
	case "f":
		return "foreign table"
	case "S":
		return "sequence"
	}
	return "relation"
}

// relations snapshots the user relations: what a statement drops vanishes,
// what it truncates or rewrites gets a new file.
func relations(ctx context.Context, q pgx.Tx) (map[uint32]relation, error) {
	rows, err := q.Query(ctx, `SELECT c.oid, c.relfilenode, c.relkind::text, n.nspname::text, c.relname::text
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
  AND NOT pg_catalog.pg_is_other_temp_schema(n.oid)`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[uint32]relation)
	for rows.Next() {
		var oid uint32
		var r relation
		if err := rows.Scan(&oid, &r.filenode, &r.kind, &r.schema, &r.relname); err != nil {
			return nil, err
		}
		out[oid] = r
	}
	return out, rows.Err()
}

// countRows counts r's rows up to rowCountCap.
func countRows(ctx context.Context, q pgx.Tx, r relation) (int64, bool, error) {
	ident := pgx.Identifier{r.relname}
	if r.schema != "" {
		ident = pgx.Identifier{r.schema, r.relname}
	}
	var n int64
	err := q.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM (SELECT FROM %s LIMIT %d) s", ident.Sanitize(), rowCountCap+1)).Scan(&n)
	if n > rowCountCap {
		return rowCountCap, true, err
	}
	return n, false, err
}

// previewText is the message the user reads before answering.
func (d *dbtools) previewText(p *preview, sql string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Confirm a destructive statement on database %s (%s): %s\n\n", d.opts.Endpoint, d.opts.Mode, p.finding.Kind)
	stmt := strings.TrimSpace(sql)
	if len(stmt) > 600 {
		stmt = stmt[:600] + " …"
	}
	fmt.Fprintf(&b, "%s\n\n", stmt)
	for _, c := range p.finding.Changes {
		fmt.Fprintf(&b, "- %s\n", c)
	}
	switch {
	case !p.dryRun:
		fmt.Fprintf(&b, "\nNot tried first: %s.\n", p.why)
	default:
		b.WriteString("\nDry run (rolled back):")
		if p.finding.RowsFromCommand && p.rows != nil {
			fmt.Fprintf(&b, " %d row(s) would change.", *p.rows)
		}
		if len(p.dropped) > 0 {
			fmt.Fprintf(&b, " %d object(s) would be dropped: %s.", len(p.dropped), joinRels(p.dropped))
		}
		if len(p.emptied) > 0 {
			fmt.Fprintf(&b, " Data lost or rewritten in: %s.", joinRels(p.emptied))
		}
		b.WriteByte('\n')
	}
	b.WriteString("Nothing has changed yet. Run it?")
	return b.String()
}

func joinRels(rs []relRows) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.String()
	}
	return strings.Join(parts, ", ")
}

// state returns the request state binding a confirmation to this call.
func (d *dbtools) state(req *mcp.CallToolRequest, in ExecuteArgs, expires time.Time) string {
	exp := make([]byte, 8)
	binary.BigEndian.PutUint64(exp, uint64(expires.Unix()))
	return base64.RawURLEncoding.EncodeToString(append(exp, d.mac(req, in, exp)...))
}

// validState reports whether state was made by state for this call and has
// not expired.
func (d *dbtools) validState(req *mcp.CallToolRequest, in ExecuteArgs, state string) bool {
	raw, err := base64.RawURLEncoding.DecodeString(state)
	if err != nil || len(raw) != 8+sha256.Size {
		return false
	}
	exp, mac := raw[:8], raw[8:]
	if time.Now().After(time.Unix(int64(binary.BigEndian.Uint64(exp)), 0)) {
		return false
	}
	return hmac.Equal(mac, d.mac(req, in, exp))
}

func (d *dbtools) mac(req *mcp.CallToolRequest, in ExecuteArgs, exp []byte) []byte {
	params, _ := json.Marshal(in.Params)
	m := hmac.New(sha256.New, d.opts.ConfirmKey)
	for _, part := range [][]byte{[]byte(d.opts.Endpoint), []byte(req.Params.Name), []byte(tools.Caller(req).ID()), []byte(in.SQL), params, exp} {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(part)))
		m.Write(n[:])
		m.Write(part)
	}
	return m.Sum(nil)
}
