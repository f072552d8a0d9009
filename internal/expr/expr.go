// Package expr builds and evaluates Herald's CEL expressions: trigger and filter
// expressions (a bool over an event) and webhook expressions (a string over a delivery).
// It is the one place that decides what an expression may do, and it owns the bounds on
// every evaluation, because expressions run on input that anyone can send (a webhook's
// body needs no token at all):
//
//   - cost: CEL's own cost limit (CostLimit), checked after each step. Herald also
//     charges what CEL leaves uncharged: the values built by a call whose overload is only
//     chosen at run time (`input.s + input.t`, `bytes(input.s)`), list concatenation
//     (which builds a new list), `format` and `strings.quote` (by the size of their
//     result), and the size of a string (which counts its code points).
//   - memory: a call that would build a string, bytes or list of more than MaxCallBytes
//     (counting its scratch copies) is refused before it allocates anything — CEL only
//     checks its cost limit after a call returns, so `replace` and `join` could otherwise
//     build gigabytes first. Everything an evaluation keeps is charged to its cost, so
//     what it holds at once stays below MaxEvalBytes.
//   - time: a call whose own work (by CEL's cost model, with regular expressions sized by
//     their compiled program) exceeds the cost limit is refused before it runs; deep
//     equality and `in` are refused when they would compare more than CostLimit values;
//     regular expressions are refused above MaxRegexBytes or MaxRegexProgram; and an
//     evaluation that loops past EvalTimeout is interrupted.
//
// Beyond one evaluation (budget.go): a Budget bounds the total cost of the evaluations of
// one event (EventBudget), and an Evaluator runs every evaluation, at most a fixed number
// at once, so that the memory of all evaluations together stays below that number times
// MaxEvalBytes; both stop at the end of the request (its context).
//
// A refused or interrupted evaluation fails with an *Error, like any other failing
// expression, and the process goes on.
package expr

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/ext"
	"cel.dev/cel-go/interpreter"
)

// The bounds of expressions and of their evaluation.
const (
	// MaxExpressionBytes is the longest expression accepted, in bytes.
	MaxExpressionBytes = 4096
	// CostLimit bounds the work of one evaluation, in CEL's cost units (about 0.1 µs each
	// here: a comprehension of a million steps costs about that).
	CostLimit = 1_000_000
	// MaxCallBytes is the most one function call may allocate: the string, bytes or list
	// it builds and its scratch copies. A call that would need more is refused first.
	MaxCallBytes = 8 << 20
	// MaxEvalBytes is the memory bound of one evaluation, beyond its decoded input: what
	// the cost limit lets it keep plus one call's MaxCallBytes stays below it.
	MaxEvalBytes = 64 << 20
	// EvalTimeout bounds the time of one evaluation: comprehensions are interrupted past
	// it. Everything else is bounded by the checks made before each call.
	EvalTimeout = time.Second
	// MaxRegexBytes is the longest regular expression `matches` accepts.
	MaxRegexBytes = 4096
	// MaxRegexProgram is the largest compiled regular expression `matches` accepts, in
	// instructions (`a{1000}` is a thousand).
	MaxRegexProgram = 10_000
	// maxErrorBytes bounds the message of an evaluation error (a CEL message may quote a
	// value of the input).
	maxErrorBytes = 1024
)

// limits are the bounds an Env applies; tests shrink them.
type limits struct {
	cost      uint64
	callBytes int
	timeout   time.Duration
	regexLen  int
	regexProg int
}

var defaultLimits = limits{
	cost:      CostLimit,
	callBytes: MaxCallBytes,
	timeout:   EvalTimeout,
	regexLen:  MaxRegexBytes,
	regexProg: MaxRegexProgram,
}

// Error is an expression that does not compile, does not type-check, fails at run time,
// exceeds a bound or gives a value of the wrong type.
type Error struct {
	// Msg says what went wrong.
	Msg string
}

// Error implements error.
func (e *Error) Error() string { return e.Msg }

