package tracing

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/pgherd/pgherd/internal/observe"
)

// Attribute keys: OpenTelemetry semantic conventions (MCP, GenAI,
// database, network, error) and pgherd's own.
const (
	attrMCPMethod       = attribute.Key("mcp.method.name")
	attrMCPSession      = attribute.Key("mcp.session.id")
	attrMCPProtocol     = attribute.Key("mcp.protocol.version")
	attrGenAIOperation  = attribute.Key("gen_ai.operation.name")
	attrGenAITool       = attribute.Key("gen_ai.tool.name")
	attrNetTransport    = attribute.Key("network.transport")
	attrNetProtocol     = attribute.Key("network.protocol.name")
	attrErrorType       = attribute.Key("error.type")
	attrRPCStatus       = attribute.Key("rpc.response.status_code")
	attrDBSystem        = attribute.Key("db.system.name")
	attrDBNamespace     = attribute.Key("db.namespace")
	attrDBOperation     = attribute.Key("db.operation.name")
	attrDBQueryText     = attribute.Key("db.query.text")
	attrDBStatus        = attribute.Key("db.response.status_code")
	attrDBBatchSize     = attribute.Key("db.operation.batch.size")
	attrServerAddress   = attribute.Key("server.address")
	attrServerPort      = attribute.Key("server.port")
	attrEndpoint        = attribute.Key("pgherd.endpoint")
	attrRequestID       = attribute.Key("pgherd.request_id")
	attrTenant          = attribute.Key("pgherd.tenant")
	attrMode            = attribute.Key("pgherd.access_mode")
	attrOutcome         = attribute.Key("pgherd.outcome")
	attrRows            = attribute.Key("pgherd.rows")
	attrBytes           = attribute.Key("pgherd.result_bytes")
	attrQueueWait       = attribute.Key("pgherd.queue_wait_ms")
	attrCommand         = attribute.Key("pgherd.sql.command")
	attrRefusal         = attribute.Key("pgherd.sql.refusal")
	operationToolCall   = "execute_tool"
	methodToolsCall     = "tools/call"
	dbSystemPostgreSQL  = "postgresql"
	errorTypeToolError  = "tool_error"
	errorTypeOther      = "_OTHER"
	maxOperationNameLen = 32
)

const codesError = codes.Error

type callSpanKey struct{}

// StartRequest starts the request's server span, parented by the trace
// context in params._meta or else the HTTP headers'.
func (t *Tracer) StartRequest(ctx context.Context, r *observe.Request) context.Context {
	var headerSC, metaSC trace.SpanContext
	parent := ctx
	if r.Header != nil {
		hctx := t.prop.Extract(ctx, headerCarrier(r.Header))
		headerSC = trace.SpanContextFromContext(hctx)
		parent = hctx
	}
	if _, ok := r.Meta["traceparent"].(string); ok {
		mctx := t.prop.Extract(ctx, metaCarrier(r.Meta))
		if sc := trace.SpanContextFromContext(mctx); sc.IsValid() {
			metaSC = sc
			parent = mctx
		}
	}
	// Attributes cost allocations on every span, through to the exporter:
	// the conventions' required and recommended ones, and nothing twice.
	name := r.Method
	attrs := make([]attribute.KeyValue, 0, 9)
	attrs = append(attrs, attrMCPMethod.String(r.Method), attrEndpoint.String(r.Server))
	if r.Tool != "" {
		name += " " + r.Tool
		attrs = append(attrs, attrGenAITool.String(r.Tool))
	}
	if r.Method == methodToolsCall {
		attrs = append(attrs, attrGenAIOperation.String(operationToolCall))
	}
	if r.SessionID != "" {
		attrs = append(attrs, attrMCPSession.String(r.SessionID))
	}
	if r.Protocol != "" {
		attrs = append(attrs, attrMCPProtocol.String(r.Protocol))
	}
	if r.Transport == "stdio" {
		attrs = append(attrs, attrNetTransport.String("pipe"))
	} else {
		attrs = append(attrs, attrNetTransport.String("tcp"), attrNetProtocol.String("http"))
	}
	if r.ID != "" {
		attrs = append(attrs, attrRequestID.String(r.ID))
	}
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...)}
	if metaSC.IsValid() && headerSC.IsValid() && !headerSC.Equal(metaSC) {
		// The MCP message's context is the parent; the HTTP request that
		// carried it is linked (one HTTP request may carry several).
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: headerSC}))
	}
	ctx, _ = t.tracer.Start(parent, name, opts...)
	return ctx
}

// EndRequest ends the request's span.
func (t *Tracer) EndRequest(ctx context.Context, r *observe.Request) {
	span := trace.SpanFromContext(ctx)
	if span.IsRecording() {
		var wire *jsonrpc.Error
		switch {
		case errors.As(r.Err, &wire):
			code := strconv.FormatInt(wire.Code, 10)
			span.SetAttributes(attrErrorType.String(code), attrRPCStatus.String(code))
			span.SetStatus(codes.Error, wire.Message)
		case r.Err != nil:
			span.SetAttributes(attrErrorType.String(errorTypeOther))
			span.SetStatus(codes.Error, r.Err.Error())
		case r.ToolError:
			span.SetAttributes(attrErrorType.String(errorTypeToolError))
			span.SetStatus(codes.Error, errorTypeToolError)
		}
	}
	span.End()
}

