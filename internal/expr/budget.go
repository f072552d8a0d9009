package expr

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

// The bounds shared between evaluations. Each evaluation is bounded on its own (see the
// package comment), but one event is evaluated against every trigger and filter
// expression of every workflow of its tenant that its key matches, and many requests
// evaluate at once. A Budget bounds the first, an Evaluator the second.
const (
	// EventBudget is the cost that the expressions evaluated for one event may spend
	// together, in CEL's cost units: ten evaluations at the cost limit. An evaluation
	// starts only while some of it is left, so the event's expressions cost at most
	// EventBudget + CostLimit + EvalBaseCost.
	EventBudget = 10 * CostLimit
	// EvalBaseCost is what each evaluation is charged beyond its CEL cost: the work of
	// starting it. It bounds how many cheap expressions one event can run
	// (EventBudget / EvalBaseCost).
	EvalBaseCost = 100
	// RequestBudget is the cost that the expressions evaluated for all the events of one
	// request (a bulk push of up to 1,000 events, a CloudEvents batch) may spend together:
	// ten events' budgets. Each event still has its own EventBudget within it.
	RequestBudget = 10 * EventBudget
)

// Budget is the cost left to the evaluations of one event. A nil *Budget bounds nothing
// beyond each evaluation's own limits. A Budget is used by one goroutine at a time.
type Budget struct {
	limit  uint64
	spent  uint64
	evals  int
	of     string  // whose budget: "event" or "request"
	parent *Budget // a budget this one is part of, charged with it
}

// NewBudget returns an event's budget of limit cost units.
func NewBudget(limit uint64) *Budget { return &Budget{limit: limit, of: "event"} }

// NewRequestBudget returns the budget of a request's events together: give it to
// NewBudgetWithin for each event.
func NewRequestBudget(limit uint64) *Budget { return &Budget{limit: limit, of: "request"} }

// NewBudgetWithin returns an event's budget of limit cost units within parent (which may
// be nil): an evaluation charges both, and none starts once either is spent.
func NewBudgetWithin(limit uint64, parent *Budget) *Budget {
	b := NewBudget(limit)
	b.parent = parent
	return b
}

// exhausted returns the first budget of the chain that is spent, or nil.
func (b *Budget) exhausted() *Budget {
	for ; b != nil; b = b.parent {
		if b.spent >= b.limit {
			return b
		}
	}
	return nil
}

// charge adds an evaluation of cost to b and to the budgets it is part of.
func (b *Budget) charge(cost uint64) {
	for ; b != nil; b = b.parent {
		b.spent += cost + EvalBaseCost
		b.evals++
	}
}

// Spent is the cost charged so far, EvalBaseCost per evaluation included.
func (b *Budget) Spent() uint64 { return b.spent }

// Evaluations is how many evaluations ran on the budget (those refused because it was
// spent are not counted).
func (b *Budget) Evaluations() int { return b.evals }

// spentError is the error of an evaluation refused because the budget is spent.
func (b *Budget) spentError() *Error {
	return &Error{Msg: fmt.Sprintf("not evaluated: the %s's expression budget (%d) is spent", b.of, b.limit)}
}

// Evaluator runs programs, at most a fixed number at once: one evaluation may hold up to
// MaxEvalBytes beyond its input, so the evaluations of the whole process together hold at
// most Slots() × MaxEvalBytes. An evaluation waits for a slot until its context is done.
// It is safe for concurrent use.
type Evaluator struct {
	slots   chan struct{}
	running atomic.Int64
	waiting atomic.Int64
	// holding, when set (by tests), is called by each evaluation while it holds its slot.
	holding func()
}

// NewEvaluator returns an evaluator that runs at most slots evaluations at once (at least
// one).
func NewEvaluator(slots int) *Evaluator {
	return &Evaluator{slots: make(chan struct{}, max(slots, 1))}
}

// OnSlot sets f, which each evaluation then calls while it holds its slot, before it
// runs. It is for tests, which hold evaluations with it to observe the bound; set it
// before any evaluation starts.
func (x *Evaluator) OnSlot(f func()) { x.holding = f }

// Slots is how many evaluations may run at once.
func (x *Evaluator) Slots() int { return cap(x.slots) }

// Running is how many evaluations hold a slot now.
func (x *Evaluator) Running() int { return int(x.running.Load()) }

// Waiting is how many evaluations wait for a slot now.
func (x *Evaluator) Waiting() int { return int(x.waiting.Load()) }

// Bool evaluates p over vars (a map of the variables or an interpreter.Activation),
// charging b; the result must be a bool. It fails with an *Error when the expression
// fails, meets a bound, when b is spent, or when ctx is done before or during the
// evaluation.
func (x *Evaluator) Bool(ctx context.Context, b *Budget, p *Program, vars any) (bool, error) {
	out, err := x.eval(ctx, b, p, vars)
	if err != nil {
		return false, err
	}
	v, ok := out.(types.Bool)
	if !ok {
		return false, newError("expression gave %s, not a bool", out.Type().TypeName())
	}
	return bool(v), nil
}

// String evaluates p over vars like Bool; the result must be a string.
func (x *Evaluator) String(ctx context.Context, b *Budget, p *Program, vars any) (string, error) {
	out, err := x.eval(ctx, b, p, vars)
	if err != nil {
		return "", err
	}
	s, ok := out.(types.String)
	if !ok {
		return "", newError("expression gave %s, not a string", out.Type().TypeName())
	}
	return string(s), nil
}

func (x *Evaluator) eval(ctx context.Context, b *Budget, p *Program, vars any) (ref.Val, error) {
	if ctx.Err() != nil {
		return nil, stoppedError(ctx, "not evaluated")
	}
	if spent := b.exhausted(); spent != nil {
		return nil, spent.spentError()
	}
	if err := x.acquire(ctx); err != nil {
		return nil, stoppedError(ctx, "not evaluated")
	}
	out, cost, err := p.eval(ctx, vars, x.holding)
	x.running.Add(-1)
	<-x.slots
	b.charge(cost)
	return out, err
}

// acquire takes a slot, waiting until one is free or ctx is done.
func (x *Evaluator) acquire(ctx context.Context) error {
	select {
	case x.slots <- struct{}{}:
	default:
		x.waiting.Add(1)
		select {
		case x.slots <- struct{}{}:
			x.waiting.Add(-1)
		case <-ctx.Done():
			x.waiting.Add(-1)
			return ctx.Err()
		}
	}
	x.running.Add(1)
	return nil
}

// stoppedError is the error of an evaluation that the end of its request (ctx) stopped.
func stoppedError(ctx context.Context, what string) *Error {
	cause := context.Cause(ctx)
	if errors.Is(cause, context.DeadlineExceeded) {
		return newError("%s: the request's deadline passed", what)
	}
	return newError("%s: the request was cancelled (%v)", what, cause)
}
