package memlimit_test

import (
	"testing"
	"testing/fstest"

	"github.com/pgherd/pgherd/internal/memlimit"
)

func TestDetect(t *testing.T) {
	meminfo := &fstest.MapFile{Data: []byte("MemTotal:       24684544 kB\nMemFree: 1 kB\n")}
	for _, tc := range []struct {
		name   string
		files  fstest.MapFS
		want   int64
		source string
	}{
		{"cgroup v2 limit", fstest.MapFS{
			"proc/self/cgroup": {Data: []byte("0::/system.slice/pgherd.service\n")},
			"sys/fs/cgroup/system.slice/pgherd.service/memory.max": {Data: []byte("536870912\n")},
			"proc/meminfo": meminfo,
		}, 512 << 20, "cgroup v2 /sys/fs/cgroup/system.slice/pgherd.service/memory.max"},
		{"cgroup v2 parent is tighter", fstest.MapFS{
			"proc/self/cgroup":                          {Data: []byte("0::/kubepods/pod1/c1\n")},
			"sys/fs/cgroup/kubepods/pod1/c1/memory.max": {Data: []byte("max\n")},
			"sys/fs/cgroup/kubepods/pod1/memory.max":    {Data: []byte("268435456\n")},
			"proc/meminfo":                              meminfo,
		}, 256 << 20, "cgroup v2 /sys/fs/cgroup/kubepods/pod1/memory.max"},
		{"cgroup v2 without limit: the machine", fstest.MapFS{
			"proc/self/cgroup":         {Data: []byte("0::/\n")},
			"sys/fs/cgroup/memory.max": {Data: []byte("max\n")},
			"proc/meminfo":             meminfo,
		}, 24684544 << 10, "machine (/proc/meminfo MemTotal)"},
		{"cgroup v1 limit", fstest.MapFS{
			"proc/self/cgroup": {Data: []byte("12:cpu,cpuacct:/docker/abc\n9:memory:/docker/abc\n")},
			"sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes": {Data: []byte("1073741824\n")},
			"proc/meminfo": meminfo,
		}, 1 << 30, "cgroup v1 /sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes"},
		{"cgroup v1 unlimited: the machine", fstest.MapFS{
			"proc/self/cgroup":                           {Data: []byte("9:memory:/\n")},
			"sys/fs/cgroup/memory/memory.limit_in_bytes": {Data: []byte("9223372036854771712\n")},
			"proc/meminfo":                               meminfo,
		}, 24684544 << 10, "machine (/proc/meminfo MemTotal)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := memlimit.Detect(tc.files)
			if err != nil {
				t.Fatal(err)
			}
			if got.Bytes != tc.want || got.Source != tc.source {
				t.Errorf("Detect = %d from %q, want %d from %q", got.Bytes, got.Source, tc.want, tc.source)
			}
		})
	}
	if _, err := memlimit.Detect(fstest.MapFS{}); err == nil {
		t.Error("Detect with nothing to read succeeded")
	}
}
