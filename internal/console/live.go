package console

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pgherd/pgherd/internal/observe"
)

// Live is the console's observer of tool calls: it keeps the calls in
// flight (with a way to cancel each), the last finished ones, and per
// endpoint counts of calls and errors over the last minutes, and tells the
// console's event streams about every change. Register it with
// observe.New; it is safe for concurrent use. Its hooks never block: a
// subscriber that cannot keep up misses events and is told to reload.
type Live struct {
	seq atomic.Uint64

	mu       sync.Mutex
	inflight map[*observe.Call]*running
	done     []CallView // ring of finished calls, oldest first once full
	next     int        // where the next finished call goes in done
	stats    map[string]*series
	subs     map[chan Event]struct{}
	keep     int
	now      func() time.Time
}

// running is a call in flight.
type running struct {
	id     string
	call   *observe.Call
	cancel context.CancelCauseFunc
}

// CallView is what the console shows of one call. It never carries
// parameter values or result rows, and statement text that may hold a
// password is withheld.
type CallView struct {
	ID         string  `json:"id"` // the console's own id (request ids repeat within a batch)
	RequestID  string  `json:"request_id"`
	Start      int64   `json:"start_ms"` // Unix milliseconds
	Server     string  `json:"server"`
	Endpoint   string  `json:"endpoint"`
	Tool       string  `json:"tool"`
	Tenant     string  `json:"tenant,omitempty"`
	User       string  `json:"user,omitempty"`
	Transport  string  `json:"transport"`
	SQL        string  `json:"sql,omitempty"`
	Command    string  `json:"command,omitempty"`
	Running    bool    `json:"running"`
	DurationMS float64 `json:"duration_ms"`
	Rows       int64   `json:"rows"`
	Outcome    string  `json:"outcome,omitempty"`
	SQLState   string  `json:"sqlstate,omitempty"`
	Error      string  `json:"error,omitempty"`
	Canceled   bool    `json:"canceled_by_operator,omitempty"`
}

// Event is one change the event stream sends: a call started or ended, or
// a periodic update of the calls in flight.
type Event struct {
	Kind  string     // "start", "end", "tick"
	Calls []CallView // start and end: one call; tick: every call in flight
}

// DefaultKeep is how many finished calls Live keeps.
const DefaultKeep = 500

// errOperatorCancel is the cause of a call cancelled from the console.
var errOperatorCancel = errors.New("cancelled by an operator from the console")

// bucket is the width of one bar of the calls chart; buckets how many are
// kept (15 minutes).
const (
	bucket  = 10 * time.Second
	buckets = 90
)

// series counts one endpoint's calls and errors per bucket.
type series struct {
	calls  [buckets]int
	errors [buckets]int
	stamp  [buckets]int64
}

func (s *series) add(t time.Time, failed bool) {
	n := t.UnixNano() / int64(bucket)
	i := int(n % buckets)
	if s.stamp[i] != n {
		s.stamp[i], s.calls[i], s.errors[i] = n, 0, 0
	}
	s.calls[i]++
	if failed {
		s.errors[i]++
	}
}

// NewLive returns an observer keeping the last keep finished calls (zero
// means [DefaultKeep]).
func NewLive(keep int) *Live {
	if keep <= 0 {
		keep = DefaultKeep
	}
	return &Live{inflight: make(map[*observe.Call]*running), stats: make(map[string]*series),
		subs: make(map[chan Event]struct{}), keep: keep, now: time.Now}
}

// StartCall records c as in flight and gives it a context the console can
// cancel ([Live.Cancel]): cancelling it makes pgx send PostgreSQL a cancel
// request for the statement running.
func (l *Live) StartCall(ctx context.Context, c *observe.Call) context.Context {
	ctx, cancel := context.WithCancelCause(ctx)
	r := &running{id: "c" + strconv.FormatUint(l.seq.Add(1), 10), call: c, cancel: cancel}
	l.mu.Lock()
	l.inflight[c] = r
	l.mu.Unlock()
	l.publish(Event{Kind: "start", Calls: []CallView{view(r.id, c.Snapshot(), true)}})
	return ctx
}

// ObserveCall moves c from the calls in flight to the finished ones.
func (l *Live) ObserveCall(ctx context.Context, c *observe.Call) {
	l.mu.Lock()
	r := l.inflight[c]
	delete(l.inflight, c)
	id := ""
	if r != nil {
		id = r.id
	} else {
		id = "c" + strconv.FormatUint(l.seq.Add(1), 10)
	}
	v := view(id, c.Record, false)
	if r != nil && errors.Is(context.Cause(ctx), errOperatorCancel) {
		v.Canceled = true
	}
	if len(l.done) < l.keep {
		l.done = append(l.done, v)
	} else {
		l.done[l.next] = v
	}
	l.next = (l.next + 1) % l.keep
	s := l.stats[c.Endpoint]
	if s == nil {
		s = &series{}
		l.stats[c.Endpoint] = s
	}
	s.add(c.Start.Add(c.Duration), c.Outcome != observe.OK)
	l.mu.Unlock()
	if r != nil {
		r.cancel(nil) // release the context's resources
	}
	l.publish(Event{Kind: "end", Calls: []CallView{v}})
}

// view builds what the console shows of rec.
func view(id string, rec observe.Record, running bool) CallView {
	v := CallView{
		ID: id, RequestID: rec.ID, Start: rec.Start.UnixMilli(), Server: rec.Server, Endpoint: rec.Endpoint,
		Tool: rec.Tool, Tenant: rec.Tenant, User: rec.User, Transport: rec.Transport,
		SQL: observe.RedactSQL(rec.SQL), Command: rec.Command, Running: running, Rows: rec.Rows,
		Outcome: string(rec.Outcome), SQLState: rec.SQLState,
	}
	if running {
		v.DurationMS = float64(time.Since(rec.Start).Microseconds()) / 1000
		v.Rows = 0
	} else {
		v.DurationMS = float64(rec.Duration.Microseconds()) / 1000
		if rec.Err != nil {
			v.Error = truncate(rec.Err.Error(), 500)
		}
	}
	return v
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xc0 == 0x80 { // not inside a UTF-8 sequence
		n--
	}
	return s[:n] + "…"
}

