package tracing

import (
	"strings"
	"testing"
)

func TestEnabled(t *testing.T) {
	for _, tc := range []struct {
		env     map[string]string
		on      bool
		wantErr string
	}{
		{env: nil, on: false},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, on: true},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, on: true},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}, on: false},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}, on: false},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "otlp"}, on: true},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "zipkin"}, wantErr: "otlp only"},
	} {
		on, err := Enabled(func(k string) string { return tc.env[k] })
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Enabled(%v) error = %v, want %q", tc.env, err, tc.wantErr)
			}
			continue
		}
		if err != nil || on != tc.on {
			t.Errorf("Enabled(%v) = %v, %v; want %v", tc.env, on, err, tc.on)
		}
	}
}

func TestOperationName(t *testing.T) {
	for sql, want := range map[string]string{
		"SELECT 1":          "SELECT",
		"  select * from t": "SELECT",
		"begin read only":   "BEGIN",
		"-- note\nWITH x AS (SELECT 1) SELECT * FROM x": "WITH",
		"/* hint */ (SELECT 1)":                         "SELECT",
		"ROLLBACK; DISCARD ALL":                         "ROLLBACK",
		"":                                              "",
		"/* unterminated":                               "",
		"123":                                           "",
	} {
		if got := operationName(sql); got != want {
			t.Errorf("operationName(%q) = %q, want %q", sql, got, want)
		}
	}
}

func TestMetaCarrier(t *testing.T) {
	m := metaCarrier{"traceparent": "00-abc", "progressToken": 7.0, "tracestate": "a=b"}
	if m.Get("traceparent") != "00-abc" || m.Get("progressToken") != "" {
		t.Errorf("Get: %q %q", m.Get("traceparent"), m.Get("progressToken"))
	}
	if keys := m.Keys(); len(keys) != 2 {
		t.Errorf("Keys = %v, want the two strings", keys)
	}
}
