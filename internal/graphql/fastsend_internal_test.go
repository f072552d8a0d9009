package graphql

import (
	"maps"
	"testing"

	"github.com/vektah/gqlparser/v2"

	"github.com/heraldhq/herald/internal/graphql/generated"
)

// TestSendPlanKnowsTheSchema fails when schema.graphql changed a type a sendPlan reads or
// writes: sendInput reads every field of the inputs by its type (none has a default, which
// gqlgen would fill in), and the plan answers the leaves of the response types. A new
// field is safe (sendInput leaves an input that has it to gqlgen, and the plan a document
// that selects it), but the plan must learn it to run it.
func TestSendPlanKnowsTheSchema(t *testing.T) {
	schema := generated.NewExecutableSchema(generated.Config{Resolvers: &resolver{}}).Schema()
	for _, tc := range []struct {
		typ    string
		fields map[string]string // name: type, as sendInput reads it or the plan writes it
	}{
		{"SendCustomEventInput", map[string]string{"type": "String!", "operation": "String!", "payload": "CustomEventPayloadInput!",
			"idempotencyKey": "String", "metadata": "Map", "scope": "String", "delay": "String", "deliverAt": "Time"}},
		{"CustomEventPayloadInput", map[string]string{"id": "ID!", "data": "Map"}},
		{"SendCustomEventResponse", map[string]string{"success": "Boolean!", "eventID": "ID!", "duplicate": "Boolean!",
			"deliverAt": "Time", "workflows": "[TemporalWorkflow!]!", "event": "Event!"}},
		{"TemporalWorkflow", map[string]string{"type": "String!", "id": "ID!", "runID": "ID!"}},
	} {
		def := schema.Types[tc.typ]
		if def == nil {
			t.Fatalf("%s is not in the schema", tc.typ)
		}
		got := map[string]string{}
		for _, f := range def.Fields {
			got[f.Name] = f.Type.String()
			if f.DefaultValue != nil {
				t.Errorf("%s.%s has a default value; sendInput does not fill it in", tc.typ, f.Name)
			}
		}
		if !maps.Equal(got, tc.fields) {
			t.Errorf("%s has the fields %v; the plan knows %v", tc.typ, got, tc.fields)
		}
	}
}

// TestSendPlanWithinLimits: a document over the depth or cost limit gets no plan, so that
// the executor refuses it as any other.
func TestSendPlanWithinLimits(t *testing.T) {
	schema := generated.NewExecutableSchema(generated.Config{Resolvers: &resolver{}}).Schema()
	doc, errs := gqlparser.LoadQuery(schema, `mutation($input: SendCustomEventInput!) { sendCustomEvent(input: $input) { success workflows { type id runID } } }`)
	if errs != nil {
		t.Fatal(errs)
	}
	op := doc.Operations[0] // depth 3, cost 42 (TestCostModel)
	for _, tc := range []struct {
		lim  limits
		plan bool
	}{
		{limits{maxDepth: 10, maxCost: 10_000}, true},
		{limits{maxDepth: 3, maxCost: 42}, true},
		{limits{maxDepth: 2, maxCost: 10_000}, false},
		{limits{maxDepth: 10, maxCost: 41}, false},
	} {
		if p := compileSendPlan(op, tc.lim); (p != nil) != tc.plan {
			t.Errorf("limits %+v: plan %v, want %v", tc.lim, p != nil, tc.plan)
		}
	}
}
