package expr

import (
	"context"
	"fmt"
	"regexp/syntax"
	"runtime"
	"strings"
	"testing"
	"time"

	"cel.dev/cel-go/cel"
)

// event is the activation of a trigger expression over payload.
func event(payload map[string]any) map[string]any {
	return map[string]any{"input": payload, "additional_metadata": map[string]any{}, "key": "k", "scope": ""}
}

// evalBool evaluates p over vars alone: no event budget, a slot of its own.
func evalBool(p *Program, vars any) (bool, error) {
	return NewEvaluator(1).Bool(context.Background(), nil, p, vars)
}

// evalString evaluates p over vars like evalBool; the result must be a string.
func evalString(p *Program, vars any) (string, error) {
	return NewEvaluator(1).String(context.Background(), nil, p, vars)
}

func triggerEnv(t testing.TB) *Env {
	t.Helper()
	env, err := NewTriggerEnv()
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func numbers(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = float64(i % 7)
	}
	return out
}

// allocated runs f and returns the bytes the process allocated meanwhile. Tests that use
// it do not run in parallel.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestAmplificationIsRefusedBeforeItAllocates: expressions that would build (or compare)
// far more than their input — replace of a string by itself, join and format of a list
// repeating a string, chains of + over dyn strings, bytes() in a loop, list
// concatenation, equality and `in` over shared lists, indexOf's quadratic search, regular
// expressions that compile to huge programs, split into single characters — fail with a
// message naming the bound, and the evaluation allocates little: CEL's own cost limit is
// only checked after a call returns, by when replace alone had built 381 MiB out of
// 20 KB.
func TestAmplificationIsRefusedBeforeItAllocates(t *testing.T) {
	env := triggerEnv(t)
	mb := strings.Repeat("a", 1_000_000)
	kb20 := strings.Repeat("a", 20_000)
	rep := func(term string, n int) string { return strings.TrimSuffix(strings.Repeat(term+" + ", n), " + ") }
	cases := []struct {
		name, expr string
		input      map[string]any
		want       string
	}{
		{"replace by itself, 20 KB", `input.s.replace("a", input.s).size() > 0`, map[string]any{"s": kb20}, "replace would allocate 381.5 MiB"},
		{"replace by itself, 1 MB", `input.s.replace("a", input.s).size() > 0`, map[string]any{"s": mb}, "replace would allocate 931.3 GiB"},
		{"replace n times", `input.s.replace("a", input.s, 5000).size() > 0`, map[string]any{"s": kb20}, "replace would allocate"},
		{"join of a repeated string", `[` + strings.TrimSuffix(strings.Repeat("input.s, ", 20), ", ") + `].join() != ""`, map[string]any{"s": mb}, "join would allocate"},
		{"join of a mapped list", `input.items.map(x, input.s).join("-") != ""`, map[string]any{"s": kb20, "items": numbers(2000)}, "join would allocate"},
		{"format", `"%s%s%s%s%s%s%s%s%s%s".format([` + strings.TrimSuffix(strings.Repeat("input.s, ", 10), ", ") + `]) != ""`, map[string]any{"s": mb}, "format would allocate"},
		{"format of a shared list", `"%s".format([input.items.map(x, input.items)]) != ""`, map[string]any{"items": numbers(3000)}, "format would"},
		{"chain of + over dyn strings", `(` + rep("input.s", 40) + `).size() > 0`, map[string]any{"s": mb}, "cost limit"},
		{"bytes() kept by map", `input.items.map(x, bytes(input.s)).size() > 0`, map[string]any{"s": mb, "items": numbers(2000)}, "cost limit"},
		{"string + past the call bound", `(input.s + input.s).size() > 0`, map[string]any{"s": strings.Repeat(mb, 5)}, "+ would allocate 9.5 MiB"},
		{"list concatenation", `(` + rep("input.items", 5) + `).size() > 0`, map[string]any{"items": numbers(200_000)}, "+ would allocate 9.2 MiB"},
		{"in over a concatenation", `99.0 in (` + rep("input.items", 40) + `)`, map[string]any{"items": numbers(100_000)}, "cost limit"},
		{"in over a long list", `99.0 in input.items`, map[string]any{"items": numbers(2_000_000)}, "in would compare more than"},
		{"equality of shared lists", `input.items.map(x, input.items) == input.items.map(x, input.items)`, map[string]any{"items": numbers(10_000)}, "== would compare more than"},
		{"inequality of shared lists", `input.items.map(x, input.items) != input.items.map(x, input.items)`, map[string]any{"items": numbers(10_000)}, "!= would compare more than"},
		{"in over shared lists", `input.items in input.items.map(x, input.items)`, map[string]any{"items": numbers(10_000)}, "in would compare more than"},
		{"indexOf", `input.s.indexOf(input.t) > 0`, map[string]any{"s": kb20, "t": kb20[:10_000] + "b"}, "indexOf would cost 20002000"},
		{"lastIndexOf", `input.s.lastIndexOf(input.t) > 0`, map[string]any{"s": kb20, "t": "b" + kb20[:10_000]}, "lastIndexOf would cost"},
		{"constant regex over a long string", `input.s.matches(".{1000}b")`, map[string]any{"s": kb20}, "matches would cost"},
		{"regex given at run time", `input.s.matches(input.p)`, map[string]any{"s": "a", "p": strings.Repeat(".{1000}", 20)}, "compiles to more than 10000 instructions"},
		{"long regex given at run time", `input.s.matches(input.p)`, map[string]any{"s": "a", "p": strings.Repeat("a", 5000)}, "the regular expression is 5000 bytes"},
		{"split into characters", `input.s.split("").size() > 0`, map[string]any{"s": mb}, "split would allocate 15.3 MiB"},
		{"runes of a long string", `(input.s + input.s).lowerAscii() != ""`, map[string]any{"s": mb}, "lowerAscii would allocate"},
	}
	for _, tc := range cases {
		p, err := env.Compile(tc.expr)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var got bool
		var evalErr error
		n := allocated(func() { got, evalErr = evalBool(p, event(tc.input)) })
		if !IsError(evalErr) || !strings.Contains(evalErr.Error(), tc.want) {
			t.Errorf("%s: got %v, %v; want an expression error containing %q", tc.name, got, evalErr, tc.want)
		}
		if n > MaxEvalBytes {
			t.Errorf("%s: the evaluation allocated %s; the bound is %s", tc.name, bytesString(int64(n)), bytesString(MaxEvalBytes))
		}
	}
}

