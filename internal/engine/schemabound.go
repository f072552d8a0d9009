package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The bounds of payload schemas. The schema library offers no way to stop a compilation or
// a validation once started, so the engine bounds the work before it starts: a document is
// measured before it is compiled, a compiled schema is analysed before it is accepted, and
// each payload's validation is costed before it runs (schemaBound.check). A schema over a
// bound is refused when saved (400 naming "schema"); a stored one that an older engine
// accepted is logged and not enforced when loaded.
const (
	// MaxSchemaBytes bounds a payload schema document.
	MaxSchemaBytes = 1 << 20
	// MaxSchemaDepth bounds how deeply a schema document nests objects and arrays: the
	// library's compile time grows faster than the square of the nesting (2,500 nested
	// "properties" took 87 s).
	MaxSchemaDepth = 64
	// MaxSchemaValues bounds the objects and booleans of a schema document (each one a
	// possible subschema): the library's compile time grows with their square.
	MaxSchemaValues = 10_000
	// MaxSchemaInPlace bounds the subschemas one value can face before the validator
	// descends into it ($ref, allOf, anyOf, oneOf, not, if/then/else, dependentSchemas),
	// counted along every path: a short document can multiply it (30 definitions, each
	// referring twice to the next, apply 2^30 subschemas to every value).
	MaxSchemaInPlace = 10_000
	// MaxValidationCost bounds the work of checking one payload against its schema, in
	// steps: one subschema applied to one value is a step, and the keywords that read a
	// whole value (members, long strings, long numbers, const, enum, uniqueItems) add
	// steps for its size. A payload over it is refused (422) before the validator starts.
	MaxValidationCost = 500_000
)

// schemaBound is what the engine knows of a compiled schema beyond the library's form,
// the facts the validation bound needs.
type schemaBound struct {
	root  *jsonschema.Schema
	nodes map[*jsonschema.Schema]*boundNode
	// dynamic tells that the schema uses $dynamicRef or $recursiveRef, whose target
	// depends on the path the validator took.
	dynamic bool
	// anchorTargets are the subschemas with each $dynamicAnchor, and recursiveTargets
	// those a $recursiveRef may resolve to: the entry points of resources with
	// $recursiveAnchor (the document, resource roots, and targets of a $ref from another
	// resource).
	anchorTargets    map[string][]*jsonschema.Schema
	recursiveTargets []*jsonschema.Schema
}

// boundNode is one subschema's facts.
type boundNode struct {
	types    typeMask // the JSON types "type" allows; 0 when it has no "type"
	resource *jsonschema.Schema
	// anchors are the $dynamicAnchor targets of the resource this schema is the root of.
	anchors map[string]*jsonschema.Schema
	// numeric: minimum, maximum, exclusiveMinimum, exclusiveMaximum or multipleOf.
	numeric bool
	// text: minLength, maxLength or pattern (read a string's runes once each).
	text bool
}

type typeMask uint8

const (
	typeNull typeMask = 1 << iota
	typeBoolean
	typeNumber
	typeInteger
	typeString
	typeArray
	typeObject
)

func maskOf(t *jsonschema.Types) typeMask {
	if t == nil {
		return 0
	}
	var m typeMask
	for _, s := range t.ToStrings() {
		switch s {
		case "null":
			m |= typeNull
		case "boolean":
			m |= typeBoolean
		case "number":
			m |= typeNumber
		case "integer":
			m |= typeInteger
		case "string":
			m |= typeString
		case "array":
			m |= typeArray
		case "object":
			m |= typeObject
		}
	}
	return m
}

// allows reports whether a value passes the "type" keyword. An integer type lets every
// number through: this decides only whether the validator goes on with the value.
func (m typeMask) allows(v any) bool {
	if m == 0 {
		return true
	}
	switch v.(type) {
	case nil:
		return m&typeNull != 0
	case bool:
		return m&typeBoolean != 0
	case json.Number:
		return m&(typeNumber|typeInteger) != 0
	case string:
		return m&typeString != 0
	case []any:
		return m&typeArray != 0
	case map[string]any:
		return m&typeObject != 0
	}
	return true
}

