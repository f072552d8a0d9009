package herald

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/wire"
)

// RetryPolicy says how often and how fast a failed step is tried again. A zero
// field takes the engine's default.
type RetryPolicy struct {
	// MaxAttempts is how many attempts the step gets in all, 1–100. Default: 3.
	MaxAttempts int
	// InitialBackoff is the wait before the second attempt. Default: 1s.
	InitialBackoff time.Duration
	// MaxBackoff caps the wait between attempts. Default: 1m.
	MaxBackoff time.Duration
	// Multiplier grows the wait after each failed attempt. Default: 2.
	Multiplier float64
}

// retryPolicyJSON is the wire shape of RetryPolicy.
type retryPolicyJSON struct {
	MaxAttempts    int          `json:"max_attempts,omitzero"`
	InitialBackoff jsonDuration `json:"initial_backoff,omitzero"`
	MaxBackoff     jsonDuration `json:"max_backoff,omitzero"`
	Multiplier     float64      `json:"multiplier,omitzero"`
}

// MarshalJSON encodes the policy as in docs/api.md, with durations as strings
// such as "1s" and zero fields left out.
func (p RetryPolicy) MarshalJSON() ([]byte, error) {
	return json.Marshal(retryPolicyJSON{
		MaxAttempts:    p.MaxAttempts,
		InitialBackoff: jsonDuration(p.InitialBackoff),
		MaxBackoff:     jsonDuration(p.MaxBackoff),
		Multiplier:     p.Multiplier,
	})
}

// UnmarshalJSON decodes the policy from its docs/api.md form.
func (p *RetryPolicy) UnmarshalJSON(b []byte) error {
	var w retryPolicyJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*p = RetryPolicy{
		MaxAttempts:    w.MaxAttempts,
		InitialBackoff: time.Duration(w.InitialBackoff),
		MaxBackoff:     time.Duration(w.MaxBackoff),
		Multiplier:     w.Multiplier,
	}
	return nil
}

// jsonDuration is a time.Duration encoded as a Go duration string ("30s", "1m").
type jsonDuration time.Duration

// MarshalJSON encodes the duration as a string such as "90s" or "1m".
func (d jsonDuration) MarshalJSON() ([]byte, error) {
	return json.Marshal(formatDuration(time.Duration(d)))
}

// UnmarshalJSON accepts a duration string ("1m30s"), an empty string or null
// (zero), or a number of nanoseconds.
func (d *jsonDuration) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" {
		*d = 0
		return nil
	}
	if strings.HasPrefix(s, `"`) {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		if str == "" {
			*d = 0
			return nil
		}
		v, err := time.ParseDuration(str)
		if err != nil {
			return fmt.Errorf("invalid duration %q: %w", str, err)
		}
		*d = jsonDuration(v)
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("invalid duration %s", s)
	}
	*d = jsonDuration(n)
	return nil
}

// formatDuration writes d like time.Duration.String but without zero trailing
// units: "1m" instead of "1m0s", "2h" instead of "2h0m0s".
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// WorkflowDefinition is a workflow as the engine stores it (the JSON definition
// of docs/api.md): a name, the event keys that trigger it and a DAG of steps.
// Durations are time.Duration in Go and strings such as "30s" on the wire.
//
// A Worker builds the definition from its registered Workflows; PutWorkflow
// stores one directly.
type WorkflowDefinition struct {
	// Name is 1–128 bytes of A-Z a-z 0-9 . _ -.
	Name string `json:"name"`
	// Description says what the workflow does.
	Description string `json:"description,omitempty"`
	// Triggers are the event keys (or key patterns) that start a run. A workflow
	// without triggers runs only manually.
	Triggers []string `json:"triggers"`
	// ConditionalTriggers are triggers with a CEL condition on the event. On the
	// wire they share "triggers" with Triggers (as objects).
	ConditionalTriggers []Trigger `json:"-"`
	// Steps are the workflow's steps; they must form a DAG.
	Steps []StepDefinition `json:"steps"`
}

// StepDefinition is one step of a WorkflowDefinition.
type StepDefinition struct {
	// Name is 1–128 bytes of A-Z a-z 0-9 . _ -, unique in the workflow.
	Name string
	// Parents are the steps that must succeed before this one runs; their
	// outputs are passed to it.
	Parents []string
	// Timeout bounds one attempt, 1s–24h. Zero means the default, 60s.
	Timeout time.Duration
	// Retry says how failed attempts are retried. Zero fields take the defaults.
	Retry RetryPolicy
}

