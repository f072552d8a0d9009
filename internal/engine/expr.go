package engine

import (
	"encoding/json"
	"fmt"
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/ext"
	"cel.dev/cel-go/interpreter"

	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/webhook"
)

// Trigger and filter expressions are CEL, done the way webhook expressions are
// (internal/webhook/expr.go): the standard library plus the strings extension, compiled
// and type-checked when saved, evaluated with a cost limit. They see the event:
//
//	input                a map: the payload
//	additional_metadata  a map: the metadata ({} when there is none)
//	key                  a string: the event key
//	scope                a string: the event's scope ("" when it has none)
//
// and must give a bool.

// exprCostLimit bounds the work of one evaluation, like webhook expressions.
const exprCostLimit = 1_000_000

// triggerEnv is the CEL environment of trigger and filter expressions.
var triggerEnv = func() *cel.Env {
	env, err := cel.NewEnv(
		cel.Variable("input", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("additional_metadata", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("key", cel.StringType),
		cel.Variable("scope", cel.StringType),
		cel.CrossTypeNumericComparisons(true),
		ext.Strings(),
	)
	if err != nil {
		panic(fmt.Sprintf("creating the trigger CEL environment: %v", err))
	}
	return env
}()

// program is a compiled trigger or filter expression. err is set instead of prog when a
// stored expression no longer compiles: every evaluation then fails with it, so the
// failure shows on each event instead of being lost.
type program struct {
	prog cel.Program
	err  string
}

// compileExpr compiles and type-checks a trigger or filter expression; the result must
// be a bool (or a dynamic value, checked when evaluated).
func compileExpr(expr string) (cel.Program, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, &webhook.ExprError{Msg: "expression is empty"}
	}
	if len(expr) > webhook.MaxExpressionLen {
		return nil, &webhook.ExprError{Msg: fmt.Sprintf("expression is %d bytes long; the limit is %d", len(expr), webhook.MaxExpressionLen)}
	}
	ast, iss := triggerEnv.Compile(expr)
	if iss != nil && iss.Err() != nil {
		return nil, &webhook.ExprError{Msg: strings.TrimSpace(iss.Err().Error())}
	}
	if ot := ast.OutputType(); !ot.IsExactType(types.BoolType) && ot.Kind() != types.DynKind {
		return nil, &webhook.ExprError{Msg: fmt.Sprintf("expression gives %s; it must give a bool", ot)}
	}
	p, err := triggerEnv.Program(ast, cel.EvalOptions(cel.OptOptimize), cel.CostLimit(exprCostLimit))
	if err != nil {
		return nil, &webhook.ExprError{Msg: err.Error()}
	}
	return p, nil
}

// CheckExpression compiles and type-checks a trigger or filter expression, naming field
// in the error ("" is no expression, and fine).
func CheckExpression(field, expr string) error {
	if expr == "" {
		return nil
	}
	if _, err := compileExpr(expr); err != nil {
		return fieldErr(field, "%v", err)
	}
	return nil
}

// eval evaluates the program on an event.
func (p *program) eval(ev *evalEvent) (bool, error) {
	if p.err != "" {
		return false, fmt.Errorf("%s", p.err)
	}
	out, _, err := p.prog.Eval(ev)
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("expression gave %s, not a bool", out.Type().TypeName())
	}
	return b, nil
}

// evalEvent is the CEL activation of one event. The payload and metadata are decoded on
// first use and then shared by every expression evaluated on the event, so an event whose
// matching workflows have no expressions (or whose expressions read only key and scope)
// is never decoded.
type evalEvent struct {
	ev                *store.Event
	input, meta       map[string]any
	inputOK, metaOK   bool
	inputErr, metaErr error
}

var _ interpreter.Activation = (*evalEvent)(nil)

// ResolveName implements interpreter.Activation.
func (a *evalEvent) ResolveName(name string) (any, bool) {
	switch name {
	case "input":
		if !a.inputOK {
			a.input, a.inputErr = decodeObject(a.ev.Payload)
			a.inputOK = true
		}
		if a.inputErr != nil {
			return types.NewErr("decoding the payload: %v", a.inputErr), true
		}
		return a.input, true
	case "additional_metadata":
		if !a.metaOK {
			a.meta, a.metaErr = decodeObject(a.ev.Metadata)
			a.metaOK = true
		}
		if a.metaErr != nil {
			return types.NewErr("decoding the metadata: %v", a.metaErr), true
		}
		return a.meta, true
	case "key":
		return a.ev.Key, true
	case "scope":
		return a.ev.Scope, true
	}
	return nil, false
}

// Parent implements interpreter.Activation.
func (a *evalEvent) Parent() interpreter.Activation { return nil }

func decodeObject(raw json.RawMessage) (map[string]any, error) {
	m := map[string]any{}
	if len(raw) == 0 {
		return m, nil
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}
