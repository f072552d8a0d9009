package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	// scheduled and triggers when due (scheduled.go). Zero or past means now.
	DeliverAt time.Time
	// Origin is how the event came in; the zero Origin is a producer's push.
	Origin Origin
}

// RunRef names a run an event (or a manual start) created.
type RunRef struct {
	Workflow string `json:"workflow"`
	Version  int    `json:"version"`
	RunID    string `json:"run_id"`
}

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
	refs := []RunRef{}
	for _, t := range ev.Triggers {
		if t.RunID != "" {
			refs = append(refs, RunRef{Workflow: t.Workflow, Version: t.Version, RunID: t.RunID})
		}
	}
	return PushResult{Event: ev, Runs: refs, Duplicate: true}
}

// MaxBulk is the most events one bulk push may carry.
const MaxBulk = 1000

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
func (e *Engine) Push(ctx context.Context, tenantID string, evs []EventInput, bulk bool) ([]PushResult, error) {
	for attempt := 0; ; attempt++ {
		res, err := e.push(ctx, tenantID, evs, bulk)
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

func (e *Engine) push(ctx context.Context, tenantID string, evs []EventInput, bulk bool) ([]PushResult, error) {
	if len(evs) == 0 {
		return nil, fieldErr("events", "at least one event is required")
	}
	if len(evs) > MaxBulk {
		return nil, fieldErr("events", "at most %d events per bulk push, got %d", MaxBulk, len(evs))
	}
	ix := e.index.Load()
	at := e.now()
	request := e.requestBudget(evs)
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
		if err := e.checkPayload(ctx, tenantID, prefix+"payload", in.Key, payload); err != nil {
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
		if err := in.Origin.apply(ctx, e.store, tenantID, prefix, &item); err != nil {
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
			if res, ok, err := e.idempotentOriginal(ctx, tenantID, k, at); err != nil {
				return nil, err
			} else if ok {
				results[i] = res
				continue
			}
		}
		if in.IdempotencyKey != "" {
			item.IdempotencyKey, item.IdempotencyExpiresAt = in.IdempotencyKey, at.Add(e.cfg.IdempotencyWindow)
		}
		if res, ok := e.delayItem(&item, in, at); ok {
			items = append(items, item)
			results[i] = res
			size += int64(len(payload) + len(meta) + 512)
			continue
		}
		runs, refs, err := e.matchEvent(ctx, ix, ev, at, request)
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
		if err := e.commit(ctx, items, size); err != nil {
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
func (e *Engine) StartRun(ctx context.Context, tenantID, workflow string, input json.RawMessage) (RunRef, error) {
	payload, err := jsonObject("input", input)
	if err != nil {
		return RunRef{}, err
	}
	wf, err := e.store.WorkflowGet(ctx, tenantID, workflow, 0)
	if err != nil {
		return RunRef{}, err
	}
	run := newRun(&wf, "", payload, e.now())
	if err := e.commit(ctx, []store.IngestItem{{Runs: []store.IngestRun{run}}}, int64(len(payload)+512)); err != nil {
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
func (e *Engine) commit(ctx context.Context, items []store.IngestItem, size int64) error {
	if e.closed.Load() {
		return ErrClosed
	}
	if e.queued.Add(size) > e.cfg.MaxQueuedBytes {
		e.queued.Add(-size)
		return ErrOverloaded
	}
	req := ingestReq{items: items, bytes: size, done: make(chan error, 1)}
	ok, closed := e.ingest.submit(req)
	if !ok {
		e.queued.Add(-size)
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
func (e *Engine) commitIngest(ctx context.Context, reqs []ingestReq) {
	var all []store.IngestItem
	for _, r := range reqs {
		all = append(all, r.items...)
	}
	err := e.storeIngest(ctx, all)
	if retryAlone(err, len(reqs)) {
		for _, r := range reqs {
			e.finishIngest(r, e.storeIngest(ctx, r.items))
		}
		return
	}
	for _, r := range reqs {
		e.finishIngest(r, err)
	}
}

// retryAlone reports whether a group commit of n requests that failed with err is
// retried request by request: it held more than one, and the store is not unavailable (a
// request of the batch, not the store, may be at fault).
func retryAlone(err error, n int) bool {
	return err != nil && n > 1 && !errors.Is(err, store.ErrUnavailable)
}

func (e *Engine) finishIngest(r ingestReq, err error) {
	e.queued.Add(-r.bytes)
	if errors.Is(err, store.ErrConflict) {
		// An expected race: a replayed webhook delivery or outbox entry that another
		// request committed first; the caller answers with the original.
		e.log.Debug("ingest commit conflicted", "events", len(r.items), "err", err)
	} else if err != nil {
		e.log.Warn("ingest commit failed", "events", len(r.items), "err", err)
	} else {
		e.observeIngest(r.items)
		e.noteScheduled(r.items)
		for _, it := range r.items {
			for _, run := range it.Runs {
				for _, st := range run.Steps {
					if st.Status == store.StepQueued {
						e.waiters.notify(st.TenantID, st.WorkflowName)
					}
				}
			}
		}
	}
	r.done <- err
}

// storeIngest runs one ingest transaction and observes its latency.
func (e *Engine) storeIngest(ctx context.Context, items []store.IngestItem) error {
	start := time.Now()
	err := e.store.EventInsert(ctx, items)
	e.cfg.Observer.StoreCommit("ingest", time.Since(start), err)
	return err
}
