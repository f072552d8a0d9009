package webhook

import (
	"context"
	"fmt"
	"sync"

	"github.com/heraldhq/herald/internal/expr"
)

// maxCached bounds the compiled-program cache; past it the cache starts over.
const maxCached = 4096

// Exprs compiles webhook expressions — CEL over `input` (the decoded body, a map) and
// `headers` (lower-cased names to values), giving a string, in the webhook environment of
// internal/expr, which also bounds their evaluation (the body comes from whoever posts
// it) — and caches the programs by their text. It is safe for concurrent use.
type Exprs struct {
	env   *expr.Env
	evals *expr.Evaluator

	mu    sync.RWMutex
	progs map[string]*expr.Program
}

// NewExprs returns an expression compiler whose evaluations run on evals (shared with
// the other expressions of the process, so that their number at once is bounded).
func NewExprs(evals *expr.Evaluator) (*Exprs, error) {
	env, err := expr.NewWebhookEnv()
	if err != nil {
		return nil, fmt.Errorf("creating the webhook CEL environment: %w", err)
	}
	return &Exprs{env: env, evals: evals, progs: map[string]*expr.Program{}}, nil
}

// Check compiles and type-checks src and requires that it gives a string (or a dynamic
// value that may be one). The program is cached for Eval. The error is an *expr.Error.
func (x *Exprs) Check(src string) error {
	_, err := x.program(src)
	return err
}

func (x *Exprs) program(src string) (*expr.Program, error) {
	x.mu.RLock()
	p, ok := x.progs[src]
	x.mu.RUnlock()
	if ok {
		return p, nil
	}
	p, err := x.env.Compile(src)
	if err != nil {
		return nil, err
	}
	x.mu.Lock()
	if len(x.progs) >= maxCached {
		clear(x.progs)
	}
	x.progs[src] = p
	x.mu.Unlock()
	return p, nil
}

// Eval evaluates src over a delivery's input and headers; the result must be a string.
// Every failure, a bound of internal/expr or the end of ctx included, is an *expr.Error.
// A delivery has at most three expressions, each bounded on its own, so it needs no
// budget of its own.
func (x *Exprs) Eval(ctx context.Context, src string, input map[string]any, headers map[string]string) (string, error) {
	p, err := x.program(src)
	if err != nil {
		return "", err
	}
	return x.evals.String(ctx, nil, p, map[string]any{"input": input, "headers": headers})
}
