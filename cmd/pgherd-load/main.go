// Command pgherd-load drives a running pgherd with MCP tool calls from many
// concurrent client sessions (go-sdk's client, over Streamable HTTP or the
// legacy HTTP+SSE transport) and reports throughput and latency.
//
// With no setup at all, --self starts a throwaway PostgreSQL from the local
// server binaries and a pgherd in this process, and measures that:
//
//	go run ./cmd/pgherd-load --self
//	go run ./cmd/pgherd-load --self --sessions 64 --expect stateful
//	go run ./cmd/pgherd-load --self --args '{"sql":"SELECT * FROM customers ORDER BY id LIMIT 100"}'
//
// Against a running server (the defaults fit pgherd demo's app1 endpoint):
//
//	pgherd-load --url http://127.0.0.1:8000/app1/mcp --tool app1_execute_sql --sessions 16 --duration 10s
//	PGHERD_LOAD_AUTHORIZATION="Bearer $KEY" pgherd-load --url https://mcp.example.com/app1/mcp
//
// # What it measures
//
// Every session is opened first (the time is reported apart), then all of
// them call the tool in a loop, each waiting for its answer before the next
// call. Calls during the warm-up (--warmup) are made but not counted. The
// measured window runs from the end of the warm-up to the end of the last
// measured call; calls/s is measured calls over that window. Every failure
// is counted: a result with isError is a tool error, anything else (HTTP
// status, JSON-RPC error, transport) a protocol error, and the most frequent
// messages are listed. Latency percentiles are of the successful calls
// (nearest rank), since failures are often fast. The exit status is 1 when
// any measured call failed.
//
// Two modes measure what is not calls/s: --workload idle holds --sessions
// stateful sessions idle and reports the server's memory per session, and
// --cold-start N -- COMMAND reports how long a freshly started server takes
// to answer its first call:
//
//	pgherd-load --workload idle --sessions 1000 --duration 25s --url http://127.0.0.1:8000/app1/mcp --server-pid PID
//	pgherd-load --workload W2 --cold-start 10 --url http://127.0.0.1:8000/app1/mcp -- pgherd serve --config pgherd.yaml
//	pgherd-load --workload W2 --cold-start 10 --transport stdio -- pgherd stdio --config pgherd.yaml --endpoint app1
//
// The CPU line gives this process's CPU time per call during the window
// and, with --server-pid, the server's (Linux /proc). With --self both run
// in this process, which has one garbage collector: like pgherd serve, it
// sets GOGC=400 unless GOGC or GOMEMLIMIT is set.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// envAuthorization holds an Authorization header value, so a key need not
// appear on the command line.
const envAuthorization = "PGHERD_LOAD_AUTHORIZATION"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// usageError marks a command-line mistake (exit status 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

type flags struct {
	opts       Options
	args       string
	auth       string
	self       bool
	pgOnly     bool
	otlpSink   string
	jsonOut    bool
	cpuprofile string
	scale      float64
	workload   string
	// --workload idle
	idle        bool
	idleStream  bool
	metricsURL  string
	heapProfile string
	// --cold-start N
	coldRuns int
}

