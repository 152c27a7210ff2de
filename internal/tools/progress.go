package tools

import (
	"context"
	"reflect"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Intervals of progress notifications.
const (
	// ProgressInterval is how often [Progress.While] reports: often enough
	// that a client sees at least one notification a second.
	ProgressInterval = 500 * time.Millisecond
	// reportInterval is the least time between two notifications sent by
	// [Progress.Report] (the last one, progress == total, always goes).
	reportInterval = 100 * time.Millisecond
)

// Progress reports one request's progress to the client as
// notifications/progress. It sends nothing unless the client put a progress
// token in the request's _meta; a nil *Progress is a no-op, so callers need
// not check. It is safe for concurrent use.
//
// Tools use it three ways: [Progress.While] while one long statement runs
// (execute_sql, explain_query), [Progress.Step] for work in steps (catalog
// reads), [Progress.Report] for counted work (health checks). Every
// notification's progress is higher than the one before. ctx must be the
// request's context, so that over Streamable HTTP the notification travels
// on the request's own stream. Failures to send are ignored: progress is
// advisory, and a client that went away is cancelled, not told.
type Progress struct {
	session *mcp.ServerSession
	token   any

	mu    sync.Mutex // held while sending, so notifications leave in order
	last  time.Time
	high  float64
	total float64
}

// NewProgress returns the reporter of req, or nil when the client asked for
// no progress.
func NewProgress(req mcp.Request) *Progress {
	if req == nil {
		return nil
	}
	if v := reflect.ValueOf(req); v.Kind() == reflect.Pointer && v.IsNil() {
		return nil
	}
	p, ok := req.GetParams().(interface{ GetProgressToken() any })
	if !ok || isNilPointer(p) {
		return nil
	}
	token := p.GetProgressToken()
	ss, isServer := req.GetSession().(*mcp.ServerSession)
	if token == nil || !isServer || ss == nil {
		return nil
	}
	return &Progress{session: ss, token: token}
}

// Report sends progress (of total, zero when unknown) with a message, at
// most every 100 ms, and only when progress has grown.
func (p *Progress) Report(ctx context.Context, progress, total float64, msg string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	final := total > 0 && progress >= total
	if progress <= p.high || (!final && time.Since(p.last) < reportInterval) {
		return
	}
	p.send(ctx, progress, total, msg)
}

// SetTotal announces how many steps [Progress.Step] will report (0:
// unknown).
func (p *Progress) SetTotal(n int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.total = float64(n)
	p.mu.Unlock()
}

// Step reports that the next step began, described by msg.
func (p *Progress) Step(ctx context.Context, msg string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.send(ctx, p.high+1, p.total, msg)
}

// send notifies the client. p.mu must be held.
func (p *Progress) send(ctx context.Context, progress, total float64, msg string) {
	p.high, p.last = progress, time.Now()
	_ = p.session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
		ProgressToken: p.token, Progress: progress, Total: total, Message: msg,
	})
}

// While reports status() at once and then every [ProgressInterval] as a
// step, until the returned stop is called; stop waits for the reporter, so
// nothing is sent after it returns.
func (p *Progress) While(ctx context.Context, status func() string) (stop func()) {
	if p == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(ProgressInterval)
		defer tick.Stop()
		p.Step(ctx, status())
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
				p.Step(ctx, status())
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			<-finished
		})
	}
}
