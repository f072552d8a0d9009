package herald

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/wire"
)

// WorkerConfig configures a Worker. Every field has a default.
type WorkerConfig struct {
	// Name identifies the worker in the engine's records and logs.
	// Default: "<hostname>-<pid>".
	Name string
	// Slots is how many steps the worker runs at once, 1–1000. The worker never
	// claims more steps than it has free slots. Default: 10.
	Slots int
	// PollWait is how long one long-poll waits for work before it is sent again,
	// at most 60s. Default: 20s.
	PollWait time.Duration
	// ShutdownTimeout is how long Run lets running steps finish after its
	// context is cancelled, before it cancels their contexts. A negative value
	// cancels them at once. Default: 20s.
	ShutdownTimeout time.Duration
	// Logger receives the worker's logs. Default: slog.Default().
	Logger *slog.Logger
}

// Defaults and bounds of a worker.
const (
	defaultSlots           = 10
	maxSlots               = 1000
	defaultPollWait        = 20 * time.Second
	maxPollWait            = 60 * time.Second
	maxPollBatch           = 100
	defaultShutdownTimeout = 20 * time.Second
	// abandonTimeout is how long Run waits for steps to return once their
	// contexts are cancelled at the end of the shutdown timeout.
	abandonTimeout = 5 * time.Second
	// defaultHeartbeat is used when the engine's register reply has none.
	defaultHeartbeat = 10 * time.Second
	// reportTimeout bounds the reporting of one result, retries included.
	reportTimeout = 30 * time.Second
	reportRetries = 5
	// maxErrorMessage bounds the error text reported for a failed step.
	maxErrorMessage = 8 << 10
)

// Causes of a step context's cancellation.
var (
	errStepCancelled  = errors.New("herald: step-run cancelled by the engine (run cancelled or lease lost)")
	errWorkerShutdown = errors.New("herald: worker shutting down")
	errStepDeadline   = errors.New("herald: step deadline exceeded")
)

// Worker runs the steps of the workflows registered with it: it stores their
// definitions in the engine, registers itself, long-polls for ready steps, runs
// each in its own goroutine, reports the results and heartbeats its leases.
//
// A Worker is created with NewWorker, given workflows with Register and started
// with Run.
type Worker struct {
	client *Client
	cfg    WorkerConfig
	logger *slog.Logger

	mu        sync.Mutex
	workflows []Workflow
	steps     map[string]map[string]*Step // workflow name → step name → step
	schemas   []EventSchema               // declared by RegisterEventSchema (schemas.go)
	started   bool
}

// NewWorker returns a Worker that talks to the engine through c. The
// configuration is checked by Run.
func NewWorker(c *Client, cfg WorkerConfig) *Worker {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return &Worker{
		client: c,
		cfg:    cfg,
		logger: logger,
		steps:  make(map[string]map[string]*Step),
	}
}

// Register adds workflows for the worker to run. Each is validated locally
// (names, parents, no cycle, ranges, a Run function per step), and a name
// registered twice is an error. Nothing is registered when an error is returned.
// Register must be called before Run.
func (w *Worker) Register(wfs ...Workflow) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started {
		return errors.New("herald: Register called after Run")
	}
	added := make(map[string]bool, len(wfs))
	for _, wf := range wfs {
		if err := wf.validate(); err != nil {
			return err
		}
		if _, dup := w.steps[wf.Name]; dup || added[wf.Name] {
			return fmt.Errorf("herald: workflow %q registered twice", wf.Name)
		}
		added[wf.Name] = true
	}
	for _, wf := range wfs {
		wf.Triggers = append([]string(nil), wf.Triggers...)
		wf.ConditionalTriggers = append([]Trigger(nil), wf.ConditionalTriggers...)
		wf.Steps = append([]Step(nil), wf.Steps...)
		byName := make(map[string]*Step, len(wf.Steps))
		for i := range wf.Steps {
			byName[wf.Steps[i].Name] = &wf.Steps[i]
		}
		w.workflows = append(w.workflows, wf)
		w.steps[wf.Name] = byName
	}
	return nil
}

