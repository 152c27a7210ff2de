package admintools

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pgherd/pgherd/internal/auth"
	"github.com/pgherd/pgherd/internal/dbhealth"
	"github.com/pgherd/pgherd/internal/tools"
)

// HerdTarget is one admin-mode endpoint herd_health may check.
type HerdTarget struct {
	Endpoint string
	// Composed endpoints live inside /mcp: a caller allowed "main" may
	// use them.
	Composed bool
	// Run runs the named checks as the caller of req, on the caller's
	// database handle for this endpoint.
	Run func(ctx context.Context, req *mcp.CallToolRequest, checks []string) (*dbhealth.Report, error)
}

// herdConcurrency bounds how many endpoints herd_health checks at once.
const herdConcurrency = 4

// HerdArgs are herd_health's arguments.
type HerdArgs struct {
	Checks    string   `json:"checks,omitempty" jsonschema:"fast (default: every check but bloat), all, or a comma-separated list of analyze_db_health checks"`
	Endpoints []string `json:"endpoints,omitempty" jsonschema:"only these endpoints (default: every admin endpoint you may use)"`
	Limit     int      `json:"limit,omitempty" jsonschema:"at most this many findings, worst first (default 50, at most 500)"`
}

// HerdFinding is one finding with the endpoint it was found on.
type HerdFinding struct {
	Endpoint string `json:"endpoint"`
	Check    string `json:"check"`
	dbhealth.Finding
}

// HerdEndpoint is one endpoint's outcome in the herd view.
type HerdEndpoint struct {
	Endpoint   string          `json:"endpoint"`
	Status     dbhealth.Status `json:"status" jsonschema:"worst status on this endpoint; unknown when it could not be checked"`
	Critical   int             `json:"critical"`
	Warning    int             `json:"warning"`
	Unknown    int             `json:"unknown" jsonschema:"checks that could not run (missing privilege, error)"`
	Error      string          `json:"error,omitempty" jsonschema:"why the endpoint could not be checked"`
	DurationMS float64         `json:"duration_ms"`
}

// HerdResult is herd_health's output.
type HerdResult struct {
	Status    dbhealth.Status `json:"status" jsonschema:"worst status across the herd"`
	Checks    []string        `json:"checks" jsonschema:"the checks run on each endpoint"`
	Endpoints []HerdEndpoint  `json:"endpoints"`
	Findings  []HerdFinding   `json:"findings" jsonschema:"every problem found, worst first, each with its endpoint and remedy"`
	Omitted   int             `json:"omitted_findings,omitempty" jsonschema:"findings left out beyond limit"`
	Skipped   []string        `json:"skipped,omitempty" jsonschema:"admin endpoints you may not use (not checked)"`
}

func (o *Options) registerHerd(t *tools.Target) {
	tools.Add(t, &mcp.Tool{
		Name:  "herd_health",
		Title: "Health of the whole herd",
		Description: "Run analyze_db_health on every admin-mode database endpoint you may use, concurrently, and return all findings ranked by " +
			"severity with the endpoint named, each with its evidence and remedy SQL. checks defaults to fast (every check but the bloat estimate). " +
			"Reports progress per endpoint when the client sends a progress token; get_server_info then shows each endpoint's worst finding.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true, IdempotentHint: true, OpenWorldHint: new(false)},
	}, []string{tools.TagAdmin}, o.herdHealth)
}

