// Package audit is the audit-log observer: one JSON line per tool call and
// per refused authentication, appended to a file or written to standard
// output.
//
// A record says who (tenant, user, how they authenticated) did what (the
// endpoint, the tool, the SQL text and the validator's verdict) with what
// outcome (SQLSTATE, rows, bytes, duration). It never holds result data,
// never an error message from PostgreSQL (which can quote row values), and
// parameter values only with Options.IncludeParams.
//
// Calls never wait for the disk: records go through a bounded buffer to a
// writer goroutine. When the buffer is full a call waits at most
// Options.MaxWait for room, then its record is dropped and counted
// ([Sink.Dropped], exported as a metric).
//
// Rotation is left to the platform: the file is opened with O_APPEND, so
// logrotate's copytruncate works (the next record lands at the start of the
// truncated file); in a container, write to stdout and let the runtime
// rotate.
package audit

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pgherd/pgherd/internal/observe"
)

// Defaults for zero [Options] fields.
const (
	DefaultBuffer  = 10_000
	DefaultMaxWait = 10 * time.Millisecond
)

// Options configure [New] and [Open].
type Options struct {
	// IncludeParams records statement parameter values.
	IncludeParams bool
	// Buffer is how many records may wait for the writer; default
	// DefaultBuffer.
	Buffer int
	// MaxWait is the longest a call waits for room in a full buffer; zero
	// means never wait (drop at once). Negative is the same as zero.
	MaxWait time.Duration
	// Logger receives write errors (at most one a minute); nil discards.
	Logger *slog.Logger
}

// Sink is the audit observer. It is safe for concurrent use.
type Sink struct {
	opts   Options
	ch     chan entry
	done   chan struct{}
	w      *bufio.Writer
	closer io.Closer // the file Open opened; nil for New's writer

	mu     sync.RWMutex // held to send; Close takes it exclusively
	closed bool

	dropped atomic.Uint64
	written atomic.Uint64
	failed  atomic.Uint64

	lastErrLog time.Time // writer goroutine only
}

var (
	_ observe.AuthObserver = (*Sink)(nil)
	_ observe.Closer       = (*Sink)(nil)
)

// entry is one record waiting for the writer.
type entry struct {
	call *observe.Call // ended: nothing writes to it any more
	auth *observe.AuthFailure
}

// Open appends records to the file at path, creating it (mode 0600) if
// needed.
func Open(path string, opts Options) (*Sink, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the audit log: %w; check audit.path and the directory's permissions", err)
	}
	s := New(f, opts)
	s.closer = f
	return s, nil
}

// New writes records to w (standard output, a test's buffer). Close
// flushes it but does not close it.
func New(w io.Writer, opts Options) *Sink {
	if opts.Buffer <= 0 {
		opts.Buffer = DefaultBuffer
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Sink{
		opts: opts,
		ch:   make(chan entry, opts.Buffer),
		done: make(chan struct{}),
		w:    bufio.NewWriterSize(w, 64<<10),
	}
	go s.run()
	return s
}

// ObserveCall queues the call's record.
func (s *Sink) ObserveCall(_ context.Context, c *observe.Call) { s.send(entry{call: c}) }

// ObserveAuthFailure queues the failure's record.
func (s *Sink) ObserveAuthFailure(_ context.Context, f *observe.AuthFailure) {
	cp := *f
	s.send(entry{auth: &cp})
}

// Dropped returns how many records were dropped because the buffer stayed
// full for MaxWait (or arrived after Close).
func (s *Sink) Dropped() uint64 { return s.dropped.Load() }

// Written returns how many records were written.
func (s *Sink) Written() uint64 { return s.written.Load() }

// Failed returns how many records could not be written (the destination
// returned an error).
func (s *Sink) Failed() uint64 { return s.failed.Load() }

func (s *Sink) send(e entry) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		s.dropped.Add(1)
		return
	}
	select {
	case s.ch <- e:
		return
	default:
	}
	if s.opts.MaxWait <= 0 {
		s.dropped.Add(1)
		return
	}
	t := time.NewTimer(s.opts.MaxWait)
	defer t.Stop()
	select {
	case s.ch <- e:
	case <-t.C:
		s.dropped.Add(1)
	}
}

// run writes records until the channel is closed, flushing whenever it has
// caught up.
func (s *Sink) run() {
	defer close(s.done)
	enc := json.NewEncoder(s.w)
	enc.SetEscapeHTML(false)
	var rec Record
	write := func(e entry) {
		rec.fill(e, s.opts.IncludeParams)
		if err := enc.Encode(&rec); err != nil {
			s.failure(err)
			return
		}
		s.written.Add(1)
	}
	for e := range s.ch {
		write(e)
		// Write what else is queued, then flush once.
		for drained := false; !drained; {
			select {
			case next, ok := <-s.ch:
				if ok {
					write(next)
				} else {
					drained = true
				}
			default:
				drained = true
			}
		}
		if err := s.w.Flush(); err != nil {
			s.failure(err)
		}
	}
}

func (s *Sink) failure(err error) {
	s.failed.Add(1)
	if time.Since(s.lastErrLog) > time.Minute {
		s.lastErrLog = time.Now()
		s.opts.Logger.Error("writing the audit log failed; records are being lost", "error", err, "failed", s.failed.Load())
	}
}

// Close stops accepting records, writes those already queued, and closes
// the file Open opened. It waits until ctx ends at most; records still
// queued then are lost. It is safe to call more than once.
func (s *Sink) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.ch)
	s.mu.Unlock()
	select {
	case <-s.done:
	case <-ctx.Done():
		return fmt.Errorf("closing the audit log: %d records still queued: %w", len(s.ch), context.Cause(ctx))
	}
	if s.closer != nil {
		if err := s.closer.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
			return fmt.Errorf("closing the audit log: %w", err)
		}
	}
	return nil
}
