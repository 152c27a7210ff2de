package rpcmsg_test

import (
	"encoding/json"
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
