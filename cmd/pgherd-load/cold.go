package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The cold-start mode (--cold-start N) starts the server command N times
// and measures each start to the first answered tools/call: the time from
// the exec to the listening socket (HTTP), to the answered handshake
// (initialize, or server/discover for a sessionless protocol), and to the
// answered call, with the server's own CPU time until then and the time
// its threads waited for a CPU (Linux schedstat; on a shared machine the
// wall time is mostly that wait). Each server is stopped (SIGTERM, or its
// stdin closed) before the next starts.

// ColdOptions configure [RunColdStart].
type ColdOptions struct {
	Command []string // the server; no shell
	// Transport is transportStreamable (URL is where the started server
	// listens) or transportStdio.
	Transport string
	URL       string
	Header    http.Header
	Protocol  string // "" probes as go-sdk's client does
	Runs      int
	Tool      string
	Args      []byte
	Method    string
}

// ColdRun is one start.
type ColdRun struct {
	Listen    time.Duration `json:"listen_ns"`    // exec → TCP connection accepted (HTTP); 0 for stdio
	Handshake time.Duration `json:"handshake_ns"` // exec → initialize (or server/discover) answered
	FirstCall time.Duration `json:"first_call_ns"`
	// ServerCPU is the server's CPU time from exec to the answered call;
	// RunQueue the time its threads were ready but waiting for a CPU (both
	// from /proc/PID/task/*/schedstat; -1 when unknown).
	ServerCPU time.Duration `json:"server_cpu_ns"`
	RunQueue  time.Duration `json:"run_queue_ns"`
	RSS       int64         `json:"rss_bytes"` // at the answered call
}

// ColdReport is the outcome of [RunColdStart]: every run, and medians.
type ColdReport struct {
	Command   string        `json:"command"`
	Transport string        `json:"transport"`
	Protocol  string        `json:"protocol"`
	Runs      []ColdRun     `json:"runs"`
	Median    ColdRun       `json:"median"`
	Load      [2]float64    `json:"load_average"` // 1-minute, before and after the runs
	Stopped   time.Duration `json:"stop_ns"`      // median time for a server to exit once told to
}

// RunColdStart starts the server opts.Runs times; a run whose call fails
// is an error (the server's stderr tail says why).
func RunColdStart(ctx context.Context, opts ColdOptions) (*ColdReport, error) {
	rep := &ColdReport{Command: strings.Join(opts.Command, " "), Transport: opts.Transport}
	rep.Load[0] = loadAverage()
	var stops []time.Duration
	for i := range opts.Runs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		run, protocol, stop, err := coldStart(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("cold start %d of %d: %w", i+1, opts.Runs, err)
		}
		rep.Protocol = protocol
		rep.Runs = append(rep.Runs, run)
		stops = append(stops, stop)
	}
	rep.Load[1] = loadAverage()
	median := func(f func(ColdRun) time.Duration) time.Duration {
		var d []time.Duration
		for _, r := range rep.Runs {
			d = append(d, f(r))
		}
		return summarize(d).P50
	}
	rep.Median = ColdRun{
		Listen:    median(func(r ColdRun) time.Duration { return r.Listen }),
		Handshake: median(func(r ColdRun) time.Duration { return r.Handshake }),
		FirstCall: median(func(r ColdRun) time.Duration { return r.FirstCall }),
		ServerCPU: median(func(r ColdRun) time.Duration { return r.ServerCPU }),
		RunQueue:  median(func(r ColdRun) time.Duration { return r.RunQueue }),
		RSS:       int64(median(func(r ColdRun) time.Duration { return time.Duration(r.RSS) })),
	}
	rep.Stopped = summarize(stops).P50
	return rep, nil
}

