package store

import "github.com/heraldhq/herald/internal/wire"

// Trigger is one trigger of a workflow definition: an event key or key pattern, and
// optionally a CEL expression that must be true on the event for the trigger to fire
// (docs/triggers.md). It is the API's wire.Trigger: a stored definition is written in the
// JSON a client sends, a trigger without an expression as a plain string ("user:*"), so
// stored definitions read back unchanged and keep their content hash.
type Trigger = wire.Trigger

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
