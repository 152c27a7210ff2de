package rpcmsg_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/pgherd/pgherd/internal/rpcmsg"
)

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		in   string
		code int // 0: accepted
		id   any
	}{
		{`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, 0, nil},
		{`{"jsonrpc":"2.0","method":"notifications/initialized"}`, 0, nil},
		{`{"jsonrpc":"2.0","id":1,"result":{}}`, 0, nil},
		{`{"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"x"}}`, 0, nil},
		{` [{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","method":"b"}]`, 0, nil},
		{`{not json`, -32700, nil},
		{``, -32700, nil},
		{`42`, -32600, nil},
		{`"x"`, -32600, nil},
		{`[]`, -32600, nil},
		{`[1]`, -32600, nil},
		{`{"jsonrpc":"2.0","id":7,"params":{}}`, -32600, float64(7)},
		{`{"jsonrpc":"2.0","id":"a","result":{},"error":{"code":1,"message":"m"}}`, -32600, "a"},
		{`{"id":1,"method":"x"}`, -32600, float64(1)},
		{`[{"jsonrpc":"2.0","id":1,"method":"a"},{"id":2}]`, -32600, nil},
		{`{"jsonrpc":"2.0","id":null,"method":"tools/list"}`, -32600, nil},
		{`{"jsonrpc":"2.0","id":1,"Method":"ping"}`, -32600, float64(1)},
		{`{"JSONRPC":"2.0","id":1,"method":"ping"}`, -32600, float64(1)},
		{`{"jsonrpc":"2.0","id":4,"method":5}`, -32600, float64(4)},
		{`{"jsonrpc":"2.0","id":"x","method":null}`, -32600, "x"},
		{`{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}`, -32600, nil},
		{`{"jsonrpc":"2.0","id":true,"method":"ping"}`, -32600, nil},
		{`{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"m"}}`, -32600, nil}, // a response to no request
		{`{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"a":` + strings.Repeat("[", 65) + strings.Repeat("]", 65) + `}}`, -32600, float64(9)},
		{`{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"a":"` + strings.Repeat("[", 500) + `"}}`, 0, nil},
		{`{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"a":` + strings.Repeat("[", 60) + strings.Repeat("]", 60) + `}}`, 0, nil},
	} {
		p := rpcmsg.Check([]byte(tc.in))
		switch {
		case tc.code == 0 && p != nil:
			t.Errorf("Check(%s) = %+v, want accepted", tc.in, p)
		case tc.code != 0 && p == nil:
			t.Errorf("Check(%s) accepted, want code %d", tc.in, tc.code)
		case p != nil && (p.Code != tc.code || p.ID != tc.id):
			t.Errorf("Check(%s) = code %d id %v, want code %d id %v", tc.in, p.Code, p.ID, tc.code, tc.id)
		case p != nil:
			var resp struct {
				JSONRPC string
				ID      any
				Error   struct{ Code int }
			}
			if err := json.Unmarshal(p.Response(), &resp); err != nil || resp.JSONRPC != "2.0" || resp.Error.Code != tc.code {
				t.Errorf("Response() = %s", p.Response())
			}
		}
	}
}

func TestMessagesSayWhatIsWrong(t *testing.T) {
	for in, want := range map[string]string{
		`{"jsonrpc":"2.0","id":null,"method":"tools/list"}`: `"id" must be a string or a number; MCP does not allow null`,
		`{"jsonrpc":"2.0","id":1,"method":5}`:               `"method" must be a string, got a number`,
		`{"jsonrpc":"2.0","id":1,"method":["a"]}`:           `"method" must be a string, got an array`,
		`{"jsonrpc":"2.0","id":1,"method":"x","params":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`: "deeper than 64 levels",
	} {
		p := rpcmsg.Check([]byte(in))
		if p == nil || !strings.Contains(p.Message, want) {
			t.Errorf("Check(%.60s) = %+v, want a message containing %q", in, p, want)
		}
	}
}

func TestRequests(t *testing.T) {
	got := rpcmsg.Requests([]byte(`[{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","method":"b"},{"jsonrpc":"2.0","id":2,"result":{}}]`))
	want := []rpcmsg.Request{{ID: float64(1), Method: "a"}, {Method: "b"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Requests = %+v, want %+v", got, want)
	}
}

func FuzzCheck(f *testing.F) {
	for _, s := range []string{`{"jsonrpc":"2.0","id":1,"method":"x"}`, `[{}]`, `{`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if p := rpcmsg.Check(data); p != nil && !json.Valid(p.Response()) {
			t.Fatalf("invalid error response for %q", data)
		}
	})
}
