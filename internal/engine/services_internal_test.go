package engine

import (
	"context"
	"errors"
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
