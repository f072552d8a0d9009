package dashboard_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/internal/testkit"
)

func TestSignIn(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		// Signed out: pages send you to the sign-in page, posts are refused.
		p := b.get("/")
		if p.status != http.StatusSeeOther || p.header.Get("Location") != "/events" {
			t.Errorf("GET / = %d → %q, want 303 → /events", p.status, p.header.Get("Location"))
		}
		p = b.get("/events?key=a")
		if p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/login?next=") {
			t.Errorf("GET /events signed out = %d → %q, want a redirect to /login", p.status, p.header.Get("Location"))
		}
		if p := b.post("/workflows/x/active", url.Values{"active": {"false"}}); p.status != http.StatusUnauthorized {
			t.Errorf("POST signed out = %d, want 401", p.status)
		}

		// A bad token is refused with a clear message.
		loginTok := regexp.MustCompile(`name="login_csrf" value="([^"]+)"`)
		tok := loginTok.FindStringSubmatch(b.mustGet("/login"))[1]
		p = b.post("/login", url.Values{"login_csrf": {tok}, "token": {"hrld_not-a-real-token"}})
		if p.status != http.StatusUnauthorized {
			t.Errorf("sign-in with a bad token = %d, want 401", p.status)
		}
		wantContains(t, p.body, "That token is not valid")
		for _, c := range b.http.Jar.Cookies(mustURL(t, b.env.URL)) {
			if c.Name == "herald_session" {
				t.Errorf("a bad token got a session cookie")
			}
		}
		// The sign-in form's own anti-forgery token is required.
		p = b.post("/login", url.Values{"login_csrf": {"forged"}, "token": {b.env.Token}})
		if p.status != http.StatusForbidden {
			t.Errorf("sign-in with a forged form = %d, want 403", p.status)
		}

		// A good token: an HttpOnly, SameSite session cookie that holds no token. An
		// offsite "next" is ignored.
		tok = loginTok.FindStringSubmatch(p.body)[1]
		p = b.post("/login", url.Values{"login_csrf": {tok}, "token": {b.env.Token}, "next": {"//evil.example/x"}})
		if p.status != http.StatusSeeOther || p.header.Get("Location") != "/events" {
			t.Fatalf("sign-in = %d → %q, want 303 → /events", p.status, p.header.Get("Location"))
		}
		var cookie string
		for _, sc := range p.header.Values("Set-Cookie") {
			if strings.HasPrefix(sc, "herald_session=") {
				cookie = sc
			}
		}
		for _, want := range []string{"HttpOnly", "SameSite=Lax", "Path=/"} {
			if !strings.Contains(cookie, want) {
				t.Errorf("session cookie %q lacks %s", cookie, want)
			}
		}
		if strings.Contains(cookie, b.env.Token) || strings.Contains(cookie, "Secure") {
			t.Errorf("session cookie %q holds the token or is Secure over plain HTTP", cookie)
		}
		body := b.mustGet("/events")
		wantContains(t, body, "tenant <b>default</b>", `action="/logout"`)
		// Signed in, the sign-in page goes on to "next".
		if p := b.get("/login?next=/runs"); p.status != http.StatusSeeOther || p.header.Get("Location") != "/runs" {
			t.Errorf("GET /login signed in = %d → %q, want 303 → /runs", p.status, p.header.Get("Location"))
		}

		// Sign out ends the session on the server.
		p = b.postCSRF("/logout", nil)
		if p.status != http.StatusSeeOther {
			t.Errorf("sign out = %d, want 303", p.status)
		}
		if p := b.get("/events"); p.status != http.StatusSeeOther {
			t.Errorf("GET /events after signing out = %d, want a redirect to sign in", p.status)
		}
	})
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestCSRFAndRevocation(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		ctx := context.Background()
		b.workflow("billing", "invoice.paid")
		tok, secret, err := b.sdk.CreateToken(ctx, herald.CreateTokenParams{Name: "ui"})
		if err != nil {
			t.Fatal(err)
		}
		b.signIn(secret)
		for _, form := range []url.Values{{"active": {"false"}}, {"active": {"false"}, "csrf": {"wrong"}}} {
			if p := b.post("/workflows/billing/active", form); p.status != http.StatusForbidden {
				t.Errorf("toggle with csrf %q = %d, want 403", form.Get("csrf"), p.status)
			}
		}
		// A right token from another site is refused too.
		form := url.Values{"active": {"false"}, "csrf": {b.csrf()}}
		req, _ := http.NewRequest(http.MethodPost, b.env.URL+"/workflows/billing/active", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "https://evil.example")
		if p := b.do(req); p.status != http.StatusForbidden {
			t.Errorf("cross-origin toggle = %d, want 403", p.status)
		}
		wf, err := b.sdk.GetWorkflow(ctx, "billing")
		if err != nil || !wf.Active {
			t.Fatalf("workflow after refused toggles: %+v, %v; want still active", wf, err)
		}
		// With the token it works.
		if p := b.postCSRF("/workflows/billing/active", url.Values{"active": {"false"}}); p.status != http.StatusSeeOther {
			t.Errorf("toggle = %d, want 303", p.status)
		}
		if wf, _ := b.sdk.GetWorkflow(ctx, "billing"); wf.Active {
			t.Errorf("workflow still active after the toggle")
		}
		// Revoking the token ends its sessions.
		if err := b.sdk.RevokeToken(ctx, tok.ID); err != nil {
			t.Fatal(err)
		}
		if p := b.get("/events"); p.status != http.StatusSeeOther {
			t.Errorf("GET /events with a revoked token's session = %d, want a redirect to sign in", p.status)
		}
	})
}

