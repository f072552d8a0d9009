package expr

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cel.dev/cel-go/cel"

	"github.com/heraldhq/herald/internal/testkit"
)

// nearLimit is a trigger expression that costs close to CostLimit over nearLimitInput:
// a comprehension of 180,000 steps that are all true (5 each).
const nearLimit = `input.items.all(x, x >= 0.0)`

func nearLimitInput() map[string]any { return map[string]any{"items": numbers(180_000)} }

// smallEnv is a trigger environment whose cost limit is a tenth of CostLimit and whose
// deadline is far (so that a loaded machine does not change what fails), for tests of
// what happens near the limit that run many evaluations.
func smallEnv(t testing.TB) *Env {
	t.Helper()
	l := defaultLimits
	l.cost, l.timeout = CostLimit/10, time.Minute
	env, err := newEnv(cel.BoolType, l, triggerVars()...)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// TestBudgetBoundsTheEvaluationsOfAnEvent: evaluations charged to one budget run while
// some of it is left; then each is refused without running, with the budget's reason, and
// the total stays within the budget plus one evaluation. (At a tenth of the bounds: an
// expression near the cost limit of 100,000 on a budget of 1,000,000.)
func TestBudgetBoundsTheEvaluationsOfAnEvent(t *testing.T) {
	t.Parallel()
	env := smallEnv(t)
	p, err := env.Compile(nearLimit)
	if err != nil {
		t.Fatal(err)
	}
	const limit, budget = CostLimit / 10, EventBudget / 10
	x := NewEvaluator(1)
	b := NewBudget(budget)
	input := event(map[string]any{"items": numbers(18_000)})
	var ran, refused int
	for range 30 {
		ok, err := x.Bool(context.Background(), b, p, input)
		switch {
		case err == nil && ok:
			ran++
		case IsError(err) && strings.Contains(err.Error(), fmt.Sprintf("the event's expression budget (%d) is spent", budget)):
			refused++
		default:
			t.Fatalf("evaluation %d: %v, %v", ran+refused, ok, err)
		}
		if refused > 0 && err == nil {
			t.Fatalf("evaluation %d ran after one was refused", ran+refused)
		}
	}
	// Each evaluation costs about 90,000: ten or eleven fit (the last one started with
	// budget left), never thirty.
	if ran < 10 || ran > 12 || refused != 30-ran || b.Evaluations() != ran {
		t.Fatalf("%d evaluations ran (budget says %d), %d refused", ran, b.Evaluations(), refused)
	}
	if b.Spent() > budget+limit+EvalBaseCost {
		t.Fatalf("spent %d; at most %d", b.Spent(), budget+limit+EvalBaseCost)
	}
	per := b.Spent() / uint64(ran)
	if per < limit/2 || per > limit {
		t.Fatalf("each evaluation cost %d; the expression is meant to cost near %d", per, limit)
	}
}

// TestBudgetChargesStartsAndStoppedEvaluations: each evaluation costs EvalBaseCost on top
// of its own cost (so cheap expressions are bounded in number too), and one stopped at the
// cost limit is charged the limit.
func TestBudgetChargesStartsAndStoppedEvaluations(t *testing.T) {
	t.Parallel()
	env := triggerEnv(t)
	cheap, err := env.Compile(`key == "k"`)
	if err != nil {
		t.Fatal(err)
	}
	x := NewEvaluator(1)
	b := NewBudget(EventBudget)
	n := 0
	for ; ; n++ {
		if _, err := x.Bool(context.Background(), b, cheap, event(nil)); err != nil {
			if !strings.Contains(err.Error(), "budget") {
				t.Fatal(err)
			}
			break
		}
	}
	if n > EventBudget/EvalBaseCost {
		t.Fatalf("%d cheap evaluations ran on one budget; at most %d", n, EventBudget/EvalBaseCost)
	}
	over, err := smallEnv(t).Compile(`input.items.all(x, input.items.all(y, x >= 0.0))`)
	if err != nil {
		t.Fatal(err)
	}
	b = NewBudget(EventBudget)
	if _, err := x.Bool(context.Background(), b, over, event(map[string]any{"items": numbers(1000)})); !IsError(err) || !strings.Contains(err.Error(), "cost limit") {
		t.Fatalf("quadratic expression: %v, want the cost limit", err)
	}
	if b.Spent() < CostLimit/10+EvalBaseCost {
		t.Fatalf("an evaluation stopped at the cost limit was charged %d", b.Spent())
	}
}

// TestEndOfRequestStopsEvaluation: an evaluation whose context is done does not start;
// one under way when its request is cancelled stops at the next check of its loop, with
// the request's reason, not the timeout's.
func TestEndOfRequestStopsEvaluation(t *testing.T) {
	t.Parallel()
	env := triggerEnv(t)
	p, err := env.Compile(nearLimit)
	if err != nil {
		t.Fatal(err)
	}
	input := event(nearLimitInput())

	done, cancel := context.WithCancel(context.Background())
	cancel()
	b := NewBudget(EventBudget)
	if _, err := NewEvaluator(1).Bool(done, b, p, input); !IsError(err) || !strings.Contains(err.Error(), "not evaluated: the request was cancelled") {
		t.Fatalf("cancelled before: %v", err)
	}
	if b.Evaluations() != 0 {
		t.Fatalf("a cancelled request ran %d evaluations", b.Evaluations())
	}

	// Cancelled once the evaluation holds its slot, before its first step.
	ctx, cancel := context.WithCancel(context.Background())
	x := NewEvaluator(1)
	x.holding = cancel
	if _, err := x.Bool(ctx, nil, p, input); !IsError(err) || !strings.Contains(err.Error(), "the evaluation was stopped: the request was cancelled") {
		t.Fatalf("cancelled during: %v", err)
	}

	past, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if _, err := NewEvaluator(1).Bool(past, nil, p, input); !IsError(err) || !strings.Contains(err.Error(), "deadline passed") {
		t.Fatalf("past the deadline: %v", err)
	}
}

// TestEvaluatorBoundsConcurrentEvaluations: with two slots, two evaluations run and the
// others wait (observed through the evaluator's counters while the two hold their
// slots); once the two finish, the others run, never more than two at once.
func TestEvaluatorBoundsConcurrentEvaluations(t *testing.T) {
	t.Parallel()
	env := triggerEnv(t)
	p, err := env.Compile(`key == "k"`)
	if err != nil {
		t.Fatal(err)
	}
	x := NewEvaluator(2)
	var inside, peak atomic.Int64
	entered := make(chan struct{}, 10)
	release := make(chan struct{})
	x.holding = func() {
		n := inside.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		entered <- struct{}{}
		<-release
		inside.Add(-1)
	}
	const n = 5
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = x.Bool(context.Background(), nil, p, event(nil))
		}()
	}
	<-entered
	<-entered
	testkit.Eventually(t, "three evaluations wait for a slot", func() bool { return x.Waiting() == n-2 })
	if x.Running() != 2 || inside.Load() != 2 {
		t.Fatalf("%d evaluations hold a slot, %d inside; want 2", x.Running(), inside.Load())
	}
	close(release)
	wg.Wait()
	if peak.Load() != 2 {
		t.Fatalf("%d evaluations ran at once; the evaluator has 2 slots", peak.Load())
	}
	for i, err := range errs {
		if err != nil {
			t.Errorf("evaluation %d: %v", i, err)
		}
	}
	if x.Running() != 0 || x.Waiting() != 0 {
		t.Fatalf("after: %d running, %d waiting", x.Running(), x.Waiting())
	}
}

