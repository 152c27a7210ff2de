package app

import "time"

// idleRelease is how long the server must have received no MCP request,
// after serving some, before it returns the memory the garbage collector
// freed to the operating system.
const idleRelease = 10 * time.Second

// releaseWhenIdle returns freed memory to the operating system once the
// server goes quiet: at every tick it looks at the request count (activity),
// and the first time it finds no new request after a period with some, it
// calls release: debug.FreeOSMemory (a full collection, then the freed
// pages go back).
//
// Why: pgherd runs with GOGC 400 (cmd/pgherd), so the heap may grow to five
// times what is live before a collection, and the runtime keeps that memory
// mapped. A burst of requests (1,000 sessions opened: go-sdk decodes each
// message with fresh 32 KiB buffers) leaves the process's RSS at several
// times what its idle sessions hold, and an idle server makes no garbage
// that would start the next collection. Under steady load it never runs;
// after a burst it costs one full collection. The returned function stops
// it and waits for it to end.
func releaseWhenIdle(activity func() uint64, ticks <-chan time.Time, release func()) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		last, busy := activity(), false
		for {
			select {
			case <-done:
				return
			case <-ticks:
			}
			switch n := activity(); {
			case n != last:
				last, busy = n, true
			case busy:
				busy = false
				release()
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}
