package engine

import (
	"context"
	"sync"
)

// batcher implements group commit: callers enqueue requests and wait; one loop drains
// every request waiting at that moment (up to max items) and commits them together, so
// the commit rate, not the request rate, bounds the store's work. There is no timer: while
// one commit runs, the next batch gathers by itself.
type batcher[R interface{ size() int }] struct {
	max    int
	commit func(ctx context.Context, reqs []R)
	in     chan R
	mu     sync.RWMutex
	closed bool
}

func newBatcher[R interface{ size() int }](max int, commit func(ctx context.Context, reqs []R)) *batcher[R] {
	return &batcher[R]{max: max, commit: commit, in: make(chan R, 8192)}
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
		b.commit(context.WithoutCancel(ctx), batch)
	}
}