// stepDefinitionJSON is the wire shape of StepDefinition.
type stepDefinitionJSON struct {
	Name    string       `json:"name"`
	Parents []string     `json:"parents,omitempty"`
	Timeout jsonDuration `json:"timeout,omitzero"`
	Retry   RetryPolicy  `json:"retry,omitzero"`
}

// MarshalJSON encodes the step as in docs/api.md, with the timeout as a string
// such as "30s" and zero fields left out.
func (s StepDefinition) MarshalJSON() ([]byte, error) {
	return json.Marshal(stepDefinitionJSON{
		Name: s.Name, Parents: s.Parents, Timeout: jsonDuration(s.Timeout), Retry: s.Retry,
	})
}

// UnmarshalJSON decodes the step from its docs/api.md form.
func (s *StepDefinition) UnmarshalJSON(b []byte) error {
	var w stepDefinitionJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*s = StepDefinition{Name: w.Name, Parents: w.Parents, Timeout: time.Duration(w.Timeout), Retry: w.Retry}
	return nil
}

// WorkflowInfo is a stored workflow: its current definition plus its state.
type WorkflowInfo struct {
	// Name is the workflow's name.
	Name string `json:"name"`
	// Description says what the workflow does.
	Description string `json:"description,omitempty"`
	// Active is false when the workflow is disabled: events then skip it.
	Active bool `json:"active"`
	// Version is the current version; every changed definition adds one.
	Version int `json:"version"`
	// Triggers are the event keys (or key patterns) that start a run.
	Triggers []string `json:"triggers"`
	// ConditionalTriggers are the triggers with a CEL condition.
	ConditionalTriggers []Trigger `json:"-"`
	// Steps are the steps of the current version.
	Steps []StepDefinition `json:"steps"`
	// CreatedAt is when the workflow was first stored.
	CreatedAt time.Time `json:"created_at"`
	// UpdatedAt is when the workflow last changed.
	UpdatedAt time.Time `json:"updated_at"`
}

// PutWorkflow creates or updates the workflow named def.Name. If def differs
// from the current version, a new version is created and becomes current
// (createdVersion is true); runs keep the version they started with.
func (c *Client) PutWorkflow(ctx context.Context, def WorkflowDefinition) (wf *WorkflowInfo, createdVersion bool, err error) {
	if def.Name == "" {
		return nil, false, errors.New("herald: putting workflow: name must not be empty")
	}
	if def.Triggers == nil {
		def.Triggers = []string{}
	}
	if def.Steps == nil {
		def.Steps = []StepDefinition{}
	}
	var res wire.PutWorkflowReply
	if err := c.call(ctx, http.MethodPut, "/workflows/"+pathEscape(def.Name), nil, toWorkflowDef(def), &res, pushRetries); err != nil {
		return nil, false, fmt.Errorf("herald: putting workflow %q: %w", def.Name, err)
	}
	info := fromWorkflow(res.Workflow)
	return &info, res.CreatedVersion, nil
}

// ListWorkflows lists the workflows of the caller's tenant.
func (c *Client) ListWorkflows(ctx context.Context) ([]WorkflowInfo, error) {
	var res wire.List[wire.Workflow]
	if err := c.call(ctx, http.MethodGet, "/workflows", nil, nil, &res, 0); err != nil {
		return nil, fmt.Errorf("herald: listing workflows: %w", err)
	}
	return fromList(res.Items, fromWorkflow), nil
}

// GetWorkflow returns the current version of the named workflow.
func (c *Client) GetWorkflow(ctx context.Context, name string) (*WorkflowInfo, error) {
	var reply wire.Workflow
	if err := c.call(ctx, http.MethodGet, "/workflows/"+pathEscape(name), nil, nil, &reply, 0); err != nil {
		return nil, fmt.Errorf("herald: getting workflow %q: %w", name, err)
	}
	wf := fromWorkflow(reply)
	return &wf, nil
}

// EnableWorkflow enables the named workflow: matching events start runs again.
func (c *Client) EnableWorkflow(ctx context.Context, name string) (*WorkflowInfo, error) {
	var reply wire.Workflow
	if err := c.call(ctx, http.MethodPost, "/workflows/"+pathEscape(name)+"/enable", nil, struct{}{}, &reply, 0); err != nil {
		return nil, fmt.Errorf("herald: enabling workflow %q: %w", name, err)
	}
	wf := fromWorkflow(reply)
	return &wf, nil
}

