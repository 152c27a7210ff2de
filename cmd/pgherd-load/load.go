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
	transportStdio      = "stdio"      // a server process started with Options.Command
)

// Clients the tool drives a server with.
const (
	clientLean = "lean" // plain HTTP or pipes, prebuilt requests, responses read structurally (lean.go)
	clientSDK  = "sdk"  // go-sdk's client, which decodes every response
)

// Session-mode expectations, and the modes a report shows.
const (
	expectAny       = "any"
	expectStateless = "stateless"
	expectStateful  = "stateful"
	modeStdio       = "stdio" // one stdio session, calls multiplexed on it
	modeRaw         = "raw"   // the pgx baseline: no MCP at all
)

// Options configure [Run]. Zero values mean the defaults of the flags.
type Options struct {
	URL       string // the endpoint: …/mcp for streamable, …/sse for sse
	Transport string // transportStreamable (default), transportSSE or transportStdio
	// Command starts the server for transportStdio (argv; no shell).
	Command []string
	Client  string // clientLean (default) or clientSDK
	Method  string // methodCallTool (default) or methodListTools
	Tool    string
	Args    json.RawMessage // the tool's arguments, a JSON object
	// RawDSN, when set, runs the baseline instead of MCP calls: the
	// statement in Args ({"sql", "params"}) through pgx, straight to
	// PostgreSQL (raw.go).
	RawDSN   string
	Sessions int // concurrent client sessions, each calling in a loop
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
	Protocol    string        // protocol version to ask for; "" picks as go-sdk's client does
	CallTimeout time.Duration // per call; default 30s
	// ServerPID, when positive, is the server process whose CPU time and
	// peak memory the report gives (Linux). With transportStdio it is the
	// started process.
	ServerPID int
	// DatabasePID, when positive, is the PostgreSQL postmaster whose CPU
	// time, its backends' included, the report gives per call (Linux).
	DatabasePID int
	// CPUProfile, when set, receives a CPU profile of this process during
	// the measured window (with --self: the server's too).
	CPUProfile io.Writer
}

