package console

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/pgherd/pgherd/internal/auth"
	"github.com/pgherd/pgherd/internal/config"
	"github.com/pgherd/pgherd/internal/dbhealth"
	"github.com/pgherd/pgherd/internal/endpoint"
	"github.com/pgherd/pgherd/internal/observe"
	"github.com/pgherd/pgherd/internal/planview"
)

//go:embed assets
var assets embed.FS

// Options configure [New]. Functions are called on every request, so they
// follow configuration reloads.
type Options struct {
	// Config returns the configuration in effect.
	Config func() *config.Config
	// Herd returns the MCP servers and databases in effect.
	Herd func() *endpoint.Herd
	// Policy returns the server-wide authentication policy (the main
	// endpoint's), which signs operators in.
	Policy func() *auth.Policy
	// Handler returns the server's root HTTP handler: the console's tool
	// calls go through it, in the process, as an MCP client's would.
	Handler func() http.Handler
	// Live is the observer of tool calls registered with the hub.
	Live *Live
	// Health holds each endpoint's latest health summary.
	Health *dbhealth.Cache
	// Observe receives refused sign-ins (metrics, audit); nil: none.
	Observe *observe.Hub
	Version string
	Logger  *slog.Logger // nil discards
}

// Console is the operator console's HTTP handler, served under
// server.console.path. Build it once; it keeps the sessions across
// configuration reloads.
type Console struct {
	opts     Options
	path     string
	logger   *slog.Logger
	sessions *sessions
	caller   *caller
	mux      *http.ServeMux
	pages    *template.Template
	static   http.Handler
}

// New builds the console for the path in opts.Config().Server.Console.Path.
func New(opts Options) *Console {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Live == nil {
		opts.Live = NewLive(0)
	}
	c := &Console{
		opts:     opts,
		path:     opts.Config().Server.Console.Path,
		logger:   opts.Logger,
		sessions: newSessions(),
		caller:   &caller{handler: opts.Handler, version: opts.Version},
		pages:    template.Must(template.ParseFS(assets, "assets/*.html")),
	}
	sub, _ := fs.Sub(assets, "assets/static")
	c.static = http.StripPrefix(c.path+"/static/", http.FileServerFS(overlay{planview.FS(), sub}))
	m := http.NewServeMux()
	p := c.path
	m.HandleFunc("GET "+p+"/{$}", c.page("index.html"))
	m.HandleFunc("GET "+p+"/signin", c.signinPage)
	m.HandleFunc("POST "+p+"/signin", c.signin)
	m.HandleFunc("POST "+p+"/signout", c.action(c.signout))
	m.Handle("GET "+p+"/static/", c.staticFiles())
	m.HandleFunc("GET "+p+"/api/me", c.view(c.me))
	m.HandleFunc("GET "+p+"/api/herd", c.view(c.herd))
	m.HandleFunc("GET "+p+"/api/calls", c.view(c.calls))
	m.HandleFunc("GET "+p+"/api/events", c.view(c.events))
	m.HandleFunc("POST "+p+"/api/calls/{id}/cancel", c.action(c.cancel))
	m.HandleFunc("POST "+p+"/api/health", c.action(c.health))
	m.HandleFunc("POST "+p+"/api/plan", c.action(c.plan))
	m.HandleFunc(p+"/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no console page %s; the console is at %s/", r.URL.Path, p))
	})
	c.mux = m
	return c
}

// Path returns where the console is served.
func (c *Console) Path() string { return c.path }

// ServeHTTP serves the console's pages and API under its path. Every
// response forbids framing, sniffing and caching of data, and allows
// scripts, styles and connections to this origin only.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	// same-origin, not no-referrer: with no-referrer a browser sends
	// "Origin: null" on the sign-in form's POST, which the origin check
	// refuses; other sites still get no Referer.
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	if r.URL.Path == c.path {
		http.Redirect(w, r, c.path+"/", http.StatusFound)
		return
	}
	c.mux.ServeHTTP(w, r)
}

// overlay serves plan.js and plan.css from the plan viewer's package (the
// MCP App draws plans with the same code), the rest from the console's
// assets.
type overlay struct{ first, rest fs.FS }

func (o overlay) Open(name string) (fs.File, error) {
	if f, err := o.first.Open(name); err == nil {
		if st, err := f.Stat(); err == nil && !st.IsDir() {
			return f, nil
		}
		f.Close()
	}
	return o.rest.Open(name)
}

func (c *Console) staticFiles() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		c.static.ServeHTTP(w, r)
	})
}

// secure reports whether the console is reached over HTTPS (directly, or
// as server.public_url says).
func (c *Console) secure(r *http.Request) bool {
	return r.TLS != nil || strings.HasPrefix(c.opts.Config().Server.PublicURL, "https://")
}

// open reports whether the console needs no sign-in (auth.mode none).
func (c *Console) open() bool { return c.opts.Config().ConsoleOpen() }