func (o *Options) herdHealth(ctx context.Context, req *mcp.CallToolRequest, in HerdArgs) (*mcp.CallToolResult, *HerdResult, error) {
	spec := in.Checks
	if strings.TrimSpace(spec) == "" {
		spec = "fast"
	}
	names, err := dbhealth.ParseChecks(spec)
	if err != nil {
		return nil, nil, err
	}
	limit := in.Limit
	switch {
	case limit == 0:
		limit = 50
	case limit < 0 || limit > 500:
		return nil, nil, fmt.Errorf("limit %d is out of range; use 1-500 (default 50)", in.Limit)
	}
	known := map[string]bool{}
	for _, h := range o.Herd {
		known[h.Endpoint] = true
	}
	for _, e := range in.Endpoints {
		if !known[e] {
			var all []string
			for _, h := range o.Herd {
				all = append(all, h.Endpoint)
			}
			return nil, nil, fmt.Errorf("endpoint %q is not an admin-mode endpoint of this server; herd_health checks: %s", e, strings.Join(all, ", "))
		}
	}
	caller := tools.Caller(req)
	if caller == nil {
		caller = o.Fallback
	}
	out := &HerdResult{Status: dbhealth.OK, Checks: names}
	var targets []HerdTarget
	for _, h := range o.Herd {
		if len(in.Endpoints) > 0 && !slices.Contains(in.Endpoints, h.Endpoint) {
			continue
		}
		if !mayCheck(caller, h) {
			out.Skipped = append(out.Skipped, h.Endpoint)
			continue
		}
		targets = append(targets, h)
	}
	if len(targets) == 0 {
		msg := "no admin-mode database endpoint to check"
		if len(out.Skipped) > 0 {
			msg += fmt.Sprintf(" that you may use (not allowed: %s)", strings.Join(out.Skipped, ", "))
		}
		return nil, nil, fmt.Errorf("%s; analyze_db_health runs on admin_ro and admin_rw endpoints", msg)
	}

	progress := tools.NewProgress(req)
	results := make([]HerdEndpoint, len(targets))
	var (
		mu       sync.Mutex
		findings []HerdFinding
		done     int
	)
	sem := make(chan struct{}, herdConcurrency)
	var wg sync.WaitGroup
	for i, h := range targets {
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				results[i] = HerdEndpoint{Endpoint: h.Endpoint, Status: dbhealth.Unknown, Error: ctx.Err().Error()}
				return
			}
			defer func() { <-sem }()
			start := time.Now()
			rep, err := h.Run(ctx, req, names)
			res := HerdEndpoint{Endpoint: h.Endpoint, DurationMS: float64(time.Since(start).Microseconds()) / 1000}
			var mine []HerdFinding
			if err != nil {
				res.Status, res.Error = dbhealth.Unknown, err.Error()
			} else {
				o.HealthCache.Record(h.Endpoint, rep)
				res.Status = rep.Status
				for _, c := range rep.Checks {
					switch c.Status {
					case dbhealth.Critical:
						res.Critical++
					case dbhealth.Warning:
						res.Warning++
					case dbhealth.Unknown:
						res.Unknown++
						why := c.MissingPrivilege
						if why == "" {
							why = c.Error
						}
						mine = append(mine, HerdFinding{Endpoint: h.Endpoint, Check: c.Check,
							Finding: dbhealth.Finding{Status: dbhealth.Unknown, Summary: c.Summary + ": " + why}})
					}
					for _, f := range c.Findings {
						mine = append(mine, HerdFinding{Endpoint: h.Endpoint, Check: c.Check, Finding: f})
					}
				}
			}
			results[i] = res
			mu.Lock()
			findings = append(findings, mine...)
			done++
			n := done
			mu.Unlock()
			progress.Report(ctx, float64(n), float64(len(targets)), "checked endpoint "+h.Endpoint)
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	out.Endpoints = results
	for _, r := range results {
		out.Status = out.Status.Worse(r.Status)
	}
	slices.SortStableFunc(findings, func(a, b HerdFinding) int {
		return cmp.Or(b.Status.Rank()-a.Status.Rank(), cmp.Compare(a.Endpoint, b.Endpoint), cmp.Compare(a.Check, b.Check))
	})
	if len(findings) > limit {
		out.Omitted = len(findings) - limit
		findings = findings[:limit]
	}
	out.Findings = findings
	if out.Findings == nil {
		out.Findings = []HerdFinding{}
	}
	return text(out.render()), out, nil
}

// mayCheck reports whether caller may run the health checks of h: the
// endpoint (or, for a composed one, the main endpoint) and the tool.
func mayCheck(caller *auth.Principal, h HerdTarget) bool {
	if caller == nil {
		return true
	}
	reach := caller.AllowsEndpoint(h.Endpoint) || (h.Composed && caller.AllowsEndpoint("main"))
	return reach && caller.AllowsTool("analyze_db_health", []string{tools.TagAdmin})
}

func (r *HerdResult) render() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Herd health: %s across %d endpoint(s), %d finding(s)\n", strings.ToUpper(string(r.Status)), len(r.Endpoints), len(r.Findings)+r.Omitted)
	for _, e := range r.Endpoints {
		fmt.Fprintf(&b, "- %s: %s (%d critical, %d warning, %d unknown, %.0f ms)", e.Endpoint, strings.ToUpper(string(e.Status)), e.Critical, e.Warning, e.Unknown, e.DurationMS)
		if e.Error != "" {
			fmt.Fprintf(&b, " — %s", e.Error)
		}
		b.WriteByte('\n')
	}
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "%s %s/%s: %s\n", strings.ToUpper(string(f.Status)), f.Endpoint, f.Check, f.Summary)
		if len(f.Remedy) > 0 {
			fmt.Fprintf(&b, "  fix (on %s): %s\n", f.Endpoint, strings.Join(f.Remedy, " "))
		}
	}
	if r.Omitted > 0 {
		fmt.Fprintf(&b, "… and %d more (raise limit)\n", r.Omitted)
	}
	if len(r.Skipped) > 0 {
		fmt.Fprintf(&b, "Not checked (not allowed for you): %s\n", strings.Join(r.Skipped, ", "))
	}
	return b.String()
}