func parseFlags(argv []string, stderr io.Writer) (*flags, error) {
	f := &flags{}
	fs := flag.NewFlagSet("pgherd-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: pgherd-load [flags]\n\nDrives a running pgherd (or, with --self, one it starts) with MCP tool calls and reports calls/s and latency.\n\n")
		fs.PrintDefaults()
	}
	o := &f.opts
	fs.StringVar(&o.URL, "url", "http://127.0.0.1:8000/"+selfEndpoint+"/mcp", "MCP endpoint URL (…/mcp; …/sse with --transport sse)")
	fs.StringVar(&o.Transport, "transport", transportStreamable, "streamable, sse (legacy HTTP+SSE) or stdio (the server command follows --)")
	fs.StringVar(&o.Client, "client", clientLean, "lean (plain HTTP or pipes, minimal JSON-RPC, results not decoded) or sdk (go-sdk's client)")
	fs.StringVar(&o.Method, "method", methodCallTool, "tools/call (--tool with --args) or tools/list")
	fs.StringVar(&o.Tool, "tool", selfEndpoint+"_execute_sql", "tool to call")
	fs.StringVar(&f.args, "args", `{"sql":"SELECT 1"}`, "tool arguments, a JSON object")
	fs.IntVar(&o.Sessions, "sessions", 16, "concurrent client sessions")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "measured time (after the warm-up)")
	fs.IntVar(&o.Calls, "calls", 0, "stop after this many measured calls instead of after --duration")
	fs.DurationVar(&o.Warmup, "warmup", 2*time.Second, "calls made first and not counted")
	fs.StringVar(&f.auth, "authorization", "", "Authorization header value, e.g. \"Bearer KEY\" (or set "+envAuthorization+")")
	fs.StringVar(&o.Expect, "expect", expectAny, "session mode the server must show: stateless, stateful or any; with --self, the mode it serves")
	fs.StringVar(&o.Protocol, "protocol", "", "MCP protocol version to ask for (default: the client's latest)")
	fs.DurationVar(&o.CallTimeout, "call-timeout", 30*time.Second, "timeout of one call")
	fs.IntVar(&o.ServerPID, "server-pid", 0, "report the CPU time and peak memory of this server process (Linux)")
	fs.IntVar(&o.DatabasePID, "db-pid", 0, "report the CPU time of this PostgreSQL postmaster and its backends per call (Linux;\nwith --raw-dsn found from the connection when the server is local)")
	fs.StringVar(&o.RawDSN, "raw-dsn", "", "baseline: run --args' statement ({\"sql\": …, \"params\": […]}) with pgx straight on this database, no MCP")
	fs.Float64Var(&f.scale, "scale", 0.1, "size of the dataset --self and --pg-only create (1: 100k customers, 10k products, 1M orders, 3M order items)")
	fs.StringVar(&f.workload, "workload", "", "W1 (tools/list), W2 (SELECT 1), W3 (1,000 orders × 6 columns) or W4 (aggregate join, LIMIT 50):\nsets --method and --args;\n"+
		"idle: open --sessions stateful sessions, leave them idle for --duration and report the server's memory per session\n(RSS of --server-pid; Go heap, stacks and goroutines from --metrics-url)")
	fs.BoolVar(&f.idleStream, "idle-stream", true, "--workload idle: each session also holds its GET event stream open, as go-sdk's and the TypeScript SDK's clients do")
	fs.StringVar(&f.metricsURL, "metrics-url", "", "--workload idle: the server's Prometheus endpoint (default: /metrics on --url's host; \"none\" reads none)")
	fs.StringVar(&f.heapProfile, "server-heap-profile", "", "--workload idle: the server runs with PGHERD_HEAP_PROFILE=FILE; before each reading, send it SIGUSR1\n"+
		"(it collects garbage, returns free memory and writes its heap profile to FILE, kept as FILE.before and FILE)")
	fs.IntVar(&f.coldRuns, "cold-start", 0, "start the server command after -- this many times and report each start to the first answered call\n"+
		"(with --transport streamable, --url is where the started server listens; medians of the runs)")
	fs.BoolVar(&f.self, "self", false, "start a throwaway PostgreSQL and an in-process pgherd, and measure them")
	fs.BoolVar(&f.pgOnly, "pg-only", false, "only start the throwaway PostgreSQL with the dataset (--scale), print the URI of its login pgherd_bench and wait for Ctrl-C\n(to measure a separate pgherd serve process against it)")
	fs.StringVar(&f.otlpSink, "otlp-sink", "", "only serve an OTLP/HTTP trace receiver on this address (host:port) that discards what it gets,\nprint its URL and wait for Ctrl-C (to measure a pgherd serve with tracing on)")
	fs.BoolVar(&f.jsonOut, "json", false, "print the report as JSON")
	fs.StringVar(&f.cpuprofile, "cpuprofile", "", "write a CPU profile of this process during the measured window to this file (with --self it includes the server)")
	if err := fs.Parse(argv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usageError{err.Error()}
	}
	switch {
	case f.coldRuns < 0:
		return nil, usageError{fmt.Sprintf("--cold-start %d: use a number of runs", f.coldRuns)}
	case f.coldRuns > 0 && fs.NArg() == 0:
		return nil, usageError{"--cold-start: give the server's command after --, e.g. -- pgherd serve --config pgherd.yaml"}
	case f.coldRuns > 0 && (o.Client != clientLean || o.Transport == transportSSE):
		return nil, usageError{"--cold-start runs with the lean client over streamable or stdio"}
	}
	if o.Transport == transportStdio || f.coldRuns > 0 {
		if fs.NArg() == 0 {
			return nil, usageError{"--transport stdio: give the server's command after --, e.g. -- pgherd stdio --config pgherd.yaml --endpoint app1"}
		}
		o.Command = fs.Args()
	} else if fs.NArg() > 0 {
		return nil, usageError{fmt.Sprintf("unexpected argument %q; every setting is a flag (pgherd-load -h lists them)", fs.Arg(0))}
	}
	var probe map[string]any
	if err := json.Unmarshal([]byte(f.args), &probe); err != nil {
		return nil, usageError{fmt.Sprintf("--args: %v; give a JSON object like '{\"sql\":\"SELECT 1\"}'", err)}
	}
	o.Args = json.RawMessage(f.args)
	if f.workload == workloadIdle {
		f.idle = true
		switch {
		case o.Transport != transportStreamable || o.Client != clientLean:
			return nil, usageError{"--workload idle opens Streamable HTTP sessions with the lean client"}
		case f.coldRuns > 0 || o.RawDSN != "" || f.self:
			return nil, usageError{"--workload idle measures a separate server: not with --cold-start, --raw-dsn or --self"}
		case o.ServerPID <= 0:
			return nil, usageError{"--workload idle reads the server's memory: give --server-pid"}
		}
	} else if f.workload != "" {
		args, ok := workloads[f.workload]
		switch {
		case !ok:
			return nil, usageError{fmt.Sprintf("--workload %q: use W1, W2, W3, W4 or idle", f.workload)}
		case isFlagSet(fs, "args") || isFlagSet(fs, "method"):
			return nil, usageError{"--workload sets --method and --args: give one or the other"}
		case args == "":
			o.Method = methodListTools
		default:
			o.Args = json.RawMessage(args)
		}
	}
	if _, err := datasetStatements(f.scale); err != nil {
		return nil, usageError{err.Error()}
	}
	if o.Transport == transportSSE && !isFlagSet(fs, "client") {
		o.Client = clientSDK
	}
	switch {
	case o.Transport != transportStreamable && o.Transport != transportSSE && o.Transport != transportStdio:
		return nil, usageError{fmt.Sprintf("--transport %q: use streamable, sse or stdio", o.Transport)}
	case o.Client != clientLean && o.Client != clientSDK:
		return nil, usageError{fmt.Sprintf("--client %q: use lean or sdk", o.Client)}
	case o.Client == clientSDK && o.Transport == transportStdio:
		return nil, usageError{"--client sdk --transport stdio: stdio runs with the lean client only"}
	case o.Client == clientLean && o.Transport == transportSSE && isFlagSet(fs, "client"):
		return nil, usageError{"--client lean --transport sse: the legacy transport runs with the sdk client only"}
	case o.Method != methodCallTool && o.Method != methodListTools:
		return nil, usageError{fmt.Sprintf("--method %q: use tools/call or tools/list", o.Method)}
	case o.RawDSN != "" && o.Method != methodCallTool:
		return nil, usageError{"--raw-dsn runs a statement; it has no tools/list"}
	case o.Expect != expectAny && o.Expect != expectStateless && o.Expect != expectStateful:
		return nil, usageError{fmt.Sprintf("--expect %q: use stateless, stateful or any", o.Expect)}
	case o.Sessions < 1:
		return nil, usageError{fmt.Sprintf("--sessions %d: use 1 or more", o.Sessions)}
	case o.Calls < 0:
		return nil, usageError{fmt.Sprintf("--calls %d: use a positive count, or 0 to run for --duration", o.Calls)}
	case o.Calls == 0 && o.Duration <= 0:
		return nil, usageError{"--duration must be positive (or set --calls)"}
	case o.Warmup < 0:
		return nil, usageError{"--warmup must not be negative"}
	}
	if f.self && f.pgOnly || f.otlpSink != "" && (f.self || f.pgOnly) {
		return nil, usageError{"--self, --pg-only and --otlp-sink exclude each other"}
	}
	if o.RawDSN != "" && f.self {
		return nil, usageError{"--raw-dsn and --self exclude each other; --pg-only prints a DSN to use"}
	}
	auth := f.auth
	if auth == "" {
		auth = os.Getenv(envAuthorization)
	}
	if auth != "" {
		o.Header = http.Header{"Authorization": {auth}}
	}
	return f, nil
}

func isFlagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}

func run(argv []string, stdout, stderr io.Writer) int {
	f, err := parseFlags(argv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "pgherd-load:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if f.pgOnly {
		return holdPostgres(ctx, f.scale, stdout, stderr)
	}
	if f.otlpSink != "" {
		return holdOTLPSink(ctx, f.otlpSink, stdout, stderr)
	}

	if f.idle {
		return runIdle(ctx, f, stdout, stderr)
	}
	if f.coldRuns > 0 {
		return runColdStart(ctx, f, stdout, stderr)
	}

	gc := ""
	if f.self {
		gc = tuneGC()
		mode := f.opts.Expect
		if mode == expectAny {
			mode = expectStateless
		}
		logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		fmt.Fprintf(stderr, "pgherd-load: starting PostgreSQL and an in-process pgherd (%s, %s)…\n", mode, gc)
		s, err := startSelf(ctx, mode, f.scale, logger)
		if err != nil {
			fmt.Fprintln(stderr, "pgherd-load: --self:", err)
			return 1
		}
		defer func() {
			if err := s.Stop(); err != nil {
				fmt.Fprintln(stderr, "pgherd-load: stopping:", err)
			}
		}()
		path := "/" + selfEndpoint + "/mcp"
		if f.opts.Transport == transportSSE {
			path = "/" + selfEndpoint + "/sse"
		}
		f.opts.URL = s.Base + path
	}

	if f.cpuprofile != "" {
		pf, err := os.Create(f.cpuprofile)
		if err != nil {
			fmt.Fprintln(stderr, "pgherd-load: --cpuprofile:", err)
			return 1
		}
		defer pf.Close()
		f.opts.CPUProfile = pf
	}
	rep, err := Run(ctx, f.opts)
	if err != nil {
		fmt.Fprintln(stderr, "pgherd-load:", err)
		return 1
	}
	if f.jsonOut {
		out := struct {
			*Report
			Self bool   `json:"self"`
			GC   string `json:"gc,omitempty"`
		}{rep, f.self, gc}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(out)
	} else {
		printReport(stdout, rep, f.self, gc)
	}
	if rep.ToolErrors+rep.ProtocolErrors > 0 || rep.Interrupted {
		return 1
	}
	return 0
}

