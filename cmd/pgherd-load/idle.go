package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// The idle workload (--workload idle) measures what a stateful session
// costs the server while it does nothing: the server's memory is read,
// --sessions sessions are opened (initialize, notifications/initialized
// and, unless --idle-stream=false, the GET event stream that go-sdk's and
// the TypeScript SDK's clients open right after), they stay idle for
// --duration, and the memory is read again. The client keeps no idle
// keep-alive connection, so what is measured is the session and, with the
// stream, the one connection it holds open.

// workloadIdle is --workload's name for it.
const workloadIdle = "idle"

// IdleOptions configure [RunIdle].
type IdleOptions struct {
	URL      string
	Header   http.Header
	Sessions int
	// Stream: each session also holds the GET event stream open.
	Stream bool
	// Idle is how long the sessions stay idle before the memory is read.
	Idle time.Duration
	// ServerPID is the server process (its RSS; Linux); required.
	ServerPID int
	// MetricsURL is the server's Prometheus endpoint, for the Go heap,
	// stacks and goroutines; "" reads none.
	MetricsURL string
	// HeapProfile is the server's PGHERD_HEAP_PROFILE file: before each
	// reading the server is sent SIGUSR1, which makes it collect garbage,
	// return free memory to the operating system and write its heap profile
	// there. The profile with the sessions open stays in HeapProfile, the
	// one before them is moved to HeapProfile + ".before" (for pprof -base).
	HeapProfile string
}

// MemoryReading is the server's memory at one moment. -1: unknown.
type MemoryReading struct {
	RSS        int64 `json:"rss_bytes"`
	HeapInuse  int64 `json:"heap_inuse_bytes"`
	StackInuse int64 `json:"stack_inuse_bytes"`
	Goroutines int64 `json:"goroutines"`
}

// IdleReport is the outcome of [RunIdle].
type IdleReport struct {
	URL      string  `json:"url"`
	Protocol string  `json:"protocol"`
	Sessions int     `json:"sessions"`
	Stream   bool    `json:"stream"`
	Open     Summary `json:"open"` // per session: initialize … stream open
	// OpenAll is the time to open every session (16 at a time).
	OpenAll time.Duration `json:"open_all_ns"`
	Idle    time.Duration `json:"idle_ns"`
	// Before and After are the readings as found: the heap holds whatever
	// garbage the last collection left.
	Before MemoryReading `json:"before"`
	After  MemoryReading `json:"after"`
	// Collected: the readings after the server collected garbage and
	// returned free memory (with HeapProfile); Closed after the sessions
	// were closed again (DELETE).
	Collected bool          `json:"collected"`
	BeforeGC  MemoryReading `json:"before_gc"`
	AfterGC   MemoryReading `json:"after_gc"`
	ClosedGC  MemoryReading `json:"closed_gc"`
}

// openConcurrency is how many sessions are being opened at once.
const openConcurrency = 16

// idleSession is one open session and its event stream.
type idleSession struct {
	c          *leanHTTP
	stopStream context.CancelFunc
	streamDone chan struct{}
}