func TestTenantIsolation(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		ctx := context.Background()
		b.workflow("billing", "invoice.paid")
		mine := b.push("invoice.paid", `{"n":1}`, "")
		if _, err := b.sdk.CreateTenant(ctx, "globex"); err != nil {
			t.Fatal(err)
		}
		_, secret, err := b.sdk.CreateToken(ctx, herald.CreateTokenParams{Name: "g", Tenant: "globex"})
		if err != nil {
			t.Fatal(err)
		}
		b.signIn(secret)
		body := b.mustGet("/events")
		wantContains(t, body, "tenant <b>globex</b>")
		wantNotContains(t, body, mine.Event.ID[24:])
		for _, path := range []string{"/events/" + mine.Event.ID, "/runs/" + mine.Runs[0].RunID, "/workflows/billing"} {
			if p := b.get(path); p.status != http.StatusNotFound {
				t.Errorf("GET %s of another tenant = %d, want 404", path, p.status)
			}
		}
		if p := b.postCSRF("/events/"+mine.Event.ID+"/replay", nil); p.status != http.StatusNotFound {
			t.Errorf("replaying another tenant's event = %d, want 404", p.status)
		}
		wantNotContains(t, b.mustGet("/workflows"), "billing")
	})
}

func TestEventsPage(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		b.workflow("orders", "order.created")
		b.workflow("audit", "order.created")
		if _, err := b.sdk.DisableWorkflow(context.Background(), "audit"); err != nil {
			t.Fatal(err)
		}
		first := b.push("order.created", `{"order":{"id":"o_1","lines":[1,2]},"note":"<script>alert(1)</script>"}`, `{"region":"eu","tier":3}`)
		b.push("order.paid", `{}`, `{"region":"us"}`)
		b.push("user.created", `{}`, "")
		b.signIn("")

		body := b.mustGet("/events")
		wantContains(t, body, "order.created", "order.paid", "user.created", `data-live="/events/rows"`)
		filter := func(q string, want []string, notWant []string) {
			t.Helper()
			body := b.mustGet("/events?" + q)
			wantContains(t, body, want...)
			for _, n := range notWant {
				if strings.Contains(body, ">"+n+"<") {
					t.Errorf("/events?%s shows %s", q, n)
				}
			}
		}
		filter("prefix=order.", []string{">order.created<", ">order.paid<"}, []string{"user.created"})
		filter("key=order.paid", []string{">order.paid<"}, []string{"order.created", "user.created"})
		filter("meta=region%3Deu", []string{">order.created<"}, []string{"order.paid", "user.created"})
		filter("meta=tier%3D3%2C+region%3Deu", []string{">order.created<"}, []string{"order.paid"})
		future := time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04")
		filter("since="+future+"&tz=0", []string{"No events match"}, []string{"order.created", "order.paid"})
		if p := b.get("/events?meta=nonsense"); p.status != http.StatusBadRequest || !strings.Contains(p.body, "not name=value") {
			t.Errorf("bad metadata filter = %d, want 400 naming the problem", p.status)
		}

		// Live updates: rows newer than the newest shown.
		rows := b.mustGet("/events/rows?after=" + first.Event.ID)
		wantContains(t, rows, "order.paid", "user.created")
		wantNotContains(t, rows, ">order.created<")
		rows = b.mustGet("/events/rows?prefix=user.&after=" + first.Event.ID)
		wantContains(t, rows, "user.created")
		wantNotContains(t, rows, "order.paid")

		// The event's page: payload (escaped), metadata, runs, skipped workflows.
		body = b.mustGet("/events/" + first.Event.ID)
		wantContains(t, body, "o_1", "&#34;region&#34;", "Triggered runs", first.Runs[0].RunID[24:], "audit", "disabled",
			"&lt;script&gt;alert(1)&lt;/script&gt;", "pushed through the API")
		wantNotContains(t, body, "<script>alert(1)")
	})
}