func printReport(w io.Writer, r *Report, self bool, gc string) {
	switch {
	case r.SessionMode == modeRaw:
		fmt.Fprintf(w, "raw pgx baseline: %s\n", r.Args)
	case r.Method == methodListTools:
		fmt.Fprintf(w, "tools/list → %s\n", cmp.Or(r.URL, r.Transport))
	default:
		fmt.Fprintf(w, "%s %s → %s\n", r.Tool, r.Args, cmp.Or(r.URL, r.Transport))
	}
	if r.SessionMode != modeRaw {
		fmt.Fprintf(w, "transport   %s, %s, protocol %s, %s client\n", r.Transport, r.SessionMode, r.Protocol, r.Client)
	}
	fmt.Fprintf(w, "sessions    %d (connect p50 %s, max %s)\n", r.Sessions, ms(r.Connect.P50), ms(r.Connect.Max))
	fmt.Fprintf(w, "warm-up     %s, %d calls (not counted)\n", r.Warmup, r.WarmupCalls)
	fmt.Fprintf(w, "measured    %s, %d calls: %d ok, %d tool errors, %d protocol errors\n",
		r.Window.Round(time.Millisecond), r.Calls, r.OK, r.ToolErrors, r.ProtocolErrors)
	fmt.Fprintf(w, "throughput  %.0f calls/s (%.0f ok/s)\n", r.CallsPerSec, r.OKPerSec)
	if r.OK > 0 {
		fmt.Fprintf(w, "latency     p50 %s  p90 %s  p99 %s  max %s  (mean %s; successful calls)\n",
			ms(r.Latency.P50), ms(r.Latency.P90), ms(r.Latency.P99), ms(r.Latency.Max), ms(r.Latency.Mean))
		if r.OK < 1000 {
			fmt.Fprintf(w, "            (%d samples: p99 rests on %d of them)\n", r.OK, max(r.OK/100, 1))
		}
	}
	if r.Calls > 0 {
		who := "client"
		if self {
			who = "process (client and server)"
		}
		line := fmt.Sprintf("cpu         %s %s, %s/call", who, r.CPU.Round(time.Millisecond), perCall(r.CPU, r.Calls))
		if r.ServerCPU >= 0 {
			line += fmt.Sprintf("; server %s, %s/call", r.ServerCPU.Round(10*time.Millisecond), perCall(r.ServerCPU, r.Calls))
		}
		if r.DatabaseCPU >= 0 {
			line += fmt.Sprintf("; database %s, %s/call", r.DatabaseCPU.Round(10*time.Millisecond), perCall(r.DatabaseCPU, r.Calls))
		}
		fmt.Fprintln(w, line)
	}
	if r.ServerPeakRSS > 0 {
		fmt.Fprintf(w, "memory      server peak RSS %.1f MiB\n", float64(r.ServerPeakRSS)/(1<<20))
	}
	if r.ResponseBytes > 0 {
		fmt.Fprintf(w, "response    %d bytes (mean of the successful calls)\n", r.ResponseBytes)
	}
	if gc != "" {
		fmt.Fprintf(w, "gc          %s\n", gc)
	}
	for _, e := range r.Errors {
		fmt.Fprintf(w, "error       %6d× %s\n", e.Count, strings.ReplaceAll(e.Message, "\n", " "))
	}
	if r.Interrupted {
		fmt.Fprintln(w, "interrupted: the numbers cover the calls made until then")
	}
}

