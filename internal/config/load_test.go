package config

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// mapEnv is an environment backed by a map, never the process's.
func mapEnv(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// fileEnv reads the environment a test file declares in "# env: NAME=value"
// lines.
func fileEnv(t *testing.T, data []byte) map[string]string {
	t.Helper()
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if kv, ok := strings.CutPrefix(sc.Text(), "# env: "); ok {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				t.Fatalf("bad env line %q: want # env: NAME=value", sc.Text())
			}
			env[k] = v
		}
	}
	return env
}

// fileSecrets returns the strings a test file declares, in "# secret: X"
// lines, must never appear in output.
func fileSecrets(data []byte) []string {
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if s, ok := strings.CutPrefix(line, "# secret: "); ok {
			out = append(out, s)
		}
	}
	return out
}

// golden compares got with the named golden file, or rewrites it with
// -update.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it)\n--- got:\n%s\n--- want:\n%s", path, got, want)
	}
}

// TestBadConfigs loads every testdata/bad/*.yaml and compares the error
// lines with the .golden file beside it.
func TestBadConfigs(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad configs found: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			c, err := Load(file, mapEnv(fileEnv(t, data)))
			if err == nil {
				t.Fatalf("Load(%s) succeeded, want errors", file)
			}
			if c != nil {
				t.Errorf("Load(%s) returned a Config along with errors", file)
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("Load(%s) error is %T, want config.Errors: %v", file, err, err)
			}
			for i := 1; i < len(errs); i++ {
				if comparePaths(errs[i-1].Path, errs[i].Path) > 0 {
					t.Errorf("errors not sorted: %q before %q", errs[i-1].Path, errs[i].Path)
				}
			}
			for _, secret := range fileSecrets(data) {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error text contains the secret %q", secret)
				}
			}
			golden(t, strings.TrimSuffix(file, ".yaml")+".golden", []byte(err.Error()+"\n"))
		})
	}
}

// TestGoodConfigs loads every testdata/good/*.yaml, compares the redacted
// effective config with the .golden file beside it, and checks that the
// redacted output loads again to the same thing.
func TestGoodConfigs(t *testing.T) {
	files, err := filepath.Glob("testdata/good/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no good configs found: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			env := mapEnv(fileEnv(t, data))
			c, err := Load(file, env)
			if err != nil {
				t.Fatalf("Load(%s):\n%v", file, err)
			}
			out, err := c.Redacted()
			if err != nil {
				t.Fatal(err)
			}
			golden(t, strings.TrimSuffix(file, ".yaml")+".golden", out)

			// Round trip: the effective config is itself a valid config
			// with the same effect. (Secrets are masked in it, so a config
			// with an hs256_secret cannot round-trip.)
			if strings.Contains(string(data), "hs256_secret") {
				return
			}
			again, err := Parse(out, mapEnv(nil))
			if err != nil {
				t.Fatalf("Parse(Redacted()):\n%v\ninput:\n%s", err, out)
			}
			out2, err := again.Redacted()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, out2) {
				t.Errorf("round trip changed the config:\n--- first:\n%s\n--- second:\n%s", out, out2)
			}
		})
	}
}