// TestConstantRegexOverTheBoundsIsRefusedAtCompile: a constant regular expression that
// compiles to a huge program (a 3.5 KB one compiles to 500,000 instructions and 113 MB)
// is refused when the expression is saved, as a compile error.
func TestConstantRegexOverTheBoundsIsRefusedAtCompile(t *testing.T) {
	env := triggerEnv(t)
	for _, src := range []string{
		`input.s.matches("` + strings.Repeat(".{1000}", 500) + `")`,
		`matches(input.s, "` + strings.Repeat("[a-z]{1000}", 11) + `")`,
		`"abc".matches("` + strings.Repeat("(a|b){1000}", 3) + `")`,
	} {
		var err error
		n := allocated(func() { _, err = env.Compile(src) })
		if !IsError(err) || !strings.Contains(err.Error(), "instructions") {
			t.Errorf("Compile(%.40s…) = %v, want the program bound", src, err)
		}
		if n > MaxEvalBytes {
			t.Errorf("Compile(%.40s…) allocated %s", src, bytesString(int64(n)))
		}
	}
}

// TestDeadline: a comprehension that stays under the cost limit but runs past the
// deadline (1 ms here: 200,000 steps take longer) is interrupted.
func TestDeadline(t *testing.T) {
	env, err := newEnv(cel.BoolType, limits{cost: CostLimit, callBytes: MaxCallBytes, timeout: time.Millisecond, regexLen: MaxRegexBytes, regexProg: MaxRegexProgram}, triggerVars()...)
	if err != nil {
		t.Fatal(err)
	}
	input := map[string]any{"items": numbers(200_000)}
	for _, src := range []string{
		`input.items.all(x, x >= 0.0)`,
		// The interruption is an error value inside the comprehension; || would absorb
		// it, but the evaluation fails all the same.
		`input.items.all(x, x >= 0.0) || true`,
	} {
		p, err := env.Compile(src)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := evalBool(p, event(input)); !IsError(err) || !strings.Contains(err.Error(), "ran longer than 1ms") {
			t.Errorf("%s: %v, want the deadline", src, err)
		}
	}
}

