package expr

import "regexp/syntax"

// regexProgram parses pattern as `matches` does and returns an upper bound of the number
// of instructions of its compiled program, without compiling it: Go's compiler first
// expands every repetition (`x{1000}` is a thousand copies of x), so a 3 KB pattern can
// compile to half a million instructions and 100 MB. It stops counting past limit (and
// then returns limit + 1). ok is false when the pattern does not parse; `matches` then
// reports the syntax error itself.
func regexProgram(pattern string, limit int) (n int, ok bool) {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return 0, false
	}
	return min(progSize(re, limit)+2, limit+1), true // + the fail and match instructions
}

// progSize bounds the instructions compiling re takes (regexp/syntax's compiler, after
// Simplify), saturating past limit.
func progSize(re *syntax.Regexp, limit int) int {
	sat := func(n int) int { return min(n, limit+1) }
	switch re.Op {
	case syntax.OpNoMatch:
		return 1
	case syntax.OpLiteral:
		return max(len(re.Rune), 1)
	case syntax.OpCapture:
		return sat(progSize(re.Sub[0], limit) + 2)
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest:
		// A loop over something that can match empty compiles as (x+)?: two instructions.
		return sat(progSize(re.Sub[0], limit) + 2)
	case syntax.OpConcat, syntax.OpAlternate:
		n := len(re.Sub) // the alternation instructions, or one nop for an empty concat
		for _, sub := range re.Sub {
			n = sat(n + progSize(sub, limit))
		}
		return max(n, 1)
	case syntax.OpRepeat:
		// x{n,m} becomes m copies of x (n of them plain, the rest optional); x{n,} becomes n
		// copies and a loop. Each copy may add two instructions.
		copies := max(re.Max, re.Min) + 1
		sub := progSize(re.Sub[0], limit)
		if sub > limit || copies > limit {
			return limit + 1
		}
		return sat(copies * (sub + 2))
	}
	// Character classes, any character, anchors, word boundaries and the empty match: one
	// instruction each.
	return 1
}
