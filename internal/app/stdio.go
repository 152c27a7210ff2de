package app

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// maxStdioLine bounds one JSON-RPC message on stdin.
const maxStdioLine = 16 << 20

// syncWriter serialises writes to the process's stdout. go-sdk writes each
// message in one Write, so messages never interleave with the filter's
// error responses.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) Close() error { return nil }

// filterStdin copies newline-delimited messages from in to the returned
// reader, answering the lines that are not JSON-RPC itself: invalid JSON
// gets a -32700 parse error, valid JSON that is not a JSON-RPC message a
// -32600 invalid request, an over-long line a -32600 too. go-sdk's stdio
// transport would otherwise end the session on the first bad line, and the
// client would see the server exit instead of an error it can act on.
func filterStdin(in io.Reader, out io.Writer) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		r := bufio.NewReaderSize(in, 64<<10)
		var line []byte
		for {
			chunk, err := r.ReadSlice('\n')
			line = append(line, chunk...)
			if errors.Is(err, bufio.ErrBufferFull) {
				if len(line) > maxStdioLine {
					writeRPCError(out, nil, jsonrpc.CodeInvalidRequest, fmt.Sprintf("message longer than %d bytes", maxStdioLine))
					line = line[:0]
					if err := skipLine(r); err != nil {
						pw.CloseWithError(err)
						return
					}
				}
				continue
			}
			if msg := bytes.TrimSpace(line); len(msg) > 0 {
				if code, why, id := check(msg); code != 0 {
					writeRPCError(out, id, code, why)
				} else if _, werr := pw.Write(append(msg, '\n')); werr != nil {
					return
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

// skipLine discards input up to and including the next newline.
func skipLine(r *bufio.Reader) error {
	for {
		_, err := r.ReadSlice('\n')
		if !errors.Is(err, bufio.ErrBufferFull) {
			return err
		}
	}
}

// check reports whether msg is a JSON-RPC message or batch; when it is not,
// the error code, why, and the request id if one can be read.
func check(msg []byte) (code int, why string, id any) {
	if !json.Valid(msg) {
		return jsonrpc.CodeParseError, "parse error: the line is not valid JSON", nil
	}
	if msg[0] == '[' {
		var batch []json.RawMessage
		if json.Unmarshal(msg, &batch) != nil || len(batch) == 0 {
			return jsonrpc.CodeInvalidRequest, "invalid request: an empty or malformed batch", nil
		}
		for _, m := range batch {
			if code, why, _ := checkOne(m); code != 0 {
				return code, why + " (in a batch)", nil
			}
		}
		return 0, "", nil
	}
	return checkOne(msg)
}

// checkOne checks one JSON value that should be a JSON-RPC message.
func checkOne(msg []byte) (code int, why string, id any) {
	var probe struct {
		ID     any             `json:"id"`
		Method *string         `json:"method"`
		Result json.RawMessage `json:"result"`
		Error  json.RawMessage `json:"error"`
	}
	if json.Unmarshal(msg, &probe) != nil {
		return jsonrpc.CodeInvalidRequest, "invalid request: not a JSON-RPC object", nil
	}
	if _, err := jsonrpc.DecodeMessage(msg); err != nil {
		return jsonrpc.CodeInvalidRequest, "invalid request: " + err.Error(), probe.ID
	}
	// go-sdk reads an object with an id but neither method nor result as a
	// response to nothing and ignores it: the client would wait forever.
	if probe.Method == nil && (probe.Result == nil) == (probe.Error == nil) {
		return jsonrpc.CodeInvalidRequest, `invalid request: a request needs "method"; a response exactly one of "result" and "error"`, probe.ID
	}
	return 0, "", nil
}

func writeRPCError(out io.Writer, id any, code int, message string) {
	data, _ := json.Marshal(map[string]any{
		"jsonrpc": "2.0",
		"id":      id,
		"error":   map[string]any{"code": code, "message": message},
	})
	out.Write(append(data, '\n'))
}
