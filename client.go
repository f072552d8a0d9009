package herald

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/wire"
)

// DefaultURL is the address of a local Herald engine, used when no URL is given.
const DefaultURL = "http://127.0.0.1:7420"

// ClientConfig configures a Client. The zero value talks to a local engine
// without a token.
type ClientConfig struct {
	// URL is the base address of the engine, without the /api/v1 suffix.
	// Default: "http://127.0.0.1:7420".
	URL string
	// Token is the API token sent as "Authorization: Bearer <token>".
	// Every /api/v1 endpoint needs one.
	Token string
	// HTTPClient sends the requests. Default: a client with no overall timeout
	// (a worker's long-poll waits up to WorkerConfig.PollWait) and a connection
	// pool sized for many concurrent requests. A custom client must not have a
	// Timeout shorter than the worker's PollWait.
	HTTPClient *http.Client
}

// Client talks to a Herald engine over its HTTP API. It is safe for
// concurrent use by multiple goroutines.
type Client struct {
	base  string // scheme://host[:port][/prefix], no trailing slash
	token string
	http  *http.Client
}

// NewClient returns a Client for the engine described by cfg. It fails when the
// URL is not an absolute http or https URL.
func NewClient(cfg ClientConfig) (*Client, error) {
	raw := strings.TrimSpace(cfg.URL)
	if raw == "" {
		raw = DefaultURL
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("herald: parsing URL %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("herald: URL %q: scheme must be http or https", raw)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("herald: URL %q has no host", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("herald: URL %q must not have a query or fragment", raw)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = defaultHTTPClient()
	}
	return &Client{
		base:  strings.TrimRight(u.String(), "/"),
		token: strings.TrimSpace(cfg.Token),
		http:  hc,
	}, nil
}

// defaultHTTPClient returns an http.Client without an overall timeout whose
// transport keeps enough idle connections for a busy producer or worker.
func defaultHTTPClient() *http.Client {
	var tr *http.Transport
	if dt, ok := http.DefaultTransport.(*http.Transport); ok {
		tr = dt.Clone()
	} else {
		tr = &http.Transport{Proxy: http.ProxyFromEnvironment}
	}
	tr.MaxIdleConns = 256
	tr.MaxIdleConnsPerHost = 128
	tr.IdleConnTimeout = 90 * time.Second
	return &http.Client{Transport: tr}
}

// ClientFromEnv returns a Client configured from the environment: the engine's
// address comes from HERALD_URL (default "http://127.0.0.1:7420") and the token
// from HERALD_TOKEN, or else from the file "token" in the engine's data directory
// (HERALD_DATA_DIR, default "./.herald"), which a local engine writes on first
// start. It fails when no token can be found.
func ClientFromEnv() (*Client, error) {
	token := strings.TrimSpace(os.Getenv("HERALD_TOKEN"))
	if token == "" {
		dir := os.Getenv("HERALD_DATA_DIR")
		if dir == "" {
			dir = ".herald"
		}
		path := filepath.Join(dir, "token")
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("herald: no token: set HERALD_TOKEN or start a local engine that writes %s: %w", path, err)
		}
		token = strings.TrimSpace(string(b))
		if token == "" {
			return nil, fmt.Errorf("herald: no token: %s is empty and HERALD_TOKEN is not set", path)
		}
	}
	return NewClient(ClientConfig{URL: os.Getenv("HERALD_URL"), Token: token})
}

// URL returns the base address of the engine this client talks to.
func (c *Client) URL() string { return c.base }

// ---------------------------------------------------------------------------
// Request plumbing

// Bounds of the transparent retries of pushes on 429 and 503.
const (
	pushRetries       = 6
	retryBaseBackoff  = 100 * time.Millisecond
	retryMaxBackoff   = 5 * time.Second
	retryMaxServerAsk = time.Minute
)

