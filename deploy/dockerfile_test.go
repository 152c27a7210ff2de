package deploy_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction: its keyword, its flags
// (--from=build) and the rest of the line, continuations joined.
type instruction struct {
	Cmd   string
	Flags map[string]string
	Args  string
	Line  int
}

// stage is one FROM … AS name and the instructions after it.
type stage struct {
	Name, Base string
	Steps      []instruction
}

// dockerfile is a parsed Dockerfile: the ARGs before the first FROM, and the
// stages.
type dockerfile struct {
	GlobalArgs map[string]string
	Stages     []*stage
}

// parseDockerfile reads the subset of the Dockerfile syntax ours uses:
// comments, parser directives, continuation lines, flags.
func parseDockerfile(t *testing.T, path string) *dockerfile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	df := &dockerfile{GlobalArgs: map[string]string{}}
	var cur *stage
	var buf strings.Builder
	start := 0
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if buf.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if buf.Len() > 0 && strings.HasPrefix(trimmed, "#") {
			continue // comments inside a continued instruction
		}
		if buf.Len() == 0 {
			start = n
		}
		if strings.HasSuffix(trimmed, "\\") {
			buf.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		buf.WriteString(trimmed)
		in := parseInstruction(buf.String(), start)
		buf.Reset()
		switch {
		case in.Cmd == "FROM":
			fields := strings.Fields(in.Args)
			st := &stage{Base: fields[0]}
			if len(fields) == 3 && strings.EqualFold(fields[1], "AS") {
				st.Name = fields[2]
			}
			df.Stages = append(df.Stages, st)
			cur = st
		case cur == nil && in.Cmd == "ARG":
			k, v, _ := strings.Cut(in.Args, "=")
			df.GlobalArgs[k] = v
		case cur == nil:
			t.Fatalf("%s:%d: %s before the first FROM", path, in.Line, in.Cmd)
		default:
			cur.Steps = append(cur.Steps, in)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if buf.Len() > 0 {
		t.Fatalf("%s: the last instruction ends with a continuation", path)
	}
	return df
}

func parseInstruction(s string, line int) instruction {
	cmd, rest, _ := strings.Cut(s, " ")
	in := instruction{Cmd: strings.ToUpper(cmd), Flags: map[string]string{}, Line: line}
	rest = strings.TrimSpace(rest)
	for strings.HasPrefix(rest, "--") {
		flag, more, _ := strings.Cut(rest, " ")
		k, v, _ := strings.Cut(strings.TrimPrefix(flag, "--"), "=")
		if _, dup := in.Flags[k]; dup {
			in.Flags[k] += "," + v
		} else {
			in.Flags[k] = v
		}
		rest = strings.TrimSpace(more)
	}
	in.Args = rest
	return in
}

func (df *dockerfile) stage(t *testing.T, name string) *stage {
	t.Helper()
	for _, s := range df.Stages {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("Dockerfile has no stage %q", name)
	return nil
}

var varRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

func expand(s string, vars map[string]string) string {
	return varRef.ReplaceAllStringFunc(s, func(m string) string {
		name := strings.Trim(m, "${}")
		return vars[name]
	})
}

// envPairs splits ENV's k=v k2="v 2" form.
func envPairs(t *testing.T, s string) [][2]string {
	t.Helper()
	var out [][2]string
	for _, f := range strings.Fields(s) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			t.Fatalf("ENV %q: only the key=value form is supported here", s)
		}
		if uq, err := strconv.Unquote(v); err == nil {
			v = uq
		}
		out = append(out, [2]string{k, v})
	}
	return out
}

// image is what running a stage's steps left: its file system (a directory
// standing for /), its environment and its metadata.
type image struct {
	Root        string
	Env         map[string]string
	User        string
	Expose      []string
	Healthcheck []string // the CMD, exec form
	HealthFlags map[string]string
	Entrypoint  []string
	Cmd         []string
}

// path maps an absolute path inside the image to the directory standing
// for it.
func (im *image) path(p string) string { return filepath.Join(im.Root, filepath.FromSlash(p)) }

