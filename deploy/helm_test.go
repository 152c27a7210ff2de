package deploy_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"text/template"

	"go.yaml.in/yaml/v3"

	"github.com/pgherd/pgherd/internal/config"
	"github.com/pgherd/pgherd/internal/testenv"
)

const chartDir = "helm/pgherd"

// manifest is one rendered Kubernetes object.
type manifest map[string]any

func (m manifest) kind() string { s, _ := m["kind"].(string); return s }

// get follows a path of map keys and list indexes ("spec.template.spec.containers.0").
func (m manifest) get(path string) any { return m.at(strings.Split(path, ".")...) }

// at is get with the keys given one by one (for keys with dots).
func (m manifest) at(keys ...string) any {
	var cur any = m
	for _, k := range keys {
		switch c := cur.(type) {
		case manifest:
			cur = c[k]
		case map[string]any:
			cur = c[k]
		case []any:
			var i int
			if _, err := fmt.Sscan(k, &i); err != nil || i >= len(c) {
				return nil
			}
			cur = c[i]
		default:
			return nil
		}
	}
	return cur
}

func (m manifest) str(path string) string { return fmt.Sprint(m.get(path)) }

// render renders the chart with Go's text/template and the functions of
// Helm's template language the chart uses (a subset of sprig plus include,
// toYaml, required), the way `helm template` does: every file under
// templates/ in one template set, _*.tpl only defining, NOTES.txt not a
// manifest. overrides are merged into values.yaml like --set.
func render(t *testing.T, overrides map[string]any) []manifest {
	t.Helper()
	var chart struct {
		Name, Version, AppVersion string
	}
	var raw map[string]any
	must(0, yaml.Unmarshal(must(os.ReadFile(filepath.Join(chartDir, "Chart.yaml"))), &raw))
	chart.Name, _ = raw["name"].(string)
	chart.Version, _ = raw["version"].(string)
	chart.AppVersion, _ = raw["appVersion"].(string)
	values := map[string]any{}
	must(0, yaml.Unmarshal(must(os.ReadFile(filepath.Join(chartDir, "values.yaml"))), &values))
	mergeValues(values, overrides)

	root := template.New("chart").Option("missingkey=zero")
	funcs := template.FuncMap{
		"include": func(name string, data any) (string, error) {
			var b bytes.Buffer
			err := root.ExecuteTemplate(&b, name, data)
			return b.String(), err
		},
		"toYaml": func(v any) (string, error) {
			b, err := yaml.Marshal(v)
			return strings.TrimSuffix(string(b), "\n"), err
		},
		"nindent": func(n int, s string) string { return "\n" + indent(n, s) },
		"indent":  indent,
		"quote":   func(v any) string { return fmt.Sprintf("%q", fmt.Sprint(v)) },
		"default": func(def any, given ...any) any {
			if len(given) == 0 || empty(given[0]) {
				return def
			}
			return given[0]
		},
		"required": func(msg string, v any) (any, error) {
			if empty(v) {
				return nil, errors.New(msg)
			}
			return v, nil
		},
		"trunc":      func(n int, s string) string { return s[:min(n, len(s))] },
		"trimSuffix": func(suffix, s string) string { return strings.TrimSuffix(s, suffix) },
		"contains":   func(sub, s string) bool { return strings.Contains(s, sub) },
		"replace":    func(old, new, s string) string { return strings.ReplaceAll(s, old, new) },
		"sha256sum":  func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) },
		"int": func(v any) int {
			switch n := v.(type) {
			case int:
				return n
			case float64:
				return int(n)
			}
			return 0
		},
	}
	root.Funcs(funcs)
	files, _ := filepath.Glob(filepath.Join(chartDir, "templates", "*"))
	slices.Sort(files)
	for _, f := range files {
		name := filepath.ToSlash(strings.TrimPrefix(f, "helm/"))
		if _, err := root.New(name).Parse(string(must(os.ReadFile(f)))); err != nil {
			t.Fatalf("parsing %s: %v", f, err)
		}
	}
	data := map[string]any{
		"Values":  values,
		"Chart":   chart,
		"Release": map[string]any{"Name": "herd", "Namespace": "db", "Service": "Helm"},
	}
	var out []manifest
	for _, f := range files {
		base := filepath.Base(f)
		if strings.HasPrefix(base, "_") || base == "NOTES.txt" {
			continue
		}
		var b bytes.Buffer
		if err := root.ExecuteTemplate(&b, filepath.ToSlash(strings.TrimPrefix(f, "helm/")), data); err != nil {
			t.Fatalf("rendering %s: %v", f, err)
		}
		text := strings.ReplaceAll(b.String(), "<no value>", "")
		for _, doc := range strings.Split(text, "\n---") {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			var m manifest
			if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
				t.Fatalf("%s renders invalid YAML: %v\n%s", f, err, doc)
			}
			if m != nil {
				out = append(out, m)
			}
		}
	}
	return out
}

func indent(n int, s string) string {
	pad := strings.Repeat(" ", n)
	return pad + strings.ReplaceAll(s, "\n", "\n"+pad)
}

