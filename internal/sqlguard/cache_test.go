package sqlguard_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/pgherd/pgherd/internal/access"
	"github.com/pgherd/pgherd/internal/sqlguard"
)

// TestCache: a cached verdict is the uncached one; the options are part of
// the key (a statement allowed for one login or server is judged again for
// another); refusals, long statements and a nil cache go to the validator
// every time; the cache never holds more than its size.
func TestCache(t *testing.T) {
	c := sqlguard.NewCache(4)
	ro := sqlguard.Options{Mode: access.UserRO, Database: "app", ServerMajor: 15}
	const point = "SELECT id FROM customers WHERE id = $1"

	v1, err := c.Validate(point, ro)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := c.Validate(point, ro)
	if err != nil || v2 != v1 {
		t.Fatalf("second Validate = %p, %v; want the cached %p", v2, err, v1)
	}
	want, _ := sqlguard.Validate(point, ro)
	if v1.Command != want.Command || v1.ReadOnly != want.ReadOnly || v1.SessionState != want.SessionState ||
		v1.Params != want.Params || (v1.Lookup == nil) != (want.Lookup == nil) {
		t.Errorf("cached verdict %+v differs from the validator's %+v", v1, want)
	}

	// The same text under other options is a different entry, judged anew.
	threePart := "SELECT id FROM app.public.customers"
	if _, err := c.Validate(threePart, ro); err != nil {
		t.Fatalf("three-part name in its own database: %v", err)
	}
	other := ro
	other.Database = "other"
	if _, err := c.Validate(threePart, other); err == nil {
		t.Error("a three-part name allowed for database app was allowed for database other: the options must be part of the key")
	}
	if _, err := c.Validate("DELETE FROM customers", ro); err == nil {
		t.Error("DELETE allowed in user_ro")
	}
	if _, err := c.Validate("DELETE FROM customers", ro); err == nil {
		t.Error("DELETE allowed in user_ro the second time: a refusal must not be cached as a verdict")
	}
	rw := ro
	rw.Mode = access.UserRW
	if _, err := c.Validate("DELETE FROM customers", rw); err != nil {
		t.Errorf("DELETE in user_rw after its refusal in user_ro: %v", err)
	}

	long := "SELECT 1 AS " + strings.Repeat("x", sqlguard.MaxCachedSQL)
	n := c.Len()
	if _, err := c.Validate(long, ro); err != nil {
		t.Fatal(err)
	}
	if c.Len() != n {
		t.Errorf("a %d-byte statement was cached (limit %d)", len(long), sqlguard.MaxCachedSQL)
	}

	for i := range 20 {
		if _, err := c.Validate(fmt.Sprintf("SELECT %d", i), ro); err != nil {
			t.Fatal(err)
		}
		if c.Len() > 4 {
			t.Fatalf("cache holds %d verdicts, more than its size 4", c.Len())
		}
	}

	var none *sqlguard.Cache
	if v, err := none.Validate(point, ro); err != nil || v == nil {
		t.Errorf("nil cache: %v, %v", v, err)
	}
	if _, err := sqlguard.NewCache(0).Validate("DROP TABLE customers", ro); err == nil {
		t.Error("size-0 cache allowed DROP in user_ro")
	}
}

// TestCacheConcurrent runs the cache from many goroutines (for -race).
func TestCacheConcurrent(t *testing.T) {
	c := sqlguard.NewCache(8)
	ro := sqlguard.Options{Mode: access.UserRO}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				sql := fmt.Sprintf("SELECT %d", (g*i)%12)
				if v, err := c.Validate(sql, ro); err != nil || v.Command != "SELECT" {
					t.Errorf("%s: %v, %v", sql, v, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkCache: a statement seen before, through the cache, against the
// validator (BenchmarkCheck).
func BenchmarkCache(b *testing.B) {
	for _, s := range []struct{ name, sql string }{
		{"select1", "SELECT 1"},
		{"w3", "SELECT id, customer_id, status, created_at, total, country FROM orders ORDER BY id LIMIT 1000"},
	} {
		ro := sqlguard.Options{Mode: access.UserRO, Database: "app1", ServerMajor: 15}
		b.Run(s.name+"/uncached", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := sqlguard.Validate(s.sql, ro); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(s.name+"/cached", func(b *testing.B) {
			c := sqlguard.NewCache(512)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Validate(s.sql, ro); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
