package tracing

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/pgherd/pgherd/internal/observe"
)

// A call whose client sent an unsampled traceparent starts no call or
// round-trip span (the parent-based sampler would drop them), still names
// its trace for the log line, and a sampled one gets all three spans.
func TestUnsampledParentStartsNoChildren(t *testing.T) {
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	for _, tc := range []struct {
		flags        string
		followParent bool
		spans        int
	}{
		{flags: "00", followParent: true, spans: 0},
		{flags: "01", followParent: true, spans: 3},
		// A sampler that ignores the parent decides each span itself.
		{flags: "00", followParent: false, spans: 3},
	} {
		rec := tracetest.NewSpanRecorder()
		sampler := sdktrace.ParentBased(sdktrace.AlwaysSample())
		if !tc.followParent {
			sampler = sdktrace.AlwaysSample()
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sampler), sdktrace.WithSpanProcessor(rec))
		tr := &Tracer{tp: tp, tracer: tp.Tracer("test"), prop: propagation.TraceContext{}, followParent: tc.followParent}

		req := &observe.Request{Server: "app1", Method: "tools/call", Tool: "app1_execute_sql", Transport: "stdio",
			Meta: map[string]any{"traceparent": "00-" + traceID + "-00f067aa0ba902b7-" + tc.flags}}
		ctx := tr.StartRequest(context.Background(), req)
		if tc.flags == "00" && tc.followParent {
			// The request span is the client's choice: not sampled.
			if trace.SpanFromContext(ctx).IsRecording() {
				t.Fatalf("flags %s: request span recording", tc.flags)
			}
		}
		c := &observe.Call{Record: observe.Record{Tool: "app1_execute_sql", Endpoint: "app1"}}
		cctx := tr.StartCall(ctx, c)
		if c.TraceID != traceID {
			t.Errorf("flags %s: call TraceID = %q, want %s", tc.flags, c.TraceID, traceID)
		}
		rt := &observe.RoundTrip{Call: c, SQL: "SELECT 1", Statements: 1}
		rctx := tr.StartRoundTrip(cctx, rt)
		if skipped := trace.SpanContextFromContext(rctx).SpanID() == trace.SpanContextFromContext(ctx).SpanID(); skipped != (tc.spans == 0) {
			t.Errorf("flags %s, followParent %v: round trip span skipped = %v", tc.flags, tc.followParent, skipped)
		}
		tr.EndRoundTrip(rctx, rt)
		tr.ObserveCall(cctx, c)
		tr.EndRequest(ctx, req)
		if got := len(rec.Ended()); got != tc.spans {
			t.Errorf("flags %s, followParent %v: %d spans ended, want %d", tc.flags, tc.followParent, got, tc.spans)
		}
		if err := tp.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFollowsParent(t *testing.T) {
	for s, want := range map[string]bool{
		"": true, "parentbased_always_on": true, "parentbased_traceidratio": true,
		"always_on": false, "traceidratio": false, "always_off": false,
	} {
		if got := followsParent(s); got != want {
			t.Errorf("followsParent(%q) = %v, want %v", s, got, want)
		}
	}
}
