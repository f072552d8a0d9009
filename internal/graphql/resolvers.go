package graphql

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/heraldhq/herald/internal/api"
	"github.com/heraldhq/herald/internal/engine"
	"github.com/heraldhq/herald/internal/graphql/generated"
	"github.com/heraldhq/herald/internal/graphql/model"
	"github.com/heraldhq/herald/internal/store"
)

// resolver answers every field through the engine, for the tenant of the request's token.
type resolver struct {
	eng           *engine.Engine
	maxEventBytes int64
}

var _ generated.ResolverRoot = (*resolver)(nil)

func (r *resolver) Mutation() generated.MutationResolver { return mutationResolver{r} }
func (r *resolver) Query() generated.QueryResolver       { return queryResolver{r} }
func (r *resolver) Event() generated.EventResolver       { return eventResolver{r} }
func (r *resolver) Run() generated.RunResolver           { return runResolver{r} }
func (r *resolver) SendCustomEventResponse() generated.SendCustomEventResponseResolver {
	return sendResponseResolver{r}
}

type mutationResolver struct{ *resolver }
type queryResolver struct{ *resolver }
type eventResolver struct{ *resolver }
type runResolver struct{ *resolver }
type sendResponseResolver struct{ *resolver }

// SendCustomEvent pushes the event the input makes, like POST /api/v1/events.
func (r mutationResolver) SendCustomEvent(ctx context.Context, in model.SendCustomEventInput) (*model.SendCustomEventResponse, error) {
	p := principal(ctx)
	ev, err := r.eventInput(in, r.eng.Now())
	if err != nil {
		return nil, err
	}
	res, err := r.eng.Push(ctx, p.TenantID, []engine.EventInput{ev}, false)
	if err != nil {
		return nil, inInput(err)
	}
	return sendResponse(res[0]), nil
}

// sendResponse is the answer to a push: every run it started, named for the seed's
// TemporalWorkflow (the workflow instance is <workflow>/<event id>).
func sendResponse(x engine.PushResult) *model.SendCustomEventResponse {
	out := &model.SendCustomEventResponse{Success: true, EventID: x.Event.ID, Duplicate: x.Duplicate,
		Workflows: make([]model.TemporalWorkflow, 0, len(x.Runs)), Stored: x.Event, Scheduled: x.Scheduled}
	for _, run := range x.Runs {
		out.Workflows = append(out.Workflows, model.TemporalWorkflow{Type: run.Workflow, ID: run.Workflow + "/" + x.Event.ID, RunID: run.RunID})
	}
	if s := x.Scheduled; s != nil {
		at := s.DeliverAt
		out.DeliverAt = &at
	}
	return out
}

// Event shows the event a send stored, only when asked for.
func (r sendResponseResolver) Event(_ context.Context, res *model.SendCustomEventResponse) (*model.Event, error) {
	ev := toEvent(res.Stored)
	if res.Scheduled != nil {
		ev = toScheduled(*res.Scheduled)
	}
	return &ev, nil
}

