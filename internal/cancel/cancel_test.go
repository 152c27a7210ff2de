package cancel

import (
	"reflect"
	"testing"
)

func TestScan(t *testing.T) {
	cases := []struct {
		body           string
		calls, cancels []string
	}{
		{`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}`, []string{"1"}, nil},
		{`{"jsonrpc":"2.0","id":"a b","method":"tools/call"}`, []string{`"a b"`}, nil},
		{`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId": 41}}`, nil, []string{"41"}},
		{`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"x"}}`, nil, []string{`"x"`}},
		{`[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"tools/call"}]`, []string{"1", "2"}, nil},
		{`{"jsonrpc":"2.0","id":3,"result":{}}`, nil, nil}, // a response, not a call
		{`{"jsonrpc":"2.0","id":null,"method":"x"}`, nil, nil},
		{`{"jsonrpc":"2.0","method":"notifications/initialized"}`, nil, nil},
		{`not json`, nil, nil},
	}
	for _, c := range cases {
		calls, cancels := scan([]byte(c.body))
		if !reflect.DeepEqual(calls, c.calls) || !reflect.DeepEqual(cancels, c.cancels) {
			t.Errorf("scan(%s) = %q, %q; want %q, %q", c.body, calls, cancels, c.calls, c.cancels)
		}
	}
}
