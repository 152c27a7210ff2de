// Package reliability holds pgherd's fault-injection scenarios, the ones
// docs/reliability.md reports: PostgreSQL restarts and outages with calls
// in flight, terminated backends, a silent network (internal/faultproxy)
// in every phase of a call, one tenant exhausting its share while another
// keeps its latency, clients vanishing mid-call on every transport,
// thousands of stateful sessions, malformed input, and a soak with a fault
// every few seconds. It has no code of its own: everything is in its tests,
// which drive pgherd the way users do (the go-sdk client, raw HTTP) against
// real PostgreSQL.
//
// The tests run in a short form by default (seconds per fault, fewer
// sessions). PGHERD_LONG=1 (every heavy test's long form; or
// PGHERD_RELIABILITY=long, this package's older switch) runs the long form
// the issue asks for:
// a 30 s outage, 10,000 sessions, and a soak of PGHERD_SOAK (default 10m)
// with a fault every 30 s.
package reliability
