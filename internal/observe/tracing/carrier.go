package tracing

import (
	"net/http"

	"go.opentelemetry.io/otel/propagation"
)

// metaCarrier reads W3C trace context from an MCP request's params._meta,
// where clients put it unprefixed (traceparent, tracestate, baggage).
type metaCarrier map[string]any

var _ propagation.TextMapCarrier = metaCarrier(nil)

func (m metaCarrier) Get(key string) string {
	s, _ := m[key].(string)
	return s
}

// Set does nothing: the server only reads _meta.
func (m metaCarrier) Set(string, string) {}

func (m metaCarrier) Keys() []string {
	keys := make([]string, 0, len(m))
	for k, v := range m {
		if _, ok := v.(string); ok {
			keys = append(keys, k)
		}
	}
	return keys
}

func headerCarrier(h http.Header) propagation.HeaderCarrier { return propagation.HeaderCarrier(h) }
