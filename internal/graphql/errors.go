package graphql

import (
	"context"
	"errors"
	"fmt"
	"strings"

	gqlgen "github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/heraldhq/herald/internal/api"
	"github.com/heraldhq/herald/internal/engine"
	"github.com/heraldhq/herald/internal/graphql/model"
)

// problemError is an error already in the HTTP API's terms, with the field named as the
// GraphQL caller wrote it.
type problemError struct {
	p api.Problem
	// pointer is the JSON pointer, inside the payload, of a schema violation.
	pointer string
}

func (e *problemError) Error() string { return e.p.Message }

// errInternal answers a panic.
var errInternal = errors.New("internal error")

// codeOf is the GraphQL error code of a REST error code: the same word in capitals.
func codeOf(restCode string) string { return strings.ToUpper(restCode) }

// problemGQLError is a problem as a GraphQL error: extensions.code, and field, pointer
// and retryAfter when they apply.
func problemGQLError(p api.Problem) *gqlerror.Error {
	ext := map[string]any{"code": codeOf(p.Code)}
	if p.Field != "" {
		ext["field"] = p.Field
	}
	if p.RetryAfter > 0 {
		ext["retryAfter"] = p.RetryAfter
	}
	return &gqlerror.Error{Message: p.Message, Extensions: ext}
}

// inputNames translates the field names of the engine's errors about an event into the
// names of SendCustomEventInput.
var inputNames = map[string]string{
	"key":                 "input.operation",
	"payload":             "input.payload",
	"additional_metadata": "input.metadata",
	"idempotency_key":     "input.idempotencyKey",
	"scope":               "input.scope",
	"deliver_at":          "input.deliverAt",
	"delay":               "input.delay",
}

// inInput names the fields of an error about the event a sendCustomEvent (or an
// explainCustomEvent) input makes as the input's fields; other errors pass unchanged.
func inInput(err error) error {
	var sv *engine.SchemaError
	if errors.As(err, &sv) {
		pointer := strings.TrimPrefix(sv.Field, "payload")
		p, _ := api.ProblemOf(err)
		p.Field = "input.payload"
		p.Message = fmt.Sprintf("input.payload at %q: %s", pointer, sv.Message)
		return &problemError{p: p, pointer: pointer}
	}
	var fe *engine.FieldError
	if errors.As(err, &fe) {
		p, _ := api.ProblemOf(err)
		p.Field = renameField(fe.Field, inputNames)
		p.Message = p.Field + ": " + fe.Message
		return &problemError{p: p}
	}
	return err
}

// renameField renames the first part of a REST field name ("additional_metadata.tier").
func renameField(field string, names map[string]string) string {
	head, rest := field, ""
	if i := strings.IndexAny(field, ".[/"); i >= 0 {
		head, rest = field[:i], field[i:]
	}
	if n, ok := names[head]; ok {
		return n + rest
	}
	return field
}

// presentError turns every error of a response into a GraphQL error with
// extensions.code: GraphQL's own for a document that does not parse or validate,
// DEPTH_LIMIT_EXCEEDED or COST_LIMIT_EXCEEDED for one over the limits, INVALID_ARGUMENT
// with extensions.field for an input value that is not what its type needs, and otherwise
// the REST code of the error in capitals (api.ProblemOf).
func (h *Handler) presentError(ctx context.Context, err error) *gqlerror.Error {
	var gerr *gqlerror.Error
	if !errors.As(err, &gerr) {
		gerr = gqlerror.WrapPath(gqlgen.GetPath(ctx), err)
	}
	if code, ok := gerr.Extensions["code"].(string); ok {
		// A request error: GraphQL's own (parse, validation, variables) or the limits'.
		if code == "GRAPHQL_VALIDATION_FAILED" && len(gerr.Path) > 1 {
			if v, ok := gerr.Path[0].(ast.PathName); ok && v == "variable" {
				gerr.Extensions["field"] = "$" + pathString(gerr.Path[1:])
			}
		}
		return gerr
	}
	inner := gerr.Unwrap()
	if inner == nil {
		// gqlgen's own field error: a null where the schema has none.
		h.log.Error("graphql field error", "path", gerr.Path.String(), "err", gerr.Message)
		return withProblem(gerr, api.Problem{Code: "internal", Message: "internal error"}, "")
	}
	var ie *model.InputError
	if errors.As(inner, &ie) {
		field := inputPath(ctx, gerr.Path)
		return withProblem(gerr, api.Problem{Code: "invalid_argument", Message: field + ": " + ie.Message, Field: field}, "")
	}
	var pe *problemError
	if errors.As(inner, &pe) {
		return withProblem(gerr, pe.p, pe.pointer)
	}
	p, ok := api.ProblemOf(inner)
	if !ok {
		if errors.Is(inner, context.Canceled) && ctx.Err() != nil {
			return withProblem(gerr, api.Problem{Code: "cancelled", Message: "request cancelled"}, "")
		}
		if !errors.Is(inner, errInternal) {
			h.log.Error("graphql resolver failed", "path", gerr.Path.String(), "err", inner)
		}
	}
	return withProblem(gerr, p, "")
}

// withProblem is gerr (its path and locations) with the message and extensions of p.
func withProblem(gerr *gqlerror.Error, p api.Problem, pointer string) *gqlerror.Error {
	out := problemGQLError(p)
	if pointer != "" {
		out.Extensions["pointer"] = pointer
	}
	out.Path, out.Locations, out.Rule = gerr.Path, gerr.Locations, gerr.Rule
	return out
}

// inputPath names the argument value an input error is about ("input.payload.data"): the
// error's path past the field's own.
func inputPath(ctx context.Context, path ast.Path) string {
	if fc := gqlgen.GetFieldContext(ctx); fc != nil {
		if n := len(fc.Path()); n <= len(path) {
			path = path[n:]
		}
	}
	return pathString(path)
}

// pathString writes a path as a.b[2].c.
func pathString(path ast.Path) string {
	var b strings.Builder
	for _, el := range path {
		switch v := el.(type) {
		case ast.PathIndex:
			fmt.Fprintf(&b, "[%d]", int(v))
		case ast.PathName:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(string(v))
		}
	}
	return b.String()
}
