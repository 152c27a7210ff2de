package app

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"

	"github.com/pgherd/pgherd/internal/rpcmsg"
)

// maxStdioLine bounds one JSON-RPC message on stdin.
const maxStdioLine = 16 << 20

// batchVersion is the only MCP revision with JSON-RPC batches (added in
// 2025-03-26, removed in 2025-06-18).
const batchVersion = "2025-03-26"

// stdio sits between the process's stdin/stdout and go-sdk's IOTransport,
// so that no input line can end the session:
//   - lines that are not JSON-RPC get their error answer here (rpcmsg.Check:
//     -32700 for invalid JSON, -32600 for anything else, an over-long line
//     too); go-sdk's stdio transport would otherwise end the session on the
//     first one and the client would see the server exit;
//   - batches never reach go-sdk, which ends the session on a batch under
//     2025-06-18 and later, or one with a repeated id: in a 2025-03-26
//     session the batch is split into single messages and their responses
//     are gathered into one array; in any other session (or before
//     initialize) the batch is refused with -32600.
//
// Writes to stdout are serialised: go-sdk writes each message in one Write,
// so messages never interleave with the filter's own answers.
type stdio struct {
	mu      sync.Mutex
	out     io.Writer
	version string            // protocol revision the client asked for in initialize
	pending map[string]*batch // request id (raw JSON) → the batch waiting for its response
}

// batch is a split batch waiting for the responses to its requests.
type batch struct {
	ids       []string // in the order of the batch
	responses map[string][]byte
}

func newStdio(out io.Writer) *stdio {
	return &stdio{out: out, pending: make(map[string]*batch)}
}

// Write receives one message from go-sdk. A response to a request of a
// split batch is held until the batch is complete.
func (s *stdio) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) > 0 {
		var probe struct {
			ID     json.RawMessage `json:"id"`
			Method *string         `json:"method"`
		}
		if json.Unmarshal(p, &probe) == nil && probe.Method == nil && probe.ID != nil {
			id := canonicalID(probe.ID)
			if b, ok := s.pending[id]; ok {
				delete(s.pending, id)
				b.responses[id] = bytes.TrimSpace(p)
				if len(b.responses) == len(b.ids) {
					return len(p), s.writeBatch(b)
				}
				return len(p), nil
			}
		}
	}
	return s.out.Write(p)
}

func (s *stdio) writeBatch(b *batch) error {
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i, id := range b.ids {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(b.responses[id])
	}
	buf.WriteString("]\n")
	_, err := s.out.Write(buf.Bytes())
	return err
}

func (s *stdio) Close() error { return nil }

// answer writes the filter's own error answer.
func (s *stdio) answer(p *rpcmsg.Problem) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.out.Write(append(p.Response(), '\n'))
}

// filter copies newline-delimited messages from in to the returned reader,
// answering or splitting what go-sdk must not see (see stdio).
func (s *stdio) filter(in io.Reader) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		r := bufio.NewReaderSize(in, 64<<10)
		var line []byte
		for {
			chunk, err := r.ReadSlice('\n')
			line = append(line, chunk...)
			if errors.Is(err, bufio.ErrBufferFull) {
				if len(line) > maxStdioLine {
					s.answer(&rpcmsg.Problem{Code: jsonrpc.CodeInvalidRequest, Message: fmt.Sprintf("invalid request: message longer than %d bytes", maxStdioLine)})
					line = line[:0]
					if err := skipLine(r); err != nil {
						pw.CloseWithError(err)
						return
					}
				}
				continue
			}
			if msg := bytes.TrimSpace(line); len(msg) > 0 {
				for _, m := range s.route(msg) {
					if _, werr := pw.Write(append(m, '\n')); werr != nil {
						return
					}
				}
			}
			line = line[:0]
			if err != nil {
				pw.CloseWithError(err) // io.EOF ends the session cleanly
				return
			}
		}
	}()
	return pr
}