// Cancel cancels the call in flight with console id id. It reports whether
// such a call was running.
func (l *Live) Cancel(id string) bool {
	l.mu.Lock()
	var found *running
	for _, r := range l.inflight {
		if r.id == id {
			found = r
			break
		}
	}
	l.mu.Unlock()
	if found == nil {
		return false
	}
	found.cancel(errOperatorCancel)
	return true
}

// Calls returns the calls in flight (oldest first) and the finished calls
// kept (newest first).
func (l *Live) Calls() (running, finished []CallView) {
	l.mu.Lock()
	defer l.mu.Unlock()
	running = l.runningLocked()
	finished = make([]CallView, 0, len(l.done))
	for i := 0; i < len(l.done); i++ {
		j := (l.next - 1 - i + 2*len(l.done)) % len(l.done)
		finished = append(finished, l.done[j])
	}
	return running, finished
}

func (l *Live) runningLocked() []CallView {
	out := make([]CallView, 0, len(l.inflight))
	for c, r := range l.inflight {
		out = append(out, view(r.id, c.Snapshot(), true))
	}
	sortByStart(out)
	return out
}

func sortByStart(v []CallView) {
	for i := 1; i < len(v); i++ {
		for j := i; j > 0 && (v[j].Start < v[j-1].Start || v[j].Start == v[j-1].Start && v[j].ID < v[j-1].ID); j-- {
			v[j], v[j-1] = v[j-1], v[j]
		}
	}
}

// Rate is one bar of an endpoint's calls chart.
type Rate struct {
	Start  int64 `json:"start_ms"` // Unix milliseconds
	Calls  int   `json:"calls"`
	Errors int   `json:"errors"`
}

// Rates returns endpoint's calls and errors per 10 seconds over the last
// n bars (at most 90, 15 minutes), oldest first, and the calls in flight
// there.
func (l *Live) Rates(endpoint string, n int) (bars []Rate, inflight int) {
	n = min(max(n, 1), buckets)
	now := l.now().UnixNano() / int64(bucket)
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.stats[endpoint]
	bars = make([]Rate, n)
	for k := 0; k < n; k++ {
		b := now - int64(n-1-k)
		bars[k].Start = b * int64(bucket) / int64(time.Millisecond)
		if s != nil {
			i := int(b % buckets)
			if s.stamp[i] == b {
				bars[k].Calls, bars[k].Errors = s.calls[i], s.errors[i]
			}
		}
	}
	for c := range l.inflight {
		if c.Endpoint == endpoint {
			inflight++
		}
	}
	return bars, inflight
}

// Subscribe returns a channel receiving every event from now on, and a
// function that ends the subscription. Events are dropped, not queued
// without bound, when the subscriber falls behind: the channel then
// receives a "resync" event as soon as there is room.
func (l *Live) Subscribe() (<-chan Event, func()) {
	ch := make(chan Event, 256)
	l.mu.Lock()
	l.subs[ch] = struct{}{}
	l.mu.Unlock()
	return ch, func() {
		l.mu.Lock()
		delete(l.subs, ch)
		l.mu.Unlock()
	}
}

// Running returns the calls in flight, for the periodic update.
func (l *Live) Running() []CallView {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.runningLocked()
}

func (l *Live) publish(e Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for ch := range l.subs {
		select {
		case ch <- e:
		default:
			// Full: the subscriber reloads the lists when it catches up.
			select {
			case <-ch:
			default:
			}
			select {
			case ch <- Event{Kind: "resync"}:
			default:
			}
		}
	}
}

// Statement is one statement text as pgherd saw it run on an endpoint,
// from the finished calls kept.
type Statement struct {
	SQL     string  `json:"sql"`
	Tool    string  `json:"tool"`
	Calls   int     `json:"calls"`
	Errors  int     `json:"errors"`
	TotalMS float64 `json:"total_ms"`
	MeanMS  float64 `json:"mean_ms"`
	MaxMS   float64 `json:"max_ms"`
	LastMS  int64   `json:"last_ms"` // when it last ended, Unix milliseconds
}

// Seen returns the statements of endpoint's finished calls kept, by total
// time, at most n.
func (l *Live) Seen(endpoint string, n int) []Statement {
	l.mu.Lock()
	by := map[string]*Statement{}
	for _, v := range l.done {
		if v.Endpoint != endpoint || v.SQL == "" {
			continue
		}
		st := by[v.SQL]
		if st == nil {
			st = &Statement{SQL: v.SQL, Tool: v.Tool}
			by[v.SQL] = st
		}
		st.Calls++
		if v.Outcome != string(observe.OK) {
			st.Errors++
		}
		st.TotalMS += v.DurationMS
		st.MaxMS = max(st.MaxMS, v.DurationMS)
		st.LastMS = max(st.LastMS, v.Start+int64(v.DurationMS))
	}
	l.mu.Unlock()
	out := make([]Statement, 0, len(by))
	for _, st := range by {
		st.MeanMS = st.TotalMS / float64(st.Calls)
		out = append(out, *st)
	}
	slices.SortFunc(out, func(a, b Statement) int { return cmp.Compare(b.TotalMS, a.TotalMS) })
	if len(out) > n {
		out = out[:n]
	}
	return out
}