// DisableWorkflow disables the named workflow: matching events record it as
// skipped instead of starting a run. Manual runs still work.
func (c *Client) DisableWorkflow(ctx context.Context, name string) (*WorkflowInfo, error) {
	var reply wire.Workflow
	if err := c.call(ctx, http.MethodPost, "/workflows/"+pathEscape(name)+"/disable", nil, struct{}{}, &reply, 0); err != nil {
		return nil, fmt.Errorf("herald: disabling workflow %q: %w", name, err)
	}
	wf := fromWorkflow(reply)
	return &wf, nil
}

// ---------------------------------------------------------------------------
// Workflows run by a Worker

// Step is one step of a Workflow: a function the worker runs when the step's
// parents have succeeded.
type Step struct {
	// Name is 1–128 bytes of A-Z a-z 0-9 . _ -, unique in the workflow.
	Name string
	// Parents are the names of the steps that must succeed first. Their outputs
	// are available through StepContext.ParentOutput.
	Parents []string
	// Timeout bounds one attempt, 1s–24h; Run's context is cancelled when it
	// ends. Zero means the engine's default, 60s.
	Timeout time.Duration
	// Retry says how failed attempts are retried. The zero value takes the
	// engine's defaults (3 attempts, 1s backoff doubling up to 1m).
	Retry RetryPolicy
	// Run does the step's work. Its result must encode to a JSON object (a
	// struct, a map, or nil for {}). A returned error fails the attempt; wrap it
	// with NonRetryable to fail the step (and the run) without further attempts.
	// Delivery is at least once: write Run so that running it twice is harmless.
	Run func(ctx context.Context, sc *StepContext) (any, error)
}

// Workflow is a workflow that a Worker registers with the engine and runs.
type Workflow struct {
	// Name is 1–128 bytes of A-Z a-z 0-9 . _ -.
	Name string
	// Description says what the workflow does.
	Description string
	// Triggers are the event keys (or key patterns) that start a run. A workflow
	// without triggers runs only manually.
	Triggers []string
	// ConditionalTriggers are triggers that start a run only when their CEL
	// expression is true on the event (docs/triggers.md).
	ConditionalTriggers []Trigger
	// Steps are the workflow's steps; they must form a DAG.
	Steps []Step
}

// Definition returns the JSON definition of the workflow that a Worker stores
// with PutWorkflow.
func (wf Workflow) Definition() WorkflowDefinition {
	def := WorkflowDefinition{
		Name:        wf.Name,
		Description: wf.Description,
		Triggers:    append([]string{}, wf.Triggers...),
		Steps:       make([]StepDefinition, len(wf.Steps)),
	}
	if len(wf.ConditionalTriggers) > 0 {
		def.ConditionalTriggers = append([]Trigger(nil), wf.ConditionalTriggers...)
	}
	for i, s := range wf.Steps {
		var parents []string
		if len(s.Parents) > 0 {
			parents = append(parents, s.Parents...)
		}
		def.Steps[i] = StepDefinition{Name: s.Name, Parents: parents, Timeout: s.Timeout, Retry: s.Retry}
	}
	return def
}

// Limits of a workflow definition (docs/api.md).
const (
	maxNameLen     = 128
	maxKeyLen      = 255
	minStepTimeout = time.Second
	maxStepTimeout = 24 * time.Hour
	maxAttemptsCap = 100
	maxMultiplier  = 10
	maxDescription = 4096
	maxSteps       = 500

	defaultInitialBackoff = time.Second
	defaultMaxBackoff     = time.Minute
)

