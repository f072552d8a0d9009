package dashboard_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/internal/testkit"
)

// These tests drive the real dashboard in headless Chromium (Debian's chromium package).
// They are skipped when no Chromium is installed, unless HERALD_REQUIRE_BROWSER is set (CI
// sets it). Each saves screenshots under testdata/screenshots (ignored by git), to look
// at.

// chromiumPath finds a Chromium binary.
func chromiumPath(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("HERALD_REQUIRE_BROWSER") != "" {
		t.Fatal("HERALD_REQUIRE_BROWSER is set but no chromium is installed (apt-get install chromium)")
	}
	t.Skip("no chromium installed (apt-get install chromium); set HERALD_REQUIRE_BROWSER to fail instead")
	return ""
}

// browser is a signed-out headless Chromium tab on a fresh engine.
type browser struct {
	*bundle
	ctx context.Context
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	exe := chromiumPath(t)
	b := setup(t, testenv.Options{})
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		// Only the engine's loopback address resolves: a page that sends the browser
		// elsewhere fails at once, and no lookup leaves the machine.
		chromedp.Flag("host-resolver-rules", "MAP * 127.0.0.1"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1366, 900),
	)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	// Bound every test: a hung browser fails the test instead of the whole run.
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return &browser{bundle: b, ctx: ctx}
}

// do runs browser actions and fails the test on error.
func (br *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	br.t.Helper()
	if err := chromedp.Do(br.ctx, steps...); err != nil {
		br.screenshot("failed-" + strings.ReplaceAll(br.t.Name(), "/", "-"))
		br.t.Fatalf("%s: %v", what, err)
	}
}

