// Package dashboard serves Herald's web dashboard at / on the API's port: server-rendered
// pages (html/template) with a little progressive JavaScript, every asset embedded in the
// binary (no build step, nothing fetched from elsewhere).
//
// People sign in with an API token; the dashboard then keeps a server-side session (a
// random id in an HttpOnly, SameSite=Lax cookie, stored hashed with an expiry) that acts
// as the token's tenant, and only that tenant. Every form that changes something carries
// the session's CSRF token.
package dashboard

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/api"
	"github.com/heraldhq/herald/internal/engine"
	"github.com/heraldhq/herald/internal/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config configures the dashboard. Every field has a default.
type Config struct {
	// SessionTTL is how long a sign-in lasts. Default 12h.
	SessionTTL time.Duration
	// PublicURL is the base URL senders reach Herald at, for webhooks' receive URLs.
	// Default: the scheme and host of each request.
	PublicURL string
	// SampleInterval is how often queue depths are sampled for the metrics page.
	// Default 15s.
	SampleInterval time.Duration
	// Logger receives errors. Default slog.Default().
	Logger *slog.Logger
}

// Dashboard is the dashboard's HTTP handler.
type Dashboard struct {
	cfg   Config
	eng   *engine.Engine
	st    store.Store
	log   *slog.Logger
	mux   *http.ServeMux
	pages map[string]*template.Template
	depth *depthSampler
}

// New returns the dashboard over eng.
func New(eng *engine.Engine, cfg Config) (*Dashboard, error) {
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.SampleInterval <= 0 {
		cfg.SampleInterval = 15 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	d := &Dashboard{cfg: cfg, eng: eng, st: eng.Store(), log: cfg.Logger, mux: http.NewServeMux(),
		depth: newDepthSampler(24*time.Hour, cfg.SampleInterval)}
	if err := d.parseTemplates(); err != nil {
		return nil, err
	}
	d.routes()
	return d, nil
}

// Run samples queue depths for the metrics page until ctx ends.
func (d *Dashboard) Run(ctx context.Context) {
	t := time.NewTicker(d.cfg.SampleInterval)
	defer t.Stop()
	for {
		d.sampleDepth(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (d *Dashboard) sampleDepth(ctx context.Context) {
	m, err := d.st.StatsQueueDepths(ctx)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Warn("sampling queue depth", "err", err)
		}
		return
	}
	d.depth.add(time.Now(), m)
}

// ServeHTTP implements http.Handler.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			d.log.Error("dashboard panic", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v))
			http.Error(w, "internal error", http.StatusInternalServerError)
		}
	}()
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "+
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	// Percent-escapes in a path or query may decode to any byte. Everything Herald stores is
	// UTF-8 without U+0000, so such a path names nothing, and PostgreSQL's text refuses it in a query
	// (SQLSTATE 22021, which answered 500 where SQLite found nothing).
	if api.PathUnstorable(r.URL.Path) != "" {
		d.renderError(w, r, nil, http.StatusNotFound, "No such page.")
		return
	}
	q := r.URL.Query()
	if param, bad := api.QueryNotUTF8(q); bad {
		d.renderError(w, r, nil, http.StatusBadRequest, fmt.Sprintf("The address's %q is not valid UTF-8.", param))
		return
	}
	// next, where signing in goes on to, is never stored and is made safe on its own: one
	// holding U+0000 goes to the events page, as any other unsafe next does.
	delete(q, "next")
	if param, why := api.QueryUnstorable(q); why != "" {
		d.renderError(w, r, nil, http.StatusBadRequest, fmt.Sprintf("The address's %q %s.", param, why))
		return
	}
	d.mux.ServeHTTP(w, r)
}

// formNotUTF8 refuses a posted form with a field that is not UTF-8 (browsers send this
// page's forms in UTF-8; anything else would reach the store as it is).
func formNotUTF8(r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return nil // the handler reads what it can, as before
	}
	if param, bad := api.QueryNotUTF8(r.PostForm); bad {
		return &engine.FieldError{Field: param, Message: "is not valid UTF-8"}
	}
	return nil
}

