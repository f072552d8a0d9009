package engine

import (
	"context"
	"encoding/json"
	"fmt"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/interpreter"

	"github.com/heraldhq/herald/internal/expr"
	"github.com/heraldhq/herald/internal/store"
)

// Trigger and filter expressions are CEL, in the trigger environment of internal/expr
// (which also bounds their evaluation): compiled and type-checked when saved. They see
// the event:
//
//	input                a map: the payload
//	additional_metadata  a map: the metadata ({} when there is none)
//	key                  a string: the event key
//	scope                a string: the event's scope ("" when it has none)
//
// and must give a bool.

// triggerEnv is the CEL environment of trigger and filter expressions.
var triggerEnv = func() *expr.Env {
	env, err := expr.NewTriggerEnv()
	if err != nil {
		panic(fmt.Sprintf("creating the trigger CEL environment: %v", err))
	}
	return env
}()

// program is a compiled trigger or filter expression. err is set instead of prog when a
// stored expression no longer compiles: every evaluation then fails with it, so the
// failure shows on each event instead of being lost.
type program struct {
	prog *expr.Program
	err  string
}

// compileExpr compiles and type-checks a trigger or filter expression; the result must
// be a bool (or a dynamic value, checked when evaluated). Its error is an *expr.Error.
func compileExpr(src string) (*expr.Program, error) {
	return triggerEnv.Compile(src)
}

// CheckExpression compiles and type-checks a trigger or filter expression, naming field
// in the error ("" is no expression, and fine).
func CheckExpression(field, src string) error {
	if src == "" {
		return nil
	}
	if _, err := compileExpr(src); err != nil {
		return fieldErr(field, "%v", err)
	}
	return nil
}

// eventEval is what the expressions evaluated for one event share: the context of the
// request (or of the duty delivering a stored item), which ends them; the engine's
// evaluator, which bounds how many run at once; the event's budget (expr.EventBudget),
// which bounds their total cost; and the event's activation. The budget and the
// activation are made on first need, so an event that meets no expression costs nothing.
// It is used by one goroutine.
type eventEval struct {
	ctx    context.Context
	evals  *expr.Evaluator
	ev     *store.Event
	budget *expr.Budget
	// request is the budget of the request's events together (nil for a stored item,
	// which is decided on its own).
	request *expr.Budget
	act     *evalEvent
	// stopped is set when an evaluation failed because ctx was done: the decisions made
	// are then not the event's, and must not be stored.
	stopped bool
}

// err is the end of the request, when it stopped an evaluation.
func (es *eventEval) err() error {
	if !es.stopped {
		return nil
	}
	return fmt.Errorf("evaluating expressions: %w", context.Cause(es.ctx))
}

// newEventEval returns the evaluation state of ev, evaluated within ctx and, when it is
// not nil, the request's budget.
func (bs *base) newEventEval(ctx context.Context, ev *store.Event, request *expr.Budget) eventEval {
	return eventEval{ctx: ctx, evals: bs.evals, ev: ev, request: request}
}

// requestBudget returns the budget that the events of one request share: a push of
// events that came in one request (not stored items delivered or relayed, each decided
// on its own, whatever its neighbours in the batch).
func (bs *base) requestBudget(evs []EventInput) *expr.Budget {
	for _, in := range evs {
		if in.Origin.stored() {
			return nil
		}
	}
	return expr.NewRequestBudget(bs.cfg.RequestExprBudget)
}

// eval evaluates the program on the event, within the bounds of internal/expr and the
// event's budget.
func (p *program) eval(es *eventEval) (bool, error) {
	if p.err != "" {
		return false, fmt.Errorf("%s", p.err)
	}
	if es.budget == nil {
		es.budget = expr.NewBudgetWithin(expr.EventBudget, es.request)
	}
	if es.act == nil {
		es.act = &evalEvent{ev: es.ev}
	}
	ok, err := es.evals.Bool(es.ctx, es.budget, p.prog, es.act)
	if err != nil && es.ctx.Err() != nil {
		es.stopped = true
	}
	return ok, err
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