func empty(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.String, reflect.Map, reflect.Slice:
		return rv.Len() == 0
	case reflect.Bool:
		return !rv.Bool()
	case reflect.Int, reflect.Int64:
		return rv.Int() == 0
	case reflect.Float64:
		return rv.Float() == 0
	}
	return false
}

// mergeValues merges src into dst, maps recursively.
func mergeValues(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				mergeValues(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
}

func byKind(ms []manifest) map[string]manifest {
	out := map[string]manifest{}
	for _, m := range ms {
		out[m.kind()] = m
	}
	return out
}

// TestHelmChart renders the chart with its defaults and with each option
// turned on, and checks the manifests: probes, the config Secret, the
// non-root sandbox, resources, the optional HPA, PodDisruptionBudget,
// ServiceMonitor and session affinity; the default configuration is valid
// for pgherd and listens on the container port.
func TestHelmChart(t *testing.T) {
	objs := byKind(render(t, nil))
	for _, k := range []string{"Deployment", "Service", "Secret", "ServiceAccount", "PodDisruptionBudget"} {
		if _, ok := objs[k]; !ok {
			t.Errorf("default render has no %s (kinds: %v)", k, slices.Sorted(maps.Keys(objs)))
		}
	}
	for _, k := range []string{"HorizontalPodAutoscaler", "ServiceMonitor", "Ingress"} {
		if _, ok := objs[k]; ok {
			t.Errorf("default render has a %s; it is opt-in", k)
		}
	}
	dep := objs["Deployment"]
	c := "spec.template.spec.containers.0."
	checks := map[string]string{
		c + "readinessProbe.httpGet.path":                 "/ready",
		c + "livenessProbe.httpGet.path":                  "/health",
		c + "securityContext.readOnlyRootFilesystem":      "true",
		c + "securityContext.allowPrivilegeEscalation":    "false",
		c + "securityContext.capabilities.drop.0":         "ALL",
		"spec.template.spec.securityContext.runAsNonRoot": "true",
		c + "args.2":                   "/etc/pgherd/pgherd.yaml",
		c + "volumeMounts.0.mountPath": "/etc/pgherd",
		"spec.template.spec.volumes.0.secret.secretName":  "herd-pgherd-config",
		c + "resources.requests.cpu":                      "250m",
		c + "resources.limits.memory":                     "512Mi",
		c + "lifecycle.preStop.sleep.seconds":             "5",
		"spec.replicas":                                   "2",
		"spec.template.spec.automountServiceAccountToken": "false",
	}
	for path, want := range checks {
		if got := dep.str(path); got != want {
			t.Errorf("Deployment %s = %s, want %s", path, got, want)
		}
	}
	if dep.get(c+"volumeMounts.0.subPath") != nil {
		t.Errorf("the config is mounted with subPath: Kubernetes would never update it in place")
	}
	svc := objs["Service"]
	if got := svc.str("spec.sessionAffinity"); got != "None" {
		t.Errorf("Service sessionAffinity = %s, want None (stateless by default)", got)
	}
	if objs["PodDisruptionBudget"].str("spec.minAvailable") != "1" || objs["PodDisruptionBudget"].str("apiVersion") != "policy/v1" {
		t.Errorf("PodDisruptionBudget: %v", objs["PodDisruptionBudget"])
	}

	// The default configuration is valid pgherd configuration (with its
	// ${VAR} values given) and listens where the probes look.
	secret := objs["Secret"]
	text := fmt.Sprint(secret.at("stringData", "pgherd.yaml"))
	env := map[string]string{"PGHERD_AGENT_KEY": "k-0123456789abcdef0123", "APP_DATABASE_URI": "postgres://u:p@db:5432/app"}
	cfg, err := config.Parse([]byte(text), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatalf("the chart's default config is invalid: %v\n%s", err, text)
	}
	if got := fmt.Sprint(cfg.Server.Port); got != dep.str(c+"ports.0.containerPort") {
		t.Errorf("config server.port %s, container port %s", got, dep.str(c+"ports.0.containerPort"))
	}
	if !cfg.Server.WatchConfig {
		t.Errorf("config server.watch_config is off: an updated Secret would need a restart")
	}
	if cfg.Server.Host != "0.0.0.0" {
		t.Errorf("config server.host %s: a pod must listen beyond loopback", cfg.Server.Host)
	}

	t.Run("options", func(t *testing.T) {
		objs := byKind(render(t, map[string]any{
			"autoscaling":    map[string]any{"enabled": true},
			"serviceMonitor": map[string]any{"enabled": true},
			"ingress":        map[string]any{"enabled": true},
			"service":        map[string]any{"sessionAffinity": "ClientIP"},
			"config":         map[string]any{"existingSecret": "my-config", "rollOnChange": true},
			"env":            map[string]any{"secretName": "my-env"},
		}))
		hpa := objs["HorizontalPodAutoscaler"]
		if hpa.str("apiVersion") != "autoscaling/v2" || hpa.str("spec.scaleTargetRef.name") != "herd-pgherd" ||
			hpa.str("spec.metrics.0.resource.name") != "cpu" {
			t.Errorf("HPA: %v", hpa)
		}
		if objs["Deployment"].get("spec.replicas") != nil {
			t.Errorf("with autoscaling the Deployment must not set replicas (the HPA owns them)")
		}
		sm := objs["ServiceMonitor"]
		if sm.str("apiVersion") != "monitoring.coreos.com/v1" || sm.str("spec.endpoints.0.path") != "/metrics" || sm.str("spec.endpoints.0.port") != "http" {
			t.Errorf("ServiceMonitor: %v", sm)
		}
		if _, ok := objs["Secret"]; ok {
			t.Errorf("with config.existingSecret the chart must not create a config Secret")
		}
		dep := objs["Deployment"]
		if dep.str("spec.template.spec.volumes.0.secret.secretName") != "my-config" {
			t.Errorf("config volume from %s, want my-config", dep.str("spec.template.spec.volumes.0.secret.secretName"))
		}
		if dep.str(c+"envFrom.0.secretRef.name") != "my-env" {
			t.Errorf("envFrom = %v, want the env Secret", dep.get(c+"envFrom"))
		}
		if dep.at("spec", "template", "metadata", "annotations", "checksum/config") != nil {
			t.Errorf("checksum annotation over a Secret the chart does not render")
		}
		svc := objs["Service"]
		if svc.str("spec.sessionAffinity") != "ClientIP" || svc.str("spec.sessionAffinityConfig.clientIP.timeoutSeconds") != "10800" {
			t.Errorf("stateful affinity: %v", svc["spec"])
		}
		if objs["Ingress"].str("spec.rules.0.http.paths.0.backend.service.name") != "herd-pgherd" {
			t.Errorf("Ingress: %v", objs["Ingress"])
		}
	})
	t.Run("single replica", func(t *testing.T) {
		objs := byKind(render(t, map[string]any{"replicaCount": 1, "config": map[string]any{"rollOnChange": true}}))
		if _, ok := objs["PodDisruptionBudget"]; ok {
			t.Errorf("a PodDisruptionBudget with minAvailable 1 over one replica blocks every node drain")
		}
		if dep := objs["Deployment"]; len(fmt.Sprint(dep.at("spec", "template", "metadata", "annotations", "checksum/config"))) != 64 {
			t.Errorf("rollOnChange: no checksum annotation: %v", dep.get("spec.template.metadata.annotations"))
		}
	})
}

// TestHelmChartWithHelm lints the chart and renders it with helm itself,
// when helm is installed, and checks it renders the same objects as the
// renderer above. scripts/deps.sh does not install helm (building it takes
// minutes); `go install helm.sh/helm/v4/cmd/helm@v4.3.2` does.
func TestHelmChartWithHelm(t *testing.T) {
	helm, err := exec.LookPath("helm")
	if err != nil {
		helm = filepath.Join(testenv.GoBin(), "helm")
		if _, err := os.Stat(helm); err != nil {
			t.Skip("helm is not installed (optional: go install helm.sh/helm/v4/cmd/helm@v4.3.2)")
		}
	}
	sets := [][]string{nil, {"--set", "autoscaling.enabled=true,serviceMonitor.enabled=true,ingress.enabled=true,service.sessionAffinity=ClientIP"}}
	overrides := []map[string]any{nil, {
		"autoscaling": map[string]any{"enabled": true}, "serviceMonitor": map[string]any{"enabled": true},
		"ingress": map[string]any{"enabled": true}, "service": map[string]any{"sessionAffinity": "ClientIP"},
	}}
	if out, err := exec.Command(helm, "lint", "--strict", chartDir).CombinedOutput(); err != nil {
		t.Fatalf("helm lint: %v\n%s", err, out)
	}
	for i, set := range sets {
		args := append([]string{"template", "herd", chartDir, "--namespace", "db"}, set...)
		out, err := exec.Command(helm, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("helm %v: %v\n%s", args, err, out)
		}
		var got []manifest
		dec := yaml.NewDecoder(bytes.NewReader(out))
		for {
			var m manifest
			if err := dec.Decode(&m); err != nil {
				break
			}
			if m != nil {
				got = append(got, m)
			}
		}
		want := render(t, overrides[i])
		key := func(m manifest) string { return m.kind() + "/" + m.str("metadata.name") }
		slices.SortFunc(got, func(a, b manifest) int { return strings.Compare(key(a), key(b)) })
		slices.SortFunc(want, func(a, b manifest) int { return strings.Compare(key(a), key(b)) })
		if !reflect.DeepEqual(normalize(got), normalize(want)) {
			g, _ := yaml.Marshal(got)
			w, _ := yaml.Marshal(want)
			t.Errorf("helm %v renders differently from the test's renderer:\nhelm:\n%s\ntest:\n%s", set, g, w)
		}
	}
}

// normalize round-trips through YAML so numbers and strings compare alike.
func normalize(ms []manifest) any {
	b, _ := yaml.Marshal(ms)
	var out any
	yaml.Unmarshal(b, &out)
	return out
}