// runStage runs a stage the way docker build would, as a script: WORKDIR,
// ENV and ARG set the directory and environment, COPY copies from the build
// context or an earlier stage, RUN runs in bash. RUN flags (--mount=type=cache)
// only speed a real build up and are ignored. Build arguments take their
// defaults, overridden by args.
func runStage(t *testing.T, df *dockerfile, st *stage, context string, stages map[string]*image, args map[string]string) *image {
	t.Helper()
	im := &image{Root: t.TempDir(), Env: map[string]string{}, HealthFlags: map[string]string{}}
	vars := map[string]string{}
	for k, v := range df.GlobalArgs {
		vars[k] = v
	}
	workdir := "/"
	for _, in := range st.Steps {
		where := fmt.Sprintf("Dockerfile:%d %s", in.Line, in.Cmd)
		switch in.Cmd {
		case "ARG":
			k, v, _ := strings.Cut(in.Args, "=")
			if a, ok := args[k]; ok {
				v = a
			} else if g, ok := df.GlobalArgs[k]; ok && v == "" {
				v = g
			}
			vars[k] = expand(v, vars)
		case "ENV":
			for _, kv := range envPairs(t, expand(in.Args, vars)) {
				im.Env[kv[0]] = kv[1]
				vars[kv[0]] = kv[1]
			}
		case "WORKDIR":
			workdir = expand(in.Args, vars)
			if err := os.MkdirAll(im.path(workdir), 0o755); err != nil {
				t.Fatal(err)
			}
		case "COPY":
			parts := strings.Fields(expand(in.Args, vars))
			dst := parts[len(parts)-1]
			if !strings.HasPrefix(dst, "/") {
				dst = filepath.Join(workdir, dst)
			}
			from := context
			if f, ok := in.Flags["from"]; ok {
				src, ok := stages[f]
				if !ok {
					t.Fatalf("%s: --from=%s names no earlier stage", where, f)
				}
				from = src.Root
			}
			for _, src := range parts[:len(parts)-1] {
				if in.Flags["from"] == "" && strings.HasPrefix(src, "/") {
					t.Fatalf("%s: %s: sources in the build context are relative", where, src)
				}
				copyPath(t, filepath.Join(from, filepath.FromSlash(src)), im.path(dst), strings.HasSuffix(dst, "/") || len(parts) > 2)
			}
		case "RUN":
			if strings.HasPrefix(in.Args, "[") {
				t.Fatalf("%s: use the shell form in the build stage", where)
			}
			cmd := exec.Command("bash", "-euo", "pipefail", "-c", in.Args)
			cmd.Dir = im.path(workdir)
			cmd.Env = os.Environ()
			for k, v := range vars {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			for k, v := range im.Env {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s: %v\n%s\n%s", where, err, in.Args, out)
			}
			t.Logf("%s: %s\n%s", where, in.Args, strings.TrimSpace(string(out)))
		case "USER":
			im.User = in.Args
		case "EXPOSE":
			im.Expose = append(im.Expose, strings.Fields(in.Args)...)
		case "HEALTHCHECK":
			im.HealthFlags = in.Flags
			rest, ok := strings.CutPrefix(in.Args, "CMD ")
			if !ok {
				t.Fatalf("%s: want HEALTHCHECK [flags] CMD [exec form]", where)
			}
			im.Healthcheck = execForm(t, where, rest)
		case "ENTRYPOINT":
			im.Entrypoint = execForm(t, where, in.Args)
		case "CMD":
			im.Cmd = execForm(t, where, in.Args)
		case "LABEL":
		default:
			t.Fatalf("%s: not supported by this test's runner; teach runStage", where)
		}
	}
	return im
}

func execForm(t *testing.T, where, s string) []string {
	t.Helper()
	var out []string
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		t.Fatalf("%s: %q is not the exec form [\"…\"]: %v", where, s, err)
	}
	return out
}

// copyPath copies a file or a directory tree to dst (into dst when intoDir).
func copyPath(t *testing.T, src, dst string, intoDir bool) {
	t.Helper()
	fi, err := os.Stat(src)
	if err != nil {
		t.Fatalf("COPY: %v", err)
	}
	if !fi.IsDir() {
		if intoDir {
			dst = filepath.Join(dst, filepath.Base(src))
		}
		copyFile(t, src, dst, fi.Mode())
		return
	}
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		copyFile(t, p, target, info.Mode())
		return nil
	})
	if err != nil {
		t.Fatalf("COPY %s: %v", src, err)
	}
}

func copyFile(t *testing.T, src, dst string, mode fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode.Perm())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
