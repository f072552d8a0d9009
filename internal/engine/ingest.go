package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/heraldhq/herald/internal/store"
)

// EventInput is an event as pushed by a producer, and how it came in (Origin).
type EventInput struct {
	// ID, when set, is the event's id (outbox entries and delayed events carry theirs);
	// else a new one.
	ID       string
	Key      string
	Payload  json.RawMessage
	Metadata json.RawMessage
	// IdempotencyKey, when set, makes the push idempotent: within the engine's
	// IdempotencyWindow a second push with the same key (same tenant) stores and triggers
	// nothing and returns the first event and its runs, marked Duplicate.
	IdempotencyKey string
	// Scope routes the event to the runtime filters of that scope (docs/triggers.md); a
	// webhook's scope expression gives it for webhook deliveries.
	Scope string
	// DeliverAt, when after the push's time, delays the event: it is stored at once as
	// scheduled and triggers when due (delayed.go, deliver.go). Zero or past means now.
	DeliverAt time.Time
	// Origin is how the event came in; the zero Origin is a producer's push.
	Origin Origin
}

// RunRef names a run an event (or a manual start) created.
type RunRef = store.RunRef

// PushResult is one event as committed, with the runs it started.
type PushResult struct {
	Event store.Event
	Runs  []RunRef
	// Duplicate means the push repeated an idempotency key: Event and Runs are the
	// original's, and nothing new was stored or triggered.
	Duplicate bool
	// Scheduled, when set, means the event is delayed and not delivered yet (or was
	// cancelled, or failed at delivery): Event is what it will be, Runs is empty.
	Scheduled *store.ScheduledEvent
}

// MaxIdempotencyKeyLen is the longest idempotency key, in bytes.
const MaxIdempotencyKeyLen = 255

// validateIdempotencyKey checks an idempotency key: 1–255 bytes of UTF-8 without control
// characters ("" means none). An Idempotency-Key header may carry any byte above 0x7f;
// PostgreSQL's text refuses what is not UTF-8.
func validateIdempotencyKey(field, key string) error {
	if len(key) > MaxIdempotencyKeyLen {
		return fieldErr(field, "is %d bytes long; the limit is %d", len(key), MaxIdempotencyKeyLen)
	}
	if !utf8.ValidString(key) {
		return fieldErr(field, "is not valid UTF-8")
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] == 0x7f {
			return fieldErr(field, "contains a control character at byte %d", i)
		}
	}
	return nil
}

// duplicateResult answers a repeated idempotency key with the original event and the runs
// it started.
func duplicateResult(ev store.Event) PushResult {
	return PushResult{Event: ev, Runs: ev.Runs(), Duplicate: true}
}

// MaxBulk is the most events one bulk push may carry.
const MaxBulk = 1000

// ingest is the engine's way in. It validates pushes, matches each event against the
// trigger index and commits it with its runs through group commit (Push, StartRun,
// Replay); it pushes again items stored earlier (delayed events, outbox entries:
// delivery.go); and it tells dispatch which queues got ready work and the deliverer
// which delayed events were stored.
type ingest struct {
	*base
	batch  *batcher[ingestReq]
	queued atomic.Int64 // payload bytes waiting for ingest
	closed atomic.Bool
	loops  loopGroup

	// ready is told of each queue a commit gave ready steps (dispatch wakes its workers).
	ready func(tenantID, workflow string)
	// delayed is told when each delayed event a commit stored is due (the deliverer wakes
	// for it).
	delayed func(at time.Time)
	// beforeDelivery, when set, is called with the key of each delayed event and outbox
	// entry just before it is pushed. Only tests set it, before Start: they make it panic
	// or end the process to show that such an item is contained (delivery.go).
	beforeDelivery func(key string)
}

func newIngest(b *base, ready func(tenantID, workflow string), delayed func(at time.Time)) *ingest {
	ig := &ingest{base: b, ready: ready, delayed: delayed}
	ig.batch = newBatcher(b.cfg.MaxBatchEvents, ig.commitIngest)
	return ig
}

// start runs the group-commit loops.
func (ig *ingest) start() {
	ig.loops.run(ig.batch.loops(ig.cfg.CommitLoops)...)
}

// refuse makes every push from now on fail with ErrClosed; what was queued still commits.
func (ig *ingest) refuse() {
	ig.closed.Store(true)
	ig.batch.close()
}

// stop refuses new work and waits for the commit loops to drain what was queued.
func (ig *ingest) stop() {
	ig.refuse()
	ig.loops.halt()
}

// ingestReq is one caller's request to the group-commit loop: all its items commit in the
// same transaction.
type ingestReq struct {
	items []store.IngestItem
	bytes int64
	done  chan error
}

func (r ingestReq) size() int { return len(r.items) }

