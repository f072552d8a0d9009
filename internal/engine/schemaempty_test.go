package engine

import (
	"strings"
	"testing"
)

// TestSchemasThatValidateNoEventAreFound: a payload is always a JSON object, so a schema
// no object can pass validates nothing. refusesEveryObject finds the ones whose root says
// so through type, const, enum, not, false, $ref, allOf, anyOf, oneOf, if/then/else and a
// required property that accepts no value, and lets every schema some object passes
// through.
func TestSchemasThatValidateNoEventAreFound(t *testing.T) {
	for _, tc := range []struct{ doc, why string }{
		{`{"not":{}}`, `"not" at #`},
		{`{"not":true}`, `"not" at #`},
		{`{"not":{"title":"anything","description":"at all"}}`, `"not" at #`},
		{`{"allOf":[false]}`, `#/allOf/0 is false`},
		{`{"allOf":[{"type":"object"},{"not":{}}]}`, `member 1`},
		{`{"type":"array"}`, `"type" at # allows array`},
		{`{"type":"string"}`, `"type" at # allows string`},
		{`{"type":["null","integer"]}`, `allows null, integer`},
		{`{"enum":[1,2]}`, `"enum" at # lists no object`},
		{`{"enum":[[{"a":1}],"x"]}`, `"enum" at # lists no object`},
		{`{"const":"x"}`, `"const" at # is not an object`},
		{`{"anyOf":[false,{"type":"string"}]}`, `no member of "anyOf"`},
		{`{"oneOf":[{"const":1},{"enum":[null]}]}`, `no member of "oneOf"`},
		{`{"$ref":"#/$defs/s","$defs":{"s":{"type":"string"}}}`, `the $ref at # leads to a schema where "type" at #/$defs/s`},
		{`{"if":{"required":["a"]},"then":false,"else":{"type":"number"}}`, `neither "then" nor "else"`},
		{`{"type":"object","required":["a"],"properties":{"a":false}}`, `"a" is required`},
		{`{"required":["a"],"properties":{"a":{"not":{}}}}`, `"a" is required`},
		{`{"$schema":"http://json-schema.org/draft-07/schema#","definitions":{"n":{"type":"array"}},"allOf":[{"$ref":"#/definitions/n"}]}`, `"type" at #/definitions/n`},
	} {
		sch, _, err := compileSchema([]byte(tc.doc))
		if err != nil {
			t.Errorf("%s: compile: %v", tc.doc, err)
			continue
		}
		if why := refusesEveryObject(sch); !strings.Contains(why, tc.why) {
			t.Errorf("%s: %q, want a reason mentioning %q", tc.doc, why, tc.why)
		}
	}
	for _, doc := range []string{
		`{}`,
		`{"type":"object"}`,
		`{"type":["object","null"]}`,
		`{"enum":[{"a":1},2]}`,
		`{"const":{}}`,
		`{"not":{"type":"string"}}`,
		`{"not":{"required":["a"]}}`,
		`{"not":false}`,
		`{"anyOf":[false,{"type":"object"}]}`,
		`{"if":{"required":["a"]},"then":false}`,
		`{"required":["a"],"properties":{"b":false}}`,
		`{"properties":{"a":false}}`,
		`{"type":"object","properties":{"left":{"$ref":"#"},"right":{"$ref":"#"}}}`,
		// draft-07 ignores a $ref's siblings: the type below does not apply.
		`{"$schema":"http://json-schema.org/draft-07/schema#","$ref":"#/definitions/o","type":"string","definitions":{"o":{"type":"object"}}}`,
		`{"$dynamicAnchor":"x","properties":{"a":{"$dynamicRef":"#x"}}}`,
	} {
		sch, _, err := compileSchema([]byte(doc))
		if err != nil {
			t.Errorf("%s: compile: %v", doc, err)
			continue
		}
		if why := refusesEveryObject(sch); why != "" {
			t.Errorf("%s: refused (%s), but some object passes it", doc, why)
		}
		// The library agrees that {} (or, for the required/if cases, an object without "a")
		// passes.
		if err := sch.Validate(map[string]any{}); err != nil && !strings.Contains(doc, `"required"`) && !strings.Contains(doc, `"enum"`) && !strings.Contains(doc, `"const"`) {
			t.Errorf("%s: {} does not pass: %v", doc, err)
		}
	}
}
