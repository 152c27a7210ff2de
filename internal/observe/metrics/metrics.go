// Package metrics is the Prometheus observer: counters and histograms of
// tool calls, MCP requests, authentication failures and validator
// refusals, gauges of calls in flight, pools and sessions, build
// information and the Go runtime, on a registry of its own.
//
// Label values come from fixed sets (outcomes, reasons, MCP methods) or
// from the configuration (endpoint and tool names, tenant pools). SQL text
// and user ids are never labels; tenants are only with
// [Options.TenantLabels], and then at most [MaxTenantLabels] of them.
package metrics

import (
	"context"
	"net/http"
	"runtime"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pgherd/pgherd/internal/observe"
	"github.com/pgherd/pgherd/internal/pg"
)

// Namespace prefixes every pgherd metric.
const Namespace = "pgherd"

// MaxTenantLabels bounds the tenant label values of [Options.TenantLabels]:
// tenants seen after this many distinct ones are counted as [OtherTenant].
const MaxTenantLabels = 100

// OtherTenant is the tenant label value past [MaxTenantLabels].
const OtherTenant = "_other"

// DurationBuckets are the latency histograms' buckets, in seconds: 1 ms to
// 60 s.
var DurationBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// ByteBuckets are the result-size histogram's buckets: 256 B to 64 MiB.
var ByteBuckets = prometheus.ExponentialBuckets(256, 4, 10)

// Pool is one connection pool, listed at each scrape.
type Pool struct {
	Endpoint string
	Name     string // "default", or the tenant with its own database_uri
	Stats    pg.Stats
}

// Options configure [New].
type Options struct {
	Version string // pgherd's version, for pgherd_build_info
	// TenantLabels adds a tenant label to the tool-call counters and
	// latency histograms (at most MaxTenantLabels values).
	TenantLabels bool
	// Pools lists the pools at each scrape; nil: no pool metrics.
	Pools func() []Pool
	// Sessions counts the open MCP sessions per endpoint at each scrape;
	// nil: no session metric.
	Sessions func() map[string]int
}

// Metrics is the Prometheus observer. Register it with observe.New; serve
// [Metrics.Handler]. It is safe for concurrent use.
type Metrics struct {
	reg     *prometheus.Registry
	tenants *tenantSet // nil without tenant labels

	calls        *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	inFlight     *prometheus.GaugeVec
	queueWait    *prometheus.HistogramVec
	resultBytes  *prometheus.HistogramVec
	slotWaits    *prometheus.CounterVec
	slotRejects  *prometheus.CounterVec
	refusals     *prometheus.CounterVec
	authFailures *prometheus.CounterVec
	requests     *prometheus.CounterVec
	roundTrips   *prometheus.CounterVec
	rateLimited  *prometheus.CounterVec
	backendFails *prometheus.CounterVec
}

var (
	_ observe.CallStarter     = (*Metrics)(nil)
	_ observe.RequestObserver = (*Metrics)(nil)
	_ observe.AuthObserver    = (*Metrics)(nil)
)