// TestSizeOfAStringIsChargedByItsLength: size() of a string counts its code points, a
// read of the whole string that CEL charges 1; a comprehension repeating it over a 1 MB
// string stops at the cost limit after a few steps (it ran to the 1 s deadline before,
// each step reading the string anew). The size of a list, a map or bytes is stored and
// still costs 1.
func TestSizeOfAStringIsChargedByItsLength(t *testing.T) {
	t.Parallel()
	env := triggerEnv(t)
	input := map[string]any{"s": strings.Repeat("é", 500_000), "items": numbers(200_000)}
	p, err := env.Compile(`input.items.all(x, input.s.size() > 0)`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := evalBool(p, event(input)); !IsError(err) || !strings.Contains(err.Error(), "cost limit") {
		t.Errorf("size of a 1 MB string in a comprehension: %v, want the cost limit", err)
	}
	for _, tc := range []struct {
		src      string
		min, max uint64
	}{
		{`size(input.s) > 0`, 100_000, 100_010},
		{`input.s.size() > 0`, 100_000, 100_010},
		{`"abc".size() == 3`, 0, 10},
		{`input.items.size() > 0`, 0, 10},
		{`size(input) > 0`, 0, 10},
	} {
		p, err := env.Compile(tc.src)
		if err != nil {
			t.Fatal(err)
		}
		b := NewBudget(EventBudget)
		if ok, err := NewEvaluator(1).Bool(context.Background(), b, p, event(input)); err != nil || !ok {
			t.Fatalf("%s: %v, %v", tc.src, ok, err)
		}
		if got := b.Spent() - EvalBaseCost; got < tc.min || got > tc.max {
			t.Errorf("%s cost %d, want %d to %d", tc.src, got, tc.min, tc.max)
		}
	}
}

// TestBoundedFunctionsKeepTheirResults: under the bounds, the guarded functions give
// what CEL gives; list concatenation still makes the same list (a new one), and
// comprehensions still append to their accumulator.
func TestBoundedFunctionsKeepTheirResults(t *testing.T) {
	t.Parallel()
	env := triggerEnv(t)
	input := map[string]any{"s": "a-b-c", "items": []any{1.0, 2.0, 3.0}, "nested": []any{[]any{"x"}, map[string]any{"k": "v"}},
		"n": 2.0, "p": "^a.b", "bytes": "héllo"}
	for _, src := range []string{
		`input.s.replace("-", "+") == "a+b+c"`,
		`input.s.replace("-", "", 1) == "ab-c"`,
		`input.s.replace("", ".") == ".a.-.b.-.c."`,
		`input.s.split("-").join("/") == "a/b/c"`,
		`input.s.split("").size() == 5`,
		`input.s.split("-", 2) == ["a", "b-c"]`,
		`["x", "y"].join() == "xy"`,
		`"%s and %d and %.2f".format(["x", 3, 1.5]) == "x and 3 and 1.50"`,
		`"%s".format([input.nested]) == "[[x], {k: v}]"`,
		`strings.quote("a\"b") == "\"a\\\"b\""`,
		`input.s.indexOf("b") == 2 && input.s.lastIndexOf("-") == 3`,
		`input.s.upperAscii() == "A-B-C" && input.s.reverse() == "c-b-a" && input.s.charAt(2) == "b"`,
		`input.s.substring(2) == "b-c" && input.s.substring(1, 3) == "-b"`,
		`input.s + "!" == "a-b-c!"`,
		`b"ab" + b"c" == b"abc" && bytes(input.bytes).size() == 6 && string(b"ok") == "ok"`,
		`input.items + [4.0] == [1.0, 2.0, 3.0, 4.0]`,
		`[1] + [2] + [3] == [1, 2, 3] && ([1] + [2] + [3])[2] == 3`,
		`(input.items + input.items).size() == 6`,
		`input.items.map(x, x * 2.0) == [2.0, 4.0, 6.0]`,
		`input.items.filter(x, x > 1.0) == [2.0, 3.0]`,
		`input.items.map(x, [x] + [x]).size() == 3`,
		`2.0 in input.items && !(5.0 in input.items) && [1.0] in input.items.map(x, [x])`,
		`input.nested == [["x"], {"k": "v"}] && input.nested != [["y"], {"k": "v"}]`,
		`{"a": [1, 2]} == {"a": [1, 2]} && [[1], [2]] != [[1], [3]]`,
		`input.s.matches(input.p) && matches(input.s, "c$") && !input.s.matches("^z")`,
		`"x" in {"x": 1}`,
	} {
		p, err := env.Compile(src)
		if err != nil {
			t.Errorf("Compile(%s): %v", src, err)
			continue
		}
		if got, err := evalBool(p, event(input)); err != nil || !got {
			t.Errorf("%s = %v, %v; want true", src, got, err)
		}
	}
}

// TestCostOfDynCallsIsCharged: CEL charges a call whose overload is chosen at run time 1,
// whatever it builds; here it costs what the overload it selects costs.
func TestCostOfDynCallsIsCharged(t *testing.T) {
	t.Parallel()
	env := triggerEnv(t)
	input := map[string]any{"s": strings.Repeat("a", 300_000), "items": numbers(10)}
	for _, src := range []string{
		// 20 strings of 600 KB at 60,000 units each, or 20 copies of 300 KB at 30,000:
		// over the limit either way (CEL charged each call 1).
		`input.items.map(x, input.s + input.s).size() > 0 && input.items.map(x, input.s + input.s).size() > 0`,
		`input.items.map(x, bytes(input.s + input.s)).size() > 0 && input.items.map(x, bytes(input.s)).size() > 0`,
	} {
		p, err := env.Compile(src)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := evalBool(p, event(input)); !IsError(err) || !strings.Contains(err.Error(), "cost limit") {
			t.Errorf("%s: %v, want the cost limit", src, err)
		}
	}
}

// TestErrorMessagesAreBounded: CEL's message may quote the input (a missing key of 1 MB);
// the error keeps its first KiB.
func TestErrorMessagesAreBounded(t *testing.T) {
	t.Parallel()
	env := triggerEnv(t)
	p, err := env.Compile(`input[input.s] == 1`)
	if err != nil {
		t.Fatal(err)
	}
	_, err = evalBool(p, event(map[string]any{"s": strings.Repeat("é", 500_000)}))
	if !IsError(err) || len(err.Error()) > maxErrorBytes+len("…") || !strings.Contains(err.Error(), "no such key") {
		t.Fatalf("error of %d bytes: %.80s", len(err.Error()), err)
	}
}

// TestCompileRefusals: what is refused when an expression is saved.
func TestCompileRefusals(t *testing.T) {
	t.Parallel()
	trig := triggerEnv(t)
	hook, err := NewWebhookEnv()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		env  *Env
		src  string
		want string
	}{
		{trig, ``, "empty"},
		{trig, `  `, "empty"},
		{trig, strings.Repeat("true && ", 600) + "true", "the limit is 4096"},
		{trig, `input.a >`, "Syntax error"},
		{trig, `nope == 1`, "undeclared reference"},
		{trig, `"a"`, "it must give a bool"},
		{hook, `1 + 2`, "it must give a string"},
		{hook, `key`, "undeclared reference"},
		{trig, `input.s.matches("(")`, "missing closing )"},
	} {
		if err := tc.env.Check(tc.src); !IsError(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Check(%.30s) = %v, want %q", tc.src, err, tc.want)
		}
	}
	if err := hook.Check(`'stripe:' + input.type`); err != nil {
		t.Error(err)
	}
}