// Report is the outcome of a run.
type Report struct {
	URL         string          `json:"url"`
	Transport   string          `json:"transport"`
	Client      string          `json:"client"`
	Method      string          `json:"method"`
	Tool        string          `json:"tool"`
	Args        json.RawMessage `json:"args"`
	Sessions    int             `json:"sessions"`
	SessionMode string          `json:"session_mode"` // as observed: stateless, stateful, stdio or raw
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
	// DatabaseCPU is the PostgreSQL server's CPU time during the window,
	// every backend included (with Options.DatabasePID); -1 when unknown.
	DatabaseCPU time.Duration `json:"database_cpu_ns"`
	// ServerPeakRSS is the server's peak resident memory during the window
	// (VmHWM, reset when the window starts), or at any time since it
	// started when the reset is not allowed; -1 when unknown.
	ServerPeakRSS int64 `json:"server_peak_rss_bytes"`
	// PeakSinceStart: the peak could not be reset at the start of the
	// window (another user's process), so it is the peak since the server
	// started.
	PeakSinceStart bool `json:"server_peak_rss_since_start,omitempty"`
	// ResponseBytes is the mean size of a successful call's JSON-RPC
	// response (the message, without HTTP or SSE framing); lean client
	// only, else 0.
	ResponseBytes int `json:"response_bytes"`
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

// caller makes one session's calls.
type caller interface {
	call(ctx context.Context) outcome
	// info returns the negotiated protocol and the session id ("" when
	// sessionless).
	info() (protocol, session string)
	close()
}

// Kinds of outcome.
const (
	callOK      = iota
	toolFailed  // a result with isError
	protoFailed // JSON-RPC error, HTTP status, transport
)

// outcome is what one call came to.
type outcome struct {
	kind  int
	msg   string // the error message
	bytes int    // response size, when known
}

func protocolFailure(msg string) outcome { return outcome{kind: protoFailed, msg: msg} }

// worker is one client session's share of the run.
type worker struct {
	c         caller
	latencies []time.Duration // successful measured calls
	calls     int             // measured calls
	warmup    int
	toolErr   int
	protoErr  int
	respBytes int64 // of successful measured calls
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
		// Each session keeps a connection busy (two in stateful mode with
		// go-sdk's client: the event stream and the calls); http.Transport
		// keeps only two idle per host by default, and a connection closed
		// after each call would measure TCP set-up rather than pgherd.
		MaxIdleConns:        0,
		MaxIdleConnsPerHost: 2*opts.Sessions + 8,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   false,
		// Go asks for gzip by default; MCP clients rarely do, and pgherd
		// does not compress.
		DisableCompression: true,
	}}}
	defer hc.CloseIdleConnections()

	rep := &Report{URL: opts.URL, Transport: opts.Transport, Client: opts.Client, Method: opts.Method, Tool: opts.Tool,
		Args: opts.Args, Sessions: opts.Sessions, Warmup: opts.Warmup, ServerCPU: -1, DatabaseCPU: -1, ServerPeakRSS: -1}
	if opts.RawDSN != "" {
		rep.URL, rep.Transport, rep.Client, rep.Tool = "", modeRaw, modeRaw, ""
	}
	if opts.Transport == transportStdio {
		rep.URL = strings.Join(opts.Command, " ")
	}
	workers, connect, cleanup, err := connectAll(ctx, hc, &opts)
	defer cleanup()
	if err != nil {
		return nil, err
	}
	rep.Connect = summarize(connect)
	protocol, session := workers[0].c.info()
	rep.Protocol = protocol
	switch {
	case opts.RawDSN != "":
		rep.SessionMode = modeRaw
	case opts.Transport == transportStdio:
		rep.SessionMode = modeStdio
	case session != "" || opts.Transport == transportSSE:
		// The legacy transport is a session by nature: one event stream.
		rep.SessionMode = expectStateful
	default:
		rep.SessionMode = expectStateless
	}

	start := time.Now()
	measureFrom := start.Add(opts.Warmup)
	measureTo := measureFrom.Add(opts.Duration)
	var started atomic.Int64 // measured calls started, in Calls mode

	// CPU at the start of the window, sampled when it starts.
	var cpu0, server0, db0 time.Duration
	var profiling, peakReset bool
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		select {
		case <-time.After(time.Until(measureFrom)):
		case <-ctx.Done():
		}
		if opts.ServerPID > 0 {
			peakReset = resetPeakRSS(opts.ServerPID) == nil
		}
		cpu0 = processCPU()
		server0 = pidCPU(opts.ServerPID)
		db0 = treeCPU(opts.DatabasePID)
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
				w.call(opts.CallTimeout, measured, t)
			}
		})
	}
	wg.Wait()
	<-sampled
	if profiling {
		pprof.StopCPUProfile()
	}
	rep.CPU = processCPU() - cpu0
	if s := pidCPU(opts.ServerPID); s >= 0 && server0 >= 0 {
		rep.ServerCPU = s - server0
	}
	if d := treeCPU(opts.DatabasePID); d >= 0 && db0 >= 0 {
		rep.DatabaseCPU = d - db0
	}
	if opts.ServerPID > 0 {
		rep.ServerPeakRSS = memStatus(opts.ServerPID, "VmHWM")
		rep.PeakSinceStart = !peakReset // without the reset, VmHWM is the peak since the server started: still a bound
	}
	rep.Interrupted = ctx.Err() != nil

	var all []time.Duration
	var respBytes int64
	errs := map[string]int{}
	end := measureFrom
	for _, w := range workers {
		all = append(all, w.latencies...)
		rep.Calls += w.calls
		rep.WarmupCalls += w.warmup
		rep.ToolErrors += w.toolErr
		rep.ProtocolErrors += w.protoErr
		respBytes += w.respBytes
		for m, n := range w.errors {
			errs[m] += n
		}
		if w.lastEnd.After(end) {
			end = w.lastEnd
		}
	}
	rep.OK = len(all)
	if rep.OK > 0 {
		rep.ResponseBytes = int(respBytes / int64(rep.OK))
	}
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
	o.Client = cmp.Or(o.Client, clientLean)
	if o.Transport == transportSSE {
		o.Client = clientSDK // the lean client speaks Streamable HTTP and stdio
	}
	o.Method = cmp.Or(o.Method, methodCallTool)
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
// the expected session mode. cleanup closes what was opened, also after an
// error.
func connectAll(ctx context.Context, hc *http.Client, opts *Options) (_ []*worker, _ []time.Duration, cleanup func(), _ error) {
	workers := make([]*worker, opts.Sessions)
	took := make([]time.Duration, opts.Sessions)
	errs := make([]error, opts.Sessions)
	var closers []func()
	cleanup = func() {
		for _, w := range workers {
			if w != nil && w.c != nil {
				w.c.close()
			}
		}
		for _, c := range slices.Backward(closers) {
			c()
		}
	}
	for i := range workers {
		workers[i] = &worker{errors: map[string]int{}}
	}

	var open func(ctx context.Context, i int) (caller, error)
	var once time.Duration // connecting, when one pool or process serves every session
	switch {
	case opts.RawDSN != "":
		begin := time.Now()
		pool, err := openRaw(ctx, opts.RawDSN, opts.Sessions)
		if err != nil {
			return nil, nil, cleanup, err
		}
		closers = append(closers, pool.Close)
		if opts.DatabasePID <= 0 {
			opts.DatabasePID = postmasterOf(ctx, pool)
		}
		once = time.Since(begin)
		open = func(context.Context, int) (caller, error) {
			return newRawCaller(pool, opts.Args)
		}
	case opts.Transport == transportStdio:
		begin := time.Now()
		s, err := startStdio(ctx, opts.Command)
		if err != nil {
			return nil, nil, cleanup, err
		}
		closers = append(closers, s.close)
		if opts.ServerPID <= 0 {
			opts.ServerPID = s.Pid()
		}
		once = time.Since(begin)
		req := newRequest(opts.Method, opts.Tool, opts.Args, false)
		open = func(context.Context, int) (caller, error) {
			return &stdioCaller{s: s, req: req}, nil
		}
	case opts.Client == clientLean:
		// The lean client sets its headers itself: no clone per request.
		lean := &http.Client{Transport: hc.Transport.(*headerTransport).base}
		open = func(ctx context.Context, i int) (caller, error) {
			return connectLeanHTTP(ctx, lean, *opts)
		}
	default:
		client := mcp.NewClient(&mcp.Implementation{Name: "pgherd-load", Version: "0"}, nil)
		open = func(ctx context.Context, i int) (caller, error) {
			var t mcp.Transport
			switch opts.Transport {
			case transportSSE:
				t = &mcp.SSEClientTransport{Endpoint: opts.URL, HTTPClient: hc}
			default:
				t = &mcp.StreamableClientTransport{Endpoint: opts.URL, HTTPClient: hc}
			}
			// The legacy SSE transport keeps its event stream on the Connect
			// context, so it must not be a short-lived one; ctx lives for
			// the run.
			cs, err := client.Connect(ctx, t, &mcp.ClientSessionOptions{ProtocolVersion: opts.Protocol})
			if err != nil {
				return nil, err
			}
			return &sdkCaller{cs: cs, method: opts.Method, tool: opts.Tool, args: opts.Args}, nil
		}
	}

	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			begin := time.Now()
			c, err := open(ctx, i)
			took[i] = time.Since(begin)
			if err != nil {
				errs[i] = fmt.Errorf("session %d: connecting to %s: %w", i+1, cmp.Or(opts.URL, strings.Join(opts.Command, " ")), err)
				return
			}
			workers[i].c = c
			errs[i] = checkMode(c, opts)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, nil, cleanup, err
	}
	if opts.RawDSN != "" || opts.Transport == transportStdio {
		took = []time.Duration{once} // one pool or one process, opened once
	}
	return workers, took, cleanup, nil
}

