package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Transports the tool can drive.
const (
	transportStreamable = "streamable" // Streamable HTTP (/…/mcp)
	transportSSE        = "sse"        // legacy HTTP+SSE (/…/sse)
)

// Session-mode expectations.
const (
	expectAny       = "any"
	expectStateless = "stateless"
	expectStateful  = "stateful"
)

// Options configure [Run]. Zero values mean the defaults of the flags.
type Options struct {
	URL       string // the endpoint: …/mcp for streamable, …/sse for sse
	Transport string // transportStreamable (default) or transportSSE
	Tool      string
	Args      json.RawMessage // the tool's arguments, a JSON object
	Sessions  int             // concurrent client sessions, each calling in a loop
	// Warmup runs every session this long before measuring; its calls are
	// not counted.
	Warmup time.Duration
	// Duration of the measured window; ignored when Calls is set.
	Duration time.Duration
	// Calls, when positive, ends the run after this many measured calls
	// instead of after Duration.
	Calls int
	// Header is added to every HTTP request (Authorization).
	Header http.Header
	// Expect is the session mode the server must show: expectStateless (no
	// Mcp-Session-Id), expectStateful, or expectAny. Streamable only.
	Expect      string
	Protocol    string        // protocol version to ask for; "" is the client's latest
	CallTimeout time.Duration // per call; default 30s
	// ServerPID, when positive, is the server process whose CPU time the
	// report gives per call (Linux).
	ServerPID int
	// CPUProfile, when set, receives a CPU profile of this process during
	// the measured window (with --self: the server's too).
	CPUProfile io.Writer
}

// Report is the outcome of a run.
type Report struct {
	URL         string          `json:"url"`
	Transport   string          `json:"transport"`
	Tool        string          `json:"tool"`
	Args        json.RawMessage `json:"args"`
	Sessions    int             `json:"sessions"`
	SessionMode string          `json:"session_mode"` // as observed: stateless or stateful
	Protocol    string          `json:"protocol"`     // negotiated
	Connect     Summary         `json:"connect"`      // time to open each session

	Warmup      time.Duration `json:"warmup_ns"`
	WarmupCalls int           `json:"warmup_calls"`
	// Window is from the end of the warm-up to the end of the last measured
	// call.
	Window         time.Duration `json:"window_ns"`
	Calls          int           `json:"calls"` // measured calls, failed ones included
	OK             int           `json:"ok"`
	ToolErrors     int           `json:"tool_errors"`     // results with isError
	ProtocolErrors int           `json:"protocol_errors"` // JSON-RPC, HTTP and transport errors
	CallsPerSec    float64       `json:"calls_per_sec"`
	OKPerSec       float64       `json:"ok_per_sec"`
	// Latency of the successful measured calls; failures are often fast and
	// would flatter it.
	Latency Summary       `json:"latency"`
	Errors  []ErrorCount  `json:"errors,omitempty"` // the most frequent messages
	CPU     time.Duration `json:"client_cpu_ns"`    // this process, during the window
	// ServerCPU is the server process's CPU time during the window (with
	// Options.ServerPID); -1 when unknown.
	ServerCPU time.Duration `json:"server_cpu_ns"`
	// Interrupted: the run was stopped (Ctrl-C) before its end.
	Interrupted bool `json:"interrupted,omitempty"`
}

// ErrorCount is one distinct error message and how often it occurred.
type ErrorCount struct {
	Message string `json:"message"`
	Count   int    `json:"count"`
}

// maxErrorKinds bounds the distinct error messages a report keeps.
const maxErrorKinds = 10

// worker is one client session's share of the run.
type worker struct {
	cs        *mcp.ClientSession
	latencies []time.Duration // successful measured calls
	calls     int             // measured calls
	warmup    int
	toolErr   int
	protoErr  int
	errors    map[string]int
	lastEnd   time.Time // end of its last measured call
}

