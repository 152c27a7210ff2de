package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// processCPU returns the user plus system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// clockTick is the unit of /proc/PID/stat times: USER_HZ, 100 on every
// Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// procStat is what pgherd-load reads from /proc/PID/stat.
type procStat struct {
	ppid                         int
	utime, stime, cutime, cstime int64 // clock ticks
}

// readStat parses /proc/PID/stat.
func readStat(pid int) (procStat, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, false
	}
	return parseStat(b)
}

func parseStat(b []byte) (procStat, bool) {
	// The command name (field 2) is in parentheses and may hold spaces:
	// count fields after its closing parenthesis. ppid is field 4, utime,
	// stime, cutime and cstime fields 14 to 17: the 2nd and the 12th to
	// 15th after it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return procStat{}, false
	}
	var s procStat
	var errs [5]error
	s.ppid, errs[0] = strconv.Atoi(f[1])
	s.utime, errs[1] = strconv.ParseInt(f[11], 10, 64)
	s.stime, errs[2] = strconv.ParseInt(f[12], 10, 64)
	s.cutime, errs[3] = strconv.ParseInt(f[13], 10, 64)
	s.cstime, errs[4] = strconv.ParseInt(f[14], 10, 64)
	if errors.Join(errs[:]...) != nil {
		return procStat{}, false
	}
	return s, true
}

// pidCPU returns the user plus system CPU time of process pid (all its
// threads) from /proc/PID/stat (10 ms resolution), or -1 when pid is not
// positive or the file cannot be read.
func pidCPU(pid int) time.Duration {
	if pid <= 0 {
		return -1
	}
	s, ok := readStat(pid)
	if !ok {
		return -1
	}
	return time.Duration(s.utime+s.stime) * clockTick
}

// treeCPU returns the CPU time of process root and its children: root's
// own, what its exited and reaped children used (cutime, cstime), and what
// its live children have used so far. For a PostgreSQL postmaster that is
// the whole server: every backend and background process is its child, and
// a backend that exits during a measurement moves from the live sum into
// the postmaster's cutime, so the total stays continuous. -1 when root is
// not positive or cannot be read.
func treeCPU(root int) time.Duration {
	if root <= 0 {
		return -1
	}
	s, ok := readStat(root)
	if !ok {
		return -1
	}
	ticks := s.utime + s.stime + s.cutime + s.cstime
	for _, pid := range childrenOf(root) {
		if c, ok := readStat(pid); ok && c.ppid == root {
			ticks += c.utime + c.stime
		}
	}
	return time.Duration(ticks) * clockTick
}

// childrenOf lists the process ids whose parent is root, from a scan of
// /proc.
func childrenOf(root int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == root {
			continue
		}
		if s, ok := readStat(pid); ok && s.ppid == root {
			out = append(out, pid)
		}
	}
	return out
}

// parentPID returns the parent of pid, or 0.
func parentPID(pid int) int {
	s, ok := readStat(pid)
	if !ok {
		return 0
	}
	return s.ppid
}

// memStatus returns a size field (VmRSS, VmHWM…) of /proc/PID/status in
// bytes, or -1.
func memStatus(pid int, field string) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return -1
	}
	for line := range strings.Lines(string(b)) {
		rest, ok := strings.CutPrefix(line, field+":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return -1
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return -1
		}
		return kb << 10
	}
	return -1
}

// resetPeakRSS makes VmHWM of pid start again from its current RSS
// (Linux ≥ 4.0, writing 5 to clear_refs; needs to own the process).
func resetPeakRSS(pid int) error {
	if err := os.WriteFile(filepath.Join("/proc", strconv.Itoa(pid), "clear_refs"), []byte("5"), 0); err != nil {
		return fmt.Errorf("resetting the peak RSS of process %d: %w", pid, err)
	}
	return nil
}
