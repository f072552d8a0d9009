package dashboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/api"
	"github.com/heraldhq/herald/internal/dashboard"
	"github.com/heraldhq/herald/internal/engine"
	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/testenv"
)

// The dashboard's fuzz targets drive its real handler, signed in, over a real engine: on
// SQLite in a temporary directory, made once per target, and also on PostgreSQL when
// HERALD_TEST_DATABASE_URL is set, in which case every input goes to both and both must
// answer with the same status. For every input: no 5xx (a panic is a 500); a redirect stays
// on this site; a refusal (4xx) is a page and changes nothing.

// fuzzDash is one engine behind the dashboard, with a signed-in session.
type fuzzDash struct {
	name    string
	eng     *engine.Engine
	dash    http.Handler
	api     http.Handler
	token   string
	tenant  string
	session string
	csrf    string
	// ids of the world's objects: an event, a delayed event, a run.
	event, scheduled, run string
}

func fuzzLogger() *slog.Logger {
	var w io.Writer = io.Discard
	if os.Getenv("HERALD_TEST_LOG") != "" {
		w = os.Stderr
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

// newFuzzDashes starts the engines of a dashboard fuzz target and stores the same world in
// each: workflows, events with metadata and their runs, a delayed event, a webhook.
func newFuzzDashes(f *testing.F) []*fuzzDash {
	f.Helper()
	opts := []testenv.Options{{Retention: -1}}
	names := []string{"sqlite"}
	if os.Getenv(pgtest.EnvURL) != "" {
		opts = append(opts, testenv.Options{Retention: -1, DatabaseURL: pgtest.NewDatabase(f)})
		names = append(names, "postgres")
	}
	var out []*fuzzDash
	for i, o := range opts {
		env := testenv.StartWith(f, o)
		eng := env.Server.Engine()
		p, err := eng.Authenticate(context.Background(), env.Token)
		if err != nil {
			f.Fatal(err)
		}
		h, err := dashboard.New(eng, dashboard.Config{Logger: fuzzLogger()})
		if err != nil {
			f.Fatal(err)
		}
		d := &fuzzDash{name: names[i], eng: eng, dash: h, api: api.New(eng, api.Config{Logger: fuzzLogger()}), token: env.Token, tenant: p.TenantID}
		d.world(f)
		d.signIn(f)
		out = append(out, d)
	}
	return out
}

// apiCall calls the API with the operator token and requires status want.
func (d *fuzzDash) apiCall(t testing.TB, want int, method, path, body string) map[string]any {
	t.Helper()
	r := httptest.NewRequest(method, "http://herald.test"+path, strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+d.token)
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	d.api.ServeHTTP(w, r)
	if w.Code != want {
		t.Fatalf("%s: %s %s = %d, want %d: %s", d.name, method, path, w.Code, want, w.Body)
	}
	var m map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &m)
	return m
}

const fuzzHook = `{"name":"hook","source":"generic","auth":{"type":"api_key","header":"X-Api-Key","key":"k"},"event_key_expression":"'hook:x'"}`

func (d *fuzzDash) world(f *testing.F) {
	d.apiCall(f, 200, "PUT", "/api/v1/workflows/orders", `{"triggers":["order:*"],"steps":[{"name":"a"},{"name":"b","parents":["a"]}]}`)
	d.apiCall(f, 200, "PUT", "/api/v1/workflows/big", `{"triggers":[{"key":"user:created","expression":"input.n > 1"}],"steps":[{"name":"a"}]}`)
	var evs []string
	for i := 0; i < 60; i++ {
		evs = append(evs, fmt.Sprintf(`{"key":%q,"payload":{"n":%d},"additional_metadata":{"tenant":%q,"n":%d,"vip":%v}}`,
			[]string{"order:new", "user:created", "order:paid"}[i%3], i, []string{"acme", "beta"}[i%2], i, i%4 == 0))
	}
	res := d.apiCall(f, 201, "POST", "/api/v1/events/bulk", `{"events":[`+strings.Join(evs, ",")+`]}`)
	first := res["items"].([]any)[0].(map[string]any)
	d.event = first["event"].(map[string]any)["id"].(string)
	d.run = first["runs"].([]any)[0].(map[string]any)["run_id"].(string)
	sched := d.apiCall(f, 201, "POST", "/api/v1/events", `{"key":"order:later","delay":"240h"}`)
	d.scheduled = sched["event"].(map[string]any)["id"].(string)
	d.apiCall(f, 201, "POST", "/api/v1/webhooks", fuzzHook)
}

var (
	loginCSRF = regexp.MustCompile(`name="login_csrf" value="([^"]+)"`)
	pageCSRF  = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
)

// signIn signs in through the handler, as a browser does, and keeps the session.
func (d *fuzzDash) signIn(f *testing.F) {
	cookie, tok := d.loginForm(f)
	form := url.Values{"login_csrf": {tok}, "token": {d.token}, "next": {"/events"}}
	r := httptest.NewRequest("POST", "http://herald.test/login", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.AddCookie(cookie)
	w := httptest.NewRecorder()
	d.dash.ServeHTTP(w, r)
	for _, c := range w.Result().Cookies() {
		if c.Name == dashboard.SessionCookie {
			d.session = c.Value
		}
	}
	if d.session == "" {
		f.Fatalf("%s: signing in: %d %s", d.name, w.Code, w.Body)
	}
	page := d.serve(context.Background(), "GET", "/events", "", "", nil)
	m := pageCSRF.FindStringSubmatch(page.Body.String())
	if m == nil {
		f.Fatalf("%s: no csrf field on the events page", d.name)
	}
	d.csrf = m[1]
}

// loginForm loads the sign-in form: its cookie and anti-forgery token.
func (d *fuzzDash) loginForm(t testing.TB) (*http.Cookie, string) {
	t.Helper()
	w := httptest.NewRecorder()
	d.dash.ServeHTTP(w, httptest.NewRequest("GET", "http://herald.test/login", nil))
	m := loginCSRF.FindStringSubmatch(w.Body.String())
	if m == nil || len(w.Result().Cookies()) == 0 {
		t.Fatalf("%s: no sign-in form: %d %s", d.name, w.Code, w.Body)
	}
	return w.Result().Cookies()[0], m[1]
}

// serve runs one request through the dashboard with the session cookie (and extra cookies).
func (d *fuzzDash) serve(ctx context.Context, method, path, rawQuery, form string, cookies []*http.Cookie) *httptest.ResponseRecorder {
	r := httptest.NewRequestWithContext(ctx, method, "http://herald.test"+path, strings.NewReader(form))
	r.URL.RawQuery = rawQuery
	if method == "POST" {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	r.AddCookie(&http.Cookie{Name: dashboard.SessionCookie, Value: d.session})
	for _, c := range cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	d.dash.ServeHTTP(w, r)
	return w
}

// snapshot is what a refused form must not change.
type snapshot struct {
	workflows, webhooks string
}

func (d *fuzzDash) snapshot(t *testing.T) snapshot {
	t.Helper()
	ctx := context.Background()
	wfs, err := d.eng.Store().WorkflowList(ctx, d.tenant)
	if err != nil {
		t.Fatal(err)
	}
	whs, err := d.eng.ListWebhooks(ctx, d.tenant)
	if err != nil {
		t.Fatal(err)
	}
	var s snapshot
	for _, w := range wfs {
		s.workflows += fmt.Sprintf("%s:%d:%v,", w.Name, w.Version, w.Active)
	}
	for _, w := range whs {
		s.webhooks += fmt.Sprintf("%s:%s:%s:%s,", w.Name, w.UpdatedAt, w.EventKeyExpression, w.StaticPayload)
	}
	return s
}

// newSince reports whether an event or a run was stored after marker, an id made before
// the request.
func (d *fuzzDash) newSince(t *testing.T, marker string) bool {
	t.Helper()
	ctx := context.Background()
	evs, err := d.eng.Store().EventList(ctx, d.tenant, store.EventFilter{After: marker, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	runs, err := d.eng.Store().RunList(ctx, d.tenant, store.RunFilter{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	return len(evs) > 0 || len(runs) > 0 && runs[0].ID > marker
}

// checkPage checks what holds for every answer: no 5xx, HTML pages, redirects on this site.
func checkPage(t *testing.T, d *fuzzDash, what string, w *httptest.ResponseRecorder) {
	t.Helper()
	if w.Code >= 500 {
		t.Fatalf("%s: %s: status %d: %.2000s", d.name, what, w.Code, w.Body)
	}
	switch {
	case w.Code >= 300 && w.Code < 400: // 303 after a form, 307/308 from the router's path cleaning (//)
		loc := w.Header().Get("Location")
		u, err := url.Parse(loc)
		if err != nil || !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") || strings.ContainsAny(loc, "\\\t\r\n") || u.Host != "" {
			t.Fatalf("%s: %s: redirect to %q, off this site", d.name, what, loc)
		}
	case w.Code == http.StatusUnauthorized && w.Header().Get("Content-Type") == "text/plain; charset=utf-8":
		// A post without a session: the plain answer.
	default:
		if ct := w.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Fatalf("%s: %s: status %d with Content-Type %q: %.500s", d.name, what, w.Code, ct, w.Body)
		}
	}
}

// dashPages are the pages FuzzDashboardPages loads, by the fuzzed selector.
var dashPages = []string{"/events", "/events/rows", "/runs", "/scheduled", "/workflows", "/workflows/orders", "/stats",
	"/webhooks/hook", "/webhooks/new", "/login", "/events/{event}", "/runs/{run}/live"}

// FuzzDashboardPages loads the dashboard's pages with arbitrary query strings: the events
// page's filters (key, prefix, metadata name=value pairs, since/until with the browser's
// time zone offset), list cursors (before, after), and the other pages' parameters (run
// filters, statistics windows and ranges, versions, next). A page answers 200, or 400 with
// the form and its error for a bad filter, or redirects on this site; never 5xx.
func FuzzDashboardPages(f *testing.F) {
	for _, s := range []struct {
		which uint8
		query string
	}{
		{0, ""}, {0, "key=order:new"}, {0, "key=a%20b"}, {0, "prefix=order:"}, {0, "prefix=%ff"},
		{0, "meta=tenant%3Dacme,vip%3Dtrue"}, {0, "meta=tenant"}, {0, "meta=%3Dx"}, {0, "meta=n%3D1e2"}, {0, "meta=tenant%3D%ff"},
		{0, "meta=" + strings.Repeat("a%3D1,", 21)}, {0, "since=2026-01-02T15:04&tz=-60"}, {0, "since=2026-01-02T15:04&until=2020-01-01T00:00"},
		{0, "since=yesterday"}, {0, "until=2026-01-02T15:04:05.000Z&tz=9999999999999999999"}, {0, "before=x"},
		{0, "before=0190a3e1-0000-7000-8000-000000000000"}, {0, "flash=%3Cscript%3E"},
		{1, "after=0190a3e1-0000-7000-8000-000000000000"}, {1, "key=%ff"}, {1, "meta=x"},
		{2, "workflow=orders&status=queued"}, {2, "workflow=%ff"}, {2, "status=x&before=y"},
		{3, "before=0190a3e1-0000-7000-8000-000000000000"}, {4, "window=7d"}, {4, "window=%ff"},
		{5, "version=1"}, {5, "version=99"}, {5, "version=-1&window=1h"}, {6, "range=24h"},
		{7, "before=x"}, {8, ""}, {9, "next=/runs"}, {9, "next=//evil.example"}, {9, "next=/%09/evil.example"},
		{10, ""}, {11, ""},
	} {
		f.Add(s.which, s.query)
	}
	ds := newFuzzDashes(f)
	f.Fuzz(func(t *testing.T, which uint8, rawQuery string) {
		for i := 0; i < len(rawQuery); i++ {
			if c := rawQuery[i]; c <= ' ' || c >= 0x7f || c == '#' {
				t.Skip("not a query a client can send")
			}
		}
		status := 0
		for i, d := range ds {
			path := strings.NewReplacer("{event}", d.event, "{run}", d.run).Replace(dashPages[int(which)%len(dashPages)])
			marker := engine.NewID()
			w := d.serve(context.Background(), "GET", path, rawQuery, "", nil)
			what := "GET " + path + "?" + rawQuery
			checkPage(t, d, what, w)
			if d.newSince(t, marker) {
				t.Fatalf("%s: %s stored something", d.name, what)
			}
			if i == 0 {
				status = w.Code
			} else if w.Code != status {
				t.Fatalf("%s: the stores disagree: %s answered %d, %s %d: %.1000s", what, ds[0].name, status, d.name, w.Code, w.Body)
			}
		}
	})
}

// dashForms are the forms FuzzDashboardForms posts, by the fuzzed selector; {name} is the
// fuzzed name (path-escaped), or an id of the world's objects when it is $EVENT,
// $SCHEDULED or $RUN.
var dashForms = []string{
	"/login", "/workflows/{name}/run", "/workflows/{name}/active", "/webhooks/new", "/webhooks/{name}/edit",
	"/webhooks/{name}/delete", "/events/{name}/replay", "/events/{name}/cancel", "/runs/{name}/cancel", "/runs/{name}/replay",
}

// FuzzDashboardForms posts arbitrary form bodies to the dashboard's forms: sign-in (with
// the sign-in form's token as $LOGIN and an API token as $TOKEN), run a workflow with JSON
// input, enable or disable it, create, edit and delete a webhook, replay and cancel events
// and runs; $CSRF in the body is the session's CSRF token. Every answer: no 5xx, a redirect
// on this site, and a refusal (4xx) changes nothing (no event or run, workflows and
// webhooks as they were). A debug run started from the form has the input as typed.
func FuzzDashboardForms(f *testing.F) {
	for _, s := range []struct {
		op         uint8
		name, form string
	}{
		{0, "", "login_csrf=$LOGIN&token=$TOKEN&next=%2Fruns"},
		{0, "", "login_csrf=$LOGIN&token=$TOKEN&next=%2F%2Fevil.example"},
		{0, "", "login_csrf=$LOGIN&token=$TOKEN&next=%2F%09%2Fevil.example"},
		{0, "", "login_csrf=$LOGIN&token=hrld_nope"},
		{0, "", "login_csrf=x&token=$TOKEN"},
		{0, "", "login_csrf=$LOGIN&token="},
		{1, "orders", "csrf=$CSRF&input=%7B%22n%22%3A1%7D"},
		{1, "orders", "csrf=$CSRF&input="},
		{1, "orders", "csrf=$CSRF&input=%5B1%5D"},
		{1, "orders", "csrf=$CSRF&input=%7B%22a%22%3A%22%5Cu0000%22%7D"},
		{1, "orders", "csrf=$CSRF&input=%7B%22a%22%3A1e400%7D"},
		{1, "orders", "csrf=$CSRF&input=%7Bnot"},
		{1, "orders", "input=%7B%7D"},
		{1, "nope", "csrf=$CSRF&input=%7B%7D"},
		{1, "%ff", "csrf=$CSRF&input=%7B%7D"},
		{2, "orders", "csrf=$CSRF&active=false&back=workflow"},
		{2, "orders", "csrf=$CSRF&active=true"},
		{2, "nope", "csrf=$CSRF&active=true"},
		{3, "", "csrf=$CSRF&name=gh&source=github&secret=s&event_key_expression=%27gh%3Apush%27"},
		{3, "", "csrf=$CSRF&name=g2&source=generic&auth_type=hmac&header=X-Sig&secret=s&algorithm=sha256&encoding=hex&event_key_expression=%27a%27"},
		{3, "", "csrf=$CSRF&name=bad+name&source=github&secret=s&event_key_expression=%27a%27"},
		{3, "", "csrf=$CSRF&name=h3&source=github&secret=s&event_key_expression=1%2B"},
		{3, "", "csrf=$CSRF&name=h4&source=github&secret=s&event_key_expression=%27a%27&static_payload=%7Bx"},
		{3, "", "csrf=$CSRF&name=h5&source=github&secret=s&event_key_expression=%27a%27&static_payload=%7B%22a%22%3A%22%5Cud800%22%7D"},
		{3, "", "csrf=$CSRF&name=hook&source=github&secret=s&event_key_expression=%27a%27"},
		{4, "hook", "csrf=$CSRF&source=generic&auth_type=api_key&header=X-Api-Key&event_key_expression=%27hook%3Ay%27"},
		{4, "hook", "csrf=$CSRF&source=generic&auth_type=basic&username=u&event_key_expression=%27a%27"},
		{4, "nope", "csrf=$CSRF&source=github&event_key_expression=%27a%27"},
		{5, "hook", "csrf=$CSRF"},
		{5, "nope", "csrf=$CSRF"},
		{6, "$EVENT", "csrf=$CSRF"},
		{6, "x", "csrf=$CSRF"},
		{7, "$SCHEDULED", "csrf=$CSRF"},
		{7, "$EVENT", "csrf=$CSRF"},
		{8, "$RUN", "csrf=$CSRF"},
		{8, "%ff", "csrf=$CSRF"},
		{8, "\xff", "csrf=$CSRF"},
		{2, "\xfe", "csrf=$CSRF&active=true"},
		{3, "", "csrf=$CSRF&name=h6&source=github&secret=%ff&event_key_expression=%27a%27"},
		{3, "", "csrf=$CSRF&name=h7&source=github&secret=s&event_key_expression=%27a%ff%27"},
		{0, "", "login_csrf=$LOGIN&token=$TOKEN&next=%2F%ff"},
		{9, "$RUN", "csrf=$CSRF"},
		{9, "x", "csrf=x"},
	} {
		f.Add(s.op, s.name, s.form)
	}
	ds := newFuzzDashes(f)
	f.Fuzz(func(t *testing.T, op uint8, name, form string) {
		status := 0
		for i, d := range ds {
			var cookies []*http.Cookie
			body := strings.NewReplacer("$CSRF", url.QueryEscape(d.csrf), "$TOKEN", url.QueryEscape(d.token)).Replace(form)
			if op%uint8(len(dashForms)) == 0 {
				c, tok := d.loginForm(t)
				cookies = append(cookies, c)
				body = strings.ReplaceAll(body, "$LOGIN", url.QueryEscape(tok))
			}
			seg := strings.NewReplacer("$EVENT", d.event, "$SCHEDULED", d.scheduled, "$RUN", d.run).Replace(name)
			path := strings.ReplaceAll(dashForms[int(op)%len(dashForms)], "{name}", url.PathEscape(seg))
			before := d.snapshot(t)
			marker := engine.NewID()
			w := d.serve(context.Background(), "POST", path, "", body, cookies)
			what := fmt.Sprintf("POST %s (form %q)", path, body)
			checkPage(t, d, what, w)
			if i == 0 {
				status = w.Code
			} else if w.Code != status {
				t.Fatalf("%s: the stores disagree: %s answered %d, %s %d: %.1000s", what, ds[0].name, status, d.name, w.Code, w.Body)
			}
			if w.Code >= 400 {
				if d.newSince(t, marker) || d.snapshot(t) != before {
					t.Fatalf("%s: %s: refused with %d but changed something", d.name, what, w.Code)
				}
				continue
			}
			if strings.HasSuffix(path, "/run") {
				checkDebugRun(t, d, what, w, body)
			}
			d.restore(t)
		}
	})
}

// checkDebugRun checks a run started from a workflow's page: it has the input as typed.
func checkDebugRun(t *testing.T, d *fuzzDash, what string, w *httptest.ResponseRecorder, body string) {
	t.Helper()
	loc := w.Header().Get("Location")
	id, ok := strings.CutPrefix(strings.SplitN(loc, "?", 2)[0], "/runs/")
	if !ok {
		t.Fatalf("%s: %s: a started run redirects to %q", d.name, what, loc)
	}
	run, _, err := d.eng.Store().RunGet(context.Background(), d.tenant, id)
	if err != nil {
		t.Fatalf("%s: %s: run %s: %v", d.name, what, id, err)
	}
	vals, _ := url.ParseQuery(body)
	in := strings.TrimSpace(vals.Get("input"))
	if in == "" {
		in = "{}"
	}
	var a, b any
	if json.Unmarshal([]byte(in), &a) != nil || json.Unmarshal(run.Input, &b) != nil || fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("%s: %s: input %s, the run has %s", d.name, what, in, run.Input)
	}
}

// restore puts the world back after an accepted form: the webhook, the workflow enabled.
func (d *fuzzDash) restore(t *testing.T) {
	t.Helper()
	if _, err := d.eng.GetWebhook(context.Background(), d.tenant, "hook"); err != nil {
		d.apiCall(t, 201, "POST", "/api/v1/webhooks", fuzzHook)
	}
	d.apiCall(t, 200, "POST", "/api/v1/workflows/orders/enable", "")
}
