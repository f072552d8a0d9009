package engine

import (
	"bytes"
	"context"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// FuzzSchema compiles random schema documents and checks random payloads against them
// the way a push does: nothing may panic (the library's validator is called directly, not
// through validate's recover, so that a payload that crashes it is found here and refused
// before it runs). Seeds, in
// testdata/fuzz/FuzzSchema, include the three schemas: a recursive anyOf whose
// validation is exponential in the payload's depth, 2,500 nested properties, and
// {"$ref": "#"}.
func FuzzSchema(f *testing.F) {
	f.Add([]byte(`{"type":"object","required":["amount"],"properties":{"amount":{"type":"number","minimum":0}}}`), []byte(`{"amount":12}`))
	f.Add([]byte(`{"properties":{"a":{"pattern":"^a+$"},"b":{"format":"regex"}},"patternProperties":{"^x":{"enum":[1,"x",{"y":null}]}}}`), []byte(`{"a":"aaa","b":"(a|b)*","x1":{"y":null}}`))
	f.Add([]byte(`{"$schema":"http://json-schema.org/draft-07/schema#","items":[{"type":"string"}],"additionalItems":{"uniqueItems":true},"dependencies":{"a":["b"],"c":{"required":["d"]}}}`), []byte(`[ "x", [1, 1.0], [2] ]`))
	f.Add([]byte(`{"$schema":"https://json-schema.org/draft/2019-09/schema","$recursiveAnchor":true,"properties":{"n":{"items":{"$recursiveRef":"#"}}},"unevaluatedProperties":false}`), []byte(`{"n":[{"n":[]}]}`))
	f.Add([]byte(`{"$id":"https://x/r","$ref":"list","$defs":{"foo":{"$dynamicAnchor":"items","type":"string"},"list":{"$id":"list","items":{"$dynamicRef":"#items"},"$defs":{"items":{"$dynamicAnchor":"items"}}}}}`), []byte(`["a",1]`))
	f.Add([]byte(`{"properties":{"n":{"multipleOf":0.01,"maximum":1e300}},"propertyNames":{"maxLength":3}}`), []byte(`{"n":1e999999999}`))
	f.Fuzz(func(t *testing.T, doc, payload []byte) {
		if len(doc) > MaxSchemaBytes {
			return
		}
		sch, b, err := compileSchema(doc)
		if err != nil {
			return
		}
		// The check that refuses, at PUT, a schema no event can pass ends on every
		// compiled schema, and is sound: what it refuses refuses the empty object too.
		if why := refusesEveryObject(sch); why != "" && sch.Validate(map[string]any{}) == nil {
			t.Fatalf("refusesEveryObject says %q, yet {} is valid", why)
		}
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
		if err != nil {
			return
		}
		if b.check(context.Background(), v, MaxValidationCost) != nil {
			return
		}
		_ = sch.Validate(v)
	})
}