func TestReplay(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		b.workflow("orders", "order.created")
		orig := b.push("order.created", `{"n":7}`, `{"region":"eu"}`)
		// A workflow added after the event: a replay starts it too.
		b.workflow("late", "order.created")

		// Through the API.
		var rep struct {
			Event struct {
				ID, Key, Source string
				ReplayOf        string `json:"replay_of"`
			}
			Runs []struct{ Workflow string }
		}
		if st := b.api(http.MethodPost, "/api/v1/events/"+orig.Event.ID+"/replay", "", &rep); st != http.StatusCreated {
			t.Fatalf("POST replay = %d, want 201", st)
		}
		if rep.Event.ReplayOf != orig.Event.ID || rep.Event.Source != "replay" || rep.Event.Key != "order.created" || len(rep.Runs) != 2 {
			t.Errorf("replay = %+v, want a replay of %s starting 2 runs", rep, orig.Event.ID)
		}
		ev, err := b.sdk.GetEvent(context.Background(), rep.Event.ID)
		if err != nil || string(ev.Payload) != `{"n":7}` || ev.AdditionalMetadata["region"] != "eu" {
			t.Errorf("replayed event = %+v, %v; want the same payload and metadata", ev, err)
		}
		if st := b.api(http.MethodPost, "/api/v1/events/0190a000-0000-7000-8000-000000000000/replay", "", nil); st != http.StatusNotFound {
			t.Errorf("replaying an unknown event = %d, want 404", st)
		}

		// Through the dashboard.
		b.signIn("")
		p := b.postCSRF("/events/"+orig.Event.ID+"/replay", nil)
		if p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/events/") {
			t.Fatalf("dashboard replay = %d → %q", p.status, p.header.Get("Location"))
		}
		loc := p.header.Get("Location")
		body := b.mustGet(loc)
		wantContains(t, body, "Replayed as a new event: 2 runs started.", "replay", orig.Event.ID, "late")
	})
}

