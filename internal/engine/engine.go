// Package engine is Herald's core: it validates and ingests events (group commit), matches
// them against an in-memory trigger index, creates runs, dispatches ready steps to workers
// through leases, and runs the periodic duties (lease expiry, retries becoming due).
//
// The engine speaks to storage only through store.Store, so every store behaves the same.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/heraldhq/herald/internal/expr"
	"github.com/heraldhq/herald/internal/secrets"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/webhook"
)

// Config tunes the engine. Every field has a default.
type Config struct {
	// LeaseDuration is how long a step-run's lease lasts without a heartbeat. Default 30s.
	LeaseDuration time.Duration
	// SweepInterval is how often lease expiry and due retries are checked. Default 1s.
	SweepInterval time.Duration
	// MaxBatchEvents caps the events committed in one ingest transaction. Default 2000.
	MaxBatchEvents int
	// CommitLoops is how many group commits of each kind (ingest, step completions) run at
	// once, each draining its own batch from the shared queue. Default: the store's
	// store.ParallelWriter hint (PostgreSQL runs transactions in parallel), else 1.
	CommitLoops int
	// MaxQueuedBytes bounds the payload bytes waiting for ingest; past it pushes get
	// ErrOverloaded. Default 256 MiB.
	MaxQueuedBytes int64
	// TokenCacheTTL is how long a verified token is trusted before it is looked up again
	// (revocations on this replica take effect at once). Default 5s.
	TokenCacheTTL time.Duration
	// Secrets encrypts webhook secrets at rest under the master key. Without it webhooks
	// can be neither created nor received. Default none.
	Secrets *secrets.Box
	// WebhookDeliveryLog is how many delivery records each webhook keeps (the newest);
	// the sweeper prunes the rest each interval. Default 10,000.
	WebhookDeliveryLog int
	// WebhookCacheTTL is how long a webhook (and its opened secret) is reused by
	// deliveries before it is read again; changes through this replica take effect at
	// once, through another one within this time. Default 5s.
	WebhookCacheTTL time.Duration
	// Logger receives the engine's logs. Default slog.Default().
	Logger *slog.Logger
	// Observer receives the engine's measurements (metrics). Default: none.
	Observer Observer
	// Retention is how long events, ended runs and webhook deliveries are kept; older
	// ones are pruned in the background. Zero keeps everything.
	Retention time.Duration
	// RetentionInterval is how often the pruning duty runs. Default 1m.
	RetentionInterval time.Duration
	// RetentionBatch is how many rows of each kind one pruning transaction deletes.
	// Default 500.
	RetentionBatch int
	// IdempotencyWindow is how long a push's idempotency key is remembered: a repeat
	// within it returns the original event. Default 24h.
	IdempotencyWindow time.Duration
	// MaxEventSchemas bounds the payload schemas of a tenant, since every replica keeps
	// every schema compiled in memory. Default 1000.
	MaxEventSchemas int
	// Clock tells the time of the world (default: the wall clock). Tests set one they move
	// by hand.
	Clock Clock
	// Signals, when set, receives a signal after each pass of a background duty and each
	// parked poll. Tests only.
	Signals *Signals
	// ExprSlots is how many CEL evaluations (trigger, filter and webhook expressions) run
	// at once in the process; more wait for a slot, or for their request to end. Each may
	// hold up to expr.MaxEvalBytes, so their memory together stays below ExprSlots times
	// that. Default runtime.GOMAXPROCS(0) (evaluations are work for a CPU).
	ExprSlots int
	// RequestExprBudget is the CEL cost that the expressions of all the events of one
	// request may spend together (each event has expr.EventBudget within it). Default
	// expr.RequestBudget.
	RequestExprBudget uint64
}

