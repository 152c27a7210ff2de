package httpserver

import (
	"testing"

	"github.com/pgherd/pgherd/internal/cancel"
)

// TestReconnectBeforeGrace: a client that lost a stream reconnects well
// before the calls of that stream are cancelled for want of a resume.
func TestReconnectBeforeGrace(t *testing.T) {
	if 2*reconnectDelay > cancel.ResumeGrace {
		t.Errorf("reconnect delay %s is more than half cancel.ResumeGrace %s: resuming clients would lose their calls", reconnectDelay, cancel.ResumeGrace)
	}
}