// checkSchemaDoc measures a decoded schema document against MaxSchemaDepth and
// MaxSchemaValues before it is compiled.
func checkSchemaDoc(doc any) error {
	values := 0
	var path []string
	var walk func(v any, depth int) error
	walk = func(v any, depth int) error {
		switch v.(type) {
		case map[string]any, []any:
			if depth > MaxSchemaDepth {
				return fmt.Errorf("nests objects and arrays more than %d deep (at %s); the limit is %d", MaxSchemaDepth, jsonPointer(path), MaxSchemaDepth)
			}
		}
		switch v := v.(type) {
		case bool:
			values++
		case map[string]any:
			values++
			for k, m := range v {
				path = append(path, k)
				if err := walk(m, depth+1); err != nil {
					return err
				}
				path = path[:len(path)-1]
			}
		case []any:
			for i, m := range v {
				path = append(path, strconv.Itoa(i))
				if err := walk(m, depth+1); err != nil {
					return err
				}
				path = path[:len(path)-1]
			}
		}
		if values > MaxSchemaValues {
			return fmt.Errorf("has more than %d objects and booleans (possible subschemas); the limit is %d", MaxSchemaValues, MaxSchemaValues)
		}
		return nil
	}
	return walk(doc, 1)
}

// schemaPtr returns a subschema's JSON pointer in its document ("/$defs/n"; "" for the
// document itself).
func schemaPtr(s *jsonschema.Schema) string {
	frag := s.Location
	if i := strings.IndexByte(frag, '#'); i >= 0 {
		frag = frag[i+1:]
	}
	if p, err := url.PathUnescape(frag); err == nil {
		return p
	}
	return frag
}

// schemaLoc renders a subschema's location for a message: "#" and its JSON pointer.
func schemaLoc(s *jsonschema.Schema) string { return "#" + schemaPtr(s) }

// fragmentOf renders a JSON pointer as a URL fragment the way the library does: each
// token path-escaped.
func fragmentOf(ptr string) string {
	toks := strings.Split(ptr, "/")
	for i, t := range toks {
		toks[i] = url.PathEscape(t)
	}
	return strings.Join(toks, "/")
}

// inPlace calls f with every subschema that applies to the same value as s does. A
// $dynamicRef or $recursiveRef is followed to its static target; its dynamic targets are
// in b.dynamicTargets.
func inPlace(s *jsonschema.Schema, f func(*jsonschema.Schema)) {
	if s.Ref != nil {
		f(s.Ref)
	}
	if s.RecursiveRef != nil {
		f(s.RecursiveRef)
	}
	if s.DynamicRef != nil && s.DynamicRef.Ref != nil {
		f(s.DynamicRef.Ref)
	}
	for _, c := range []*jsonschema.Schema{s.Not, s.If, s.Then, s.Else} {
		if c != nil {
			f(c)
		}
	}
	for _, l := range [][]*jsonschema.Schema{s.AllOf, s.AnyOf, s.OneOf} {
		for _, c := range l {
			f(c)
		}
	}
	for _, c := range s.DependentSchemas {
		f(c)
	}
	for _, d := range s.Dependencies {
		if c, ok := d.(*jsonschema.Schema); ok {
			f(c)
		}
	}
}

// below calls f with every subschema that applies to a member or an item of the value s
// applies to (or, for propertyNames, to a member's name).
func below(s *jsonschema.Schema, f func(*jsonschema.Schema)) {
	for _, c := range s.Properties {
		f(c)
	}
	for _, c := range s.PatternProperties {
		f(c)
	}
	if c, ok := s.AdditionalProperties.(*jsonschema.Schema); ok {
		f(c)
	}
	switch it := s.Items.(type) {
	case *jsonschema.Schema:
		f(it)
	case []*jsonschema.Schema:
		for _, c := range it {
			f(c)
		}
	}
	if c, ok := s.AdditionalItems.(*jsonschema.Schema); ok {
		f(c)
	}
	for _, c := range s.PrefixItems {
		f(c)
	}
	for _, c := range []*jsonschema.Schema{s.Items2020, s.Contains, s.PropertyNames, s.UnevaluatedProperties, s.UnevaluatedItems, s.ContentSchema} {
		if c != nil {
			f(c)
		}
	}
}

