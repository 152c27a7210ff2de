package dbhealth

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// Render is the compact text of a report: one line for the whole, then
// each problem with its fix, then the checks that passed in one line.
func Render(r *Report) string {
	var b strings.Builder
	counts := map[Status]int{}
	for _, c := range r.Checks {
		counts[c.Status]++
	}
	fmt.Fprintf(&b, "Database %s (PostgreSQL %s) as %s: %s — %d critical, %d warning, %d unknown, %d ok (%.0f ms)\n",
		r.Database, strings.Fields(r.ServerVersion + " ?")[0], r.Role, strings.ToUpper(string(r.Status)),
		counts[Critical], counts[Warning], counts[Unknown], counts[OK], r.DurationMS)
	var ok []string
	for _, c := range r.Checks {
		switch {
		case c.Status == OK:
			s := c.Check
			if c.Summary != "" && c.Summary != "none found" {
				s += " (" + c.Summary + ")"
			}
			ok = append(ok, s)
			continue
		case c.Status == Unknown:
			why := c.MissingPrivilege
			if why == "" {
				why = c.Error
			}
			fmt.Fprintf(&b, "UNKNOWN %s: %s\n", c.Check, why)
			continue
		}
		fmt.Fprintf(&b, "%s %s: %s\n", strings.ToUpper(string(c.Status)), c.Check, c.Summary)
		for _, f := range c.Findings {
			fmt.Fprintf(&b, "  - [%s] %s\n", f.Status, f.Summary)
			if len(f.Remedy) > 0 {
				fmt.Fprintf(&b, "    fix: %s\n", strings.Join(f.Remedy, " "))
			}
			if f.Advice != "" {
				fmt.Fprintf(&b, "    note: %s\n", f.Advice)
			}
		}
		if c.Omitted > 0 {
			fmt.Fprintf(&b, "  … and %d more (health.max_findings)\n", c.Omitted)
		}
	}
	if len(ok) > 0 {
		fmt.Fprintf(&b, "OK: %s\n", strings.Join(ok, "; "))
	}
	return strings.TrimRight(b.String(), "\n")
}

// Summary is the short form of an endpoint's last health report, for
// get_server_info and the herd view.
type Summary struct {
	Status    Status    `json:"status" jsonschema:"worst status of the last run"`
	Check     string    `json:"check,omitempty" jsonschema:"the check of the worst finding"`
	Finding   string    `json:"finding,omitempty" jsonschema:"the worst finding, in one line"`
	Critical  int       `json:"critical"`
	Warning   int       `json:"warning"`
	CheckedAt time.Time `json:"checked_at"`
	// Checks is how many checks the run covered (herd_health runs the fast
	// ones by default).
	Checks int `json:"checks"`
}

// Summarize makes the Summary of r.
func Summarize(r *Report) Summary {
	s := Summary{Status: r.Status, CheckedAt: r.CheckedAt, Checks: len(r.Checks)}
	for _, c := range r.Checks {
		switch c.Status {
		case Critical:
			s.Critical++
		case Warning:
			s.Warning++
		}
	}
	if c, f, ok := r.Worst(); ok {
		s.Check, s.Finding = c.Check, f.Summary
	}
	return s
}

// Cache keeps the latest Summary per endpoint. It is safe for concurrent
// use; the zero value is ready.
type Cache struct {
	mu sync.RWMutex
	m  map[string]Summary
}

// Record stores r as endpoint's latest.
func (c *Cache) Record(endpoint string, r *Report) {
	if c == nil || r == nil {
		return
	}
	s := Summarize(r)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]Summary{}
	}
	if old, ok := c.m[endpoint]; ok && old.CheckedAt.After(s.CheckedAt) {
		return // a slower, older run finished last
	}
	c.m[endpoint] = s
}

// Get returns endpoint's latest summary.
func (c *Cache) Get(endpoint string) (Summary, bool) {
	if c == nil {
		return Summary{}, false
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	s, ok := c.m[endpoint]
	return s, ok
}
