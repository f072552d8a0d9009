package store

import "testing"

// TestWorkflowVersionDecision: a new name is version 1 of a new workflow, an unchanged
// hash makes no version, a changed one the next version of the workflow.
func TestWorkflowVersionDecision(t *testing.T) {
	for _, c := range []struct {
		name         string
		found        bool
		version      int
		cur, new     string
		next         int
		insert, skip bool
	}{
		{"new workflow", false, 0, "", "h1", 1, true, false},
		{"same definition", true, 3, "h3", "h3", 3, false, true},
		{"new definition", true, 3, "h3", "h4", 4, false, false},
	} {
		next, insert, skip := WorkflowVersionDecision(c.found, c.version, c.cur, c.new)
		if next != c.next || insert != c.insert || skip != c.skip {
			t.Errorf("%s: next %d insert %v skip %v, want %d %v %v", c.name, next, insert, skip, c.next, c.insert, c.skip)
		}
	}
}

// TestPutMark: a write that changed something answers the mark it committed; one that
// did not answers none.
func TestPutMark(t *testing.T) {
	if got := PutMark(true, 42); got != "42" {
		t.Errorf("PutMark(changed, 42) = %q, want \"42\"", got)
	}
	if n, err := ParseChangeMark(PutMark(true, 0)); err != nil || n != 0 {
		t.Errorf("ParseChangeMark(PutMark(changed, 0)) = %d, %v; want 0", n, err)
	}
	if got := PutMark(false, 42); got != "" {
		t.Errorf("PutMark(unchanged, 42) = %q, want \"\"", got)
	}
}