// analyseSchema collects the facts of a compiled schema and refuses one whose validation
// could not be bounded: a reference cycle that never descends into the payload (the
// validator refuses every value that reaches it, so {"$ref": "#"} validates nothing), or
// more than MaxSchemaInPlace subschemas applying to one value. lookup returns the compiled
// subschema at a document location (the compiler's cache); doc is the decoded document.
func analyseSchema(root *jsonschema.Schema, doc any, lookup func(ptr string) (*jsonschema.Schema, error)) (*schemaBound, error) {
	b := &schemaBound{root: root, nodes: map[*jsonschema.Schema]*boundNode{}}
	var order []*jsonschema.Schema
	var visit func(s *jsonschema.Schema)
	visit = func(s *jsonschema.Schema) {
		if s == nil || b.nodes[s] != nil {
			return
		}
		n := &boundNode{
			types:   maskOf(s.Types),
			numeric: s.Minimum != nil || s.Maximum != nil || s.ExclusiveMinimum != nil || s.ExclusiveMaximum != nil || s.MultipleOf != nil,
			text:    s.MinLength != nil || s.MaxLength != nil || s.Pattern != nil,
		}
		b.nodes[s] = n
		order = append(order, s)
		if s.DynamicRef != nil || s.RecursiveRef != nil {
			b.dynamic = true
		}
		inPlace(s, visit)
		below(s, visit)
	}
	visit(root)
	if b.dynamic {
		if err := b.resolveResources(doc, lookup, visit); err != nil {
			return nil, err
		}
	}

	// Reference cycles within one value, and how many subschemas apply to one value.
	const (
		unseen = iota
		active
		done
	)
	state := make(map[*jsonschema.Schema]uint8, len(b.nodes))
	count := make(map[*jsonschema.Schema]int64, len(b.nodes))
	var stack []*jsonschema.Schema
	var cycle []*jsonschema.Schema
	var expand func(s *jsonschema.Schema) int64
	expand = func(s *jsonschema.Schema) int64 {
		switch state[s] {
		case done:
			return count[s]
		case active:
			if cycle == nil {
				i := len(stack) - 1
				for stack[i] != s {
					i--
				}
				cycle = append(append([]*jsonschema.Schema(nil), stack[i:]...), s)
			}
			return 0
		}
		state[s] = active
		stack = append(stack, s)
		n := int64(1)
		each := func(c *jsonschema.Schema) {
			n = satAdd(n, expand(c))
		}
		inPlace(s, each)
		for _, c := range b.dynamicTargets(s) {
			each(c)
		}
		stack = stack[:len(stack)-1]
		state[s] = done
		count[s] = n
		return n
	}
	for _, s := range order {
		n := expand(s)
		if cycle != nil {
			locs := make([]string, len(cycle))
			for i, c := range cycle {
				locs[i] = schemaLoc(c)
			}
			return nil, fmt.Errorf("has a reference cycle that never descends into the payload (%s): the validator would refuse every value that reaches it; a $ref back to an enclosing schema must sit under properties, items or another keyword that applies to a member or an item", strings.Join(locs, " → "))
		}
		if n > MaxSchemaInPlace {
			return nil, fmt.Errorf("applies more than %d subschemas to one value at %s through $ref, allOf, anyOf, oneOf, not, if/then/else and dependentSchemas (counted along every path); the limit is %d", MaxSchemaInPlace, schemaLoc(s), MaxSchemaInPlace)
		}
	}
	return b, nil
}

// satAdd adds without overflowing.
func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// dynamicTargets returns the subschemas a $dynamicRef or $recursiveRef of s may resolve
// to besides its static target: every $dynamicAnchor of its name, or every entry point of
// a resource with $recursiveAnchor.
func (b *schemaBound) dynamicTargets(s *jsonschema.Schema) []*jsonschema.Schema {
	if !b.dynamic {
		return nil
	}
	var out []*jsonschema.Schema
	if d := s.DynamicRef; d != nil && d.Anchor != "" && d.Ref != nil && d.Ref.DynamicAnchor == d.Anchor {
		out = append(out, b.anchorTargets[d.Anchor]...)
	}
	if r := s.RecursiveRef; r != nil && r.RecursiveAnchor {
		out = append(out, b.recursiveTargets...)
	}
	return out
}