// call sends one JSON request and decodes the JSON reply into out (when out is
// not nil). When overloadRetries > 0, a 429 or 503 reply is retried up to that
// many times after the wait the engine asked for (Retry-After) or a capped
// exponential backoff, for as long as ctx allows.
func (c *Client) call(ctx context.Context, method, path string, query url.Values, in, out any, overloadRetries int) error {
	var body []byte
	if in != nil {
		var err error
		body, err = json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encoding request: %w", err)
		}
	}
	for attempt := 0; ; attempt++ {
		err := c.send(ctx, method, path, query, body, out)
		var apiErr *APIError
		if attempt >= overloadRetries || !errors.As(err, &apiErr) || !apiErr.temporary() {
			return err
		}
		wait := apiErr.RetryAfter
		if wait <= 0 {
			wait = backoff(attempt, retryBaseBackoff, retryMaxBackoff)
		}
		wait = min(wait, retryMaxServerAsk)
		if werr := sleepCtx(ctx, wait); werr != nil {
			return fmt.Errorf("%w (retry abandoned: %w)", err, werr)
		}
	}
}

// send performs a single HTTP exchange.
func (c *Client) send(ctx context.Context, method, path string, query url.Values, body []byte, out any) error {
	u := c.base + "/api/v1" + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "herald-go")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return parseAPIError(resp.StatusCode, resp.Header, b)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decoding reply of %s %s: %w", method, path, err)
	}
	return nil
}

// backoff returns base·2^attempt capped at max, with up to 20% random jitter.
func backoff(attempt int, base, max time.Duration) time.Duration {
	d := base
	for i := 0; i < attempt && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}

// sleepCtx waits for d or until ctx is done, whichever comes first.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// pathEscape escapes one path segment.
func pathEscape(s string) string { return url.PathEscape(s) }

// pageQuery builds the query of a paginated list call.
func pageQuery(cursor string, limit int) url.Values {
	q := url.Values{}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	return q
}

// ---------------------------------------------------------------------------
// Events

// Event is an event to push. Key says what happened ("user:created"); every
// workflow with a trigger matching the key starts a run whose input is Payload.
type Event struct {
	// Key is 1–255 bytes of A-Z a-z 0-9 and . _ - : /.
	Key string `json:"key"`
	// Payload is the event's data. It must encode to a JSON object; nil means {}.
	Payload any `json:"payload,omitempty"`
	// AdditionalMetadata is optional; its values must be strings, numbers or booleans.
	AdditionalMetadata map[string]any `json:"additional_metadata,omitempty"`
	// IdempotencyKey, when set, makes the push idempotent: a repeat with the same key
	// within the engine's idempotency window (default 24h) stores and triggers nothing
	// and returns the original event and its runs, with PushResult.Duplicate set. It also
	// makes Push's retries after a lost reply safe.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	// Scope routes the event to the runtime filters of that scope (a tenant's
	// customer, a region...): a workflow with filters is triggered only by events
	// whose scope one of its filters has. See CreateFilter and docs/triggers.md.
	Scope string `json:"scope,omitempty"`
	// DeliverAt, when in the future, delays the event: the engine stores it at once
	// (PushResult.Event.Status is "scheduled", with no runs) and it triggers the
	// workflows active then when it is due. A past time means now. At most 365 days
	// ahead. See schedule.go.
	DeliverAt time.Time `json:"deliver_at,omitzero"`
	// Delay, when positive, delays the event by this long from its arrival at the
	// engine (by the engine's clock). Set at most one of DeliverAt and Delay.
	Delay time.Duration `json:"-"`
}

// DryRunResult is the engine's answer to DryRun: what an event would trigger.
type DryRunResult struct {
	// Key is the event key explained.
	Key string `json:"key"`
	// DuplicateOf, when the event's idempotency key is live, names the event holding it:
	// a push would be a duplicate and trigger nothing.
	DuplicateOf string `json:"duplicate_of,omitempty"`
	// Workflows has one entry per workflow of the tenant, ordered by name.
	Workflows []TriggerExplanation `json:"workflows"`
}

// TriggerExplanation says whether an event would trigger one workflow, and if not why.
type TriggerExplanation = wire.Decision

// PushResult is the engine's answer to a push: the stored event and the runs it
// started.
type PushResult struct {
	// Event is the stored event, with the trigger decisions taken for it.
	Event EventInfo `json:"event"`
	// Runs lists the runs the event started, one per matching enabled workflow.
	Runs []RunRef `json:"runs"`
	// Duplicate reports that the push repeated a live idempotency key: Event and Runs
	// are the original's and nothing new was stored or triggered.
	Duplicate bool `json:"duplicate"`
}

