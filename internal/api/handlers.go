package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/heraldhq/herald/internal/engine"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/wire"
)

// eventInput is a pushed event as the engine takes it.
func eventInput(in wire.EventPush) engine.EventInput {
	return engine.EventInput{Key: in.Key, Payload: in.Payload, Metadata: in.AdditionalMetadata,
		IdempotencyKey: in.IdempotencyKey, Scope: in.Scope, Origin: engine.FromRun(in.ParentRunID, in.ParentStepRunID)}
}

func (a *API) pushEvent(w http.ResponseWriter, r *http.Request, p engine.Principal) error {
	if mode := cloudEventsMode(r); mode != "" {
		return a.pushCloudEvents(w, r, p, mode) // cloudevents.go
	}
	var in wire.EventPush
	if err := decode(r, w, a.cfg.MaxEventBytes+4096, &in, false); err != nil {
		return err
	}
	if err := a.checkEventSize("", in); err != nil {
		return err
	}
	if h := r.Header.Get("Idempotency-Key"); h != "" {
		if in.IdempotencyKey != "" && in.IdempotencyKey != h {
			return &engine.FieldError{Field: "idempotency_key", Message: "differs from the Idempotency-Key header"}
		}
		in.IdempotencyKey = h
	}
	ein := eventInput(in)
	if err := withSchedule(&ein, "", in, a.eng.Now()); err != nil {
		return err
	}
	if in.DryRun {
		if in.Delay != "" || in.DeliverAt != "" {
			// A dry run explains what the event does now; what it would do when due
			// depends on the workflows then.
			return &engine.FieldError{Field: "dry_run", Message: "cannot be combined with delay or deliver_at"}
		}
		x, err := a.eng.Explain(r.Context(), p.TenantID, eventInput(in))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, wire.DryRunReply{DryRun: true, Key: in.Key, DuplicateOf: x.DuplicateOf, Workflows: x.Decisions})
		return nil
	}
	res, err := a.eng.Push(r.Context(), p.TenantID, []engine.EventInput{ein}, false)
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if res[0].Duplicate {
		status = http.StatusOK
	}
	writeJSON(w, status, toPushReply(res[0]))
	return nil
}

// checkEventSize refuses an event whose payload and metadata exceed the limit (413).
func (a *API) checkEventSize(prefix string, in wire.EventPush) error {
	if n := int64(len(in.Payload) + len(in.AdditionalMetadata)); n > a.cfg.MaxEventBytes {
		return &statusError{status: http.StatusRequestEntityTooLarge, code: "payload_too_large",
			msg: fmt.Sprintf("event is %d bytes; the limit is %d", n, a.cfg.MaxEventBytes), field: prefix + "payload"}
	}
	return nil
}

