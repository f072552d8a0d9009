package main

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
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

// untouchable is a server that fails the test if any request reaches it.
func untouchable(t *testing.T) map[string]string {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "unexpected", http.StatusTeapot)
	}))
	t.Cleanup(func() {
		srv.Close()
		if n := hits.Load(); n > 0 {
			t.Errorf("%d request(s) reached the server", n)
		}
	})
	return map[string]string{envURL: srv.URL, envToken: "hrld_test"}
}

// fakeEngine serves canned replies for the given routes ("METHOD /path").
func fakeEngine(t *testing.T, routes map[string]http.HandlerFunc) map[string]string {
	t.Helper()
	mux := http.NewServeMux()
	for pattern, h := range routes {
		mux.HandleFunc(pattern, h)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return map[string]string{envURL: srv.URL, envToken: "hrld_test"}
}

// reply writes v as a JSON reply with the given status.
func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
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
			r := runCLI(t, untouchable(t), "", tt.args...)
			r.wantErrLine(t, exitUsage, tt.line)
		})
	}
}

func TestHelpExitsZero(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{nil, {"--help"}, {"events"}, {"push", "--help"}} {
		r := runCLI(t, untouchable(t), "", args...)
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
			r := runCLI(t, untouchable(t), tt.stdin, tt.args...)
			r.wantErrLine(t, exitError, tt.line)
		})
	}
}

func TestNoToken(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := untouchable(t)
	delete(env, envToken)
	env[envDataDir] = dir
	r := runCLI(t, env, "", "events", "list")
	r.wantErrLine(t, exitError, "herald: no API token: pass --token, set HERALD_TOKEN, or run 'herald serve' to create "+filepath.Join(dir, "token"))
}

func TestTokenFromDataDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte("hrld_from_file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := fakeEngine(t, map[string]http.HandlerFunc{
		"GET /api/v1/tenants": func(w http.ResponseWriter, r *http.Request) {
			if got := r.Header.Get("Authorization"); got != "Bearer hrld_from_file" {
				reply(w, http.StatusUnauthorized, map[string]any{"error": map[string]any{"code": "unauthenticated", "message": "bad token " + got}})
				return
			}
			reply(w, http.StatusOK, map[string]any{"items": []any{map[string]any{"id": "t1", "name": "default", "created_at": "2026-01-02T03:04:05Z"}}})
		},
	})
	delete(env, envToken)

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
	env := fakeEngine(t, map[string]http.HandlerFunc{
		"POST /api/v1/events": func(w http.ResponseWriter, r *http.Request) {
			reply(w, http.StatusBadRequest, map[string]any{"error": map[string]any{
				"code": "invalid_argument", "message": "key has a character that is not allowed", "field": "key"}})
		},
		"GET /api/v1/runs/{id}": func(w http.ResponseWriter, r *http.Request) {
			reply(w, http.StatusNotFound, map[string]any{"error": map[string]any{"code": "not_found", "message": "run not found"}})
		},
		"GET /api/v1/events": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte("upstream\nbroke\n"))
		},
	})
	runCLI(t, env, "", "push", "bad key!").wantErrLine(t, exitError, `herald: pushing event "bad key!": key has a character that is not allowed (field: key)`)
	runCLI(t, env, "", "runs", "get", "nope").wantErrLine(t, exitError, "herald: getting run nope: run not found")
	runCLI(t, env, "", "events", "list").wantErrLine(t, exitError, "herald: listing events: upstream broke")
}

func TestBadURL(t *testing.T) {
	t.Parallel()
	r := runCLI(t, map[string]string{envToken: "x"}, "", "--url", "ftp://x", "runs", "list")
	r.wantErrLine(t, exitError, `herald: --url: URL "ftp://x": scheme must be http or https`)
}

func TestUnreachableEngine(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r := runCLI(t, map[string]string{envURL: "http://" + addr, envToken: "x"}, "", "events", "list")
	if r.code != exitError || !strings.HasPrefix(r.stderr, "herald: cannot reach Herald at http://"+addr+": ") || strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("code %d, stderr %q", r.code, r.stderr)
	}
}

