package expr

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"unicode/utf8"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/functions"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/overloads"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/interpreter"
)

// How the bounds are applied. CEL checks its cost limit after each call returns, from the
// call's arguments and result, so a call can allocate its whole result, or run its whole
// loop, before the limit is seen. Herald therefore wraps every function whose result can
// be much larger than its arguments, or whose work can be much more than their size, in
// a check made before the call: it computes what the call would allocate (the size of
// `replace`'s result from the number of matches, `join`'s from its elements, ...) and its
// work (CEL's cost model for it, a regular expression counted by its compiled program),
// and cancels the evaluation when either is over its bound. Cancelling — like CEL's cost
// limit, and unlike an error value — cannot be absorbed by `||`, so an evaluation that
// met a bound always fails.
//
// What CEL charges too little for is charged after the call (the cost tracker): values
// built by an overload chosen at run time (`dyn` operands), list concatenation (a new
// list here: CEL's lazy concatenation would make deep equality and `join` cost the
// product of list size and concatenation depth), `format` and `strings.quote`.

// interruptEvery is how many comprehension steps run between two checks of the deadline.
const interruptEvery = 8

// refuse cancels the evaluation with a message naming the bound. CEL turns the panic
// into the evaluation's error (evalError keeps the message).
func refuse(format string, args ...any) {
	panic(interpreter.EvalCancelledError{Cause: interpreter.MemoryLimitExceeded, Message: fmt.Sprintf(format, args...)})
}

// bounds holds the checks of one environment.
type bounds struct {
	l limits
}

func newBounds(l limits) *bounds { return &bounds{l: l} }

// check inspects the arguments of a call before it runs (the receiver first). It cancels
// the evaluation when the call would exceed a bound, and returns a result to use instead
// of the function's, or nil to call the function.
type check func(args []ref.Val) ref.Val

// programOptions are the options every program of env is built with.
func (b *bounds) programOptions(env *cel.Env) ([]cel.ProgramOption, error) {
	checks := map[string]check{
		operators.Add:               b.checkAdd,
		overloads.TypeConvertBytes:  b.checkToBytes,
		overloads.TypeConvertString: b.checkToString,
		operators.In:                b.checkIn,
		overloads.Matches:           b.checkMatches,
		"replace":                   b.checkReplace,
		"join":                      b.checkJoin,
		"format":                    b.checkFormat,
		"strings.quote":             b.checkQuote,
		"split":                     b.checkSplit,
		"indexOf":                   b.checkIndexOf("indexOf"),
		"lastIndexOf":               b.checkIndexOf("lastIndexOf"),
		"charAt":                    b.checkRunes("charAt"),
		"substring":                 b.checkRunes("substring"),
		"lowerAscii":                b.checkRunes("lowerAscii"),
		"upperAscii":                b.checkRunes("upperAscii"),
		"reverse":                   b.checkRunes("reverse"),
	}
	fns := env.Functions()
	var guarded []*functions.Overload
	for name, c := range checks {
		fd, ok := fns[name]
		if !ok {
			return nil, fmt.Errorf("no function %s to bound", name)
		}
		bs, err := fd.Bindings()
		if err != nil {
			return nil, fmt.Errorf("bindings of %s: %w", name, err)
		}
		for _, o := range bs {
			guarded = append(guarded, guard(o, c))
		}
	}
	var trackers []cost.TrackerOption
	for id, t := range map[string]cost.FunctionTracker{
		overloads.AddList:         chargeAddList,
		overloads.ExtFormatString: chargeFormat,
		overloads.ExtQuoteString:  chargeQuote,
	} {
		trackers = append(trackers, cost.OverloadTracker(id, t))
	}
	return []cel.ProgramOption{
		cel.EvalOptions(cel.OptOptimize),
		cel.CostLimit(b.l.cost),
		cel.CostTracking(runtimeCost{}),
		cel.CostTrackerOptions(trackers...),
		cel.InterruptCheckFrequency(interruptEvery),
		// Functions of the standard library are bound once for all their overloads (a
		// singleton binding), which an environment cannot redeclare; a program's own
		// dispatcher can replace them, overload by overload, which is what this does.
		cel.Functions(guarded...),
		// == and != are planned without the dispatcher.
		cel.CustomDecoratorV2(b.decorateEquality),
		// Constant regular expressions are compiled when the program is built.
		cel.OptimizeRegex(b.regexOptimizations()...),
	}, nil
}

