package storetest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/heraldhq/herald/internal/store"
)

// testIngestSizes ingests batches of very different sizes, because stores may write small
// and large batches differently (PostgreSQL: INSERTs of arrays, or COPY): every field of
// every row, nullable ones set and unset, must read back the same either way.
func testIngestSizes(t *testing.T, open Opener) {
	for _, n := range []int{1, 7, 60, 300} {
		t.Run(fmt.Sprintf("Events%d", n), func(t *testing.T) {
			t.Parallel()
			b := setup(t, open)
			wf := b.workflow("orders", diamond("orders").Steps...)
			parent := b.startRun(wf, at(time1))
			items := make([]store.IngestItem, n)
			for i := range items {
				ev := newEvent(b.tenant.ID, fmt.Sprintf("orders.created.%d", i%3), at(time1))
				ev.Payload = json.RawMessage(fmt.Sprintf(`{"i": %d, "name": "o\"rder"}`, i))
				if i%2 == 0 {
					ev.Metadata = json.RawMessage(fmt.Sprintf(`{"user": "u%d"}`, i))
					ev.Scope = fmt.Sprintf("scope-%d", i)
				}
				if i%5 == 1 {
					ev.Source, ev.ParentRunID, ev.ParentStepRunID, ev.ParentStep = store.SourceRun, parent.Run.ID, parent.Steps[0].ID, "a"
				}
				run := newRun(wf, ev.ID, ev.Payload, at(time1))
				ev.Triggers = []store.TriggerDecision{{Workflow: "orders", Version: 1, RunID: run.Run.ID}}
				items[i] = store.IngestItem{Event: ev, Runs: []store.IngestRun{run}}
			}
			b.ingest(items...)
			for i, it := range items {
				got, err := b.s.EventGet(b.ctx, b.tenant.ID, it.Event.ID)
				noErr(t, err, "GetEvent")
				want := *it.Event
				if got.Key != want.Key || got.Source != want.Source || got.Scope != want.Scope || got.ParentRunID != want.ParentRunID ||
					got.ParentStepRunID != want.ParentStepRunID || got.ParentStep != want.ParentStep || !got.CreatedAt.Equal(want.CreatedAt) {
					t.Fatalf("event %d = %+v, want %+v", i, got, want)
				}
				jsonEq(t, got.Payload, want.Payload, "payload")
				if want.Metadata == nil {
					if len(got.Metadata) != 0 && string(got.Metadata) != "null" {
						t.Errorf("event %d metadata = %s, want none", i, got.Metadata)
					}
				} else {
					jsonEq(t, got.Metadata, want.Metadata, "metadata")
				}
				if !reflect.DeepEqual(got.Triggers, want.Triggers) {
					t.Errorf("event %d triggers = %+v, want %+v", i, got.Triggers, want.Triggers)
				}
				run := it.Runs[0]
				r, steps := b.getRun(run.Run.ID)
				if r.EventID != want.ID || r.Status != store.RunQueued || r.Version != 1 || !r.CreatedAt.Equal(at(time1)) {
					t.Errorf("run %d = %+v", i, r)
				}
				jsonEq(t, r.Input, want.Payload, "run input")
				for j, st := range steps {
					w := run.Steps[j]
					if st.ID != w.ID || st.Status != w.Status || st.PendingParents != w.PendingParents || st.TimeoutMS != w.TimeoutMS ||
						!reflect.DeepEqual(st.Parents, w.Parents) || st.Retry != w.Retry || (st.QueuedAt == nil) != (w.QueuedAt == nil) {
						t.Errorf("run %d step %d = %+v, want %+v", i, j, st, w)
					}
				}
			}
			// Every ready step is claimable: the queue rows were written too.
			got := b.claim(at(time1), 2*n+2, "orders")
			if len(got) != n+1 {
				t.Errorf("claimed %d steps, want %d (one per run)", len(got), n+1)
			}
		})
	}
}