// New builds the metrics and their registry, with the Go runtime and
// process collectors.
func New(opts Options) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	callLabels := []string{"endpoint", "tool"}
	if opts.TenantLabels {
		m.tenants = &tenantSet{seen: make(map[string]bool)}
		callLabels = append(callLabels, "tenant")
	}
	f := promFactory{m.reg}
	m.calls = f.counter("tool_calls_total", "Tool calls by endpoint, tool (without prefix) and outcome.", append(callLabels, "outcome"))
	m.duration = f.histogram("tool_call_duration_seconds", "Tool call latency, from the call's start to its result.", callLabels, DurationBuckets)
	m.inFlight = f.gauge("tool_calls_in_flight", "Tool calls running now.", "endpoint")
	m.queueWait = f.histogram("tool_call_queue_wait_seconds", "Time a call waited for a concurrency slot and a pooled connection.", []string{"endpoint"}, DurationBuckets)
	m.resultBytes = f.histogram("tool_result_bytes", "Size of successful results sent to clients (structured content plus text).", []string{"endpoint", "tool"}, ByteBuckets)
	m.slotWaits = f.counter("slot_waits_total", "Calls that found every concurrency slot (limits.max_concurrent_calls) taken and waited.", []string{"endpoint"})
	m.slotRejects = f.counter("slot_rejections_total", "Calls refused because no concurrency slot came free within pool.acquire_timeout.", []string{"endpoint"})
	m.refusals = f.counter("validator_refusals_total", "Statements the SQL validator refused, by reason.", []string{"endpoint", "reason"})
	m.authFailures = f.counter("auth_failures_total", "Requests refused by authentication, by reason.", []string{"endpoint", "reason"})
	m.requests = f.counter("mcp_requests_total", "MCP requests and notifications received, by method and outcome (ok, error: a JSON-RPC error, tool_error: a tool result with isError).", []string{"endpoint", "method", "outcome"})
	m.roundTrips = f.counter("db_round_trips_total", "Database round trips made by tool calls.", []string{"endpoint"})
	rateLabels := []string{"endpoint", "reason"}
	if m.tenants != nil {
		rateLabels = append(rateLabels, "tenant")
	}
	m.rateLimited = f.counter("rate_limit_refusals_total", "Tool calls refused by the rate limit: over the tenant's limit (reason over_limit), or because the backend failed and server.rate_limit.failure_mode is closed (backend_failed).", rateLabels)
	m.backendFails = f.counter("rate_limit_backend_errors_total", "Tool calls the rate-limit backend (Redis) could not decide, by what happened to them: allowed (failure_mode open) or refused (closed).", []string{"endpoint", "result"})

	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: "build_info",
		Help: "Always 1; the labels say which pgherd is running."}, []string{"version", "go_version"})
	info.WithLabelValues(opts.Version, runtime.Version()).Set(1)
	m.reg.MustRegister(info,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	if opts.Pools != nil {
		m.reg.MustRegister(&poolCollector{list: opts.Pools})
	}
	if opts.Sessions != nil {
		m.reg.MustRegister(&sessionCollector{count: opts.Sessions})
	}
	return m
}

// Registry returns the registry, for more collectors (the audit sink's
// counters) and for tests.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus text format (or
// OpenMetrics, when the scraper asks for it).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{EnableOpenMetrics: true, Registry: m.reg})
}

// StartCall counts the call in flight.
func (m *Metrics) StartCall(ctx context.Context, c *observe.Call) context.Context {
	m.inFlight.WithLabelValues(c.Endpoint).Inc()
	return ctx
}

// ObserveCall counts the finished call.
func (m *Metrics) ObserveCall(_ context.Context, c *observe.Call) {
	m.inFlight.WithLabelValues(c.Endpoint).Dec()
	var labels []string
	if m.tenants != nil {
		labels = []string{c.Endpoint, c.ToolBase, m.tenants.label(c.Tenant)}
	} else {
		labels = []string{c.Endpoint, c.ToolBase}
	}
	m.duration.WithLabelValues(labels...).Observe(c.Duration.Seconds())
	m.calls.WithLabelValues(append(labels, string(c.Outcome))...).Inc()
	m.queueWait.WithLabelValues(c.Endpoint).Observe(c.QueueWait.Seconds())
	if c.Outcome == observe.OK {
		m.resultBytes.WithLabelValues(c.Endpoint, c.ToolBase).Observe(float64(c.Bytes))
	}
	if c.SlotWaited {
		m.slotWaits.WithLabelValues(c.Endpoint).Inc()
	}
	if c.SlotRejected {
		m.slotRejects.WithLabelValues(c.Endpoint).Inc()
	}
	if c.Refusal != "" {
		m.refusals.WithLabelValues(c.Endpoint, c.Refusal).Inc()
	}
	if c.RoundTrips > 0 {
		m.roundTrips.WithLabelValues(c.Endpoint).Add(float64(c.RoundTrips))
	}
}

