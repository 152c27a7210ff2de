package console

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pgherd/pgherd/internal/config"
	"github.com/pgherd/pgherd/internal/dbhealth"
	"github.com/pgherd/pgherd/internal/endpoint"
)

// EndpointView is one endpoint on the Herd page.
type EndpointView struct {
	Name     string  `json:"name"`
	Mode     string  `json:"mode"`
	Database string  `json:"database"` // host:port/dbname: no user, no password
	Served   string  `json:"served"`   // its MCP path, or "/mcp" when composed
	Ready    bool    `json:"ready"`
	Latency  float64 `json:"latency_ms"`
	Error    string  `json:"error,omitempty"`
	Pool     Pool    `json:"pool"`
	Sessions *int    `json:"sessions,omitempty"` // open MCP sessions; absent in stateless mode
	InFlight int     `json:"in_flight"`
	Rates    []Rate  `json:"rates"` // calls and errors per 10 s, oldest first
	// Worst is the worst finding of the last health check, if one ran.
	Worst *dbhealth.Summary `json:"worst,omitempty"`
}

// Pool sums an endpoint's pools.
type Pool struct {
	InUse     int32 `json:"in_use"`
	Idle      int32 `json:"idle"`
	Max       int32 `json:"max"`
	Waits     int64 `json:"waits"`     // acquires that had to wait for a connection
	Exhausted int64 `json:"exhausted"` // acquires that gave up
}

// readyTimeout bounds the database checks of one Herd page refresh.
const readyTimeout = 3 * time.Second

// rateBars is how many 10-second bars the Herd page's charts show (5
// minutes).
const rateBars = 30

func (c *Console) herd(w http.ResponseWriter, r *http.Request, s *session) {
	cfg, herd := c.opts.Config(), c.opts.Herd()
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	sessions := map[string]int{}
	stateful := cfg.Server.SessionMode == config.Stateful
	if stateful {
		for n := range herd.Nodes() {
			k := 0
			for range n.Server.Sessions() {
				k++
			}
			sessions[n.Name] = k
		}
	}
	var out []EndpointView
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, name := range cfg.Names() {
		ep := cfg.Endpoints[name]
		if !s.who.AllowsEndpoint(name) && !(s.who.AllowsEndpoint(endpoint.MainName) && !ep.Served()) {
			continue
		}
		v := EndpointView{Name: name, Mode: string(ep.AccessMode), Database: databaseOf(ep.DatabaseURI.Reveal()), Served: "/mcp"}
		node := endpoint.MainName
		if ep.Served() {
			v.Served, node = "/"+name+"/mcp", name
		}
		if stateful {
			n := sessions[node]
			v.Sessions = &n
		}
		v.Rates, v.InFlight = c.opts.Live.Rates(name, rateBars)
		if sum, ok := c.opts.Health.Get(name); ok {
			v.Worst = &sum
		}
		db := herd.Databases[name]
		if db == nil {
			v.Error = "not connected"
			out = append(out, v)
			continue
		}
		for _, p := range db.Pools() {
			st := p.Stat()
			v.Pool.InUse += st.AcquiredConns
			v.Pool.Idle += st.IdleConns
			v.Pool.Max += st.MaxConns
			v.Pool.Waits += st.EmptyAcquires
			v.Pool.Exhausted += st.Exhausted
		}
		wg.Go(func() {
			st := db.Check(ctx)
			v.Ready, v.Latency, v.Error = st.Ready, st.LatencyMS, st.Error
			mu.Lock()
			out = append(out, v)
			mu.Unlock()
		})
	}
	wg.Wait()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	writeJSON(w, http.StatusOK, map[string]any{
		"endpoints": out, "session_mode": cfg.Server.SessionMode, "version": c.opts.Version, "bar_seconds": int(bucket / time.Second),
	})
}

// databaseOf returns host:port/dbname of a connection URI: never its user
// or password.
func databaseOf(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme == "" {
		return "(not a URL)"
	}
	host := u.Host
	if host == "" {
		host = u.Query().Get("host")
	}
	return host + u.Path
}

// toolOf returns the MCP path serving endpoint and the full name of its
// tool base (explain_query → app1_explain_query).
func toolOf(cfg *config.Config, name, base string) (path, tool string, err error) {
	ep, ok := cfg.Endpoints[name]
	if !ok {
		return "", "", fmt.Errorf("no endpoint %q; choose one of: %s", name, strings.Join(cfg.Names(), ", "))
	}
	path = "/mcp"
	if ep.Served() {
		path = "/" + name + "/mcp"
	}
	tool = base
	if p := ep.ToolPrefix(); p != "" {
		tool = p + "_" + base
	}
	return path, tool, nil
}

