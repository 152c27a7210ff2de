package app

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"

	"github.com/pgherd/pgherd/internal/rpcmsg"
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
// reader, answering the lines that are not JSON-RPC itself (rpcmsg.Check:
// -32700 for invalid JSON, -32600 for anything else; an over-long line gets
// -32600 too). go-sdk's stdio
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
					p := rpcmsg.Problem{Code: jsonrpc.CodeInvalidRequest, Message: fmt.Sprintf("invalid request: message longer than %d bytes", maxStdioLine)}
					out.Write(append(p.Response(), '\n'))
					line = line[:0]
					if err := skipLine(r); err != nil {
						pw.CloseWithError(err)
						return
					}
				}
				continue
			}
			if msg := bytes.TrimSpace(line); len(msg) > 0 {
				if p := rpcmsg.Check(msg); p != nil {
					out.Write(append(p.Response(), '\n'))
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
