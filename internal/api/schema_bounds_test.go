package api_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// exponentialSchema is the recursive anyOf: both branches descend into "a", so
// the validator's work doubles with each level of the payload.
const exponentialSchema = `{"$defs":{"n":{"anyOf":[` +
	`{"type":"object","properties":{"a":{"$ref":"#/$defs/n"}},"required":["zz"]},` +
	`{"type":"object","properties":{"a":{"$ref":"#/$defs/n"}},"required":["yy"]}]}},"$ref":"#/$defs/n"}`

// nestedA returns {"a":{"a":...inner...}} nested depth times.
func nestedA(depth int, inner string) string {
	return strings.Repeat(`{"a":`, depth) + inner + strings.Repeat(`}`, depth)
}

// TestEventSchemaBoundsRefusedAtPut: a schema that could not be compiled within the
// bounds, or that could not validate anything, is refused when saved with 400 naming
// "schema" and saying which bound, and nothing is saved.
func TestEventSchemaBoundsRefusedAtPut(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		c := b.c
		wide := func(n int, member string) string {
			ms := make([]string, n)
			for i := range ms {
				ms[i] = fmt.Sprintf(`"p%d":%s`, i, member)
			}
			return `{"properties":{` + strings.Join(ms, ",") + `}}`
		}
		chain := func(n int) string { // each definition refers twice to the next
			var sb strings.Builder
			sb.WriteString(`{"$defs":{`)
			for i := range n {
				fmt.Fprintf(&sb, `"d%d":{"allOf":[{"$ref":"#/$defs/d%d"},{"$ref":"#/$defs/d%d"}]},`, i, i+1, i+1)
			}
			fmt.Fprintf(&sb, `"d%d":{"type":"object"}},"$ref":"#/$defs/d0"}`, n)
			return sb.String()
		}
		patterns := func(n int, re string) string {
			ms := make([]string, n)
			for i := range ms {
				ms[i] = fmt.Sprintf(`"^x%d%s$":true`, i, re)
			}
			return `{"patternProperties":{` + strings.Join(ms, ",") + `}}`
		}
		for _, tc := range []struct {
			name, schema, msg string
		}{
			// The (b): 2,500 nested properties took 87 s to compile.
			{"2,500 nested properties", strings.Repeat(`{"properties":{"a":`, 2500) + `{}` + strings.Repeat(`}}`, 2500), "more than 64 deep"},
			{"65 levels of allOf", strings.Repeat(`{"allOf":[`, 33) + `{}` + strings.Repeat(`]}`, 33), "more than 64 deep"},
			{"10,000 subschemas", wide(10_000, `{}`), "more than 10000 objects and booleans"},
			{"10,000 boolean subschemas", wide(10_000, `true`), "more than 10000 objects and booleans"},
			// The (c): accepted, then every push refused with "reference cycle".
			{"$ref to itself", `{"$ref":"#"}`, "reference cycle"},
			{"not of itself", `{"not":{"$ref":"#"}}`, "reference cycle"},
			{"cycle through definitions", `{"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"anyOf":[{"type":"string"},{"$ref":"#/$defs/a"}]}},"$ref":"#/$defs/a"}`, "reference cycle"},
			{"2^20 subschemas for one value", chain(20), "more than 10000 subschemas to one value"},
			{"an expanding pattern", `{"properties":{"a":{"pattern":"^(abcdefghijklmnopqrstuvwxy){1000}$"}}}`, "compiles to about"},
			{"patterns together", patterns(50, "(bcdefghij){1000}"), "instructions together"},
		} {
			r := c.do("PUT", "/api/v1/event-schemas/order:paid", `{"schema":`+tc.schema+`}`)
			code, field := r.errCodeField(t)
			if r.status != 400 || code != "invalid_argument" || field != "schema" || !strings.Contains(string(r.body), tc.msg) {
				t.Errorf("%s: %d %s field %q: %.300s; want 400 invalid_argument naming schema, mentioning %q", tc.name, r.status, code, field, r.body, tc.msg)
			}
		}
		if n := len(items(c.must(200, "GET", "/api/v1/event-schemas", nil))); n != 0 {
			t.Fatalf("%d schemas saved by refused puts", n)
		}

		// Within the bounds: recursion that descends (a tree), and the most that is allowed.
		c.must(201, "PUT", "/api/v1/event-schemas/tree", map[string]any{"schema": map[string]any{
			"type": "object", "properties": map[string]any{
				"left": map[string]any{"$ref": "#"}, "right": map[string]any{"$ref": "#"}, "v": map[string]any{"type": "integer"},
			},
		}})
		c.push("tree", json.RawMessage(strings.Repeat(`{"left":{"right":`, 30)+`{"v":1}`+strings.Repeat(`}}`, 30)))
		r := c.do("POST", "/api/v1/events", `{"key":"tree","payload":{"left":{"right":{"v":"x"}}}}`)
		if code, field := r.errCodeField(t); r.status != 422 || code != "schema_violation" || field != "payload/left/right/v" {
			t.Fatalf("a tree's violation: %d %s", r.status, r.body)
		}
		c.must(201, "PUT", "/api/v1/event-schemas/deep", `{"schema":`+strings.Repeat(`{"allOf":[`, 31)+`{}`+strings.Repeat(`]}`, 31)+`}`)
		c.must(201, "PUT", "/api/v1/event-schemas/wide", `{"schema":`+wide(9_998, `{}`)+`}`)
	})
}