// guard returns o with c run before each of its implementations.
func guard(o *functions.Overload, c check) *functions.Overload {
	g := *o
	if f := o.Unary; f != nil {
		g.Unary = func(v ref.Val) ref.Val {
			if r := c([]ref.Val{v}); r != nil {
				return r
			}
			return f(v)
		}
	}
	if f := o.Binary; f != nil {
		g.Binary = func(l, r ref.Val) ref.Val {
			if res := c([]ref.Val{l, r}); res != nil {
				return res
			}
			return f(l, r)
		}
	}
	if f := o.Function; f != nil {
		g.Function = func(args ...ref.Val) ref.Val {
			if r := c(args); r != nil {
				return r
			}
			return f(args...)
		}
	}
	return &g
}

// allocates refuses a call that would allocate more than a call may.
func (b *bounds) allocates(fn string, n int64) {
	if n > int64(b.l.callBytes) {
		refuse("%s would allocate %s; a call may allocate at most %s", fn, bytesString(n), bytesString(int64(b.l.callBytes)))
	}
}

// allocatesMore refuses a call found, part way through counting, to need more than a
// call may allocate.
func (b *bounds) allocatesMore(fn string) {
	refuse("%s would allocate more than %s; a call may allocate at most that", fn, bytesString(int64(b.l.callBytes)))
}

// costs refuses a call whose own cost exceeds the cost limit (CEL would stop the
// evaluation after it anyway).
func (b *bounds) costs(fn string, c float64) {
	if c > float64(b.l.cost) {
		refuse("%s would cost %.0f; the cost limit is %d", fn, c, b.l.cost)
	}
}

// listSlot is the memory of one element of a list.
const listSlot = 16

// checkAdd bounds +: a string or bytes result is counted; two lists are concatenated
// into a new list (see chargeAddList) unless the left one is a comprehension's
// accumulator, which CEL appends to in place.
func (b *bounds) checkAdd(args []ref.Val) ref.Val {
	if len(args) != 2 {
		return nil
	}
	switch l := args[0].(type) {
	case types.String:
		if r, ok := args[1].(types.String); ok {
			b.allocates("+", int64(len(l))+int64(len(r)))
		}
	case types.Bytes:
		if r, ok := args[1].(types.Bytes); ok {
			b.allocates("+", int64(len(l))+int64(len(r)))
		}
	case traits.MutableLister:
		return nil
	case traits.Lister:
		r, ok := args[1].(traits.Lister)
		if !ok {
			return nil
		}
		ln, rn := listSize(l), listSize(r)
		b.allocates("+", (ln+rn)*listSlot)
		elems := make([]ref.Val, 0, ln+rn)
		for _, src := range []traits.Lister{l, r} {
			for it := src.Iterator(); it.HasNext() == types.True; {
				elems = append(elems, it.Next())
			}
		}
		return types.NewRefValList(types.DefaultTypeAdapter, elems)
	}
	return nil
}

// checkToBytes bounds bytes(string), which copies its argument.
func (b *bounds) checkToBytes(args []ref.Val) ref.Val {
	if s, ok := args[0].(types.String); ok {
		b.allocates("bytes", int64(len(s)))
	}
	return nil
}

// checkToString bounds string(bytes), which copies its argument.
func (b *bounds) checkToString(args []ref.Val) ref.Val {
	if s, ok := args[0].(types.Bytes); ok {
		b.allocates("string", int64(len(s)))
	}
	return nil
}

// checkIn bounds `x in list`, which compares x with every element (deeply, for lists and
// maps).
func (b *bounds) checkIn(args []ref.Val) ref.Val {
	if len(args) != 2 {
		return nil
	}
	l, ok := args[1].(traits.Lister)
	if !ok {
		return nil
	}
	n := uint64(listSize(l))
	if n == 0 {
		return nil
	}
	per := countValues(args[0], b.l.cost/n+1)
	if n*per > b.l.cost {
		refuse("in would compare more than %d values; the limit is %d", b.l.cost, b.l.cost)
	}
	return nil
}