// checkMode compares a session with the expected session mode.
func checkMode(c caller, opts *Options) error {
	if opts.Transport != transportStreamable || opts.RawDSN != "" {
		return nil
	}
	switch protocol, id := c.info(); {
	case opts.Expect == expectStateless && id != "":
		return fmt.Errorf("expected a stateless server, but it issued session id %q (server.session_mode is stateful)", id)
	case opts.Expect == expectStateful && id == "":
		return fmt.Errorf("expected a stateful server, but it issued no session id (server.session_mode is stateless, or protocol %s is sessionless)",
			protocol)
	}
	return nil
}

// call makes one call and records it.
func (w *worker) call(timeout time.Duration, measured bool, start time.Time) {
	// Not the run's context: a call in flight when the run is interrupted
	// finishes, rather than being counted as a cancellation error.
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	o := w.c.call(ctx)
	cancel()
	end := time.Now()
	if !measured {
		w.warmup++
		return
	}
	w.calls++
	w.lastEnd = end
	switch o.kind {
	case protoFailed:
		w.protoErr++
		w.errors[errorKey("protocol", o.msg)]++
	case toolFailed:
		w.toolErr++
		w.errors[errorKey("tool", o.msg)]++
	default:
		w.latencies = append(w.latencies, end.Sub(start))
		w.respBytes += int64(o.bytes)
	}
}

func errorKey(kind, msg string) string {
	const limit = 200
	if len(msg) > limit {
		msg = msg[:limit] + "…"
	}
	return kind + ": " + msg
}

// sdkCaller makes calls through a go-sdk client session.
type sdkCaller struct {
	cs     *mcp.ClientSession
	method string
	tool   string
	args   json.RawMessage
}

func (c *sdkCaller) call(ctx context.Context) outcome {
	if c.method == methodListTools {
		if _, err := c.cs.ListTools(ctx, nil); err != nil {
			return protocolFailure(err.Error())
		}
		return outcome{kind: callOK}
	}
	// Fresh params for every call, as a real client builds them: CallTool
	// writes _meta into the params it is given (so sharing them between
	// sessions is a data race), and reused params would skip that work.
	res, err := c.cs.CallTool(ctx, &mcp.CallToolParams{Name: c.tool, Arguments: c.args})
	switch {
	case err != nil:
		return protocolFailure(err.Error())
	case res.IsError:
		return outcome{kind: toolFailed, msg: toolText(res)}
	}
	return outcome{kind: callOK}
}

func (c *sdkCaller) info() (string, string) {
	return c.cs.InitializeResult().ProtocolVersion, c.cs.ID()
}

func (c *sdkCaller) close() { c.cs.Close() }

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
