package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/pgtest"
)

// BenchmarkToolCall is one execute_sql call from a go-sdk client to pgherd
// and back, one session, calls one after another: over in-memory transports
// (the SDK, pgherd and PostgreSQL, no HTTP) and over loopback Streamable HTTP
// in both session modes. Client and server share the process, so allocs/op
// counts both sides. Concurrency is pgherd-load's job (docs/benchmarks.md).
func BenchmarkToolCall(b *testing.B) {
	db := pgtest.NewDatabase(b)
	ctx := context.Background()
	if err := seed(ctx, db.URI); err != nil {
		b.Fatal(err)
	}
	servers := map[string]*selfServer{}
	for _, mode := range []string{expectStateless, expectStateful} {
		s, err := serveInProcess(ctx, db.URI, mode, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Stop() })
		servers[mode] = s
	}
	queries := []struct{ name, sql string }{
		{"select1", "SELECT 1"},
		{"rows100", "SELECT * FROM customers ORDER BY id LIMIT 100"},
	}
	transports := []struct {
		name    string
		connect func(b *testing.B) *mcp.ClientSession
	}{
		{"inmemory", func(b *testing.B) *mcp.ClientSession {
			var server *mcp.Server
			for n := range servers[expectStateless].app.Herd().Nodes() {
				if n.Name == selfEndpoint {
					server = n.Server
				}
			}
			st, ct := mcp.NewInMemoryTransports()
			ss, err := server.Connect(ctx, st, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { ss.Close() })
			return connectClient(b, ct)
		}},
		{"http-stateless", func(b *testing.B) *mcp.ClientSession {
			return connectClient(b, &mcp.StreamableClientTransport{Endpoint: servers[expectStateless].Base + "/app1/mcp", HTTPClient: &http.Client{}})
		}},
		{"http-stateful", func(b *testing.B) *mcp.ClientSession {
			return connectClient(b, &mcp.StreamableClientTransport{Endpoint: servers[expectStateful].Base + "/app1/mcp", HTTPClient: &http.Client{}})
		}},
	}
	for _, tr := range transports {
		for _, q := range queries {
			b.Run(tr.name+"/"+q.name, func(b *testing.B) {
				cs := tr.connect(b)
				args := json.RawMessage(`{"sql":` + quoteJSON(q.sql) + `}`)
				b.ReportAllocs()
				for b.Loop() {
					res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: selfEndpoint + "_execute_sql", Arguments: args})
					if err != nil || res.IsError {
						b.Fatalf("call: %v %v", err, res)
					}
				}
			})
		}
	}
}

func connectClient(b *testing.B, t mcp.Transport) *mcp.ClientSession {
	b.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "0"}, nil)
	cs, err := c.Connect(context.Background(), t, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cs.Close() })
	return cs
}

func quoteJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// BenchmarkObservers is BenchmarkToolCall's in-memory select1 with the
// observers off (the log line only, metrics disabled), each of them on, and
// all of them with one trace in ten sampled:
// what the call record and its observers cost in-process, per call and in
// allocations. The load benchmark (observe.sh) measures the server's CPU.
func BenchmarkObservers(b *testing.B) {
	db := pgtest.NewDatabase(b)
	ctx := context.Background()
	if err := seed(ctx, db.URI); err != nil {
		b.Fatal(err)
	}
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	b.Cleanup(sink.Close)
	audit := "audit: {enabled: true, path: " + quoteJSON(filepath.Join(b.TempDir(), "audit.jsonl")) + "}\n"
	const noMetrics = ", metrics: {enabled: false}"
	for _, v := range []struct {
		name, server, extra string
		otlp                bool
		sampler             string // OTEL_TRACES_SAMPLER_ARG of parentbased_traceidratio
	}{
		{"plain", noMetrics, "", false, ""},
		{"metrics", "", "", false, ""},
		{"audit", noMetrics, audit, false, ""},
		{"tracing", noMetrics, "tracing: {trace_sql: true}\n", true, ""},
		{"all", "", audit + "tracing: {trace_sql: true}\n", true, ""},
		{"all-sampled-10pct", "", audit + "tracing: {trace_sql: true}\n", true, "0.1"},
	} {
		b.Run(v.name, func(b *testing.B) {
			if v.otlp {
				b.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", sink.URL)
			}
			if v.sampler != "" {
				b.Setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
				b.Setenv("OTEL_TRACES_SAMPLER_ARG", v.sampler)
			}
			s, err := serveInProcessWith(ctx, db.URI, expectStateless, v.server, v.extra, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Stop() })
			var server *mcp.Server
			for n := range s.app.Herd().Nodes() {
				if n.Name == selfEndpoint {
					server = n.Server
				}
			}
			st, ct := mcp.NewInMemoryTransports()
			ss, err := server.Connect(ctx, st, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { ss.Close() })
			cs := connectClient(b, ct)
			args := json.RawMessage(`{"sql":"SELECT 1"}`)
			b.ReportAllocs()
			// Process CPU time (client, server and exporters; not
			// PostgreSQL) per call: steadier than wall time on a shared
			// machine.
			cpu := processCPU()
			for b.Loop() {
				res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: selfEndpoint + "_execute_sql", Arguments: args})
				if err != nil || res.IsError {
					b.Fatalf("call: %v %v", err, res)
				}
			}
			b.ReportMetric(float64((processCPU()-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}