// resolveResources finds, for a schema that uses $dynamicRef or $recursiveRef, each
// subschema's resource (the nearest enclosing schema with an $id, else the document) and
// each resource's $dynamicAnchor targets, the way the library resolves them.
func (b *schemaBound) resolveResources(doc any, lookup func(ptr string) (*jsonschema.Schema, error), visit func(*jsonschema.Schema)) error {
	resources := map[string]*jsonschema.Schema{}
	resourceAt := func(ptr string) (*jsonschema.Schema, error) {
		res, err := b.resourcePtr(doc, ptr)
		if err != nil {
			return nil, err
		}
		if s := resources[res]; s != nil {
			return s, nil
		}
		s, err := lookup(res)
		if err != nil {
			return nil, err
		}
		resources[res] = s
		return s, nil
	}
	// Every $dynamicAnchor in the document: a resolution may land on one nothing else
	// refers to.
	var anchors []string
	var find func(sch map[string]any, ptr string)
	find = func(sch map[string]any, ptr string) {
		if a, ok := sch["$dynamicAnchor"].(string); ok && a != "" {
			anchors = append(anchors, ptr)
		}
		subschemas(sch, ptr, find)
	}
	if m, ok := doc.(map[string]any); ok {
		find(m, "")
	}
	for _, ptr := range anchors {
		s, err := lookup(ptr)
		if err != nil {
			return err
		}
		if s.DynamicAnchor == "" {
			continue // a draft before 2020-12: not an anchor
		}
		res, err := resourceAt(ptr)
		if err != nil {
			return err
		}
		visit(res)
		visit(s)
		rn := b.nodes[res]
		if rn.anchors == nil {
			rn.anchors = map[string]*jsonschema.Schema{}
		}
		if rn.anchors[s.DynamicAnchor] == nil {
			rn.anchors[s.DynamicAnchor] = s
		}
	}
	for s, n := range b.nodes {
		res, err := resourceAt(schemaPtr(s))
		if err != nil {
			return err
		}
		n.resource = res
		visit(res)
	}
	// Resources found last have no resource of their own yet.
	for s, n := range b.nodes {
		if n.resource == nil {
			res, err := resourceAt(schemaPtr(s))
			if err != nil {
				return err
			}
			n.resource = res
		}
	}
	b.anchorTargets = map[string][]*jsonschema.Schema{}
	for _, n := range b.nodes {
		for name, t := range n.anchors {
			b.anchorTargets[name] = append(b.anchorTargets[name], t)
		}
	}
	entry := map[*jsonschema.Schema]bool{b.root: true}
	for s, n := range b.nodes {
		if n.resource == s {
			entry[s] = true
		}
		for _, t := range []*jsonschema.Schema{s.Ref, s.RecursiveRef} {
			if t != nil && b.nodes[t].resource != n.resource {
				entry[t] = true
			}
		}
		if d := s.DynamicRef; d != nil && d.Ref != nil && b.nodes[d.Ref].resource != n.resource {
			entry[d.Ref] = true
		}
	}
	for s := range entry {
		if b.nodes[s].resource.RecursiveAnchor {
			b.recursiveTargets = append(b.recursiveTargets, s)
		}
	}
	return nil
}

// subschemas calls f with each subschema object directly under the schema object sch, at
// ptr in the document: the keywords that hold schemas, not values (enum, const, default,
// examples hold values that may look like schemas).
func subschemas(sch map[string]any, ptr string, f func(map[string]any, string)) {
	for k, v := range sch {
		at := ptr + "/" + escapeToken(k)
		switch k {
		case "additionalProperties", "additionalItems", "contains", "propertyNames", "not", "if", "then", "else",
			"unevaluatedProperties", "unevaluatedItems", "contentSchema", "items":
			if m, ok := v.(map[string]any); ok {
				f(m, at)
			}
		}
		switch k {
		case "properties", "patternProperties", "$defs", "definitions", "dependentSchemas", "dependencies":
			if m, ok := v.(map[string]any); ok {
				for n, c := range m {
					if cm, ok := c.(map[string]any); ok {
						f(cm, at+"/"+escapeToken(n))
					}
				}
			}
		case "allOf", "anyOf", "oneOf", "prefixItems", "items":
			if l, ok := v.([]any); ok {
				for i, c := range l {
					if cm, ok := c.(map[string]any); ok {
						f(cm, at+"/"+strconv.Itoa(i))
					}
				}
			}
		}
	}
}

