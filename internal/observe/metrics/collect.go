package metrics

import (
	"sort"

	"github.com/prometheus/client_golang/prometheus"
)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", name), help, labels, nil)
}

// poolCollector reads every pool's statistics at scrape time.
type poolCollector struct{ list func() []Pool }

var (
	poolLabels         = []string{"endpoint", "pool"}
	poolMaxDesc        = desc("pool_max_connections", "The pool's max_conns.", poolLabels...)
	poolTotalDesc      = desc("pool_connections", "Open connections by state: acquired (in use by a call), idle, constructing.", "endpoint", "pool", "state")
	poolAcquiresDesc   = desc("pool_acquires_total", "Connections handed out by the pool.", poolLabels...)
	poolWaitsDesc      = desc("pool_acquire_waits_total", "Acquires that waited because no idle connection was ready.", poolLabels...)
	poolWaitTimeDesc   = desc("pool_acquire_wait_seconds_total", "Total time acquires waited for a connection when none was idle.", poolLabels...)
	poolTimeoutsDesc   = desc("pool_acquire_timeouts_total", "Acquires that gave up after pool.acquire_timeout (the call failed as busy).", poolLabels...)
	poolNewDesc        = desc("pool_new_connections_total", "Connections opened.", poolLabels...)
	poolDestroyedDesc  = desc("pool_destroyed_connections_total", "Connections closed, by reason: unclean (the call may have left session state: cancelled, capped, bare statement, hypothetical indexes…) or expired (max_conn_lifetime, max_conn_idle_time).", "endpoint", "pool", "reason")
	sessionsOpenDesc   = desc("sessions_open", "Open MCP sessions (stateful Streamable HTTP and legacy SSE; stateless requests are sessions of one request).", "endpoint")
	poolDescsCollected = []*prometheus.Desc{poolMaxDesc, poolTotalDesc, poolAcquiresDesc, poolWaitsDesc, poolWaitTimeDesc, poolTimeoutsDesc, poolNewDesc, poolDestroyedDesc}
)

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range poolDescsCollected {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range c.list() {
		s := p.Stats
		gauge := func(d *prometheus.Desc, v float64, extra ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append([]string{p.Endpoint, p.Name}, extra...)...)
		}
		counter := func(d *prometheus.Desc, v float64, extra ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, append([]string{p.Endpoint, p.Name}, extra...)...)
		}
		gauge(poolMaxDesc, float64(s.MaxConns))
		gauge(poolTotalDesc, float64(s.AcquiredConns), "acquired")
		gauge(poolTotalDesc, float64(s.IdleConns), "idle")
		gauge(poolTotalDesc, float64(s.ConstructingConns), "constructing")
		counter(poolAcquiresDesc, float64(s.AcquireCount))
		counter(poolWaitsDesc, float64(s.EmptyAcquires))
		counter(poolWaitTimeDesc, s.EmptyAcquireWait.Seconds())
		counter(poolTimeoutsDesc, float64(s.Exhausted))
		counter(poolNewDesc, float64(s.NewConns))
		counter(poolDestroyedDesc, float64(s.Destroyed), "unclean")
		counter(poolDestroyedDesc, float64(s.ExpiredConns), "expired")
	}
}

// sessionCollector counts open MCP sessions at scrape time.
type sessionCollector struct{ count func() map[string]int }

func (c *sessionCollector) Describe(ch chan<- *prometheus.Desc) { ch <- sessionsOpenDesc }

func (c *sessionCollector) Collect(ch chan<- prometheus.Metric) {
	counts := c.count()
	names := make([]string, 0, len(counts))
	for n := range counts {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		ch <- prometheus.MustNewConstMetric(sessionsOpenDesc, prometheus.GaugeValue, float64(counts[n]), n)
	}
}