// TestRegexProgramIsAnUpperBound: the program size counted without compiling is never
// below the size of the compiled program.
func TestRegexProgramIsAnUpperBound(t *testing.T) {
	t.Parallel()
	for _, p := range []string{
		``, `a`, `abc`, `a|b|c`, `(a|b)*c+d?`, `^[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}$`, `.{1000}`, `a{2,5}`, `(ab){3,}`,
		`(?i)hello\b`, `(?:x{10}){10}`, `[^a]{0,50}`, `(a*)*`, `((a|b){2}|c){3}`, `\pL+\d*`, `x{0}`, `(|a)`, `a{5}b{7,9}`,
	} {
		re, err := syntax.Parse(p, syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		prog, err := syntax.Compile(re.Simplify())
		if err != nil {
			t.Fatal(err)
		}
		est, ok := regexProgram(p, MaxRegexProgram)
		if !ok || est < len(prog.Inst) {
			t.Errorf("%q: estimated %d instructions, compiled %d", p, est, len(prog.Inst))
		}
		if est > 4*len(prog.Inst)+8 {
			t.Errorf("%q: estimated %d instructions, compiled %d: too loose", p, est, len(prog.Inst))
		}
	}
	if n, _ := regexProgram(strings.Repeat("a{1000}", 100), 10_000); n != 10_001 {
		t.Errorf("a large program counts as %d, want the limit + 1", n)
	}
}

func ExampleEnv_Compile() {
	env, _ := NewWebhookEnv()
	p, _ := env.Compile(`'stripe:' + input.type`)
	key, err := NewEvaluator(1).String(context.Background(), nil, p,
		map[string]any{"input": map[string]any{"type": "invoice.paid"}, "headers": map[string]string{}})
	fmt.Println(key, err)
	// Output: stripe:invoice.paid <nil>
}