// eventInput makes the event of a sendCustomEvent input: the key <type>:<operation>, the
// payload {"id": <id>, "data": <data or {}>}, and the optional fields as a REST push has
// them. Errors name the input's fields.
func (r *resolver) eventInput(in model.SendCustomEventInput, now time.Time) (engine.EventInput, error) {
	if err := validatePart("input.type", in.Type, false); err != nil {
		return engine.EventInput{}, err
	}
	if err := validatePart("input.operation", in.Operation, true); err != nil {
		return engine.EventInput{}, err
	}
	key := in.Type + ":" + in.Operation
	if len(key) > engine.MaxKeyLen {
		return engine.EventInput{}, &engine.FieldError{Field: "input.operation",
			Message: fmt.Sprintf("the event key <type>:<operation> is %d bytes long; the limit is %d", len(key), engine.MaxKeyLen)}
	}
	ev := engine.EventInput{Key: key, Metadata: json.RawMessage(in.Metadata)}
	if in.Payload != nil {
		id, err := json.Marshal(in.Payload.ID)
		if err != nil {
			return engine.EventInput{}, &engine.FieldError{Field: "input.payload.id", Message: "cannot be encoded as JSON"}
		}
		data := []byte(in.Payload.Data)
		if len(data) == 0 {
			data = []byte("{}")
		}
		var b bytes.Buffer
		b.Grow(len(id) + len(data) + 16)
		b.WriteString(`{"id":`)
		b.Write(id)
		b.WriteString(`,"data":`)
		b.Write(data)
		b.WriteByte('}')
		ev.Payload = b.Bytes()
	}
	if n := int64(len(ev.Payload) + len(ev.Metadata)); n > r.maxEventBytes {
		return engine.EventInput{}, &problemError{p: api.Problem{Status: http.StatusRequestEntityTooLarge, Code: "payload_too_large",
			Message: fmt.Sprintf("the event is %d bytes; the limit is %d", n, r.maxEventBytes), Field: "input.payload"}}
	}
	if in.IdempotencyKey != nil {
		ev.IdempotencyKey = *in.IdempotencyKey
	}
	if in.Scope != nil {
		ev.Scope = *in.Scope
	}
	switch {
	case in.Delay != nil && in.DeliverAt != nil:
		return engine.EventInput{}, &engine.FieldError{Field: "input.delay", Message: "set either deliverAt or delay, not both"}
	case in.DeliverAt != nil:
		ev.DeliverAt = in.DeliverAt.UTC().Truncate(time.Millisecond)
	case in.Delay != nil:
		d, err := time.ParseDuration(*in.Delay)
		if err != nil {
			return engine.EventInput{}, &engine.FieldError{Field: "input.delay", Message: fmt.Sprintf("%q is not a duration like \"90s\" or \"24h\"", *in.Delay)}
		}
		if d > engine.MaxDelay {
			return engine.EventInput{}, &engine.FieldError{Field: "input.delay", Message: fmt.Sprintf("is %s; an event can be delayed by at most %s (365 days)", d, engine.MaxDelay)}
		}
		if d > 0 {
			ev.DeliverAt = now.UTC().Add(d).Truncate(time.Millisecond)
		}
	}
	return ev, nil
}

// validatePart checks a part of an event key: not empty, and of the key's characters; a
// colon separates the type from the operation, so only the operation may hold one.
func validatePart(field, s string, colon bool) error {
	if s == "" {
		return &engine.FieldError{Field: field, Message: "must not be empty"}
	}
	allowed := "A-Z a-z 0-9 . _ - /"
	if colon {
		allowed = "A-Z a-z 0-9 . _ - : /"
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == '/' || (colon && c == ':')
		if !ok {
			return &engine.FieldError{Field: field, Message: fmt.Sprintf("contains %q at byte %d; allowed are %s", c, i, allowed)}
		}
	}
	return nil
}

// ExplainCustomEvent tells what sendCustomEvent would do with the input now, storing
// nothing (the REST dry run).
func (r queryResolver) ExplainCustomEvent(ctx context.Context, in model.SendCustomEventInput) (*model.Explanation, error) {
	p := principal(ctx)
	if in.Delay != nil || in.DeliverAt != nil {
		field := "input.delay"
		if in.DeliverAt != nil {
			field = "input.deliverAt"
		}
		return nil, inInput(&engine.FieldError{Field: field,
			Message: "cannot be explained: what a delayed event does depends on the workflows when it is due"})
	}
	ev, err := r.eventInput(in, r.eng.Now())
	if err != nil {
		return nil, inInput(err)
	}
	x, err := r.eng.Explain(ctx, p.TenantID, ev)
	if err != nil {
		return nil, inInput(err)
	}
	out := &model.Explanation{Key: ev.Key, DuplicateOf: opt(x.DuplicateOf), Workflows: make([]model.Decision, 0, len(x.Decisions))}
	for _, d := range x.Decisions {
		matched := d.MatchedTriggers
		if matched == nil {
			matched = []string{}
		}
		out.Workflows = append(out.Workflows, model.Decision{Workflow: d.Workflow, Version: d.Version, Trigger: d.Trigger,
			MatchedTriggers: matched, Reason: opt(d.Reason), Message: opt(d.Message), FilterID: opt(d.FilterID)})
	}
	return out, nil
}

