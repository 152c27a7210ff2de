package tools

import (
	"context"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// progressInterval is the least time between two progress notifications
// of one call (the last one, progress == total, always goes).
const progressInterval = 100 * time.Millisecond

// Progress reports MCP progress notifications for one tool call. It sends
// nothing unless the client put a progress token in the request's _meta;
// a nil *Progress is a no-op. Safe for concurrent use.
type Progress struct {
	session *mcp.ServerSession
	token   any

	mu   sync.Mutex
	last time.Time
	high float64
}

// NewProgress returns the reporter of req, or nil when the client asked for
// no progress.
func NewProgress(req *mcp.CallToolRequest) *Progress {
	if req == nil || req.Session == nil || req.Params == nil {
		return nil
	}
	token := req.Params.GetProgressToken()
	if token == nil {
		return nil
	}
	return &Progress{session: req.Session, token: token}
}

// Report sends progress (of total, zero when unknown) with a message, at
// most every 100 ms, and only when progress has grown. Failures to send are
// ignored: progress is advisory. ctx must be the call's context, so that
// over stateless HTTP the notification travels on the call's own response
// stream.
func (p *Progress) Report(ctx context.Context, progress, total float64, msg string) {
	if p == nil {
		return
	}
	p.mu.Lock() // held while sending, so notifications leave in order
	defer p.mu.Unlock()
	final := total > 0 && progress >= total
	if progress <= p.high || (!final && time.Since(p.last) < progressInterval) {
		return
	}
	p.high, p.last = progress, time.Now()
	_ = p.session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
		ProgressToken: p.token, Progress: progress, Total: total, Message: msg,
	})
}
