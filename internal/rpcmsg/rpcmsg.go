// Package rpcmsg checks that bytes received from a client are a JSON-RPC 2.0
// message (or batch) before they reach go-sdk, so that a malformed message
// gets the JSON-RPC error the specification names instead of ending a stdio
// session or getting a plain-text HTTP 400.
package rpcmsg

import (
	"encoding/json"
	"fmt"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// Problem is why a message was refused, as a JSON-RPC error response.
type Problem struct {
	Code    int    // jsonrpc.CodeParseError or jsonrpc.CodeInvalidRequest
	Message string // for the client
	ID      any    // the request id when one could be read, else nil
}

// Response encodes p as a JSON-RPC error response (no trailing newline).
func (p *Problem) Response() []byte {
	data, _ := json.Marshal(map[string]any{
		"jsonrpc": "2.0",
		"id":      p.ID,
		"error":   map[string]any{"code": p.Code, "message": p.Message},
	})
	return data
}

// Check returns nil when data is one JSON-RPC message or a non-empty batch
// of them, and the problem otherwise.
func Check(data []byte) *Problem {
	if !json.Valid(data) {
		return &Problem{Code: jsonrpc.CodeParseError, Message: "parse error: not valid JSON"}
	}
	if first := firstByte(data); first == '[' {
		var batch []json.RawMessage
		if json.Unmarshal(data, &batch) != nil || len(batch) == 0 {
			return &Problem{Code: jsonrpc.CodeInvalidRequest, Message: "invalid request: an empty or malformed batch"}
		}
		for i, m := range batch {
			if p := checkOne(m); p != nil {
				p.Message = fmt.Sprintf("%s (batch element %d)", p.Message, i)
				p.ID = nil
				return p
			}
		}
		return nil
	}
	return checkOne(data)
}

func checkOne(msg []byte) *Problem {
	var probe struct {
		ID     any             `json:"id"`
		Method *string         `json:"method"`
		Result json.RawMessage `json:"result"`
		Error  json.RawMessage `json:"error"`
	}
	if json.Unmarshal(msg, &probe) != nil {
		return &Problem{Code: jsonrpc.CodeInvalidRequest, Message: "invalid request: a message must be a JSON object"}
	}
	if _, err := jsonrpc.DecodeMessage(msg); err != nil {
		return &Problem{Code: jsonrpc.CodeInvalidRequest, Message: "invalid request: " + err.Error(), ID: probe.ID}
	}
	// go-sdk reads an object with an id but neither method nor result as a
	// response to nothing and ignores it: the client would wait forever.
	if probe.Method == nil && (probe.Result == nil) == (probe.Error == nil) {
		return &Problem{Code: jsonrpc.CodeInvalidRequest, ID: probe.ID,
			Message: `invalid request: a request needs "method"; a response exactly one of "result" and "error"`}
	}
	return nil
}

func firstByte(data []byte) byte {
	for _, b := range data {
		switch b {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return b
	}
	return 0
}