// resourcePtr returns the JSON pointer of the resource enclosing the document location
// ptr: the nearest schema on the way with an "$id" (fragment aside), else the document.
func (b *schemaBound) resourcePtr(doc any, ptr string) (string, error) {
	res := ""
	cur := doc
	at := ""
	var toks []string
	if ptr != "" {
		toks = strings.Split(strings.TrimPrefix(ptr, "/"), "/")
	}
	for i := 0; ; i++ {
		if m, ok := cur.(map[string]any); ok {
			if id, ok := m["$id"].(string); ok {
				if j := strings.IndexByte(id, '#'); j >= 0 {
					id = id[:j]
				}
				if id != "" {
					res = at
				}
			}
		}
		if i == len(toks) {
			return res, nil
		}
		tok := unescapeToken(toks[i])
		at += "/" + toks[i]
		switch c := cur.(type) {
		case map[string]any:
			cur = c[tok]
		case []any:
			n, err := strconv.Atoi(tok)
			if err != nil || n < 0 || n >= len(c) {
				return "", fmt.Errorf("locating %s in the document", ptr)
			}
			cur = c[n]
		default:
			return "", fmt.Errorf("locating %s in the document", ptr)
		}
	}
}

func escapeToken(t string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(t)
}

func unescapeToken(t string) string {
	return strings.NewReplacer("~1", "/", "~0", "~").Replace(t)
}

// errCostLimit is a payload whose validation would take more than MaxValidationCost.
var errCostLimit = errors.New("validation cost over the limit")

// badNumberError is a number the validator cannot read as an exact rational (a decimal
// exponent beyond ±1,000,000) where a keyword needs it to: the library would crash.
type badNumberError struct{ path []string }

func (e *badNumberError) Error() string { return "number out of range" }

// costWalk walks a payload the way the validator would, charging each step, without
// building errors: an upper bound of the validator's work. It follows every branch of
// anyOf, oneOf and if/then/else (the validator may stop early), and resolves
// $dynamicRef and $recursiveRef along its scope as the validator does.
type costWalk struct {
	b     *schemaBound
	ctx   context.Context
	left  int64
	ticks int
	err   error
	scope []scopeStep
	path  []string // the payload location, for errors
	// trace, when set (tests), sees each subschema the walk applies to a value at a depth.
	trace func(s *jsonschema.Schema, vid int)
}

// scopeStep is one entry of the validator's scope: a subschema applied to the value at
// depth vid.
type scopeStep struct {
	s   *jsonschema.Schema
	vid int
}

// check returns nil when validating v against b's schema stays within limit steps,
// errCostLimit when it would not, a *badNumberError, or ctx's error.
func (b *schemaBound) check(ctx context.Context, v any, limit int64) error {
	w := &costWalk{b: b, ctx: ctx, left: limit}
	if !w.eval(b.root, v, 0) {
		if w.err == nil {
			w.err = errCostLimit
		}
		return w.err
	}
	return nil
}

// charge spends n steps; false when the budget is gone or the request was cancelled.
func (w *costWalk) charge(n int64) bool {
	w.left -= n
	if w.left < 0 {
		return false
	}
	if w.ticks++; w.ticks%4096 == 0 && w.ctx.Err() != nil {
		w.err = w.ctx.Err()
		return false
	}
	return true
}

// eval charges applying s to v (at depth vid) and everything that leads to; false stops
// the walk.
func (w *costWalk) eval(s *jsonschema.Schema, v any, vid int) bool {
	// A step builds an error that copies the value's location: deep values cost more.
	if !w.charge(1 + int64(vid)/16) {
		return false
	}
	if w.trace != nil {
		w.trace(s, vid)
	}
	if s.Bool != nil {
		return true
	}
	// The validator stops at a schema already applied to this very value on its path.
	for i := len(w.scope) - 1; i >= 0 && w.scope[i].vid == vid; i-- {
		if w.scope[i].s == s {
			return true
		}
	}
	n := w.b.nodes[s]
	if n == nil {
		// Cannot happen: analyseSchema visits every subschema a walk can reach. Refuse
		// rather than let the validator run unbounded.
		w.err = fmt.Errorf("internal: subschema %s missing from the validation bound", schemaLoc(s))
		return false
	}
	if !n.types.allows(v) {
		return true
	}
	w.scope = append(w.scope, scopeStep{s, vid})
	defer func() { w.scope = w.scope[:len(w.scope)-1] }()

	if s.Const != nil && !w.chargeValue(v, 1) {
		return false
	}
	if s.Enum != nil && !w.chargeValue(v, 1+int64(len(s.Enum.Values))/8) {
		return false
	}
	if s.Ref != nil && !w.eval(s.Ref, v, vid) {
		return false
	}
	switch x := v.(type) {
	case map[string]any:
		if !w.object(s, x, vid) {
			return false
		}
	case []any:
		if !w.array(s, x, vid) {
			return false
		}
	case string:
		if !w.text(s, n, x) {
			return false
		}
	case json.Number:
		if n.numeric {
			if !ratOK(string(x)) {
				w.err = &badNumberError{path: append([]string(nil), w.path...)}
				return false
			}
			if !w.charge(numberCost(string(x))) {
				return false
			}
		}
	}
	if s.RecursiveRef != nil && !w.eval(w.dynamicTarget(s, true), v, vid) {
		return false
	}
	if s.DynamicRef != nil && s.DynamicRef.Ref != nil && !w.eval(w.dynamicTarget(s, false), v, vid) {
		return false
	}
	for _, c := range []*jsonschema.Schema{s.Not, s.If, s.Then, s.Else} {
		if c != nil && !w.eval(c, v, vid) {
			return false
		}
	}
	for _, l := range [][]*jsonschema.Schema{s.AllOf, s.AnyOf, s.OneOf} {
		for _, c := range l {
			if !w.eval(c, v, vid) {
				return false
			}
		}
	}
	return true
}

