package metrics_test

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/internal/testkit"
)

// scrape fetches a metrics page with an optional bearer token.
func scrape(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// value returns a sample's value from the exposition text; -1 when absent.
func value(body, series string) float64 {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

func TestPrometheusMetrics(t *testing.T) {
	t.Parallel()
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			o := testenv.Options{MetricsAddr: "127.0.0.1:0"}
			if store == "postgres" {
				o.DatabaseURL = pgtest.NewDatabase(t)
			}
			testPrometheus(t, testenv.StartWith(t, o))
		})
	}
}

func testPrometheus(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	c, err := herald.NewClient(herald.ClientConfig{URL: env.URL, Token: env.Token})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.PutWorkflow(ctx, herald.WorkflowDefinition{Name: "greet", Triggers: []string{"user.created"},
		Steps: []herald.StepDefinition{{Name: "hello"}}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.PutWorkflow(ctx, herald.WorkflowDefinition{Name: "idle", Triggers: []string{"user.created"},
		Steps: []herald.StepDefinition{{Name: "wait"}}}); err != nil {
		t.Fatal(err)
	}
	w := herald.NewWorker(c, herald.WorkerConfig{PollWait: time.Second})
	if err := w.Register(herald.Workflow{Name: "greet", Triggers: []string{"user.created"}, Steps: []herald.Step{{
		Name: "hello", Run: func(context.Context, *herald.StepContext) (any, error) { return map[string]any{"ok": true}, nil },
	}}}); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	t.Cleanup(func() { cancel(); <-done })

	var greet, idle string
	for i := 0; i < 2; i++ {
		res, err := c.Push(ctx, herald.Event{Key: "user.created"})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res.Runs {
			if r.Workflow == "greet" {
				greet = r.RunID
			} else {
				idle = r.RunID
			}
		}
	}
	testkit.WaitRun(t, c, greet)
	if _, err := c.CancelRun(ctx, idle); err != nil {
		t.Fatal(err)
	}
	// A webhook delivery without a valid signature.
	req, _ := http.NewRequest(http.MethodPost, env.URL+"/api/v1/webhooks", strings.NewReader(
		`{"name":"stripe","source":"stripe","secret":"whsec_x","event_key_expression":"'stripe:' + input.type"}`))
	req.Header.Set("Authorization", "Bearer "+env.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	hook, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("creating a webhook = %d: %s", resp.StatusCode, hook)
	}
	receive := regexp.MustCompile(`"url":"[^"]*(/api/v1/tenants/[^"]+)"`).FindStringSubmatch(string(hook))[1]
	resp, err = http.Post(env.URL+receive, "application/json", strings.NewReader(`{"type":"invoice.paid"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 {
		t.Fatalf("unsigned delivery = %d, want a refusal", resp.StatusCode)
	}

	// /metrics on the API port needs an operator token.
	if st, _ := scrape(t, env.URL+"/metrics", ""); st != http.StatusUnauthorized {
		t.Errorf("GET /metrics without a token = %d, want 401", st)
	}
	_, user, err := c.CreateToken(ctx, herald.CreateTokenParams{Name: "plain"})
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := scrape(t, env.URL+"/metrics", user); st != http.StatusForbidden {
		t.Errorf("GET /metrics with a member token = %d, want 403", st)
	}
	st, body := scrape(t, env.URL+"/metrics", env.Token)
	if st != http.StatusOK {
		t.Fatalf("GET /metrics = %d", st)
	}
	// --metrics-addr serves the same without a token.
	st, free := scrape(t, env.Server.MetricsURL(), "")
	if st != http.StatusOK || !strings.Contains(free, "herald_events_ingested_total") {
		t.Errorf("GET %s = %d, want the metrics", env.Server.MetricsURL(), st)
	}

	checks := []struct {
		series string
		min    float64
		max    float64
	}{
		{`herald_events_ingested_total{source="api"}`, 2, 2},
		{`herald_events_ingested_total{source="webhook"}`, 0, 0},
		{`herald_runs_total{status="succeeded"}`, 2, 2},
		{`herald_runs_total{status="cancelled"}`, 1, 1},
		{`herald_runs_total{status="failed"}`, 0, 0},
		{`herald_step_queue_seconds_count`, 2, 2},
		{`herald_step_execution_seconds_count{outcome="succeeded"}`, 2, 2},
		{`herald_store_commit_seconds_count{op="ingest"}`, 1, 1e9},
		{`herald_store_commit_seconds_count{op="finish"}`, 1, 1e9},
		{`herald_webhook_verification_failures_total`, 1, 1},
		{`herald_queue_depth`, 1, 1}, // the second idle run's step
		{`go_goroutines`, 1, 1e9},
	}
	for _, ch := range checks {
		v := value(body, ch.series)
		if v < ch.min || v > ch.max {
			t.Errorf("%s = %v, want %v..%v", ch.series, v, ch.min, ch.max)
		}
	}
	for _, help := range []string{"# HELP herald_step_queue_seconds", "# TYPE herald_step_execution_seconds histogram", "# TYPE herald_queue_depth gauge"} {
		if !strings.Contains(body, help) {
			t.Errorf("metrics lack %q", help)
		}
	}
}
