package herald

import (
	"reflect"
	"testing"
)

// TestWireShapesCoverEveryField fails when a field is added to WorkflowDefinition or
// WorkflowInfo without its wire shape (triggers.go), which their JSON methods use.
func TestWireShapesCoverEveryField(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		typ, wire reflect.Type
	}{
		{reflect.TypeOf(WorkflowDefinition{}), reflect.TypeOf(workflowDefinitionJSON{})},
		{reflect.TypeOf(WorkflowInfo{}), reflect.TypeOf(workflowInfoJSON{})},
	} {
		for i := 0; i < c.typ.NumField(); i++ {
			f := c.typ.Field(i)
			if f.Name == "ConditionalTriggers" {
				continue // shares "triggers" with Triggers
			}
			if _, ok := c.wire.FieldByName(f.Name); !ok {
				t.Errorf("%s.%s has no field in %s", c.typ.Name(), f.Name, c.wire.Name())
			}
		}
	}
}
