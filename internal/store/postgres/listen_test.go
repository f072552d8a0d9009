package postgres_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/testkit"
)

// TestListenerCutAloneKeepsThePool: when only the listening connection is cut (its backend
// terminated, as an idle timeout or an operator would) while the server stays up, the
// listener reconnects and the pool keeps its idle connections: they are reset only when
// the server itself is gone (TestPostgresRestartLosesNoAcknowledgedEvent in
// internal/server shows that case).
func TestListenerCutAloneKeepsThePool(t *testing.T) {
	t.Parallel()
	s := open(t, pgtest.NewDatabase(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pool := s.Pool()

	// Four idle connections in the pool.
	conns := make([]interface{ Release() }, 0, 4)
	for range 4 {
		c, err := pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.Release()
	}

	var listening atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Listen(ctx, store.ListenHandlers{
			Work: func(store.WorkKey) {}, Workflows: func() {}, Outbox: func() {},
			Reconnected: func() { listening.Add(1) },
		})
	}()
	testkit.Eventually(t, "the store to listen", func() bool { return listening.Load() == 1 })
	idle := pool.Stat().IdleConns()
	if idle < 2 {
		t.Fatalf("%d idle connections while listening; want at least 2", idle)
	}
	var ended int
	if err := pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN %'`).Scan(&ended); err != nil || ended != 1 {
		t.Fatalf("terminating the listening backend: %d ended, %v", ended, err)
	}
	testkit.Eventually(t, "the store to listen again", func() bool { return listening.Load() == 2 })
	// The listener took one idle connection for its new LISTEN; the others were kept.
	if now := pool.Stat().IdleConns(); now < idle-1 {
		t.Errorf("the pool went from %d to %d idle connections when only the listener was cut", idle, now)
	}
	cancel()
	<-done
}
