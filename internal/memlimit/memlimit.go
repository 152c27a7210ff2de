// Package memlimit gives the Go runtime a soft memory limit (GOMEMLIMIT)
// from the memory the process may use: its cgroup's limit when it runs in a
// container, the machine's memory otherwise. Near the limit the garbage
// collector works harder instead of letting the heap grow until the kernel
// kills the process. An operator's GOMEMLIMIT always wins.
package memlimit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
)

// Fraction of the detected memory given to the Go heap: the rest is for
// goroutine stacks, cgo (the SQL parser's C allocations) and the kernel's
// accounting of the process's buffers.
const Fraction = 0.9

// Limit is a detected memory bound.
type Limit struct {
	Bytes  int64
	Source string // "cgroup v2 /sys/fs/cgroup/…/memory.max", "cgroup v1 …", "machine (/proc/meminfo)"
}

// Set applies Fraction of the detected limit with debug.SetMemoryLimit,
// unless the GOMEMLIMIT environment variable is set (then it does nothing
// and returns ok false). It returns what it detected and the limit set.
func Set() (detected Limit, set int64, ok bool, err error) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return Limit{}, 0, false, nil
	}
	detected, err = Detect(os.DirFS("/"))
	if err != nil {
		return Limit{}, 0, false, err
	}
	set = int64(float64(detected.Bytes) * Fraction)
	debug.SetMemoryLimit(set)
	return detected, set, true, nil
}

// Detect finds the memory limit of the current process in the file system
// root (the real root, or a test directory with the same layout): the
// cgroup v2 memory.max of its cgroup or an ancestor, the cgroup v1
// memory.limit_in_bytes, else the machine's MemTotal.
func Detect(root fs.FS) (Limit, error) {
	cg, _ := fs.ReadFile(root, "proc/self/cgroup")
	if l, ok := cgroupV2(root, cg); ok {
		return l, nil
	}
	if l, ok := cgroupV1(root, cg); ok {
		return l, nil
	}
	return machine(root)
}

// cgroupV2 reads memory.max from the process's cgroup up to the root of
// the hierarchy; the smallest limit found applies.
func cgroupV2(root fs.FS, cgroup []byte) (Limit, bool) {
	var dir string
	for line := range bytes.Lines(cgroup) {
		if p, ok := bytes.CutPrefix(bytes.TrimSpace(line), []byte("0::")); ok {
			dir = string(p)
		}
	}
	if dir == "" {
		dir = "/"
	}
	best := Limit{Bytes: math.MaxInt64}
	for d := path.Clean(dir); ; d = path.Dir(d) {
		file := path.Join("sys/fs/cgroup", d, "memory.max")
		if data, err := fs.ReadFile(root, file); err == nil {
			s := strings.TrimSpace(string(data))
			if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 && n < best.Bytes {
				best = Limit{Bytes: n, Source: "cgroup v2 /" + file}
			}
		}
		if d == "/" || d == "." {
			break
		}
	}
	return best, best.Source != ""
}

// cgroupV1 reads memory.limit_in_bytes of the memory controller; the
// kernel reports "no limit" as a huge number.
func cgroupV1(root fs.FS, cgroup []byte) (Limit, bool) {
	dir := ""
	for line := range bytes.Lines(cgroup) {
		parts := strings.SplitN(strings.TrimSpace(string(line)), ":", 3)
		if len(parts) == 3 && slices.Contains(strings.Split(parts[1], ","), "memory") {
			dir = parts[2]
		}
	}
	for _, d := range []string{dir, "/"} {
		if d == "" {
			continue
		}
		file := path.Join("sys/fs/cgroup/memory", d, "memory.limit_in_bytes")
		data, err := fs.ReadFile(root, file)
		if err != nil {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
		if err != nil || n <= 0 || n >= 1<<62 {
			continue
		}
		return Limit{Bytes: n, Source: "cgroup v1 /" + file}, true
	}
	return Limit{}, false
}

// machine reads MemTotal from /proc/meminfo.
func machine(root fs.FS) (Limit, error) {
	f, err := root.Open("proc/meminfo")
	if err != nil {
		return Limit{}, fmt.Errorf("memlimit: no cgroup limit and no /proc/meminfo: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil || kb <= 0 {
				break
			}
			return Limit{Bytes: kb << 10, Source: "machine (/proc/meminfo MemTotal)"}, nil
		}
	}
	return Limit{}, errors.New("memlimit: /proc/meminfo has no MemTotal")
}
