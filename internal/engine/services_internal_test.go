package engine

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/testkit"
)

// TestServicesStartAndStop: Start runs every service of the engine — ingest and dispatch's
// commit loops, each duty's loop (each one's pass is signalled), the engine's own loops —
// and Close stops every one of them: no loop of any service is left running, pushes and
// results are refused with ErrClosed, and a poll returns at once. On both stores (the
// outbox relay runs only on PostgreSQL's, which has an outbox).
func TestServicesStartAndStop(t *testing.T) {
	testStores(t, func(t *testing.T, st store.Store, _ string) {
		sig := NewSignals()
		e, err := New(context.Background(), st, Config{
			SweepInterval: 10 * time.Millisecond, Retention: time.Hour, RetentionInterval: 10 * time.Millisecond,
			Signals: sig,
		})
		if err != nil {
			t.Fatal(err)
		}
		_, hasOutbox := st.(store.Outbox)
		loops := map[string]*loopGroup{
			"ingest": &e.ingest.loops, "dispatch": &e.dispatch.loops, "sweeper": &e.sweeper.loops,
			"retainer": &e.retainer.loops, "deliverer": &e.deliverer.loops, "relay": &e.relay.loops,
			"engine": &e.loops,
		}
		e.Start()
		closed := false
		t.Cleanup(func() {
			if !closed {
				e.Close()
			}
		})
		for name, l := range loops {
			if name == "relay" && !hasOutbox {
				if n := l.running.Load(); n != 0 {
					t.Errorf("relay runs %d loops on a store without an outbox", n)
				}
				continue
			}
			if l.running.Load() == 0 {
				t.Errorf("%s runs no loop after Start", name)
			}
		}
		waits := map[string]chan struct{}{"sweeper": sig.Swept, "deliverer": sig.Delivered, "retainer": sig.Pruned}
		if hasOutbox {
			waits["relay"] = sig.Relayed
		}
		for name, ch := range waits {
			select {
			case <-ch:
			case <-time.After(testkit.Timeout()):
				t.Fatalf("no pass of the %s within %s", name, testkit.Timeout())
			}
		}

		e.Close()
		closed = true
		for name, l := range loops {
			if n := l.running.Load(); n != 0 {
				t.Errorf("%s still runs %d loops after Close", name, n)
			}
		}
		if _, err := e.Push(context.Background(), "t", []EventInput{{Key: "a:b", Payload: []byte(`{}`)}}, false); !errors.Is(err, ErrClosed) {
			t.Errorf("Push after Close = %v, want ErrClosed", err)
		}
		if ok, isClosed := e.dispatch.batch.submit(finishReq{done: make(chan finishResp, 1)}); ok || !isClosed {
			t.Errorf("a step result submitted after Close: accepted %v, closed %v; want refused as closed", ok, isClosed)
		}
	})
}

// TestCloseRefusesWorkWhileDutiesFinish: from the moment Close begins, a push gets
// ErrClosed, a poll claims nothing and a parked poll returns empty, even while a duty is
// still finishing its pass (here a delayed event's delivery, held in beforeDelivery). A
// step leased during shutdown would be reported to a closed engine and then wait out its
// lease after the restart instead of being claimed at once. Both stores.
func TestCloseRefusesWorkWhileDutiesFinish(t *testing.T) {
	testStores(t, func(t *testing.T, st store.Store, _ string) {
		e, tenant := deliveryEngine(t, st)
		ctx := context.Background()
		idle := store.WorkflowDef{Name: "idle", Triggers: store.PlainTriggers("idle:*"), Steps: []store.StepDef{{Name: "wait"}}}
		if _, _, err := e.PutWorkflow(ctx, tenant, idle); err != nil {
			t.Fatal(err)
		}
		storeDue(t, st, tenant, "order:delayed")
		entered, release := make(chan struct{}, 1), make(chan struct{})
		e.beforeDelivery = func(string) {
			select {
			case entered <- struct{}{}:
			default:
			}
			<-release
		}
		e.Start()
		released := false
		defer func() {
			if !released {
				close(release)
			}
		}()
		select {
		case <-entered:
		case <-time.After(testkit.Timeout()):
			t.Fatal("the delayed event's delivery did not begin")
		}
		// A step ready before Close, and a poll parked on a workflow with nothing queued.
		if _, err := e.Push(ctx, tenant, []EventInput{{Key: "order:ready", Payload: []byte(`{}`)}}, false); err != nil {
			t.Fatal(err)
		}
		busy, err := e.RegisterWorker(ctx, tenant, "busy", []string{"fulfil"}, 1)
		if err != nil {
			t.Fatal(err)
		}
		waiting, err := e.RegisterWorker(ctx, tenant, "waiting", []string{"idle"}, 1)
		if err != nil {
			t.Fatal(err)
		}
		parked := make(chan error, 1)
		go func() {
			as, err := e.Poll(ctx, tenant, waiting.ID, 1, time.Minute)
			if err == nil && len(as) > 0 {
				err = fmt.Errorf("the parked poll claimed %d steps", len(as))
			}
			parked <- err
		}()
		testkit.Eventually(t, "the poll to park", func() bool {
			e.waiters.mu.Lock()
			defer e.waiters.mu.Unlock()
			return len(e.waiters.tenants[tenant]) > 0
		})

		closed := make(chan struct{})
		go func() { e.Close(); close(closed) }()
		testkit.Eventually(t, "pushes to be refused once Close begins", func() bool {
			_, err := e.Push(ctx, tenant, []EventInput{{Key: "order:late", Payload: []byte(`{}`)}}, false)
			return errors.Is(err, ErrClosed)
		})
		select {
		case <-closed:
			t.Fatal("Close returned while the delivery was held: the test shows nothing")
		default:
		}
		if as, err := e.Poll(ctx, tenant, busy.ID, 1, 0); err != nil || len(as) != 0 {
			t.Errorf("a poll while closing = %d steps, %v; want none", len(as), err)
		}
		select {
		case err := <-parked:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(testkit.Timeout()):
			t.Error("the parked poll did not return when Close began")
		}

		close(release)
		released = true
		select {
		case <-closed:
		case <-time.After(testkit.Timeout()):
			t.Fatal("Close did not return")
		}
	})
}