// Run stores the definitions of the registered workflows in the engine
// (PutWorkflow), registers the worker, then polls for and runs steps until ctx
// is done. It then stops polling, lets running steps finish for up to
// ShutdownTimeout (cancelling their contexts after that) and returns nil.
//
// Each step runs in its own goroutine with a context that is cancelled at the
// step's deadline, when the engine reports the step-run cancelled (at a
// heartbeat), or at the end of the shutdown timeout. A poll in flight when ctx
// is cancelled is abandoned; a step the engine handed out in that instant runs
// again once its lease expires. Run returns an error when
// the configuration is invalid, when the workflows or the worker cannot be
// registered, or when the engine refuses the token. A Worker runs once.
func (w *Worker) Run(ctx context.Context) error {
	w.mu.Lock()
	if w.started {
		w.mu.Unlock()
		return errors.New("herald: worker already started")
	}
	w.started = true
	wfs := w.workflows
	schemas := w.schemas
	w.mu.Unlock()

	if len(wfs) == 0 {
		return errors.New("herald: worker has no workflows: call Register before Run")
	}
	if w.client == nil {
		return errors.New("herald: worker has no client")
	}
	cfg, err := w.config()
	if err != nil {
		return err
	}

	r := &workerRun{
		w:      w,
		cfg:    cfg,
		log:    w.logger,
		slots:  make(chan struct{}, cfg.Slots),
		active: make(map[string]*activeStep),
	}
	for _, wf := range wfs {
		r.names = append(r.names, wf.Name)
	}
	if err := w.putEventSchemas(ctx, schemas); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	for _, wf := range wfs {
		info, created, err := w.client.PutWorkflow(ctx, wf.Definition())
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("herald: worker: %w", err)
		}
		w.logger.Info("herald: workflow stored", "workflow", info.Name, "version", info.Version, "new_version", created)
	}
	if err := r.register(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}

	base := context.WithoutCancel(ctx)
	stepsCtx, stopSteps := context.WithCancelCause(base)
	defer stopSteps(errWorkerShutdown)
	reportCtx, stopReports := context.WithCancel(base)
	defer stopReports()
	hbCtx, stopHeartbeat := context.WithCancel(base)
	defer stopHeartbeat()
	r.stepsCtx, r.reportCtx = stepsCtx, reportCtx

	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		r.heartbeatLoop(hbCtx)
	}()

	pollErr := r.pollLoop(ctx)

	// Drain: no more polling; let running steps finish, within bounds.
	stepsDone := make(chan struct{})
	go func() {
		r.wg.Wait()
		close(stepsDone)
	}()
	if n := r.activeCount(); n > 0 {
		w.logger.Info("herald: worker stopping, waiting for running steps", "running", n, "timeout", cfg.ShutdownTimeout)
	}
	grace := time.NewTimer(max(cfg.ShutdownTimeout, 0))
	defer grace.Stop()
	select {
	case <-stepsDone:
	case <-grace.C:
		w.logger.Warn("herald: shutdown timeout reached, cancelling running steps", "running", r.activeCount())
		stopSteps(errWorkerShutdown)
		abandon := time.NewTimer(abandonTimeout)
		defer abandon.Stop()
		select {
		case <-stepsDone:
		case <-abandon.C:
			w.logger.Warn("herald: steps did not return after cancellation, abandoning them; their leases will expire and the engine will retry them")
		}
	}
	stopHeartbeat()
	<-hbDone
	w.logger.Info("herald: worker stopped", "worker_id", r.workerID())
	return pollErr
}

// config returns the worker configuration with defaults applied, or an error
// naming the bad field.
func (w *Worker) config() (WorkerConfig, error) {
	cfg := w.cfg
	if cfg.Name == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "worker"
		}
		cfg.Name = host + "-" + strconv.Itoa(os.Getpid())
	}
	switch {
	case cfg.Slots == 0:
		cfg.Slots = defaultSlots
	case cfg.Slots < 0 || cfg.Slots > maxSlots:
		return cfg, fmt.Errorf("herald: WorkerConfig.Slots %d out of range (1–%d)", cfg.Slots, maxSlots)
	}
	switch {
	case cfg.PollWait == 0:
		cfg.PollWait = defaultPollWait
	case cfg.PollWait < 0 || cfg.PollWait > maxPollWait:
		return cfg, fmt.Errorf("herald: WorkerConfig.PollWait %s out of range (0–%s)", cfg.PollWait, maxPollWait)
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = defaultShutdownTimeout
	}
	return cfg, nil
}

// step returns the registered step of a workflow, or nil.
func (w *Worker) step(workflow, step string) *Step {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.steps[workflow][step]
}

