package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/pgherd/pgherd/internal/editdist"
)

// maxNodes bounds the values one file may expand to through anchors and
// aliases, so a small file cannot make the loader do unbounded work.
const maxNodes = 100_000

// parseYAML parses one YAML document into its node tree; nil means an empty
// file. Strictness (known keys only, key paths in errors) is the decoder's
// job: see [decoder].
func parseYAML(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		if p := indentProblem(data); p != "" {
			return nil, fmt.Errorf("the file is not valid YAML: %s", p)
		}
		return nil, fmt.Errorf("the file is not valid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("the file holds more than one YAML document; keep one (remove the --- separator)")
	}
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 {
			return nil, nil
		}
		return doc.Content[0], nil
	}
	return &doc, nil
}

// decoder fills Go values from a YAML node tree, strictly: every key must be
// a field's yaml name, every value must have the field's shape, and every
// problem is recorded with its key path instead of stopping at the first.
// Scalar values go through ${VAR} expansion on the way; keys never do.
//
// It is written against the node tree rather than yaml.Decoder with
// KnownFields(true) because the latter reports "line 7: field acces_mode not
// found in type config.Endpoint" and stops there, where an operator needs
// "endpoints.app1.acces_mode: unknown key; did you mean access_mode?" and
// every other problem in the same run.
type decoder struct {
	env  func(string) (string, bool)
	errs Errors
	// failed holds the paths whose value could not be decoded, so validation
	// does not report a second, confusing problem for the same value.
	failed []string
	// fromEnv holds the paths whose value was exactly one ${VAR}.
	fromEnv map[string]bool
	// zeros holds the paths explicitly set to a numeric zero (see
	// [Config.zeros]).
	zeros  map[string]bool
	budget int
}

// exhausted reports that decoding stopped early: what it produced is partial.
func (d *decoder) exhausted() bool { return d.budget <= 0 }

func newDecoder(env func(string) (string, bool)) *decoder {
	return &decoder{env: env, fromEnv: map[string]bool{}, zeros: map[string]bool{}, budget: maxNodes}
}

func (d *decoder) fail(path, format string, args ...any) {
	d.errs.add(path, format, args...)
	d.failed = append(d.failed, path)
}

var (
	durationType    = reflect.TypeFor[Duration]()
	secretType      = reflect.TypeFor[Secret]()
	apiKeyType      = reflect.TypeFor[APIKey]()
	metricsAuthType = reflect.TypeFor[MetricsAuth]()
)

// deref follows aliases and spends the node budget; nil means the budget is
// gone (reported once).
func (d *decoder) deref(n *yaml.Node, path string) *yaml.Node {
	for n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			d.fail(path, "alias *%s refers to no anchor; define &%s before using it", n.Value, n.Value)
			return nil
		}
		n = n.Alias
	}
	d.budget--
	if d.budget == 0 {
		d.fail(path, "the file expands to more than %d values through anchors, aliases and merges; simplify it", maxNodes)
	}
	if d.budget <= 0 {
		return nil
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping (key: value lines)"
	case yaml.SequenceNode:
		return "a list"
	default:
		return "a single value"
	}
}

// decode fills v (addressable) from n. A null value leaves v as it is.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n = d.deref(n, path); n == nil || isNull(n) {
		return
	}
	if v.Type() == durationType {
		d.duration(n, v, path)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path)
	case reflect.Struct:
		d.structure(n, v, path)
	case reflect.Map:
		d.mapping(n, v, path)
	case reflect.Slice:
		d.sequence(n, v, path)
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int32, reflect.Int64, reflect.Float64:
		d.scalar(n, v, path)
	default:
		panic(fmt.Sprintf("config: decoder cannot fill %s at %s", v.Type(), path))
	}
}

// entry is one key: value pair of a mapping, after merge keys are applied.
type entry struct {
	key   string
	value *yaml.Node
}

// entries returns the pairs of mapping n in file order. Keys from "<<:"
// merges come first and yield to the mapping's own keys; a key written twice
// is an error.
func (d *decoder) entries(n *yaml.Node, path string) []entry {
	var own, merged []entry
	line := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k = d.deref(k, path); k == nil {
			return nil
		}
		if k.Kind != yaml.ScalarNode {
			d.fail(path, "a key is %s; keys must be plain words", describe(k))
			continue
		}
		if k.Value == "<<" && (k.Tag == "" || k.Tag == "!" || k.Tag == "!!merge") && k.Style == 0 {
			merged = append(merged, d.merge(val, path)...)
			continue
		}
		if first, dup := line[k.Value]; dup {
			d.fail(joinKey(path, k.Value), "written twice (lines %d and %d); keep one", first, k.Line)
			continue
		}
		line[k.Value] = k.Line
		own = append(own, entry{k.Value, val})
	}
	out := own
	for _, e := range merged {
		if _, ok := line[e.key]; !ok {
			line[e.key] = 0
			out = append(out, e)
		}
	}
	return out
}

