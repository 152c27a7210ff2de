package config

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const examplePath = "testdata/example.yaml"

// The example the README links loads cleanly, with nothing but the one key
// it takes from the environment.
func TestExampleLoads(t *testing.T) {
	c, err := Load(examplePath, mapEnv(map[string]string{"BOB_API_KEY": "bob-example-key-0123456789"}))
	if err != nil {
		t.Fatalf("Load(%s):\n%v", examplePath, err)
	}
	if got, want := c.Names(), []string{"app1", "app2", "app3", "app4", "reports"}; !slices.Equal(got, want) {
		t.Errorf("endpoints = %v, want %v", got, want)
	}
	if c.Endpoints["app2"].Pool.MaxConns != 4 {
		t.Errorf("app2 pool from the anchor: max_conns = %d, want 4", c.Endpoints["app2"].Pool.MaxConns)
	}
}

// Every key of every type appears in the example, at least in a comment, so
// the example stays the complete reference.
func TestExampleCoversEveryKey(t *testing.T) {
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	for _, key := range yamlKeys(reflect.TypeFor[Config](), map[reflect.Type]bool{}) {
		if !regexp.MustCompile(`(?m)(^|[\s{,#-])` + regexp.QuoteMeta(key) + `:`).MatchString(text) {
			t.Errorf("%s does not show the key %q", examplePath, key)
		}
	}
}

// yamlKeys lists the yaml keys of t and of the types it contains.
func yamlKeys(t reflect.Type, seen map[reflect.Type]bool) []string {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || seen[t] {
		return nil
	}
	seen[t] = true
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "-" || name == "" {
			continue
		}
		keys = append(keys, name)
		keys = append(keys, yamlKeys(f.Type, seen)...)
	}
	return keys
}