// dynamicTarget resolves s's $recursiveRef (recursive) or $dynamicRef as the validator
// does: the outermost fitting schema of the scope, else the static target. It returns nil
// when s has no such reference.
func (w *costWalk) dynamicTarget(s *jsonschema.Schema, recursive bool) *jsonschema.Schema {
	if recursive {
		t := s.RecursiveRef
		if t == nil {
			return nil
		}
		if t.RecursiveAnchor {
			for i := len(w.scope) - 1; i >= 0; i-- {
				if n := w.b.nodes[w.scope[i].s]; n != nil && n.resource != nil && n.resource.RecursiveAnchor {
					t = w.scope[i].s
				}
			}
		}
		return t
	}
	d := s.DynamicRef
	if d == nil || d.Ref == nil {
		return nil
	}
	t := d.Ref
	if d.Anchor != "" && t.DynamicAnchor == d.Anchor {
		for i := len(w.scope) - 1; i >= 0; i-- {
			if n := w.b.nodes[w.scope[i].s]; n != nil && n.resource != nil {
				if a := w.b.nodes[n.resource].anchors[d.Anchor]; a != nil {
					t = a
				}
			}
		}
	}
	return t
}

func (w *costWalk) object(s *jsonschema.Schema, x map[string]any, vid int) bool {
	// The validator looks every member up in properties, matches it against every
	// pattern (about a step each), and may copy the member names to track unevaluated
	// ones.
	if !w.charge(int64(len(x))/16 + int64(len(x))*int64(len(s.PatternProperties))/4) {
		return false
	}
	if !w.charge(int64(len(s.Required)+len(s.DependentRequired)+len(s.Dependencies)) / 8) {
		return false
	}
	for k, m := range x {
		w.path = append(w.path, k)
		matched := false
		if c := s.Properties[k]; c != nil {
			matched = true
			if !w.eval(c, m, vid+1) {
				return false
			}
		}
		for re, c := range s.PatternProperties {
			if !w.charge(matchCost(re, k)) {
				return false
			}
			if re.MatchString(k) {
				matched = true
				if !w.eval(c, m, vid+1) {
					return false
				}
			}
		}
		if c, ok := s.AdditionalProperties.(*jsonschema.Schema); ok && !matched {
			if !w.eval(c, m, vid+1) {
				return false
			}
		}
		if s.UnevaluatedProperties != nil && !w.eval(s.UnevaluatedProperties, m, vid+1) {
			return false
		}
		if s.PropertyNames != nil {
			// A fresh validation of the name, with a scope of its own.
			saved := w.scope
			w.scope = nil
			ok := w.eval(s.PropertyNames, k, 0)
			w.scope = saved
			if !ok {
				return false
			}
		}
		w.path = w.path[:len(w.path)-1]
	}
	for k, c := range s.DependentSchemas {
		if _, ok := x[k]; ok && !w.eval(c, x, vid) {
			return false
		}
	}
	for k, d := range s.Dependencies {
		if c, ok := d.(*jsonschema.Schema); ok {
			if _, ok := x[k]; ok && !w.eval(c, x, vid) {
				return false
			}
		}
	}
	return true
}