// current returns the request's session, checking the operator's
// credential again, or nil. When no sign-in is needed, a browser without a
// session gets one (its CSRF token protects the actions).
func (c *Console) current(w http.ResponseWriter, r *http.Request) *session {
	sess := c.sessions.get(c.readCookie(r, sessionCookie))
	if c.open() {
		if sess == nil || sess.credential != "" {
			sess = c.sessions.create("", c.anonymous())
			http.SetCookie(w, c.cookie(r, sessionCookie, sess.id, 0))
		}
		return sess
	}
	if sess == nil || sess.credential == "" {
		return nil
	}
	who, err := c.verify(r.Context(), r, sess.credential)
	if err != nil {
		c.sessions.drop(sess.id)
		return nil
	}
	sess.who = who
	return sess
}

// anonymous is the identity of console users when no sign-in is needed.
func (c *Console) anonymous() *auth.Principal {
	if p := c.opts.Policy(); p != nil && p.Anonymous != nil {
		return p.Anonymous
	}
	return auth.LocalPrincipal()
}

// verify checks credential with the server-wide policy and the console
// scope.
func (c *Console) verify(ctx context.Context, r *http.Request, credential string) (*auth.Principal, error) {
	p := c.opts.Policy()
	if p == nil || p.Authenticator == nil {
		return nil, errors.New("the server has no authentication to sign in with")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL.String(), nil)
	if err != nil {
		return nil, err
	}
	req.RemoteAddr = r.RemoteAddr
	req.Header.Set("Authorization", "Bearer "+credential)
	who, err := p.Principal(req)
	if err != nil {
		return nil, err
	}
	who.Login.Release()
	if !slices.Contains(who.Scopes, config.ConsoleScope) {
		return nil, &auth.Error{Kind: auth.ErrForbidden, Code: auth.CodeInsufficientScope,
			Description: fmt.Sprintf("%s has no %q scope; add console to the key's or token's scopes", who.ID(), config.ConsoleScope)}
	}
	return who, nil
}

// view wraps a read-only API handler: it needs a session.
func (c *Console) view(h func(w http.ResponseWriter, r *http.Request, s *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := c.current(w, r)
		if s == nil {
			writeError(w, http.StatusUnauthorized, "sign in first: "+c.path+"/signin")
			return
		}
		h(w, r, s)
	}
}

// csrfHeader carries the session's CSRF token on every action.
const csrfHeader = "X-Pgherd-Csrf"

// action wraps a handler that changes or runs something: it needs a
// session and the session's CSRF token in the X-Pgherd-Csrf header (a
// cross-site form cannot set a header, and the SameSite=Strict cookie is
// not sent cross-site either).
func (c *Console) action(h func(w http.ResponseWriter, r *http.Request, s *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := c.current(w, r)
		if s == nil {
			writeError(w, http.StatusUnauthorized, "sign in first: "+c.path+"/signin")
			return
		}
		if !sameToken(r.Header.Get(csrfHeader), s.csrf) {
			writeError(w, http.StatusForbidden, "missing or wrong CSRF token; reload the console page")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		h(w, r, s)
	}
}

// page serves an HTML page of the console to a signed-in operator, or
// sends the browser to the sign-in page.
func (c *Console) page(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := c.current(w, r)
		if s == nil {
			http.Redirect(w, r, c.path+"/signin", http.StatusSeeOther)
			return
		}
		c.render(w, http.StatusOK, name, map[string]any{"Base": c.path, "CSRF": s.csrf, "Open": c.open(), "Version": c.opts.Version})
	}
}

