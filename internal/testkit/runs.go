package testkit

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald"
)

// runsInterval is how often WaitRuns lists the runs: listing thousands of them is not
// free, and the engine under test is busy completing them.
const runsInterval = 100 * time.Millisecond

// WaitRun polls run id until it has ended (herald.Run.Done) and returns it, whatever its
// status; it fails the test if the run is still going after Timeout.
func WaitRun(t testing.TB, c *herald.Client, id string) *herald.Run {
	t.Helper()
	run, ok := poll(Timeout(), interval, func() (*herald.Run, bool) {
		r := getRun(t, c, id)
		return r, r.Done()
	})
	if !ok {
		t.Fatalf("run %s is still %s after %s", id, run.Status, round(Timeout()))
	}
	return run
}

// WaitRunStatus polls run id until its status is status and returns it. It fails the
// test as soon as the run ends with another status (naming its error and its steps' states),
// or if it does not reach status within Timeout.
func WaitRunStatus(t testing.TB, c *herald.Client, id, status string) *herald.Run {
	t.Helper()
	run, ok := poll(Timeout(), interval, func() (*herald.Run, bool) {
		r := getRun(t, c, id)
		if r.Status != status && r.Done() {
			t.Fatalf("%s, want %s", describe(r), status)
		}
		return r, r.Status == status
	})
	if !ok {
		t.Fatalf("%s after %s, want %s", describe(run), round(Timeout()), status)
	}
	return run
}

// WaitRuns waits until exactly n of the tenant's runs have status (all pages). It fails
// the test as soon as more than n have it, or, unless status is failed, as soon as any run
// has failed. Thousands of runs can take longer than Timeout to finish, so the bound is on
// progress: it fails when a whole Timeout passes in which the count did not grow.
func WaitRuns(t testing.TB, c *herald.Client, n int, status string) {
	t.Helper()
	got := -1
	for {
		before := got
		_, ok := poll(Timeout(), runsInterval, func() (struct{}, bool) {
			got = countRuns(t, c, status)
			if status != herald.StatusFailed {
				if failed := countRuns(t, c, herald.StatusFailed); failed > 0 {
					t.Fatalf("%d runs failed (waiting for %d runs %s, %d so far)", failed, n, status, got)
				}
			}
			if got > n {
				t.Fatalf("%d runs %s, only %d expected", got, status, n)
			}
			return struct{}{}, got == n
		})
		if ok {
			return
		}
		if got <= before {
			t.Fatalf("%d of %d runs %s, and none more for %s", got, n, status, round(Timeout()))
		}
	}
}

// WaitEvent polls event id until it exists and is no longer scheduled (delivered, or
// cancelled or failed before its delivery) and returns it; it fails the test if that does
// not happen within Timeout. The caller checks the status it wants.
func WaitEvent(t testing.TB, c *herald.Client, id string) *herald.EventInfo {
	t.Helper()
	var lastErr error
	ev, ok := poll(Timeout(), interval, func() (*herald.EventInfo, bool) {
		ev, err := c.GetEvent(context.Background(), id)
		lastErr = err
		return ev, err == nil && ev.Status != herald.EventScheduled
	})
	switch {
	case ok:
		return ev
	case lastErr != nil:
		t.Fatalf("event %s did not appear within %s: %v", id, round(Timeout()), lastErr)
	default:
		t.Fatalf("event %s is still %s after %s", id, ev.Status, round(Timeout()))
	}
	return nil
}

// getRun gets a run, failing the test on an error.
func getRun(t testing.TB, c *herald.Client, id string) *herald.Run {
	t.Helper()
	r, err := c.GetRun(context.Background(), id)
	if err != nil {
		t.Fatalf("GetRun: %v", err)
	}
	return r
}

// describe names a run's state for a failure: its status, error and steps.
func describe(r *herald.Run) string {
	steps := make([]string, 0, len(r.Steps))
	for _, s := range r.Steps {
		steps = append(steps, fmt.Sprintf("%s=%s(attempt %d, error %q)", s.Name, s.Status, s.Attempt, s.Error))
	}
	return fmt.Sprintf("run %s (%s) is %s; error %q; steps %s", r.ID, r.Workflow, r.Status, r.Error, strings.Join(steps, ", "))
}

// countRuns counts the tenant's runs with status, page by page; a run listed twice fails
// the test.
func countRuns(t testing.TB, c *herald.Client, status string) int {
	t.Helper()
	seen := map[string]bool{}
	for cursor := ""; ; {
		p, err := c.ListRuns(context.Background(), herald.ListRunsParams{Status: status, Cursor: cursor, Limit: 500})
		if err != nil {
			t.Fatalf("ListRuns(status %s): %v", status, err)
		}
		for _, r := range p.Items {
			if seen[r.ID] {
				t.Fatalf("run %s listed twice", r.ID)
			}
			seen[r.ID] = true
		}
		if p.NextCursor == "" {
			return len(seen)
		}
		cursor = p.NextCursor
	}
}
