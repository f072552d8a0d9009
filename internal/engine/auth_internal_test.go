package engine

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/testkit"
)

// hangingTokenReads is a real store whose token reads, while hang is set, wait until their
// context ends, as a read does on a connection to a database that stopped answering.
type hangingTokenReads struct {
	store.Store
	hang atomic.Bool
}

func (s *hangingTokenReads) TokenGetByHash(ctx context.Context, hash []byte) (store.Token, error) {
	if s.hang.Load() {
		<-ctx.Done()
		return store.Token{}, ctx.Err()
	}
	return s.Store.TokenGetByHash(ctx, hash)
}

// TestHangingTokenReadIsBounded: a token read runs on behalf of every request waiting for
// it, so no request's context cancels it. It must end by itself all the same: otherwise a
// database that stops answering would leave every later request for that token waiting on
// one read for as long as the connection takes to fail. Once it has failed, the next
// request reads again.
func TestHangingTokenReadIsBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := &hangingTokenReads{Store: openSQLite(t)}
	e, err := New(ctx, st, Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	secret, err := e.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.tokens.readFor = 200 * time.Millisecond
	st.hang.Store(true)
	// The caller's own context never ends: only the bound can end the read.
	done := make(chan error, 1)
	go func() { _, err := e.Authenticate(ctx, secret); done <- err }()
	if err := testkit.Receive(t, "the hanging token read to end", done); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a hanging read answered %v, want it to end at its bound", err)
	}
	st.hang.Store(false)
	if p, err := e.Authenticate(ctx, secret); err != nil || p.TenantID == "" {
		t.Fatalf("the next request after the failed read: %+v, %v", p, err)
	}
}