func (c *Config) setDefaults() {
	if c.LeaseDuration <= 0 {
		c.LeaseDuration = 30 * time.Second
	}
	if c.SweepInterval <= 0 {
		c.SweepInterval = time.Second
	}
	if c.MaxBatchEvents <= 0 {
		c.MaxBatchEvents = 2000
	}
	if c.MaxEventSchemas <= 0 {
		c.MaxEventSchemas = 1000
	}
	if c.MaxQueuedBytes <= 0 {
		c.MaxQueuedBytes = 256 << 20
	}
	if c.TokenCacheTTL <= 0 {
		c.TokenCacheTTL = 5 * time.Second
	}
	if c.WebhookDeliveryLog <= 0 {
		c.WebhookDeliveryLog = DefaultWebhookDeliveryLog
	}
	if c.WebhookCacheTTL <= 0 {
		c.WebhookCacheTTL = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Observer == nil {
		c.Observer = nopObserver{}
	}
	if c.RetentionInterval <= 0 {
		c.RetentionInterval = time.Minute
	}
	if c.RetentionBatch <= 0 {
		c.RetentionBatch = 500
	}
	if c.IdempotencyWindow <= 0 {
		c.IdempotencyWindow = 24 * time.Hour
	}
	if c.Clock == nil {
		c.Clock = wallClock{}
	}
	if c.RequestExprBudget == 0 {
		c.RequestExprBudget = expr.RequestBudget
	}
	if c.ExprSlots <= 0 {
		c.ExprSlots = runtime.GOMAXPROCS(0)
	}
}

// Engine is Herald's core. Create it with New, start its loops with Start.
type Engine struct {
	cfg   Config
	store store.Store
	log   *slog.Logger

	index     atomic.Pointer[triggerIndex]
	indexMu   sync.Mutex // serializes index rebuilds
	indexMark string
	indexSeq  rebuildSeq // coalesces concurrent forced rebuilds (index.go)

	schemas schemaCache // compiled payload schemas (schemas.go)

	ingest *batcher[ingestReq]
	finish *batcher[finishReq]
	queued atomic.Int64 // payload bytes waiting for ingest

	waiters *notifier
	tokens  *tokenCache
	workers sync.Map // worker id -> store.Worker

	evals             *expr.Evaluator // runs every CEL evaluation (Config.ExprSlots at once)
	exprs             *webhook.Exprs
	webhooks          *webhookCache
	deliveriesMu      sync.Mutex
	deliveriesTouched map[deliveryLogKey]struct{} // webhooks whose log grew since the last prune
	pruneMu           sync.Mutex                  // serializes PruneDeliveryLogs

	sched     *scheduler // wakes the delivery of delayed events (scheduled.go)
	schedOnce sync.Once

	// claimFor is how long a claim on delayed events or outbox entries lasts
	// (deliveryClaim; tests that restart a process shorten it).
	claimFor time.Duration
	// beforeDelivery, when set, is called with the key of each delayed event and outbox
	// entry just before it is pushed. Only tests set it, before Start: they make it panic
	// or end the process to show that such an item is contained (delivery.go).
	beforeDelivery func(key string)

	closed   atomic.Bool
	stop     context.CancelFunc
	loops    sync.WaitGroup
	timersMu sync.Mutex
	timers   map[*time.Timer]struct{}
}

// New creates an engine on st and loads its trigger index.
func New(ctx context.Context, st store.Store, cfg Config) (*Engine, error) {
	cfg.setDefaults()
	evals := expr.NewEvaluator(cfg.ExprSlots)
	exprs, err := webhook.NewExprs(evals)
	if err != nil {
		return nil, err
	}
	e := &Engine{
		cfg:               cfg,
		store:             st,
		log:               cfg.Logger,
		waiters:           newNotifier(),
		tokens:            newTokenCache(cfg.TokenCacheTTL),
		timers:            map[*time.Timer]struct{}{},
		evals:             evals,
		exprs:             exprs,
		webhooks:          &webhookCache{ttl: cfg.WebhookCacheTTL, m: map[webhookKey]cachedWebhook{}},
		deliveriesTouched: map[deliveryLogKey]struct{}{},
		claimFor:          deliveryClaim,
	}
	if e.cfg.CommitLoops <= 0 {
		e.cfg.CommitLoops = 1
		if pw, ok := st.(store.ParallelWriter); ok {
			e.cfg.CommitLoops = max(1, pw.WriteParallelism())
		}
	}
	e.schemas.warm = make(chan struct{}, 1)
	e.ingest = newBatcher(cfg.MaxBatchEvents, e.commitIngest)
	e.finish = newBatcher(500, e.commitFinish)
	if err := e.RefreshIndex(ctx, true); err != nil {
		return nil, err
	}
	return e, nil
}

// Config returns the engine's configuration with defaults applied.
func (e *Engine) Config() Config { return e.cfg }

// Store returns the engine's store.
func (e *Engine) Store() store.Store { return e.store }

// Start runs the engine's loops (group commit, sweeper) until Close.
func (e *Engine) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	e.stop = cancel
	for range e.cfg.CommitLoops {
		e.loops.Add(2)
		go func() { defer e.loops.Done(); e.ingest.run(ctx) }()
		go func() { defer e.loops.Done(); e.finish.run(ctx) }()
	}
	e.loops.Add(1)
	go func() { defer e.loops.Done(); e.sweep(ctx) }()
	e.loops.Add(1)
	go func() { defer e.loops.Done(); e.dispatchScheduled(ctx) }()
	e.loops.Add(1)
	go func() { defer e.loops.Done(); e.warmSchemas(ctx) }()
	if e.cfg.Retention > 0 {
		e.loops.Add(1)
		go func() { defer e.loops.Done(); e.retain(ctx) }()
	}
	outboxKick := make(chan struct{}, 1)
	if l, ok := e.store.(listener); ok {
		// Workflow changes are refreshed by a loop of their own: notifications that arrive
		// during a refresh make one more, not one each (a burst of registrations).
		workflowsKick := make(chan struct{}, 1)
		e.loops.Add(1)
		go func() {
			defer e.loops.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case <-workflowsKick:
				}
				if err := e.RefreshIndex(ctx, false); err != nil && ctx.Err() == nil {
					e.log.Warn("refreshing trigger index", "err", err)
				}
			}
		}()
		e.loops.Add(1)
		go func() {
			defer e.loops.Done()
			l.Listen(ctx, store.ListenHandlers{
				Work:      func(k store.WorkKey) { e.waiters.notify(k.TenantID, k.Workflow) },
				Workflows: func() { kick(workflowsKick) },
				Outbox:    func() { kick(outboxKick) },
				Reconnected: func() {
					// Notifications sent before LISTEN took effect (at start, or while
					// disconnected) are lost: recheck everything.
					e.log.Info("listening for store notifications")
					e.waiters.wakeAll()
					kick(outboxKick)
					_ = e.RefreshIndex(ctx, false)
				},
			})
		}()
	}
	if ob, ok := e.store.(store.Outbox); ok {
		e.loops.Add(1)
		go func() { defer e.loops.Done(); e.relayOutbox(ctx, ob, outboxKick) }()
	}
}

