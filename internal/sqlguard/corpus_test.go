package sqlguard_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/pgherd/pgherd/internal/access"
	"github.com/pgherd/pgherd/internal/sqlguard"
)

// corpusDir holds the attack corpus shared with the end-to-end tests.
var corpusDir = filepath.Join("..", "..", "testdata", "attacks")

// outcome is a vector's expected result in one mode.
type outcome string

const (
	refused outcome = "refused"
	bounded outcome = "bounded"
	allowed outcome = "allowed"
)

type vector struct {
	Name     string                  `yaml:"name"`
	Category string                  `yaml:"category"`
	SQL      string                  `yaml:"sql"`
	Expect   map[access.Mode]outcome `yaml:"expect"`
	Guard    map[access.Mode]outcome `yaml:"guard"`
	Check    map[access.Mode]outcome `yaml:"check"`
}

// corpusDB is the database name {db} stands for in the validator-only tests.
const corpusDB = "corpus_db"

// corpusMajor is the server version the corpus's expectations are written
// for: the PostgreSQL the tests start (Debian's postgresql-15).
const corpusMajor = 15

// corpusOptions are the validator's options for a vector in mode m, in
// database corpusDB on a PostgreSQL corpusMajor server with a
// least-privilege login.
func corpusOptions(m access.Mode) sqlguard.Options {
	return sqlguard.Options{Mode: m, Database: corpusDB, ServerMajor: corpusMajor}
}

// sqlFor is the vector's SQL for database db.
func (v vector) sqlFor(db string) string { return strings.ReplaceAll(v.SQL, "{db}", db) }

// guardOutcome is what the validator must decide for the vector in mode,
// its catalog lookups included.
func (v vector) guardOutcome(m access.Mode) outcome {
	if g, ok := v.Guard[m]; ok {
		return g
	}
	return v.Expect[m]
}

// checkOutcome is what the validator decides from the text alone.
func (v vector) checkOutcome(m access.Mode) outcome {
	if c, ok := v.Check[m]; ok {
		return c
	}
	return v.guardOutcome(m)
}

// loadCorpus reads vectors.yaml strictly and checks its shape.
func loadCorpus(t testing.TB) []vector {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(corpusDir, "vectors.yaml"))
	if err != nil {
		t.Fatalf("reading corpus: %v", err)
	}
	var file struct {
		Vectors []vector `yaml:"vectors"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil {
		t.Fatalf("decoding vectors.yaml: %v", err)
	}
	seen := map[string]bool{}
	for i, v := range file.Vectors {
		where := fmt.Sprintf("vectors[%d] (%s)", i, v.Name)
		if v.Name == "" || v.Category == "" {
			t.Fatalf("%s: name and category are required", where)
		}
		if seen[v.Name] {
			t.Fatalf("%s: duplicate name", where)
		}
		seen[v.Name] = true
		if len(v.Expect) != len(access.Modes) {
			t.Fatalf("%s: expect must list all four modes, got %v", where, v.Expect)
		}
		for m, o := range v.Expect {
			if !m.Valid() || (o != refused && o != bounded && o != allowed) {
				t.Fatalf("%s: bad expectation %s: %s", where, m, o)
			}
		}
		for m, o := range v.Guard {
			if !m.Valid() || (o != refused && o != allowed && o != bounded) {
				t.Fatalf("%s: bad guard %s: %s", where, m, o)
			}
			if o == v.Expect[m] {
				t.Fatalf("%s: guard for %s repeats expect; drop it", where, m)
			}
		}
		for m, o := range v.Check {
			if !m.Valid() || (o != refused && o != allowed) {
				t.Fatalf("%s: bad check %s: %s", where, m, o)
			}
			if o == v.guardOutcome(m) {
				t.Fatalf("%s: check for %s repeats the guard; drop it", where, m)
			}
		}
	}
	return file.Vectors
}

// TestCorpusGuard checks Check's verdict on every vector in every mode:
// refused exactly when the corpus says the validator refuses.
func TestCorpusGuard(t *testing.T) {
	vectors := loadCorpus(t)
	if len(vectors) < 150 {
		t.Errorf("corpus has %d vectors, want at least 150", len(vectors))
	}
	categories := map[string]int{}
	for _, v := range vectors {
		categories[v.Category]++
		for _, m := range access.Modes {
			want := v.checkOutcome(m)
			_, err := sqlguard.Validate(v.sqlFor(corpusDB), corpusOptions(m))
			if got := err != nil; got != (want == refused) {
				t.Errorf("%s: Check(%q, %s) = %v, want %s", v.Name, v.SQL, m, err, want)
			}
			if err != nil {
				if _, ok := err.(*sqlguard.Error); !ok {
					t.Errorf("%s: Check(%q, %s) returned %T, want *sqlguard.Error", v.Name, v.SQL, m, err)
				}
			}
		}
	}
	for _, c := range []string{"benign", "multi_statement", "transaction_control", "side_effect_function", "obfuscation",
		"catalog_probe", "write_in_cte", "select_into", "create_table_as", "do_call", "copy", "explain_analyze", "lock",
		"for_update", "listen_notify", "prepare_execute", "cursor", "resource"} {
		if categories[c] == 0 {
			t.Errorf("corpus has no vector of category %s", c)
		}
	}
}

// TestCheckConcurrent runs the corpus through Check from several goroutines
// at once (libpg_query keeps per-thread state) and expects the same answers
// as one at a time. Run it with -race.
func TestCheckConcurrent(t *testing.T) {
	vectors := loadCorpus(t)
	render := func(sql string, m access.Mode) string {
		v, err := sqlguard.Check(sql, m)
		if err != nil {
			return err.Error()
		}
		return fmt.Sprintf("%s %t %t %t %d", v.Command, v.ReadOnly, v.NoTransaction, v.SessionState, v.Params)
	}
	want := make([]string, len(vectors))
	for i, v := range vectors {
		want[i] = render(v.SQL, access.Modes[i%len(access.Modes)])
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i, v := range vectors {
				if got := render(v.SQL, access.Modes[i%len(access.Modes)]); got != want[i] {
					t.Errorf("%s: concurrent Check = %s, want %s", v.Name, got, want[i])
				}
			}
		})
	}
	wg.Wait()
}
