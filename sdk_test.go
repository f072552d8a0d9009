package herald_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/internal/testkit"
)

// These tests start a real engine (internal/testenv) and drive it through the
// SDK: a Client that pushes and inspects, and a Worker that runs steps.

const runTimeout = 30 * time.Second

// bundle is what setup returns.
type bundle struct {
	client *herald.Client
	ctx    context.Context
}

// setup starts an engine and returns a client for it.
func setup(t *testing.T) bundle {
	t.Helper()
	env := testenv.Start(t)
	c, err := herald.NewClient(herald.ClientConfig{URL: env.URL, Token: env.Token})
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return bundle{client: c, ctx: t.Context()}
}

// testWriter sends log lines to t.Log until the test's cleanup closes it, and
// drops them afterwards (t.Log panics once the test has completed).
type testWriter struct {
	mu     sync.Mutex
	t      *testing.T
	closed bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testWriter) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
}

// runningWorker is a Worker running in the background of a test.
type runningWorker struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error // valid once done is closed
}

// stop cancels the worker's context and waits for Run to return its result.
func (rw *runningWorker) stop(t *testing.T) error {
	t.Helper()
	rw.cancel()
	testkit.Receive(t, "Worker.Run to return after its context was cancelled", rw.done)
	return rw.err
}

