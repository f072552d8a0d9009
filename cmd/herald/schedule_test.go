package main

import (
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald"
)

// TestPushDelayedListAndCancel: push --delay and --deliver-at schedule an event (nothing
// triggered yet), events list --status scheduled shows it, events cancel cancels it, and
// a bulk file may delay some of its events.
func TestPushDelayedListAndCancel(t *testing.T) {
	t.Parallel()
	e := setupE2E(t) // "welcome" (enabled) and "old" (disabled) on user:created

	out := e.ok(t, "", "push", "user:created", `{"u": 1}`, "--delay", "1h", "--metadata", "user_id=u_1")
	if !strings.Contains(out, "(user:created) scheduled, due ") {
		t.Fatalf("push --delay printed:\n%s", out)
	}
	id := strings.Fields(out)[1]
	var res herald.PushResult
	due := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Second)
	e.okJSON(t, &res, "", "push", "user:created", "--deliver-at", due.Format(time.RFC3339))
	if res.Event.Status != herald.EventScheduled || res.Event.DeliverAt == nil || !res.Event.DeliverAt.Equal(due) || len(res.Runs) != 0 {
		t.Fatalf("push --deliver-at = %+v", res)
	}
	r := e.run(t, "", "push", "user:created", "--deliver-at", "2099-01-02T03:04:05Z")
	if r.code != 1 || !strings.Contains(r.stderr, "(field: deliver_at)") {
		t.Fatalf("push --deliver-at 2099: %+v", r)
	}

	list := e.ok(t, "", "events", "list", "--status", "scheduled")
	if !strings.Contains(list, id) || !strings.Contains(list, "DUE") {
		t.Fatalf("events list --status scheduled:\n%s", list)
	}
	if got := e.ok(t, "", "events", "list", "--metadata", "user_id=u_1", "--status", "scheduled"); !strings.Contains(got, id) {
		t.Fatalf("events list --metadata:\n%s", got)
	}
	if got := e.ok(t, "", "events", "get", id); !strings.Contains(got, "status:    scheduled") || !strings.Contains(got, "due:") {
		t.Fatalf("events get of a scheduled event:\n%s", got)
	}
	if got := e.ok(t, "", "events", "cancel", id); got != "event "+id+" (user:created): cancelled\n" {
		t.Fatalf("events cancel printed %q", got)
	}
	r = e.run(t, "", "events", "cancel", id)
	if r.code != 1 || !strings.Contains(r.stderr, "already cancelled") {
		t.Fatalf("second cancel: %+v", r)
	}

	bulk := `{"key": "user:created", "delay": "2h"}
{"key": "user:created", "idempotency_key": "b-1"}
`
	if out := e.ok(t, bulk, "push", "--bulk", "-"); !strings.Contains(out, "pushed 2 events, started 1 run") {
		t.Fatalf("bulk push printed:\n%s", out)
	}
	page, err := e.sdk.ListEvents(t.Context(), herald.ListEventsParams{Status: herald.EventScheduled})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 2 {
		t.Fatalf("%d scheduled events, want 2 (--deliver-at and the bulk one)", len(page.Items))
	}
}

// TestScheduleAndSearchFlagErrors: bad flags are refused before any request.
func TestScheduleAndSearchFlagErrors(t *testing.T) {
	t.Parallel()
	env := noEngine(t)
	cases := []struct {
		args []string
		code int
		line string
	}{
		{[]string{"push", "k", "--delay", "1m", "--deliver-at", "2030-01-01T00:00:00Z"}, 2, "herald: push: set either --delay or --deliver-at, not both"},
		{[]string{"push", "k", "--deliver-at", "tomorrow"}, 1, `herald: --deliver-at: "tomorrow" is not an RFC 3339 time such as 2026-01-02T15:04:05Z`},
		{[]string{"events", "list", "--since", "yesterday"}, 1, `herald: --since: "yesterday" is not an RFC 3339 time such as 2026-01-02T15:04:05Z`},
		{[]string{"runs", "list", "--metadata", "novalue"}, 1, `herald: --metadata "novalue": want NAME=VALUE`},
	}
	for _, tc := range cases {
		runCLI(t, env, "", tc.args...).wantErrLine(t, tc.code, tc.line)
	}
	r := runCLI(t, env, "", "push", "--bulk", "-", "--delay", "1m")
	if r.code != 2 {
		t.Errorf("--bulk with --delay: %+v", r)
	}
}

// TestSearchFlags: events and runs are found by metadata, workflow and time.
func TestSearchFlags(t *testing.T) {
	t.Parallel()
	e := setupE2E(t)
	e.ok(t, "", "push", "user:created", "--metadata", "plan=pro")
	e.ok(t, "", "push", "user:created", "--metadata", "plan=free")
	e.ok(t, "", "push", "user:deleted", "--metadata", "plan=pro")
	var evs struct {
		Items []herald.EventInfo `json:"items"`
	}
	e.okJSON(t, &evs, "", "events", "list", "--metadata", "plan=pro", "--workflow", "welcome", "--key-prefix", "user:")
	if len(evs.Items) != 1 || evs.Items[0].Key != "user:created" {
		t.Fatalf("events list --metadata --workflow = %+v", evs.Items)
	}
	var runs struct {
		Items []herald.RunSummary `json:"items"`
	}
	e.okJSON(t, &runs, "", "runs", "list", "--metadata", "plan=pro", "--since", "2000-01-01T00:00:00Z", "--until", "2999-01-01T00:00:00Z")
	if len(runs.Items) != 1 || runs.Items[0].Workflow != "welcome" {
		t.Fatalf("runs list --metadata = %+v", runs.Items)
	}
	e.okJSON(t, &runs, "", "runs", "list", "--key", "user:created")
	if len(runs.Items) != 2 {
		t.Fatalf("runs list --key user:created = %+v, want the 2 runs of welcome", runs.Items)
	}
	e.okJSON(t, &runs, "", "runs", "list", "--key-prefix", "user:del")
	if len(runs.Items) != 0 {
		t.Fatalf("runs list --key-prefix user:del = %+v, want none", runs.Items)
	}
}