// Event finds an event of the tenant, delivered or delayed.
func (r queryResolver) Event(ctx context.Context, id string) (*model.Event, error) {
	p := principal(ctx)
	if api.PathUnstorable(id) != "" {
		return nil, store.ErrNotFound // names nothing stored; PostgreSQL's text refuses it
	}
	ev, sched, err := r.eng.GetEvent(ctx, p.TenantID, id)
	if err != nil {
		return nil, err
	}
	if sched != nil {
		out := toScheduled(*sched)
		return &out, nil
	}
	out := toEvent(ev)
	return &out, nil
}

// eventStatuses are the values of the events query's status argument.
var eventStatuses = map[string]bool{store.EventDelivered: true, store.ScheduledPending: true, store.ScheduledCancelled: true, store.ScheduledFailed: true}

// Events lists events with the filters of GET /api/v1/events.
func (r queryResolver) Events(ctx context.Context, key, keyPrefix, workflow *string, metadata model.JSONObject,
	since, until *time.Time, status *string, limit *int, cursor *string) (*model.EventPage, error) {
	p := principal(ctx)
	var f store.EventFilter
	var err error
	if f.Key, f.KeyPrefix, f.Metadata, f.Since, f.Until, err = searchFilter(key, keyPrefix, metadata, since, until); err != nil {
		return nil, err
	}
	n, before, err := pageArgs(limit, cursor)
	if err != nil {
		return nil, err
	}
	f.Before, f.Limit = before, n+1
	if f.Workflow, err = workflowFilter(workflow); err != nil {
		return nil, err
	}
	st := store.EventDelivered
	if status != nil {
		st = *status
	}
	if !eventStatuses[st] {
		return nil, &engine.FieldError{Field: "status", Message: "must be one of delivered, scheduled, cancelled, failed"}
	}
	out := &model.EventPage{Items: []model.Event{}}
	if st != store.EventDelivered {
		if f.Workflow != "" {
			return nil, &engine.FieldError{Field: "workflow", Message: "applies only to delivered events (status delivered): a delayed event has started no run"}
		}
		evs, err := r.eng.Store().ScheduledList(ctx, store.ScheduledListParams{TenantID: p.TenantID, Status: st, Filter: f})
		if err != nil {
			return nil, err
		}
		for i, e := range evs {
			if i == n {
				out.NextCursor = nextCursor(evs[i-1].ID)
				break
			}
			out.Items = append(out.Items, toScheduled(e))
		}
		return out, nil
	}
	evs, err := r.eng.Store().EventList(ctx, p.TenantID, f)
	if err != nil {
		return nil, err
	}
	for i, e := range evs {
		if i == n {
			out.NextCursor = nextCursor(evs[i-1].ID)
			break
		}
		out.Items = append(out.Items, toEvent(e))
	}
	return out, nil
}

// runStatuses are the values of the runs query's status argument.
var runStatuses = map[string]bool{store.RunQueued: true, store.RunRunning: true, store.RunSucceeded: true, store.RunFailed: true, store.RunCancelled: true}

