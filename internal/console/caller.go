package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// caller runs tools of this server's own MCP endpoints on behalf of the
// operator: it is an MCP client (go-sdk's, over Streamable HTTP) whose
// requests never leave the process. They enter the server's handler
// exactly as a client's do, with the operator's own credential, so they
// pass the same authentication, scope checks, rate limits, SQL validation
// and access mode, and every observer (log, metrics, audit, live calls)
// sees them as the operator's calls.
type caller struct {
	handler func() http.Handler // the server's root handler
	version string
}

// callTimeout bounds one console action's tool call; the endpoint's own
// statement_timeout usually ends it first.
const callTimeout = 2 * time.Minute

// toolError is a tool's own error result (isError), shown to the operator
// as it is.
type toolError struct{ msg string }

func (e *toolError) Error() string { return e.msg }

// call runs tool on the MCP endpoint at path (/app1/mcp, /mcp) with args,
// authenticated with credential ("" sends no Authorization header), and
// decodes the structured result into out.
func (c *caller) call(ctx context.Context, r *http.Request, path, credential, tool string, args any, out any) error {
	t := &inproc{handler: c.handler(), credential: credential, remote: r.RemoteAddr, host: r.Host}
	defer t.wait() // after cancel: every in-process handler has returned
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "pgherd-console", Version: c.version}, nil)
	session, err := client.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint:   "http://" + r.Host + path,
		HTTPClient: &http.Client{Transport: t},
		MaxRetries: -1,
		// Only answers to its own requests are needed: no GET stream.
		DisableStandaloneSSE: true,
	}, nil)
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", path, unwrapHTTP(err))
	}
	defer session.Close()
	res, err := session.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		return fmt.Errorf("calling %s: %w", tool, unwrapHTTP(err))
	}
	if res.IsError {
		var parts []string
		for _, ct := range res.Content {
			if tc, ok := ct.(*mcp.TextContent); ok {
				parts = append(parts, tc.Text)
			}
		}
		return &toolError{msg: strings.Join(parts, "\n")}
	}
	if out == nil {
		return nil
	}
	raw, err := json.Marshal(res.StructuredContent)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, out)
}

// unwrapHTTP keeps go-sdk's message about a refused HTTP request (401,
// 403, 429) readable for the operator.
func unwrapHTTP(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return errors.New("no answer within 2 minutes")
	}
	return err
}

// inproc is an http.RoundTripper that serves each request with the
// server's own handler, in the process: response bodies stream through a
// pipe, so event-stream responses work as over a socket. It adds the
// operator's credential and address to every request.
type inproc struct {
	handler    http.Handler
	credential string
	remote     string
	host       string
	wg         sync.WaitGroup // the handlers still running
}

// wait blocks until every handler started by t has returned.
func (t *inproc) wait() { t.wg.Wait() }

func (t *inproc) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(req.Context())
	r := req.Clone(ctx)
	r.Host = t.host
	r.RemoteAddr = t.remote
	r.RequestURI = r.URL.RequestURI()
	r.Header.Del("Authorization")
	if t.credential != "" {
		r.Header.Set("Authorization", "Bearer "+t.credential)
	}
	if r.Body == nil {
		r.Body = http.NoBody
	}
	pr, pw := io.Pipe()
	w := &pipeWriter{header: make(http.Header), body: pw, ready: make(chan struct{})}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		defer func() {
			w.writeHeader(http.StatusOK)
			pw.Close()
		}()
		t.handler.ServeHTTP(w, r)
	}()
	select {
	case <-w.ready:
	case <-ctx.Done():
		cancel()
		pr.Close()
		return nil, ctx.Err()
	}
	return &http.Response{
		Status:     fmt.Sprintf("%d %s", w.status, http.StatusText(w.status)),
		StatusCode: w.status,
		Proto:      "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        w.sent,
		Body:          &cancelBody{ReadCloser: pr, cancel: cancel},
		ContentLength: -1,
		Request:       req,
	}, nil
}

// cancelBody ends the handler's request when the client closes the body.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	b.cancel()
	return b.ReadCloser.Close()
}

// pipeWriter is the http.ResponseWriter of an in-process request.
type pipeWriter struct {
	header http.Header
	sent   http.Header
	body   *io.PipeWriter
	status int
	once   sync.Once
	ready  chan struct{}
}

func (w *pipeWriter) Header() http.Header { return w.header }

func (w *pipeWriter) writeHeader(code int) {
	w.once.Do(func() {
		w.status = code
		w.sent = w.header.Clone()
		close(w.ready)
	})
}

func (w *pipeWriter) WriteHeader(code int) { w.writeHeader(code) }

func (w *pipeWriter) Write(b []byte) (int, error) {
	w.writeHeader(http.StatusOK)
	return w.body.Write(b)
}

func (w *pipeWriter) Flush() { w.writeHeader(http.StatusOK) }