// kick signals ch without blocking; one pending signal is enough.
func kick(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// listener is implemented by stores shared by several replicas: it delivers, from every
// replica, queues that got ready work, workflow changes and outbox entries.
type listener interface {
	Listen(ctx context.Context, h store.ListenHandlers)
}

// Close stops accepting work, finishes queued commits and stops the loops. It does not
// close the store.
func (e *Engine) Close() {
	if e.closed.Swap(true) {
		return
	}
	e.ingest.close()
	e.finish.close()
	if e.stop != nil {
		e.stop()
	}
	e.loops.Wait()
	e.timersMu.Lock()
	for t := range e.timers {
		t.Stop()
	}
	e.timersMu.Unlock()
	e.waiters.wakeAll()
}

// NewID returns a new time-ordered id (UUIDv7).
func NewID() string {
	return uuid.Must(uuid.NewV7()).String()
}

// sweep runs the periodic duties: expired leases and retries that became due.
func (e *Engine) sweep(ctx context.Context) {
	t := time.NewTicker(e.cfg.SweepInterval)
	defer t.Stop()
	last := e.now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n := e.now()
		if err := e.SweepOnce(ctx, last, n); err != nil && ctx.Err() == nil {
			e.log.Warn("sweep failed", "err", err)
			e.cfg.Signals.swept()
			continue
		}
		last = n
		e.cfg.Signals.swept()
	}
}

// SweepOnce expires leases due at upTo, wakes workers for retries that became due in
// (after, upTo], prunes the delivery logs of webhooks that received deliveries, and
// refreshes the trigger index if workflows changed elsewhere.
func (e *Engine) SweepOnce(ctx context.Context, after, upTo time.Time) error {
	for {
		start := time.Now()
		outs, err := e.store.StepExpireLeases(ctx, upTo, 500)
		e.cfg.Observer.StoreCommit("expire", time.Since(start), err)
		if err != nil {
			return fmt.Errorf("expiring leases: %w", err)
		}
		e.observeRuns(outs, nil)
		for _, o := range outs {
			e.log.Info("lease expired", "step_run_id", o.StepRunID, "run_id", o.RunID, "run_status", o.RunStatus)
		}
		e.wake(outs)
		if len(outs) < 500 {
			break
		}
	}
	keys, err := e.store.StepReadySince(ctx, after.Add(-time.Millisecond), upTo)
	if err != nil {
		return err
	}
	for _, k := range keys {
		e.waiters.notify(k.TenantID, k.Workflow)
	}
	if err := e.PruneDeliveryLogs(ctx); err != nil {
		return err
	}
	return e.RefreshIndex(ctx, false)
}

// wake notifies waiting workers about work that outcomes queued, at once or when due.
func (e *Engine) wake(outs []store.FinishOutcome) {
	n := time.Now()
	for _, o := range outs {
		for _, q := range o.Queued {
			if d := q.AvailableAt.Sub(n); d > 0 {
				e.notifyAt(d, q.WorkKey)
				continue
			}
			e.waiters.notify(q.TenantID, q.Workflow)
		}
	}
}

// notifyAt wakes the workers of k after d (a retry's backoff).
func (e *Engine) notifyAt(d time.Duration, k store.WorkKey) {
	if e.closed.Load() {
		return
	}
	var t *time.Timer
	e.timersMu.Lock()
	t = time.AfterFunc(d, func() {
		e.timersMu.Lock()
		delete(e.timers, t)
		e.timersMu.Unlock()
		e.waiters.notify(k.TenantID, k.Workflow)
	})
	e.timers[t] = struct{}{}
	e.timersMu.Unlock()
}

// IsRetryable reports whether err means "try again later" (overload, store outage).
func IsRetryable(err error) bool {
	return errors.Is(err, ErrOverloaded) || errors.Is(err, store.ErrUnavailable) || errors.Is(err, ErrClosed)
}