// Run opens the sessions, drives them and reports. It returns an error when
// the run could not be made as asked (a session failed to open, or the
// server's session mode is not the expected one); failed calls are counted
// in the report, not returned. Cancelling ctx stops starting calls; calls in
// flight finish (or time out) and the report says it was interrupted.
func Run(ctx context.Context, opts Options) (*Report, error) {
	opts = withDefaults(opts)
	hc := &http.Client{Transport: &headerTransport{header: opts.Header, base: &http.Transport{
		// Each session keeps a connection busy (two in stateful mode: the
		// event stream and the calls); http.Transport keeps only two idle
		// per host by default, and a connection closed after each call would
		// measure TCP set-up rather than pgherd.
		MaxIdleConns:        0,
		MaxIdleConnsPerHost: 2*opts.Sessions + 8,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   false,
	}}}
	defer hc.CloseIdleConnections()

	rep := &Report{URL: opts.URL, Transport: opts.Transport, Tool: opts.Tool, Args: opts.Args, Sessions: opts.Sessions,
		Warmup: opts.Warmup, ServerCPU: -1}
	workers, connect, err := connectAll(ctx, hc, opts)
	defer func() {
		for _, w := range workers {
			if w.cs != nil {
				w.cs.Close()
			}
		}
	}()
	if err != nil {
		return nil, err
	}
	rep.Connect = summarize(connect)
	rep.Protocol = workers[0].cs.InitializeResult().ProtocolVersion
	rep.SessionMode = expectStateless
	if workers[0].cs.ID() != "" || opts.Transport == transportSSE {
		// The legacy transport is a session by nature: one event stream.
		rep.SessionMode = expectStateful
	}

	start := time.Now()
	measureFrom := start.Add(opts.Warmup)
	measureTo := measureFrom.Add(opts.Duration)
	var started atomic.Int64 // measured calls started, in Calls mode

	// CPU at the start of the window, sampled when it starts.
	var cpu0, server0 time.Duration
	var profiling bool
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		select {
		case <-time.After(time.Until(measureFrom)):
		case <-ctx.Done():
		}
		cpu0 = processCPU()
		server0 = pidCPU(opts.ServerPID)
		if opts.CPUProfile != nil {
			profiling = pprof.StartCPUProfile(opts.CPUProfile) == nil
		}
	}()

	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				t := time.Now()
				measured := !t.Before(measureFrom)
				if measured {
					if opts.Calls > 0 {
						if started.Add(1) > int64(opts.Calls) {
							return
						}
					} else if !t.Before(measureTo) {
						return
					}
				}
				// Fresh params for every call, as a real client builds them:
				// CallTool writes _meta into the params it is given (so
				// sharing them between sessions is a data race), and reused
				// params would skip that work.
				w.call(&mcp.CallToolParams{Name: opts.Tool, Arguments: opts.Args}, opts.CallTimeout, measured, t)
			}
		})
	}
	wg.Wait()
	<-sampled
	if profiling {
		pprof.StopCPUProfile()
	}
	rep.CPU = processCPU() - cpu0
	if opts.ServerPID > 0 {
		if s := pidCPU(opts.ServerPID); s >= 0 && server0 >= 0 {
			rep.ServerCPU = s - server0
		}
	}
	rep.Interrupted = ctx.Err() != nil

	var all []time.Duration
	errs := map[string]int{}
	end := measureFrom
	for _, w := range workers {
		all = append(all, w.latencies...)
		rep.Calls += w.calls
		rep.WarmupCalls += w.warmup
		rep.ToolErrors += w.toolErr
		rep.ProtocolErrors += w.protoErr
		for m, n := range w.errors {
			errs[m] += n
		}
		if w.lastEnd.After(end) {
			end = w.lastEnd
		}
	}
	rep.OK = len(all)
	rep.Latency = summarize(all)
	rep.Window = end.Sub(measureFrom)
	if rep.Window > 0 {
		rep.CallsPerSec = float64(rep.Calls) / rep.Window.Seconds()
		rep.OKPerSec = float64(rep.OK) / rep.Window.Seconds()
	}
	for m, n := range errs {
		rep.Errors = append(rep.Errors, ErrorCount{m, n})
	}
	slices.SortFunc(rep.Errors, func(a, b ErrorCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Message, b.Message))
	})
	if len(rep.Errors) > maxErrorKinds {
		rep.Errors = rep.Errors[:maxErrorKinds]
	}
	return rep, nil
}