func (a *API) pushBulk(w http.ResponseWriter, r *http.Request, p engine.Principal) error {
	var in wire.BulkPush
	if err := decode(r, w, a.cfg.MaxBulkBytes, &in, false); err != nil {
		return err
	}
	evs := make([]engine.EventInput, len(in.Events))
	for i, e := range in.Events {
		if err := a.checkEventSize(fmt.Sprintf("events[%d].", i), e); err != nil {
			return err
		}
		if e.DryRun {
			return &engine.FieldError{Field: fmt.Sprintf("events[%d].dry_run", i), Message: "is allowed only on a single push"}
		}
		evs[i] = eventInput(e)
		if err := withSchedule(&evs[i], fmt.Sprintf("events[%d].", i), e, a.eng.Now()); err != nil {
			return err
		}
	}
	res, err := a.eng.Push(r.Context(), p.TenantID, evs, true)
	if err != nil {
		return err
	}
	out := wire.BulkReply{Items: make([]wire.PushReply, len(res))}
	for i, x := range res {
		out.Items[i] = toPushReply(x)
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (a *API) listEvents(w http.ResponseWriter, r *http.Request, p engine.Principal) error {
	before, limit, err := page(r)
	if err != nil {
		return err
	}
	f, err := eventFilter(r.URL.Query())
	if err != nil {
		return err
	}
	f.Before, f.Limit = before, limit+1
	if status, err := eventStatus(r.URL.Query(), f); err != nil {
		return err
	} else if status != store.EventDelivered {
		return a.listScheduled(w, r, p, status, f, limit)
	}
	evs, err := a.eng.Store().EventList(r.Context(), p.TenantID, f)
	if err != nil {
		return err
	}
	writePage(w, evs, limit, func(e store.Event) string { return e.ID }, toEvent)
	return nil
}

func (a *API) getEvent(w http.ResponseWriter, r *http.Request, p engine.Principal) error {
	e, sched, err := a.eng.GetEvent(r.Context(), p.TenantID, r.PathValue("id"))
	if err != nil {
		return err
	}
	if sched != nil { // a delayed event, not delivered
		out := toScheduled(*sched)
		out.Runs = &[]wire.Run{}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	runs, err := a.eng.Store().RunList(r.Context(), p.TenantID, store.RunFilter{EventID: e.ID, Limit: 1000})
	if err != nil {
		return err
	}
	out := toEvent(e)
	list := make([]wire.Run, 0, len(runs))
	for _, run := range runs {
		list = append(list, toRun(run))
	}
	out.Runs = &list
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) putWorkflow(w http.ResponseWriter, r *http.Request, p engine.Principal) error {
	var in wire.WorkflowDef
	if err := decode(r, w, a.cfg.MaxEventBytes, &in, false); err != nil {
		return err
	}
	if in.Name == "" {
		in.Name = r.PathValue("name")
	}
	if in.Name != r.PathValue("name") {
		return &engine.FieldError{Field: "name", Message: fmt.Sprintf("%q does not match the path's %q", in.Name, r.PathValue("name"))}
	}
	wf, created, err := a.eng.PutWorkflow(r.Context(), p.TenantID, toStoreDef(in))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.PutWorkflowReply{Workflow: toWorkflow(wf), CreatedVersion: created})
	return nil
}

func (a *API) listWorkflows(w http.ResponseWriter, r *http.Request, p engine.Principal) error {
	wfs, err := a.eng.Store().WorkflowList(r.Context(), p.TenantID)
	if err != nil {
		return err
	}
	out := wire.List[wire.Workflow]{Items: []wire.Workflow{}}
	for _, wf := range wfs {
		out.Items = append(out.Items, toWorkflow(wf))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) getWorkflow(w http.ResponseWriter, r *http.Request, p engine.Principal) error {
	version := 0
	if v := r.URL.Query().Get("version"); v != "" {
		if _, err := fmt.Sscanf(v, "%d", &version); err != nil || version < 1 {
			return &engine.FieldError{Field: "version", Message: "must be a positive integer"}
		}
	}
	wf, err := a.eng.Store().WorkflowGet(r.Context(), store.WorkflowGetParams{TenantID: p.TenantID, Name: r.PathValue("name"), Version: version})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toWorkflow(wf))
	return nil
}

func (a *API) toggleWorkflow(active bool) handler {
	return func(w http.ResponseWriter, r *http.Request, p engine.Principal) error {
		wf, err := a.eng.SetWorkflowActive(r.Context(), p.TenantID, r.PathValue("name"), active)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, toWorkflow(wf))
		return nil
	}
}

func (a *API) startRun(w http.ResponseWriter, r *http.Request, p engine.Principal) error {
	var in wire.RunStart
	if err := decode(r, w, a.cfg.MaxEventBytes+4096, &in, true); err != nil {
		return err
	}
	ref, err := a.eng.StartRun(r.Context(), p.TenantID, r.PathValue("name"), in.Input)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, ref)
	return nil
}