// Push validates events, matches them against active workflows and commits each event
// with its runs and their ready steps in one transaction shared by the whole call. It
// returns only after that commit. field names are relative to the call: a single event's
// errors name "key", a bulk call's name "events[i].key".
//
// Events with an idempotency key whose key is live (see Config.IdempotencyWindow) are
// answered with the original, marked Duplicate; an event repeating the key of an earlier
// event of the same call is a duplicate of that one. When a concurrent push claims a key
// first, the commit conflicts and the call is evaluated again, finding the winner.
func (ig *ingest) Push(ctx context.Context, tenantID string, evs []EventInput, bulk bool) ([]PushResult, error) {
	for attempt := 0; ; attempt++ {
		res, err := ig.push(ctx, tenantID, evs, bulk)
		if errors.Is(err, store.ErrConflict) && attempt < 3 && hasIdempotencyKey(evs) {
			continue
		}
		return res, err
	}
}

func hasIdempotencyKey(evs []EventInput) bool {
	for _, in := range evs {
		if in.IdempotencyKey != "" {
			return true
		}
	}
	return false
}

func (ig *ingest) push(ctx context.Context, tenantID string, evs []EventInput, bulk bool) ([]PushResult, error) {
	if len(evs) == 0 {
		return nil, fieldErr("events", "at least one event is required")
	}
	if len(evs) > MaxBulk {
		return nil, fieldErr("events", "at most %d events per bulk push, got %d", MaxBulk, len(evs))
	}
	ix := ig.index.Load()
	at := ig.now()
	request := ig.requestBudget(evs)
	items := make([]store.IngestItem, 0, len(evs))
	results := make([]PushResult, len(evs))
	var size int64
	var firstWithKey map[string]int // idempotency key -> index of its first event in this call
	var dupOf map[int]int           // index -> index of the earlier event it repeats
	for i, in := range evs {
		prefix := ""
		if bulk {
			prefix = fmt.Sprintf("events[%d].", i)
		}
		if err := ValidateKey(prefix+"key", in.Key); err != nil {
			return nil, err
		}
		if in.ID != "" && !store.ValidID(in.ID) {
			// An outbox row's id becomes the event id, and ids are UUIDs in every store.
			return nil, &FieldError{Field: prefix + "id", Message: "must be a UUID in lowercase hyphenated form"}
		}
		payload, err := jsonObject(prefix+"payload", in.Payload)
		if err != nil {
			return nil, err
		}
		if err := ig.checkPayload(ctx, tenantID, prefix+"payload", in.Key, payload); err != nil {
			return nil, err
		}
		meta, err := metadataObject(prefix+"additional_metadata", in.Metadata)
		if err != nil {
			return nil, err
		}
		if err := validateIdempotencyKey(prefix+"idempotency_key", in.IdempotencyKey); err != nil {
			return nil, err
		}
		if err := checkDeliverAt(prefix+"deliver_at", in.DeliverAt, at); err != nil {
			return nil, err
		}
		if err := ValidateScope(prefix+"scope", in.Scope); err != nil {
			return nil, err
		}
		id := in.ID
		if id == "" {
			id = NewID()
		}
		ev := &store.Event{
			ID: id, TenantID: tenantID, Key: in.Key, Payload: payload, Metadata: meta,
			Source: store.SourceAPI, CreatedAt: at, Triggers: []store.TriggerDecision{}, Scope: in.Scope,
		}
		item := store.IngestItem{Event: ev}
		if err := in.Origin.apply(ctx, ig.store, tenantID, prefix, &item); err != nil {
			return nil, err
		}
		// Repeats are answered after every check, so that bad input is refused even then.
		if k := in.IdempotencyKey; k != "" {
			if j, ok := firstWithKey[k]; ok {
				if dupOf == nil {
					dupOf = map[int]int{}
				}
				dupOf[i] = j
				continue
			}
			if firstWithKey == nil {
				firstWithKey = map[string]int{}
			}
			firstWithKey[k] = i
			if res, ok, err := ig.idempotentOriginal(ctx, tenantID, k, at); err != nil {
				return nil, err
			} else if ok {
				results[i] = res
				continue
			}
		}
		if in.IdempotencyKey != "" {
			item.IdempotencyKey, item.IdempotencyExpiresAt = in.IdempotencyKey, at.Add(ig.cfg.IdempotencyWindow)
		}
		if res, ok := ig.delayItem(&item, in, at); ok {
			items = append(items, item)
			results[i] = res
			size += int64(len(payload) + len(meta) + 512)
			continue
		}
		runs, refs, err := ig.matchEvent(ctx, ix, ev, at, request)
		if err != nil {
			// The request ended while its expressions ran: they stopped, and nothing is
			// stored (a stored item's claim is given back, see abandoned).
			return nil, fmt.Errorf("matching event %d: %w", i, err)
		}
		item.Runs = runs
		items = append(items, item)
		results[i] = PushResult{Event: *ev, Runs: refs}
		size += int64(len(payload) + len(meta) + 512)
	}
	if len(items) > 0 {
		if err := ig.commit(ctx, items, size); err != nil {
			return nil, err
		}
	}
	for i, j := range dupOf {
		results[i] = results[j]
		results[i].Duplicate = true
	}
	return results, nil
}

