package testenv_test

import (
	"context"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/internal/testenv"
)

// TestDutiesSignalTheirPasses: each background duty of a running engine signals its
// passes (the outbox relay runs on PostgreSQL only), which is what tests wait on instead
// of sleeping.
func TestDutiesSignalTheirPasses(t *testing.T) {
	testenv.ForEachStore(t, testenv.Options{}, func(t *testing.T, env *testenv.Env) {
		env.WaitPass(t, "sweeper", env.Signals.Swept)
		env.WaitPass(t, "delayed-event delivery", env.Signals.Delivered)
		if env.DatabaseURL != "" {
			env.WaitPass(t, "outbox relay", env.Signals.Relayed)
		}
	})
}

// TestManualClock: an engine given a manual clock stamps what it receives with that
// clock's time, and a delay counts from it.
func TestManualClock(t *testing.T) {
	testenv.ForEachStore(t, testenv.Options{ManualClock: true}, func(t *testing.T, env *testenv.Env) {
		ctx := context.Background()
		c, err := herald.NewClient(herald.ClientConfig{URL: env.URL, Token: env.Token})
		if err != nil {
			t.Fatal(err)
		}
		at := env.Clock.Advance(90 * time.Minute)
		res, err := c.Push(ctx, herald.Event{Key: "clock:now"})
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Event.CreatedAt; !got.Equal(at.UTC().Truncate(time.Millisecond)) {
			t.Errorf("created_at = %s, want the engine clock's %s", got, at)
		}
		later, err := c.PushAfter(ctx, herald.Event{Key: "clock:later"}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if want := at.Add(time.Hour).UTC().Truncate(time.Millisecond); later.Event.DeliverAt == nil || !later.Event.DeliverAt.Equal(want) {
			t.Errorf("deliver_at = %v, want the clock's time plus the delay, %s", later.Event.DeliverAt, want)
		}
	})
}