// Runs lists runs with the filters of GET /api/v1/runs.
func (r queryResolver) Runs(ctx context.Context, workflow, status, eventID, key, keyPrefix *string, metadata model.JSONObject,
	since, until *time.Time, limit *int, cursor *string) (*model.RunPage, error) {
	p := principal(ctx)
	var f store.RunFilter
	var err error
	if f.Key, f.KeyPrefix, f.Metadata, f.Since, f.Until, err = searchFilter(key, keyPrefix, metadata, since, until); err != nil {
		return nil, err
	}
	n, before, err := pageArgs(limit, cursor)
	if err != nil {
		return nil, err
	}
	f.Before, f.Limit = before, n+1
	if f.Workflow, err = workflowFilter(workflow); err != nil {
		return nil, err
	}
	if eventID != nil && *eventID != "" {
		if !store.ValidID(*eventID) {
			return nil, &engine.FieldError{Field: "eventID", Message: "is not an event id"}
		}
		f.EventID = *eventID
	}
	if status != nil {
		if !runStatuses[*status] {
			return nil, &engine.FieldError{Field: "status", Message: "must be one of queued, running, succeeded, failed, cancelled"}
		}
		f.Status = *status
	}
	runs, err := r.eng.Store().RunList(ctx, p.TenantID, f)
	if err != nil {
		return nil, err
	}
	out := &model.RunPage{Items: make([]model.Run, 0, min(len(runs), n))}
	for i, run := range runs {
		if i == n {
			out.NextCursor = nextCursor(runs[i-1].ID)
			break
		}
		out.Items = append(out.Items, toRun(run))
	}
	return out, nil
}

// searchFilter reads the key, metadata and time filters that events and runs share, with
// the rules of the HTTP API's.
func searchFilter(key, keyPrefix *string, metadata model.JSONObject, since, until *time.Time) (k, prefix string, meta map[string]string, from, to time.Time, err error) {
	if key != nil && *key != "" {
		k = *key
		if err = engine.ValidateKey("key", k); err != nil {
			return
		}
	}
	if keyPrefix != nil && *keyPrefix != "" {
		prefix = *keyPrefix
		if err = engine.ValidateKey("keyPrefix", prefix); err != nil {
			return
		}
	}
	if meta, err = metadataFilter(metadata); err != nil {
		return
	}
	if since != nil {
		from = *since
	}
	if until != nil {
		to = *until
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		err = &engine.FieldError{Field: "until", Message: "must be after since"}
	}
	return
}

// workflowFilter reads a listing's workflow filter: a workflow name, as REST takes it.
func workflowFilter(workflow *string) (string, error) {
	if workflow == nil || *workflow == "" {
		return "", nil
	}
	if err := engine.ValidateName("workflow", *workflow); err != nil {
		return "", err
	}
	return *workflow, nil
}

// metadataFilter reads a metadata filter: names to strings, numbers (compared by their
// JSON text) or booleans, within the listing limits of REST (docs/api.md).
func metadataFilter(obj model.JSONObject) (map[string]string, error) {
	if len(obj) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(obj))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, &engine.FieldError{Field: "metadata", Message: "must be an object"}
	}
	out := make(map[string]string, len(m))
	for name, v := range m {
		if err := api.ValidMetadataName(name); err != nil {
			return nil, &engine.FieldError{Field: "metadata", Message: err.Error()}
		}
		switch v := v.(type) {
		case string:
			out[name] = v
		case json.Number:
			out[name] = v.String()
		case bool:
			out[name] = fmt.Sprint(v)
		default:
			return nil, &engine.FieldError{Field: "metadata." + name, Message: "must be a string, number or boolean"}
		}
		if err := engine.CheckMetadataFilter("metadata."+name, name, out[name]); err != nil {
			return nil, err
		}
	}
	if err := engine.CheckMetadataFilterCount("metadata", len(out)); err != nil {
		return nil, err
	}
	return out, nil
}