// StartRun starts a run of a workflow (any version's current definition, active or not)
// without an event: the manual and debug run.
func (ig *ingest) StartRun(ctx context.Context, tenantID, workflow string, input json.RawMessage) (RunRef, error) {
	payload, err := jsonObject("input", input)
	if err != nil {
		return RunRef{}, err
	}
	wf, err := ig.store.WorkflowGet(ctx, store.WorkflowGetParams{TenantID: tenantID, Name: workflow})
	if err != nil {
		return RunRef{}, err
	}
	run := newRun(&wf, "", payload, ig.now())
	if err := ig.commit(ctx, []store.IngestItem{{Runs: []store.IngestRun{run}}}, int64(len(payload)+512)); err != nil {
		return RunRef{}, err
	}
	return RunRef{Workflow: wf.Name, Version: wf.Version, RunID: run.Run.ID}, nil
}

// newRun materializes a run of wf with all its step-runs; steps without parents are
// queued at once.
func newRun(wf *store.Workflow, eventID string, input json.RawMessage, at time.Time) store.IngestRun {
	r := store.IngestRun{Run: store.Run{
		ID: NewID(), TenantID: wf.TenantID, WorkflowID: wf.ID, WorkflowName: wf.Name, Version: wf.Version,
		EventID: eventID, Status: store.RunQueued, Input: input, CreatedAt: at,
	}}
	r.Steps = make([]store.StepRun, len(wf.Def.Steps))
	for i, sd := range wf.Def.Steps {
		st := store.StepRun{
			ID: NewID(), TenantID: wf.TenantID, RunID: r.Run.ID, WorkflowName: wf.Name, Step: sd.Name, Position: i,
			Parents: sd.Parents, PendingParents: len(sd.Parents), Status: store.StepPending,
			MaxAttempts: sd.Retry.MaxAttempts, TimeoutMS: sd.TimeoutMS, Retry: sd.Retry,
		}
		if len(sd.Parents) == 0 {
			st.Status = store.StepQueued
			t := at
			st.QueuedAt = &t
		}
		r.Steps[i] = st
	}
	return r
}

// commit hands items to the group-commit loop and waits for their transaction.
func (ig *ingest) commit(ctx context.Context, items []store.IngestItem, size int64) error {
	if ig.closed.Load() {
		return ErrClosed
	}
	if ig.queued.Add(size) > ig.cfg.MaxQueuedBytes {
		ig.queued.Add(-size)
		return ErrOverloaded
	}
	req := ingestReq{items: items, bytes: size, done: make(chan error, 1)}
	ok, closed := ig.batch.submit(req)
	if !ok {
		ig.queued.Add(-size)
		if closed {
			return ErrClosed
		}
		return ErrOverloaded
	}
	// Once queued, the request will be committed or fail; wait for the outcome even if the
	// caller goes away, so that an acknowledgement is never ambiguous to us.
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// commitIngest is the group-commit step: one transaction for every waiting request. If
// that fails, requests may be retried one by one (see retryAlone) so that one bad request
// cannot fail its neighbours.
func (ig *ingest) commitIngest(ctx context.Context, reqs []ingestReq) {
	var all []store.IngestItem
	for _, r := range reqs {
		all = append(all, r.items...)
	}
	err := ig.storeIngest(ctx, all)
	if retryAlone(err, len(reqs)) {
		for _, r := range reqs {
			ig.finishIngest(r, ig.storeIngest(ctx, r.items))
		}
		return
	}
	for _, r := range reqs {
		ig.finishIngest(r, err)
	}
}

// retryAlone reports whether a group commit of n requests that failed with err is
// retried request by request: it held more than one, and the store is not unavailable (a
// request of the batch, not the store, may be at fault).
func retryAlone(err error, n int) bool {
	return err != nil && n > 1 && !errors.Is(err, store.ErrUnavailable)
}

func (ig *ingest) finishIngest(r ingestReq, err error) {
	ig.queued.Add(-r.bytes)
	if errors.Is(err, store.ErrConflict) {
		// An expected race: a replayed webhook delivery or outbox entry that another
		// request committed first; the caller answers with the original.
		ig.log.Debug("ingest commit conflicted", "events", len(r.items), "err", err)
	} else if err != nil {
		ig.log.Warn("ingest commit failed", "events", len(r.items), "err", err)
	} else {
		ig.observeIngest(r.items)
		for _, it := range r.items {
			if !it.DeliverAt.IsZero() {
				ig.delayed(it.DeliverAt)
			}
			for _, run := range it.Runs {
				for _, st := range run.Steps {
					if st.Status == store.StepQueued {
						ig.ready(st.TenantID, st.WorkflowName)
					}
				}
			}
		}
	}
	r.done <- err
}

// storeIngest runs one ingest transaction and observes its latency.
func (ig *ingest) storeIngest(ctx context.Context, items []store.IngestItem) error {
	start := time.Now()
	err := ig.store.EventInsert(ctx, items)
	ig.cfg.Observer.StoreCommit("ingest", time.Since(start), err)
	return err
}