// IsError reports whether err is an expression's fault.
func IsError(err error) bool {
	var ee *Error
	return errors.As(err, &ee)
}

// newError makes an *Error, cutting a long message (CEL's messages may quote input).
func newError(format string, args ...any) *Error {
	msg := fmt.Sprintf(format, args...)
	if len(msg) > maxErrorBytes {
		cut := maxErrorBytes
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	return &Error{Msg: msg}
}

// Env is a CEL environment: its variables, the type its expressions must give, and the
// bounds of their evaluation. It is safe for concurrent use.
type Env struct {
	env      *cel.Env
	out      *cel.Type // types.BoolType or types.StringType
	limits   limits
	progOpts []cel.ProgramOption
}

// NewTriggerEnv returns the environment of trigger and filter expressions: the standard
// library and the strings extension over an event, giving a bool. The variables are
//
//	input                a map: the payload
//	additional_metadata  a map: the metadata ({} when there is none)
//	key                  a string: the event key
//	scope                a string: the event's scope ("" when it has none)
//
// and numbers compare across int and double.
func NewTriggerEnv() (*Env, error) {
	return newEnv(cel.BoolType, defaultLimits, triggerVars()...)
}

func triggerVars() []cel.EnvOption {
	return []cel.EnvOption{
		cel.Variable("input", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("additional_metadata", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("key", cel.StringType),
		cel.Variable("scope", cel.StringType),
		cel.CrossTypeNumericComparisons(true),
	}
}

// NewWebhookEnv returns the environment of webhook expressions (event key, scope and
// delivery id): the standard library and the strings extension over `input` (the decoded
// body, a map) and `headers` (lower-cased names to values), giving a string.
func NewWebhookEnv() (*Env, error) {
	return newEnv(cel.StringType, defaultLimits, webhookVars()...)
}

func webhookVars() []cel.EnvOption {
	return []cel.EnvOption{
		cel.Variable("input", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("headers", cel.MapType(cel.StringType, cel.StringType)),
	}
}

func newEnv(out *cel.Type, l limits, vars ...cel.EnvOption) (*Env, error) {
	opts := append(vars, ext.Strings())
	env, err := cel.NewEnv(opts...)
	if err != nil {
		return nil, fmt.Errorf("creating a CEL environment: %w", err)
	}
	b := newBounds(l)
	progOpts, err := b.programOptions(env)
	if err != nil {
		return nil, fmt.Errorf("bounding a CEL environment: %w", err)
	}
	return &Env{env: env, out: out, limits: l, progOpts: progOpts}, nil
}

// Program is a compiled expression. It is safe for concurrent use.
type Program struct {
	prog cel.Program
	// loops is whether the expression has a comprehension: only those can be
	// interrupted, so only those are evaluated under a deadline.
	loops  bool
	limits limits
}

// Compile compiles and type-checks src; the result must be the environment's type (or a
// dynamic value, checked when evaluated). Constant regular expressions are checked
// against the bounds here.
func (e *Env) Compile(src string) (p *Program, err error) {
	if strings.TrimSpace(src) == "" {
		return nil, &Error{Msg: "expression is empty"}
	}
	if len(src) > MaxExpressionBytes {
		return nil, &Error{Msg: fmt.Sprintf("expression is %d bytes long; the limit is %d", len(src), MaxExpressionBytes)}
	}
	a, iss := e.env.Compile(src)
	if iss != nil && iss.Err() != nil {
		return nil, newError("%s", strings.TrimSpace(iss.Err().Error()))
	}
	if ot := a.OutputType(); !ot.IsExactType(e.out) && ot.Kind() != types.DynKind {
		return nil, newError("expression gives %s; it must give a %s", ot, e.out)
	}
	// Planning folds constants (calling functions); nothing there may take the process
	// down.
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, newError("%v", r)
		}
	}()
	prog, err := e.env.Program(a, e.progOpts...)
	if err != nil {
		return nil, newError("%v", err)
	}
	return &Program{prog: prog, loops: hasComprehension(a), limits: e.limits}, nil
}

// Check compiles and type-checks src and reports the error, if any.
func (e *Env) Check(src string) error {
	_, err := e.Compile(src)
	return err
}

// hasComprehension reports whether the expression has a comprehension (a macro such as
// `all`, `exists`, `map` or `filter`).
func hasComprehension(a *cel.Ast) bool {
	found := false
	ast.PostOrderVisit(a.NativeRep().Expr(), ast.NewExprVisitor(func(e ast.Expr) {
		if e.Kind() == ast.ComprehensionKind {
			found = true
		}
	}))
	return found
}

// errTimedOut is the cause of an evaluation's own deadline (EvalTimeout).
var errTimedOut = errors.New("the evaluation ran out of time")

// eval evaluates the program under the bounds, within ctx, and returns its cost: CEL's
// actual cost, or at least the cost limit when the evaluation was stopped by it or by the
// timeout. holding, when set (by tests), is called first. Every failure is an *Error.
func (p *Program) eval(ctx context.Context, vars any, holding func()) (out ref.Val, spent uint64, err error) {
	var det *cel.EvalDetails
	defer func() {
		// CEL turns panics of the evaluation into errors; this is for anything else.
		if r := recover(); r != nil {
			out, err = nil, newError("evaluation failed: %v", r)
			spent = max(spent, p.limits.cost)
		}
	}()
	if holding != nil {
		holding()
	}
	if !p.loops {
		out, det, err = p.prog.Eval(vars)
		spent = actualCost(det)
		if err != nil {
			return nil, p.chargeStopped(spent, err), evalError(ctx, err, p.limits)
		}
		return out, spent, nil
	}
	ctx, cancel := context.WithTimeoutCause(ctx, p.limits.timeout, errTimedOut)
	defer cancel()
	out, det, err = p.prog.ContextEval(ctx, vars)
	spent = actualCost(det)
	if err == nil && ctx.Err() != nil {
		// An interrupted comprehension gives an error value, which `||` or `&&` may have
		// absorbed: past the deadline, the evaluation failed all the same.
		err = ctx.Err()
	}
	if err != nil {
		return nil, p.chargeStopped(spent, err), evalError(ctx, err, p.limits)
	}
	return out, spent, nil
}

// actualCost is the cost CEL tracked for an evaluation (0 when it has none).
func actualCost(det *cel.EvalDetails) uint64 {
	if det == nil {
		return 0
	}
	if c := det.ActualCost(); c != nil {
		return *c
	}
	return 0
}

// chargeStopped is the cost of an evaluation that failed with err: at least the cost
// limit when the cost limit or a deadline stopped it, since its tracked cost may say
// less than the work it did.
func (p *Program) chargeStopped(spent uint64, err error) uint64 {
	var ce interpreter.EvalCancelledError
	if (errors.As(err, &ce) && ce.Cause != interpreter.MemoryLimitExceeded) ||
		errors.Is(err, interpreter.InterruptError{}) || errors.Is(err, context.DeadlineExceeded) {
		return max(spent, p.limits.cost)
	}
	return spent
}

// evalError turns an evaluation failure into an *Error with a message that names the
// bound when one stopped it; ctx is the evaluation's (its deadline's cause tells the
// timeout from the end of the request).
func evalError(ctx context.Context, err error, l limits) *Error {
	interrupted := errors.Is(err, interpreter.InterruptError{}) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, context.Canceled)
	var ce interpreter.EvalCancelledError
	if errors.As(err, &ce) {
		switch ce.Cause {
		case interpreter.CostLimitExceeded:
			return newError("the expression exceeded its cost limit (%d)", l.cost)
		case interpreter.ContextCancelled:
			interrupted = true
		default:
			return newError("%s", ce.Message)
		}
	}
	if interrupted {
		if ctx.Err() != nil && !errors.Is(context.Cause(ctx), errTimedOut) {
			return stoppedError(ctx, "the evaluation was stopped")
		}
		return newError("the expression ran longer than %s", l.timeout)
	}
	return newError("%s", err.Error())
}
