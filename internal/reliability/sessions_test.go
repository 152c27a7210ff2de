package reliability_test

import (
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pgherd/pgherd/internal/pgtest"
)

const initializeBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"sessions","version":"0"}}}`

// openSession initializes one stateful session with key and returns its id,
// or the HTTP status and body of the refusal. (The session exists once
// initialize is answered; the initialized notification is left out to
// halve the requests.)
func openSession(hc *http.Client, base, key string) (id string, status int, body string) {
	req, _ := http.NewRequest(http.MethodPost, base+"/herd/mcp", strings.NewReader(initializeBody))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := hc.Do(req)
	if err != nil {
		return "", 0, err.Error()
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	id = resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != http.StatusOK || id == "" {
		return "", resp.StatusCode, string(data)
	}
	return id, http.StatusOK, ""
}

// heap returns the bytes of heap and goroutine stacks in use after a full
// collection.
func heap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

// TestStatefulSessionCaps: clients open stateful sessions until the caps
// answer. server.max_sessions_per_tenant refuses a tenant's session beyond
// its share with 429; server.max_sessions refuses any session beyond the
// process's cap with 503; both with Retry-After and a JSON-RPC error that
// names the key. Memory per session is measured, and comes back once
// session_timeout has closed them; new sessions are accepted again then.
// Short form: 1,000 sessions and a 40 s session_timeout; long form: 10,000
// and 2 minutes.
func TestStatefulSessionCaps(t *testing.T) {
	n := pick(1000, 10000)
	perTenant := n * 6 / 10
	db := pgtest.NewDatabase(t)
	timeout := pick(40*time.Second, 2*time.Minute)
	s := start(t, fmt.Sprintf(`server: {port: 0, session_mode: stateful, session_timeout: %s, max_sessions: %d, max_sessions_per_tenant: %d}
auth:
  mode: api_key
  api_keys:
    - {name: a, key: "${A_KEY}", tenant: a}
    - {name: b, key: "${B_KEY}", tenant: b}
endpoints:
  herd: {database_uri: "${URI}", access_mode: admin_rw}
`, timeout, n, perTenant), map[string]string{"URI": db.URI, "A_KEY": "key-of-tenant-a-0123456789", "B_KEY": "key-of-tenant-b-0123456789"})
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}
	defer hc.CloseIdleConnections()

	before, goroutinesBefore := heap(), runtime.NumGoroutine()
	open := func(key string, count int) (opened int64, refused map[int]int, sample string) {
		var ok atomic.Int64
		var mu sync.Mutex
		refused = map[int]int{}
		next := make(chan struct{})
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				for range next {
					_, status, body := openSession(hc, s.Base, key)
					if status == http.StatusOK {
						ok.Add(1)
						continue
					}
					mu.Lock()
					refused[status]++
					if sample == "" {
						sample = body
					}
					mu.Unlock()
				}
			})
		}
		for range count {
			next <- struct{}{}
		}
		close(next)
		wg.Wait()
		return ok.Load(), refused, sample
	}

	began := time.Now()
	gotA, refusedA, sampleA := open("key-of-tenant-a-0123456789", perTenant+50)
	gotB, refusedB, sampleB := open("key-of-tenant-b-0123456789", n-perTenant+50)
	took := time.Since(began)
	if took > timeout/2 {
		t.Fatalf("opening the sessions took %s, too close to session_timeout (%s) for the counts to hold", took, timeout)
	}
	after, goroutinesAfter := heap(), runtime.NumGoroutine()
	perSession := float64(after-before) / float64(gotA+gotB)
	report(t, "%d sessions opened in %s (%d of tenant a, %d of tenant b); heap and stacks %.1f MiB → %.1f MiB: %.1f KiB per session; goroutines %d → %d",
		gotA+gotB, took.Round(time.Millisecond), gotA, gotB, float64(before)/(1<<20), float64(after)/(1<<20), perSession/1024, goroutinesBefore, goroutinesAfter)
	report(t, "tenant a beyond its %d: %v %q; tenant b beyond the process's %d: %v %q", perTenant, refusedA, firstLine(sampleA), n, refusedB, firstLine(sampleB))
	if gotA != int64(perTenant) || refusedA[http.StatusTooManyRequests] != 50 || !strings.Contains(sampleA, "max_sessions_per_tenant") {
		t.Errorf("tenant a: %d sessions, refusals %v %q; want %d, then 50 × 429 naming max_sessions_per_tenant", gotA, refusedA, sampleA, perTenant)
	}
	if gotA+gotB != int64(n) || refusedB[http.StatusServiceUnavailable] != 50 || !strings.Contains(sampleB, "max_sessions") {
		t.Errorf("total %d sessions, tenant b refusals %v %q; want %d, then 50 × 503 naming max_sessions", gotA+gotB, refusedB, sampleB, n)
	}

	// Idle sessions close after session_timeout; the memory comes back and
	// the caps count again from zero.
	waitUntil(t, timeout+30*time.Second, "the sessions to time out", func() bool {
		for n := range s.App.Herd().Nodes() {
			for range n.Server.Sessions() {
				return false
			}
		}
		return true
	})
	closed := time.Since(began) - took
	released := heap()
	report(t, "all sessions closed %s after the last opened (session_timeout %s); heap and stacks back to %.1f MiB (%.1f MiB above the start)",
		closed.Round(time.Millisecond), timeout, float64(released)/(1<<20), (float64(released)-float64(before))/(1<<20))
	if released > before+uint64(float64(after-before)*0.2)+8<<20 && !raceEnabled {
		t.Errorf("heap %d MiB after the sessions closed, want near the %d MiB before them", released>>20, before>>20)
	}
	if id, status, body := openSession(hc, s.Base, "key-of-tenant-a-0123456789"); id == "" {
		t.Errorf("a new session after the old ones closed: %d %s", status, body)
	}
}
