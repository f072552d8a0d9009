package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/internal/testenv"
)

// e2e is a real engine with the CLI's environment pointing at it.
type e2e struct {
	env *testenv.Env
	cfg map[string]string // HERALD_URL and HERALD_TOKEN (admin)
	sdk *herald.Client
}

// setupE2E starts an engine with two workflows triggered by "user:created":
// "welcome" (enabled) and "old" (disabled, through the CLI).
func setupE2E(t *testing.T) *e2e {
	t.Helper()
	env := testenv.Start(t)
	sdk, err := herald.NewClient(herald.ClientConfig{URL: env.URL, Token: env.Token})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"welcome", "old"} {
		def := herald.WorkflowDefinition{
			Name:     name,
			Triggers: []string{"user:created"},
			Steps:    []herald.StepDefinition{{Name: "greet"}},
		}
		if _, _, err := sdk.PutWorkflow(t.Context(), def); err != nil {
			t.Fatalf("putting workflow %s: %v", name, err)
		}
	}
	e := &e2e{env: env, cfg: map[string]string{envURL: env.URL, envToken: env.Token}, sdk: sdk}
	r := e.run(t, "", "workflows", "disable", "old")
	if r.code != 0 || r.stdout != "workflow old (v1) is disabled\n" {
		t.Fatalf("disable: code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	return e
}

// run executes the CLI against the engine with the admin token.
func (e *e2e) run(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	return runCLI(t, e.cfg, stdin, args...)
}

// ok runs the CLI and fails the test unless it succeeded.
func (e *e2e) ok(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	r := e.run(t, stdin, args...)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("herald %s: exit %d, stderr %q, stdout %q", strings.Join(args, " "), r.code, r.stderr, r.stdout)
	}
	return r.stdout
}