// TestExponentialSchemaPushIsRefusedWithinTheBound is the (a): validating a
// payload 22 levels deep against the recursive anyOf took more than 19 GB and kept
// running after the client had gone. The schema is accepted — shallow payloads are checked
// as usual — and the deep payload is refused (422 naming it) without running the
// validator, because its cost is estimated first; nothing is stored.
func TestExponentialSchemaPushIsRefusedWithinTheBound(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		c := b.c
		c.must(201, "PUT", "/api/v1/event-schemas/tree:grown", `{"schema":`+exponentialSchema+`}`)
		c.push("tree:grown", json.RawMessage(`{"zz":1,"a":{"yy":2,"a":{"zz":3}}}`))
		r := c.do("POST", "/api/v1/events", `{"key":"tree:grown","payload":{"zz":1,"a":{"a":{}}}}`)
		if code, field := r.errCodeField(t); r.status != 422 || code != "schema_violation" || !strings.HasPrefix(field, "payload/a") {
			t.Fatalf("a shallow violation: %d %s", r.status, r.body)
		}
		ev0, _ := counts(t, c)

		deep := nestedA(22, `{}`)
		r = c.do("POST", "/api/v1/events", `{"key":"tree:grown","payload":`+deep+`}`)
		code, field := r.errCodeField(t)
		if r.status != 422 || code != "schema_violation" || field != "payload" || !strings.Contains(string(r.body), "steps (the limit)") {
			t.Fatalf("the issue's payload: %d %s field %q: %s; want 422 naming payload and the limit", r.status, code, field, r.body)
		}
		r = c.do("POST", "/api/v1/events/bulk", `{"events":[{"key":"tree:grown","payload":{"zz":1}},{"key":"tree:grown","payload":`+deep+`}]}`)
		if code, field := r.errCodeField(t); r.status != 422 || code != "schema_violation" || field != "events[1].payload" {
			t.Fatalf("the issue's payload in a bulk push: %d %s", r.status, r.body)
		}
		if ev, _ := counts(t, c); ev != ev0 {
			t.Fatalf("refused pushes stored %d events", ev-ev0)
		}
	})
}

// TestNumbersTheValidatorCannotReadAreRefused: a number whose exponent is beyond what
// math/big reads (1e999999999) crashed the validator under minimum, maximum or
// multipleOf, and under uniqueItems among more than 20 items. Such a number is out of the
// range every stored number keeps (store.NumberInRange: a double's range), so it is
// refused before any schema sees it: 400 naming the payload, nothing stored.
func TestNumbersTheValidatorCannotReadAreRefused(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		c := b.c
		c.must(201, "PUT", "/api/v1/event-schemas/order:paid", `{"schema":{"properties":{"amount":{"type":"number","minimum":0},"tags":{"uniqueItems":true}}}}`)
		c.push("order:paid", json.RawMessage(`{"amount":1e300,"tags":[1,2]}`))
		var many strings.Builder // more than 20 distinct items: the validator hashes them
		for i := range 25 {
			fmt.Fprintf(&many, "%d,", i)
		}
		many.WriteString("1e999999999")
		ev0, _ := counts(t, c)
		for _, payload := range []string{`{"amount":1e999999999}`, `{"amount":-1e-999999999}`, `{"tags":[` + many.String() + `]}`} {
			r := c.do("POST", "/api/v1/events", `{"key":"order:paid","payload":`+payload+`}`)
			code, field := r.errCodeField(t)
			if r.status != 400 || code != "invalid_argument" || field != "payload" || !strings.Contains(string(r.body), "out of range") {
				t.Errorf("%.40s: %d %s field %q: %s; want 400 naming payload", payload, r.status, code, field, r.body)
			}
		}
		if ev, _ := counts(t, c); ev != ev0 {
			t.Fatalf("refused pushes stored %d events", ev-ev0)
		}
	})
}

// TestRegexFormatOfPayloadsIsBounded: "format": "regex" compiles a payload's string; one
// that would compile to more than the bound (a 28-byte string expanding to some 28,000
// instructions) is a violation naming it, not work the engine takes on.
func TestRegexFormatOfPayloadsIsBounded(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		c := b.c
		c.must(201, "PUT", "/api/v1/event-schemas/rule:added", `{"schema":{"properties":{"re":{"type":"string","format":"regex"}}}}`)
		c.push("rule:added", map[string]any{"re": "^[a-z]{1,64}$"})
		r := c.do("POST", "/api/v1/events", `{"key":"rule:added","payload":{"re":"(abcdefghijklmnopqrstuvwxy){1000}"}}`)
		if code, field := r.errCodeField(t); r.status != 422 || code != "schema_violation" || field != "payload/re" || !strings.Contains(string(r.body), "compiles to about") {
			t.Fatalf("an expanding regex: %d %s", r.status, r.body)
		}
	})
}