// pageArgs reads a listing's limit (1-500, default 50) and cursor (the id after which the
// page starts, as the HTTP API encodes it).
func pageArgs(limit *int, cursor *string) (n int, before string, err error) {
	n = 50
	if limit != nil {
		if *limit < 1 || *limit > 500 {
			return 0, "", &engine.FieldError{Field: "limit", Message: "must be an integer between 1 and 500"}
		}
		n = *limit
	}
	if cursor != nil && *cursor != "" {
		b, derr := base64.RawURLEncoding.DecodeString(*cursor)
		if derr != nil || !store.ValidID(string(b)) {
			return 0, "", &engine.FieldError{Field: "cursor", Message: "is not a cursor this API returned"}
		}
		before = string(b)
	}
	return n, before, nil
}

func nextCursor(lastID string) *string {
	c := base64.RawURLEncoding.EncodeToString([]byte(lastID))
	return &c
}

// Run finds a run of the tenant with its steps.
func (r queryResolver) Run(ctx context.Context, id string) (*model.Run, error) {
	p := principal(ctx)
	run, steps, err := r.eng.Store().RunGet(ctx, p.TenantID, id)
	if err != nil {
		return nil, err
	}
	out := toRun(run)
	out.LoadedSteps = steps
	if out.LoadedSteps == nil {
		out.LoadedSteps = []store.StepRun{}
	}
	return &out, nil
}

// Workflows lists the tenant's workflows.
func (r queryResolver) Workflows(ctx context.Context) ([]model.Workflow, error) {
	p := principal(ctx)
	wfs, err := r.eng.Store().WorkflowList(ctx, p.TenantID)
	if err != nil {
		return nil, err
	}
	out := make([]model.Workflow, 0, len(wfs))
	for _, w := range wfs {
		out = append(out, toWorkflow(w))
	}
	return out, nil
}

// Workflow finds a workflow of the tenant: its current version, or the given one.
func (r queryResolver) Workflow(ctx context.Context, name string, version *int) (*model.Workflow, error) {
	p := principal(ctx)
	v := 0
	if version != nil {
		if *version < 1 {
			return nil, &engine.FieldError{Field: "version", Message: "must be a positive integer"}
		}
		v = *version
	}
	if api.PathUnstorable(name) != "" {
		return nil, store.ErrNotFound // names nothing stored; PostgreSQL's text refuses it
	}
	w, err := r.eng.Store().WorkflowGet(ctx, store.WorkflowGetParams{TenantID: p.TenantID, Name: name, Version: v})
	if err != nil {
		return nil, err
	}
	out := toWorkflow(w)
	return &out, nil
}

// Runs lists the runs an event started (none for a delayed event).
func (r eventResolver) Runs(ctx context.Context, ev *model.Event) ([]model.Run, error) {
	if ev.Delayed {
		return []model.Run{}, nil
	}
	p := principal(ctx)
	runs, err := r.eng.Store().RunList(ctx, p.TenantID, store.RunFilter{EventID: ev.ID, Limit: 1000})
	if err != nil {
		return nil, err
	}
	out := make([]model.Run, 0, len(runs))
	for _, run := range runs {
		out = append(out, toRun(run))
	}
	return out, nil
}

// Steps lists a run's steps, read with the run or now.
func (r runResolver) Steps(ctx context.Context, run *model.Run) ([]model.StepRun, error) {
	steps := run.LoadedSteps
	if steps == nil {
		p := principal(ctx)
		var err error
		if _, steps, err = r.eng.Store().RunGet(ctx, p.TenantID, run.ID); err != nil {
			return nil, err
		}
	}
	out := make([]model.StepRun, 0, len(steps))
	for _, s := range steps {
		out = append(out, toStep(s))
	}
	return out, nil
}

// Event finds the event that started a run: null for a manual run, or when retention has
// pruned the event.
func (r runResolver) Event(ctx context.Context, run *model.Run) (*model.Event, error) {
	if run.EventID == nil {
		return nil, nil
	}
	p := principal(ctx)
	ev, sched, err := r.eng.GetEvent(ctx, p.TenantID, *run.EventID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if sched != nil {
		out := toScheduled(*sched)
		return &out, nil
	}
	out := toEvent(ev)
	return &out, nil
}
