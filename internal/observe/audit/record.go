package audit

import (
	"time"

	"github.com/pgherd/pgherd/internal/observe"
)

// Kinds of [Record].
const (
	KindToolCall    = "tool_call"
	KindAuthFailure = "auth_failure"
)

// Record is one line of the audit log. Fields that do not apply are left
// out. docs/operations.md describes each.
type Record struct {
	Time      string `json:"time"` // RFC 3339, UTC, with nanoseconds
	Kind      string `json:"kind"` // tool_call or auth_failure
	RequestID string `json:"request_id"`
	TraceID   string `json:"trace_id,omitempty"`
	Endpoint  string `json:"endpoint"`

	// Tool calls.
	Server     string `json:"server,omitempty"`
	Tool       string `json:"tool,omitempty"`
	Tenant     string `json:"tenant,omitempty"`
	User       string `json:"user,omitempty"`
	AuthMethod string `json:"auth_method,omitempty"`
	Mode       string `json:"mode,omitempty"`
	Transport  string `json:"transport,omitempty"`
	SessionID  string `json:"session_id,omitempty"`
	SQL        string `json:"sql,omitempty"`
	Params     []any  `json:"params,omitempty"`
	Command    string `json:"command,omitempty"`
	ReadOnly   *bool  `json:"read_only,omitempty"`
	Outcome    string `json:"outcome,omitempty"`
	Refusal    string `json:"refusal,omitempty"`
	SQLState   string `json:"sqlstate,omitempty"`
	// Error is the tool error's text for refusals pgherd itself made
	// (refused, denied, busy, invalid) and for authentication failures.
	// Other errors can quote row values (a PostgreSQL message, a value
	// that did not decode): they have Outcome and SQLState only.
	Error       string   `json:"error,omitempty"`
	Rows        *int64   `json:"rows,omitempty"`
	Bytes       *int64   `json:"bytes,omitempty"`
	DurationMS  *float64 `json:"duration_ms,omitempty"`
	QueueWaitMS *float64 `json:"queue_wait_ms,omitempty"`
	RoundTrips  *int     `json:"round_trips,omitempty"`

	// Authentication failures.
	Reason string `json:"reason,omitempty"`
	Status int    `json:"status,omitempty"`
	Remote string `json:"remote,omitempty"`
	Method string `json:"method,omitempty"`
	Path   string `json:"path,omitempty"`

	// Storage for the pointer fields, so filling a Record allocates nothing.
	readOnly            bool
	rows, bytes         int64
	durationMS, queueMS float64
	roundTrips          int
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// fill sets r from e, clearing what e does not set.
func (r *Record) fill(e entry, includeParams bool) {
	*r = Record{}
	if f := e.auth; f != nil {
		r.Time = f.Time.UTC().Format(time.RFC3339Nano)
		r.Kind = KindAuthFailure
		r.RequestID, r.Endpoint = f.RequestID, f.Endpoint
		r.Reason, r.Status, r.Error = f.Reason, f.Status, f.Description
		r.Remote, r.Method, r.Path = f.Remote, f.Method, f.Path
		return
	}
	c := e.call
	r.Time = c.Start.UTC().Format(time.RFC3339Nano)
	r.Kind = KindToolCall
	r.RequestID, r.TraceID = c.ID, c.TraceID
	r.Server, r.Endpoint, r.Tool = c.Server, c.Endpoint, c.Tool
	r.Tenant, r.User, r.AuthMethod = c.Tenant, c.User, c.AuthMethod
	r.Mode, r.Transport, r.SessionID = c.Mode, c.Transport, c.SessionID
	r.SQL = c.SQL
	if includeParams {
		r.Params = c.Params
	}
	if c.Command != "" {
		r.Command = c.Command
		r.readOnly = c.ReadOnly
		r.ReadOnly = &r.readOnly
	}
	r.Outcome, r.Refusal, r.SQLState = string(c.Outcome), c.Refusal, c.SQLState
	switch c.Outcome {
	case observe.Refused, observe.Denied, observe.Busy, observe.Invalid:
		if c.Err != nil {
			r.Error = c.Err.Error()
		}
	}
	r.rows, r.bytes = c.Rows, c.Bytes
	r.durationMS, r.queueMS = ms(c.Duration), ms(c.QueueWait)
	r.roundTrips = c.RoundTrips
	r.Rows, r.Bytes, r.DurationMS, r.QueueWaitMS, r.RoundTrips = &r.rows, &r.bytes, &r.durationMS, &r.queueMS, &r.roundTrips
}