// decorateEquality replaces == and != by calls that first bound the comparison: two
// lists or maps of the same size are compared element by element, deeply, and may share
// elements (`l.map(x, l)` is a list of n lists of n), so the values compared are counted
// first.
func (b *bounds) decorateEquality(i interpreter.InterpretableV2) (interpreter.InterpretableV2, error) {
	call, ok := i.(interpreter.InterpretableCall)
	if !ok || len(call.Args()) != 2 {
		return i, nil
	}
	var impl func(l, r ref.Val) ref.Val
	switch {
	case call.Function() == operators.Equals && call.OverloadID() == overloads.Equals:
		impl = types.Equal
	case call.Function() == operators.NotEquals && call.OverloadID() == overloads.NotEquals:
		impl = func(l, r ref.Val) ref.Val { return types.Bool(types.Equal(l, r) != types.True) }
	default:
		return i, nil
	}
	return interpreter.NewCall(call.ID(), call.Function(), call.OverloadID(), call.Args(), func(args ...ref.Val) ref.Val {
		b.checkEqual(call.Function(), args[0], args[1])
		return impl(args[0], args[1])
	}), nil
}

func (b *bounds) checkEqual(fn string, l, r ref.Val) {
	var ls, rs int64
	switch lv := l.(type) {
	case traits.Mapper:
		rv, ok := r.(traits.Mapper)
		if !ok {
			return
		}
		ls, rs = sizeOf(lv), sizeOf(rv)
	case traits.Lister:
		rv, ok := r.(traits.Lister)
		if !ok {
			return
		}
		ls, rs = listSize(lv), listSize(rv)
	default:
		return
	}
	if ls != rs || ls == 0 {
		return // answered without comparing elements
	}
	if countValues(l, b.l.cost) > b.l.cost && countValues(r, b.l.cost) > b.l.cost {
		refuse("%s would compare more than %d values; the limit is %d", strings.Trim(fn, "_"), b.l.cost, b.l.cost)
	}
}

// checkMatches bounds a regular expression given at run time: its size, its compiled
// program, and the work of running it (CEL's cost model, with the program's size where
// CEL counts the pattern's: `.{1000}` is 7 bytes and 2,000 instructions).
func (b *bounds) checkMatches(args []ref.Val) ref.Val {
	if len(args) != 2 {
		return nil
	}
	s, ok1 := args[0].(types.String)
	p, ok2 := args[1].(types.String)
	if !ok1 || !ok2 {
		return nil
	}
	prog, ok := b.regexBounds(string(p))
	if !ok {
		return nil // does not parse: matches says why
	}
	b.matchCost(len(s), len(p), prog)
	return nil
}

// regexBounds refuses a pattern over the bounds and returns its program size; ok is
// false when it does not parse.
func (b *bounds) regexBounds(p string) (int, bool) {
	if len(p) > b.l.regexLen {
		refuse("matches: the regular expression is %d bytes; the limit is %d", len(p), b.l.regexLen)
	}
	prog, ok := regexProgram(p, b.l.regexProg)
	if ok && prog > b.l.regexProg {
		refuse("matches: the regular expression compiles to more than %d instructions; the limit is %d", b.l.regexProg, b.l.regexProg)
	}
	return prog, ok
}

// matchCost refuses running a program of prog instructions (from a pattern of plen
// bytes) over n bytes when that alone exceeds the cost limit.
func (b *bounds) matchCost(n, plen, prog int) {
	b.costs("matches", math.Ceil(cost.StringTraversalCostFactor*float64(n+1))*math.Ceil(cost.RegexStringLengthCostFactor*float64(max(plen, prog))))
}