// coldStart makes one run.
func coldStart(ctx context.Context, opts ColdOptions) (run ColdRun, protocol string, stopped time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	req := newRequest(opts.Method, opts.Tool, opts.Args, false)
	if opts.Transport == transportStdio {
		begin := time.Now()
		s, err := startStdio(ctx, opts.Command)
		if err != nil {
			return run, "", 0, err
		}
		run.Handshake = time.Since(begin)
		o := (&stdioCaller{s: s, req: req}).call(ctx)
		run.FirstCall = time.Since(begin)
		run.ServerCPU, run.RunQueue = schedCPU(s.Pid())
		run.RSS = memStatus(s.Pid(), "VmRSS")
		t := time.Now()
		s.close()
		stopped = time.Since(t)
		if o.kind != callOK {
			return run, "", 0, fmt.Errorf("the first call failed: %s (stderr: %s)", o.msg, s.stderrTail())
		}
		return run, s.protocol, stopped, nil
	}

	u, err := url.Parse(opts.URL)
	if err != nil || u.Host == "" {
		return run, "", 0, fmt.Errorf("--url %q: give the URL the started server serves", opts.URL)
	}
	addr := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		return run, "", 0, fmt.Errorf("something already listens on %s: stop it, or give the started server another port", addr)
	}
	var stderr tailWriter
	cmd := exec.Command(opts.Command[0], opts.Command[1:]...)
	cmd.Stderr = &stderr
	begin := time.Now()
	if err := cmd.Start(); err != nil {
		return run, "", 0, fmt.Errorf("starting %s: %w", opts.Command[0], err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		t := time.Now()
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		stopped = time.Since(t)
		if err != nil {
			err = fmt.Errorf("%w (stderr: %s)", err, stderr.String())
		}
	}()

	// Wait for the listener: a refused connection is retried every 2 ms
	// (the figures' resolution; each attempt costs the client tens of
	// microseconds of the CPU the starting server needs).
	for {
		c, derr := net.DialTimeout("tcp", addr, time.Second)
		if derr == nil {
			c.Close()
			break
		}
		select {
		case e := <-exited:
			exited <- e
			return run, "", 0, fmt.Errorf("the server exited before listening: %v", e)
		case <-ctx.Done():
			return run, "", 0, fmt.Errorf("the server did not listen on %s: %w", addr, ctx.Err())
		case <-time.After(2 * time.Millisecond):
		}
	}
	run.Listen = time.Since(begin)
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	c, err := connectLeanHTTP(ctx, &http.Client{Transport: tr}, Options{URL: opts.URL, Header: opts.Header, Protocol: opts.Protocol,
		Method: opts.Method, Tool: opts.Tool, Args: opts.Args})
	if err != nil {
		return run, "", 0, err
	}
	run.Handshake = time.Since(begin)
	o := c.call(ctx)
	run.FirstCall = time.Since(begin)
	run.ServerCPU, run.RunQueue = schedCPU(cmd.Process.Pid)
	run.RSS = memStatus(cmd.Process.Pid, "VmRSS")
	c.close()
	if o.kind != callOK {
		return run, "", 0, fmt.Errorf("the first call failed: %s", o.msg)
	}
	return run, c.protocol, 0, nil
}

// schedCPU sums the CPU time and the run-queue wait of every thread of pid
// (/proc/PID/task/*/schedstat, nanoseconds); -1, -1 when unknown.
func schedCPU(pid int) (cpu, wait time.Duration) {
	dirs, err := filepath.Glob(filepath.Join("/proc", strconv.Itoa(pid), "task", "*", "schedstat"))
	if err != nil || len(dirs) == 0 {
		return -1, -1
	}
	for _, f := range dirs {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		fields := strings.Fields(string(b))
		if len(fields) < 2 {
			continue
		}
		run, err1 := strconv.ParseInt(fields[0], 10, 64)
		queued, err2 := strconv.ParseInt(fields[1], 10, 64)
		if errors.Join(err1, err2) != nil {
			continue
		}
		cpu += time.Duration(run)
		wait += time.Duration(queued)
	}
	return cpu, wait
}

// loadAverage is the 1-minute load average, or -1.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}