// RunRef names a run started by an event or by RunWorkflow.
type RunRef = wire.RunRef

// TriggerDecision records what happened for one workflow whose trigger matched
// an event: a run was started (RunID is set) or it was skipped (Skipped says why,
// such as "disabled").
type TriggerDecision = wire.TriggerDecision

// EventInfo is a stored event.
type EventInfo struct {
	// ID is the event's id.
	ID string `json:"id"`
	// Key is the event's key.
	Key string `json:"key"`
	// Payload is the event's payload, a JSON object.
	Payload json.RawMessage `json:"payload"`
	// AdditionalMetadata is the metadata pushed with the event.
	AdditionalMetadata map[string]any `json:"additional_metadata,omitempty"`
	// Source is "api" for events pushed through the API, "run" for events
	// pushed by a step and "webhook" for events a webhook received.
	Source string `json:"source"`
	// ParentRunID is the run whose step pushed the event, when Source is "run".
	ParentRunID string `json:"parent_run_id,omitempty"`
	// ParentStepRunID is the step-run that pushed the event, when Source is "run".
	ParentStepRunID string `json:"parent_step_run_id,omitempty"`
	// ParentStep is the name of the step that pushed the event, when Source is "run".
	ParentStep string `json:"parent_step,omitempty"`
	// Webhook is the webhook that received the event, when Source is "webhook".
	Webhook string `json:"webhook,omitempty"`
	// Scope is the event's scope: pushed with it, or given by a webhook's scope
	// expression.
	Scope string `json:"scope,omitempty"`
	// DedupeID is the webhook delivery's id (Stripe's event id, X-GitHub-Delivery, ...),
	// under which replays of the delivery are recognized.
	DedupeID string `json:"dedupe_id,omitempty"`
	// CreatedAt is when the engine stored the event: for a delayed event, when it was
	// pushed until it is delivered, then when it was delivered.
	CreatedAt time.Time `json:"created_at"`
	// Status is "delivered" (in the event log, its workflows triggered), or for a delayed
	// event "scheduled", "cancelled" or "failed" (see EventScheduled).
	Status string `json:"status"`
	// DeliverAt is when a delayed event that has not been delivered is due.
	DeliverAt *time.Time `json:"deliver_at,omitempty"`
	// DeliveryError says why a delayed event failed at delivery (Status "failed").
	DeliveryError string `json:"delivery_error,omitempty"`
	// Triggers records the decision taken for every workflow whose trigger matched.
	Triggers []TriggerDecision `json:"triggers"`
	// Runs lists the runs the event triggered. Only GetEvent sets it.
	Runs []RunSummary `json:"runs,omitempty"`
}

// Push stores one event and starts the runs it triggers. It returns once the
// event and its runs are committed. When the engine is overloaded (429) or cannot
// commit (503), Push waits as the engine asks and tries again a few times, for as
// long as ctx allows.
func (c *Client) Push(ctx context.Context, ev Event) (*PushResult, error) {
	res, err := c.push(ctx, ev, "", "")
	if err != nil {
		return nil, fmt.Errorf("herald: pushing event %q: %w", ev.Key, err)
	}
	return res, nil
}

// push stores one event, with the lineage of the step that pushes it when runID is set.
func (c *Client) push(ctx context.Context, ev Event, runID, stepRunID string) (*PushResult, error) {
	req, err := eventPush(ev)
	if err != nil {
		return nil, err
	}
	req.ParentRunID, req.ParentStepRunID = runID, stepRunID
	var reply wire.PushReply
	if err := c.call(ctx, http.MethodPost, "/events", nil, req, &reply, pushRetries); err != nil {
		return nil, err
	}
	res, err := fromPushReply(reply)
	if err != nil {
		return nil, fmt.Errorf("decoding reply of POST /events: %w", err)
	}
	return &res, nil
}

