package observe

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// RoundTrip is one database round trip made during a tool call, as
// [RoundTripObserver]s see it: a query, a batch (BEGIN and the call's
// settings), a pipeline (transaction end and session reset).
type RoundTrip struct {
	Call       *Call  // the tool call it belongs to
	SQL        string // statement text; for a batch, its first statement
	Statements int    // statements sent in the round trip
	Pool       string // the pool's name (endpoint, or endpoint/tenant)
	Database   string // database name
	Host       string // server host as configured (name, IP or socket directory)
	Port       uint16
	Start      time.Time

	// Set when it ends.
	Duration   time.Duration
	Err        error
	SQLState   string // PostgreSQL's SQLSTATE when Err comes from the server
	CommandTag string
	Rows       int64 // rows affected or returned, from the command tag
}

// DBTracer is the hub's pgx tracer: give it to pg (PoolOptions.Tracer),
// which sets it as every connection's tracer and also reports the round
// trips it makes on the wire protocol directly. During a tool call (a
// [Call] in the context) it counts round trips and their time into the
// record, adds the time spent waiting for a pooled connection to the call's
// queue wait, and hands each round trip to the hub's [RoundTripObserver]s.
// Outside tool calls it does nothing. It is safe for concurrent use.
type DBTracer struct {
	hub      *Hub
	pool     string
	database string
	host     string
	port     uint16
}

// DBTracer returns the hub's database tracer.
func (h *Hub) DBTracer() *DBTracer { return &DBTracer{hub: h} }

// ForDatabase returns a tracer for one pool, which names pool, database,
// host and port in its round trips (pg calls it when it opens a pool).
func (t *DBTracer) ForDatabase(pool, database, host string, port uint16) pgx.QueryTracer {
	c := *t
	c.pool, c.database, c.host, c.port = pool, database, host, port
	return &c
}

var (
	_ pgx.QueryTracer       = (*DBTracer)(nil)
	_ pgx.BatchTracer       = (*DBTracer)(nil)
	_ pgxpool.AcquireTracer = (*DBTracer)(nil)
)

type tripKey struct{}

// trip is a round trip in flight.
type trip struct {
	call     *Call
	start    time.Time
	observed bool      // RoundTripObservers were told: rt is theirs
	rt       RoundTrip // one allocation with the trip
}

func (t *DBTracer) start(ctx context.Context, sql string, statements int) context.Context {
	c := CallFrom(ctx)
	if c == nil {
		return ctx
	}
	tr := &trip{call: c, start: time.Now()}
	if h := t.hub; h != nil && len(h.trips) > 0 {
		tr.observed = true
		tr.rt = RoundTrip{Call: c, SQL: sql, Statements: statements, Pool: t.pool, Database: t.database,
			Host: t.host, Port: t.port, Start: tr.start}
		for _, o := range h.trips {
			ctx = o.StartRoundTrip(ctx, &tr.rt)
		}
	}
	return context.WithValue(ctx, tripKey{}, tr)
}

func (t *DBTracer) end(ctx context.Context, tag pgconn.CommandTag, err error) {
	tr, _ := ctx.Value(tripKey{}).(*trip)
	if tr == nil {
		return
	}
	d := time.Since(tr.start)
	tr.call.addRoundTrip(d)
	if !tr.observed {
		return
	}
	rt := &tr.rt
	rt.Duration, rt.Err = d, err
	rt.CommandTag, rt.Rows = tag.String(), tag.RowsAffected()
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		rt.SQLState = pe.Code
	}
	for _, o := range t.hub.trips {
		o.EndRoundTrip(ctx, rt)
	}
}

// TraceQueryStart implements [pgx.QueryTracer].
func (t *DBTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	return t.start(ctx, data.SQL, 1)
}

// TraceQueryEnd implements [pgx.QueryTracer].
func (t *DBTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	t.end(ctx, data.CommandTag, data.Err)
}

// TraceBatchStart implements [pgx.BatchTracer]: a batch is one round trip.
func (t *DBTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchStartData) context.Context {
	sql, n := "", 0
	if b := data.Batch; b != nil {
		n = b.Len()
		if n > 0 {
			sql = b.QueuedQueries[0].SQL
		}
	}
	return t.start(ctx, sql, n)
}

// TraceBatchQuery implements [pgx.BatchTracer]; the batch's end reports it.
func (t *DBTracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

// TraceBatchEnd implements [pgx.BatchTracer].
func (t *DBTracer) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchEndData) {
	t.end(ctx, pgconn.CommandTag{}, data.Err)
}

type acquireKey struct{}

// TraceAcquireStart implements [pgxpool.AcquireTracer].
func (t *DBTracer) TraceAcquireStart(ctx context.Context, _ *pgxpool.Pool, _ pgxpool.TraceAcquireStartData) context.Context {
	if CallFrom(ctx) == nil {
		return ctx
	}
	return context.WithValue(ctx, acquireKey{}, time.Now())
}

// TraceAcquireEnd implements [pgxpool.AcquireTracer]: the wait counts into
// the call's queue wait.
func (t *DBTracer) TraceAcquireEnd(ctx context.Context, _ *pgxpool.Pool, _ pgxpool.TraceAcquireEndData) {
	if start, ok := ctx.Value(acquireKey{}).(time.Time); ok {
		CallFrom(ctx).addPoolWait(time.Since(start))
	}
}