// okJSON runs the CLI with -o json and decodes its output into v.
func (e *e2e) okJSON(t *testing.T, v any, stdin string, args ...string) {
	t.Helper()
	out := e.ok(t, stdin, append(args, "-o", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("herald %s: decoding output: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// startWorker runs a real SDK worker for wfs until the test ends. Store the
// definitions first (PutWorkflow) when runs must start before the worker is up.
func startWorker(t *testing.T, sdk *herald.Client, wfs ...herald.Workflow) {
	t.Helper()
	w := herald.NewWorker(sdk, herald.WorkerConfig{
		Name:            "cli-test",
		ShutdownTimeout: -1,
		Logger:          slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err := w.Register(wfs...); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	})
}

// wantContains fails unless s contains every one of subs.
func wantContains(t *testing.T, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("output lacks %q:\n%s", sub, s)
		}
	}
}

// wantOneLineError fails unless r failed with status 1 and one stderr line
// starting with prefix.
func wantOneLineError(t *testing.T, r cliResult, prefix string) {
	t.Helper()
	if r.code != exitError {
		t.Errorf("exit status %d, want %d", r.code, exitError)
	}
	if !strings.HasPrefix(r.stderr, prefix) || strings.Count(r.stderr, "\n") != 1 || !strings.HasSuffix(r.stderr, "\n") {
		t.Errorf("stderr = %q, want one line starting with %q", r.stderr, prefix)
	}
}

func TestE2EEventsAndRuns(t *testing.T) {
	t.Parallel()
	e := setupE2E(t)

	// Push, table output: the started run and the skipped workflow.
	out := e.ok(t, "", "push", "user:created", `{"user_id": "u_1"}`, "--metadata", "source=signup", "--metadata", "n:=7")
	wantContains(t, out, "event ", "(user:created)", "WORKFLOW", "welcome", "old", "skipped (disabled)")

	// Push, JSON output, payload from standard input.
	var pushed herald.PushResult
	e.okJSON(t, &pushed, `{"user_id": "u_2"}`, "push", "user:created", "-")
	if len(pushed.Runs) != 1 || pushed.Runs[0].Workflow != "welcome" || pushed.Runs[0].RunID == "" {
		t.Fatalf("runs = %+v, want one run of welcome", pushed.Runs)
	}
	if len(pushed.Event.Triggers) != 2 {
		t.Fatalf("triggers = %+v, want 2", pushed.Event.Triggers)
	}
	if compactJSON(pushed.Event.Payload) != `{"user_id":"u_2"}` {
		t.Errorf("payload = %s", pushed.Event.Payload)
	}
	evID, runID := pushed.Event.ID, pushed.Runs[0].RunID

	// The first push's metadata arrived typed.
	var page struct {
		Items      []herald.EventInfo `json:"items"`
		NextCursor string             `json:"next_cursor"`
	}
	e.okJSON(t, &page, "", "events", "list", "--key", "user:created", "--limit", "1")
	if len(page.Items) != 1 || page.Items[0].ID != evID || page.NextCursor == "" {
		t.Fatalf("events list page 1 = %+v", page)
	}
	e.okJSON(t, &page, "", "events", "list", "--key", "user:created", "--cursor", page.NextCursor)
	if len(page.Items) != 1 {
		t.Fatalf("events list page 2 = %+v", page)
	}
	md, _ := json.Marshal(page.Items[0].AdditionalMetadata)
	if string(md) != `{"n":7,"source":"signup"}` {
		t.Errorf("metadata = %s", md)
	}

	// Table listing with a next-page hint.
	out = e.ok(t, "", "events", "list", "--limit", "1")
	wantContains(t, out, "ID", "KEY", evID, "user:created", "more results: --cursor ")

	// events get: payload, triggers and the run.
	out = e.ok(t, "", "events", "get", evID)
	wantContains(t, out, "event:", evID, `{"user_id":"u_2"}`, "skipped (disabled)", runID, "welcome")

	// runs list, filtered by event and workflow.
	var runs struct {
		Items []herald.RunSummary `json:"items"`
	}
	e.okJSON(t, &runs, "", "runs", "list", "--event", evID)
	if len(runs.Items) != 1 || runs.Items[0].ID != runID {
		t.Fatalf("runs list --event = %+v", runs.Items)
	}
	out = e.ok(t, "", "runs", "list", "--workflow", "welcome")
	wantContains(t, out, "WORKFLOW", "STATUS", runID, "queued")

	// runs get: the steps table.
	out = e.ok(t, "", "runs", "get", runID)
	wantContains(t, out, "run:", runID, "welcome v1", "STEP", "ATTEMPT", "WORKER", "greet")

	// runs cancel, then cancelling again is a conflict.
	out = e.ok(t, "", "runs", "cancel", runID)
	if out != "run "+runID+" (welcome v1): cancelled\n" {
		t.Errorf("cancel: %q", out)
	}
	wantOneLineError(t, e.run(t, "", "runs", "cancel", runID), "herald: ")

	// Bulk push from NDJSON on standard input.
	bulk := "{\"key\": \"user:created\", \"payload\": {\"user_id\": \"u_3\"}}\n{\"key\": \"other:thing\"}\n"
	out = e.ok(t, bulk, "push", "--bulk", "-")
	wantContains(t, out, "EVENT", "user:created", "other:thing", "pushed 2 events, started 1 run\n")

	// A manual run of a workflow, disabled or not.
	out = e.ok(t, "", "run", "old", `{"x": 1}`)
	if !strings.HasPrefix(out, "run ") || !strings.HasSuffix(out, " (old v1)\n") {
		t.Errorf("run: %q", out)
	}

	// Workflows.
	out = e.ok(t, "", "workflows", "list")
	wantContains(t, out, "NAME", "welcome", "enabled", "old", "disabled", "user:created")
	out = e.ok(t, "", "workflows", "get", "welcome")
	wantContains(t, out, "workflow:", "welcome", "STEP", "greet")
	if out := e.ok(t, "", "workflows", "enable", "old"); out != "workflow old (v1) is enabled\n" {
		t.Errorf("enable: %q", out)
	}

	// Errors: unknown ids, bad names, bad local input.
	wantOneLineError(t, e.run(t, "", "runs", "get", "0193a2b4-0000-7000-8000-000000000000"), "herald: ")
	wantOneLineError(t, e.run(t, "", "events", "get", "nope"), "herald: ")
	r := e.run(t, "", "push", "bad key!")
	wantOneLineError(t, r, "herald: ")
	if !strings.HasSuffix(r.stderr, "(field: key)\n") {
		t.Errorf("bad key: stderr %q, want the field named", r.stderr)
	}
	r = e.run(t, "", "push", "user:created", `{"user_id": `)
	r.wantErrLine(t, exitError, "herald: payload argument is not valid JSON: unexpected end of JSON input")
}

func TestE2ETokensAndTenants(t *testing.T) {
	t.Parallel()
	e := setupE2E(t)

	// Create a token: the secret is shown once, with the note.
	out := e.ok(t, "", "tokens", "create", "ci")
	wantContains(t, out, "name:", "ci", "role:", "member", "secret:", "hrld_", secretNote)
	out = e.ok(t, "", "tokens", "create", "deputy", "--role", "admin")
	wantContains(t, out, "role:", "admin")
	out = e.ok(t, "", "tokens", "create", "deputy-2", "--admin")
	wantContains(t, out, "role:", "admin")
	wantOneLineError(t, e.run(t, "", "tokens", "create", "x", "--role", "root"), "herald: ")

	var created struct {
		Token  herald.TokenInfo `json:"token"`
		Secret string           `json:"secret"`
	}
	r := e.run(t, "", "tokens", "create", "robot", "-o", "json")
	if r.code != 0 || r.stderr != secretNote+"\n" {
		t.Fatalf("tokens create -o json: code %d, stderr %q", r.code, r.stderr)
	}
	if err := json.Unmarshal([]byte(r.stdout), &created); err != nil || created.Secret == "" || created.Token.ID == "" {
		t.Fatalf("tokens create -o json: %v, %s", err, r.stdout)
	}

	out = e.ok(t, "", "tokens", "list")
	wantContains(t, out, "ID", "NAME", "ROLE", "ci", "robot", "operator", "admin", "member", created.Token.ID)
	if strings.Contains(out, created.Secret) {
		t.Error("tokens list shows a secret")
	}

	// The new token works, until it is revoked.
	robot := map[string]string{envURL: e.env.URL, envToken: created.Secret}
	if r := runCLI(t, robot, "", "events", "list"); r.code != 0 {
		t.Fatalf("new token: code %d, stderr %q", r.code, r.stderr)
	}
	if out := e.ok(t, "", "tokens", "revoke", created.Token.ID); out != "token "+created.Token.ID+" revoked\n" {
		t.Errorf("revoke: %q", out)
	}
	wantOneLineError(t, runCLI(t, robot, "", "events", "list"), "herald: ")

	// A bad token gets the engine's 401 as one line; so does --token.
	bad := map[string]string{envURL: e.env.URL, envToken: "hrld_not_a_token"}
	r = runCLI(t, bad, "", "workflows", "list")
	wantOneLineError(t, r, "herald: ")
	if strings.Contains(r.stderr, "HTTP 401") || strings.Contains(r.stderr, "herald: herald") {
		t.Errorf("401 line is not clean: %q", r.stderr)
	}
	wantOneLineError(t, e.run(t, "", "--token", "nope", "runs", "list"), "herald: ")

	// With no token given, the engine's data directory provides it.
	fromDir := map[string]string{envURL: e.env.URL, envDataDir: e.env.DataDir}
	if r := runCLI(t, fromDir, "", "workflows", "list"); r.code != 0 || !strings.Contains(r.stdout, "welcome") {
		t.Fatalf("token from data dir: code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}

	// Tenants (operator).
	out = e.ok(t, "", "tenants", "create", "acme")
	wantContains(t, out, "tenant acme created (id ")
	out = e.ok(t, "", "tenants", "list")
	wantContains(t, out, "NAME", "default", "acme")
	wantOneLineError(t, e.run(t, "", "tenants", "create", "acme"), "herald: ")

	// A token of another tenant sees none of this tenant's workflows.
	var acme struct {
		Secret string `json:"secret"`
	}
	r = e.run(t, "", "tokens", "create", "acme-ci", "--tenant", "acme", "-o", "json")
	if err := json.Unmarshal([]byte(r.stdout), &acme); r.code != 0 || err != nil || acme.Secret == "" {
		t.Fatalf("tokens create --tenant: code %d, err %v, stdout %q, stderr %q", r.code, err, r.stdout, r.stderr)
	}
	acmeEnv := map[string]string{envURL: e.env.URL, envToken: acme.Secret}
	if r := runCLI(t, acmeEnv, "", "workflows", "list", "-o", "json"); r.code != 0 || r.stdout != "{\n  \"items\": []\n}\n" {
		t.Errorf("acme workflows: code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	wantOneLineError(t, runCLI(t, acmeEnv, "", "tenants", "list"), "herald: ")
	// A member of acme creates no tokens; the operator lists and revokes acme's.
	wantOneLineError(t, runCLI(t, acmeEnv, "", "tokens", "create", "more"), "herald: ")
	out = e.ok(t, "", "tokens", "list", "--tenant", "acme")
	wantContains(t, out, "acme-ci", "member")
	id := strings.Fields(strings.Split(out, "\n")[1])[0]
	if out := e.ok(t, "", "tokens", "revoke", id, "--tenant", "acme"); out != "token "+id+" revoked\n" {
		t.Errorf("revoke --tenant: %q", out)
	}
	wantOneLineError(t, runCLI(t, acmeEnv, "", "workflows", "list"), "herald: ")
}

func TestE2ERunWait(t *testing.T) {
	t.Parallel()
	e := setupE2E(t)

	greeter := herald.Workflow{
		Name: "greeter",
		Steps: []herald.Step{
			{Name: "hello", Run: func(ctx context.Context, sc *herald.StepContext) (any, error) {
				var in struct {
					Name string `json:"name"`
				}
				if err := sc.Input(&in); err != nil {
					return nil, herald.NonRetryable(err)
				}
				return map[string]string{"greeting": "hello " + in.Name}, nil
			}},
			{Name: "shout", Parents: []string{"hello"}, Run: func(ctx context.Context, sc *herald.StepContext) (any, error) {
				var in struct {
					Fail bool `json:"fail"`
				}
				if err := sc.Input(&in); err != nil {
					return nil, herald.NonRetryable(err)
				}
				if in.Fail {
					return nil, herald.NonRetryable(errors.New("asked to fail"))
				}
				return map[string]bool{"loud": true}, nil
			}},
		},
	}
	// Store the definition first so runs can start before the worker is up.
	if _, _, err := e.sdk.PutWorkflow(t.Context(), greeter.Definition()); err != nil {
		t.Fatal(err)
	}
	startWorker(t, e.sdk, greeter)

	out := e.ok(t, "", "run", "greeter", `{"name": "ada"}`, "--wait", "--timeout", "30s")
	wantContains(t, out, "status:    succeeded", "STEP", "hello", "shout", `{"greeting":"hello ada"}`, `{"loud":true}`)

	r := e.run(t, "", "run", "greeter", `{"name": "bob", "fail": true}`, "--wait", "--timeout", "30s")
	wantOneLineError(t, r, "herald: run ")
	wantContains(t, r.stderr, "failed")
	wantContains(t, r.stdout, "status:    failed", "asked to fail")
}
