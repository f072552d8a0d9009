// Package model holds the Go types of Herald's GraphQL schema: the ones gqlgen generates
// (models_gen.go) and the ones written here, which the resolvers fill from the store.
package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	gqlgen "github.com/99designs/gqlgen/graphql"

	"github.com/heraldhq/herald/internal/store"
)

// InputError is an input value its scalar refuses: INVALID_ARGUMENT, naming the value.
type InputError struct {
	Message string
}

// Error implements error.
func (e *InputError) Error() string { return e.Message }

// JSONObject is the Map scalar: a JSON object, kept as its encoding so that a payload is
// answered byte for byte as stored.
type JSONObject json.RawMessage

// MarshalGQL writes the object as it is ("{}" when empty).
func (o JSONObject) MarshalGQL(w io.Writer) {
	if len(o) == 0 {
		io.WriteString(w, "{}")
		return
	}
	w.Write(o)
}

// UnmarshalGQL reads an input value, which must be an object: a GraphQL object value or a
// JSON object of the variables.
func (o *JSONObject) UnmarshalGQL(v any) error {
	m, ok := v.(map[string]any)
	if !ok {
		return &InputError{Message: "must be an object, not " + kindOf(v)}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return &InputError{Message: "cannot be encoded as JSON: " + err.Error()}
	}
	*o = JSONObject(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	return nil
}

// kindOf names the JSON kind of an input value, for error messages.
func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case json.Number, int, int32, int64, float32, float64:
		return "a number"
	}
	return fmt.Sprintf("%T", v)
}

// MarshalTime writes a time as RFC 3339 in UTC, with milliseconds as stored.
func MarshalTime(t time.Time) gqlgen.Marshaler {
	return gqlgen.WriterFunc(func(w io.Writer) {
		io.WriteString(w, strconv.Quote(t.UTC().Format(time.RFC3339Nano)))
	})
}

// UnmarshalTime reads an RFC 3339 time.
func UnmarshalTime(v any) (time.Time, error) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, &InputError{Message: "must be an RFC 3339 time string, not " + kindOf(v)}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, &InputError{Message: "must be an RFC 3339 time, e.g. 2026-01-02T15:04:05Z"}
	}
	return t.UTC(), nil
}

// Event is an event as the API shows it: delivered, or delayed.
type Event struct {
	ID              string
	Key             string
	Payload         JSONObject
	Metadata        JSONObject
	Source          string
	Scope           *string
	Status          string
	DeliverAt       *time.Time
	DeliveryError   *string
	CreatedAt       time.Time
	ParentRunID     *string
	ParentStepRunID *string
	ParentStep      *string
	Webhook         *string
	ReplayOf        *string
	Triggers        []TriggerDecision

	// Delayed marks an event that has not been delivered: it has started no run. Not in
	// the schema.
	Delayed bool
}

// Run is a run as the API shows it.
type Run struct {
	ID         string
	Workflow   string
	Version    int
	Status     string
	EventID    *string
	Input      JSONObject
	Error      *string
	CreatedAt  time.Time
	StartedAt  *time.Time
	FinishedAt *time.Time

	// LoadedSteps holds the run's steps when they were read with it (the run query); the
	// steps resolver reads them otherwise. Not in the schema.
	LoadedSteps []store.StepRun
}

// SendCustomEventResponse is the answer to sendCustomEvent.
type SendCustomEventResponse struct {
	Success   bool
	Workflows []TemporalWorkflow
	EventID   string
	Duplicate bool
	DeliverAt *time.Time

	// Stored is the event as committed (the original, for a duplicate), and Scheduled
	// the delayed event when it is one; the event resolver shows them. Not in the schema.
	Stored    store.Event
	Scheduled *store.ScheduledEvent
}
