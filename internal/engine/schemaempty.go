package engine

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// An event's payload is always a JSON object, so a payload schema that no object can pass
// validates nothing: every push of its key would be refused. refusesEveryObject finds such
// a schema from its structure, soundly: it reports a schema only when no object can pass,
// and lets through what it cannot decide (a schema may still refuse every object through
// keywords it does not reason about, such as a minProperties above maxProperties).

// refusesEveryObject returns why no JSON object can pass root, or "" when one may.
func refusesEveryObject(root *jsonschema.Schema) string {
	a := &typeReach{memo: map[*jsonschema.Schema]reach{}}
	if r := a.of(root); r.types&typeObject == 0 {
		return r.why
	}
	return ""
}

// reach is what the analysis knows of a subschema: the JSON types some value of which may
// pass it (an over-approximation; integer and number count as one), and, when object is
// not among them, why.
type reach struct {
	types typeMask
	why   string
}

const anyType = typeNull | typeBoolean | typeNumber | typeInteger | typeString | typeArray | typeObject

type typeReach struct {
	memo map[*jsonschema.Schema]reach
}

// of returns the reach of s. A subschema met again while it is being analysed (a
// recursive $ref under properties) may take any type.
func (a *typeReach) of(s *jsonschema.Schema) reach {
	if s == nil {
		return reach{types: anyType}
	}
	if r, ok := a.memo[s]; ok {
		return r
	}
	a.memo[s] = reach{types: anyType}
	r := a.compute(s)
	a.memo[s] = r
	return r
}

func (a *typeReach) compute(s *jsonschema.Schema) reach {
	at := schemaLoc(s)
	if s.Bool != nil {
		if *s.Bool {
			return reach{types: anyType}
		}
		return reach{why: fmt.Sprintf("%s is false", at)}
	}
	r := reach{types: anyType}
	// narrow keeps the types of m; the first keyword that drops object gives the reason.
	narrow := func(m typeMask, why func() string) {
		if m&(typeNumber|typeInteger) != 0 {
			m |= typeNumber | typeInteger
		}
		if r.types&typeObject != 0 && m&typeObject == 0 {
			r.why = why()
		}
		r.types &= m
	}
	if s.Types != nil {
		narrow(maskOf(s.Types), func() string {
			return fmt.Sprintf("\"type\" at %s allows %s, not object", at, strings.Join(s.Types.ToStrings(), ", "))
		})
	}
	if s.Const != nil {
		narrow(maskOfValue(*s.Const), func() string { return fmt.Sprintf("\"const\" at %s is not an object", at) })
	}
	if s.Enum != nil {
		var m typeMask
		for _, v := range s.Enum.Values {
			m |= maskOfValue(v)
		}
		narrow(m, func() string { return fmt.Sprintf("\"enum\" at %s lists no object", at) })
	}
	if s.Not != nil && acceptsEverything(s.Not) {
		narrow(0, func() string {
			return fmt.Sprintf("\"not\" at %s refuses everything: its schema accepts every value", at)
		})
	}
	for _, c := range []*jsonschema.Schema{s.Ref, s.RecursiveRef} {
		if c != nil {
			cr := a.of(c)
			narrow(cr.types, func() string { return fmt.Sprintf("the $ref at %s leads to a schema where %s", at, cr.why) })
		}
	}
	for i, c := range s.AllOf {
		cr := a.of(c)
		narrow(cr.types, func() string { return fmt.Sprintf("\"allOf\" at %s has member %d, where %s", at, i, cr.why) })
	}
	for _, kl := range []struct {
		kw string
		l  []*jsonschema.Schema
	}{{"anyOf", s.AnyOf}, {"oneOf", s.OneOf}} {
		kw, l := kl.kw, kl.l
		if len(l) == 0 {
			continue
		}
		var m typeMask
		for _, c := range l {
			m |= a.of(c).types
		}
		narrow(m, func() string { return fmt.Sprintf("no member of %q at %s accepts an object", kw, at) })
	}
	if s.If != nil {
		m := anyType
		if s.Then != nil || s.Else != nil {
			m = a.of(s.Then).types | a.of(s.Else).types
		}
		narrow(m, func() string { return fmt.Sprintf("neither \"then\" nor \"else\" at %s accepts an object", at) })
	}
	// An object must have each required property, and the value of one whose schema
	// accepts nothing cannot pass.
	for _, name := range slices.Sorted(slices.Values(s.Required)) {
		p := s.Properties[name]
		if p == nil {
			continue
		}
		if pr := a.of(p); pr.types == 0 {
			narrow(anyType&^typeObject, func() string {
				return fmt.Sprintf("%q is required at %s, and its schema accepts no value: %s", name, at, pr.why)
			})
		}
	}
	if r.types&typeObject == 0 && r.why == "" {
		r.why = fmt.Sprintf("%s accepts no object", at)
	}
	return r
}

// maskOfValue is the JSON type of a decoded value.
func maskOfValue(v any) typeMask {
	switch v.(type) {
	case nil:
		return typeNull
	case bool:
		return typeBoolean
	case json.Number, float64, float32, int, int64:
		return typeNumber | typeInteger
	case string:
		return typeString
	case []any:
		return typeArray
	case map[string]any:
		return typeObject
	}
	return anyType // unknown: assume anything
}

// acceptsEverything reports whether s surely accepts every value: true, or a schema
// without a keyword that asserts anything (only annotations such as title, description or
// $defs).
func acceptsEverything(s *jsonschema.Schema) bool {
	if s.Bool != nil {
		return *s.Bool
	}
	return s.Ref == nil && s.RecursiveRef == nil && s.DynamicRef == nil && s.Types == nil &&
		s.Enum == nil && s.Const == nil && s.Not == nil && len(s.AllOf) == 0 && len(s.AnyOf) == 0 &&
		len(s.OneOf) == 0 && s.If == nil && s.Format == nil &&
		s.MaxProperties == nil && s.MinProperties == nil && len(s.Required) == 0 && s.PropertyNames == nil &&
		len(s.Properties) == 0 && len(s.PatternProperties) == 0 && s.AdditionalProperties == nil &&
		len(s.Dependencies) == 0 && len(s.DependentRequired) == 0 && len(s.DependentSchemas) == 0 &&
		s.UnevaluatedProperties == nil &&
		s.MinItems == nil && s.MaxItems == nil && !s.UniqueItems && s.Contains == nil &&
		s.MinContains == nil && s.MaxContains == nil && s.Items == nil && s.AdditionalItems == nil &&
		len(s.PrefixItems) == 0 && s.Items2020 == nil && s.UnevaluatedItems == nil &&
		s.MinLength == nil && s.MaxLength == nil && s.Pattern == nil && s.ContentEncoding == nil &&
		s.ContentMediaType == nil && s.ContentSchema == nil &&
		s.Maximum == nil && s.Minimum == nil && s.ExclusiveMaximum == nil && s.ExclusiveMinimum == nil &&
		s.MultipleOf == nil && len(s.Extensions) == 0
}