// assignment is one step-run handed to the worker by a poll.
type assignment struct {
	wire.Assignment

	workerID string // the worker id that claimed it
}

// activeStep is a step-run the worker holds a lease on.
type activeStep struct {
	workerID string
	leaseID  string
	cancel   context.CancelCauseFunc
}

// workerRun is the state of one Worker.Run call.
type workerRun struct {
	w     *Worker
	cfg   WorkerConfig
	log   *slog.Logger
	names []string
	slots chan struct{} // one element per busy slot
	wg    sync.WaitGroup

	stepsCtx  context.Context // parent of step contexts; cancelled at the end of the shutdown timeout
	reportCtx context.Context // parent of result reports; outlives Run's ctx

	mu                sync.Mutex
	id                string
	heartbeatInterval time.Duration
	active            map[string]*activeStep // by step_run_id
}

// register registers the worker with the engine and records its id and timings.
func (r *workerRun) register(ctx context.Context) error {
	req := wire.WorkerRegister{Name: r.cfg.Name, Workflows: r.names, Slots: r.cfg.Slots}
	var res wire.WorkerRegistered
	if err := r.w.client.call(ctx, http.MethodPost, "/workers", nil, req, &res, pushRetries); err != nil {
		return fmt.Errorf("herald: registering worker %q: %w", r.cfg.Name, err)
	}
	if res.ID == "" {
		return fmt.Errorf("herald: registering worker %q: reply has no id", r.cfg.Name)
	}
	hb := time.Duration(res.HeartbeatInterval)
	if hb <= 0 {
		hb = defaultHeartbeat
		if ld := time.Duration(res.LeaseDuration); ld > 0 && ld/3 < hb {
			hb = max(ld/3, 100*time.Millisecond)
		}
	}
	r.mu.Lock()
	r.id = res.ID
	r.heartbeatInterval = hb
	r.mu.Unlock()
	r.log.Info("herald: worker registered", "worker_id", res.ID, "name", r.cfg.Name,
		"workflows", r.names, "slots", r.cfg.Slots, "heartbeat_interval", hb)
	return nil
}

// workerID returns the id the engine gave this worker.
func (r *workerRun) workerID() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.id
}

// activeCount returns how many step-runs the worker holds.
func (r *workerRun) activeCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.active)
}

