package api

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/engine"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/wire"
)

var updateGolden = flag.Bool("update-wire-golden", false, "rewrite internal/wire/testdata from what the API writes")

// TestWireGolden holds the JSON the API writes for its bodies to the goldens of
// internal/wire/testdata, which the wire package's tests read back through its types: a
// change to what the server sends fails here, a wire type that no longer reads and
// writes it fails there. Each body is built from store and engine rows by the same
// conversion the handlers use, once with every field set and once with the least.
func TestWireGolden(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 123000000, time.UTC)
	t1, t2 := t0.Add(time.Second), t0.Add(2*time.Second)
	fullEvent := store.Event{ID: "evt_01", TenantID: "ten_01", Key: "order:paid", Payload: json.RawMessage(`{"amount":120,"note":"<b>&</b>"}`),
		Metadata: json.RawMessage(`{"region":"eu"}`), Source: "run", ParentRunID: "run_00", ParentStepRunID: "srn_00", ParentStep: "charge",
		Scope: "acme", Webhook: "stripe", DedupeID: "evt_stripe_1", ReplayOf: "evt_00", CreatedAt: t0,
		Triggers: []store.TriggerDecision{
			{Workflow: "fulfil", Version: 2, RunID: "run_01", FilterID: "flt_01"},
			{Workflow: "audit", Version: 1, Skipped: "expression_error", Error: "no such key: amount"},
		}}
	minEvent := store.Event{ID: "evt_02", Key: "user:created", Payload: json.RawMessage(`{}`), Source: "api", CreatedAt: t0}
	fullRun := store.Run{ID: "run_01", WorkflowName: "fulfil", Version: 2, EventID: "evt_01", Status: store.RunFailed,
		Input: json.RawMessage(`{"amount":120}`), Error: "step charge failed", CreatedAt: t0, StartedAt: &t1, FinishedAt: &t2}
	minRun := store.Run{ID: "run_02", WorkflowName: "manual", Version: 1, Status: store.RunQueued, Input: json.RawMessage(`{}`), CreatedAt: t0}
	fullStep := store.StepRun{ID: "srn_01", Step: "charge", Parents: []string{"reserve"}, Status: store.StepFailed, Attempt: 3, MaxAttempts: 3,
		WorkerID: "wrk_01", Output: json.RawMessage(`{"ok":false}`), Error: "card declined", QueuedAt: &t0, StartedAt: &t1, FinishedAt: &t2}
	minStep := store.StepRun{ID: "srn_02", Step: "reserve", Parents: []string{}, Status: store.StepPending, Attempt: 0, MaxAttempts: 1}
	fullWorkflow := store.Workflow{Name: "fulfil", Active: true, Version: 2, CreatedAt: t0, UpdatedAt: t1, Def: store.WorkflowDef{
		Name: "fulfil", Description: "ships paid orders",
		Triggers: []store.Trigger{{Key: "order:paid"}, {Key: "order:*", Expression: "input.amount > 100"}},
		Steps: []store.StepDef{
			{Name: "reserve", TimeoutMS: 90_000, Retry: store.RetryDef{MaxAttempts: 5, InitialBackoffMS: 1500, MaxBackoffMS: 60_000, Multiplier: 1.5}},
			{Name: "charge", Parents: []string{"reserve"}},
		}}}
	minWorkflow := store.Workflow{Name: "manual", Version: 1, CreatedAt: t0, UpdatedAt: t0, Def: store.WorkflowDef{Name: "manual",
		Steps: []store.StepDef{{Name: "only"}}}}
	fullToken := store.Token{ID: "tok_01", TenantName: "default", Name: "ci", Role: store.RoleAdmin, CreatedAt: t0, RevokedAt: &t1}
	minToken := store.Token{ID: "tok_02", TenantName: "default", Name: "worker", Role: store.RoleMember, CreatedAt: t0}
	fullAssignment := store.Assignment{StepRunID: "srn_01", LeaseID: "lse_01", RunID: "run_01", EventID: "evt_01", Workflow: "fulfil", Version: 2,
		Step: "charge", Attempt: 2, MaxAttempts: 3, Input: json.RawMessage(`{"amount":120}`),
		Parents: map[string]json.RawMessage{"reserve": json.RawMessage(`{"held":true}`)}, Deadline: t2, LeaseExpiresAt: t1}
	minAssignment := store.Assignment{StepRunID: "srn_02", LeaseID: "lse_02", RunID: "run_02", Workflow: "manual", Version: 1,
		Step: "only", Attempt: 1, MaxAttempts: 1, Input: json.RawMessage(`{}`), Parents: map[string]json.RawMessage{}, Deadline: t2, LeaseExpiresAt: t1}
	scheduled := store.ScheduledEvent{ID: "evt_03", Key: "reminder", Payload: json.RawMessage(`{}`), Source: "api", Scope: "acme",
		DeliverAt: t2, CreatedAt: t0, Status: store.ScheduledFailed, Error: "workflow fulfil: no such key"}

	eventWithRuns := toEvent(fullEvent)
	eventWithRuns.Runs = &[]wire.Run{toRun(fullRun)}
	scheduledEvent := toScheduled(scheduled)
	scheduledEvent.Runs = &[]wire.Run{}

	hooks := &API{cfg: Config{PublicURL: "https://hooks.example.com"}}
	req := httptest.NewRequest(http.MethodGet, "/api/v1/webhooks", nil)
	fullHook := store.Webhook{TenantID: "ten_01", Name: "stripe", Source: "stripe", EventKeyExpression: `"stripe." + body.type`,
		ScopeExpression: "body.account", DedupeExpression: "body.id", StaticPayload: json.RawMessage(`{"via":"stripe"}`),
		Auth:      store.WebhookAuth{Type: "hmac", Header: "X-Sig", Algorithm: "sha256", Encoding: "hex", Prefix: "sha256=", Username: "u"},
		CreatedAt: t0, UpdatedAt: t1}
	minHook := store.Webhook{TenantID: "ten_01", Name: "plain", Source: "generic", EventKeyExpression: `"plain"`, CreatedAt: t0, UpdatedAt: t0}

	cases := map[string]any{
		"webhook_full.json": hooks.toWebhook(req, fullHook),
		"webhook_min.json":  hooks.toWebhook(req, minHook),
		"webhook_delivery_full.json": toDelivery(store.WebhookDelivery{ID: "whd_01", ReceivedAt: t0, Verification: "verified", Outcome: "accepted",
			StatusCode: 200, EventID: "evt_01", DedupeID: "evt_stripe_1", BodyBytes: 512}),
		"webhook_delivery_min.json": toDelivery(store.WebhookDelivery{ID: "whd_02", ReceivedAt: t0, Verification: "failed", Outcome: "rejected",
			StatusCode: 401, Error: "bad signature", BodyBytes: 0}),
		"webhook_challenge.json": wire.WebhookChallenge{Challenge: "abc"},
		"event_full.json":        eventWithRuns,
		"event_min.json":         toEvent(minEvent),
		"event_scheduled.json":   scheduledEvent,
		"push_reply_full.json":   toPushReply(engine.PushResult{Event: fullEvent, Runs: []engine.RunRef{{Workflow: "fulfil", Version: 2, RunID: "run_01"}}, Duplicate: true}),
		"push_reply_min.json":    toPushReply(engine.PushResult{Event: minEvent}),
		"run_full.json":          runWithSteps(fullRun, []store.StepRun{fullStep, minStep}),
		"run_min.json":           toRun(minRun),
		"workflow_full.json":     toWorkflow(fullWorkflow),
		"workflow_min.json":      toWorkflow(minWorkflow),
		"token_full.json":        toToken(fullToken),
		"token_min.json":         toToken(minToken),
		"assignment_full.json":   toAssignment(fullAssignment),
		"assignment_min.json":    toAssignment(minAssignment),
		"dry_run_reply.json": wire.DryRunReply{DryRun: true, Key: "order:paid", DuplicateOf: "evt_00", Workflows: []engine.Decision{
			{Workflow: "fulfil", Version: 2, Trigger: true, MatchedTriggers: []string{"order:paid"}, FilterID: "flt_01"},
			{Workflow: "audit", Version: 1, MatchedTriggers: []string{}, Reason: "expression_error", Message: "no such key: amount"},
		}},
		"error_full.json": wire.Error{Error: wire.ErrorDetail{Code: "invalid_argument", Message: "key: must not be empty", Field: "key"}},
		"error_min.json":  wire.Error{Error: wire.ErrorDetail{Code: "not_found", Message: "not found"}},
		"filter_full.json": toFilter(store.Filter{ID: "flt_01", Workflow: "fulfil", Scope: "acme", Expression: "input.amount > 100",
			Payload: json.RawMessage(`{"tier":"gold"}`), CreatedAt: t0}),
		"filter_min.json":         toFilter(store.Filter{ID: "flt_02", Workflow: "fulfil", Scope: "acme", CreatedAt: t0}),
		"event_schema.json":       toEventSchema(store.EventSchema{Key: "order:paid", Schema: json.RawMessage(`{"type":"object"}`), CreatedAt: t0, UpdatedAt: t1}),
		"put_workflow_reply.json": wire.PutWorkflowReply{Workflow: toWorkflow(minWorkflow), CreatedVersion: true},
		"bulk_reply.json":         wire.BulkReply{Items: []wire.PushReply{toPushReply(engine.PushResult{Event: minEvent})}},
		"assignments.json":        wire.Assignments{Assignments: []wire.Assignment{toAssignment(minAssignment)}},
		"worker_registered.json":  wire.WorkerRegistered{ID: "wrk_01", LeaseDuration: wire.Duration(30 * time.Second), HeartbeatInterval: wire.Duration(10 * time.Second)},
		"heartbeat_reply.json":    wire.HeartbeatReply{LeaseExpiresAt: t1, Cancelled: []string{}},
		"token_created.json":      wire.TokenCreated{Token: toToken(minToken), Secret: "hrld_secret"},
		"accepted.json":           wire.Status{Status: "accepted"},
		"tenant.json":             toTenant(store.Tenant{ID: "ten_01", Name: "acme", CreatedAt: t0}),
		"list_workflows.json":     wire.List[wire.Workflow]{Items: []wire.Workflow{toWorkflow(minWorkflow)}, NextCursor: "cnVuXzAx"},
	}
	for name, v := range cases {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			enc := json.NewEncoder(&b) // as writeJSON encodes
			enc.SetEscapeHTML(false)
			if err := enc.Encode(v); err != nil {
				t.Fatal(err)
			}
			var indented bytes.Buffer
			if err := json.Indent(&indented, b.Bytes(), "", "  "); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("..", "wire", "testdata", name)
			if *updateGolden {
				if err := os.WriteFile(path, indented.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(indented.Bytes(), want) {
				t.Errorf("the API writes\n%s\nthe golden %s is\n%s", indented.Bytes(), path, want)
			}
		})
	}
}