// regexOptimizations compile constant patterns when a program is built (as CEL does),
// refusing those over the bounds then, and check the cost of each match.
func (b *bounds) regexOptimizations() []*interpreter.RegexOptimization {
	var out []*interpreter.RegexOptimization
	for _, id := range []string{overloads.Matches, overloads.MatchesString} {
		out = append(out, &interpreter.RegexOptimization{
			Function:   overloads.Matches,
			OverloadID: id,
			RegexIndex: 1,
			Factory: func(call interpreter.InterpretableCall, pattern string) (ic interpreter.InterpretableCall, err error) {
				var prog int
				if err := cancelled(func() { prog, _ = b.regexBounds(pattern) }); err != nil {
					return nil, err
				}
				re, err := regexp.Compile(pattern)
				if err != nil {
					return nil, err
				}
				return interpreter.NewCall(call.ID(), call.Function(), call.OverloadID(), call.Args(), func(values ...ref.Val) ref.Val {
					if len(values) != 2 {
						return types.NoSuchOverloadErr()
					}
					in, ok := values[0].(types.String)
					if !ok {
						return types.NoSuchOverloadErr()
					}
					b.matchCost(len(in), len(pattern), prog)
					return types.Bool(re.MatchString(string(in)))
				}), nil
			},
		})
	}
	return out
}

// cancelled runs f and returns the refusal it panicked with, if any.
func cancelled(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			ce, ok := r.(interpreter.EvalCancelledError)
			if !ok {
				panic(r)
			}
			err = ce
		}
	}()
	f()
	return nil
}

// checkReplace bounds s.replace(old, new[, n]) by the size of its result, computed from
// the number of matches before anything is built.
func (b *bounds) checkReplace(args []ref.Val) ref.Val {
	if len(args) < 3 {
		return nil
	}
	s, ok1 := args[0].(types.String)
	old, ok2 := args[1].(types.String)
	repl, ok3 := args[2].(types.String)
	if !ok1 || !ok2 || !ok3 {
		return nil
	}
	var matches int64
	if old == "" {
		matches = int64(utf8.RuneCountInString(string(s))) + 1
	} else {
		matches = int64(strings.Count(string(s), string(old)))
	}
	if len(args) == 4 {
		if n, ok := args[3].(types.Int); ok && n >= 0 && int64(n) < matches {
			matches = int64(n)
		}
	}
	b.allocates("replace", int64(len(s))+matches*(int64(len(repl))-int64(len(old))))
	return nil
}

// checkJoin bounds l.join([sep]) by the size of its result (a string builder's buffer
// grows to up to twice that) and refuses elements that are not strings itself (the
// extension's message would print the whole element).
func (b *bounds) checkJoin(args []ref.Val) ref.Val {
	l, ok := args[0].(traits.Lister)
	if !ok {
		return nil
	}
	var sep int64
	if len(args) == 2 {
		s, ok := args[1].(types.String)
		if !ok {
			return nil
		}
		sep = int64(len(s))
	}
	n := listSize(l)
	b.costs("join", cost.StringTraversalCostFactor*float64(n+1))
	var total int64
	i := 0
	for it := l.Iterator(); it.HasNext() == types.True; i++ {
		e := it.Next()
		s, ok := e.(types.String)
		if !ok {
			if types.IsError(e) {
				return e
			}
			return types.NewErr("join: element %d is a %s, not a string", i, e.Type().TypeName())
		}
		total += int64(len(s))
		if i > 0 {
			total += sep
		}
		if 2*total > int64(b.l.callBytes) {
			b.allocatesMore("join")
		}
	}
	return nil
}

// checkFormat bounds s.format(args) by an upper bound of its result: each argument
// formatted at its widest (hex doubles a string; a fixed-point double takes up to ~400
// characters), the buffer growing to twice that and copied once more.
func (b *bounds) checkFormat(args []ref.Val) ref.Val {
	if len(args) != 2 {
		return nil
	}
	f, ok := args[0].(types.String)
	if !ok {
		return nil
	}
	est := &formatEstimate{max: int64(b.l.callBytes), nodes: b.l.cost}
	est.add(int64(len(f)))
	if !est.value(args[1]) {
		if est.nodes == 0 {
			refuse("format would format more than %d values; the limit is %d", b.l.cost, b.l.cost)
		}
		b.allocatesMore("format")
	}
	b.allocates("format", 3*est.total)
	return nil
}