func perCall(d time.Duration, calls int) time.Duration {
	return (d / time.Duration(calls)).Round(time.Microsecond)
}

// ms prints a duration in milliseconds with about three significant digits.
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v < 10:
		return fmt.Sprintf("%.2fms", v)
	case v < 100:
		return fmt.Sprintf("%.1fms", v)
	}
	return fmt.Sprintf("%.0fms", v)
}

// holdPostgres starts the throwaway cluster with --self's database, prints
// the database URI on stdout and waits for ctx to end.
func holdPostgres(ctx context.Context, scale float64, stdout, stderr io.Writer) int {
	cluster, uri, err := startPostgres(ctx, scale, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		fmt.Fprintln(stderr, "pgherd-load: --pg-only:", err)
		return 1
	}
	defer cluster.Stop()
	fmt.Fprintln(stdout, uri)
	fmt.Fprintln(stderr, "pgherd-load: PostgreSQL is running; Ctrl-C stops it and removes its files")
	<-ctx.Done()
	return 0
}

// runIdle runs --workload idle and prints its report.
func runIdle(ctx context.Context, f *flags, stdout, stderr io.Writer) int {
	metrics := f.metricsURL
	switch metrics {
	case "":
		metrics = metricsURLFor(f.opts.URL)
	case "none":
		metrics = ""
	}
	rep, err := RunIdle(ctx, IdleOptions{URL: f.opts.URL, Header: f.opts.Header, Sessions: f.opts.Sessions, Stream: f.idleStream,
		Idle: f.opts.Duration, ServerPID: f.opts.ServerPID, MetricsURL: metrics, HeapProfile: f.heapProfile})
	return writeReport(stdout, stderr, f.jsonOut, rep, err, printIdle)
}