// text returns the text of the first element matching a CSS selector.
func (br *browser) text(sel string) string {
	br.t.Helper()
	s, err := chromedp.Run(br.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		br.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// screenshot saves the whole page as testdata/screenshots/<name>.png.
func (br *browser) screenshot(name string) {
	br.t.Helper()
	png, err := chromedp.Run(br.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		br.t.Logf("screenshot %s: %v", name, err)
		return
	}
	dir := filepath.Join("testdata", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		br.t.Fatal(err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		br.t.Fatal(err)
	}
	br.t.Logf("screenshot: %s", path)
}

// signInUI signs in through the sign-in form.
func (br *browser) signInUI() {
	br.t.Helper()
	br.do("signing in",
		chromedp.Navigate(br.env.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), br.env.Token),
		chromedp.Click(chromedp.CSS("#sign-in")),
		chromedp.WaitVisible(chromedp.CSS("#events-table")),
	)
}

func TestBrowserSignIn(t *testing.T) {
	t.Parallel()
	br := newBrowser(t)
	br.do("opening the dashboard",
		chromedp.Navigate(br.env.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("#login-form")),
	)
	br.screenshot("login")
	br.signInUI()
	if got := br.text(".who .tenant"); !strings.Contains(got, "default") {
		t.Errorf("header shows %q, want tenant default", got)
	}
	br.screenshot("events-empty")

	// Webhooks: the form, then the list and a webhook's page with a refused delivery.
	br.do("creating a webhook",
		chromedp.Navigate(br.env.URL+"/webhooks/new"),
		chromedp.WaitVisible(chromedp.CSS("#webhook-form")),
		chromedp.SendKeys(chromedp.CSS(`input[name="name"]`), "stripe"),
		chromedp.SendKeys(chromedp.CSS(`input[name="secret"]`), "whsec_test"),
		chromedp.SendKeys(chromedp.CSS(`input[name="event_key_expression"]`), "'stripe:' + input.type"),
	)
	br.screenshot("webhook-form")
	br.do("saving the webhook",
		chromedp.Click(chromedp.CSS(`#webhook-form button.primary`)),
		chromedp.WaitVisible(chromedp.CSS("#receive-url")),
	)
	url, err := chromedp.Run(br.ctx, chromedp.Value(chromedp.CSS("#receive-url")))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(url, "application/json", strings.NewReader(`{"type":"invoice.paid"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	br.do("opening the webhook", chromedp.Navigate(br.env.URL+"/webhooks/stripe"), chromedp.WaitVisible(chromedp.CSS("#deliveries")))
	br.screenshot("webhook")
	br.do("opening webhooks", chromedp.Navigate(br.env.URL+"/webhooks"), chromedp.WaitVisible(chromedp.CSS("#webhooks-table")))
	br.screenshot("webhooks")
}

func TestBrowserBadToken(t *testing.T) {
	t.Parallel()
	br := newBrowser(t)
	br.do("signing in with a bad token",
		chromedp.Navigate(br.env.URL+"/events"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), "hrld_this-is-not-a-token"),
		chromedp.Click(chromedp.CSS("#sign-in")),
		chromedp.WaitVisible(chromedp.CSS("#login-error")),
	)
	if got := br.text("#login-error"); !strings.Contains(got, "not valid") {
		t.Errorf("error shown: %q", got)
	}
	br.screenshot("login-bad-token")
	// Still signed out: the events page sends us back to sign in.
	br.do("opening events", chromedp.Navigate(br.env.URL+"/events"), chromedp.WaitVisible(chromedp.CSS("#login-form")))
}

func TestBrowserLiveEvents(t *testing.T) {
	t.Parallel()
	br := newBrowser(t)
	br.worker(echo("greet", "user.created"))
	br.workflow("audit", "user.created")
	br.signInUI()
	br.do("waiting for live mode", chromedp.WaitVisible(chromedp.CSS("#live")))

	res := br.push("user.created", `{"user_id":"u_1","email":"ada@example.com","profile":{"name":"Ada","tags":["a","b"]}}`, `{"region":"eu"}`)
	// The event must appear within 2 s of the push, without a reload.
	ctx, cancel := context.WithTimeout(br.ctx, 2*time.Second)
	err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`tr[data-id="`+res.Event.ID+`"]`)))
	cancel()
	if err != nil {
		br.screenshot("live-events-missing")
		t.Fatalf("the pushed event did not appear on the events page within 2s: %v", err)
	}
	var last string
	for i := 0; i < 3; i++ {
		last = br.push("order.created", `{"n":1}`, "").Event.ID
	}
	greet := runOf(t, res, "greet")
	testkit.WaitRun(t, br.sdk, greet)
	br.do("waiting for more events", chromedp.WaitVisible(chromedp.CSS(`tr[data-id="`+last+`"]`)))
	br.screenshot("events-live")

	br.do("opening the event",
		chromedp.Click(chromedp.CSS(`tr[data-id="`+res.Event.ID+`"] a.key`)),
		chromedp.WaitVisible(chromedp.CSS("#triggered-runs")),
	)
	runs := br.text("#triggered-runs")
	for _, want := range []string{"greet", "audit", greet[24:]} {
		if !strings.Contains(runs, want) {
			t.Errorf("triggered runs %q lack %q", runs, want)
		}
	}
	br.screenshot("event")

	// The greet run's page: steps, output, timings.
	br.do("opening the run",
		chromedp.Navigate(br.env.URL+"/runs/"+greet),
		chromedp.WaitVisible(chromedp.CSS(`#run-body[data-done="true"]`)),
	)
	if got := br.text("#steps-table"); !strings.Contains(got, "succeeded") {
		t.Errorf("steps table: %q", got)
	}
	br.screenshot("run")
	br.do("opening runs", chromedp.Navigate(br.env.URL+"/runs"), chromedp.WaitVisible(chromedp.CSS("#runs-table")))
	br.screenshot("runs")
	br.do("opening metrics", chromedp.Navigate(br.env.URL+"/stats"), chromedp.WaitVisible(chromedp.CSS("svg.chart")))
	br.screenshot("metrics")
}

func TestBrowserToggle(t *testing.T) {
	t.Parallel()
	br := newBrowser(t)
	br.worker(echo("greet", "user.created"))
	br.workflow("audit", "user.created")
	testkit.WaitRun(t, br.sdk, runOf(t, br.push("user.created", `{}`, ""), "greet"))
	br.signInUI()
	br.do("disabling greet",
		chromedp.Navigate(br.env.URL+"/workflows"),
		chromedp.WaitVisible(chromedp.CSS(`#toggle-greet[aria-checked="true"]`)),
		chromedp.Click(chromedp.CSS("#toggle-greet")),
		chromedp.WaitVisible(chromedp.CSS(`#toggle-greet[aria-checked="false"]`)),
		chromedp.WaitVisible(chromedp.CSS("#flash")),
	)
	br.screenshot("workflows-toggled")

	res := br.push("user.created", `{}`, "")
	for _, r := range res.Runs {
		if r.Workflow == "greet" {
			t.Errorf("the event after disabling greet started it: %+v", res.Runs)
		}
	}
	br.do("opening the event",
		chromedp.Navigate(br.env.URL+"/events/"+res.Event.ID),
		chromedp.WaitVisible(chromedp.CSS("#skipped-workflows")),
	)
	if got := br.text("#skipped-workflows"); !strings.Contains(got, "greet") || !strings.Contains(got, "disabled") {
		t.Errorf("skipped workflows: %q", got)
	}
	br.screenshot("event-skipped")
}

func TestBrowserDebugRun(t *testing.T) {
	t.Parallel()
	br := newBrowser(t)
	br.worker(echo("greet", "user.created"))
	br.signInUI()
	br.do("typing bad JSON",
		chromedp.Navigate(br.env.URL+"/workflows/greet"),
		chromedp.WaitVisible(chromedp.CSS("#run-input")),
		chromedp.Clear(chromedp.CSS("#run-input")),
		chromedp.SendKeys(chromedp.CSS("#run-input"), `{"user_id": "u_9",`),
		chromedp.WaitVisible(chromedp.CSS("#input-error")),
	)
	if got := br.text("#input-error"); !strings.Contains(got, "not valid JSON") {
		t.Errorf("input error: %q", got)
	}
	disabled, err := chromedp.Run(br.ctx, chromedp.Evaluate[bool](`document.getElementById("run-submit").disabled`))
	if err != nil || !disabled {
		t.Errorf("submit button disabled = %v (%v), want true while the JSON is invalid", disabled, err)
	}
	br.screenshot("workflow-bad-json")
	br.do("starting a debug run",
		chromedp.SendKeys(chromedp.CSS("#run-input"), ` "debug": true}`),
		chromedp.WaitNotVisible(chromedp.CSS("#input-error")),
		chromedp.Click(chromedp.CSS("#run-submit")),
		chromedp.WaitVisible(chromedp.CSS("#run-body")),
		// The page refreshes itself until the run ends.
		chromedp.WaitVisible(chromedp.CSS(`#run-body[data-done="true"]`)),
	)
	if got := br.text("#run-body"); !strings.Contains(got, "succeeded") || !strings.Contains(got, `"u_9"`) {
		t.Errorf("run body: %q", got)
	}
	br.screenshot("debug-run")
	br.do("opening the workflow", chromedp.Navigate(br.env.URL+"/workflows/greet"), chromedp.WaitVisible(chromedp.CSS("#run-form")))
	br.screenshot("workflow")
}

// TestBrowserNextStaysOnSite: a "next" that Chromium would normalize into another origin
// ("/\t/evil.example" is "//evil.example" once the tab is dropped) leaves Chromium on this
// site, whether it comes through the sign-in form's hidden field or through /login when
// signed in. Every request the tab makes is watched: none may go to another origin (the
// resolver rules of newBrowser make such a request fail without leaving the machine).
func TestBrowserNextStaysOnSite(t *testing.T) {
	t.Parallel()
	br := newBrowser(t)
	var mu sync.Mutex
	var offsite []string
	if err := chromedp.Listen(br.ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok && isHTTP(e.Request.URL) && !strings.HasPrefix(e.Request.URL, br.env.URL+"/") {
			mu.Lock()
			offsite = append(offsite, e.Request.URL)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	// wantOnSite waits until the tab has left the sign-in page, or asked for another
	// origin, and fails the test unless it stayed on the engine's origin.
	wantOnSite := func(what string) {
		t.Helper()
		testkit.Poll(t, what+": the tab to land on this site", func() (string, bool) {
			mu.Lock()
			off := slices.Clone(offsite)
			mu.Unlock()
			if len(off) > 0 {
				br.screenshot("offsite")
				t.Fatalf("%s: the browser went off this site (%s) to %q", what, br.env.URL, off)
			}
			loc, err := chromedp.Run(br.ctx, chromedp.Location())
			if err == nil && strings.HasPrefix(loc, br.env.URL+"/") && !strings.HasPrefix(loc, br.env.URL+"/login") {
				return "", true
			}
			return fmt.Sprintf("still at %q (%v)", loc, err), false
		})
	}
	// The server's Location, resolved by Chromium's own URL parser against the page it
	// answers, is on this site for every bad next, on both paths.
	for _, next := range badNexts {
		for path, loc := range rawLocations(t, br.bundle, next) {
			href, err := chromedp.Run(br.ctx, chromedp.Evaluate[string](fmt.Sprintf("new URL(%s, %s).href", strconv.Quote(loc), strconv.Quote(br.env.URL+"/login"))))
			if err != nil || !strings.HasPrefix(href, br.env.URL+"/") {
				t.Errorf("%s with next %q: Location %q, which Chromium resolves to %q (%v), off this site", path, next, loc, href, err)
			}
		}
	}

	// And Chromium, following them, stays.
	br.do("signing in through the form with an offsite next",
		chromedp.Navigate(br.env.URL+"/login?next=/%09/evil.example"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), br.env.Token),
		chromedp.Click(chromedp.CSS("#sign-in")),
	)
	wantOnSite("the sign-in form with next /%09/evil.example")
	for _, next := range []string{
		"/%09/evil.example", "/%0A/evil.example", "/%0D%0A/evil.example", "%09//evil.example",
		"/%5C/evil.example", "/%5Cevil.example", "/%09%5Cevil.example", "%20//evil.example",
	} {
		// A navigation error is the browser failing to reach another origin: wantOnSite
		// reports it.
		_ = chromedp.Do(br.ctx, chromedp.Navigate(br.env.URL+"/login?next="+next))
		wantOnSite("/login signed in with next " + next)
	}
}

// badNexts would each take a browser to evil.example if used as they are.
var badNexts = []string{
	"/\t/evil.example", "/\n/evil.example", "/\r\n/evil.example", "\t//evil.example", " //evil.example",
	"/\\/evil.example", "/\\evil.example", "/\t\\evil.example", "\x00//evil.example", "/\t/\t/evil.example",
}

// rawLocations returns the Location the server answers for next through the sign-in form
// (POST /login, signed out) and through GET /login signed in. The requests go through the
// transport alone: the HTTP client's redirect handling refuses a Location with a control
// character before a test could see it.
func rawLocations(t *testing.T, b *bundle, next string) map[string]string {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	send := func(req *http.Request) *http.Response {
		t.Helper()
		for _, c := range jar.Cookies(req.URL) {
			req.AddCookie(c)
		}
		res, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		io.Copy(io.Discard, res.Body)
		jar.SetCookies(req.URL, res.Cookies())
		return res
	}
	out := map[string]string{}
	req, _ := http.NewRequest(http.MethodGet, b.env.URL+"/login?next="+url.QueryEscape(next), nil)
	res := send(req)
	var csrf string
	for _, c := range res.Cookies() {
		if c.Name == "herald_login" {
			csrf = c.Value
		}
	}
	req, _ = http.NewRequest(http.MethodPost, b.env.URL+"/login", strings.NewReader(url.Values{"login_csrf": {csrf}, "token": {b.env.Token}, "next": {next}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if res := send(req); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("signing in with next %q: %d", next, res.StatusCode)
	} else {
		out["the sign-in form"] = res.Header.Get("Location")
	}
	req, _ = http.NewRequest(http.MethodGet, b.env.URL+"/login?next="+url.QueryEscape(next), nil)
	if res := send(req); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("GET /login signed in with next %q: %d", next, res.StatusCode)
	} else {
		out["GET /login signed in"] = res.Header.Get("Location")
	}
	return out
}

// isHTTP reports whether u is a network URL (not data:, blob: or the like).
func isHTTP(u string) bool {
	return strings.HasPrefix(u, "http:") || strings.HasPrefix(u, "https:") || strings.HasPrefix(u, "ws:") || strings.HasPrefix(u, "wss:")
}

// runOf returns the id of the run of workflow that a push started.
func runOf(t *testing.T, res *herald.PushResult, workflow string) string {
	t.Helper()
	for _, r := range res.Runs {
		if r.Workflow == workflow {
			return r.RunID
		}
	}
	t.Fatalf("the push started no run of %s: %+v", workflow, res.Runs)
	return ""
}