// DryRun validates an event like Push and reports, for every workflow of the tenant,
// whether the event would trigger it and if not why. It stores and triggers nothing.
func (c *Client) DryRun(ctx context.Context, ev Event) (*DryRunResult, error) {
	req, err := eventPush(ev)
	if err == nil {
		req.DryRun = true
		var reply wire.DryRunReply
		if err = c.call(ctx, http.MethodPost, "/events", nil, req, &reply, 0); err == nil {
			res := fromDryRun(reply)
			return &res, nil
		}
	}
	return nil, fmt.Errorf("herald: explaining event %q: %w", ev.Key, err)
}

// pushFromStep stores one event with the lineage of the step that pushes it.
func (c *Client) pushFromStep(ctx context.Context, ev Event, runID, stepRunID string) (*PushResult, error) {
	res, err := c.push(ctx, ev, runID, stepRunID)
	if err != nil {
		return nil, fmt.Errorf("herald: pushing event %q from step-run %s: %w", ev.Key, stepRunID, err)
	}
	return res, nil
}

// BulkPush stores 1–1000 events at once, all or nothing, and returns one result
// per event in request order. If one event is invalid, nothing is stored and the
// error's Field names it (such as "events[3].key"). It retries on 429 and 503
// like Push.
func (c *Client) BulkPush(ctx context.Context, evs []Event) ([]PushResult, error) {
	req := wire.BulkPush{Events: make([]wire.EventPush, len(evs))}
	for i, ev := range evs {
		var err error
		if req.Events[i], err = eventPush(ev); err != nil {
			return nil, fmt.Errorf("herald: pushing %d events: events[%d]: %w", len(evs), i, err)
		}
	}
	var reply wire.BulkReply
	if err := c.call(ctx, http.MethodPost, "/events/bulk", nil, req, &reply, pushRetries); err != nil {
		return nil, fmt.Errorf("herald: pushing %d events: %w", len(evs), err)
	}
	if reply.Items == nil {
		return nil, nil
	}
	out := make([]PushResult, len(reply.Items))
	for i, r := range reply.Items {
		var err error
		if out[i], err = fromPushReply(r); err != nil {
			return nil, fmt.Errorf("herald: pushing %d events: decoding reply: %w", len(evs), err)
		}
	}
	return out, nil
}

// GetEvent returns one event with the runs it triggered and, when a step pushed
// it, its lineage.
func (c *Client) GetEvent(ctx context.Context, id string) (*EventInfo, error) {
	var reply wire.Event
	if err := c.call(ctx, http.MethodGet, "/events/"+pathEscape(id), nil, nil, &reply, 0); err != nil {
		return nil, fmt.Errorf("herald: getting event %s: %w", id, err)
	}
	ev, err := fromEvent(reply)
	if err != nil {
		return nil, fmt.Errorf("herald: getting event %s: %w", id, err)
	}
	return &ev, nil
}

// ListEventsParams filters and pages ListEvents.
type ListEventsParams struct {
	// Key keeps only the events with exactly this key, when set.
	Key string
	// KeyPrefix, Metadata, Since, Until, Status and Workflow filter further (search.go).
	KeyPrefix string
	Metadata  map[string]string
	Since     time.Time
	Until     time.Time
	Status    string
	Workflow  string
	// Cursor is the NextCursor of the previous page; empty for the first page.
	Cursor string
	// Limit is the page size, 1–500. Default: 50.
	Limit int
}

// EventPage is one page of events, newest first.
type EventPage struct {
	// Items are the events of this page.
	Items []EventInfo
	// NextCursor fetches the next page; it is empty on the last page.
	NextCursor string
}

// ListEvents lists events, newest first, one page at a time.
func (c *Client) ListEvents(ctx context.Context, p ListEventsParams) (*EventPage, error) {
	q := pageQuery(p.Cursor, p.Limit)
	if p.Key != "" {
		q.Set("key", p.Key)
	}
	p.search(q)
	var res wire.List[wire.Event]
	if err := c.call(ctx, http.MethodGet, "/events", q, nil, &res, 0); err != nil {
		return nil, fmt.Errorf("herald: listing events: %w", err)
	}
	items, err := fromEvents(res.Items)
	if err != nil {
		return nil, fmt.Errorf("herald: listing events: %w", err)
	}
	return &EventPage{Items: items, NextCursor: res.NextCursor}, nil
}

// ---------------------------------------------------------------------------
// Runs