// formatEstimate sums the widest formatting of values, stopping once over max or after
// nodes values.
type formatEstimate struct {
	total, max int64
	nodes      uint64
}

func (e *formatEstimate) add(n int64) { e.total += n }

// value adds the widest formatting of v; it reports false once the estimate is over.
func (e *formatEstimate) value(v ref.Val) bool {
	if e.nodes == 0 || 3*e.total > e.max {
		return false
	}
	e.nodes--
	switch x := v.(type) {
	case types.String:
		e.add(2*int64(len(x)) + 2)
	case types.Bytes:
		e.add(2*int64(len(x)) + 2)
	case types.Double:
		e.add(512)
	case traits.Mapper:
		e.add(2)
		for it := x.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			e.add(4)
			if !e.value(k) {
				return false
			}
			if val, found := x.Find(k); found && !e.value(val) {
				return false
			}
		}
	case traits.Lister:
		e.add(2)
		for it := x.Iterator(); it.HasNext() == types.True; {
			e.add(2)
			if !e.value(it.Next()) {
				return false
			}
		}
	default:
		e.add(64)
	}
	return true
}

// checkQuote bounds strings.quote(s): invalid UTF-8 becomes U+FFFD (3 bytes a byte), an
// escape doubles a character, and two builders and a concatenation copy it.
func (b *bounds) checkQuote(args []ref.Val) ref.Val {
	s, ok := args[0].(types.String)
	if !ok {
		return nil
	}
	n := int64(len(s))
	if !utf8.ValidString(string(s)) {
		n *= 3
	}
	b.allocates("strings.quote", 7*n+2)
	return nil
}

// checkSplit bounds s.split(sep[, n]) by the size of its list (a string header for each
// part; the parts share s).
func (b *bounds) checkSplit(args []ref.Val) ref.Val {
	if len(args) < 2 {
		return nil
	}
	s, ok1 := args[0].(types.String)
	sep, ok2 := args[1].(types.String)
	if !ok1 || !ok2 {
		return nil
	}
	var parts int64
	if sep == "" {
		parts = int64(utf8.RuneCountInString(string(s)))
	} else {
		parts = int64(strings.Count(string(s), string(sep))) + 1
	}
	if len(args) == 3 {
		if n, ok := args[2].(types.Int); ok && n >= 0 && int64(n) < parts {
			parts = int64(n)
		}
	}
	b.allocates("split", parts*listSlot)
	return nil
}

// checkIndexOf bounds indexOf and lastIndexOf, which compare the substring at every
// position (CEL's cost model: a tenth of the product of the lengths) after converting both
// strings to runes.
func (b *bounds) checkIndexOf(fn string) check {
	return func(args []ref.Val) ref.Val {
		if len(args) < 2 {
			return nil
		}
		s, ok1 := args[0].(types.String)
		sub, ok2 := args[1].(types.String)
		if !ok1 || !ok2 {
			return nil
		}
		n, m := utf8.RuneCountInString(string(s)), utf8.RuneCountInString(string(sub))
		b.allocates(fn, 4*int64(n)+4*int64(m))
		b.costs(fn, cost.StringTraversalCostFactor*float64(n)*float64(m))
		return nil
	}
}

// checkRunes bounds the functions of the strings extension that convert their receiver
// to runes (4 bytes each) and build a result up to the receiver's size (3 bytes a byte
// for invalid UTF-8, which becomes U+FFFD).
func (b *bounds) checkRunes(fn string) check {
	return func(args []ref.Val) ref.Val {
		s, ok := args[0].(types.String)
		if !ok {
			return nil
		}
		n := int64(utf8.RuneCountInString(string(s)))
		out := int64(len(s))
		if !utf8.ValidString(string(s)) {
			out = 3 * n
		}
		b.allocates(fn, 4*n+out)
		return nil
	}
}

// listSize is the number of elements of l.
func listSize(l traits.Lister) int64 {
	n, _ := l.Size().(types.Int)
	return int64(n)
}

// sizeOf is the number of entries of m.
func sizeOf(m traits.Mapper) int64 {
	n, _ := m.Size().(types.Int)
	return int64(n)
}