// merge returns the entries a "<<:" value brings in: one mapping or a list
// of them, earlier ones winning.
func (d *decoder) merge(n *yaml.Node, path string) []entry {
	if n = d.deref(n, path); n == nil {
		return nil
	}
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
	}
	var out []entry
	for _, item := range items {
		if n.Kind == yaml.SequenceNode {
			if item = d.deref(item, path); item == nil {
				return nil
			}
		}
		if item.Kind != yaml.MappingNode {
			d.fail(path, "<< merges a mapping or a list of mappings (<<: *name), got %s", describe(item))
			continue
		}
		out = append(out, d.entries(item, path)...)
	}
	return out
}

// fieldKeys lists a struct type's yaml keys in declaration order with their
// field indexes.
func fieldKeys(t reflect.Type) ([]string, map[string]int) {
	var keys []string
	index := map[string]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || name == "" {
			continue
		}
		keys = append(keys, name)
		index[name] = i
	}
	return keys, index
}

func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		if v.Type() == reflect.TypeFor[Endpoint]() && n.Kind == yaml.ScalarNode {
			d.fail(path, "expected the endpoint's settings, got a single value; write the URI under it as database_uri: …")
			return
		}
		d.fail(path, "expected a mapping (key: value lines), got %s", describe(n))
		return
	}
	keys, index := fieldKeys(v.Type())
	for _, e := range d.entries(n, path) {
		p := joinKey(path, e.key)
		i, ok := index[e.key]
		if !ok && path == "" && strings.HasPrefix(e.key, "x-") {
			// Extension keys at the top are ignored, as in Compose files:
			// the place for anchors (x-pool: &pool {...}).
			continue
		}
		if !ok {
			d.errs.add(p, "unknown key; %s", suggestKey(e.key, keys))
			continue
		}
		d.decode(e.value, v.Field(i), p)
	}
	if v.Type() == apiKeyType {
		// A plain key is acceptable only if it came from the environment;
		// validation needs to know, so the decoder tells it here.
		v.Addr().Interface().(*APIKey).keyFromEnv = d.fromEnv[joinKey(path, "key")]
	}
	if v.Type() == metricsAuthType {
		v.Addr().Interface().(*MetricsAuth).tokenFromEnv = d.fromEnv[joinKey(path, "token")]
	}
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(path, "expected a mapping (name: value lines), got %s", describe(n))
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	for _, e := range d.entries(n, path) {
		p := joinKey(path, e.key)
		if e.key == "" {
			d.fail(p, "empty name; give it a name")
			continue
		}
		elem := reflect.New(v.Type().Elem()).Elem()
		if elem.Kind() == reflect.Pointer {
			// "app1:" with nothing under it is still an entry.
			elem.Set(reflect.New(elem.Type().Elem()))
		}
		d.decode(e.value, elem, p)
		v.SetMapIndex(reflect.ValueOf(e.key).Convert(v.Type().Key()), elem)
	}
}

func (d *decoder) sequence(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		if n.Kind == yaml.ScalarNode && v.Type().Elem().Kind() == reflect.String {
			d.fail(path, "expected a list, got a single value; write [%s] or one \"- item\" line per item", n.Value)
			return
		}
		d.fail(path, "expected a list, got %s", describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		elem := s.Index(i)
		if elem.Kind() == reflect.Pointer {
			elem.Set(reflect.New(elem.Type().Elem()))
		}
		d.decode(item, elem, fmt.Sprintf("%s[%d]", path, i))
	}
	v.Set(s)
}

// text returns the expanded text of scalar n, or ok false after recording
// why not.
func (d *decoder) text(n *yaml.Node, v reflect.Value, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.fail(path, "expected a single value, got %s", describe(n))
		return "", false
	}
	x, err := expand(n.Value, d.env, v.Type() == secretType)
	if err != nil {
		d.fail(path, "%v", err)
		return "", false
	}
	if x.whole {
		d.fromEnv[path] = true
	}
	return x.value, true
}

