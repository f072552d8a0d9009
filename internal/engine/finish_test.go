package engine

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/postgres"
	"github.com/heraldhq/herald/internal/testkit"
)

// TestRefusedResultDoesNotFailItsBatch commits, in one batch, step results of which the
// store refuses one (PostgreSQL's jsonb cannot hold U+0000; validation refuses it at the
// door, this test goes around it): the others are written and acknowledged, instead of
// all failing and their steps running again once their leases expire.
func TestRefusedResultDoesNotFailItsBatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := postgres.Open(ctx, postgres.Config{URL: pgtest.NewDatabase(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e, err := New(ctx, st, Config{})
	if err != nil {
		t.Fatal(err)
	}
	e.Start()
	defer e.Close()
	tenant := NewID()
	if err := st.TenantCreate(ctx, store.Tenant{ID: tenant, Name: "acme", CreatedAt: now()}); err != nil {
		t.Fatal(err)
	}
	def := store.WorkflowDef{Name: "w", Triggers: store.PlainTriggers("k"), Steps: []store.StepDef{{Name: "s"}}}
	if _, _, err := e.PutWorkflow(ctx, tenant, def); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Push(ctx, tenant, []EventInput{{Key: "k"}, {Key: "k"}, {Key: "k"}}, true); err != nil {
		t.Fatal(err)
	}
	w, err := e.RegisterWorker(ctx, tenant, "w", []string{"w"}, 10)
	if err != nil {
		t.Fatal(err)
	}
	var as []store.Assignment
	testkit.Eventually(t, "3 steps leased", func() bool {
		got, err := e.Poll(ctx, tenant, w.ID, 3-len(as), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		as = append(as, got...)
		return len(as) >= 3
	})
	if len(as) != 3 {
		t.Fatalf("leased %d steps, want 3", len(as))
	}
	reqs := make([]finishReq, len(as))
	for i, a := range as {
		out := json.RawMessage(`{"ok":true}`)
		if i == 1 {
			out = json.RawMessage(`{"bad":"\u0000"}`)
		}
		reqs[i] = finishReq{res: store.StepResult{TenantID: tenant, StepRunID: a.StepRunID, LeaseID: a.LeaseID, Succeeded: true, Output: out, At: now()},
			done: make(chan finishResp, 1)}
	}
	e.commitFinish(ctx, reqs)
	for i, r := range reqs {
		resp := <-r.done
		if i == 1 {
			if resp.err == nil {
				t.Error("the store took a result holding U+0000")
			}
			continue
		}
		if resp.err != nil || resp.out.Err != nil {
			t.Errorf("result %d failed with its batch: %v / %v", i, resp.err, resp.out.Err)
		}
		run, _, err := st.RunGet(ctx, tenant, as[i].RunID)
		if err != nil {
			t.Fatal(err)
		}
		if run.Status != store.RunSucceeded {
			t.Errorf("run %d is %s, want succeeded", i, run.Status)
		}
	}
}

func TestFailureMessageIsStorable(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", maxFailureMessage-1) + "é" // the cut would split é
	cases := map[string]string{
		"":                         "step failed",
		"boom":                     "boom",
		"nul\x00here":              "nul\uFFFDhere",
		"bad \xff utf8":            "bad \uFFFD utf8",
		long:                       strings.Repeat("a", maxFailureMessage-1),
		long[:maxFailureMessage-1]: long[:maxFailureMessage-1],
	}
	for in, want := range cases {
		got := failureMessage(in)
		if got != want || !utf8.ValidString(got) || len(got) > maxFailureMessage {
			t.Errorf("failureMessage(%.20q…) = %.20q… (%d bytes), want %.20q… (%d bytes)", in, got, len(got), want, len(want))
		}
	}
}