// validName reports whether s is 1–128 bytes of A-Z a-z 0-9 . _ -.
func validName(s string) bool {
	if len(s) == 0 || len(s) > maxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// validate checks the workflow the way the engine will, so that mistakes show
// up at Register rather than at Run: valid names, known and distinct parents,
// no cycle, timeouts and retry settings in range, and a Run function per step.
func (wf Workflow) validate() error {
	if !validName(wf.Name) {
		return fmt.Errorf("herald: invalid workflow name %q: want 1–128 bytes of A-Z a-z 0-9 . _ -", wf.Name)
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("herald: workflow %q: %s", wf.Name, fmt.Sprintf(format, args...))
	}
	seenTrig := make(map[string]bool, len(wf.Triggers))
	for i, t := range wf.Triggers {
		switch {
		case t == "":
			return fail("trigger %d is empty", i)
		case len(t) > maxKeyLen:
			return fail("trigger %q is longer than %d bytes", t, maxKeyLen)
		case strings.ContainsAny(t, " \t\r\n"):
			return fail("trigger %q contains whitespace", t)
		case strings.Contains(strings.TrimSuffix(t, "*"), "*"):
			return fail("trigger %q has a \"*\" before its end; a wildcard is allowed only as the last character", t)
		case seenTrig[t]:
			return fail("duplicate trigger %q", t)
		}
		seenTrig[t] = true
	}
	seenCond := make(map[Trigger]bool, len(wf.ConditionalTriggers))
	for _, t := range wf.ConditionalTriggers {
		if err := validTrigger(t.Key); err != nil {
			return fail("conditional trigger %q %v", t.Key, err)
		}
		if seenCond[t] {
			return fail("duplicate conditional trigger %q if %s", t.Key, t.Expression)
		}
		seenCond[t] = true
	}
	if len(wf.Description) > maxDescription {
		return fail("description is longer than %d bytes", maxDescription)
	}
	if len(wf.Steps) == 0 {
		return fail("has no steps")
	}
	if len(wf.Steps) > maxSteps {
		return fail("has %d steps; the limit is %d", len(wf.Steps), maxSteps)
	}
	index := make(map[string]int, len(wf.Steps))
	for i, s := range wf.Steps {
		if !validName(s.Name) {
			return fail("invalid step name %q: want 1–128 bytes of A-Z a-z 0-9 . _ -", s.Name)
		}
		if _, dup := index[s.Name]; dup {
			return fail("duplicate step %q", s.Name)
		}
		index[s.Name] = i
	}
	for _, s := range wf.Steps {
		step := func(format string, args ...any) error {
			return fail("step %q: %s", s.Name, fmt.Sprintf(format, args...))
		}
		if s.Run == nil {
			return step("Run is nil")
		}
		seen := make(map[string]bool, len(s.Parents))
		for _, p := range s.Parents {
			switch {
			case p == s.Name:
				return step("is its own parent")
			case seen[p]:
				return step("parent %q listed twice", p)
			}
			if _, ok := index[p]; !ok {
				return step("parent %q does not exist", p)
			}
			seen[p] = true
		}
		if s.Timeout != 0 && (s.Timeout < minStepTimeout || s.Timeout > maxStepTimeout) {
			return step("timeout %s out of range (1s–24h)", s.Timeout)
		}
		r := s.Retry
		initial, maxB := r.InitialBackoff, r.MaxBackoff
		if initial == 0 {
			initial = defaultInitialBackoff
		}
		if maxB == 0 {
			maxB = defaultMaxBackoff
		}
		switch {
		case r.MaxAttempts < 0 || r.MaxAttempts > maxAttemptsCap:
			return step("retry max attempts %d out of range (1–100)", r.MaxAttempts)
		case r.InitialBackoff < 0:
			return step("retry initial backoff %s is negative", r.InitialBackoff)
		case r.MaxBackoff < 0:
			return step("retry max backoff %s is negative", r.MaxBackoff)
		case maxB > maxStepTimeout:
			return step("retry max backoff %s is over 24h", r.MaxBackoff)
		case maxB < initial:
			return step("retry max backoff %s is below the initial backoff %s (a zero field means the default: initial 1s, max 1m)", maxB, initial)
		case r.Multiplier < 0 || (r.Multiplier > 0 && r.Multiplier < 1) || r.Multiplier > maxMultiplier:
			return step("retry multiplier %g out of range (1–10)", r.Multiplier)
		}
	}
	if cycle := findCycle(wf.Steps, index); cycle != nil {
		return fail("steps form a cycle: %s", strings.Join(cycle, " -> "))
	}
	return nil
}

// findCycle returns the names along a cycle of the parent graph (first name
// repeated at the end), or nil when the steps form a DAG. Parents must exist.
func findCycle(steps []Step, index map[string]int) []string {
	const (
		unvisited = iota
		visiting
		done
	)
	state := make([]int, len(steps))
	var path []int
	var cycle []string
	var visit func(i int) bool
	visit = func(i int) bool {
		state[i] = visiting
		path = append(path, i)
		for _, p := range steps[i].Parents {
			j := index[p]
			switch state[j] {
			case visiting:
				start := 0
				for k, n := range path {
					if n == j {
						start = k
						break
					}
				}
				for _, n := range path[start:] {
					cycle = append(cycle, steps[n].Name)
				}
				cycle = append(cycle, steps[j].Name)
				return true
			case unvisited:
				if visit(j) {
					return true
				}
			}
		}
		path = path[:len(path)-1]
		state[i] = done
		return false
	}
	for i := range steps {
		if state[i] == unvisited && visit(i) {
			return cycle
		}
	}
	return nil
}