func TestPushTable(t *testing.T) {
	t.Parallel()
	var got atomic.Value
	env := fakeEngine(t, map[string]http.HandlerFunc{
		"POST /api/v1/events": func(w http.ResponseWriter, r *http.Request) {
			var body map[string]any
			_ = json.NewDecoder(r.Body).Decode(&body)
			got.Store(body)
			reply(w, http.StatusCreated, map[string]any{
				"event": map[string]any{"id": "ev1", "key": "user:created", "payload": body["payload"], "source": "api",
					"created_at": "2026-01-02T03:04:05Z",
					"triggers": []any{
						map[string]any{"workflow": "welcome", "version": 2, "run_id": "run1"},
						map[string]any{"workflow": "old", "version": 1, "skipped": "disabled"},
					}},
				"runs": []any{map[string]any{"workflow": "welcome", "version": 2, "run_id": "run1"}},
			})
		},
	})
	r := runCLI(t, env, "", "push", "user:created", `{"user_id": "u_1"}`, "--metadata", "source=signup", "--metadata", "n:=2")
	if r.code != 0 {
		t.Fatalf("code %d, stderr %q", r.code, r.stderr)
	}
	want := "event ev1 (user:created)\n" +
		"WORKFLOW  VERSION  RUN\n" +
		"welcome   2        run1\n" +
		"old       1        skipped (disabled)\n"
	if r.stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
	}
	body, _ := json.Marshal(got.Load())
	if string(body) != `{"additional_metadata":{"n":2,"source":"signup"},"key":"user:created","payload":{"user_id":"u_1"}}` {
		t.Errorf("request body %s", body)
	}
}

func TestRunWait(t *testing.T) {
	t.Parallel()

	runReply := func(status, errMsg string) map[string]any {
		return map[string]any{"id": "run1", "workflow": "wf", "version": 1, "status": status, "error": errMsg,
			"created_at": "2026-01-02T03:04:05Z", "started_at": "2026-01-02T03:04:05Z",
			"steps": []any{map[string]any{"id": "s1", "name": "only", "status": status, "attempt": 1, "max_attempts": 3,
				"output": map[string]any{"ok": status == "succeeded"}, "error": errMsg}}}
	}
	engine := func(final, errMsg string, pollsBeforeEnd int32) map[string]string {
		var polls atomic.Int32
		return fakeEngine(t, map[string]http.HandlerFunc{
			"POST /api/v1/workflows/wf/runs": func(w http.ResponseWriter, r *http.Request) {
				reply(w, http.StatusCreated, map[string]any{"run_id": "run1", "workflow": "wf", "version": 1})
			},
			"GET /api/v1/runs/run1": func(w http.ResponseWriter, r *http.Request) {
				if polls.Add(1) <= pollsBeforeEnd {
					reply(w, http.StatusOK, runReply("running", ""))
					return
				}
				reply(w, http.StatusOK, runReply(final, errMsg))
			},
		})
	}

	t.Run("succeeded", func(t *testing.T) {
		t.Parallel()
		r := runCLI(t, engine("succeeded", "", 2), "", "run", "wf", "--wait")
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("code %d, stderr %q", r.code, r.stderr)
		}
		for _, want := range []string{"status:    succeeded", "only  succeeded  1/3", `only  {"ok":true}`} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
			}
		}
	})
	t.Run("failed", func(t *testing.T) {
		t.Parallel()
		r := runCLI(t, engine("failed", "boom", 0), "", "run", "wf", "--wait", "-o", "json")
		r.wantErrLine(t, exitError, "herald: run run1 failed: boom")
		if !strings.Contains(r.stdout, `"status": "failed"`) {
			t.Errorf("stdout %q", r.stdout)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		r := runCLI(t, engine("succeeded", "", 1<<30), "", "run", "wf", "--wait", "--timeout", "150ms")
		r.wantErrLine(t, exitError, "herald: run run1 has not ended after 150ms (status: running); see 'herald runs get run1'")
	})
	t.Run("no wait", func(t *testing.T) {
		t.Parallel()
		r := runCLI(t, engine("succeeded", "", 0), "", "run", "wf")
		if r.code != 0 || r.stdout != "run run1 (wf v1)\n" {
			t.Fatalf("code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})
}

func TestEmptyListJSON(t *testing.T) {
	t.Parallel()
	env := fakeEngine(t, map[string]http.HandlerFunc{
		"GET /api/v1/runs": func(w http.ResponseWriter, r *http.Request) {
			if r.URL.RawQuery != "event_id=e1&limit=5&status=failed&workflow=wf" {
				reply(w, http.StatusBadRequest, map[string]any{"error": map[string]any{"message": "query " + r.URL.RawQuery}})
				return
			}
			reply(w, http.StatusOK, map[string]any{"items": []any{}})
		},
	})
	r := runCLI(t, env, "", "runs", "list", "--workflow", "wf", "--status", "failed", "--event", "e1", "--limit", "5", "-o", "json")
	if r.code != 0 || r.stdout != "{\n  \"items\": []\n}\n" {
		t.Fatalf("code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}
