package herald

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Trigger is a trigger with a condition: an event whose key matches Key (an exact key or
// a pattern ending in "*") starts a run only when Expression, a CEL expression over the
// event, is true. The expression sees input (the payload), additional_metadata, key and
// scope, and must give a bool:
//
//	herald.Trigger{Key: "order:paid", Expression: "input.amount > 100"}
//
// The engine compiles and type-checks it when the workflow is stored and refuses a bad
// one; one that fails on an event (a missing field, say) does not trigger, and the event
// records why. See docs/triggers.md.
type Trigger struct {
	// Key is the event key or pattern the trigger listens to.
	Key string `json:"key"`
	// Expression is the CEL condition; empty means none (the trigger is a plain key).
	Expression string `json:"expression,omitempty"`
}

// MarshalJSON writes the trigger as the API takes it: a plain string without an
// expression, else an object.
func (t Trigger) MarshalJSON() ([]byte, error) {
	if t.Expression == "" {
		return json.Marshal(t.Key)
	}
	type plain Trigger
	return json.Marshal(plain(t))
}

// UnmarshalJSON reads a trigger written as a string or as an object.
func (t *Trigger) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var k string
		if err := json.Unmarshal(b, &k); err != nil {
			return err
		}
		*t = Trigger{Key: k}
		return nil
	}
	if len(b) == 0 || b[0] != '{' {
		return errors.New("a trigger is a string or an object with key and expression")
	}
	type plain Trigger
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*t = Trigger(p)
	return nil
}

// mixTriggers is the "triggers" array of the wire: plain keys, then conditional triggers.
func mixTriggers(keys []string, conds []Trigger) []Trigger {
	out := make([]Trigger, 0, len(keys)+len(conds))
	for _, k := range keys {
		out = append(out, Trigger{Key: k})
	}
	return append(out, conds...)
}

// splitTriggers splits a "triggers" array of the wire into plain keys and conditional
// triggers.
func splitTriggers(ts []Trigger) (keys []string, conds []Trigger) {
	keys = []string{}
	for _, t := range ts {
		if t.Expression == "" {
			keys = append(keys, t.Key)
		} else {
			conds = append(conds, t)
		}
	}
	return keys, conds
}

// workflowDefinitionJSON is the wire shape of WorkflowDefinition (field order as in
// docs/api.md). TestWireShapesCoverEveryField keeps it in step with the struct.
type workflowDefinitionJSON struct {
	Name        string           `json:"name"`
	Description string           `json:"description,omitempty"`
	Triggers    []Trigger        `json:"triggers"`
	Steps       []StepDefinition `json:"steps"`
}

// MarshalJSON writes the definition as docs/api.md shows it: Triggers and
// ConditionalTriggers together in "triggers".
func (d WorkflowDefinition) MarshalJSON() ([]byte, error) {
	return json.Marshal(workflowDefinitionJSON{Name: d.Name, Description: d.Description,
		Triggers: mixTriggers(d.Triggers, d.ConditionalTriggers), Steps: d.Steps})
}

// UnmarshalJSON reads a definition whose "triggers" mixes strings and objects.
func (d *WorkflowDefinition) UnmarshalJSON(b []byte) error {
	var w workflowDefinitionJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*d = WorkflowDefinition{Name: w.Name, Description: w.Description, Steps: w.Steps}
	d.Triggers, d.ConditionalTriggers = splitTriggers(w.Triggers)
	return nil
}

// workflowInfoJSON is the wire shape of WorkflowInfo.
type workflowInfoJSON struct {
	Name        string           `json:"name"`
	Description string           `json:"description,omitempty"`
	Active      bool             `json:"active"`
	Version     int              `json:"version"`
	Triggers    []Trigger        `json:"triggers"`
	Steps       []StepDefinition `json:"steps"`
	CreatedAt   time.Time        `json:"created_at"`
	UpdatedAt   time.Time        `json:"updated_at"`
}

// MarshalJSON writes the workflow with Triggers and ConditionalTriggers together in
// "triggers".
func (wi WorkflowInfo) MarshalJSON() ([]byte, error) {
	return json.Marshal(workflowInfoJSON{Name: wi.Name, Description: wi.Description, Active: wi.Active, Version: wi.Version,
		Triggers: mixTriggers(wi.Triggers, wi.ConditionalTriggers), Steps: wi.Steps, CreatedAt: wi.CreatedAt, UpdatedAt: wi.UpdatedAt})
}

// UnmarshalJSON reads a workflow whose "triggers" mixes strings and objects.
func (wi *WorkflowInfo) UnmarshalJSON(b []byte) error {
	var w workflowInfoJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*wi = WorkflowInfo{Name: w.Name, Description: w.Description, Active: w.Active, Version: w.Version, Steps: w.Steps,
		CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt}
	wi.Triggers, wi.ConditionalTriggers = splitTriggers(w.Triggers)
	return nil
}

// validTrigger checks a trigger key the way the engine does, without its expression
// (which only the engine compiles).
func validTrigger(t string) error {
	switch {
	case t == "":
		return errors.New("is empty")
	case len(t) > maxKeyLen:
		return fmt.Errorf("is longer than %d bytes", maxKeyLen)
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-', c == ':', c == '/':
		case c == '*' && i == len(t)-1:
		case c == '*':
			return errors.New("has a \"*\" before its end; a wildcard is allowed only as the last character")
		default:
			return fmt.Errorf("contains %q; allowed are A-Z a-z 0-9 . _ - : / and a final *", c)
		}
	}
	return nil
}
