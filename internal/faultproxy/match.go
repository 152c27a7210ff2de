package faultproxy

import (
	"bytes"
	"strings"
)

// SQL returns the SQL text a Query ('Q') or Parse ('P') message carries, or
// "" for any other message.
func (m Message) SQL() string {
	body := m.Body
	switch m.Type {
	case 'Q':
	case 'P':
		// Parse: statement name, NUL, query, NUL, parameter types.
		i := bytes.IndexByte(body, 0)
		if i < 0 {
			return ""
		}
		body = body[i+1:]
	default:
		return ""
	}
	if i := bytes.IndexByte(body, 0); i >= 0 {
		body = body[:i]
	}
	return string(body)
}

// Startup matches the startup packet of a new session: a blackhole that
// begins while connecting.
func Startup() func(Message) bool {
	return func(m Message) bool { return m.Type == 0 && m.Code == CodeStartup }
}

// SQLContains matches a Query or Parse message whose SQL contains substr,
// ignoring case: "begin" (the start of a transaction), a marker in a test
// statement, "discard all" (the reset after a call).
func SQLContains(substr string) func(Message) bool {
	substr = strings.ToLower(substr)
	return func(m Message) bool {
		sql := m.SQL()
		return sql != "" && strings.Contains(strings.ToLower(sql), substr)
	}
}