// Statuses of runs and step-runs. A run goes queued → running → succeeded,
// failed or cancelled; a step-run starts pending when it has parents.
const (
	// StatusPending is a step-run waiting for its parents (step-runs only).
	StatusPending = "pending"
	// StatusQueued is a run or step-run ready to be claimed by a worker.
	StatusQueued = "queued"
	// StatusRunning is a run with a step started, or a step-run leased to a worker.
	StatusRunning = "running"
	// StatusSucceeded is a run whose steps all succeeded, or a succeeded step-run.
	StatusSucceeded = "succeeded"
	// StatusFailed is a run with a step that failed for good, or such a step-run.
	StatusFailed = "failed"
	// StatusCancelled is a cancelled run, or a step-run of a cancelled run.
	StatusCancelled = "cancelled"
)

// RunSummary is a run without its steps, as listed by ListRuns.
type RunSummary struct {
	// ID is the run's id.
	ID string `json:"id"`
	// Workflow is the name of the run's workflow.
	Workflow string `json:"workflow"`
	// Version is the workflow version the run uses.
	Version int `json:"version"`
	// Status is queued, running, succeeded, failed or cancelled.
	Status string `json:"status"`
	// EventID is the event that started the run; empty for a manual run.
	EventID string `json:"event_id,omitempty"`
	// Input is the run's input: the event's payload or the manual run's input.
	Input json.RawMessage `json:"input,omitempty"`
	// Error explains why the run failed.
	Error string `json:"error,omitempty"`
	// CreatedAt is when the run was created.
	CreatedAt time.Time `json:"created_at"`
	// StartedAt is when the first step started, or nil.
	StartedAt *time.Time `json:"started_at,omitempty"`
	// FinishedAt is when the run ended, or nil.
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// Done reports whether the run has ended: succeeded, failed or cancelled.
func (r *RunSummary) Done() bool {
	switch r.Status {
	case StatusSucceeded, StatusFailed, StatusCancelled:
		return true
	}
	return false
}

// Run is a run with its steps, as returned by GetRun.
type Run struct {
	RunSummary
	// Steps are the run's step-runs.
	Steps []StepRun `json:"steps"`
}

// Step returns the step-run of the named step, or nil.
func (r *Run) Step(name string) *StepRun {
	for i := range r.Steps {
		if r.Steps[i].Name == name {
			return &r.Steps[i]
		}
	}
	return nil
}

// StepRun is the execution state of one step of a run.
type StepRun struct {
	// ID is the step-run's id.
	ID string `json:"id"`
	// Name is the step's name.
	Name string `json:"name"`
	// Parents are the names of the steps this one waits for.
	Parents []string `json:"parents"`
	// Status is pending, queued, running, succeeded, failed or cancelled.
	Status string `json:"status"`
	// Attempt is the current (or last) attempt, starting at 1.
	Attempt int `json:"attempt"`
	// MaxAttempts is how many attempts the step gets.
	MaxAttempts int `json:"max_attempts"`
	// WorkerID is the worker running (or that last ran) the step.
	WorkerID string `json:"worker_id,omitempty"`
	// Output is the step's output, a JSON object, once it succeeded.
	Output json.RawMessage `json:"output,omitempty"`
	// Error is the error of the last failed attempt.
	Error string `json:"error,omitempty"`
	// QueuedAt is when the step became ready, or nil.
	QueuedAt *time.Time `json:"queued_at,omitempty"`
	// StartedAt is when the current attempt started, or nil.
	StartedAt *time.Time `json:"started_at,omitempty"`
	// FinishedAt is when the step ended, or nil.
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// GetRun returns one run with its steps.
func (c *Client) GetRun(ctx context.Context, id string) (*Run, error) {
	var reply wire.Run
	if err := c.call(ctx, http.MethodGet, "/runs/"+pathEscape(id), nil, nil, &reply, 0); err != nil {
		return nil, fmt.Errorf("herald: getting run %s: %w", id, err)
	}
	r := fromRun(reply)
	return &r, nil
}

// ListRunsParams filters and pages ListRuns.
type ListRunsParams struct {
	// Workflow keeps only the runs of this workflow, when set.
	Workflow string
	// Status keeps only the runs with this status, when set.
	Status string
	// EventID keeps only the runs started by this event, when set.
	EventID string
	// Key keeps only the runs whose event has exactly this key, when set; KeyPrefix,
	// those whose event's key starts with it.
	Key, KeyPrefix string
	// Metadata keeps the runs whose event's additional metadata has these values;
	// Since and Until bound their creation time (search.go).
	Metadata map[string]string
	Since    time.Time
	Until    time.Time
	// Cursor is the NextCursor of the previous page; empty for the first page.
	Cursor string
	// Limit is the page size, 1–500. Default: 50.
	Limit int
}

// RunPage is one page of runs, newest first.
type RunPage struct {
	// Items are the runs of this page.
	Items []RunSummary
	// NextCursor fetches the next page; it is empty on the last page.
	NextCursor string
}

// ListRuns lists runs, newest first, one page at a time.
func (c *Client) ListRuns(ctx context.Context, p ListRunsParams) (*RunPage, error) {
	q := pageQuery(p.Cursor, p.Limit)
	if p.Workflow != "" {
		q.Set("workflow", p.Workflow)
	}
	if p.Status != "" {
		q.Set("status", p.Status)
	}
	if p.EventID != "" {
		q.Set("event_id", p.EventID)
	}
	if p.Key != "" {
		q.Set("key", p.Key)
	}
	if p.KeyPrefix != "" {
		q.Set("key_prefix", p.KeyPrefix)
	}
	setSearch(q, p.Metadata, p.Since, p.Until)
	var res wire.List[wire.Run]
	if err := c.call(ctx, http.MethodGet, "/runs", q, nil, &res, 0); err != nil {
		return nil, fmt.Errorf("herald: listing runs: %w", err)
	}
	return &RunPage{Items: fromList(res.Items, fromRunSummary), NextCursor: res.NextCursor}, nil
}

// CancelRun cancels a run that has not ended and returns it. Workers holding its
// steps learn it at their next heartbeat. Cancelling a run that already ended
// fails with a 409 APIError.
func (c *Client) CancelRun(ctx context.Context, id string) (*Run, error) {
	var reply wire.Run
	if err := c.call(ctx, http.MethodPost, "/runs/"+pathEscape(id)+"/cancel", nil, struct{}{}, &reply, 0); err != nil {
		return nil, fmt.Errorf("herald: cancelling run %s: %w", id, err)
	}
	r := fromRun(reply)
	return &r, nil
}

// RunWorkflow starts a run of the named workflow without an event (a manual
// run), with input as the run's input (a value that encodes to a JSON object, or
// nil). It works on disabled workflows too.
func (c *Client) RunWorkflow(ctx context.Context, name string, input any) (*RunRef, error) {
	raw, err := marshalInput("input", input)
	var reply wire.RunRef
	if err == nil {
		err = c.call(ctx, http.MethodPost, "/workflows/"+pathEscape(name)+"/runs", nil, wire.RunStart{Input: raw}, &reply, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("herald: running workflow %q: %w", name, err)
	}
	ref := RunRef(reply)
	return &ref, nil
}

// ---------------------------------------------------------------------------
// Tokens and tenants

// Role is what an API token may do.
type Role string

// The roles of API tokens; docs/api.md has the whole table of who may do what.
const (
	// RoleOperator runs the server: it creates and lists tenants, manages the tokens of
	// every tenant and reads /metrics, besides all a tenant admin may do in its tenant.
	// The token created at the server's first start is one.
	RoleOperator Role = "operator"
	// RoleAdmin administers its own tenant: its tokens (not its operator tokens),
	// besides all a member may do.
	RoleAdmin Role = "admin"
	// RoleMember is the everyday token of producers, workers and the dashboard: events,
	// runs, workflows, filters, schemas and webhooks of its tenant.
	RoleMember Role = "member"
)

// CreateTokenParams describes a token to create.
type CreateTokenParams struct {
	// Name labels the token, such as "ci".
	Name string `json:"name"`
	// Tenant is the name of the tenant the token belongs to. Empty means the
	// caller's tenant; another tenant needs an operator token.
	Tenant string `json:"tenant,omitempty"`
	// Role is the token's role; empty means RoleMember. Creating tokens needs a
	// tenant admin or operator token, and none makes a token of a role above its own.
	Role Role `json:"role,omitempty"`
	// Admin is the field from before roles: true means RoleAdmin.
	Admin bool `json:"admin,omitempty"`
}

// TokenInfo describes an API token. The secret itself is never listed.
type TokenInfo struct {
	// ID is the token's id.
	ID string `json:"id"`
	// Name is the token's label.
	Name string `json:"name"`
	// Tenant is the name of the token's tenant.
	Tenant string `json:"tenant"`
	// Role is the token's role.
	Role Role `json:"role"`
	// Admin reports whether the token is a tenant admin or an operator.
	Admin bool `json:"admin"`
	// CreatedAt is when the token was created.
	CreatedAt time.Time `json:"created_at"`
	// RevokedAt is when the token was revoked; nil while it works.
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// CreateToken creates an API token and returns it with its secret ("hrld_..."),
// which is shown only this once.
func (c *Client) CreateToken(ctx context.Context, p CreateTokenParams) (tok *TokenInfo, secret string, err error) {
	var res wire.TokenCreated
	req := wire.TokenCreate{Name: p.Name, Tenant: p.Tenant, Role: string(p.Role), Admin: p.Admin}
	if err := c.call(ctx, http.MethodPost, "/tokens", nil, req, &res, 0); err != nil {
		return nil, "", fmt.Errorf("herald: creating token %q: %w", p.Name, err)
	}
	t := fromToken(res.Token)
	return &t, res.Secret, nil
}

// ListTokens lists the tokens of the caller's tenant, without their secrets.
func (c *Client) ListTokens(ctx context.Context) ([]TokenInfo, error) {
	return c.ListTenantTokens(ctx, "")
}

// ListTenantTokens lists the tokens of the tenant named (empty: the caller's),
// without their secrets. Another tenant needs an operator token.
func (c *Client) ListTenantTokens(ctx context.Context, tenant string) ([]TokenInfo, error) {
	var res wire.List[wire.Token]
	if err := c.call(ctx, http.MethodGet, "/tokens", tenantQuery(tenant), nil, &res, 0); err != nil {
		return nil, fmt.Errorf("herald: listing tokens: %w", err)
	}
	return fromList(res.Items, fromToken), nil
}

// RevokeToken revokes a token of the caller's tenant; requests carrying it then
// fail with 401. Any token may revoke itself; revoking another needs a tenant admin
// token, and an operator token's needs an operator token.
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	return c.RevokeTenantToken(ctx, "", id)
}

// RevokeTenantToken revokes a token of the tenant named (empty: the caller's), as
// RevokeToken does. Another tenant needs an operator token.
func (c *Client) RevokeTenantToken(ctx context.Context, tenant, id string) error {
	if err := c.call(ctx, http.MethodDelete, "/tokens/"+pathEscape(id), tenantQuery(tenant), nil, nil, 0); err != nil {
		return fmt.Errorf("herald: revoking token %s: %w", id, err)
	}
	return nil
}

// tenantQuery is the query naming a tenant of a token call, or nil for the caller's.
func tenantQuery(tenant string) url.Values {
	if tenant == "" {
		return nil
	}
	return url.Values{"tenant": {tenant}}
}

// TenantInfo describes a tenant.
type TenantInfo = wire.Tenant

// CreateTenant creates a tenant. It needs an operator token.
func (c *Client) CreateTenant(ctx context.Context, name string) (*TenantInfo, error) {
	var reply wire.Tenant
	if err := c.call(ctx, http.MethodPost, "/tenants", nil, wire.TenantCreate{Name: name}, &reply, 0); err != nil {
		return nil, fmt.Errorf("herald: creating tenant %q: %w", name, err)
	}
	return &reply, nil
}

// ListTenants lists all tenants. It needs an operator token.
func (c *Client) ListTenants(ctx context.Context) ([]TenantInfo, error) {
	var res wire.List[wire.Tenant]
	if err := c.call(ctx, http.MethodGet, "/tenants", nil, nil, &res, 0); err != nil {
		return nil, fmt.Errorf("herald: listing tenants: %w", err)
	}
	return res.Items, nil
}