// pollLoop claims and starts steps until ctx is done. It returns nil then, or
// an error the worker cannot recover from (the token was refused).
func (r *workerRun) pollLoop(ctx context.Context) error {
	failures := 0
	for {
		// Reserve at least one free slot, then as many more as are free.
		select {
		case r.slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		n := 1
	reserve:
		for n < maxPollBatch {
			select {
			case r.slots <- struct{}{}:
				n++
			default:
				break reserve
			}
		}

		as, err := r.poll(ctx, n)
		for i := len(as); i < n; i++ {
			<-r.slots // give back the unused reservations
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var apiErr *APIError
			if errors.As(err, &apiErr) {
				switch apiErr.StatusCode {
				case http.StatusUnauthorized, http.StatusForbidden:
					r.log.Error("herald: poll refused, stopping the worker", "err", err)
					return fmt.Errorf("herald: worker: %w", err)
				case http.StatusNotFound:
					r.log.Warn("herald: the engine no longer knows this worker, registering again", "worker_id", r.workerID())
					if rerr := r.register(ctx); rerr != nil && ctx.Err() == nil {
						r.log.Warn("herald: registering again failed", "err", rerr)
					} else if rerr == nil {
						failures = 0
						continue
					}
				}
			}
			wait := backoff(failures, 200*time.Millisecond, 10*time.Second)
			if errors.As(err, &apiErr) && apiErr.RetryAfter > 0 {
				wait = min(apiErr.RetryAfter, retryMaxServerAsk)
			}
			failures++
			r.log.Warn("herald: poll failed", "err", err, "retry_in", wait)
			if sleepCtx(ctx, wait) != nil {
				return nil
			}
			continue
		}
		failures = 0
		for i, a := range as {
			if i >= n {
				// More than asked for (an engine bug): wait for a free slot
				// rather than overcommit.
				r.slots <- struct{}{}
			}
			r.wg.Add(1)
			go r.execute(a)
		}
	}
}

// poll long-polls the engine for up to limit assignments.
func (r *workerRun) poll(ctx context.Context, limit int) ([]*assignment, error) {
	id := r.workerID()
	wait := wire.Duration(r.cfg.PollWait)
	req := wire.Poll{Max: limit, Wait: &wait}
	var res wire.Assignments
	pctx, cancel := context.WithTimeout(ctx, r.cfg.PollWait+30*time.Second)
	defer cancel()
	if err := r.w.client.call(pctx, http.MethodPost, "/workers/"+pathEscape(id)+"/poll", nil, req, &res, 0); err != nil {
		return nil, fmt.Errorf("herald: polling for work: %w", err)
	}
	out := make([]*assignment, len(res.Assignments))
	for i, a := range res.Assignments {
		out[i] = &assignment{Assignment: a, workerID: id}
	}
	return out, nil
}

// execute runs one assigned step-run and reports its result.
func (r *workerRun) execute(a *assignment) {
	defer r.wg.Done()
	defer func() { <-r.slots }()

	log := r.log.With("workflow", a.Workflow, "step", a.Step, "run_id", a.RunID,
		"step_run_id", a.StepRunID, "attempt", a.Attempt)
	step := r.w.step(a.Workflow, a.Step)
	if step == nil {
		log.Error("herald: assigned a step this worker does not have")
		r.fail(a, log, fmt.Sprintf("worker %q has no step %q in workflow %q", r.cfg.Name, a.Step, a.Workflow), true)
		return
	}

	ctx, cancel := context.WithCancelCause(r.stepsCtx)
	defer cancel(nil)
	switch {
	case !a.Deadline.IsZero():
		var stop context.CancelFunc
		ctx, stop = context.WithDeadlineCause(ctx, a.Deadline, errStepDeadline)
		defer stop()
	case step.Timeout > 0:
		var stop context.CancelFunc
		ctx, stop = context.WithTimeoutCause(ctx, step.Timeout, errStepDeadline)
		defer stop()
	}
	r.hold(a, cancel)
	defer r.release(a)

	sc := &StepContext{a: a, client: r.w.client, logger: log}
	log.Debug("herald: step started")
	started := time.Now()
	out, stack, err := runStep(ctx, step.Run, sc)
	elapsed := time.Since(started)

	cause := context.Cause(ctx)
	switch {
	case errors.Is(cause, errStepCancelled):
		log.Info("herald: step-run cancelled by the engine, result dropped", "duration", elapsed)
		return
	case errors.Is(cause, errWorkerShutdown) && err != nil:
		log.Warn("herald: step interrupted by worker shutdown, result dropped; the engine will retry it when its lease expires", "duration", elapsed)
		return
	}

	if err != nil {
		retryable := isRetryable(err)
		if stack != nil {
			log.Error("herald: step panicked", "err", err, "stack", string(stack))
		} else {
			log.Warn("herald: step failed", "err", err, "retryable", retryable,
				"max_attempts", a.MaxAttempts, "duration", elapsed)
		}
		r.fail(a, log, err.Error(), retryable)
		return
	}
	output, err := encodeOutput(out)
	if err != nil {
		log.Error("herald: step returned an invalid output", "err", err)
		r.fail(a, log, err.Error(), false)
		return
	}
	log.Debug("herald: step succeeded", "duration", elapsed)
	r.report(a, log, "complete", wire.Complete{LeaseID: a.LeaseID, Output: output})
}

// runStep calls fn, turning a panic into an error (and returning its stack).
func runStep(ctx context.Context, fn func(context.Context, *StepContext) (any, error), sc *StepContext) (out any, stack []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, stack, err = nil, debug.Stack(), fmt.Errorf("step panicked: %v", p)
		}
	}()
	out, err = fn(ctx, sc)
	return out, nil, err
}

// fail reports a failed attempt.
func (r *workerRun) fail(a *assignment, log *slog.Logger, msg string, retryable bool) {
	if msg == "" {
		msg = "step failed"
	}
	if len(msg) > maxErrorMessage {
		msg = truncateUTF8(msg, maxErrorMessage) + "…"
	}
	r.report(a, log, "fail", wire.Fail{LeaseID: a.LeaseID, Error: msg, Retryable: &retryable})
}

