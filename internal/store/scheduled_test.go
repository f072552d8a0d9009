package store

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

// TestSortScheduled: earliest due first, ties by id.
func TestSortScheduled(t *testing.T) {
	t0 := time.Date(2030, time.March, 4, 5, 6, 7, 0, time.UTC)
	es := []ScheduledEvent{{ID: "c", DeliverAt: t0}, {ID: "a", DeliverAt: t0.Add(time.Second)}, {ID: "b", DeliverAt: t0}}
	SortScheduled(es)
	var ids []string
	for _, e := range es {
		ids = append(ids, e.ID)
	}
	if !reflect.DeepEqual(ids, []string{"b", "c", "a"}) {
		t.Errorf("sorted %v, want [b c a]", ids)
	}
}

// TestScheduledRefusals: a cancel of an ended or delivered delayed event is a conflict
// that says why.
func TestScheduledRefusals(t *testing.T) {
	for err, want := range map[error]string{
		ScheduledCancelConflict("e1", ScheduledFailed): "event e1 is already failed: conflict",
		ScheduledDelivered("e1"):                       "event e1 is already delivered: conflict",
	} {
		if !errors.Is(err, ErrConflict) || err.Error() != want {
			t.Errorf("refusal %q, want the conflict %q", err, want)
		}
	}
	if got := (DeliveryClaim{Retried: true}).AttemptsCond(); got != "attempts > 0" {
		t.Errorf("AttemptsCond(retried) = %q", got)
	}
	if got := (DeliveryClaim{}).AttemptsCond(); got != "attempts = 0" {
		t.Errorf("AttemptsCond(new) = %q", got)
	}
}