func (d *decoder) scalar(n *yaml.Node, v reflect.Value, path string) {
	s, ok := d.text(n, v, path)
	if !ok {
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := parseBool(s)
		if err != nil {
			d.fail(path, "%v", err)
			return
		}
		v.SetBool(b)
	case reflect.Float64:
		f, err := strconv.ParseFloat(strings.ReplaceAll(strings.TrimSpace(s), "_", ""), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			d.fail(path, "%q is not a number", s)
			return
		}
		v.SetFloat(f)
		d.noteZero(path, f == 0)
	default:
		var i int64
		var err error
		if strings.HasSuffix(path, "_bytes") {
			i, err = parseSize(s, v.Type().Bits())
		} else {
			i, err = parseInt(s, v.Type().Bits())
		}
		if err != nil {
			d.fail(path, "%v", err)
			return
		}
		v.SetInt(i)
		d.noteZero(path, i == 0)
	}
}

func (d *decoder) duration(n *yaml.Node, v reflect.Value, path string) {
	s, ok := d.text(n, v, path)
	if !ok {
		return
	}
	t, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		d.fail(path, "%q is not a duration; write it like 30s, 5m or 1h", s)
		return
	}
	v.SetInt(int64(t))
	d.noteZero(path, t == 0)
}

func (d *decoder) noteZero(path string, zero bool) {
	if zero {
		d.zeros[path] = true
	} else {
		delete(d.zeros, path)
	}
}

// parseBool accepts true/false, yes/no, on/off and 1/0 in any case.
func parseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "yes", "on", "1":
		return true, nil
	case "false", "no", "off", "0":
		return false, nil
	}
	return false, fmt.Errorf("%q is not true or false", s)
}

// parseInt accepts a decimal whole number; _ may separate digits (1_000).
func parseInt(s string, bits int) (int64, error) {
	t := strings.TrimSpace(s)
	digits := strings.ReplaceAll(t, "_", "")
	i, err := strconv.ParseInt(digits, 10, bits)
	if err != nil || strings.HasPrefix(t, "_") || strings.HasSuffix(t, "_") || strings.Contains(t, "__") {
		var ne *strconv.NumError
		if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
			return 0, fmt.Errorf("%s is too large", t)
		}
		return 0, fmt.Errorf("%q is not a whole number", s)
	}
	return i, nil
}

// sizeUnits are the suffixes a byte count may carry.
var sizeUnits = []struct {
	suffix string
	factor int64
}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}}

// parseSize accepts a byte count, optionally with a KiB, MiB or GiB suffix.
func parseSize(s string, bits int) (int64, error) {
	t := strings.TrimSpace(s)
	factor := int64(1)
	for _, u := range sizeUnits {
		if num, ok := strings.CutSuffix(t, u.suffix); ok {
			t, factor = strings.TrimSpace(num), u.factor
			break
		}
	}
	i, err := parseInt(t, bits)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size; write a number of bytes, or use KiB, MiB or GiB (4MiB)", s)
	}
	if i != 0 && (i*factor)/factor != i {
		return 0, fmt.Errorf("%s is too large", s)
	}
	return i * factor, nil
}

// joinKey appends a mapping key to a path: a.b for plain keys,
// a["x.y"] for keys a dot would make ambiguous.
func joinKey(path, key string) string {
	plain := key != ""
	for _, r := range key {
		if !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			plain = false
			break
		}
	}
	switch {
	case !plain:
		return path + "[" + strconv.Quote(key) + "]"
	case path == "":
		return key
	default:
		return path + "." + key
	}
}

// suggestKey tells what to write instead of an unknown key.
func suggestKey(key string, known []string) string {
	if s := closest(key, known); s != "" {
		return "did you mean " + s + "?"
	}
	return "valid keys here: " + strings.Join(known, ", ")
}

// closest returns the candidate that key most plausibly misspells, or "".
func closest(key string, candidates []string) string {
	norm := func(s string) string {
		return strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(s))
	}
	best, bestDist := "", 0
	for _, c := range candidates {
		if norm(c) == norm(key) {
			return c
		}
		dist := editdist.Levenshtein(strings.ToLower(key), c)
		limit := max(1, min(3, len(c)/3))
		if dist <= limit && (best == "" || dist < bestDist) {
			best, bestDist = c, dist
		}
	}
	return best
}

// under reports whether path is p or lies below it.
func under(path, p string) bool {
	return path == p || strings.HasPrefix(path, p+".") || strings.HasPrefix(path, p+"[")
}

// failedUnder reports whether path is at or below a value that failed to
// decode.
func failedUnder(failed []string, path string) bool {
	return slices.ContainsFunc(failed, func(p string) bool { return under(path, p) })
}