func TestRunPage(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		ctx := context.Background()
		b.worker(echo("greet", "user.created"))
		b.workflow("idle", "user.created") // no worker: stays queued
		res := b.push("user.created", `{"name":"Ada"}`, "")
		var greet, idle string
		for _, r := range res.Runs {
			if r.Workflow == "greet" {
				greet = r.RunID
			} else {
				idle = r.RunID
			}
		}
		if st := testkit.WaitRun(t, b.sdk, greet).Status; st != "succeeded" {
			t.Fatalf("greet run %s", st)
		}
		b.signIn("")
		body := b.mustGet("/runs/" + greet)
		wantContains(t, body, "succeeded", "echo", "&#34;Ada&#34;", `data-done="true"`, res.Event.ID)
		wantNotContains(t, body, `id="cancel-run"`)

		body = b.mustGet("/runs?workflow=greet&status=succeeded")
		wantContains(t, body, greet[24:])
		wantNotContains(t, body, idle[24:])
		body = b.mustGet("/runs?status=queued")
		wantContains(t, body, idle[24:])

		// Cancel the idle run, then run it again with the same input.
		body = b.mustGet("/runs/" + idle)
		wantContains(t, body, `id="cancel-run"`, `data-done="false"`)
		if p := b.postCSRF("/runs/"+idle+"/cancel", nil); p.status != http.StatusSeeOther {
			t.Errorf("cancel = %d", p.status)
		}
		if r, _ := b.sdk.GetRun(ctx, idle); r.Status != "cancelled" {
			t.Errorf("run after cancel: %s", r.Status)
		}
		wantContains(t, b.mustGet("/runs/"+idle+"/live"), "cancelled", `data-done="true"`)
		p := b.postCSRF("/runs/"+greet+"/replay", nil)
		if p.status != http.StatusSeeOther {
			t.Fatalf("replay run = %d", p.status)
		}
		newID := strings.TrimPrefix(p.header.Get("Location"), "/runs/")
		newID = newID[:strings.IndexByte(newID, '?')]
		if st := testkit.WaitRun(t, b.sdk, newID).Status; st != "succeeded" {
			t.Errorf("replayed run %s", st)
		}
		r, err := b.sdk.GetRun(ctx, newID)
		if err != nil || string(r.Input) != `{"name":"Ada"}` || r.EventID != "" {
			t.Errorf("replayed run = %+v, %v; want a manual run with the same input", r, err)
		}
	})
}

func TestWorkflowsPage(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		ctx := context.Background()
		b.worker(echo("greet", "user.created"))
		for i := 0; i < 3; i++ {
			res := b.push("user.created", `{}`, "")
			testkit.WaitRun(t, b.sdk, res.Runs[0].RunID)
		}
		b.signIn("")
		body := b.mustGet("/workflows")
		wantContains(t, body, "greet", `id="toggle-greet"`, `aria-checked="true"`, "100%")
		body = b.mustGet("/workflows?window=1h")
		wantContains(t, body, `class="num ok">3<`)

		body = b.mustGet("/workflows/greet")
		wantContains(t, body, "Run with JSON input", "user.created", "echo", "v1")

		// The debug form: bad JSON is refused with the input kept, good JSON starts a run.
		p := b.postCSRF("/workflows/greet/run", url.Values{"input": {`{"a":`}})
		if p.status != http.StatusBadRequest {
			t.Errorf("run with bad JSON = %d, want 400", p.status)
		}
		wantContains(t, p.body, "not valid JSON", "{&#34;a&#34;:")
		p = b.postCSRF("/workflows/greet/run", url.Values{"input": {`[1]`}})
		wantContains(t, p.body, "must be a JSON object")
		p = b.postCSRF("/workflows/greet/run", url.Values{"input": {`{"debug": true}`}})
		if p.status != http.StatusSeeOther {
			t.Fatalf("run = %d:\n%s", p.status, snippet(p.body))
		}
		runID := strings.TrimPrefix(p.header.Get("Location"), "/runs/")
		runID = runID[:strings.IndexByte(runID, '?')]
		testkit.WaitRun(t, b.sdk, runID)
		wantContains(t, b.mustGet("/runs/"+runID), "succeeded", "&#34;debug&#34;")

		// The toggle disables it: the next event skips it.
		if p := b.postCSRF("/workflows/greet/active", url.Values{"active": {"false"}, "back": {"workflow"}}); p.status != http.StatusSeeOther ||
			p.header.Get("Location") != "/workflows/greet?flash=greet+is+disabled%3A+new+events+skip+it." {
			t.Errorf("toggle = %d → %q", p.status, p.header.Get("Location"))
		}
		res := b.push("user.created", `{}`, "")
		if len(res.Runs) != 0 {
			t.Errorf("event after disabling started %d runs", len(res.Runs))
		}
		wantContains(t, b.mustGet("/events/"+res.Event.ID), "skipped-workflows", "greet")
		if wf, _ := b.sdk.GetWorkflow(ctx, "greet"); wf.Active {
			t.Errorf("still active")
		}
		if p := b.get("/workflows/nope"); p.status != http.StatusNotFound {
			t.Errorf("unknown workflow = %d", p.status)
		}
	})
}

