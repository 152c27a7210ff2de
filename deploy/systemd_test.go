package deploy_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/pgherd/pgherd/internal/testenv"
)

// unit is a systemd unit file: section → key → values (a key may repeat).
type unit map[string]map[string][]string

func parseUnit(t *testing.T, path string) unit {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unit{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
			u[section] = map[string][]string{}
		case section == "":
			t.Fatalf("%s:%d: %q outside a section", path, n, line)
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("%s:%d: %q is not KEY=VALUE", path, n, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	return u
}

// TestSystemdUnit checks the unit runs pgherd serve unprivileged, reloads
// with SIGHUP, stops within pgherd's grace period, and is sandboxed; where
// systemd-analyze exists it verifies the unit and rates its exposure.
func TestSystemdUnit(t *testing.T) {
	const path = "systemd/pgherd.service"
	u := parseUnit(t, path)
	svc := u["Service"]
	one := func(k string) string {
		if len(svc[k]) == 0 {
			return ""
		}
		return svc[k][len(svc[k])-1]
	}
	if f := strings.Fields(one("ExecStart")); len(f) < 4 || f[1] != "serve" || f[2] != "--config" {
		t.Errorf("ExecStart=%s, want PATH serve --config FILE", one("ExecStart"))
	}
	if !strings.Contains(one("ExecReload"), "-HUP $MAINPID") {
		t.Errorf("ExecReload=%s, want kill -HUP $MAINPID (pgherd reloads on SIGHUP)", one("ExecReload"))
	}
	if one("User") == "" || one("User") == "root" {
		t.Errorf("User=%q: run as an unprivileged user", one("User"))
	}
	if one("RestartPreventExitStatus") != "2" {
		t.Errorf("RestartPreventExitStatus=%s, want 2 (a config error; restarting cannot fix it)", one("RestartPreventExitStatus"))
	}
	if d := strings.TrimSuffix(one("TimeoutStopSec"), "s"); d == "" || must(strconv.Atoi(d)) <= 15 {
		t.Errorf("TimeoutStopSec=%s, want more than server.shutdown_timeout (15s)", one("TimeoutStopSec"))
	}
	hardening := map[string]string{
		"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
		"PrivateDevices": "yes", "CapabilityBoundingSet": "", "MemoryDenyWriteExecute": "yes",
		"RestrictNamespaces": "yes", "LockPersonality": "yes", "RestrictSUIDSGID": "yes",
		"ProtectKernelTunables": "yes", "ProtectKernelModules": "yes", "ProtectControlGroups": "yes",
		"SystemCallArchitectures": "native",
	}
	for k, want := range hardening {
		if len(svc[k]) == 0 || one(k) != want {
			t.Errorf("%s=%q, want %q", k, one(k), want)
		}
	}
	if !strings.Contains(strings.Join(svc["SystemCallFilter"], " "), "@system-service") {
		t.Errorf("SystemCallFilter does not allow-list @system-service")
	}

	analyze := testenv.LookPath(t, "systemd-analyze", "install it: apt-get install systemd (scripts/deps.sh does)")
	// verify checks ExecStart exists: point it at a binary that does.
	data := must(os.ReadFile(path))
	bin := strings.Fields(one("ExecStart"))[0]
	tmp := filepath.Join(t.TempDir(), "pgherd.service")
	os.WriteFile(tmp, []byte(strings.ReplaceAll(string(data), bin, "/bin/true")), 0o644)
	if out, err := exec.Command(analyze, "verify", tmp).CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err := exec.Command(analyze, "security", "--offline=true", "--no-pager", tmp).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for pgherd.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security printed no exposure level:\n%s", out)
	}
	if level := must(strconv.ParseFloat(string(m[1]), 64)); level > 2.0 {
		t.Errorf("exposure level %.1f, want at most 2.0 (\"OK\"):\n%s", level, out)
	} else {
		t.Logf("systemd-analyze security: exposure %.1f", level)
	}
}
