package observe

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Outcome says how a tool call ended. The values are a fixed set: metrics
// use them as label values.
type Outcome string

// Outcomes.
const (
	OK       Outcome = "ok"
	SQLError Outcome = "sql_error" // PostgreSQL failed the statement (SQLState is set)
	Refused  Outcome = "refused"   // the SQL validator refused the statement (Refusal is set)
	Denied   Outcome = "denied"    // the caller may not use the tool
	Busy     Outcome = "busy"      // no concurrency slot or connection within the wait bound
	Timeout  Outcome = "timeout"   // a deadline ended the call (statement or lock timeout, the call's own)
	Canceled Outcome = "canceled"  // the client cancelled the call or went away
	Invalid  Outcome = "invalid"   // the arguments did not match the tool's input schema
	Failed   Outcome = "error"     // any other tool error
	Panic    Outcome = "panic"     // a bug: the handler panicked
)

// Outcomes lists every outcome, for documentation and for metrics that
// want every series present from the start.
var Outcomes = []Outcome{OK, SQLError, Refused, Denied, Busy, Timeout, Canceled, Invalid, Failed, Panic}

// Record is what is known about one tool call. The identity fields are set
// before the call starts; the rest is filled in while it runs and complete
// once it has ended, when observers receive it.
type Record struct {
	// Identity, set when the call starts.
	ID         string    // request id: the HTTP X-Request-Id, or a random one
	Start      time.Time // when the call started
	Server     string    // MCP endpoint that received the call ("main" or an endpoint name)
	Endpoint   string    // endpoint whose database the tool uses ("main" for the management tools)
	Tool       string    // the tool's full name, as the client called it
	ToolBase   string    // the tool's name without the endpoint prefix (execute_sql)
	Mode       string    // the endpoint's access mode; "" for the management tools
	Tenant     string    // the caller's verified tenant; "" without a caller
	User       string    // the caller's verified user; "" without a caller
	AuthMethod string    // how the caller was verified: api_key, jwt, database_login, anonymous
	Transport  string    // "http" or "stdio"
	SessionID  string    // MCP session id, when the call is part of a session
	Protocol   string    // negotiated MCP protocol version
	TraceID    string    // set by a tracing observer when the call starts; "" without tracing

	// Filled in while the call runs.
	SQL      string // the SQL text the tool ran or refused (see SetStatement)
	Params   []any  // the statement's parameter values (kept for audit.include_params only)
	Command  string // the validator's verdict: the statement's command tag (SELECT, INSERT, CREATE TABLE…)
	ReadOnly bool   // the validator's verdict: the statement cannot write
	Refusal  string // why the validator refused the statement (function_not_allowed…)

	Rows       int64         // rows returned (or affected)
	Bytes      int64         // size of the result sent to the client: structured content plus text
	SlotWait   time.Duration // time spent waiting for a concurrency slot
	SlotWaited bool          // the call had to wait for a slot
	// SlotRejected: no slot came free within the bound; the call was refused.
	SlotRejected bool
	QueueWait    time.Duration // slot wait plus connection-pool wait
	RoundTrips   int           // database round trips
	DBTime       time.Duration // time spent in database round trips

	// Set when the call ends.
	Err error // the error the tool returned (the client saw it as a tool error)

	// Set when the call ends.
	Outcome  Outcome
	SQLState string // PostgreSQL's SQLSTATE of the error, if any
	Duration time.Duration
}

// Call is one tool call in flight: its [Record] plus what the call path
// needs to fill it in. Its setters are safe for concurrent use and do
// nothing on a nil *Call, so code that may run outside a tool call can call
// them unconditionally: observe.CallFrom(ctx).SetStatement(sql, args).
//
// Observers read the Record's fields directly once the call has ended;
// while it runs, [Call.Snapshot] gives a consistent copy.
type Call struct {
	Record

	mu        sync.Mutex
	ended     bool
	base      *slog.Logger
	clientLog slog.Handler
	logger    *slog.Logger
}

type callKey struct{}

// WithCall returns ctx carrying c.
func WithCall(ctx context.Context, c *Call) context.Context {
	return context.WithValue(ctx, callKey{}, c)
}

// CallFrom returns the call ctx belongs to, or nil outside a tool call.
func CallFrom(ctx context.Context) *Call {
	c, _ := ctx.Value(callKey{}).(*Call)
	return c
}

// SetStatement records the SQL text a tool is about to validate and run, and
// its parameter values. Call it before validating, so a refused statement
// is recorded too.
func (c *Call) SetStatement(sql string, params []any) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ended {
		c.SQL, c.Params = sql, params
	}
}

// SetVerdict records what the validator decided about the statement:
// its command tag and whether it is read-only.
func (c *Call) SetVerdict(command string, readOnly bool) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ended {
		c.Command, c.ReadOnly = command, readOnly
	}
}

// Refuse records that the validator refused the statement, and why (a
// short snake_case reason; metrics use it as a label value).
func (c *Call) Refuse(reason string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ended {
		c.Refusal = reason
	}
}