func TestStatsPage(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		b.worker(echo("greet", "user.created"))
		for i := 0; i < 3; i++ {
			testkit.WaitRun(t, b.sdk, b.push("user.created", `{}`, "").Runs[0].RunID)
		}
		b.signIn("")
		for _, rg := range []string{"1h", "24h"} {
			body := b.mustGet("/stats?range=" + rg)
			wantContains(t, body, "Events per minute, by source", "Runs started, by current status", "Push → start latency",
				"Queue depth", "Error rate", "<svg class=\"chart\"", "<rect", "<circle")
		}
	})
}

func TestWebhooksPage(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		b.signIn("")
		wantContains(t, b.mustGet("/webhooks"), "No webhooks yet")
		p := b.postCSRF("/webhooks/new", url.Values{"name": {"stripe"}, "source": {"stripe"}, "secret": {"whsec_test"},
			"event_key_expression": {"'stripe:' + input.type"}})
		if p.status != http.StatusSeeOther {
			t.Fatalf("create webhook = %d:\n%s", p.status, snippet(p.body))
		}
		body := b.mustGet("/webhooks")
		wantContains(t, body, "stripe", "/webhooks/stripe", "Copy")
		body = b.mustGet("/webhooks/stripe")
		wantContains(t, body, "No deliveries yet", "receive-url")
		// An unsigned delivery is refused and shows in the log with its verification result.
		resp, err := http.Post(b.env.URL+regexp.MustCompile(`/api/v1/tenants/[^"]+/webhooks/stripe`).FindString(body), "application/json",
			strings.NewReader(`{"type":"invoice.paid"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		wantContains(t, b.mustGet("/webhooks/stripe"), "v-failed", "refused")
		// Bad input names the problem.
		p = b.postCSRF("/webhooks/new", url.Values{"name": {"x"}, "source": {"stripe"}, "secret": {"s"}, "event_key_expression": {"input."}})
		if p.status != http.StatusBadRequest {
			t.Errorf("bad expression = %d, want 400", p.status)
		}
		if p := b.postCSRF("/webhooks/stripe/delete", nil); p.status != http.StatusSeeOther {
			t.Errorf("delete = %d", p.status)
		}
		wantContains(t, b.mustGet("/webhooks"), "No webhooks yet")
	})
}

// TestWebhookChangesNeedATenantAdmin: a member token's session can read webhooks but not
// create, edit or delete one (403, nothing changed), as through the API.
func TestWebhookChangesNeedATenantAdmin(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		ctx := context.Background()
		if _, err := b.sdk.CreateWebhook(ctx, herald.WebhookParams{Name: "stripe", Source: "stripe", Secret: "whsec_test",
			EventKeyExpression: "'stripe:' + input.type"}); err != nil {
			t.Fatal(err)
		}
		_, secret, err := b.sdk.CreateToken(ctx, herald.CreateTokenParams{Name: "ui"})
		if err != nil {
			t.Fatal(err)
		}
		b.signIn(secret)
		wantContains(t, b.mustGet("/webhooks/stripe"), "receive-url")
		for path, form := range map[string]url.Values{
			"/webhooks/new":           {"name": {"other"}, "source": {"stripe"}, "secret": {"s"}, "event_key_expression": {"'k'"}},
			"/webhooks/stripe/edit":   {"source": {"stripe"}, "secret": {"rotated"}, "event_key_expression": {"'changed'"}},
			"/webhooks/stripe/delete": nil,
		} {
			if p := b.postCSRF(path, form); p.status != http.StatusForbidden {
				t.Errorf("member POST %s = %d, want 403", path, p.status)
			}
		}
		hooks, err := b.sdk.ListWebhooks(ctx)
		if err != nil || len(hooks) != 1 || hooks[0].Name != "stripe" || hooks[0].EventKeyExpression != "'stripe:' + input.type" {
			t.Fatalf("webhooks after refused changes: %+v, %v; want stripe alone, unchanged", hooks, err)
		}
	})
}

// TestDelayedEventsPage: a delayed event is listed on the delayed events page, its page
// shows it as scheduled with its due time and payload, and cancelling it there stops its
// delivery (the list no longer shows it; its page says cancelled, without the button).
func TestDelayedEventsPage(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		b.workflow("orders", "order.remind")
		res, err := b.sdk.PushAfter(context.Background(), herald.Event{Key: "order.remind", Payload: map[string]any{"order": "o_9"}}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		id := res.Event.ID
		b.signIn("")

		list := b.mustGet("/scheduled")
		wantContains(t, list, ">order.remind<", "/events/"+id)
		wantContains(t, b.mustGet("/events"), `id="scheduled-link"`)

		body := b.mustGet("/events/" + id)
		wantContains(t, body, `id="scheduled-status">scheduled<`, "o_9", `id="cancel-event"`)

		p := b.postCSRF("/events/"+id+"/cancel", nil)
		if p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/events/"+id) {
			t.Fatalf("cancel = %d → %q", p.status, p.header.Get("Location"))
		}
		body = b.mustGet("/events/" + id)
		wantContains(t, body, `id="scheduled-status">cancelled<`)
		wantNotContains(t, body, `id="cancel-event"`)
		wantContains(t, b.mustGet("/scheduled"), `id="no-scheduled"`)
		ev, err := b.sdk.GetEvent(context.Background(), id)
		if err != nil || ev.Status != herald.EventCancelled {
			t.Fatalf("after the dashboard cancelled it, the event is %+v (%v)", ev, err)
		}
		// Cancelling again is refused, and changes nothing.
		if p := b.postCSRF("/events/"+id+"/cancel", nil); p.status != http.StatusConflict {
			t.Errorf("second cancel = %d, want 409", p.status)
		}
	})
}

// TestSignInNextStaysOnSite: "next" (of GET /login and of the sign-in form's hidden field)
// leads only to a path of this site as a browser reads it. Browsers drop tabs and
// newlines, trim leading control characters and spaces and read "\" as "/", so each of
// the bad values below would take a browser to evil.example (TestBrowserNextStaysOnSite
// proves that in Chromium); each goes to the events page instead.
func TestSignInNextStaysOnSite(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		bad := []string{
			"/\t/evil.example", "/\n/evil.example", "/\r\n/evil.example", "/\t\\evil.example", "\t//evil.example",
			" //evil.example", "\x00//evil.example", "/\x00/evil.example", "/\\/evil.example", "/\\evil.example",
			"//evil.example", "///evil.example", "https://evil.example/", "http:evil.example", "javascript:alert(1)",
			"/login", "/login?next=//evil.example", "", "events", "/" + strings.Repeat("a", 9000),
		}
		good := []string{"/runs", "/runs?status=failed&workflow=a%20b", "/events/0193abc#steps", "/%09/evil.example", "/%5C/evil.example"}
		loginTok := regexp.MustCompile(`name="login_csrf" value="([^"]+)"`)
		nextField := regexp.MustCompile(`name="next" value="([^"]*)"`)
		signIn := func(next string) page {
			t.Helper()
			form := b.mustGet("/login?next=" + url.QueryEscape(next))
			// The form carries the next it will use.
			want := "/events"
			if slices.Contains(good, next) {
				want = next
			}
			if m := nextField.FindStringSubmatch(form); m == nil || html.UnescapeString(m[1]) != want {
				t.Errorf("sign-in form for next %q carries %v, want %q", next, m, want)
			}
			return b.post("/login", url.Values{"login_csrf": {loginTok.FindStringSubmatch(form)[1]}, "token": {b.env.Token}, "next": {next}})
		}
		for _, next := range append(bad, good...) {
			want := "/events"
			if slices.Contains(good, next) {
				want = next
			}
			b.http.Jar, _ = cookiejar.New(nil) // signed out
			if p := signIn(next); p.status != http.StatusSeeOther || p.header.Get("Location") != want {
				t.Errorf("sign-in with next %q = %d → %q, want 303 → %q", next, p.status, p.header.Get("Location"), want)
			}
			// Signed in, GET /login goes straight on to next.
			if p := b.get("/login?next=" + url.QueryEscape(next)); p.status != http.StatusSeeOther || p.header.Get("Location") != want {
				t.Errorf("GET /login signed in, next %q = %d → %q, want 303 → %q", next, p.status, p.header.Get("Location"), want)
			}
		}
	})
}