// handler is a page handler of a signed-in session.
type handler func(w http.ResponseWriter, r *http.Request, s *store.Session) error

func (d *Dashboard) routes() {
	m := d.mux
	static, _ := fs.Sub(staticFS, "static")
	fileServer := http.StripPrefix("/static/", http.FileServerFS(static))
	m.Handle("GET /static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		fileServer.ServeHTTP(w, r)
	}))
	m.HandleFunc("GET /login", d.loginPage)
	m.HandleFunc("POST /login", d.login)
	m.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/events", http.StatusSeeOther)
	})
	get := func(pattern string, h handler) { m.Handle("GET "+pattern, d.authed(h, false)) }
	post := func(pattern string, h handler) { m.Handle("POST "+pattern, d.authed(h, true)) }
	// Changing a webhook needs a tenant admin, as through the API (docs/api.md, "Roles").
	postAdmin := func(pattern string, h handler) { post(pattern, requireRole(store.RoleAdmin, "changing a webhook", h)) }

	post("/logout", d.logout)
	get("/events", d.events)
	get("/events/rows", d.eventRows)
	get("/events/{id}", d.event)
	post("/events/{id}/replay", d.replayEvent)
	post("/events/{id}/cancel", d.cancelScheduled)
	get("/scheduled", d.scheduled)
	get("/runs", d.runs)
	get("/runs/{id}", d.run)
	get("/runs/{id}/live", d.runLive)
	post("/runs/{id}/cancel", d.cancelRun)
	post("/runs/{id}/replay", d.replayRun)
	get("/workflows", d.workflows)
	get("/workflows/{name}", d.workflow)
	post("/workflows/{name}/active", d.setActive)
	post("/workflows/{name}/run", d.startRun)
	get("/stats", d.stats)
	get("/webhooks", d.webhooks)
	get("/webhooks/new", d.webhookForm)
	postAdmin("/webhooks/new", d.saveWebhook)
	get("/webhooks/{name}", d.webhook)
	get("/webhooks/{name}/edit", d.webhookForm)
	postAdmin("/webhooks/{name}/edit", d.saveWebhook)
	postAdmin("/webhooks/{name}/delete", d.deleteWebhook)

	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.Header.Get("Accept"), "text/html") {
			http.NotFound(w, r) // a program, not a browser: the plain answer
			return
		}
		d.renderError(w, r, nil, http.StatusNotFound, "No such page.")
	})
}

// page is what every template gets.
type page struct {
	Title   string
	Nav     string
	Session *store.Session
	// Flash is a notice shown at the top (after a redirect: ?flash=).
	Flash string
	// Error is an error shown at the top.
	Error string
	Data  any
}

func (p page) CSRF() string {
	if p.Session == nil {
		return ""
	}
	return p.Session.CSRF
}

func (d *Dashboard) parseTemplates() error {
	d.pages = map[string]*template.Template{}
	entries, err := fs.ReadDir(templateFS, "templates")
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".html")
		if name == "layout" || strings.HasPrefix(name, "_") {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/_*.html", "templates/"+e.Name())
		if err != nil {
			return fmt.Errorf("dashboard template %s: %w", e.Name(), err)
		}
		d.pages[name] = t
	}
	return nil
}

