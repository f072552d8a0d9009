package engine_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/engine"
	"github.com/heraldhq/herald/internal/store"
)

// bootstrapped creates an engine on st that is closed with the test, not started, and
// returns it with its admin token.
func bootstrapped(t *testing.T, st store.Store, cfg engine.Config) (*engine.Engine, string) {
	t.Helper()
	eng, err := engine.New(context.Background(), st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	secret, err := eng.Bootstrap(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return eng, secret
}

// tokenReads is a real store that counts its token reads. Once armed, the next read,
// after it has read, signals started and waits until release is closed.
type tokenReads struct {
	store.Store
	n       atomic.Int32
	armed   atomic.Bool
	started chan struct{}
	release chan struct{}
}

func newTokenReads(st store.Store) *tokenReads {
	return &tokenReads{Store: st, started: make(chan struct{}), release: make(chan struct{})}
}

func (s *tokenReads) TokenGetByHash(ctx context.Context, hash []byte) (store.Token, error) {
	tok, err := s.Store.TokenGetByHash(ctx, hash)
	s.n.Add(1)
	if s.armed.CompareAndSwap(true, false) {
		close(s.started)
		<-s.release
	}
	return tok, err
}

// TestConcurrentTokenMissesShareOneRead: requests that find a token missing from the cache
// while a read of it is in flight wait for that read instead of each reading the store
// (under load, an expiring entry used to send every request in flight to the database at
// once, each holding a connection of the pool). Requests that come after it use its answer.
func TestConcurrentTokenMissesShareOneRead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newTokenReads(openStore(t))
	eng, secret := bootstrapped(t, st, engine.Config{})
	st.armed.Store(true)
	const callers = 32
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	auth := func() {
		defer wg.Done()
		p, err := eng.Authenticate(ctx, secret)
		if err == nil && p.TenantID == "" {
			err = errors.New("no tenant")
		}
		errs <- err
	}
	wg.Add(1)
	go auth()
	<-st.started // the first read is in flight
	entered := make(chan struct{}, callers)
	for range callers - 1 {
		wg.Add(1)
		go func() { entered <- struct{}{}; auth() }()
	}
	for range callers - 1 {
		<-entered
	}
	close(st.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := st.n.Load(); n != 1 {
		t.Fatalf("%d callers made %d token reads, want 1", callers, n)
	}
	// A wrong secret is still refused, and costs its own read.
	if _, err := eng.Authenticate(ctx, secret+"x"); !errors.Is(err, engine.ErrUnauthenticated) {
		t.Fatalf("wrong secret: %v", err)
	}
}

// TestRevokedTokenIsNotServedByAnEarlierRead: a read of a token that began before the
// token was revoked through this engine answers only the callers that were already
// waiting; callers after the revocation read again and are refused, and the old answer is
// not cached (it would be trusted for the cache's whole lifetime).
func TestRevokedTokenIsNotServedByAnEarlierRead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newTokenReads(openStore(t))
	eng, admin := bootstrapped(t, st, engine.Config{TokenCacheTTL: time.Hour})
	ap, err := eng.Authenticate(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	tok, secret, err := eng.CreateToken(ctx, ap, engine.TokenInput{Name: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	st.armed.Store(true)
	early := make(chan error, 1)
	go func() { _, err := eng.Authenticate(ctx, secret); early <- err }()
	<-st.started // that read saw the token valid and is held
	if err := eng.RevokeToken(ctx, ap, "", tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Authenticate(ctx, secret); !errors.Is(err, engine.ErrUnauthenticated) {
		t.Fatalf("after revoking, while an earlier read is in flight: %v, want ErrUnauthenticated", err)
	}
	close(st.release)
	if err := <-early; err != nil {
		t.Fatalf("the caller that was waiting before the revocation: %v", err)
	}
	if _, err := eng.Authenticate(ctx, secret); !errors.Is(err, engine.ErrUnauthenticated) {
		t.Fatalf("after the earlier read ended: %v, want ErrUnauthenticated (its answer was cached)", err)
	}
}