func withDefaults(o Options) Options {
	o.Transport = cmp.Or(o.Transport, transportStreamable)
	o.Expect = cmp.Or(o.Expect, expectAny)
	o.Sessions = max(o.Sessions, 1)
	if o.CallTimeout <= 0 {
		o.CallTimeout = 30 * time.Second
	}
	if len(o.Args) == 0 {
		o.Args = json.RawMessage(`{}`)
	}
	return o
}

// connectAll opens every session, concurrently, and checks each against
// the expected session mode. On error the sessions opened so far are
// returned for closing.
func connectAll(ctx context.Context, hc *http.Client, opts Options) ([]*worker, []time.Duration, error) {
	workers := make([]*worker, opts.Sessions)
	took := make([]time.Duration, opts.Sessions)
	errs := make([]error, opts.Sessions)
	client := mcp.NewClient(&mcp.Implementation{Name: "pgherd-load", Version: "0"}, nil)
	var wg sync.WaitGroup
	for i := range workers {
		workers[i] = &worker{errors: map[string]int{}}
		wg.Go(func() {
			var t mcp.Transport
			switch opts.Transport {
			case transportSSE:
				t = &mcp.SSEClientTransport{Endpoint: opts.URL, HTTPClient: hc}
			default:
				t = &mcp.StreamableClientTransport{Endpoint: opts.URL, HTTPClient: hc}
			}
			begin := time.Now()
			// The legacy SSE transport keeps its event stream on the Connect
			// context, so it must not be a short-lived one; ctx lives for
			// the run.
			cs, err := client.Connect(ctx, t, &mcp.ClientSessionOptions{ProtocolVersion: opts.Protocol})
			took[i] = time.Since(begin)
			if err != nil {
				errs[i] = fmt.Errorf("session %d: connecting to %s: %w", i+1, opts.URL, err)
				return
			}
			workers[i].cs = cs
			errs[i] = checkMode(cs, opts)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return workers, nil, err
	}
	return workers, took, nil
}

// checkMode compares a session with the expected session mode.
func checkMode(cs *mcp.ClientSession, opts Options) error {
	if opts.Transport != transportStreamable {
		return nil
	}
	switch id := cs.ID(); {
	case opts.Expect == expectStateless && id != "":
		return fmt.Errorf("expected a stateless server, but it issued session id %q (server.session_mode is stateful)", id)
	case opts.Expect == expectStateful && id == "":
		return fmt.Errorf("expected a stateful server, but it issued no session id (server.session_mode is stateless, or protocol %s is sessionless)",
			cs.InitializeResult().ProtocolVersion)
	}
	return nil
}

// call makes one call and records it.
func (w *worker) call(params *mcp.CallToolParams, timeout time.Duration, measured bool, start time.Time) {
	// Not the run's context: a call in flight when the run is interrupted
	// finishes, rather than being counted as a cancellation error.
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	res, err := w.cs.CallTool(ctx, params)
	cancel()
	end := time.Now()
	if !measured {
		w.warmup++
		return
	}
	w.calls++
	w.lastEnd = end
	switch {
	case err != nil:
		w.protoErr++
		w.errors[errorKey("protocol", err.Error())]++
	case res.IsError:
		w.toolErr++
		w.errors[errorKey("tool", toolText(res))]++
	default:
		w.latencies = append(w.latencies, end.Sub(start))
	}
}

func errorKey(kind, msg string) string {
	const limit = 200
	if len(msg) > limit {
		msg = msg[:limit] + "…"
	}
	return kind + ": " + msg
}

func toolText(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// headerTransport adds fixed headers to every request.
type headerTransport struct {
	header http.Header
	base   http.RoundTripper
}

func (h *headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if len(h.header) > 0 {
		r = r.Clone(r.Context())
		for k, v := range h.header {
			r.Header[k] = v
		}
	}
	return h.base.RoundTrip(r)
}