// StartCall starts the tool call's span, a child of the request's, and
// records its trace id in the call (for the log line and the audit log).
func (t *Tracer) StartCall(ctx context.Context, c *observe.Call) context.Context {
	if t.skipChild(ctx) {
		// Not traced: the log line still names the trace.
		c.TraceID = trace.SpanContextFromContext(ctx).TraceID().String()
		return ctx
	}
	// The request span (the parent) has the request id, method and
	// session; this one what the call itself adds.
	attrs := make([]attribute.KeyValue, 0, 5)
	attrs = append(attrs,
		attrGenAIOperation.String(operationToolCall),
		attrGenAITool.String(c.Tool),
		attrEndpoint.String(c.Endpoint),
	)
	if c.Tenant != "" {
		attrs = append(attrs, attrTenant.String(c.Tenant))
	}
	if c.Mode != "" {
		attrs = append(attrs, attrMode.String(c.Mode))
	}
	ctx, span := t.tracer.Start(ctx, operationToolCall+" "+c.Tool,
		trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(attrs...))
	if sc := span.SpanContext(); sc.IsValid() {
		c.TraceID = sc.TraceID().String()
	}
	return context.WithValue(ctx, callSpanKey{}, span)
}

func callEndAttributes(c *observe.Call) []attribute.KeyValue {
	attrs := make([]attribute.KeyValue, 0, 7)
	attrs = append(attrs,
		attrOutcome.String(string(c.Outcome)),
		attrRows.Int64(c.Rows),
		attrBytes.Int64(c.Bytes),
	)
	if c.QueueWait >= time.Millisecond {
		attrs = append(attrs, attrQueueWait.Float64(float64(c.QueueWait.Microseconds())/1000))
	}
	if c.Command != "" {
		attrs = append(attrs, attrCommand.String(c.Command))
	}
	if c.Refusal != "" {
		attrs = append(attrs, attrRefusal.String(c.Refusal))
	}
	if c.SQLState != "" {
		attrs = append(attrs, attrDBStatus.String(c.SQLState))
	}
	return attrs
}

// errorType is the call span's error.type: the SQLSTATE of a database
// error, else the outcome.
func errorType(c *observe.Call) string {
	if c.SQLState != "" {
		return c.SQLState
	}
	return string(c.Outcome)
}

// statusText describes a failed call without its error message, which can
// quote row values.
func statusText(c *observe.Call) string {
	s := string(c.Outcome)
	if c.SQLState != "" {
		s += " (SQLSTATE " + c.SQLState + ")"
	}
	if c.Refusal != "" {
		s += " (" + c.Refusal + ")"
	}
	return s
}

// StartRoundTrip starts a client span for one database round trip.
func (t *Tracer) StartRoundTrip(ctx context.Context, rt *observe.RoundTrip) context.Context {
	if t.skipChild(ctx) {
		return ctx
	}
	op := operationName(rt.SQL)
	attrs := make([]attribute.KeyValue, 0, 7)
	attrs = append(attrs, attrDBSystem.String(dbSystemPostgreSQL))
	if op != "" {
		attrs = append(attrs, attrDBOperation.String(op))
	}
	if rt.Database != "" {
		attrs = append(attrs, attrDBNamespace.String(rt.Database))
	}
	if rt.Host != "" {
		attrs = append(attrs, attrServerAddress.String(rt.Host))
		if rt.Port != 0 {
			attrs = append(attrs, attrServerPort.Int(int(rt.Port)))
		}
	}
	if rt.Statements > 1 {
		attrs = append(attrs, attrDBBatchSize.Int(rt.Statements))
	}
	if t.traceSQL && rt.SQL != "" {
		attrs = append(attrs, attrDBQueryText.String(observe.RedactSQL(rt.SQL)))
	}
	name := op
	if name == "" {
		name = dbSystemPostgreSQL
	}
	ctx, _ = t.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	return ctx
}

// EndRoundTrip ends the round trip's span: the context's current span, as
// StartRoundTrip returned it (the database tracer hands it back).
func (t *Tracer) EndRoundTrip(ctx context.Context, rt *observe.RoundTrip) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		// Not sampled, or not started at all (skipChild): the span is
		// an ancestor's, and ending it would do nothing.
		return
	}
	switch {
	case rt.SQLState != "":
		span.SetAttributes(attrDBStatus.String(rt.SQLState), attrErrorType.String(rt.SQLState))
		span.SetStatus(codes.Error, "SQLSTATE "+rt.SQLState)
	case rt.Err != nil:
		span.SetAttributes(attrErrorType.String(errorTypeOther))
		span.SetStatus(codes.Error, "round trip failed")
	}
	span.End()
}

// operationName is the statement's first keyword, upper-cased (SELECT,
// BEGIN, COMMIT…), skipping space, comments and parentheses; "" if none.
func operationName(sql string) string {
	i := 0
	for i < len(sql) {
		switch c := sql[i]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '(':
			i++
		case c == '-' && i+1 < len(sql) && sql[i+1] == '-':
			for i < len(sql) && sql[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(sql) && sql[i+1] == '*':
			end := indexFrom(sql, "*/", i+2)
			if end < 0 {
				return ""
			}
			i = end + 2
		default:
			j := i
			for j < len(sql) && j-i < maxOperationNameLen && isLetter(sql[j]) {
				j++
			}
			if j == i {
				return ""
			}
			b := []byte(sql[i:j])
			for k := range b {
				if b[k] >= 'a' && b[k] <= 'z' {
					b[k] -= 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return ""
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' }

func indexFrom(s, sub string, from int) int {
	for i := from; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}
