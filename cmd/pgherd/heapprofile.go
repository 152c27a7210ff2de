package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"syscall"
)

// heapSampleRate is the heap profile's sampling interval in bytes with
// PGHERD_HEAP_PROFILE.
const heapSampleRate = 1024

// envHeapProfile names the file a diagnostic heap profile is written to.
const envHeapProfile = "PGHERD_HEAP_PROFILE"

// heapProfileOnSignal is a diagnostic for memory questions (how much an
// idle session costs, what holds the heap): when PGHERD_HEAP_PROFILE names
// a file, every SIGUSR1 makes the process collect garbage, return the freed
// memory to the operating system and write its heap profile to that file
// (replaced whole: written beside it, then renamed). `go tool pprof FILE`
// reads it; pgherd-load --workload idle --server-heap-profile FILE sends the
// signals. The variable also makes the profile sample every KiB allocated
// (some CPU per allocation). Without the variable SIGUSR1 keeps its default action. The
// returned function stops it.
func heapProfileOnSignal(logger *slog.Logger) (stop func()) {
	path := os.Getenv(envHeapProfile)
	if path == "" {
		return func() {}
	}
	// Sample every KiB allocated (the default is every 512 KiB): small
	// per-session objects show up under their own names.
	runtime.MemProfileRate = heapSampleRate
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-done:
				return
			case <-usr1:
				if err := writeHeapProfile(path); err != nil {
					logger.Warn("heap profile not written", "env", envHeapProfile, "error", err)
				} else {
					logger.Info("heap profile written", "path", path)
				}
			}
		}
	}()
	logger.Info("diagnostic: SIGUSR1 writes a heap profile (after a garbage collection)", "env", envHeapProfile, "path", path)
	return func() {
		signal.Stop(usr1)
		close(done)
		<-finished
	}
}

// writeHeapProfile collects garbage, returns free memory to the operating
// system and writes the heap profile to path.
func writeHeapProfile(path string) error {
	debug.FreeOSMemory() // a full collection, then the scavenger returns what it freed
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("creating the profile beside %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // after the rename, nothing is left to remove
	if err := pprof.Lookup("heap").WriteTo(tmp, 0); err != nil {
		tmp.Close()
		return fmt.Errorf("writing the heap profile: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