var runStatuses = map[string]bool{store.RunQueued: true, store.RunRunning: true, store.RunSucceeded: true, store.RunFailed: true, store.RunCancelled: true}

func (a *API) listRuns(w http.ResponseWriter, r *http.Request, p engine.Principal) error {
	before, limit, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	if err := singleValued(q, "workflow", "status", "event_id"); err != nil {
		return err
	}
	f := store.RunFilter{Workflow: q.Get("workflow"), Status: q.Get("status"), EventID: q.Get("event_id"), Before: before, Limit: limit + 1}
	if f.EventID != "" && !store.ValidID(f.EventID) {
		return &engine.FieldError{Field: "event_id", Message: "is not an event id"}
	}
	if f.Status != "" && !runStatuses[f.Status] {
		return &engine.FieldError{Field: "status", Message: "must be one of queued, running, succeeded, failed, cancelled"}
	}
	if err := runSearch(q, &f); err != nil {
		return err
	}
	runs, err := a.eng.Store().RunList(r.Context(), p.TenantID, f)
	if err != nil {
		return err
	}
	writePage(w, runs, limit, func(r store.Run) string { return r.ID }, toRun)
	return nil
}

func (a *API) getRun(w http.ResponseWriter, r *http.Request, p engine.Principal) error {
	run, steps, err := a.eng.Store().RunGet(r.Context(), p.TenantID, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, runWithSteps(run, steps))
	return nil
}

func runWithSteps(run store.Run, steps []store.StepRun) wire.Run {
	out := toRun(run)
	out.Steps = []wire.StepRun{}
	for _, s := range steps {
		out.Steps = append(out.Steps, toStep(s))
	}
	return out
}

func (a *API) cancelRun(w http.ResponseWriter, r *http.Request, p engine.Principal) error {
	if _, err := a.eng.CancelRun(r.Context(), p.TenantID, r.PathValue("id")); err != nil {
		return err
	}
	return a.getRun(w, r, p)
}

func (a *API) createToken(w http.ResponseWriter, r *http.Request, p engine.Principal) error {
	var in wire.TokenCreate // Admin is the field before roles: true is role "admin"
	if err := decode(r, w, 64<<10, &in, false); err != nil {
		return err
	}
	if in.Admin {
		if in.Role != "" && in.Role != string(store.RoleAdmin) {
			return &engine.FieldError{Field: "admin", Message: `"admin": true is "role": "admin"; give one or the other`}
		}
		in.Role = string(store.RoleAdmin)
	}
	tok, secret, err := a.eng.CreateToken(r.Context(), p, engine.TokenInput{Name: in.Name, Tenant: in.Tenant, Role: store.Role(in.Role)})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, wire.TokenCreated{Token: toToken(tok), Secret: secret})
	return nil
}

