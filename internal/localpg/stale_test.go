package localpg

import (
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestRemoveStale: a cluster directory whose starting process is gone is
// removed at the next Start, at once, whether or not postmaster.pid is
// there (a killed demo's postmaster removes it as it dies); a directory of
// a live process is kept, and so is a fresh one with no pid file yet.
func TestRemoveStale(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Skipf("cannot run true: %v", err)
	}
	deadPID := dead.ProcessState.Pid()
	mk := func(name string, files map[string]string) string {
		dir := filepath.Join(tmp, dirPrefix+name)
		if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
			t.Fatal(err)
		}
		for f, content := range files {
			if err := os.WriteFile(filepath.Join(dir, f), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	me := strconv.Itoa(os.Getpid()) + "\n"
	deadOwner := mk("dead-owner", map[string]string{ownerFile: strconv.Itoa(deadPID) + "\n"})
	deadPostmaster := mk("dead-postmaster", map[string]string{"data/postmaster.pid": strconv.Itoa(deadPID) + "\n/data\n"})
	live := mk("live", map[string]string{ownerFile: me})
	liveButPostmasterGone := mk("live-owner", map[string]string{ownerFile: me, "data/postmaster.pid": strconv.Itoa(deadPID) + "\n"})
	fresh := mk("fresh", nil)
	old := mk("old", nil)
	past := time.Now().Add(-2 * time.Hour)
	os.Chtimes(old, past, past)

	removeStale(slog.New(slog.DiscardHandler))
	for dir, want := range map[string]bool{deadOwner: false, deadPostmaster: false, live: true, liveButPostmasterGone: true, fresh: true, old: false} {
		_, err := os.Stat(dir)
		if exists := err == nil; exists != want {
			t.Errorf("%s exists = %v after removeStale, want %v", filepath.Base(dir), exists, want)
		}
	}
}