// TestWaitingEvaluationIsCancelledWithItsRequest: an evaluation waiting for the only slot
// gives up when its request is cancelled, with the request's reason.
func TestWaitingEvaluationIsCancelledWithItsRequest(t *testing.T) {
	t.Parallel()
	env := triggerEnv(t)
	p, err := env.Compile(`key == "k"`)
	if err != nil {
		t.Fatal(err)
	}
	x := NewEvaluator(1)
	entered, release := make(chan struct{}), make(chan struct{})
	x.holding = func() {
		entered <- struct{}{}
		<-release
	}
	first := make(chan error, 1)
	go func() {
		_, err := x.Bool(context.Background(), nil, p, event(nil))
		first <- err
	}()
	<-entered
	ctx, cancel := context.WithCancel(context.Background())
	second := make(chan error, 1)
	go func() {
		_, err := x.Bool(ctx, nil, p, event(nil))
		second <- err
	}()
	testkit.Eventually(t, "the second evaluation waits for the slot", func() bool { return x.Waiting() == 1 })
	cancel()
	if err := <-second; !IsError(err) || !strings.Contains(err.Error(), "not evaluated: the request was cancelled") {
		t.Fatalf("waiting evaluation: %v", err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if x.Running() != 0 || x.Waiting() != 0 {
		t.Fatalf("after: %d running, %d waiting", x.Running(), x.Waiting())
	}
}