// SetError records the error the tool returned, before it became a tool
// error result (the type is lost there). tools.Add calls it.
func (c *Call) SetError(err error) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ended {
		c.Err = err
	}
}

// ToolError returns the error recorded with SetError.
func (c *Call) ToolError() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Err
}

// SetRows records how many rows the call returned or affected.
func (c *Call) SetRows(n int64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ended {
		c.Rows = n
	}
}

// AddSlotWait records time spent waiting for a concurrency slot; rejected
// means no slot came free within the bound and the call was refused.
func (c *Call) AddSlotWait(d time.Duration, rejected bool) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ended {
		c.SlotWaited = true
		c.SlotWait += d
		c.QueueWait += d
		c.SlotRejected = c.SlotRejected || rejected
	}
}

// NoSlot reports whether the call was refused for want of a concurrency
// slot.
func (c *Call) NoSlot() bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.SlotRejected
}

// addRoundTrip counts one database round trip of d.
func (c *Call) addRoundTrip(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ended {
		c.RoundTrips++
		c.DBTime += d
	}
}

// addPoolWait adds time spent waiting for a pooled connection.
func (c *Call) addPoolWait(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ended {
		c.QueueWait += d
	}
}

// Snapshot returns a copy of the record as it is now (for live views of
// calls in flight).
func (c *Call) Snapshot() Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Record
}

// Ended reports whether the call has ended.
func (c *Call) Ended() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ended
}

// SetClientLog sets the handler a tool's log records also go to: the MCP
// client's log notifications (when the client asked for them). Call it
// before the call starts; nil means the server log only.
func (c *Call) SetClientLog(h slog.Handler) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clientLog = h
	c.logger = nil
}

// Logger returns the call's logger for tools: records go to the server log
// with the call's request id, endpoint, tool, tenant and trace id, and,
// when the client asked for log notifications, to the client as well (with
// the tool's own attributes only). A nil *Call returns a logger that
// discards.
func (c *Call) Logger() *slog.Logger {
	if c == nil {
		return discard
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.logger != nil {
		return c.logger
	}
	base := c.base
	if base == nil {
		base = discard
	}
	attrs := []slog.Attr{
		slog.String("request_id", c.ID),
		slog.String("endpoint", c.Endpoint),
		slog.String("tool", c.Tool),
	}
	if c.Tenant != "" {
		attrs = append(attrs, slog.String("tenant", c.Tenant))
	}
	if c.TraceID != "" {
		attrs = append(attrs, slog.String("trace_id", c.TraceID))
	}
	var h slog.Handler = base.Handler().WithAttrs(attrs)
	if c.clientLog != nil {
		h = &fanout{server: h, client: c.clientLog}
	}
	c.logger = slog.New(h)
	return c.logger
}

var discard = slog.New(slog.DiscardHandler)

// end completes the record. It redacts statement text that may hold a
// password.
func (c *Call) end(outcome Outcome, err error, sqlState string, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Outcome, c.Err, c.SQLState, c.Bytes = outcome, err, sqlState, bytes
	c.Duration = time.Since(c.Start)
	if c.SQL != "" && mayHoldPassword(c.SQL, c.Command) {
		c.SQL, c.Params = WithheldSQL, nil
	}
	c.ended = true
}

// WithheldSQL replaces statement text that may hold a password in every
// record, log line, audit record and span.
const WithheldSQL = "(statement text withheld: it may hold a password)"

// passwordCommands are the statements that may carry a password or another
// credential in their text.
var passwordCommands = map[string]bool{
	"CREATE ROLE": true, "ALTER ROLE": true, "CREATE USER": true, "ALTER USER": true, "CREATE GROUP": true,
	"CREATE USER MAPPING": true, "ALTER USER MAPPING": true, "CREATE SERVER": true, "ALTER SERVER": true,
	"CREATE SUBSCRIPTION": true, "ALTER SUBSCRIPTION": true,
}

// mayHoldPassword reports whether sql (whose command tag is command, ""
// when unknown) may carry a credential: a role, user mapping, server or
// subscription statement; or text the validator did not classify that
// mentions a password or a connection string.
func mayHoldPassword(sql, command string) bool {
	if command != "" {
		return passwordCommands[command]
	}
	return containsFold(sql, "password") || containsFold(sql, "conninfo") || containsFold(sql, "connection")
}

// RedactSQL returns sql, or [WithheldSQL] when it may hold a password (for
// statement text seen outside a call's record, such as a round trip's).
func RedactSQL(sql string) string {
	if mayHoldPassword(sql, "") {
		return WithheldSQL
	}
	return sql
}

// containsFold reports whether s contains the ASCII-lower-case word sub in
// any case, without allocating.
func containsFold(s, sub string) bool {
	n := len(sub)
	for i := 0; i+n <= len(s); i++ {
		if s[i]|0x20 == sub[0] && strings.EqualFold(s[i:i+n], sub) {
			return true
		}
	}
	return false
}