// countValues counts v and the values inside it (elements, keys and values, at every
// depth), stopping once it has counted more than limit.
func countValues(v ref.Val, limit uint64) uint64 {
	var n uint64
	var walk func(ref.Val) bool
	walk = func(v ref.Val) bool {
		n++
		if n > limit {
			return false
		}
		switch c := v.(type) {
		case traits.Mapper:
			for it := c.Iterator(); it.HasNext() == types.True; {
				k := it.Next()
				if !walk(k) {
					return false
				}
				if val, found := c.Find(k); found && !walk(val) {
					return false
				}
			}
		case traits.Lister:
			for it := c.Iterator(); it.HasNext() == types.True; {
				if !walk(it.Next()) {
					return false
				}
			}
		}
		return true
	}
	walk(v)
	return n
}

// runtimeCost charges calls whose overload CEL only chooses at run time (an operand typed
// dyn, such as a field of `input`): CEL charges those 1, whatever they build. It charges
// them as the overload the operands select. It also charges the size of a string by its
// length (CEL charges 1).
type runtimeCost struct{}

// CallCost implements cost.ActualCostEstimator.
func (runtimeCost) CallCost(function, overloadID string, args []ref.Val, result ref.Val) *uint64 {
	if function == overloads.Size && len(args) == 1 {
		// CEL charges size() 1, but a string's size counts its code points: a read of the
		// whole string, which a comprehension can repeat. (A list's, map's or bytes' size
		// is stored: 1 is right.)
		if s, ok := args[0].(types.String); ok {
			return scan(int64(len(s)))
		}
	}
	if overloadID != "" {
		return nil
	}
	switch function {
	case operators.Add:
		if len(args) != 2 {
			return nil
		}
		switch l := args[0].(type) {
		case types.String:
			if r, ok := args[1].(types.String); ok {
				return scan(int64(len(l)) + int64(len(r)))
			}
		case types.Bytes:
			if r, ok := args[1].(types.Bytes); ok {
				return scan(int64(len(l)) + int64(len(r)))
			}
		case traits.Lister:
			return chargeAddList(args, result)
		}
	case overloads.TypeConvertBytes:
		if s, ok := args[0].(types.String); ok {
			return scan(int64(len(s)))
		}
	case overloads.TypeConvertString:
		if s, ok := args[0].(types.Bytes); ok {
			return scan(int64(len(s)))
		}
	case operators.In:
		if len(args) == 2 {
			if l, ok := args[1].(traits.Lister); ok {
				n := uint64(max(listSize(l), 1))
				return &n
			}
		}
	}
	return nil
}

// scan is CEL's cost of reading n bytes.
func scan(n int64) *uint64 {
	c := uint64(math.Ceil(cost.StringTraversalCostFactor * float64(n)))
	return &c
}

// chargeAddList charges a list concatenation a unit per element of the new list (1, as
// CEL does, when a comprehension appends to its accumulator in place).
func chargeAddList(args []ref.Val, result ref.Val) *uint64 {
	c := uint64(1)
	if len(args) == 2 {
		if _, inPlace := args[0].(traits.MutableLister); !inPlace {
			if l, ok := result.(traits.Lister); ok {
				c += uint64(listSize(l))
			}
		}
	}
	return &c
}

// chargeFormat charges format for reading its format string (as CEL does) and for the
// string it built.
func chargeFormat(args []ref.Val, result ref.Val) *uint64 {
	var n int64
	if len(args) > 0 {
		if f, ok := args[0].(types.String); ok {
			n = int64(len(f))
		}
	}
	if s, ok := result.(types.String); ok {
		n += int64(len(s))
	}
	c := *scan(n) + 1
	return &c
}

// chargeQuote charges strings.quote for reading its argument (as CEL does) and for the
// string it built.
func chargeQuote(args []ref.Val, result ref.Val) *uint64 {
	var n int64
	if len(args) > 0 {
		if s, ok := args[0].(types.String); ok {
			n = int64(len(s))
		}
	}
	if s, ok := result.(types.String); ok {
		n += int64(len(s))
	}
	return scan(n)
}

// bytesString writes n bytes for people.
func bytesString(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
