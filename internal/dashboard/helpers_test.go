package dashboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/internal/dashboard"
	"github.com/heraldhq/herald/internal/testenv"
)

// bundle is what a dashboard test needs: a running engine, an SDK client with its admin
// token, and a browser-like HTTP client (cookie jar, no redirects followed).
type bundle struct {
	t      *testing.T
	env    *testenv.Env
	sdk    *herald.Client
	http   *http.Client
	signed bool
}

// forEachStore runs a test against an engine on SQLite, and on PostgreSQL when
// HERALD_TEST_DATABASE_URL is set.
func forEachStore(t *testing.T, test func(t *testing.T, b *bundle)) {
	testenv.ForEachStore(t, testenv.Options{}, func(t *testing.T, env *testenv.Env) { test(t, bundleOf(t, env)) })
}

func setup(t *testing.T, o testenv.Options) *bundle {
	t.Helper()
	return bundleOf(t, testenv.StartWith(t, o))
}

// bundleOf makes the clients of a running engine.
func bundleOf(t *testing.T, env *testenv.Env) *bundle {
	t.Helper()
	c, err := herald.NewClient(herald.ClientConfig{URL: env.URL, Token: env.Token})
	if err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	return &bundle{t: t, env: env, sdk: c, http: hc}
}

// signIn signs the bundle's HTTP client in with token (the admin token when "").
func (b *bundle) signIn(token string) {
	b.t.Helper()
	if token == "" {
		token = b.env.Token
	}
	follow := &http.Client{Jar: b.http.Jar, Timeout: 30 * time.Second}
	if err := dashboard.SignIn(context.Background(), follow, b.env.URL, token); err != nil {
		b.t.Fatalf("signing in: %v", err)
	}
}

type page struct {
	status int
	header http.Header
	body   string
}

func (b *bundle) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.http.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, header: resp.Header, body: string(body)}
}

// get fetches a dashboard page.
func (b *bundle) get(path string) page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.env.URL+path, nil)
	return b.do(req)
}

// mustGet fetches a page and requires 200.
func (b *bundle) mustGet(path string) string {
	b.t.Helper()
	p := b.get(path)
	if p.status != http.StatusOK {
		b.t.Fatalf("GET %s = %d, want 200:\n%s", path, p.status, snippet(p.body))
	}
	return p.body
}

// post posts a form.
func (b *bundle) post(path string, form url.Values) page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.env.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf returns the session's CSRF token, read from a page as a browser's form has it.
func (b *bundle) csrf() string {
	b.t.Helper()
	m := csrfRE.FindStringSubmatch(b.mustGet("/events"))
	if m == nil {
		b.t.Fatal("no csrf field on the events page")
	}
	return m[1]
}

// postCSRF posts a form with the session's CSRF token.
func (b *bundle) postCSRF(path string, form url.Values) page {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", b.csrf())
	return b.post(path, form)
}

// api calls the JSON API with the admin token.
func (b *bundle) api(method, path, body string, out any) int {
	b.t.Helper()
	req, _ := http.NewRequest(method, b.env.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+b.env.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			b.t.Fatalf("%s %s: decoding %s: %v", method, path, data, err)
		}
	}
	return resp.StatusCode
}

// workflow registers a one-step workflow listening for triggers.
func (b *bundle) workflow(name string, triggers ...string) {
	b.t.Helper()
	_, _, err := b.sdk.PutWorkflow(context.Background(), herald.WorkflowDefinition{
		Name: name, Triggers: triggers, Steps: []herald.StepDefinition{{Name: "work"}},
	})
	if err != nil {
		b.t.Fatalf("PutWorkflow(%s): %v", name, err)
	}
}

// worker runs workflows on a worker until the test ends; every step returns
// {"echo": <input>, "step": <name>}.
func (b *bundle) worker(wfs ...herald.Workflow) {
	b.t.Helper()
	// Store the definitions first, so that events pushed right after this match them.
	for _, wf := range wfs {
		if _, _, err := b.sdk.PutWorkflow(context.Background(), wf.Definition()); err != nil {
			b.t.Fatalf("PutWorkflow(%s): %v", wf.Name, err)
		}
	}
	w := herald.NewWorker(b.sdk, herald.WorkerConfig{PollWait: time.Second})
	if err := w.Register(wfs...); err != nil {
		b.t.Fatalf("Register: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	b.t.Cleanup(func() {
		cancel()
		<-done
	})
}

// echo is a one-step workflow whose step echoes its input.
func echo(name string, triggers ...string) herald.Workflow {
	return herald.Workflow{Name: name, Triggers: triggers, Steps: []herald.Step{{
		Name: "echo",
		Run: func(ctx context.Context, sc *herald.StepContext) (any, error) {
			var in map[string]any
			if err := sc.Input(&in); err != nil {
				return nil, err
			}
			return map[string]any{"echo": in, "step": "echo"}, nil
		},
	}}}
}

// push pushes an event through the API.
func (b *bundle) push(key, payload, meta string) *herald.PushResult {
	b.t.Helper()
	ev := herald.Event{Key: key, Payload: json.RawMessage(payload)}
	if meta != "" {
		if err := json.Unmarshal([]byte(meta), &ev.AdditionalMetadata); err != nil {
			b.t.Fatal(err)
		}
	}
	res, err := b.sdk.Push(context.Background(), ev)
	if err != nil {
		b.t.Fatalf("Push(%s): %v", key, err)
	}
	return res
}

func wantContains(t *testing.T, body string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(body, s) {
			t.Errorf("page does not contain %q:\n%s", s, snippet(body))
		}
	}
}

func wantNotContains(t *testing.T, body string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if strings.Contains(body, s) {
			t.Errorf("page contains %q, want it absent", s)
		}
	}
}

// snippet trims a page body for an error message.
func snippet(s string) string {
	if i := strings.Index(s, "<main"); i >= 0 {
		s = s[i:]
	}
	if len(s) > 3000 {
		s = s[:3000] + fmt.Sprintf("… (%d bytes)", len(s))
	}
	return s
}
