package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestFiltersCommands: `herald filters create|list|delete`, `herald push --scope` and
// --dry-run, and `herald events get` showing each workflow's decision, with the filter
// that let the event through and an expression's error.
func TestFiltersCommands(t *testing.T) {
	t.Parallel()
	e := setupE2E(t) // "welcome" (enabled) and "old" (disabled) on user:created

	var f struct {
		ID, Scope, Workflow string
		Payload             json.RawMessage
	}
	out := e.ok(t, "", "filters", "create", "welcome", "--scope", "acme", "--expression", "input.plan == 'pro'",
		"--payload", `{"tier":"gold"}`, "-o", "json")
	if err := json.Unmarshal([]byte(out), &f); err != nil || f.Scope != "acme" || f.Workflow != "welcome" || f.ID == "" {
		t.Fatalf("filters create -o json: %v %s", err, out)
	}
	r := e.run(t, "", "filters", "create", "welcome", "--scope", "acme", "--expression", "input.plan ==")
	if r.code == 0 || !strings.Contains(r.stderr, "expression") {
		t.Fatalf("bad expression: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := e.run(t, "", "filters", "create", "welcome"); r.code == 0 || !strings.Contains(r.stderr, "scope") {
		t.Fatalf("no --scope: exit %d, stderr %q", r.code, r.stderr)
	}
	if out := e.ok(t, "", "filters", "list", "welcome"); !strings.Contains(out, f.ID) || !strings.Contains(out, "input.plan == 'pro'") ||
		!strings.Contains(out, `{"tier":"gold"}`) {
		t.Fatalf("filters list:\n%s", out)
	}

	out = e.ok(t, "", "push", "user:created", `{"plan":"pro"}`, "--scope", "acme")
	if !strings.Contains(out, "via filter "+f.ID) {
		t.Fatalf("scoped push output:\n%s", out)
	}
	out = e.ok(t, "", "push", "user:created", `{"plan":"pro"}`, "--dry-run")
	if !strings.Contains(out, "welcome   1        no       scope_mismatch") {
		t.Fatalf("dry run without scope:\n%s", out)
	}
	out = e.ok(t, "", "push", "user:created", `{}`, "--scope", "acme", "-o", "json")
	var res struct {
		Event struct{ ID string } `json:"event"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	out = e.ok(t, "", "events", "get", res.Event.ID)
	if !strings.Contains(out, "skipped (expression_error): filter "+f.ID+": no such key: plan") {
		t.Fatalf("events get does not show the expression error:\n%s", out)
	}

	if out := e.ok(t, "", "filters", "delete", "welcome", f.ID); out != "filter "+f.ID+" deleted from welcome\n" {
		t.Fatalf("filters delete: %q", out)
	}
	if r := e.run(t, "", "filters", "delete", "welcome", f.ID); r.code == 0 {
		t.Fatalf("deleting twice succeeded")
	}
}