// text charges the string keywords: formats and lengths read the string, a pattern
// matches it, and "format": "regex" compiles it.
func (w *costWalk) text(s *jsonschema.Schema, n *boundNode, x string) bool {
	c := int64(0)
	if s.Format != nil {
		c += int64(len(x)) / 8
		if s.Format.Name == "regex" {
			// Compiled by regexpCompiler, which refuses one over MaxRegexpSize.
			if size, err := regexpSize(x); err == nil {
				c += min(size, MaxRegexpSize) / 2
			}
		}
	}
	if n.text {
		c += int64(len(x)) / 32
	}
	if s.Pattern != nil {
		c += matchCost(s.Pattern, x)
	}
	return w.charge(c)
}

// matchCost is what matching x against re may cost, in steps of about a microsecond:
// Go's regexps take time in proportion to the string's length times the expression's
// size at worst.
func matchCost(re jsonschema.Regexp, x string) int64 {
	size := int64(1)
	if sr, ok := re.(sizedRegexp); ok {
		size = sr.size
	}
	return satMul(int64(len(x))+1, size) / 256
}

func (w *costWalk) array(s *jsonschema.Schema, x []any, vid int) bool {
	if s.UniqueItems && len(x) > 1 {
		// Every item is hashed (numbers read as exact rationals) and equal hashes compared.
		if !w.chargeValue(x, 1) {
			return false
		}
	}
	for i, m := range x {
		w.path = append(w.path, strconv.Itoa(i))
		var cs []*jsonschema.Schema
		switch it := s.Items.(type) {
		case *jsonschema.Schema:
			cs = append(cs, it)
		case []*jsonschema.Schema:
			if i < len(it) {
				cs = append(cs, it[i])
			} else if c, ok := s.AdditionalItems.(*jsonschema.Schema); ok {
				cs = append(cs, c)
			}
		}
		if i < len(s.PrefixItems) {
			cs = append(cs, s.PrefixItems[i])
		} else if s.Items2020 != nil {
			cs = append(cs, s.Items2020)
		}
		for _, c := range []*jsonschema.Schema{s.Contains, s.UnevaluatedItems} {
			if c != nil {
				cs = append(cs, c)
			}
		}
		for _, c := range cs {
			if !w.eval(c, m, vid+1) {
				return false
			}
		}
		w.path = w.path[:len(w.path)-1]
	}
	return true
}

// chargeValue charges times a walk over the whole of v: members and items, string bytes,
// number digits. A number the validator cannot read stops the walk with a badNumberError
// (it would crash the validator when hashed for uniqueItems).
func (w *costWalk) chargeValue(v any, times int64) bool {
	var c int64
	var walk func(v any) bool
	walk = func(v any) bool {
		switch x := v.(type) {
		case map[string]any:
			c += int64(len(x))
			for k, m := range x {
				c += int64(len(k)) / 32
				w.path = append(w.path, k)
				if !walk(m) {
					return false
				}
				w.path = w.path[:len(w.path)-1]
			}
		case []any:
			c++
			for i, m := range x {
				w.path = append(w.path, strconv.Itoa(i))
				if !walk(m) {
					return false
				}
				w.path = w.path[:len(w.path)-1]
			}
		case string:
			c += 1 + int64(len(x))/32
		case json.Number:
			if !ratOK(string(x)) {
				w.err = &badNumberError{path: append([]string(nil), w.path...)}
				return false
			}
			c += numberCost(string(x))
		default:
			c++
		}
		// Stop counting once the budget is gone.
		return c <= w.left/max(times, 1)+1
	}
	if !walk(v) {
		if w.err != nil {
			return false
		}
		w.left = -1
		return false
	}
	return w.charge(c * times)
}

// numberCost is what the validator pays to read a number as an exact rational, in steps
// of about a microsecond: it grows with the square of the digits (100,000 digits take
// some 20 ms) and faster than the exponent (1e1000000 takes some 25 ms). Called only for
// numbers ratOK accepts.
func numberCost(s string) int64 {
	mant, exp := s, int64(0)
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant = s[:i]
		exp = parseExp(s[i+1:])
	}
	l := int64(len(mant))
	if exp < 0 {
		exp = -exp
	}
	return 1 + l*l/500_000 + exp/128 + exp*exp/40_000_000
}