func printIdle(w io.Writer, r *IdleReport) {
	stream := "without the GET event stream"
	if r.Stream {
		stream = "each with its GET event stream open"
	}
	fmt.Fprintf(w, "idle sessions → %s\n", r.URL)
	fmt.Fprintf(w, "sessions    %d stateful, protocol %s, %s\n", r.Sessions, r.Protocol, stream)
	fmt.Fprintf(w, "opened      in %s (per session p50 %s, max %s; %d at a time), then idle %s\n",
		r.OpenAll.Round(time.Millisecond), ms(r.Open.P50), ms(r.Open.Max), openConcurrency, r.Idle)
	row := func(name string, before, after MemoryReading) {
		fmt.Fprintf(w, "%-11s %s\n", name, memoryDelta(before, after, r.Sessions))
	}
	row("as found", r.Before, r.After)
	if r.Collected {
		row("collected", r.BeforeGC, r.AfterGC)
		row("closed", r.BeforeGC, r.ClosedGC)
	}
}

// memoryDelta describes two readings and the difference per session.
func memoryDelta(before, after MemoryReading, sessions int) string {
	kib := func(v int64) string { return fmt.Sprintf("%.1f KiB", float64(v)/1024/float64(sessions)) }
	mib := func(v int64) string { return fmt.Sprintf("%.1f", float64(v)/(1<<20)) }
	var parts []string
	if before.RSS >= 0 && after.RSS >= 0 {
		parts = append(parts, fmt.Sprintf("RSS %s → %s MiB (%s/session)", mib(before.RSS), mib(after.RSS), kib(after.RSS-before.RSS)))
	}
	if before.HeapInuse >= 0 && after.HeapInuse >= 0 {
		parts = append(parts, fmt.Sprintf("heap %s → %s MiB (%s)", mib(before.HeapInuse), mib(after.HeapInuse), kib(after.HeapInuse-before.HeapInuse)))
	}
	if before.StackInuse >= 0 && after.StackInuse >= 0 {
		parts = append(parts, fmt.Sprintf("stacks %s → %s MiB (%s)", mib(before.StackInuse), mib(after.StackInuse), kib(after.StackInuse-before.StackInuse)))
	}
	if before.Goroutines >= 0 && after.Goroutines >= 0 {
		parts = append(parts, fmt.Sprintf("goroutines %d → %d (%.1f/session)", before.Goroutines, after.Goroutines,
			float64(after.Goroutines-before.Goroutines)/float64(sessions)))
	}
	return strings.Join(parts, "; ")
}

// runColdStart runs --cold-start and prints its report.
func runColdStart(ctx context.Context, f *flags, stdout, stderr io.Writer) int {
	o := f.opts
	rep, err := RunColdStart(ctx, ColdOptions{Command: o.Command, Transport: o.Transport, URL: o.URL, Header: o.Header, Protocol: o.Protocol,
		Runs: f.coldRuns, Tool: o.Tool, Args: o.Args, Method: o.Method})
	return writeReport(stdout, stderr, f.jsonOut, rep, err, printCold)
}

func printCold(w io.Writer, r *ColdReport) {
	fmt.Fprintf(w, "cold start  %s (%s, protocol %s), %d runs, load average %.2f → %.2f\n", r.Command, r.Transport, r.Protocol, len(r.Runs), r.Load[0], r.Load[1])
	line := func(name string, c ColdRun) {
		listen := "–"
		if c.Listen > 0 {
			listen = ms(c.Listen)
		}
		cpu, wait := "–", "–"
		if c.ServerCPU >= 0 {
			cpu, wait = ms(c.ServerCPU), ms(c.RunQueue)
		}
		fmt.Fprintf(w, "%-11s listening %s  handshake %s  first call %s  server CPU %s  waiting for a CPU %s  RSS %.1f MiB\n",
			name, listen, ms(c.Handshake), ms(c.FirstCall), cpu, wait, float64(c.RSS)/(1<<20))
	}
	line("median", r.Median)
	for i, c := range r.Runs {
		line(fmt.Sprintf("run %d", i+1), c)
	}
	fmt.Fprintf(w, "stop        median %s from SIGTERM (or stdin closed) to exit\n", ms(r.Stopped))
}

// writeReport prints a mode's report, as indented JSON with --json, else
// as text; an error instead is printed to stderr and exits 1.
func writeReport[R any](stdout, stderr io.Writer, asJSON bool, rep R, err error, text func(io.Writer, R)) int {
	if err != nil {
		fmt.Fprintln(stderr, "pgherd-load:", err)
		return 1
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
		return 0
	}
	text(stdout, rep)
	return 0
}
