package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/internal/testenv"
)

// cliResult is what one in-process execution of the CLI produced.
type cliResult struct {
	code   int
	stdout string
	stderr string
}

// runCLI executes the herald command line in-process with the given
// environment and standard input.
func runCLI(t *testing.T, env map[string]string, stdin string, args ...string) cliResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), args, strings.NewReader(stdin), &stdout, &stderr, envMap(env))
	return cliResult{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// wantErrLine checks that the execution failed with exit status code and one
// stderr line equal to line.
func (r cliResult) wantErrLine(t *testing.T, code int, line string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit status = %d, want %d (stderr %q)", r.code, code, r.stderr)
	}
	if r.stderr != line+"\n" {
		t.Errorf("stderr = %q, want %q", r.stderr, line+"\n")
	}
}

// deadAddr returns a loopback address where nothing listens: it opens a
// listener on a free port and closes it again.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// noEngine is a CLI environment whose HERALD_URL is an address where nothing
// listens. A command that sent any request would fail with "cannot reach
// Herald at ..."; a test that gets its own error line (or success without a
// server) instead proves that no request was attempted.
func noEngine(t *testing.T) map[string]string {
	t.Helper()
	return map[string]string{envURL: "http://" + deadAddr(t), envToken: "hrld_test"}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		args []string
		line string
	}{
		{"unknown command", []string{"evnts"}, `herald: unknown command "evnts" for "herald" (did you mean "events"?)`},
		{"unknown subcommand", []string{"events", "frob"}, `herald: unknown command "frob" for "herald events"`},
		{"unknown flag", []string{"push", "--nope", "k"}, `herald: push: unknown flag: --nope`},
		{"missing key", []string{"push"}, `herald: push: got 0 arguments; usage: herald push KEY [JSON | @file | -]`},
		{"too many args", []string{"runs", "get", "a", "b"}, `herald: runs get: got 2 arguments; usage: herald runs get ID`},
		{"list takes no args", []string{"events", "list", "x"}, `herald: events list: got 1 argument; usage: herald events list`},
		{"unknown root flag", []string{"--nope"}, `herald: unknown flag: --nope`},
		{"bad output", []string{"-o", "yaml", "events", "list"}, `herald: --output "yaml": want table or json`},
		{"bulk with key", []string{"push", "--bulk", "f", "k"}, `herald: push: --bulk takes no KEY or payload argument`},
		{"bulk with metadata", []string{"push", "--bulk", "f", "--metadata", "a=b"}, `herald: push: --metadata cannot be used with --bulk; put additional_metadata in each event`},
		{"negative timeout", []string{"run", "wf", "--wait", "--timeout", "-1s"}, `herald: run: --timeout must not be negative`},
		{"bad limit", []string{"runs", "list", "--limit", "x"}, `herald: runs list: invalid argument "x" for "--limit" flag: strconv.ParseInt: parsing "x": invalid syntax`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, noEngine(t), "", tt.args...)
			r.wantErrLine(t, exitUsage, tt.line)
		})
	}
}

func TestHelpExitsZero(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{nil, {"--help"}, {"events"}, {"push", "--help"}} {
		r := runCLI(t, noEngine(t), "", args...)
		if r.code != 0 || r.stderr != "" || !strings.Contains(r.stdout, "Usage:") {
			t.Errorf("%v: code %d, stderr %q, stdout %q", args, r.code, r.stderr, r.stdout)
		}
	}
}

func TestBadLocalInputSendsNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.json")

	tests := []struct {
		name  string
		args  []string
		stdin string
		line  string
	}{
		{"bad JSON", []string{"push", "k", `{"a":`}, "", "herald: payload argument is not valid JSON: unexpected end of JSON input"},
		{"payload not object", []string{"push", "k", `[1]`}, "", "herald: payload argument must be a JSON object, not an array"},
		{"missing file", []string{"push", "k", "@" + missing}, "", "herald: payload: open " + missing + ": no such file or directory"},
		{"bad stdin", []string{"push", "k", "-"}, "nope", "herald: payload from standard input is not valid JSON: invalid character 'o' in literal null (expecting 'u') (line 1, column 2)"},
		{"bad metadata", []string{"push", "k", "--metadata", "novalue"}, "", `herald: --metadata "novalue": want KEY=VALUE or KEY:=JSON`},
		{"bad run input", []string{"run", "wf", "{x}"}, "", "herald: input argument is not valid JSON: invalid character 'x' looking for beginning of object key string (line 1, column 2)"},
		{"missing bulk file", []string{"push", "--bulk", missing}, "", "herald: --bulk: open " + missing + ": no such file or directory"},
		{"bad bulk", []string{"push", "--bulk", "-"}, "{\"key\":\"a\"}\n{\"key\":1}\n", "herald: --bulk from standard input: line 2: key: want a non-empty string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, noEngine(t), tt.stdin, tt.args...)
			r.wantErrLine(t, exitError, tt.line)
		})
	}
}