// TestSchemaNumbersOutOfRangeAreRefusedAtPut: a schema number the schema library cannot
// read answered 500 (multipleOf 1e999999999 crashed its compiler) or was saved and then
// silently ignored (minimum 1e-999999999). Every number of a schema is held to the range of
// every stored number: 400 naming schema, the message giving the number's pointer, nothing
// saved, on both stores.
func TestSchemaNumbersOutOfRangeAreRefusedAtPut(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		c := b.c
		for _, tc := range []struct{ schema, at string }{
			{`{"type":"object","properties":{"n":{"multipleOf":1e999999999}}}`, "#/properties/n/multipleOf"},
			{`{"properties":{"n":{"multipleOf":1e-999999999}}}`, "#/properties/n/multipleOf"},
			{`{"properties":{"n":{"minimum":1e-999999999}}}`, "#/properties/n/minimum"},
			{`{"properties":{"n":{"maximum":1e400}}}`, "#/properties/n/maximum"},
			{`{"items":{"exclusiveMaximum":-1e99999}}`, "#/items/exclusiveMaximum"},
			{`{"properties":{"n":{"enum":["a",1e9999999]}}}`, "#/properties/n/enum/1"},
		} {
			r := c.do("PUT", "/api/v1/event-schemas/order:paid", `{"schema":`+tc.schema+`}`)
			code, field := r.errCodeField(t)
			if r.status != 400 || code != "invalid_argument" || field != "schema" || !strings.Contains(string(r.body), "out of range") || !strings.Contains(string(r.body), tc.at) {
				t.Errorf("%s: %d %s field %q: %.300s; want 400 invalid_argument naming schema and %s", tc.schema, r.status, code, field, r.body, tc.at)
			}
		}
		if n := len(items(c.must(200, "GET", "/api/v1/event-schemas", nil))); n != 0 {
			t.Fatalf("%d schemas saved by refused puts", n)
		}
	})
}

// TestSchemasThatValidateNoEventAreRefusedAtPut: an event's payload is always a JSON
// object, so a schema that no object can pass would refuse every push of its key; such a
// schema was saved. It is refused with 400 naming schema and saying why, nothing saved, on
// both stores; a schema some object passes is saved.
func TestSchemasThatValidateNoEventAreRefusedAtPut(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		c := b.c
		for _, tc := range []struct{ schema, msg string }{
			{`{"not":{}}`, `\"not\" at #`},
			{`{"not":true}`, `\"not\" at #`},
			{`{"allOf":[false]}`, `#/allOf/0 is false`},
			{`{"type":"array"}`, `\"type\" at # allows array`},
			{`{"type":["string","null"]}`, `allows null, string`},
			{`{"enum":[1,2]}`, `lists no object`},
			{`{"const":"x"}`, `is not an object`},
			{`{"anyOf":[false,{"type":"string"}]}`, `no member of \"anyOf\"`},
			{`{"$ref":"#/$defs/list","$defs":{"list":{"type":"array"}}}`, `the $ref at #`},
			{`{"type":"object","required":["id"],"properties":{"id":false}}`, `\"id\" is required`},
		} {
			r := c.do("PUT", "/api/v1/event-schemas/order:paid", `{"schema":`+tc.schema+`}`)
			code, field := r.errCodeField(t)
			if r.status != 400 || code != "invalid_argument" || field != "schema" || !strings.Contains(string(r.body), "validates no event") || !strings.Contains(string(r.body), tc.msg) {
				t.Errorf("%s: %d %s field %q: %.300s; want 400 invalid_argument naming schema, mentioning %s", tc.schema, r.status, code, field, r.body, tc.msg)
			}
		}
		// false is no object: refused as before.
		if r := c.do("PUT", "/api/v1/event-schemas/order:paid", `{"schema":false}`); r.status != 400 {
			t.Errorf("schema false: %d %s", r.status, r.body)
		}
		if n := len(items(c.must(200, "GET", "/api/v1/event-schemas", nil))); n != 0 {
			t.Fatalf("%d schemas saved by refused puts", n)
		}
		for i, s := range []string{`{"type":["object","null"]}`, `{"not":{"type":"string"}}`, `{"anyOf":[false,{"type":"object"}]}`, `{"enum":[{"a":1},2]}`} {
			c.must(201, "PUT", fmt.Sprintf("/api/v1/event-schemas/ok:%d", i), `{"schema":`+s+`}`)
		}
	})
}