// TestEventFiltersAreBounded: the events page takes at most 20 metadata filters (the
// engine's bound for every listing, docs/api.md), each value at most 1 KiB, and a key
// prefix of event-key characters. About 500 filters answered 500 on SQLite; past the
// bound the page answers 400 and says why, on both stores, and at the bound it works.
func TestEventFiltersAreBounded(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		b.signIn("")
		meta := func(n int) string {
			parts := make([]string, n)
			for i := range parts {
				parts[i] = fmt.Sprintf("m%d=v", i)
			}
			return url.QueryEscape(strings.Join(parts, ","))
		}
		for _, path := range []string{"/events?meta=" + meta(20), "/events/rows?meta=" + meta(20)} {
			if p := b.get(path); p.status != http.StatusOK {
				t.Errorf("GET %.40s… with 20 metadata filters = %d, want 200:\n%s", path, p.status, snippet(p.body))
			}
		}
		for _, c := range []struct{ path, want string }{
			{"/events?meta=" + meta(500), "at most 20"},
			{"/events?meta=" + meta(21), "at most 20"},
			{"/events/rows?meta=" + meta(500), "at most 20"},
			{"/events?meta=m0%3D" + strings.Repeat("v", 1025), "the limit is 1024"},
			{"/events?prefix=" + strings.Repeat("p", 256), "the limit is 255"},
			{"/events?prefix=a%20b", "allowed are"},
		} {
			p := b.get(c.path)
			if p.status != http.StatusBadRequest || !strings.Contains(p.body, c.want) {
				t.Errorf("GET %.40s… = %d, want 400 saying %q:\n%s", c.path, p.status, c.want, snippet(p.body))
			}
		}
	})
}