func (c *Console) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := c.pages.ExecuteTemplate(&buf, name, data); err != nil {
		c.logger.Error("console page", "page", name, "error", err)
		writeError(w, http.StatusInternalServerError, "rendering the page failed")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (c *Console) signinPage(w http.ResponseWriter, r *http.Request) {
	if c.open() {
		http.Redirect(w, r, c.path+"/", http.StatusSeeOther)
		return
	}
	c.signinForm(w, r, http.StatusOK, "")
}

func (c *Console) signinForm(w http.ResponseWriter, r *http.Request, status int, problem string) {
	t := token()
	http.SetCookie(w, c.cookie(r, signinCookie, t, 600))
	c.render(w, status, "signin.html", map[string]any{"Base": c.path, "Token": t, "Problem": problem, "Version": c.opts.Version})
}

// signin checks the key or token an operator typed and starts a session.
func (c *Console) signin(w http.ResponseWriter, r *http.Request) {
	if c.open() {
		http.Redirect(w, r, c.path+"/", http.StatusSeeOther)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		c.signinForm(w, r, http.StatusBadRequest, "The form could not be read; try again.")
		return
	}
	if !sameToken(r.PostForm.Get("token"), c.readCookie(r, signinCookie)) {
		c.signinForm(w, r, http.StatusForbidden, "The sign-in form expired or came from another site; try again.")
		return
	}
	if c.sessions.throttled(r.RemoteAddr) {
		w.Header().Set("Retry-After", "60")
		c.signinForm(w, r, http.StatusTooManyRequests, "Too many failed sign-ins from your address; wait a minute.")
		return
	}
	credential := strings.TrimSpace(r.PostForm.Get("key"))
	if credential == "" || len(credential) > auth.MaxHeaderBytes {
		c.signinForm(w, r, http.StatusBadRequest, "Paste an API key or a token that has the console scope.")
		return
	}
	who, err := c.verify(r.Context(), r, credential)
	if err != nil {
		c.sessions.failed(r.RemoteAddr)
		status, reason, msg := http.StatusUnauthorized, observe.AuthInvalid, "That key or token is not valid here."
		var ae *auth.Error
		if errors.As(err, &ae) && errors.Is(ae.Kind, auth.ErrForbidden) {
			status, reason, msg = http.StatusForbidden, observe.AuthScope, ae.Description
		}
		c.opts.Observe.AuthFailed(r.Context(), auth.Failure(r, "console", status, reason, msg))
		c.logger.Info("console sign-in refused", "remote", r.RemoteAddr, "reason", reason)
		c.signinForm(w, r, status, msg)
		return
	}
	s := c.sessions.create(credential, who)
	http.SetCookie(w, c.cookie(r, signinCookie, "", -1))
	http.SetCookie(w, c.cookie(r, sessionCookie, s.id, 0))
	c.logger.Info("console sign-in", "tenant", who.Tenant, "user", who.User, "key", who.KeyName, "remote", r.RemoteAddr)
	http.Redirect(w, r, c.path+"/", http.StatusSeeOther)
}

func (c *Console) signout(w http.ResponseWriter, r *http.Request, s *session) {
	c.sessions.drop(s.id)
	http.SetCookie(w, c.cookie(r, sessionCookie, "", -1))
	writeJSON(w, http.StatusOK, map[string]string{"signed_out": "true", "signin": c.path + "/signin"})
}

// me says who is signed in, and the endpoints.
func (c *Console) me(w http.ResponseWriter, r *http.Request, s *session) {
	type ep struct {
		Name string `json:"name"`
		Mode string `json:"mode"`
	}
	var eps []ep
	cfg := c.opts.Config()
	for _, name := range cfg.Names() {
		if s.who.AllowsEndpoint(name) || s.who.AllowsEndpoint(endpoint.MainName) && !cfg.Endpoints[name].Served() {
			eps = append(eps, ep{Name: name, Mode: string(cfg.Endpoints[name].AccessMode)})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"who": s.who.ID(), "key": s.who.KeyName, "open": c.open(), "version": c.opts.Version, "endpoints": eps,
	})
}

func (c *Console) calls(w http.ResponseWriter, r *http.Request, s *session) {
	running, finished := c.opts.Live.Calls()
	writeJSON(w, http.StatusOK, map[string]any{"running": visible(s, running), "finished": visible(s, finished)})
}

// visible keeps the calls of endpoints the operator may use.
func visible(s *session, calls []CallView) []CallView {
	if s.who == nil || s.who.Endpoints == nil {
		return calls
	}
	out := calls[:0:0]
	for _, v := range calls {
		if s.who.AllowsEndpoint(v.Server) {
			out = append(out, v)
		}
	}
	return out
}

// eventTick is how often the event stream updates the calls in flight
// (their duration, and SQL text once known).
const eventTick = time.Second

// events streams the live calls as server-sent events: "start" and "end"
// with one call each, "tick" with every call in flight, "resync" when
// events were dropped (the page reloads the lists).
func (c *Console) events(w http.ResponseWriter, r *http.Request, s *session) {
	rc := http.NewResponseController(w)
	ch, stop := c.opts.Live.Subscribe()
	defer stop()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	send := func(kind string, calls []CallView) bool {
		data, _ := json.Marshal(visible(s, calls))
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", kind, data); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send("hello", nil) {
		return
	}
	tick := time.NewTicker(eventTick)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case e := <-ch:
			if !send(e.Kind, e.Calls) {
				return
			}
		case <-tick.C:
			if c.sessions.get(s.id) == nil {
				return // signed out
			}
			if run := c.opts.Live.Running(); len(run) > 0 {
				if !send("tick", run) {
					return
				}
			}
		}
	}
}

func (c *Console) cancel(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	for _, v := range visible(s, c.opts.Live.Running()) {
		if v.ID == id && c.opts.Live.Cancel(id) {
			c.logger.Info("console cancelled a call", "call", id, "request_id", v.RequestID, "endpoint", v.Endpoint,
				"tool", v.Tool, "by_tenant", s.who.Tenant, "by_user", s.who.User)
			writeJSON(w, http.StatusOK, map[string]any{"cancelled": id})
			return
		}
	}
	writeError(w, http.StatusNotFound, fmt.Sprintf("no call %s is running (it may have just ended)", id))
}

// readJSON decodes the request body into v.
func readJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("reading the request: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("reading the request: one JSON object expected")
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v) // escapes <, > and & as \u003c…
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