// healthRequest asks for one endpoint's health.
type healthRequest struct {
	Endpoint string `json:"endpoint"`
	Checks   string `json:"checks,omitempty"` // default fast
	SortBy   string `json:"sort_by,omitempty"`
}

// health runs analyze_db_health and get_top_queries on an admin-mode
// endpoint, as the operator, and adds what pgherd itself saw of the
// endpoint's statements (every mode).
func (c *Console) health(w http.ResponseWriter, r *http.Request, s *session) {
	var in healthRequest
	if err := readJSON(r, &in); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	cfg := c.opts.Config()
	ep, ok := cfg.Endpoints[in.Endpoint]
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no endpoint %q", in.Endpoint))
		return
	}
	if in.Checks == "" {
		in.Checks = "fast"
	}
	out := map[string]any{"endpoint": in.Endpoint, "mode": ep.AccessMode, "seen": c.opts.Live.Seen(in.Endpoint, 20)}
	if !ep.AccessMode.Admin() {
		msg := fmt.Sprintf("the health checks and pg_stat_statements run on admin-mode endpoints (admin_ro, admin_rw); %s is %s. Below: the statements pgherd ran for it.", in.Endpoint, ep.AccessMode)
		out["report_error"], out["top_error"] = msg, msg
		writeJSON(w, http.StatusOK, out)
		return
	}
	var wg sync.WaitGroup
	var report, top map[string]any
	var reportErr, topErr error
	wg.Go(func() {
		path, tool, err := toolOf(cfg, in.Endpoint, "analyze_db_health")
		if err == nil {
			err = c.caller.call(r.Context(), r, path, s.credential, tool, map[string]any{"checks": in.Checks}, &report)
		}
		reportErr = err
	})
	wg.Go(func() {
		path, tool, err := toolOf(cfg, in.Endpoint, "get_top_queries")
		if err == nil {
			args := map[string]any{"limit": 20}
			if in.SortBy != "" {
				args["sort_by"] = in.SortBy
			}
			err = c.caller.call(r.Context(), r, path, s.credential, tool, args, &top)
		}
		topErr = err
	})
	wg.Wait()
	out["report"], out["top"] = report, top
	if reportErr != nil {
		out["report_error"] = reportErr.Error()
	}
	if topErr != nil {
		out["top_error"] = topErr.Error()
	}
	writeJSON(w, http.StatusOK, out)
}

// planRequest is what the plan viewer sends: explain_query's arguments
// and the endpoint.
type planRequest struct {
	Endpoint            string           `json:"endpoint"`
	SQL                 string           `json:"sql"`
	Params              []any            `json:"params,omitempty"`
	Analyze             bool             `json:"analyze,omitempty"`
	HypotheticalIndexes []map[string]any `json:"hypothetical_indexes,omitempty"`
}

// plan runs explain_query on the endpoint, as the operator: its own code
// path (validation under the endpoint's access mode, hypopg, rollback).
func (c *Console) plan(w http.ResponseWriter, r *http.Request, s *session) {
	var in planRequest
	if err := readJSON(r, &in); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	cfg := c.opts.Config()
	path, tool, err := toolOf(cfg, in.Endpoint, "explain_query")
	if err != nil {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	if strings.TrimSpace(in.SQL) == "" {
		writeError(w, http.StatusBadRequest, "type a query to explain")
		return
	}
	args := map[string]any{"sql": in.SQL}
	if len(in.Params) > 0 {
		args["params"] = in.Params
	}
	if in.Analyze {
		args["analyze"] = true
	}
	if len(in.HypotheticalIndexes) > 0 {
		args["hypothetical_indexes"] = in.HypotheticalIndexes
	}
	var res map[string]any
	if err := c.caller.call(r.Context(), r, path, s.credential, tool, args, &res); err != nil {
		writeJSON(w, http.StatusOK, map[string]any{"error": err.Error(), "mode": cfg.Endpoints[in.Endpoint].AccessMode})
		return
	}
	res["mode"] = cfg.Endpoints[in.Endpoint].AccessMode
	writeJSON(w, http.StatusOK, res)
}
