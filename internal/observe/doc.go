// Package observe is pgherd's one seam for watching tool calls: a [Call]
// record that the call path fills in, and the observers registered at
// start-up that receive it.
//
// # The record
//
// tools.Add creates a [Call] for every tool call and ends it when the
// handler returns. In between, whoever learns something writes it into the
// record found in the call's context ([CallFrom]): the tool handler sets the
// SQL text and the validator's verdict, the concurrency-slot code its wait,
// the database tracer ([Hub.DBTracer], given to pg as its pgx tracer) the
// round trips and the connection wait. Nothing in a handler writes to a
// global: the record travels with the request.
//
// # Observers
//
// An [Observer] receives every finished call. The log line ([LogObserver]),
// Prometheus metrics, the audit log and OpenTelemetry tracing are observers
// (the latter three in the subpackages metrics, audit and tracing), each
// registered once with [New]. A new observer is a type with one method:
//
//	type counter struct{ n atomic.Int64 }
//
//	func (c *counter) ObserveCall(_ context.Context, _ *observe.Call) { c.n.Add(1) }
//
// Observers that need more implement optional interfaces, found by type
// assertion as pgxpool finds its tracer's: [CallStarter] (called when a call
// starts, may return a derived context: a tracing span, an in-flight gauge,
// a live view), [RequestObserver] (every MCP request, through
// [Hub.Middleware]), [RoundTripObserver] (every database round trip of a
// call) and [AuthObserver] (refused authentication).
//
// # Cost
//
// Every observer runs on the call's goroutine, before the response is
// sent: ObserveCall must not block (the audit sink hands records to its own
// writer; the metrics observer only increments). With no observer that needs
// them, the request middleware and the round-trip hooks cost nothing beyond
// a context lookup.
package observe
