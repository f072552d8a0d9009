package store

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Trigger is one trigger of a workflow definition: an event key or key pattern, and
// optionally a CEL expression that must be true on the event for the trigger to fire
// (docs/triggers.md).
//
// In JSON a trigger without an expression is a plain string ("user:*"), the form every
// definition had before expressions existed, so stored definitions read back unchanged
// and keep their content hash; one with an expression is an object
// {"key": "user:*", "expression": "input.amount > 100"}. Both forms are read.
type Trigger struct {
	Key        string `json:"key"`
	Expression string `json:"expression,omitempty"`
}

// MarshalJSON writes the trigger as a string when it has no expression, else as an object.
func (t Trigger) MarshalJSON() ([]byte, error) {
	if t.Expression == "" {
		return json.Marshal(t.Key)
	}
	type plain Trigger
	return json.Marshal(plain(t))
}

// UnmarshalJSON reads a trigger written as a string or as an object with "key" and
// "expression"; other fields in the object are refused.
func (t *Trigger) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) > 0 && b[0] == '"':
		var k string
		if err := json.Unmarshal(b, &k); err != nil {
			return err
		}
		*t = Trigger{Key: k}
		return nil
	case len(b) > 0 && b[0] == '{':
		type plain Trigger
		var p plain
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			return fmt.Errorf("a trigger is a string or an object {\"key\", \"expression\"}: %w", err)
		}
		*t = Trigger(p)
		return nil
	}
	return fmt.Errorf("a trigger is a string or an object {\"key\", \"expression\"}, not %s", b)
}

// String shows the trigger as people read it: the key, then " if <expression>" when it
// has one.
func (t Trigger) String() string {
	if t.Expression == "" {
		return t.Key
	}
	return t.Key + " if " + t.Expression
}

// Keys returns the triggers' keys, in order.
func Keys(ts []Trigger) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Key
	}
	return out
}

// PlainTriggers returns triggers without expressions for keys, in order.
func PlainTriggers(keys ...string) []Trigger {
	out := make([]Trigger, len(keys))
	for i, k := range keys {
		out[i] = Trigger{Key: k}
	}
	return out
}
