package engine

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/internal/expr"
	"github.com/heraldhq/herald/internal/store"
)

// base is what every service of the engine reads: the configuration, the store, the log
// and the clock (signals.go), the trigger index (index.go), the compiled payload schemas
// (schemas.go) and the evaluator that runs every expression (expr.go).
type base struct {
	cfg   Config
	store store.Store
	log   *slog.Logger

	index     atomic.Pointer[triggerIndex]
	indexMu   sync.Mutex // serializes index rebuilds
	indexMark string
	indexSeq  rebuildSeq // coalesces concurrent forced rebuilds (index.go)

	schemas schemaCache // compiled payload schemas (schemas.go)

	evals *expr.Evaluator // runs every CEL evaluation (Config.ExprSlots at once)

	// claimFor is how long a claim on delayed events or outbox entries lasts
	// (deliveryClaim; tests that restart a process shorten it).
	claimFor time.Duration
}

// A service is one part of the engine with goroutines of its own. Engine.Start starts
// each; Engine.Close stops them in the reverse order.
type service interface {
	start()
	stop()
}

// loopGroup runs a service's goroutines on a context of their own.
type loopGroup struct {
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	running atomic.Int32 // loops that have not returned
}

// run starts each loop on a new context.
func (l *loopGroup) run(loops ...func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	for _, f := range loops {
		l.wg.Add(1)
		l.running.Add(1)
		go func() {
			defer l.wg.Done()
			defer l.running.Add(-1)
			f(ctx)
		}()
	}
}

// halt cancels the loops' context and waits for them to return.
func (l *loopGroup) halt() {
	if l.cancel != nil {
		l.cancel()
	}
	l.wg.Wait()
}