// route returns the messages of one input line to pass to go-sdk, after
// answering whatever it must not see.
func (s *stdio) route(msg []byte) [][]byte {
	if p := rpcmsg.Check(msg); p != nil {
		s.answer(p)
		return nil
	}
	if msg[0] != '[' {
		s.noteInitialize(msg)
		if s.reusesPendingID(msg) {
			s.answer(&rpcmsg.Problem{Code: jsonrpc.CodeInvalidRequest, Message: "invalid request: the id is that of a batched request still running; use a new id"})
			return nil
		}
		return [][]byte{msg}
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(msg, &elems); err != nil { // rpcmsg.Check accepted it: cannot happen
		s.answer(&rpcmsg.Problem{Code: jsonrpc.CodeParseError, Message: "parse error: " + err.Error()})
		return nil
	}
	s.mu.Lock()
	version := s.version
	s.mu.Unlock()
	if version != batchVersion {
		why := "before initialize"
		if version != "" {
			why = "in protocol version " + version + " (batches exist only in " + batchVersion + ")"
		}
		s.answer(&rpcmsg.Problem{Code: jsonrpc.CodeInvalidRequest, Message: "invalid request: JSON-RPC batches are not supported " + why + "; send one message per line"})
		return nil
	}
	b := &batch{responses: make(map[string][]byte)}
	seen := make(map[string]bool)
	for _, e := range elems {
		var probe struct {
			ID     json.RawMessage `json:"id"`
			Method *string         `json:"method"`
		}
		_ = json.Unmarshal(e, &probe)
		if probe.Method == nil || probe.ID == nil {
			continue // a notification or a response: nothing comes back
		}
		if *probe.Method == "initialize" {
			s.answer(&rpcmsg.Problem{Code: jsonrpc.CodeInvalidRequest, Message: "invalid request: initialize must not be part of a batch"})
			return nil
		}
		id := canonicalID(probe.ID)
		s.mu.Lock()
		_, busy := s.pending[id]
		s.mu.Unlock()
		if seen[id] || busy {
			s.answer(&rpcmsg.Problem{Code: jsonrpc.CodeInvalidRequest, Message: "invalid request: the batch repeats request id " + id + ", or reuses the id of a request still running"})
			return nil
		}
		seen[id] = true
		b.ids = append(b.ids, id)
	}
	if len(b.ids) > 0 {
		s.mu.Lock()
		for _, id := range b.ids {
			s.pending[id] = b
		}
		s.mu.Unlock()
	}
	out := make([][]byte, len(elems))
	for i, e := range elems {
		out[i] = bytes.TrimSpace(e)
	}
	return out
}

// reusesPendingID reports whether msg is a request whose id belongs to a
// split batch still waiting for its response (its answer would be taken
// for the batch's).
func (s *stdio) reusesPendingID(msg []byte) bool {
	s.mu.Lock()
	n := len(s.pending)
	s.mu.Unlock()
	if n == 0 {
		return false
	}
	var probe struct {
		ID     json.RawMessage `json:"id"`
		Method *string         `json:"method"`
	}
	if json.Unmarshal(msg, &probe) != nil || probe.Method == nil || probe.ID == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.pending[canonicalID(probe.ID)]
	return ok
}

// canonicalID spells a JSON-RPC id the same way whatever its spelling on
// the wire (1 and 1.0, "A" and "\u0041"), as go-sdk does when it answers.
func canonicalID(raw json.RawMessage) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	if f, ok := v.(float64); ok {
		return strconv.FormatInt(int64(f), 10)
	}
	out, err := json.Marshal(v)
	if err != nil {
		return string(raw)
	}
	return string(out)
}

// noteInitialize records the protocol revision an initialize request asks
// for: go-sdk agrees to it when it supports it, and only 2025-03-26 has
// batches.
func (s *stdio) noteInitialize(msg []byte) {
	if !bytes.Contains(msg, []byte(`"initialize"`)) {
		return
	}
	var req struct {
		Method string `json:"method"`
		Params struct {
			ProtocolVersion string `json:"protocolVersion"`
		} `json:"params"`
	}
	if json.Unmarshal(msg, &req) == nil && req.Method == "initialize" {
		s.mu.Lock()
		s.version = req.Params.ProtocolVersion
		s.mu.Unlock()
	}
}

// skipLine discards input up to and including the next newline.
func skipLine(r *bufio.Reader) error {
	for {
		_, err := r.ReadSlice('\n')
		if !errors.Is(err, bufio.ErrBufferFull) {
			return err
		}
	}
}