// startWorker stores wfs and runs a worker for them until the test ends (or
// stop is called).
func startWorker(t *testing.T, b bundle, cfg herald.WorkerConfig, wfs ...herald.Workflow) *runningWorker {
	t.Helper()
	lw := &testWriter{t: t}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(lw, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if cfg.Name == "" {
		cfg.Name = t.Name()
	}
	if cfg.PollWait == 0 {
		cfg.PollWait = 5 * time.Second
	}
	w := herald.NewWorker(b.client, cfg)
	if err := w.Register(wfs...); err != nil {
		t.Fatalf("Register: %v", err)
	}
	// Store the workflows before the worker does: once PutWorkflow returns, the
	// engine matches events against them. (Seeing them with GetWorkflow is not
	// enough: the trigger index is rebuilt after the definition is committed.)
	for _, wf := range wfs {
		if _, _, err := b.client.PutWorkflow(b.ctx, wf.Definition()); err != nil {
			t.Fatalf("PutWorkflow: %v", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	rw := &runningWorker{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(rw.done)
		rw.err = w.Run(ctx)
	}()
	t.Cleanup(func() {
		if err := rw.stop(t); err != nil {
			t.Errorf("Worker.Run: %v", err)
		}
		lw.close()
	})
	return rw
}

// stepOutput decodes the output of a run's step.
func stepOutput(t *testing.T, run *herald.Run, step string, v any) {
	t.Helper()
	s := run.Step(step)
	if s == nil {
		t.Fatalf("run %s has no step %q", run.ID, step)
	}
	if err := json.Unmarshal(s.Output, v); err != nil {
		t.Fatalf("output of %s: %v (%s)", step, err, s.Output)
	}
}

// quickstartWorkflows mirrors examples/quickstart: two workflows on user:created.
func quickstartWorkflows() []herald.Workflow {
	type user struct {
		UserID string `json:"user_id"`
		Email  string `json:"email"`
	}
	type email struct {
		MessageID string `json:"message_id"`
		SentTo    string `json:"sent_to"`
	}
	readUser := func(sc *herald.StepContext) (user, error) {
		var u user
		if err := sc.Input(&u); err != nil {
			return u, herald.NonRetryable(err)
		}
		if u.UserID == "" {
			return u, herald.NonRetryable(errors.New("no user_id"))
		}
		return u, nil
	}
	return []herald.Workflow{
		{
			Name:     "welcome-user",
			Triggers: []string{"user:created"},
			Steps: []herald.Step{
				{
					Name: "send-welcome-email",
					Run: func(ctx context.Context, sc *herald.StepContext) (any, error) {
						u, err := readUser(sc)
						if err != nil {
							return nil, err
						}
						sc.Logger().Info("sending welcome e-mail", "to", u.Email)
						return email{MessageID: "msg_" + sc.StepRunID(), SentTo: u.Email}, nil
					},
				},
				{
					Name:    "add-to-crm",
					Parents: []string{"send-welcome-email"},
					Run: func(ctx context.Context, sc *herald.StepContext) (any, error) {
						u, err := readUser(sc)
						if err != nil {
							return nil, err
						}
						var e email
						if err := sc.ParentOutput("send-welcome-email", &e); err != nil {
							return nil, err
						}
						return map[string]any{"contact_id": "crm_" + u.UserID, "welcome_message_id": e.MessageID}, nil
					},
				},
			},
		},
		{
			Name:     "provision-account",
			Triggers: []string{"user:created"},
			Steps: []herald.Step{
				{
					Name: "create-account",
					Run: func(ctx context.Context, sc *herald.StepContext) (any, error) {
						u, err := readUser(sc)
						if err != nil {
							return nil, err
						}
						return map[string]string{"account_id": "acct_" + u.UserID}, nil
					},
				},
				{
					Name:    "announce-account",
					Parents: []string{"create-account"},
					Run: func(ctx context.Context, sc *herald.StepContext) (any, error) {
						var acct map[string]string
						if err := sc.ParentOutput("create-account", &acct); err != nil {
							return nil, err
						}
						res, err := sc.Push(ctx, herald.Event{Key: "account:provisioned", Payload: acct})
						if err != nil {
							return nil, err
						}
						return map[string]string{"event_id": res.Event.ID}, nil
					},
				},
			},
		},
	}
}

func TestPushRunsBothQuickstartWorkflows(t *testing.T) {
	t.Parallel()
	b := setup(t)
	startWorker(t, b, herald.WorkerConfig{}, quickstartWorkflows()...)

	res, err := b.client.Push(b.ctx, herald.Event{
		Key:                "user:created",
		Payload:            map[string]any{"user_id": "u_1", "email": "ada@example.com"},
		AdditionalMetadata: map[string]any{"source": "signup"},
	})
	if err != nil {
		t.Fatalf("Push: %v", err)
	}
	if res.Event.ID == "" || res.Event.Key != "user:created" || res.Event.Source != "api" {
		t.Fatalf("pushed event = %+v", res.Event)
	}
	if len(res.Runs) != 2 || len(res.Event.Triggers) != 2 {
		t.Fatalf("push started %d runs (%d trigger decisions), want 2: %+v", len(res.Runs), len(res.Event.Triggers), res)
	}
	runs := map[string]*herald.Run{}
	for _, ref := range res.Runs {
		run := testkit.WaitRunStatus(t, b.client, ref.RunID, herald.StatusSucceeded)
		if run.EventID != res.Event.ID || run.Workflow != ref.Workflow {
			t.Fatalf("run %+v does not match its ref %+v", run.RunSummary, ref)
		}
		runs[ref.Workflow] = run
	}

	welcome := runs["welcome-user"]
	if welcome == nil || runs["provision-account"] == nil {
		t.Fatalf("runs = %v, want welcome-user and provision-account", runs)
	}
	var sent struct {
		MessageID string `json:"message_id"`
	}
	var crm struct {
		ContactID        string `json:"contact_id"`
		WelcomeMessageID string `json:"welcome_message_id"`
	}
	stepOutput(t, welcome, "send-welcome-email", &sent)
	stepOutput(t, welcome, "add-to-crm", &crm)
	if sent.MessageID == "" || crm.WelcomeMessageID != sent.MessageID || crm.ContactID != "crm_u_1" {
		t.Fatalf("add-to-crm output %+v does not carry send-welcome-email's %+v", crm, sent)
	}

	// GetEvent lists the runs the event triggered.
	ev, err := b.client.GetEvent(b.ctx, res.Event.ID)
	if err != nil {
		t.Fatalf("GetEvent: %v", err)
	}
	if len(ev.Runs) != 2 || ev.AdditionalMetadata["source"] != "signup" {
		t.Fatalf("GetEvent = %+v, want 2 runs and the metadata", ev)
	}
}

func TestParentOutputsReachChildren(t *testing.T) {
	t.Parallel()
	b := setup(t)
	type num struct {
		N int `json:"n"`
	}
	read := func(sc *herald.StepContext, parent string) (int, error) {
		var v num
		err := sc.ParentOutput(parent, &v)
		return v.N, err
	}
	startWorker(t, b, herald.WorkerConfig{}, herald.Workflow{
		Name: "diamond",
		Steps: []herald.Step{
			{Name: "a", Run: func(ctx context.Context, sc *herald.StepContext) (any, error) {
				var in num
				if err := sc.Input(&in); err != nil {
					return nil, err
				}
				return num{N: in.N * 2}, nil
			}},
			{Name: "b", Parents: []string{"a"}, Run: func(ctx context.Context, sc *herald.StepContext) (any, error) {
				n, err := read(sc, "a")
				return num{N: n + 1}, err
			}},
			{Name: "c", Parents: []string{"a"}, Run: func(ctx context.Context, sc *herald.StepContext) (any, error) {
				n, err := read(sc, "a")
				return num{N: n + 10}, err
			}},
			{Name: "d", Parents: []string{"b", "c"}, Run: func(ctx context.Context, sc *herald.StepContext) (any, error) {
				nb, err := read(sc, "b")
				if err != nil {
					return nil, err
				}
				nc, err := read(sc, "c")
				if err != nil {
					return nil, err
				}
				if err := sc.ParentOutput("a", new(num)); err == nil {
					return nil, herald.NonRetryable(errors.New("a is not a parent of d, yet its output was given"))
				}
				return num{N: nb + nc}, nil
			}},
		},
	})

	// A manual run: no event, input given directly.
	ref, err := b.client.RunWorkflow(b.ctx, "diamond", map[string]int{"n": 5})
	if err != nil {
		t.Fatalf("RunWorkflow: %v", err)
	}
	run := testkit.WaitRunStatus(t, b.client, ref.RunID, herald.StatusSucceeded)
	var d num
	stepOutput(t, run, "d", &d)
	if d.N != (10+1)+(10+10) {
		t.Fatalf("d = %d, want 31", d.N)
	}
	if run.EventID != "" {
		t.Fatalf("manual run has event %q", run.EventID)
	}
}

func TestStepPushRecordsLineage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var childRunSeen atomic.Bool
	startWorker(t, b, herald.WorkerConfig{},
		herald.Workflow{
			Name:     "parent-flow",
			Triggers: []string{"order:paid"},
			Steps: []herald.Step{{Name: "ship", Run: func(ctx context.Context, sc *herald.StepContext) (any, error) {
				res, err := sc.Push(ctx, herald.Event{Key: "order:shipped", Payload: map[string]string{"by": sc.StepRunID()}})
				if err != nil {
					return nil, err
				}
				return map[string]any{"event_id": res.Event.ID, "runs": len(res.Runs)}, nil
			}}},
		},
		herald.Workflow{
			Name:     "child-flow",
			Triggers: []string{"order:shipped"},
			Steps: []herald.Step{{Name: "notify", Run: func(ctx context.Context, sc *herald.StepContext) (any, error) {
				childRunSeen.Store(true)
				return nil, nil
			}}},
		},
	)

	res, err := b.client.Push(b.ctx, herald.Event{Key: "order:paid"})
	if err != nil {
		t.Fatalf("Push: %v", err)
	}
	if len(res.Runs) != 1 {
		t.Fatalf("runs = %+v", res.Runs)
	}
	run := testkit.WaitRunStatus(t, b.client, res.Runs[0].RunID, herald.StatusSucceeded)
	var out struct {
		EventID string `json:"event_id"`
		Runs    int    `json:"runs"`
	}
	stepOutput(t, run, "ship", &out)
	ship := run.Step("ship")

	ev, err := b.client.GetEvent(b.ctx, out.EventID)
	if err != nil {
		t.Fatalf("GetEvent: %v", err)
	}
	if ev.Source != "run" || ev.ParentRunID != run.ID || ev.ParentStepRunID != ship.ID || ev.ParentStep != "ship" {
		t.Fatalf("lineage of the pushed event = source %q run %q step-run %q step %q; want run %q step-run %q step ship",
			ev.Source, ev.ParentRunID, ev.ParentStepRunID, ev.ParentStep, run.ID, ship.ID)
	}
	if out.Runs != 1 || len(ev.Runs) != 1 {
		t.Fatalf("the pushed event started %d runs (GetEvent: %d), want 1", out.Runs, len(ev.Runs))
	}
	testkit.WaitRunStatus(t, b.client, ev.Runs[0].ID, herald.StatusSucceeded)
	if !childRunSeen.Load() {
		t.Fatal("the child workflow's step did not run")
	}
}

func TestFailingStepRetriesThenSucceeds(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var calls atomic.Int32
	startWorker(t, b, herald.WorkerConfig{}, herald.Workflow{
		Name:     "flaky",
		Triggers: []string{"flaky:go"},
		Steps: []herald.Step{{
			Name:  "call-api",
			Retry: herald.RetryPolicy{MaxAttempts: 4, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond},
			Run: func(ctx context.Context, sc *herald.StepContext) (any, error) {
				calls.Add(1)
				if sc.Attempt() < 3 {
					return nil, fmt.Errorf("upstream unavailable (attempt %d)", sc.Attempt())
				}
				return map[string]int{"succeeded_on": sc.Attempt()}, nil
			},
		}},
	})
	res, err := b.client.Push(b.ctx, herald.Event{Key: "flaky:go"})
	if err != nil {
		t.Fatalf("Push: %v", err)
	}
	run := testkit.WaitRunStatus(t, b.client, res.Runs[0].RunID, herald.StatusSucceeded)
	s := run.Step("call-api")
	if s.Attempt != 3 || s.MaxAttempts != 4 || calls.Load() != 3 {
		t.Fatalf("step attempt %d/%d after %d calls, want 3/4 after 3", s.Attempt, s.MaxAttempts, calls.Load())
	}
}

func TestNonRetryableFailsTheRunAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var calls, childCalls atomic.Int32
	startWorker(t, b, herald.WorkerConfig{}, herald.Workflow{
		Name:     "charge",
		Triggers: []string{"charge:go"},
		Steps: []herald.Step{
			{
				Name:  "charge-card",
				Retry: herald.RetryPolicy{MaxAttempts: 5, InitialBackoff: 10 * time.Millisecond},
				Run: func(ctx context.Context, sc *herald.StepContext) (any, error) {
					calls.Add(1)
					return nil, fmt.Errorf("charging: %w", herald.NonRetryable(errors.New("card declined")))
				},
			},
			{
				Name:    "send-receipt",
				Parents: []string{"charge-card"},
				Run: func(ctx context.Context, sc *herald.StepContext) (any, error) {
					childCalls.Add(1)
					return nil, nil
				},
			},
		},
	})
	res, err := b.client.Push(b.ctx, herald.Event{Key: "charge:go"})
	if err != nil {
		t.Fatalf("Push: %v", err)
	}
	run := testkit.WaitRunStatus(t, b.client, res.Runs[0].RunID, herald.StatusFailed)
	s := run.Step("charge-card")
	if s.Status != herald.StatusFailed || s.Attempt != 1 || calls.Load() != 1 || !strings.Contains(s.Error, "card declined") {
		t.Fatalf("step = %s attempt %d error %q after %d calls; want failed at attempt 1 with the error", s.Status, s.Attempt, s.Error, calls.Load())
	}
	if childCalls.Load() != 0 {
		t.Fatal("the child of a failed step ran")
	}
}

func TestStepPanicsAndBadOutputsFail(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var badCalls atomic.Int32
	startWorker(t, b, herald.WorkerConfig{},
		herald.Workflow{
			Name: "panics",
			Steps: []herald.Step{{Name: "boom", Retry: herald.RetryPolicy{MaxAttempts: 1}, Run: func(ctx context.Context, sc *herald.StepContext) (any, error) {
				panic("kaboom")
			}}},
		},
		herald.Workflow{
			Name: "bad-output",
			Steps: []herald.Step{{Name: "list", Retry: herald.RetryPolicy{MaxAttempts: 3}, Run: func(ctx context.Context, sc *herald.StepContext) (any, error) {
				badCalls.Add(1)
				return []int{1, 2, 3}, nil
			}}},
		},
	)
	ref, err := b.client.RunWorkflow(b.ctx, "panics", nil)
	if err != nil {
		t.Fatalf("RunWorkflow: %v", err)
	}
	run := testkit.WaitRunStatus(t, b.client, ref.RunID, herald.StatusFailed)
	if e := run.Step("boom").Error; !strings.Contains(e, "panicked") || !strings.Contains(e, "kaboom") {
		t.Fatalf("panic reported as %q", e)
	}

	ref, err = b.client.RunWorkflow(b.ctx, "bad-output", nil)
	if err != nil {
		t.Fatalf("RunWorkflow: %v", err)
	}
	run = testkit.WaitRunStatus(t, b.client, ref.RunID, herald.StatusFailed)
	if s := run.Step("list"); !strings.Contains(s.Error, "must be a JSON object") || s.Attempt != 1 || badCalls.Load() != 1 {
		t.Fatalf("bad output reported as %q at attempt %d after %d calls; want a non-retried failure", s.Error, s.Attempt, badCalls.Load())
	}
}

func TestWorkerLetsRunningStepsFinishOnShutdown(t *testing.T) {
	t.Parallel()
	b := setup(t)
	started := make(chan struct{})
	release := make(chan struct{})
	rw := startWorker(t, b, herald.WorkerConfig{ShutdownTimeout: runTimeout}, herald.Workflow{
		Name: "slow",
		Steps: []herald.Step{{Name: "work", Run: func(ctx context.Context, sc *herald.StepContext) (any, error) {
			close(started)
			select {
			case <-release:
				return map[string]bool{"finished": true}, nil
			case <-ctx.Done():
				return nil, context.Cause(ctx)
			}
		}}},
	})
	ref, err := b.client.RunWorkflow(b.ctx, "slow", nil)
	if err != nil {
		t.Fatalf("RunWorkflow: %v", err)
	}
	testkit.Receive(t, "the step to start", started)

	rw.cancel() // shut down while the step runs
	select {
	case <-rw.done:
		t.Fatalf("Run returned (%v) while a step was still running", rw.err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	if err := rw.stop(t); err != nil {
		t.Fatalf("Run after shutdown = %v, want nil", err)
	}
	testkit.WaitRunStatus(t, b.client, ref.RunID, herald.StatusSucceeded)
}

func TestClientErrors(t *testing.T) {
	t.Parallel()
	b := setup(t)

	_, err := b.client.GetRun(b.ctx, "no-such-run")
	var apiErr *herald.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound || apiErr.Code != "not_found" {
		t.Fatalf("GetRun(unknown) = %v, want a 404 not_found APIError", err)
	}

	_, err = b.client.Push(b.ctx, herald.Event{Key: "bad key!"})
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest || apiErr.Field != "key" {
		t.Fatalf("Push(bad key) = %v, want a 400 naming the key", err)
	}
	if !strings.HasPrefix(err.Error(), "herald: pushing event") {
		t.Fatalf("error %q lacks context", err)
	}

	_, err = b.client.BulkPush(b.ctx, []herald.Event{{Key: "ok"}, {Key: "ok"}, {Key: ""}})
	if !errors.As(err, &apiErr) || apiErr.Field != "events[2].key" {
		t.Fatalf("BulkPush with a bad event = %v, want the error to name events[2].key", err)
	}

	bad, err := herald.NewClient(herald.ClientConfig{URL: b.client.URL(), Token: "hrld_wrong"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.ListRuns(b.ctx, herald.ListRunsParams{})
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized {
		t.Fatalf("ListRuns with a wrong token = %v, want 401", err)
	}
}

func TestBulkPushAndPagination(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if _, _, err := b.client.PutWorkflow(b.ctx, herald.WorkflowDefinition{
		Name: "counter", Triggers: []string{"tick"}, Steps: []herald.StepDefinition{{Name: "count"}},
	}); err != nil {
		t.Fatalf("PutWorkflow: %v", err)
	}
	evs := make([]herald.Event, 7)
	for i := range evs {
		evs[i] = herald.Event{Key: "tick", Payload: map[string]int{"i": i}}
	}
	results, err := b.client.BulkPush(b.ctx, evs)
	if err != nil {
		t.Fatalf("BulkPush: %v", err)
	}
	if len(results) != len(evs) {
		t.Fatalf("BulkPush returned %d results, want %d", len(results), len(evs))
	}
	for i, r := range results {
		var p struct{ I int }
		if err := json.Unmarshal(r.Event.Payload, &p); err != nil || p.I != i || len(r.Runs) != 1 {
			t.Fatalf("result %d = %+v (%v), want request order and one run", i, r, err)
		}
	}

	seen := map[string]bool{}
	cursor := ""
	for pages := 0; ; pages++ {
		page, err := b.client.ListEvents(b.ctx, herald.ListEventsParams{Key: "tick", Cursor: cursor, Limit: 3})
		if err != nil {
			t.Fatalf("ListEvents: %v", err)
		}
		for _, ev := range page.Items {
			seen[ev.ID] = true
		}
		if page.NextCursor == "" {
			break
		}
		if pages > 5 {
			t.Fatal("ListEvents never ends")
		}
		cursor = page.NextCursor
	}
	if len(seen) != len(evs) {
		t.Fatalf("paged through %d events, want %d", len(seen), len(evs))
	}

	runs, err := b.client.ListRuns(b.ctx, herald.ListRunsParams{Workflow: "counter", EventID: results[0].Event.ID})
	if err != nil || len(runs.Items) != 1 || runs.Items[0].ID != results[0].Runs[0].RunID {
		t.Fatalf("ListRuns by event = %+v, %v", runs, err)
	}

	// No worker runs "counter": its runs can be cancelled.
	cancelled, err := b.client.CancelRun(b.ctx, results[0].Runs[0].RunID)
	if err != nil || cancelled.Status != herald.StatusCancelled {
		t.Fatalf("CancelRun = %+v, %v", cancelled, err)
	}
	var apiErr *herald.APIError
	if _, err := b.client.CancelRun(b.ctx, cancelled.ID); !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusConflict {
		t.Fatalf("second CancelRun = %v, want 409", err)
	}
}

func TestWorkflowManagement(t *testing.T) {
	t.Parallel()
	b := setup(t)
	def := herald.WorkflowDefinition{
		Name:     "managed",
		Triggers: []string{"m:go"},
		Steps: []herald.StepDefinition{
			{Name: "one", Timeout: 30 * time.Second, Retry: herald.RetryPolicy{MaxAttempts: 2}},
			{Name: "two", Parents: []string{"one"}},
		},
	}
	wf, created, err := b.client.PutWorkflow(b.ctx, def)
	if err != nil || !created || wf.Version != 1 || !wf.Active {
		t.Fatalf("PutWorkflow = %+v, %v, %v", wf, created, err)
	}
	if wf.Steps[0].Timeout != 30*time.Second || wf.Steps[0].Retry.MaxAttempts != 2 || wf.Steps[1].Parents[0] != "one" {
		t.Fatalf("stored steps = %+v", wf.Steps)
	}
	if wf, created, err = b.client.PutWorkflow(b.ctx, def); err != nil || created || wf.Version != 1 {
		t.Fatalf("same PutWorkflow again = %+v, %v, %v; want no new version", wf, created, err)
	}
	def.Steps[0].Timeout = time.Minute + 30*time.Second
	if wf, created, err = b.client.PutWorkflow(b.ctx, def); err != nil || !created || wf.Version != 2 || wf.Steps[0].Timeout != 90*time.Second {
		t.Fatalf("changed PutWorkflow = %+v, %v, %v; want version 2", wf, created, err)
	}

	if wf, err = b.client.DisableWorkflow(b.ctx, "managed"); err != nil || wf.Active {
		t.Fatalf("DisableWorkflow = %+v, %v", wf, err)
	}
	res, err := b.client.Push(b.ctx, herald.Event{Key: "m:go"})
	if err != nil || len(res.Runs) != 0 || len(res.Event.Triggers) != 1 || res.Event.Triggers[0].Skipped == "" {
		t.Fatalf("push to a disabled workflow = %+v, %v; want it skipped", res, err)
	}
	if wf, err = b.client.EnableWorkflow(b.ctx, "managed"); err != nil || !wf.Active {
		t.Fatalf("EnableWorkflow = %+v, %v", wf, err)
	}
	list, err := b.client.ListWorkflows(b.ctx)
	if err != nil || len(list) != 1 || list[0].Name != "managed" {
		t.Fatalf("ListWorkflows = %+v, %v", list, err)
	}
}

func TestTokens(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok, secret, err := b.client.CreateToken(b.ctx, herald.CreateTokenParams{Name: "ci"})
	if err != nil || tok.ID == "" || tok.Name != "ci" || !strings.HasPrefix(secret, "hrld_") {
		t.Fatalf("CreateToken = %+v, %q, %v", tok, secret, err)
	}
	ci, err := herald.NewClient(herald.ClientConfig{URL: b.client.URL(), Token: secret})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ci.ListWorkflows(b.ctx); err != nil {
		t.Fatalf("the new token does not work: %v", err)
	}
	toks, err := b.client.ListTokens(b.ctx)
	if err != nil {
		t.Fatalf("ListTokens: %v", err)
	}
	found := false
	for _, x := range toks {
		found = found || x.ID == tok.ID
	}
	if !found {
		t.Fatalf("ListTokens = %+v, want %s", toks, tok.ID)
	}
	if tok.Role != herald.RoleMember || tok.Admin {
		t.Errorf("a token created without a role = %+v, want a member", tok)
	}
	// A member creates no tokens; the engine's 403 comes back as an APIError.
	var apiErr *herald.APIError
	if _, _, err := ci.CreateToken(b.ctx, herald.CreateTokenParams{Name: "more"}); !errors.As(err, &apiErr) || apiErr.StatusCode != 403 || apiErr.Code != "permission_denied" {
		t.Errorf("a member creating a token: %v, want 403 permission_denied", err)
	}
	if err := b.client.RevokeToken(b.ctx, tok.ID); err != nil {
		t.Fatalf("RevokeToken: %v", err)
	}

	// The first start's token is an operator: it manages another tenant's tokens.
	if _, err := b.client.CreateTenant(b.ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	adm, _, err := b.client.CreateToken(b.ctx, herald.CreateTokenParams{Name: "acme-admin", Tenant: "acme", Role: herald.RoleAdmin})
	if err != nil || adm.Role != herald.RoleAdmin || !adm.Admin || adm.Tenant != "acme" {
		t.Fatalf("CreateToken(acme, admin) = %+v, %v", adm, err)
	}
	acme, err := b.client.ListTenantTokens(b.ctx, "acme")
	if err != nil || len(acme) != 1 || acme[0].ID != adm.ID || acme[0].Role != herald.RoleAdmin {
		t.Fatalf("ListTenantTokens(acme) = %+v, %v; want the admin token", acme, err)
	}
	if err := b.client.RevokeToken(b.ctx, adm.ID); !errors.As(err, &apiErr) || apiErr.StatusCode != 404 {
		t.Errorf("revoking acme's token without naming acme: %v, want 404", err)
	}
	if err := b.client.RevokeTenantToken(b.ctx, "acme", adm.ID); err != nil {
		t.Fatalf("RevokeTenantToken: %v", err)
	}
	if acme, err := b.client.ListTenantTokens(b.ctx, "acme"); err != nil || len(acme) != 1 || acme[0].RevokedAt == nil {
		t.Fatalf("acme's tokens after the revocation = %+v, %v; want it revoked", acme, err)
	}
}

func TestCancelRunCancelsTheRunningStep(t *testing.T) {
	t.Parallel()
	b := setup(t) // leases of 2s: the worker heartbeats every ~670ms
	started := make(chan struct{})
	stepErr := make(chan error, 1)
	startWorker(t, b, herald.WorkerConfig{}, herald.Workflow{
		Name: "long",
		Steps: []herald.Step{{Name: "wait", Timeout: time.Hour, Run: func(ctx context.Context, sc *herald.StepContext) (any, error) {
			close(started)
			select {
			case <-ctx.Done():
				stepErr <- ctx.Err()
				return nil, ctx.Err()
			case <-time.After(runTimeout):
				stepErr <- errors.New("the step was never cancelled")
				return nil, nil
			}
		}}},
	})
	ref, err := b.client.RunWorkflow(b.ctx, "long", nil)
	if err != nil {
		t.Fatalf("RunWorkflow: %v", err)
	}
	<-started
	run, err := b.client.CancelRun(b.ctx, ref.RunID)
	if err != nil {
		t.Fatalf("CancelRun: %v", err)
	}
	if run.Status != herald.StatusCancelled {
		t.Fatalf("cancelled run is %s", run.Status)
	}
	if err := <-stepErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("step context ended with %v, want context.Canceled", err)
	}
	testkit.WaitRunStatus(t, b.client, ref.RunID, herald.StatusCancelled)
}

func TestStepContextEndsAtTheDeadline(t *testing.T) {
	t.Parallel()
	b := setup(t)
	startWorker(t, b, herald.WorkerConfig{}, herald.Workflow{
		Name: "too-slow",
		Steps: []herald.Step{{
			Name:    "sleepy",
			Timeout: time.Second,
			Retry:   herald.RetryPolicy{MaxAttempts: 1},
			Run: func(ctx context.Context, sc *herald.StepContext) (any, error) {
				if sc.Deadline().IsZero() {
					return nil, herald.NonRetryable(errors.New("no deadline"))
				}
				select {
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-time.After(runTimeout):
					return nil, herald.NonRetryable(errors.New("the context outlived the deadline"))
				}
			},
		}},
	})
	ref, err := b.client.RunWorkflow(b.ctx, "too-slow", nil)
	if err != nil {
		t.Fatalf("RunWorkflow: %v", err)
	}
	run := testkit.WaitRunStatus(t, b.client, ref.RunID, herald.StatusFailed)
	if e := run.Step("sleepy").Error; strings.Contains(e, "outlived") || strings.Contains(e, "no deadline") {
		t.Fatalf("step error = %q", e)
	}
}

func TestWorkerNeverRunsMoreThanItsSlots(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const slots, runs = 2, 8
	var running, peak atomic.Int32
	startWorker(t, b, herald.WorkerConfig{Slots: slots}, herald.Workflow{
		Name:     "busy",
		Triggers: []string{"busy:go"},
		Steps: []herald.Step{{Name: "work", Run: func(ctx context.Context, sc *herald.StepContext) (any, error) {
			n := running.Add(1)
			defer running.Add(-1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			select { // hold the slot a little so that steps overlap
			case <-time.After(30 * time.Millisecond):
			case <-ctx.Done():
			}
			return nil, nil
		}}},
	})
	evs := make([]herald.Event, runs)
	for i := range evs {
		evs[i] = herald.Event{Key: "busy:go"}
	}
	results, err := b.client.BulkPush(b.ctx, evs)
	if err != nil {
		t.Fatalf("BulkPush: %v", err)
	}
	for _, r := range results {
		testkit.WaitRunStatus(t, b.client, r.Runs[0].RunID, herald.StatusSucceeded)
	}
	if p := peak.Load(); p > slots || p < 1 {
		t.Fatalf("peak concurrency %d, want 1..%d", p, slots)
	}
}

func TestWorkerRunFailsOnABadToken(t *testing.T) {
	t.Parallel()
	b := setup(t)
	bad, err := herald.NewClient(herald.ClientConfig{URL: b.client.URL(), Token: "hrld_wrong"})
	if err != nil {
		t.Fatal(err)
	}
	w := herald.NewWorker(bad, herald.WorkerConfig{Logger: slog.New(slog.DiscardHandler)})
	if err := w.Register(herald.Workflow{Name: "w", Steps: []herald.Step{{Name: "s", Run: func(context.Context, *herald.StepContext) (any, error) { return nil, nil }}}}); err != nil {
		t.Fatal(err)
	}
	err = w.Run(b.ctx)
	var apiErr *herald.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized {
		t.Fatalf("Run with a wrong token = %v, want a 401 APIError", err)
	}
	if err := w.Run(b.ctx); err == nil {
		t.Fatal("a second Run succeeded")
	}
}

func TestIdempotentPushAndWildcardTrigger(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if _, _, err := b.client.PutWorkflow(b.ctx, herald.WorkflowDefinition{
		Name: "orders", Triggers: []string{"order:*", "order:paid"}, Steps: []herald.StepDefinition{{Name: "s"}},
	}); err != nil {
		t.Fatalf("PutWorkflow: %v", err)
	}
	first, err := b.client.Push(b.ctx, herald.Event{Key: "order:paid", IdempotencyKey: "order-7"})
	if err != nil {
		t.Fatalf("Push: %v", err)
	}
	if first.Duplicate || len(first.Runs) != 1 {
		t.Fatalf("first push = %+v, want one run, not a duplicate", first)
	}
	again, err := b.client.Push(b.ctx, herald.Event{Key: "order:paid", IdempotencyKey: "order-7"})
	if err != nil {
		t.Fatalf("Push again: %v", err)
	}
	if !again.Duplicate || again.Event.ID != first.Event.ID || len(again.Runs) != 1 || again.Runs[0].RunID != first.Runs[0].RunID {
		t.Fatalf("repeat = %+v, want a duplicate of %+v", again, first)
	}

	x, err := b.client.DryRun(b.ctx, herald.Event{Key: "invoice:sent", IdempotencyKey: "order-7"})
	if err != nil {
		t.Fatalf("DryRun: %v", err)
	}
	if x.DuplicateOf != first.Event.ID || len(x.Workflows) != 1 || x.Workflows[0].Trigger || x.Workflows[0].Reason != "key_mismatch" {
		t.Fatalf("DryRun = %+v", x)
	}
	x, err = b.client.DryRun(b.ctx, herald.Event{Key: "order:shipped"})
	if err != nil || len(x.Workflows) != 1 || !x.Workflows[0].Trigger || len(x.Workflows[0].MatchedTriggers) != 1 {
		t.Fatalf("DryRun(order:shipped) = %+v, %v", x, err)
	}
}

// TestWorkerRetriesAFailedHeartbeatSoon: a heartbeat that hangs until it times out is
// sent again after a quarter of the interval, not a whole one, so the lease is extended
// before it ends (a heartbeat after the lease ended no longer revives it). The step,
// which works for longer than a lease, finishes on its first attempt.
func TestWorkerRetriesAFailedHeartbeatSoon(t *testing.T) {
	t.Parallel()
	env := testenv.Start(t) // leases of 2s: the worker heartbeats every ~670ms
	engineURL, err := url.Parse(env.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(engineURL)
	var hung atomic.Bool
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/heartbeat") && hung.CompareAndSwap(false, true) {
			// The first heartbeat does not answer (for longer than the worker waits).
			select {
			case <-r.Context().Done():
			case <-time.After(3 * time.Second):
			}
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	c, err := herald.NewClient(herald.ClientConfig{URL: front.URL, Token: env.Token})
	if err != nil {
		t.Fatal(err)
	}
	b := bundle{client: c, ctx: t.Context()}
	var runs atomic.Int32
	startWorker(t, b, herald.WorkerConfig{}, herald.Workflow{
		Name: "slow",
		Steps: []herald.Step{{Name: "work", Timeout: time.Minute, Run: func(ctx context.Context, sc *herald.StepContext) (any, error) {
			runs.Add(1)
			select {
			case <-ctx.Done(): // the lease was lost
				return nil, ctx.Err()
			case <-time.After(3 * time.Second): // the work: longer than a lease
				return map[string]any{"done": true}, nil
			}
		}}},
	})
	ref, err := c.RunWorkflow(b.ctx, "slow", nil)
	if err != nil {
		t.Fatalf("RunWorkflow: %v", err)
	}
	run := testkit.WaitRunStatus(t, b.client, ref.RunID, herald.StatusSucceeded)
	if s := run.Step("work"); s == nil || s.Attempt != 1 || runs.Load() != 1 || !hung.Load() {
		t.Fatalf("the step ran %d times (attempt %v); a heartbeat hung: %v", runs.Load(), s, hung.Load())
	}
}
