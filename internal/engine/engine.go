// Package engine is Herald's core: it validates and ingests events (group commit), matches
// them against an in-memory trigger index, creates runs, dispatches ready steps to workers
// through leases, and runs the periodic duties (lease expiry, retries becoming due).
//
// The engine speaks to storage only through store.Store, so every store behaves the same.
package engine

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
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
//
// It is a few services, each with its own type, state and loops, over one shared base
// (configuration, store, clock, trigger index, payload schemas):
//
//   - ingest (ingest.go): Push, StartRun, Replay — validation, matching, idempotency and
//     group commit;
//   - dispatch (dispatch.go): workers, Poll, Heartbeat, Complete, Fail — leases, wake-ups
//     and batched step results;
//   - the duties, each on a timer of its own and with a test signal: the sweeper (sweep.go:
//     lease expiry, due retries), the retainer (retention.go), the deliverer of delayed
//     events (deliver.go) and the outbox relay (outbox.go);
//   - webhook receiving, in internal/webhook, which reaches ingest through webhook.Ingest.
//
// Engine's own methods are the administration around them (tenants, tokens, workflows,
// filters, schemas, webhooks) and the reads the API serves; the services' methods are
// promoted through it.
type Engine struct {
	*base
	*ingest
	*dispatch
	*sweeper
	*retainer
	*deliverer
	relay    *relay
	receiver *webhook.Receiver
	exprs    *webhook.Exprs
	tokens   *tokenCache

	loops  loopGroup // the engine's own: keeping the trigger index and schemas current
	closed atomic.Bool
}

// New creates an engine on st and loads its trigger index.
func New(ctx context.Context, st store.Store, cfg Config) (*Engine, error) {
	cfg.setDefaults()
	if cfg.CommitLoops <= 0 {
		cfg.CommitLoops = 1
		if pw, ok := st.(store.ParallelWriter); ok {
			cfg.CommitLoops = max(1, pw.WriteParallelism())
		}
	}
	b := &base{cfg: cfg, store: st, log: cfg.Logger, evals: expr.NewEvaluator(cfg.ExprSlots), claimFor: deliveryClaim}
	b.schemas.warm = make(chan struct{}, 1)
	exprs, err := webhook.NewExprs(b.evals)
	if err != nil {
		return nil, err
	}
	dp := newDispatch(b)
	sched := &scheduler{kick: make(chan struct{}, 1)}
	ig := newIngest(b, dp.notify, sched.note)
	e := &Engine{base: b, ingest: ig, dispatch: dp, exprs: exprs, tokens: newTokenCache(cfg.TokenCacheTTL)}
	e.receiver = webhook.NewReceiver(webhook.ReceiverConfig{
		Store: st, Ingest: webhookIngest{ig}, Exprs: exprs, Secrets: cfg.Secrets,
		CacheTTL: cfg.WebhookCacheTTL, DeliveryLog: cfg.WebhookDeliveryLog,
		Now: b.now, NewID: NewID, Logger: cfg.Logger,
	})
	e.sweeper = &sweeper{base: b, dispatch: dp, receiver: e.receiver}
	e.retainer = &retainer{base: b}
	e.deliverer = &deliverer{base: b, ingest: ig, sched: sched}
	e.relay = &relay{base: b, ingest: ig, kick: make(chan struct{}, 1)}
	e.relay.outbox, _ = st.(store.Outbox)
	if err := e.RefreshIndex(ctx, true); err != nil {
		return nil, err
	}
	return e, nil
}

// Config returns the engine's configuration with defaults applied.
func (e *Engine) Config() Config { return e.cfg }

// Store returns the engine's store.
func (e *Engine) Store() store.Store { return e.store }

// Webhooks returns the engine's webhook receiver.
func (e *Engine) Webhooks() *webhook.Receiver { return e.receiver }

// services lists the engine's services in the order they start: each before those that
// feed it. Close stops them in the reverse order.
func (e *Engine) services() []service {
	return []service{e.dispatch, e.ingest, e.sweeper, e.retainer, e.deliverer, e.relay}
}

// Start runs the engine's services and its own loops until Close.
func (e *Engine) Start() {
	for _, s := range e.services() {
		s.start()
	}
	loops := []func(context.Context){e.warmSchemas}
	if l, ok := e.store.(listener); ok {
		// Workflow changes are refreshed by a loop of their own: notifications that arrive
		// during a refresh make one more, not one each (a burst of registrations).
		workflowsKick := make(chan struct{}, 1)
		loops = append(loops, func(ctx context.Context) {
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
		}, func(ctx context.Context) {
			l.Listen(ctx, store.ListenHandlers{
				Work:      func(k store.WorkKey) { e.dispatch.notify(k.TenantID, k.Workflow) },
				Workflows: func() { kick(workflowsKick) },
				Outbox:    func() { kick(e.relay.kick) },
				Reconnected: func() {
					// Notifications sent before LISTEN took effect (at start, or while
					// disconnected) are lost: recheck everything.
					e.log.Info("listening for store notifications")
					e.waiters.wakeAll()
					kick(e.relay.kick)
					_ = e.RefreshIndex(ctx, false)
				},
			})
		})
	}
	e.loops.run(loops...)
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

// Close stops the engine. Ingest and dispatch refuse new work first (a push or a step
// result gets ErrClosed, a poll returns empty); then its own loops stop (index and schema
// refresh, the store's notifications), then its services in the reverse order of their
// start — the duties, ingest (which finishes its queued commits), dispatch (which finishes
// its queued results and wakes every parked poll). It does not close the store.
func (e *Engine) Close() {
	if e.closed.Swap(true) {
		return
	}
	// New work is refused at once — pushes and step results get ErrClosed, polls return
	// empty — while the duties finish their passes and the queues drain.
	e.dispatch.refuse() // first: once a push is refused, so are polls
	e.ingest.refuse()
	e.loops.halt()
	svcs := e.services()
	for i := len(svcs) - 1; i >= 0; i-- {
		svcs[i].stop()
	}
}

// NewID returns a new time-ordered id (UUIDv7).
func NewID() string {
	return uuid.Must(uuid.NewV7()).String()
}

// IsRetryable reports whether err means "try again later" (overload, store outage).
func IsRetryable(err error) bool {
	return errors.Is(err, ErrOverloaded) || errors.Is(err, store.ErrUnavailable) || errors.Is(err, ErrClosed)
}