func TestNoToken(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := noEngine(t)
	delete(env, envToken)
	env[envDataDir] = dir
	r := runCLI(t, env, "", "events", "list")
	r.wantErrLine(t, exitError, "herald: no API token: pass --token, set HERALD_TOKEN, or run 'herald serve' to create "+filepath.Join(dir, "token"))
}

func TestTokenFromDataDir(t *testing.T) {
	t.Parallel()
	engine := testenv.Start(t)
	// A data directory of our own whose token file ends in a newline, as
	// editors leave it. The engine refuses any other token, so a reply proves
	// the file's token (trimmed) was sent.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte(engine.Token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{envURL: engine.URL}

	// Through the flag.
	r := runCLI(t, env, "", "--data-dir", dir, "tenants", "list")
	if r.code != 0 || !strings.Contains(r.stdout, "default") {
		t.Fatalf("--data-dir: code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	// Through the environment.
	env[envDataDir] = dir
	r = runCLI(t, env, "", "tenants", "list", "-o", "json")
	if r.code != 0 || !strings.Contains(r.stdout, `"name": "default"`) {
		t.Fatalf("HERALD_DATA_DIR: code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestAPIErrorIsOneLine(t *testing.T) {
	t.Parallel()
	engine := testenv.Start(t)
	env := map[string]string{envURL: engine.URL, envToken: engine.Token}

	// The engine's message, with what the CLI was doing and the field.
	runCLI(t, env, "", "push", "bad key!").wantErrLine(t, exitError, `herald: pushing event "bad key!": key: contains ' ' at byte 3; allowed are A-Z a-z 0-9 . _ - : / (field: key)`)
	runCLI(t, env, "", "runs", "get", "nope").wantErrLine(t, exitError, "herald: getting run nope: not found")
	// Line breaks in the error (here in the id the SDK echoes) are collapsed.
	runCLI(t, env, "", "runs", "get", "no\npe").wantErrLine(t, exitError, "herald: getting run no pe: not found")
	// A reply that is not JSON: the engine's plain-text 404 for a path it
	// does not serve, as behind a proxy prefix it knows nothing of.
	prefixed := map[string]string{envURL: engine.URL + "/proxy", envToken: engine.Token}
	runCLI(t, prefixed, "", "events", "list").wantErrLine(t, exitError, "herald: listing events: 404 page not found")
}

func TestBadURL(t *testing.T) {
	t.Parallel()
	r := runCLI(t, map[string]string{envToken: "x"}, "", "--url", "ftp://x", "runs", "list")
	r.wantErrLine(t, exitError, `herald: --url: URL "ftp://x": scheme must be http or https`)
}

func TestUnreachableEngine(t *testing.T) {
	t.Parallel()
	addr := deadAddr(t)
	r := runCLI(t, map[string]string{envURL: "http://" + addr, envToken: "x"}, "", "events", "list")
	if r.code != exitError || !strings.HasPrefix(r.stderr, "herald: cannot reach Herald at http://"+addr+": ") || strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("code %d, stderr %q", r.code, r.stderr)
	}
}

func TestPushTable(t *testing.T) {
	t.Parallel()
	e := setupE2E(t) // "welcome" (enabled) and "old" (disabled) on user:created

	out := e.ok(t, "", "push", "user:created", `{"user_id": "u_1"}`, "--metadata", "source=signup", "--metadata", "n:=2")

	// The engine stored what the command line said.
	page, err := e.sdk.ListEvents(t.Context(), herald.ListEventsParams{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 {
		t.Fatalf("events = %+v, want the one pushed", page.Items)
	}
	ev := page.Items[0]
	md, _ := json.Marshal(ev.AdditionalMetadata)
	if ev.Key != "user:created" || compactJSON(ev.Payload) != `{"user_id":"u_1"}` || string(md) != `{"n":2,"source":"signup"}` {
		t.Errorf("stored event: key %q, payload %s, metadata %s", ev.Key, ev.Payload, md)
	}

	// The table lists the engine's trigger decisions in its order.
	want := "event " + ev.ID + " (user:created)\n" +
		"WORKFLOW  VERSION  RUN\n"
	if len(ev.Triggers) != 2 {
		t.Fatalf("triggers = %+v, want welcome and old", ev.Triggers)
	}
	for _, tr := range ev.Triggers {
		switch {
		case tr.Workflow == "welcome" && tr.Version == 1 && tr.RunID != "" && tr.Skipped == "":
			want += "welcome   1        " + tr.RunID + "\n"
		case tr.Workflow == "old" && tr.Version == 1 && tr.RunID == "" && tr.Skipped == "disabled":
			want += "old       1        skipped (disabled)\n"
		default:
			t.Fatalf("unexpected trigger %+v", tr)
		}
	}
	if out != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", out, want)
	}
}

func TestRunWait(t *testing.T) {
	t.Parallel()
	e := setupE2E(t) // no worker runs "welcome": its runs stay queued

	wf := herald.Workflow{
		Name: "wf",
		Steps: []herald.Step{{Name: "only", Run: func(ctx context.Context, sc *herald.StepContext) (any, error) {
			var in struct {
				Fail bool `json:"fail"`
			}
			if err := sc.Input(&in); err != nil {
				return nil, herald.NonRetryable(err)
			}
			if in.Fail {
				return nil, herald.NonRetryable(errors.New("boom"))
			}
			return map[string]bool{"ok": true}, nil
		}}},
	}
	if _, _, err := e.sdk.PutWorkflow(t.Context(), wf.Definition()); err != nil {
		t.Fatal(err)
	}
	startWorker(t, e.sdk, wf)

	t.Run("succeeded", func(t *testing.T) {
		t.Parallel()
		out := e.ok(t, "", "run", "wf", "--wait", "--timeout", "30s")
		wantContains(t, out, "status:    succeeded", "only  succeeded  1/3", `only  {"ok":true}`)
	})
	t.Run("failed", func(t *testing.T) {
		t.Parallel()
		r := e.run(t, "", "run", "wf", `{"fail": true}`, "--wait", "--timeout", "30s", "-o", "json")
		var run herald.Run
		if err := json.Unmarshal([]byte(r.stdout), &run); err != nil || run.ID == "" {
			t.Fatalf("stdout is not a run (%v): %q, stderr %q", err, r.stdout, r.stderr)
		}
		r.wantErrLine(t, exitError, "herald: run "+run.ID+" failed: "+run.Error)
		if run.Error != "step only failed: boom" {
			t.Errorf("run error = %q", run.Error)
		}
		wantContains(t, r.stdout, `"status": "failed"`)
	})
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		r := e.run(t, "", "run", "welcome", "--wait", "--timeout", "1s")
		id, ok := strings.CutPrefix(r.stdout, "run ")
		if ok {
			id, ok = strings.CutSuffix(id, " (welcome v1) started, waiting…\n")
		}
		if !ok || id == "" {
			t.Fatalf("stdout %q, stderr %q", r.stdout, r.stderr)
		}
		r.wantErrLine(t, exitError, "herald: run "+id+" has not ended after 1s (status: queued); see 'herald runs get "+id+"'")
	})
	t.Run("no wait", func(t *testing.T) {
		t.Parallel()
		out := e.ok(t, "", "run", "welcome")
		id, ok := strings.CutPrefix(out, "run ")
		if ok {
			id, ok = strings.CutSuffix(id, " (welcome v1)\n")
		}
		if !ok || id == "" {
			t.Fatalf("stdout %q", out)
		}
		run, err := e.sdk.GetRun(t.Context(), id)
		if err != nil || run.Workflow != "welcome" || run.Version != 1 {
			t.Fatalf("run %s: %+v, %v", id, run, err)
		}
	})
}

func TestEmptyListJSON(t *testing.T) {
	t.Parallel()
	e := setupE2E(t)
	ctx := t.Context()
	if _, err := e.sdk.EnableWorkflow(ctx, "old"); err != nil {
		t.Fatal(err)
	}
	// Two events, each starting a run of welcome and one of old; no worker
	// runs them, so they stay queued unless cancelled.
	push := func() (eventID string, runs map[string]string) {
		t.Helper()
		res, err := e.sdk.Push(ctx, herald.Event{Key: "user:created"})
		if err != nil {
			t.Fatal(err)
		}
		runs = map[string]string{}
		for _, r := range res.Runs {
			runs[r.Workflow] = r.RunID
		}
		if len(runs) != 2 || runs["welcome"] == "" || runs["old"] == "" {
			t.Fatalf("push started %+v, want a run of welcome and of old", res.Runs)
		}
		return res.Event.ID, runs
	}
	e1, runs1 := push()
	_, runs2 := push()
	for _, id := range []string{runs1["old"], runs2["welcome"]} {
		if run, err := e.sdk.CancelRun(ctx, id); err != nil || run.Status != herald.StatusCancelled {
			t.Fatalf("cancelling %s: %+v, %v", id, run, err)
		}
	}

	// Each filter excludes a run that the other two keep, so the page is
	// empty only if all of them reached the engine.
	r := e.run(t, "", "runs", "list", "--workflow", "welcome", "--status", "cancelled", "--event", e1, "--limit", "5", "-o", "json")
	if r.code != 0 || r.stdout != "{\n  \"items\": []\n}\n" {
		t.Fatalf("code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	for _, tt := range []struct {
		dropped string
		args    []string
		want    string
	}{
		{"--workflow", []string{"--status", "cancelled", "--event", e1}, runs1["old"]},
		{"--status", []string{"--workflow", "welcome", "--event", e1}, runs1["welcome"]},
		{"--event", []string{"--workflow", "welcome", "--status", "cancelled"}, runs2["welcome"]},
	} {
		var page struct {
			Items []herald.RunSummary `json:"items"`
		}
		e.okJSON(t, &page, "", append([]string{"runs", "list"}, tt.args...)...)
		if len(page.Items) != 1 || page.Items[0].ID != tt.want {
			t.Errorf("without %s: items %+v, want run %s only", tt.dropped, page.Items, tt.want)
		}
	}
	// --limit reaches the engine too: welcome has two runs.
	var page struct {
		Items      []herald.RunSummary `json:"items"`
		NextCursor string              `json:"next_cursor"`
	}
	e.okJSON(t, &page, "", "runs", "list", "--workflow", "welcome", "--limit", "1")
	if len(page.Items) != 1 || page.NextCursor == "" {
		t.Errorf("--limit 1: %+v", page)
	}
}

func TestPushIdempotencyKey(t *testing.T) {
	t.Parallel()
	e := setupE2E(t) // "welcome" (enabled) and "old" (disabled) on user:created

	first := e.ok(t, "", "push", "user:created", "--idempotency-key", "signup-u1")
	again := e.ok(t, "", "push", "user:created", "--idempotency-key", "signup-u1")
	if strings.Contains(first, "duplicate") || !strings.Contains(again, "duplicate: the idempotency key was already used") {
		t.Fatalf("first:\n%s\nagain:\n%s", first, again)
	}
	if strings.SplitN(first, "\n", 2)[0] != strings.SplitN(again, "\n", 2)[0] {
		t.Fatalf("the repeat names another event:\n%s\n%s", first, again)
	}
	page, err := e.sdk.ListEvents(t.Context(), herald.ListEventsParams{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 {
		t.Fatalf("%d events stored, want 1", len(page.Items))
	}
	r := e.run(t, "", "push", "--bulk", "-", "--idempotency-key", "x")
	if r.code == 0 {
		t.Fatalf("--bulk with --idempotency-key succeeded: %+v", r)
	}
}

func TestPushDryRun(t *testing.T) {
	t.Parallel()
	e := setupE2E(t) // "welcome" (enabled) and "old" (disabled) on user:created

	out := e.ok(t, "", "push", "user:created", "--dry-run")
	want := "dry run of user:created: nothing was stored\n" +
		"WORKFLOW  VERSION  TRIGGER  WHY\n" +
		"old       1        no       disabled\n" +
		"welcome   1        yes      matches user:created\n"
	if out != want {
		t.Fatalf("dry run output:\n%s\nwant:\n%s", out, want)
	}
	page, err := e.sdk.ListEvents(t.Context(), herald.ListEventsParams{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 0 {
		t.Fatalf("%d events stored by a dry run", len(page.Items))
	}
}