// TestFormsRefuseLoneSurrogates: the dashboard's JSON fields (a debug run's input, a
// webhook's static payload) refuse a lone UTF-16 surrogate escape ("\ud800") with 400 and
// a message, on both stores, like the API: PostgreSQL cannot store it.
func TestFormsRefuseLoneSurrogates(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		b.workflow("greet", "user.created")
		b.signIn("")
		p := b.postCSRF("/workflows/greet/run", url.Values{"input": {`{"s":"\ud800"}`}})
		if p.status != http.StatusBadRequest || !strings.Contains(p.body, "surrogate") {
			t.Errorf("debug run with a lone surrogate = %d, want 400 naming the surrogate:\n%s", p.status, snippet(p.body))
		}
		p = b.postCSRF("/webhooks/new", url.Values{"name": {"gh"}, "source": {"github"}, "secret": {"s3cret"},
			"event_key_expression": {"'gh:push'"}, "static_payload": {`{"\udc00":1}`}})
		if p.status != http.StatusBadRequest || !strings.Contains(p.body, "surrogate") {
			t.Errorf("webhook with a lone surrogate in its static payload = %d, want 400 naming the surrogate:\n%s", p.status, snippet(p.body))
		}
		if runs, err := b.sdk.ListRuns(context.Background(), herald.ListRunsParams{}); err != nil || len(runs.Items) != 0 {
			t.Errorf("runs after the refused form: %v %v, want none", runs, err)
		}
	})
}

