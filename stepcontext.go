package herald

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// StepContext describes the step-run being executed and gives a step access to
// its input, its parents' outputs, a logger and event pushes that record
// lineage. A Worker passes one to each Step.Run call; it is valid for the
// duration of that call.
type StepContext struct {
	a      *assignment
	client *Client
	logger *slog.Logger
}

// RunID returns the id of the run the step belongs to.
func (sc *StepContext) RunID() string { return sc.a.RunID }

// StepRunID returns the id of this step-run. It is the same for every attempt,
// which makes it a good idempotency key for side effects.
func (sc *StepContext) StepRunID() string { return sc.a.StepRunID }

// Workflow returns the name of the run's workflow.
func (sc *StepContext) Workflow() string { return sc.a.Workflow }

// Version returns the workflow version the run uses.
func (sc *StepContext) Version() int { return sc.a.Version }

// Step returns the name of the step being executed.
func (sc *StepContext) Step() string { return sc.a.Step }

// Attempt returns the current attempt, starting at 1.
func (sc *StepContext) Attempt() int { return sc.a.Attempt }

// MaxAttempts returns how many attempts the step gets in all; the attempt with
// Attempt() == MaxAttempts() is the last one.
func (sc *StepContext) MaxAttempts() int { return sc.a.MaxAttempts }

// EventID returns the id of the event that started the run, or "" for a
// manual run.
func (sc *StepContext) EventID() string { return sc.a.EventID }

// Deadline returns when the attempt's execution timeout ends, as set by the
// engine; the step's context is cancelled then. It is zero when unknown.
func (sc *StepContext) Deadline() time.Time { return sc.a.Deadline }

// Input decodes the run's input (the triggering event's payload, or the manual
// run's input) into v, as json.Unmarshal does.
func (sc *StepContext) Input(v any) error {
	in := sc.a.Input
	if isJSONNull(in) {
		in = json.RawMessage("{}")
	}
	if err := json.Unmarshal(in, v); err != nil {
		return fmt.Errorf("herald: decoding input of step %q: %w", sc.a.Step, err)
	}
	return nil
}

// ParentOutput decodes the output of the named parent step into v, as
// json.Unmarshal does. It fails when step is not a parent of this step.
func (sc *StepContext) ParentOutput(step string, v any) error {
	out, ok := sc.a.Parents[step]
	if !ok {
		return fmt.Errorf("herald: step %q has no parent %q", sc.a.Step, step)
	}
	if isJSONNull(out) {
		out = json.RawMessage("{}")
	}
	if err := json.Unmarshal(out, v); err != nil {
		return fmt.Errorf("herald: decoding output of parent %q of step %q: %w", step, sc.a.Step, err)
	}
	return nil
}

// Push pushes an event on behalf of this step. The event records its lineage:
// the run and step-run that pushed it. Like Client.Push, it retries on 429 and 503.
func (sc *StepContext) Push(ctx context.Context, ev Event) (*PushResult, error) {
	return sc.client.pushFromStep(ctx, ev, sc.a.RunID, sc.a.StepRunID)
}

// Logger returns the worker's logger with the workflow, step, run, step-run and
// attempt as attributes.
func (sc *StepContext) Logger() *slog.Logger { return sc.logger }

// isJSONNull reports whether raw is empty or the JSON null.
func isJSONNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || bytes.Equal(t, []byte("null"))
}

// nonRetryableError marks an error as final: the step fails without further
// attempts.
type nonRetryableError struct{ err error }

// Error returns the wrapped error's text, unchanged.
func (e *nonRetryableError) Error() string { return e.err.Error() }

// Unwrap returns the wrapped error.
func (e *nonRetryableError) Unwrap() error { return e.err }

// NonRetryable marks err as a failure that retrying cannot fix: when a step
// returns it (or an error wrapping it), the step fails at once, whatever
// attempts it has left, and so does its run. NonRetryable(nil) returns nil.
func NonRetryable(err error) error {
	if err == nil {
		return nil
	}
	return &nonRetryableError{err: err}
}

// isRetryable reports whether a step error may be retried, that is, whether
// no error in its chain was marked with NonRetryable.
func isRetryable(err error) bool {
	var nr *nonRetryableError
	return !errors.As(err, &nr)
}

// encodeOutput encodes a step's result as the JSON object the engine stores.
// nil (or anything encoding to null) gives {}; a value that encodes to anything
// but an object is an error.
func encodeOutput(v any) (json.RawMessage, error) {
	if v == nil {
		return json.RawMessage("{}"), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("herald: encoding step output: %w", err)
	}
	t := bytes.TrimSpace(b)
	switch {
	case bytes.Equal(t, []byte("null")):
		return json.RawMessage("{}"), nil
	case len(t) > 0 && t[0] == '{':
		return json.RawMessage(t), nil
	}
	return nil, fmt.Errorf("herald: step output must be a JSON object (a struct, a map or nil), got %T encoding to %s", v, jsonKind(t))
}

// jsonKind names the kind of an encoded JSON value.
func jsonKind(b []byte) string {
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	}
	return "a number"
}
