package graphql

import (
	"context"
	"encoding/json"
	"strings"
	"sync"

	gqlgen "github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Costs of the query cost model (docs/graphql.md#limits).
const (
	// fieldCost is the cost of a field resolved from what its parent already holds.
	fieldCost = 1
	// readCost is the cost of a field that reads the store (or writes to it).
	readCost = 10
	// listSize is what a list without a limit argument is assumed to hold.
	listSize = 10
	// introspectionCost is the cost of __schema or __type, whose depth the validation
	// rules bound.
	introspectionCost = 100
	// maxMeasure bounds the arithmetic of a measure.
	maxMeasure = 1 << 40
)

// fieldName names a field of a type.
type fieldName struct{ typ, field string }

// readFields are the fields that read the store (or write to it).
var readFields = map[fieldName]bool{
	{"Mutation", "sendCustomEvent"}: true, {"Query", "event"}: true, {"Query", "events"}: true, {"Query", "run"}: true,
	{"Query", "runs"}: true, {"Query", "workflows"}: true, {"Query", "workflow"}: true, {"Query", "explainCustomEvent"}: true,
	{"Event", "runs"}: true, {"Run", "steps"}: true, {"Run", "event"}: true,
}

// pagedFields are the fields whose limit argument sizes the items of their page.
var pagedFields = map[fieldName]bool{{"Query", "events"}: true, {"Query", "runs"}: true}

// limits refuses, before anything runs, an operation nested deeper than maxDepth or
// costing more than maxCost.
type limits struct {
	maxDepth, maxCost int
}

var _ interface {
	gqlgen.OperationContextMutator
	gqlgen.HandlerExtension
} = limits{}

// ExtensionName implements gqlgen.HandlerExtension.
func (limits) ExtensionName() string { return "HeraldLimits" }

// Validate implements gqlgen.HandlerExtension.
func (limits) Validate(gqlgen.ExecutableSchema) error { return nil }

// MutateOperationContext measures the operation and refuses it when it is over a limit.
// Introspection is allowed (the schema is public: GET /graphql/schema.graphql).
func (l limits) MutateOperationContext(_ context.Context, opCtx *gqlgen.OperationContext) *gqlerror.Error {
	opCtx.DisableIntrospection = false
	return l.check(opCtx.Operation, opCtx.Variables)
}

// check measures op with the variables' values and refuses it when it is over a limit.
func (l limits) check(op *ast.OperationDefinition, vars map[string]any) *gqlerror.Error {
	m := &measurer{vars: vars}
	ms := m.selectionSet(op.SelectionSet, 0)
	if ms.depth > l.maxDepth {
		err := gqlerror.Errorf("the operation nests %d levels deep; the limit is %d", ms.depth, l.maxDepth)
		err.Extensions = map[string]any{"code": "DEPTH_LIMIT_EXCEEDED", "depth": ms.depth, "limit": l.maxDepth}
		return err
	}
	if ms.cost > l.maxCost {
		err := gqlerror.Errorf("the operation costs %d; the limit is %d (ask for smaller pages or fewer nested lists)", ms.cost, l.maxCost)
		err.Extensions = map[string]any{"code": "COST_LIMIT_EXCEEDED", "cost": ms.cost, "limit": l.maxCost}
		return err
	}
	return nil
}

// measure is the depth and cost of a selection.
type measure struct {
	depth, cost int
}

type fragmentKey struct {
	name string
	page int
}

// measurer walks an operation once, each fragment once per page size.
type measurer struct {
	vars  map[string]any
	frags map[fragmentKey]measure // made on the first fragment spread
}

// selectionSet measures a selection; page is the page size of the items it may select.
func (m *measurer) selectionSet(set ast.SelectionSet, page int) measure {
	var out measure
	for _, sel := range set {
		var ms measure
		switch s := sel.(type) {
		case *ast.Field:
			ms = m.field(s, page)
		case *ast.InlineFragment:
			ms = m.selectionSet(s.SelectionSet, page)
		case *ast.FragmentSpread:
			k := fragmentKey{s.Name, page}
			var ok bool
			if ms, ok = m.frags[k]; !ok && s.Definition != nil {
				ms = m.selectionSet(s.Definition.SelectionSet, page)
				if m.frags == nil {
					m.frags = map[fragmentKey]measure{}
				}
				m.frags[k] = ms
			}
		}
		out.depth = max(out.depth, ms.depth)
		out.cost = min(out.cost+ms.cost, maxMeasure)
	}
	return out
}

func (m *measurer) field(f *ast.Field, page int) measure {
	switch f.Name {
	case "__typename":
		return measure{depth: 1}
	case "__schema", "__type":
		return measure{depth: 1, cost: introspectionCost}
	}
	if strings.HasPrefix(f.Name, "__") || f.ObjectDefinition == nil || f.Definition == nil {
		return measure{depth: 1, cost: fieldCost}
	}
	name := fieldName{f.ObjectDefinition.Name, f.Name}
	childPage := 0
	if pagedFields[name] {
		childPage = pageSize(f.ArgumentMap(m.vars))
	}
	child := m.selectionSet(f.SelectionSet, childPage)
	cost := fieldCost
	if readFields[name] {
		cost = readCost
	}
	n := 1
	if f.Definition.Type.Elem != nil {
		n = listSize
	}
	if f.Name == "items" && page > 0 {
		n = page
	}
	return measure{depth: 1 + child.depth, cost: min(cost+n*child.cost, maxMeasure)}
}

// pageSize is a listing's limit argument as the cost model counts it: the default 50, at
// most 500 (a larger one is refused when the field runs).
func pageSize(args map[string]any) int {
	n := 50
	switch v := args["limit"].(type) {
	case int:
		n = v
	case int64:
		n = int(min(max(v, -1), 1<<20))
	case json.Number:
		if i, err := v.Int64(); err == nil {
			n = int(min(max(i, -1), 1<<20))
		}
	}
	return min(max(n, 1), 500)
}

// docCache keeps parsed and validated documents for reuse, at most size of them and none
// longer than maxLen bytes, so that it stays small whatever the documents, with the
// sendPlan of each operation that has one.
type docCache struct {
	mu      sync.Mutex
	m       map[string]cachedDoc
	size    int
	maxLen  int
	compile func(*ast.OperationDefinition) *sendPlan
}

// cachedDoc is a document and the plans of its operations.
type cachedDoc struct {
	doc   *ast.QueryDocument
	plans map[*ast.OperationDefinition]*sendPlan
}

var _ gqlgen.Cache[*ast.QueryDocument] = (*docCache)(nil)

func newDocCache(size, maxLen int, compile func(*ast.OperationDefinition) *sendPlan) *docCache {
	return &docCache{m: make(map[string]cachedDoc, size), size: size, maxLen: maxLen, compile: compile}
}

// Get implements gqlgen.Cache.
func (c *docCache) Get(_ context.Context, query string) (*ast.QueryDocument, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.m[query]
	return d.doc, ok
}

// plan is the sendPlan of the operation a request names, or nil.
func (c *docCache) plan(query, operationName string) *sendPlan {
	c.mu.Lock()
	d, ok := c.m[query]
	c.mu.Unlock()
	if !ok || d.plans == nil {
		return nil
	}
	return d.plans[d.doc.Operations.ForName(operationName)]
}

// Add implements gqlgen.Cache. When full, it drops an arbitrary entry.
func (c *docCache) Add(_ context.Context, query string, doc *ast.QueryDocument) {
	if len(query) > c.maxLen {
		return
	}
	d := cachedDoc{doc: doc}
	for _, op := range doc.Operations {
		if p := c.compile(op); p != nil {
			if d.plans == nil {
				d.plans = map[*ast.OperationDefinition]*sendPlan{}
			}
			d.plans[op] = p
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.size {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[query] = d
}
