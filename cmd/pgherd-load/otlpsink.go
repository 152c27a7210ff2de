package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// holdOTLPSink serves an OTLP/HTTP trace receiver on addr that reads and
// discards every export (answering with an empty, successful
// ExportTraceServiceResponse), prints its base URL on stdout for
// OTEL_EXPORTER_OTLP_ENDPOINT, and waits for ctx to end. It reports how
// many exports and bytes it received.
func holdOTLPSink(ctx context.Context, addr string, stdout, stderr io.Writer) int {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(stderr, "pgherd-load: --otlp-sink %s: %v\n", addr, err)
		return 1
	}
	var exports, bytes atomic.Int64
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" {
			http.Error(w, "this sink takes POST /v1/traces", http.StatusNotFound)
			return
		}
		n, _ := io.Copy(io.Discard, r.Body)
		exports.Add(1)
		bytes.Add(n)
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK) // an empty message is a successful ExportTraceServiceResponse
	})}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	fmt.Fprintf(stdout, "http://%s\n", l.Addr())
	fmt.Fprintln(stderr, "pgherd-load: OTLP sink is running; Ctrl-C stops it")
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(stderr, "pgherd-load: --otlp-sink:", err)
		return 1
	}
	fmt.Fprintf(stderr, "pgherd-load: OTLP sink received %d exports, %d bytes\n", exports.Load(), bytes.Load())
	return 0
}