// parseExp reads an exponent, capping its magnitude well beyond what can be read.
func parseExp(s string) int64 {
	neg := false
	switch {
	case strings.HasPrefix(s, "-"):
		neg, s = true, s[1:]
	case strings.HasPrefix(s, "+"):
		s = s[1:]
	}
	var n int64
	for _, r := range s {
		if n < 1e12 {
			n = n*10 + int64(r-'0')
		}
	}
	if neg {
		return -n
	}
	return n
}

// ratOK reports whether math/big can read the JSON number s as a rational: its decimal
// exponent, net of the fraction digits, stays within ±1,000,000.
func ratOK(s string) bool {
	mant, exp := s, int64(0)
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant = s[:i]
		exp = parseExp(s[i+1:])
	}
	if i := strings.IndexByte(mant, '.'); i >= 0 {
		exp -= int64(len(mant) - i - 1)
	}
	return exp >= -1e6 && exp <= 1e6
}

// MaxRegexpSize bounds one regular expression of a schema ("pattern", a
// "patternProperties" key) or of a payload string that "format": "regex" checks, in
// compiled instructions (estimated from the parse tree, where "x{1,1000}" counts a
// thousand x): compiling takes time, and matching may take the product of the
// instructions and the string's length.
const MaxRegexpSize = 20_000

// maxSchemaRegexpSize bounds the instructions of all of a schema's regular expressions
// together, compiled twice each (once to check the schema against its meta-schema).
const maxSchemaRegexpSize = 400_000

// sizedRegexp is a compiled regular expression that knows its size.
type sizedRegexp struct {
	*regexp.Regexp
	size int64
}

// regexpCompiler is the schema compiler's regular expression engine: Go's RE2 regexps,
// refused over MaxRegexpSize, and, while the schema compiles, over maxSchemaRegexpSize
// together. The compiled schema keeps it for "format": "regex".
type regexpCompiler struct {
	compiling bool // set while the schema compiles; read-only once it is published
	left      int64
	err       error // the first limit a regular expression of the schema broke
}

func newRegexpCompiler() *regexpCompiler {
	return &regexpCompiler{compiling: true, left: maxSchemaRegexpSize}
}

func (rc *regexpCompiler) compile(s string) (jsonschema.Regexp, error) {
	n, err := regexpSize(s)
	if err != nil {
		return nil, err
	}
	if n > MaxRegexpSize {
		err := fmt.Errorf("the regular expression %s compiles to about %d instructions; the limit is %d", quoteShort(s), n, MaxRegexpSize)
		if rc.compiling && rc.err == nil {
			rc.err = err
		}
		return nil, err
	}
	if rc.compiling {
		if rc.left -= n; rc.left < 0 {
			err := fmt.Errorf("has regular expressions that compile to more than %d instructions together; the limit is %d", maxSchemaRegexpSize/2, maxSchemaRegexpSize/2)
			if rc.err == nil {
				rc.err = err
			}
			return nil, err
		}
	}
	re, err := regexp.Compile(s)
	if err != nil {
		return nil, err
	}
	return sizedRegexp{re, n}, nil
}

// quoteShort quotes a regular expression for a message, cut at 40 bytes.
func quoteShort(s string) string {
	if len(s) > 40 {
		return strconv.Quote(s[:40]) + "…"
	}
	return strconv.Quote(s)
}

// regexpSize parses a regular expression as regexp.Compile does and estimates its
// compiled instructions without compiling it.
func regexpSize(s string) (int64, error) {
	re, err := syntax.Parse(s, syntax.Perl)
	if err != nil {
		return 0, err
	}
	return regexpInsts(re), nil
}

func regexpInsts(re *syntax.Regexp) int64 {
	switch re.Op {
	case syntax.OpLiteral:
		return int64(len(re.Rune))
	case syntax.OpCapture:
		return 2 + regexpInsts(re.Sub[0])
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest:
		return 1 + regexpInsts(re.Sub[0])
	case syntax.OpRepeat:
		n := int64(re.Max)
		if n < 0 {
			n = int64(re.Min) + 1
		}
		return satMul(n, 1+regexpInsts(re.Sub[0]))
	case syntax.OpConcat, syntax.OpAlternate:
		n := int64(len(re.Sub))
		for _, sub := range re.Sub {
			n = satAdd(n, regexpInsts(sub))
		}
		return n
	}
	return 1
}

// satMul multiplies non-negative numbers without overflowing.
func satMul(a, b int64) int64 {
	if a != 0 && b > math.MaxInt64/a {
		return math.MaxInt64
	}
	return a * b
}