// RunIdle opens the sessions, holds them idle and reads the server's
// memory around them. It returns an error when a session could not be
// opened or the server is not stateful.
func RunIdle(ctx context.Context, opts IdleOptions) (*IdleReport, error) {
	if opts.ServerPID <= 0 {
		return nil, errors.New("--workload idle reads the server's memory: give --server-pid")
	}
	rep := &IdleReport{URL: opts.URL, Sessions: opts.Sessions, Stream: opts.Stream, Idle: opts.Idle}
	tr := &http.Transport{MaxIdleConnsPerHost: openConcurrency, DisableCompression: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}

	read := func() MemoryReading { return readMemory(ctx, hc, opts.ServerPID, opts.MetricsURL, opts.Header) }
	collect := func() (MemoryReading, error) {
		if err := signalHeapProfile(ctx, opts.ServerPID, opts.HeapProfile); err != nil {
			return MemoryReading{}, err
		}
		return read(), nil
	}
	rep.Collected = opts.HeapProfile != ""
	if rep.Collected {
		var err error
		if rep.BeforeGC, err = collect(); err != nil {
			return nil, err
		}
		if err := os.Rename(opts.HeapProfile, opts.HeapProfile+".before"); err != nil {
			return nil, err
		}
	}
	rep.Before = read()

	sessions := make([]*idleSession, opts.Sessions)
	took := make([]time.Duration, opts.Sessions)
	errs := make([]error, opts.Sessions)
	defer func() {
		var wg sync.WaitGroup
		next := make(chan *idleSession)
		for range openConcurrency {
			wg.Go(func() {
				for s := range next {
					s.close()
				}
			})
		}
		for _, s := range sessions {
			if s != nil {
				next <- s
			}
		}
		close(next)
		wg.Wait()
	}()
	began := time.Now()
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(openConcurrency, opts.Sessions) {
		wg.Go(func() {
			for i := range next {
				t := time.Now()
				sessions[i], errs[i] = openIdle(ctx, hc, opts)
				took[i] = time.Since(t)
			}
		})
	}
	for i := range opts.Sessions {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	rep.OpenAll = time.Since(began)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("interrupted while opening sessions: %w", err)
	}
	rep.Open = summarize(took)
	rep.Protocol = sessions[0].c.protocol
	// Only the event streams keep connections open now.
	tr.CloseIdleConnections()

	select {
	case <-time.After(opts.Idle):
	case <-ctx.Done():
		return nil, fmt.Errorf("interrupted while the sessions were idle: %w", ctx.Err())
	}
	for _, s := range sessions {
		if s.streamDone != nil {
			select {
			case <-s.streamDone:
				return nil, fmt.Errorf("session %s: the server ended its event stream while it was idle", s.c.session)
			default:
			}
		}
	}
	rep.After = read()
	if rep.Collected {
		var err error
		if rep.AfterGC, err = collect(); err != nil {
			return nil, err
		}
	}

	if rep.Collected {
		for i, s := range sessions {
			s.close()
			sessions[i] = nil
		}
		tr.CloseIdleConnections()
		// The profile with the sessions open is the one worth keeping.
		saved := opts.HeapProfile + ".open"
		if err := os.Rename(opts.HeapProfile, saved); err != nil {
			return nil, err
		}
		var err error
		rep.ClosedGC, err = collect()
		if err == nil {
			err = os.Rename(saved, opts.HeapProfile)
		}
		if err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// openIdle opens one stateful session and, with opts.Stream, its event
// stream.
func openIdle(ctx context.Context, hc *http.Client, opts IdleOptions) (*idleSession, error) {
	c, err := connectLeanHTTP(ctx, hc, Options{URL: opts.URL, Header: opts.Header, Protocol: protocolSession, Method: methodListTools})
	if err != nil {
		return nil, err
	}
	s := &idleSession{c: c}
	if c.session == "" {
		s.close()
		return nil, errors.New("the server issued no session id: idle sessions need server.session_mode: stateful")
	}
	if opts.Stream {
		if err := s.openStream(hc); err != nil {
			s.close()
			return nil, err
		}
	}
	return s, nil
}

// openStream opens the session's GET event stream, as go-sdk's client does
// after initialization, and drains it in a goroutine until closed.
func (s *idleSession) openStream(hc *http.Client) error {
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.c.url, nil)
	if err != nil {
		cancel()
		return err
	}
	for k, v := range s.c.header {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Mcp-Session-Id", s.c.session)
	req.Header.Set("Mcp-Protocol-Version", s.c.protocol)
	resp, err := hc.Do(req)
	if err != nil {
		cancel()
		return fmt.Errorf("opening the event stream: %w", err)
	}
	if resp.StatusCode != http.StatusOK || !bytes.HasPrefix([]byte(resp.Header.Get("Content-Type")), []byte("text/event-stream")) {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		resp.Body.Close()
		cancel()
		return fmt.Errorf("opening the event stream: HTTP %s %s: %s", resp.Status, resp.Header.Get("Content-Type"), bytes.TrimSpace(body))
	}
	s.stopStream = cancel
	s.streamDone = make(chan struct{})
	go func() {
		defer close(s.streamDone)
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body) // until the stream is closed by either side
	}()
	return nil
}

// close ends the stream and the session (DELETE).
func (s *idleSession) close() {
	if s.stopStream != nil {
		s.stopStream()
		<-s.streamDone
	}
	s.c.close()
}

// readMemory reads the server's RSS and, from its metrics, heap, stacks
// and goroutines.
func readMemory(ctx context.Context, hc *http.Client, pid int, metricsURL string, header http.Header) MemoryReading {
	m := MemoryReading{RSS: memStatus(pid, "VmRSS"), HeapInuse: -1, StackInuse: -1, Goroutines: -1}
	if metricsURL == "" {
		return m
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metricsURL, nil)
	if err != nil {
		return m
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := hc.Do(req)
	if err != nil {
		return m
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return m
	}
	want := map[string]*int64{
		"go_memstats_heap_inuse_bytes":  &m.HeapInuse,
		"go_memstats_stack_inuse_bytes": &m.StackInuse,
		"go_goroutines":                 &m.Goroutines,
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, ok := bytes.Cut(sc.Bytes(), []byte(" "))
		if p := want[string(name)]; ok && p != nil {
			if v, err := strconv.ParseFloat(string(bytes.TrimSpace(value)), 64); err == nil {
				*p = int64(v)
			}
		}
	}
	return m
}

// metricsURLFor is the default metrics URL for an MCP endpoint URL: /metrics
// on the same origin (pgherd's default server.metrics.path).
func metricsURLFor(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return ""
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: "/metrics"}).String()
}

// signalHeapProfile asks the server for a heap profile (SIGUSR1, see
// pgherd's PGHERD_HEAP_PROFILE) and waits until path has been replaced.
func signalHeapProfile(ctx context.Context, pid int, path string) error {
	before, _ := os.Stat(path)
	if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil {
		return fmt.Errorf("signalling the server for a heap profile: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if st, err := os.Stat(path); err == nil && (before == nil || !os.SameFile(before, st)) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the server wrote no heap profile to %s within 30s; start it with PGHERD_HEAP_PROFILE=%s", path, path)
		case <-tick.C:
		}
	}
}
