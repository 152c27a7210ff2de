// Package tracing is the OpenTelemetry observer: a span per MCP request
// (kind server), a child span per tool call, and a child span per database
// round trip of the call (kind client), exported over OTLP.
//
// It is configured by the standard environment variables only, and off
// unless one says where to export: OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT. OTEL_EXPORTER_OTLP_PROTOCOL (or
// …_TRACES_PROTOCOL) chooses http/protobuf (the default) or grpc; the
// exporters read the rest (headers, timeout, TLS, compression), the SDK the
// sampler (OTEL_TRACES_SAMPLER), the batching (OTEL_BSP_*) and the resource
// (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES). OTEL_SDK_DISABLED=true or
// OTEL_TRACES_EXPORTER=none turn it off.
//
// Spans follow the OpenTelemetry semantic conventions for MCP (request
// spans named "{mcp.method.name} {gen_ai.tool.name}" with mcp.method.name,
// gen_ai.tool.name, gen_ai.operation.name, mcp.session.id,
// mcp.protocol.version, network.transport, error.type) and for database
// client spans (db.system.name, db.namespace, db.operation.name,
// db.response.status_code, server.address; db.query.text only with
// Options.TraceSQL). A request's parent is the trace context in its
// params._meta (traceparent, tracestate, baggage) when the client sent one,
// with the HTTP request's own trace context as a link; otherwise the HTTP
// headers' trace context.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/pgherd/pgherd/internal/observe"
)

// Options configure [New].
type Options struct {
	ServiceVersion string // service.version of the resource
	// TraceSQL puts statement text on database spans (db.query.text).
	// Text that may hold a password is withheld either way.
	TraceSQL bool
	Logger   *slog.Logger // export errors; nil discards
}

// Enabled reports whether the environment asks for traces, and explains a
// setting pgherd cannot honour.
func Enabled(getenv func(string) string) (bool, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return false, nil
	}
	switch exp := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")); exp {
	case "none":
		return false, nil
	case "", "otlp":
	default:
		return false, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: pgherd exports traces with otlp only (or none to turn them off)", exp)
	}
	return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "", nil
}

// Tracer is the tracing observer. It is safe for concurrent use.
type Tracer struct {
	tp       *sdktrace.TracerProvider
	tracer   trace.Tracer
	prop     propagation.TextMapPropagator
	traceSQL bool
	// followParent: the sampler decides child spans by their parent (the
	// default, and every parentbased_* sampler), so a child of a span that
	// was not sampled is never started (see skipChild).
	followParent bool
}

var (
	_ observe.CallStarter       = (*Tracer)(nil)
	_ observe.RequestObserver   = (*Tracer)(nil)
	_ observe.RoundTripObserver = (*Tracer)(nil)
	_ observe.Closer            = (*Tracer)(nil)
)

// New builds the tracer from the process environment (the OTLP exporters
// and the SDK read it themselves), or returns nil when tracing is off (see
// [Enabled]).
func New(ctx context.Context, opts Options) (*Tracer, error) {
	getenv := os.Getenv
	on, err := Enabled(getenv)
	if err != nil || !on {
		return nil, err
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	protocol := getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if protocol == "" {
		protocol = getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	var exp sdktrace.SpanExporter
	switch protocol {
	case "", "http/protobuf":
		exp, err = otlptracehttp.New(ctx)
	case "grpc":
		exp, err = otlptracegrpc.New(ctx)
	default:
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL=%q: pgherd exports traces over http/protobuf (the default) or grpc", protocol)
	}
	if err != nil {
		return nil, fmt.Errorf("creating the OTLP trace exporter: %w; check the OTEL_EXPORTER_OTLP_* variables", err)
	}
	res, err := resource.Merge(
		resource.NewSchemaless(semconv.ServiceName("pgherd"), semconv.ServiceVersion(opts.ServiceVersion)),
		resource.Environment(), // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("reading OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	// The SDK reports export failures through this process-wide hook: send
	// them to our log instead of the standard library's.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		logger.Warn("exporting traces failed", "error", err)
	}))
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return &Tracer{
		tp:           tp,
		tracer:       tp.Tracer("github.com/pgherd/pgherd", trace.WithInstrumentationVersion(opts.ServiceVersion)),
		prop:         propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		traceSQL:     opts.TraceSQL,
		followParent: followsParent(getenv("OTEL_TRACES_SAMPLER")),
	}, nil
}

// followsParent reports whether OTEL_TRACES_SAMPLER's sampler samples a
// span with a parent exactly when the parent was sampled.
func followsParent(sampler string) bool {
	return sampler == "" || strings.HasPrefix(sampler, "parentbased_")
}

// skipChild reports whether a span started under ctx's span would be
// dropped anyway (the sampler follows the parent, which was neither sampled
// nor recorded): not starting it saves its allocations on every call that
// is not traced.
func (t *Tracer) skipChild(ctx context.Context) bool {
	if !t.followParent {
		return false
	}
	span := trace.SpanFromContext(ctx)
	sc := span.SpanContext()
	return sc.IsValid() && !sc.IsSampled() && !span.IsRecording()
}

// Close flushes the spans not yet exported and stops the exporter.
func (t *Tracer) Close(ctx context.Context) error {
	if err := t.tp.Shutdown(ctx); err != nil {
		return fmt.Errorf("flushing traces: %w", err)
	}
	return nil
}

// ObserveCall ends the call's span (see StartCall).
func (t *Tracer) ObserveCall(ctx context.Context, c *observe.Call) {
	span, _ := ctx.Value(callSpanKey{}).(trace.Span)
	if span == nil {
		return
	}
	if span.IsRecording() {
		span.SetAttributes(callEndAttributes(c)...)
		if c.Outcome != observe.OK {
			span.SetAttributes(attrErrorType.String(errorType(c)))
			span.SetStatus(codesError, statusText(c))
		}
	}
	span.End()
}