// TestTextNotUTF8IsRefusedAlike: a path, query or form field whose percent-escapes decode
// to bytes that are not UTF-8 reached the store: PostgreSQL refused it (SQLSTATE 22021) with
// a 500 where SQLite found nothing or stored it (a webhook's expression). Now a path names
// nothing (404), and a query or form field is refused (400), on both stores, changing
// nothing. Found by FuzzDashboardPages and FuzzDashboardForms.
func TestTextNotUTF8IsRefusedAlike(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		b.workflow("greet", "user.created")
		b.signIn("")
		for _, tc := range []struct {
			path   string
			status int
		}{
			{"/runs?workflow=%FF", http.StatusBadRequest},
			{"/events?meta=a%3D%FF", http.StatusBadRequest},
			{"/workflows/%FF", http.StatusNotFound},
			{"/webhooks/%FE/edit", http.StatusNotFound},
		} {
			if p := b.get(tc.path); p.status != tc.status {
				t.Errorf("GET %s = %d, want %d:\n%s", tc.path, p.status, tc.status, snippet(p.body))
			}
		}
		csrf := b.csrf()
		for _, tc := range []struct {
			path string
			form string
		}{
			{"/workflows/%FE/active", "active=false"},
			{"/webhooks/new", "name=gh&source=github&secret=s&event_key_expression=%27gh%3A%FF%27"},
			{"/workflows/greet/run", "input=%7B%22a%22%3A%22%FF%22%7D"},
		} {
			req, _ := http.NewRequest(http.MethodPost, b.env.URL+tc.path, strings.NewReader("csrf="+url.QueryEscape(csrf)+"&"+tc.form))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if p := b.do(req); p.status != http.StatusBadRequest && p.status != http.StatusNotFound {
				t.Errorf("POST %s %s = %d, want 400 or 404:\n%s", tc.path, tc.form, p.status, snippet(p.body))
			}
		}
		if hooks, err := b.sdk.ListWebhooks(context.Background()); err != nil || len(hooks) != 0 {
			t.Errorf("webhooks after the refused form: %v %v, want none", hooks, err)
		}
		if runs, err := b.sdk.ListRuns(context.Background(), herald.ListRunsParams{}); err != nil || len(runs.Items) != 0 {
			t.Errorf("runs after the refused form: %v %v, want none", runs, err)
		}
		if wf, err := b.sdk.GetWorkflow(context.Background(), "greet"); err != nil || !wf.Active {
			t.Errorf("workflow after the refused form: %+v %v", wf, err)
		}
	})
}

// TestPagesWithNULAreRefusedAlike: a page address holding U+0000 (%00) in a path segment or
// a query value reached the store, whose PostgreSQL text refuses it (a 500 where SQLite
// found nothing). Such a path is no page (404) and such a query is refused (400), on both
// stores.
func TestPagesWithNULAreRefusedAlike(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		b.workflow("greet", "user.created")
		b.signIn("")
		for _, tc := range []struct {
			path   string
			status int
		}{
			{"/events/%00", http.StatusNotFound},
			{"/runs/a%00b", http.StatusNotFound},
			{"/runs/%00/live", http.StatusNotFound},
			{"/workflows/%00", http.StatusNotFound},
			{"/webhooks/%00", http.StatusNotFound},
			{"/webhooks/%00/edit", http.StatusNotFound},
			{"/runs?workflow=%00", http.StatusBadRequest},
			{"/events?key=a%00", http.StatusBadRequest},
			{"/events?meta=a%3D%00", http.StatusBadRequest},
		} {
			if p := b.get(tc.path); p.status != tc.status {
				t.Errorf("GET %s = %d, want %d:\n%s", tc.path, p.status, tc.status, snippet(p.body))
			}
		}
	})
}
