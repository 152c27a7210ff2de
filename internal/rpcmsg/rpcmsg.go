// Package rpcmsg checks that bytes received from a client are a JSON-RPC 2.0
// message (or batch) before they reach go-sdk, so that a malformed message
// gets the JSON-RPC error the specification names instead of ending a stdio
// session or getting a plain-text HTTP 400.
package rpcmsg

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// Problem is why a message was refused, as a JSON-RPC error response.
type Problem struct {
	Code    int    // jsonrpc.CodeParseError or jsonrpc.CodeInvalidRequest
	Message string // for the client
	ID      any    // the request id when one could be read, else nil
	Data    any    // the error's data, nil for none
}

// Response encodes p as a JSON-RPC error response (no trailing newline).
func (p *Problem) Response() []byte {
	e := map[string]any{"code": p.Code, "message": p.Message}
	if p.Data != nil {
		e["data"] = p.Data
	}
	data, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": p.ID, "error": e})
	return data
}

// MaxDepth bounds how deeply objects and arrays may nest in a message. MCP
// arguments are rows and lists, not deep trees; a bound keeps a hostile
// message from costing a decoder's recursion (and gets a clear error).
const MaxDepth = 64

// Check returns nil when data is one JSON-RPC message or a non-empty batch
// of them, and the problem otherwise.
func Check(data []byte) *Problem {
	if !json.Valid(data) {
		return &Problem{Code: jsonrpc.CodeParseError, Message: "parse error: not valid JSON"}
	}
	if depth(data) > MaxDepth {
		return &Problem{Code: jsonrpc.CodeInvalidRequest, ID: readID(data),
			Message: fmt.Sprintf("invalid request: the message nests objects and arrays deeper than %d levels", MaxDepth)}
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
		ID     json.RawMessage `json:"id"`
		Method json.RawMessage `json:"method"`
		Result json.RawMessage `json:"result"`
		Error  json.RawMessage `json:"error"`
	}
	if firstByte(msg) != '{' || json.Unmarshal(msg, &probe) != nil {
		return &Problem{Code: jsonrpc.CodeInvalidRequest, Message: "invalid request: a message must be a JSON object"}
	}
	id := readID(msg)
	if k, want := caseVariant(msg); k != "" {
		// encoding/json matches member names regardless of case; go-sdk
		// does not: to it a "Method" is no method, and the message would
		// pass for a response to nothing, never answered.
		return &Problem{Code: jsonrpc.CodeInvalidRequest, ID: id,
			Message: fmt.Sprintf(`invalid request: member names are case-sensitive: %q is not %q`, k, want)}
	}
	if probe.Method != nil {
		if firstByte(probe.Method) != '"' {
			return &Problem{Code: jsonrpc.CodeInvalidRequest, ID: id,
				Message: fmt.Sprintf(`invalid request: "method" must be a string, got %s`, kind(probe.Method))}
		}
		if string(probe.ID) == "null" {
			return &Problem{Code: jsonrpc.CodeInvalidRequest,
				Message: `invalid request: "id" must be a string or a number; MCP does not allow null (leave "id" out to send a notification)`}
		}
		if probe.ID != nil && firstByte(probe.ID) != '"' && !isNumber(probe.ID) {
			return &Problem{Code: jsonrpc.CodeInvalidRequest,
				Message: fmt.Sprintf(`invalid request: "id" must be a string or a number, got %s`, kind(probe.ID))}
		}
	}
	if _, err := jsonrpc.DecodeMessage(msg); err != nil {
		return &Problem{Code: jsonrpc.CodeInvalidRequest, Message: "invalid request: " + err.Error(), ID: id}
	}
	// go-sdk reads an object with an id but neither method nor result as a
	// response to nothing and ignores it: the client would wait forever.
	if probe.Method == nil && (probe.Result == nil) == (probe.Error == nil) {
		return &Problem{Code: jsonrpc.CodeInvalidRequest, ID: id,
			Message: `invalid request: a request needs "method"; a response exactly one of "result" and "error"`}
	}
	return nil
}

// caseVariant returns the first member name of msg that differs only in
// case from a JSON-RPC member, and that member.
func caseVariant(msg []byte) (string, string) {
	var members map[string]json.RawMessage
	if json.Unmarshal(msg, &members) != nil {
		return "", ""
	}
	for k := range members {
		for _, want := range []string{"jsonrpc", "id", "method", "params", "result", "error"} {
			if k != want && strings.EqualFold(k, want) {
				return k, want
			}
		}
	}
	return "", ""
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

// readID returns the id of a message when it is a string or a number, else
// nil.
func readID(msg []byte) any {
	var probe struct {
		ID any `json:"id"`
	}
	if json.Unmarshal(msg, &probe) != nil {
		return nil
	}
	switch probe.ID.(type) {
	case string, float64:
		return probe.ID
	}
	return nil
}

// depth returns how deeply objects and arrays nest in valid JSON.
func depth(data []byte) int {
	d, most, inString, escaped := 0, 0, false, false
	for _, b := range data {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case b == '\\':
				escaped = true
			case b == '"':
				inString = false
			}
		case b == '"':
			inString = true
		case b == '{' || b == '[':
			d++
			most = max(most, d)
		case b == '}' || b == ']':
			d--
		}
	}
	return most
}

func isNumber(raw []byte) bool {
	var n json.Number
	return json.Unmarshal(raw, &n) == nil
}

// kind names the JSON type of raw for error messages.
func kind(raw []byte) string {
	switch firstByte(raw) {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// Request is one request of a message: its id (nil for a notification) and
// method.
type Request struct {
	ID     any
	Method string
}

// Requests returns the requests and notifications of data, one message or a
// batch that [Check] accepted; responses are left out.
func Requests(data []byte) []Request {
	var raws []json.RawMessage
	if firstByte(data) == '[' {
		if json.Unmarshal(data, &raws) != nil {
			return nil
		}
	} else {
		raws = []json.RawMessage{data}
	}
	var out []Request
	for _, raw := range raws {
		var probe struct {
			ID     any     `json:"id"`
			Method *string `json:"method"`
		}
		if json.Unmarshal(raw, &probe) != nil || probe.Method == nil {
			continue
		}
		out = append(out, Request{ID: probe.ID, Method: *probe.Method})
	}
	return out
}