// render writes a whole page.
func (d *Dashboard) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	t := d.pages[name]
	if t == nil {
		panic("no dashboard template " + name)
	}
	if p.Flash == "" {
		p.Flash = r.URL.Query().Get("flash")
	}
	var buf strings.Builder
	if err := t.ExecuteTemplate(&buf, "layout.html", p); err != nil {
		d.log.Error("rendering dashboard page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(buf.String()))
}

// renderFragment writes one named template of a page (for live updates).
func (d *Dashboard) renderFragment(w http.ResponseWriter, page, block string, data any) {
	var buf strings.Builder
	if err := d.pages[page].ExecuteTemplate(&buf, block, data); err != nil {
		d.log.Error("rendering dashboard fragment", "page", page, "block", block, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(buf.String()))
}

// renderError shows an error page.
func (d *Dashboard) renderError(w http.ResponseWriter, r *http.Request, s *store.Session, status int, msg string) {
	d.render(w, r, status, "error", page{Title: http.StatusText(status), Session: s, Error: msg})
}

// authed resolves the session cookie; without one, a GET is sent to the sign-in page and
// anything else refused. Posts must carry the session's CSRF token.
func (d *Dashboard) authed(h handler, mutating bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := d.session(r)
		if err != nil {
			if !errors.Is(err, errNoSession) {
				d.log.Error("reading dashboard session", "err", err)
				d.renderError(w, r, nil, http.StatusServiceUnavailable, "The store cannot be read right now; try again shortly.")
				return
			}
			if r.Method == http.MethodGet && r.Header.Get("X-Herald-Live") == "" {
				http.Redirect(w, r, "/login?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			http.Error(w, "signed out: sign in again", http.StatusUnauthorized)
			return
		}
		if mutating {
			if err := checkCSRF(r, s); err != nil {
				d.renderError(w, r, s, http.StatusForbidden, err.Error())
				return
			}
			if err := formNotUTF8(r); err != nil {
				d.handleErr(w, r, s, err)
				return
			}
		}
		if err := h(w, r, s); err != nil {
			d.handleErr(w, r, s, err)
		}
	})
}

// requireRole refuses h's request with 403 unless the session's token has role r.
func requireRole(r store.Role, what string, h handler) handler {
	return func(w http.ResponseWriter, req *http.Request, s *store.Session) error {
		if err := (engine.Principal{Role: s.Role}).Require(r, what); err != nil {
			return err
		}
		return h(w, req, s)
	}
}

// handleErr maps a handler's error to a page.
func (d *Dashboard) handleErr(w http.ResponseWriter, r *http.Request, s *store.Session, err error) {
	var fe *engine.FieldError
	switch {
	case errors.Is(err, store.ErrNotFound):
		d.renderError(w, r, s, http.StatusNotFound, "Not found: it does not exist, was pruned by retention, or belongs to another tenant.")
	case errors.As(err, &fe):
		d.renderError(w, r, s, http.StatusBadRequest, fe.Error())
	case errors.Is(err, store.ErrConflict):
		d.renderError(w, r, s, http.StatusConflict, err.Error())
	case errors.Is(err, engine.ErrPermission):
		d.renderError(w, r, s, http.StatusForbidden, err.Error())
	case engine.IsRetryable(err):
		d.renderError(w, r, s, http.StatusServiceUnavailable, "Herald is busy or the store is unavailable; try again shortly.")
	case errors.Is(err, context.Canceled):
	default:
		d.log.Error("dashboard request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		d.renderError(w, r, s, http.StatusInternalServerError, "Something went wrong; the server log has the details.")
	}
}

// depthSampler keeps, per tenant, queue depth samples over a window.
type depthSampler struct {
	mu      sync.Mutex
	keep    time.Duration
	every   time.Duration
	since   time.Time
	samples []depthSample
}

type depthSample struct {
	at     time.Time
	depths map[string]int
}

func newDepthSampler(keep, every time.Duration) *depthSampler {
	return &depthSampler{keep: keep, every: every}
}

func (s *depthSampler) add(at time.Time, m map[string]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.since.IsZero() {
		s.since = at
	}
	s.samples = append(s.samples, depthSample{at: at, depths: m})
	cut := 0
	for cut < len(s.samples) && at.Sub(s.samples[cut].at) > s.keep {
		cut++
	}
	s.samples = s.samples[cut:]
}

// series returns, for each bucket of [since, since+n×bucket), the largest sampled depth
// of the tenant, or -1 when no sample fell in the bucket; and when sampling began.
func (s *depthSampler) series(tenantID string, since time.Time, bucket time.Duration, n int) ([]float64, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]float64, n)
	for i := range out {
		out[i] = -1
	}
	for _, sm := range s.samples {
		i := int(sm.at.Sub(since) / bucket)
		if sm.at.Before(since) || i >= n {
			continue
		}
		if v := float64(sm.depths[tenantID]); v > out[i] {
			out[i] = v
		}
	}
	return out, s.since
}
