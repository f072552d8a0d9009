package webhook

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/ext"
)

// MaxExpressionLen is the longest expression accepted, in bytes.
const MaxExpressionLen = 4096

// costLimit bounds the work of one evaluation: inputs come from unauthenticated senders,
// and a list comprehension over a large body must not run unbounded.
const costLimit = 1_000_000

// maxCached bounds the compiled-program cache; past it the cache starts over.
const maxCached = 4096

// Exprs compiles CEL expressions over `input` (the decoded body, a map) and `headers`
// (lower-cased names to values) and caches the programs by their text. It is safe for
// concurrent use.
type Exprs struct {
	env *cel.Env

	mu    sync.RWMutex
	progs map[string]cel.Program
}

// NewExprs returns an expression compiler with the standard CEL library and the strings
// extension (lowerAscii, split, replace, ...).
func NewExprs() (*Exprs, error) {
	env, err := cel.NewEnv(
		cel.Variable("input", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("headers", cel.MapType(cel.StringType, cel.StringType)),
		ext.Strings(),
	)
	if err != nil {
		return nil, fmt.Errorf("creating CEL environment: %w", err)
	}
	return &Exprs{env: env, progs: map[string]cel.Program{}}, nil
}

// ExprError is an expression that does not compile, does not type-check, fails at run
// time or does not give a string.
type ExprError struct {
	Msg string
}

// Error implements error.
func (e *ExprError) Error() string { return e.Msg }

// Check compiles and type-checks expr and requires that it gives a string (or a dynamic
// value that may be one). The program is cached for Eval.
func (x *Exprs) Check(expr string) error {
	_, err := x.program(expr)
	return err
}

func (x *Exprs) program(expr string) (cel.Program, error) {
	x.mu.RLock()
	p, ok := x.progs[expr]
	x.mu.RUnlock()
	if ok {
		return p, nil
	}
	if strings.TrimSpace(expr) == "" {
		return nil, &ExprError{Msg: "expression is empty"}
	}
	if len(expr) > MaxExpressionLen {
		return nil, &ExprError{Msg: fmt.Sprintf("expression is %d bytes long; the limit is %d", len(expr), MaxExpressionLen)}
	}
	ast, iss := x.env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		return nil, &ExprError{Msg: strings.TrimSpace(iss.Err().Error())}
	}
	if ot := ast.OutputType(); !ot.IsExactType(types.StringType) && ot.Kind() != types.DynKind {
		return nil, &ExprError{Msg: fmt.Sprintf("expression gives %s; it must give a string", ot)}
	}
	p, err := x.env.Program(ast, cel.EvalOptions(cel.OptOptimize), cel.CostLimit(costLimit))
	if err != nil {
		return nil, &ExprError{Msg: err.Error()}
	}
	x.mu.Lock()
	if len(x.progs) >= maxCached {
		clear(x.progs)
	}
	x.progs[expr] = p
	x.mu.Unlock()
	return p, nil
}

// Eval evaluates expr over a delivery's input and headers; the result must be a string.
func (x *Exprs) Eval(expr string, input map[string]any, headers map[string]string) (string, error) {
	p, err := x.program(expr)
	if err != nil {
		return "", err
	}
	out, _, err := p.Eval(map[string]any{"input": input, "headers": headers})
	if err != nil {
		return "", &ExprError{Msg: err.Error()}
	}
	s, ok := out.Value().(string)
	if !ok {
		return "", &ExprError{Msg: fmt.Sprintf("expression gave %s, not a string", out.Type().TypeName())}
	}
	return s, nil
}

// IsExprError reports whether err is an expression's fault.
func IsExprError(err error) bool {
	var ee *ExprError
	return errors.As(err, &ee)
}