func (a *API) listTokens(w http.ResponseWriter, r *http.Request, p engine.Principal) error {
	toks, err := a.eng.ListTokens(r.Context(), p, r.URL.Query().Get("tenant"))
	if err != nil {
		return err
	}
	out := wire.List[wire.Token]{Items: []wire.Token{}}
	for _, t := range toks {
		out.Items = append(out.Items, toToken(t))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) revokeToken(w http.ResponseWriter, r *http.Request, p engine.Principal) error {
	if err := a.eng.RevokeToken(r.Context(), p, r.URL.Query().Get("tenant"), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) createTenant(w http.ResponseWriter, r *http.Request, p engine.Principal) error {
	var in wire.TenantCreate
	if err := decode(r, w, 64<<10, &in, false); err != nil {
		return err
	}
	t, err := a.eng.CreateTenant(r.Context(), p, in.Name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toTenant(t))
	return nil
}

func (a *API) listTenants(w http.ResponseWriter, r *http.Request, p engine.Principal) error {
	ts, err := a.eng.ListTenants(r.Context(), p)
	if err != nil {
		return err
	}
	out := wire.List[wire.Tenant]{Items: []wire.Tenant{}}
	for _, t := range ts {
		out.Items = append(out.Items, toTenant(t))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) registerWorker(w http.ResponseWriter, r *http.Request, p engine.Principal) error {
	var in wire.WorkerRegister
	if err := decode(r, w, 64<<10, &in, false); err != nil {
		return err
	}
	wk, err := a.eng.RegisterWorker(r.Context(), p.TenantID, in.Name, in.Workflows, in.Slots)
	if err != nil {
		return err
	}
	lease := a.eng.Config().LeaseDuration
	writeJSON(w, http.StatusCreated, wire.WorkerRegistered{
		ID: wk.ID, LeaseDuration: wire.Duration(lease), HeartbeatInterval: wire.Duration(lease / 3),
	})
	return nil
}

func (a *API) poll(w http.ResponseWriter, r *http.Request, p engine.Principal) error {
	in := wire.Poll{Max: 1}
	if err := decode(r, w, 64<<10, &in, true); err != nil {
		return err
	}
	wait := engine.DefaultPollWait
	if in.Wait != nil {
		wait = time.Duration(*in.Wait)
	}
	as, err := a.eng.Poll(r.Context(), p.TenantID, r.PathValue("id"), in.Max, wait)
	if err != nil {
		return err
	}
	out := wire.Assignments{Assignments: make([]wire.Assignment, len(as))}
	for i, x := range as {
		out.Assignments[i] = toAssignment(x)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) heartbeat(w http.ResponseWriter, r *http.Request, p engine.Principal) error {
	var in wire.Heartbeat
	if err := decode(r, w, 1<<20, &in, true); err != nil {
		return err
	}
	leases := make([]store.LeaseRef, len(in.StepRuns))
	for i, s := range in.StepRuns {
		leases[i] = store.LeaseRef{StepRunID: s.StepRunID, LeaseID: s.LeaseID}
	}
	lost, until, err := a.eng.Heartbeat(r.Context(), p.TenantID, r.PathValue("id"), leases)
	if err != nil {
		return err
	}
	if lost == nil {
		lost = []string{}
	}
	writeJSON(w, http.StatusOK, wire.HeartbeatReply{LeaseExpiresAt: until, Cancelled: lost})
	return nil
}

func (a *API) complete(w http.ResponseWriter, r *http.Request, p engine.Principal) error {
	var in wire.Complete
	if err := decode(r, w, a.cfg.MaxEventBytes+4096, &in, false); err != nil {
		return err
	}
	if int64(len(in.Output)) > a.cfg.MaxEventBytes {
		return &statusError{status: http.StatusRequestEntityTooLarge, code: "payload_too_large", msg: "output is over the limit", field: "output"}
	}
	if err := a.eng.Complete(r.Context(), p.TenantID, r.PathValue("id"), r.PathValue("step_run_id"), in.LeaseID, in.Output); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.Status{Status: "accepted"})
	return nil
}

func (a *API) fail(w http.ResponseWriter, r *http.Request, p engine.Principal) error {
	var in wire.Fail
	// A failure report takes the body limit of a completion: a long message (a stack trace)
	// is cut to 8 KiB when stored, not refused, since a refused report leaves the step
	// running until its lease expires (which costs no attempt, so it would be retried).
	if err := decode(r, w, a.cfg.MaxEventBytes+4096, &in, false); err != nil {
		return err
	}
	retryable := in.Retryable == nil || *in.Retryable
	if err := a.eng.Fail(r.Context(), p.TenantID, r.PathValue("id"), r.PathValue("step_run_id"), in.LeaseID, in.Error, retryable); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.Status{Status: "accepted"})
	return nil
}

func (a *API) replayEvent(w http.ResponseWriter, r *http.Request, p engine.Principal) error {
	res, err := a.eng.Replay(r.Context(), p.TenantID, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, wire.PushReply{Event: toEvent(res.Event), Runs: res.Runs})
	return nil
}
