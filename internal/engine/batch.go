package engine

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// holdMax bounds how long a small batch waits for the commits in flight (the default of
// batcher.holdMax).
const holdMax = 100 * time.Millisecond

// batcher implements group commit: callers enqueue requests and wait; a loop drains every
// request waiting at that moment (up to max items) and commits them together, so the
// commit rate, not the request rate, bounds the store's work. There is no timer: while one
// commit runs, the next batch gathers by itself.
//
// Several loops may run (run is called once per loop). A batch of at least parallelMin
// items commits at once, alongside others: large batches are bound by the store's work per
// row, which parallel transactions spread over cores. A smaller batch waits, still
// gathering requests, until no other commit is in flight: small batches are bound by the
// cost of each commit, and committing them side by side would only make more, smaller
// commits. It waits holdMax at most, so that a commit stuck on a lock does not hold the
// others.
type batcher[R interface{ size() int }] struct {
	max         int
	parallelMin int
	holdMax     time.Duration
	commit      func(ctx context.Context, reqs []R)
	in          chan R
	// inflight counts the commits running; idle gets a token whenever one ends.
	inflight atomic.Int32
	idle     chan struct{}
	mu       sync.RWMutex
	closed   bool
}

func newBatcher[R interface{ size() int }](maxItems int, commit func(ctx context.Context, reqs []R)) *batcher[R] {
	return &batcher[R]{max: maxItems, parallelMin: max(1, maxItems/4), holdMax: holdMax, commit: commit,
		in: make(chan R, 8192), idle: make(chan struct{}, 1)}
}

// loops returns n commit loops (run) for a service's loopGroup.
func (b *batcher[R]) loops(n int) []func(ctx context.Context) {
	loops := make([]func(context.Context), n)
	for i := range loops {
		loops[i] = b.run
	}
	return loops
}

// submit enqueues r; false when the queue is full or closed.
func (b *batcher[R]) submit(r R) (ok, closed bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return false, true
	}
	select {
	case b.in <- r:
		return true, false
	default:
		return false, false
	}
}

// close stops accepting requests; run drains what was queued and returns.
func (b *batcher[R]) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		b.closed = true
		close(b.in)
	}
}

// run is one commit loop; it returns when the batcher is closed and drained.
func (b *batcher[R]) run(ctx context.Context) {
	var batch []R
	for {
		r, ok := <-b.in
		if !ok {
			return
		}
		batch = append(batch[:0], r)
		n := r.size()
	drain:
		for n < b.max {
			select {
			case r, ok := <-b.in:
				if !ok {
					break drain
				}
				batch = append(batch, r)
				n += r.size()
			default:
				break drain
			}
		}
		// A small batch waits for the other loops' commits, taking in what arrives
		// meanwhile. A stale idle token only makes the condition be checked again.
		if n < b.parallelMin && b.inflight.Load() > 0 {
			hold := time.NewTimer(b.holdMax)
		wait:
			for n < b.parallelMin && b.inflight.Load() > 0 {
				select {
				case r, ok := <-b.in:
					if !ok {
						break wait
					}
					batch = append(batch, r)
					n += r.size()
				case <-b.idle:
				case <-hold.C:
					break wait
				}
			}
			hold.Stop()
		}
		b.inflight.Add(1)
		b.commit(context.WithoutCancel(ctx), batch)
		b.inflight.Add(-1)
		select {
		case b.idle <- struct{}{}:
		default:
		}
	}
}