// report sends a complete or fail report, retrying a few times on network
// errors and temporary engine errors. A 409 (the lease is no longer ours) drops
// the result.
func (r *workerRun) report(a *assignment, log *slog.Logger, action string, body any) {
	ctx, cancel := context.WithTimeout(r.reportCtx, reportTimeout)
	defer cancel()
	path := "/workers/" + pathEscape(a.workerID) + "/step-runs/" + pathEscape(a.StepRunID) + "/" + action
	for attempt := 0; ; attempt++ {
		err := r.w.client.call(ctx, http.MethodPost, path, nil, body, nil, 0)
		if err == nil {
			return
		}
		wait := backoff(attempt, 100*time.Millisecond, 2*time.Second)
		var apiErr *APIError
		if errors.As(err, &apiErr) {
			switch {
			case apiErr.StatusCode == http.StatusConflict:
				log.Debug("herald: result refused, the lease is no longer held; dropped", "action", action, "err", err)
				return
			case apiErr.temporary() || apiErr.StatusCode >= 500:
				if apiErr.RetryAfter > 0 {
					wait = min(apiErr.RetryAfter, reportTimeout)
				}
			default:
				log.Error("herald: reporting step result failed", "action", action, "err", err)
				return
			}
		}
		if attempt >= reportRetries || ctx.Err() != nil {
			log.Error("herald: reporting step result failed, giving up; the engine will retry the step when its lease expires",
				"action", action, "err", err)
			return
		}
		log.Debug("herald: reporting step result failed, retrying", "action", action, "err", err, "retry_in", wait)
		if sleepCtx(ctx, wait) != nil {
			log.Error("herald: reporting step result failed, giving up", "action", action, "err", err)
			return
		}
	}
}

// hold records a lease so that heartbeats extend it.
func (r *workerRun) hold(a *assignment, cancel context.CancelCauseFunc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.active[a.StepRunID] = &activeStep{workerID: a.workerID, leaseID: a.LeaseID, cancel: cancel}
}

// release forgets a lease.
func (r *workerRun) release(a *assignment) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.active[a.StepRunID]; ok && s.leaseID == a.LeaseID {
		delete(r.active, a.StepRunID)
	}
}

// heartbeatLoop sends a heartbeat every heartbeat interval until ctx is done. A
// heartbeat that failed is tried again after a quarter of the interval: the engine sends
// an interval of a third of the lease, and a heartbeat that arrives after the lease ended
// no longer revives it.
func (r *workerRun) heartbeatLoop(ctx context.Context) {
	wait := time.Duration(-1)
	for {
		r.mu.Lock()
		interval := r.heartbeatInterval
		r.mu.Unlock()
		if wait < 0 {
			wait = interval
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = interval
		if !r.heartbeat(ctx, interval) {
			wait = interval / 4
		}
	}
}

// heartbeat extends the held leases and cancels the step-runs the engine says
// are no longer ours. Leases claimed under an earlier worker id (before the
// worker registered again) are sent under that id. Each call may take half the
// interval. It reports whether every call succeeded.
func (r *workerRun) heartbeat(ctx context.Context, interval time.Duration) bool {
	r.mu.Lock()
	groups := map[string][]wire.LeaseRef{r.id: {}}
	for id, s := range r.active {
		groups[s.workerID] = append(groups[s.workerID], wire.LeaseRef{StepRunID: id, LeaseID: s.leaseID})
	}
	r.mu.Unlock()

	ok := true
	for wid, leases := range groups {
		hctx, cancel := context.WithTimeout(ctx, interval/2)
		var res wire.HeartbeatReply
		req := wire.Heartbeat{StepRuns: leases}
		err := r.w.client.call(hctx, http.MethodPost, "/workers/"+pathEscape(wid)+"/heartbeat", nil, req, &res, 0)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				r.log.Warn("herald: heartbeat failed", "worker_id", wid, "leases", len(leases), "err", err)
			}
			ok = false
			continue
		}
		for _, id := range res.Cancelled {
			r.cancelStep(wid, id)
		}
	}
	return ok
}

// cancelStep cancels a running step-run the worker no longer holds the lease of
// and stops heartbeating it.
func (r *workerRun) cancelStep(workerID, stepRunID string) {
	r.mu.Lock()
	s, ok := r.active[stepRunID]
	if ok && s.workerID == workerID {
		delete(r.active, stepRunID)
	} else {
		ok = false
	}
	r.mu.Unlock()
	if ok {
		s.cancel(errStepCancelled)
	}
}
