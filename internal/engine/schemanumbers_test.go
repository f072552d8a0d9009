package engine

import (
	"bytes"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// TestSchemaNumbersOutOfRangeAreRefused: a schema number math/big cannot read
// (1e999999999) crashed the compiler under multipleOf (its meta-schema check compares it
// and dereferences nil) and was silently dropped under minimum or maximum. Every number of
// a schema is now held to the range of every stored number and refused at PUT with its
// pointer (checkSchemaNumbers), and compiling such a document never panics.
func TestSchemaNumbersOutOfRangeAreRefused(t *testing.T) {
	for _, tc := range []struct{ doc, at string }{
		{`{"type":"object","properties":{"n":{"multipleOf":1e999999999}}}`, "#/properties/n/multipleOf"},
		{`{"properties":{"n":{"multipleOf":1e-999999999}}}`, "#/properties/n/multipleOf"},
		{`{"properties":{"n":{"minimum":-1e-999999999}}}`, "#/properties/n/minimum"},
		{`{"properties":{"n":{"maximum":1e400}}}`, "#/properties/n/maximum"},
		{`{"properties":{"n":{"exclusiveMinimum":1e9999999}}}`, "#/properties/n/exclusiveMinimum"},
		{`{"properties":{"n":{"exclusiveMaximum":-1e309}}}`, "#/properties/n/exclusiveMaximum"},
		{`{"$defs":{"a/b":{"enum":[1,1e999999999]}}}`, "#/$defs/a~1b/enum/1"},
		{`{"properties":{"n":{"const":0.` + strings.Repeat("0", 400) + `1}}}`, "#/properties/n/const"},
		{`{"properties":{"n":{"default":1e999999999}}}`, "#/properties/n/default"},
	} {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%.60s: compileSchema panicked: %v", tc.doc, r)
				}
			}()
			v, err := jsonschema.UnmarshalJSON(strings.NewReader(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			err = checkSchemaNumbers(v)
			if err == nil || !strings.Contains(err.Error(), "out of range") || !strings.Contains(err.Error(), " at "+tc.at+",") {
				t.Errorf("%.60s: %v; want out of range at %s", tc.doc, err, tc.at)
			}
			// Compiling it (a stored one) never panics.
			_, _, _ = compileSchema([]byte(tc.doc))
		}()
	}
	// Within a double's range the numbers compile and are enforced.
	sch, _, err := compileSchema([]byte(`{"properties":{"n":{"multipleOf":1e-300,"minimum":-1e308,"maximum":1.5e308}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(map[string]any{"n": mustNumber(t, "1e309")}); err == nil {
		t.Errorf("1e309 passed maximum 1.5e308")
	}
}

// TestSchemaCompilerPanicIsAnError: compileDoc, where the library compiles, turns a panic
// of the library into an error naming the failure, so that no document — from a request or
// from the store at start — can take the engine down. The document is one that crashes the
// library.
func TestSchemaCompilerPanicIsAnError(t *testing.T) {
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(`{"type":"object","properties":{"n":{"multipleOf":1e999999999}}}`))
	if err != nil {
		t.Fatal(err)
	}
	sch, b, err := compileDoc(v)
	if err == nil || sch != nil || b != nil || !strings.Contains(err.Error(), "compiler failed") {
		t.Fatalf("compileDoc = %v, %v, %v; want an error saying the compiler failed", sch, b, err)
	}
}

func mustNumber(t *testing.T, s string) any {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader([]byte(s)))
	if err != nil {
		t.Fatal(err)
	}
	return v
}