// StartRequest does nothing: requests are counted when they end.
func (m *Metrics) StartRequest(ctx context.Context, _ *observe.Request) context.Context { return ctx }

// EndRequest counts the request.
func (m *Metrics) EndRequest(_ context.Context, r *observe.Request) {
	outcome := "ok"
	switch {
	case r.Err != nil:
		outcome = "error"
	case r.ToolError:
		outcome = "tool_error"
	}
	m.requests.WithLabelValues(r.Server, methodLabel(r.Method), outcome).Inc()
}

// ObserveAuthFailure counts the failure.
func (m *Metrics) ObserveAuthFailure(_ context.Context, f *observe.AuthFailure) {
	m.authFailures.WithLabelValues(f.Endpoint, f.Reason).Inc()
}

// methods are the MCP methods counted under their own name; anything else a
// client sends is "other", so clients cannot create series.
var methods = map[string]bool{
	"initialize": true, "ping": true, "tools/list": true, "tools/call": true,
	"resources/list": true, "resources/read": true, "resources/templates/list": true,
	"resources/subscribe": true, "resources/unsubscribe": true,
	"prompts/list": true, "prompts/get": true, "completion/complete": true, "logging/setLevel": true,
	"notifications/initialized": true, "notifications/cancelled": true, "notifications/progress": true,
	"notifications/roots/list_changed": true, "server/discover": true,
}

func methodLabel(m string) string {
	if methods[m] {
		return m
	}
	return "other"
}

// tenantSet hands out at most MaxTenantLabels distinct tenant label values.
type tenantSet struct {
	mu   sync.RWMutex
	seen map[string]bool
}

func (t *tenantSet) label(tenant string) string {
	t.mu.RLock()
	ok := t.seen[tenant]
	n := len(t.seen)
	t.mu.RUnlock()
	if ok {
		return tenant
	}
	if n >= MaxTenantLabels {
		return OtherTenant
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.seen) >= MaxTenantLabels && !t.seen[tenant] {
		return OtherTenant
	}
	t.seen[tenant] = true
	return tenant
}

// promFactory creates metrics in the pgherd namespace and registers them.
type promFactory struct{ reg *prometheus.Registry }

func (f promFactory) counter(name, help string, labels []string) *prometheus.CounterVec {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels)
	f.reg.MustRegister(v)
	return v
}

func (f promFactory) gauge(name, help string, labels ...string) *prometheus.GaugeVec {
	v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help}, labels)
	f.reg.MustRegister(v)
	return v
}

func (f promFactory) histogram(name, help string, labels []string, buckets []float64) *prometheus.HistogramVec {
	v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: name, Help: help, Buckets: buckets}, labels)
	f.reg.MustRegister(v)
	return v
}

// RateLimitRefused counts a call refused by the rate limit (for
// ratelimit.Events.Refused): over the limit, or backendFailed.
func (m *Metrics) RateLimitRefused(endpoint, tenant string, backendFailed bool) {
	reason := "over_limit"
	if backendFailed {
		reason = "backend_failed"
	}
	if m.tenants != nil {
		m.rateLimited.WithLabelValues(endpoint, reason, m.tenants.label(tenant)).Inc()
		return
	}
	m.rateLimited.WithLabelValues(endpoint, reason).Inc()
}

// RateLimitBackendFailed counts a call on endpoint the rate-limit backend
// could not decide (for ratelimit.Events.LimiterFailed); failOpen: it ran.
func (m *Metrics) RateLimitBackendFailed(endpoint string, failOpen bool) {
	result := "refused"
	if failOpen {
		result = "allowed"
	}
	m.backendFails.WithLabelValues(endpoint, result).Inc()
}
