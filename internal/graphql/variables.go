package graphql

import (
	"context"
	"encoding/json"

	gqlgen "github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// strictVariables refuses variable values of the wrong JSON type that the validator lets
// through: a request's numbers are kept as written (json.Number, so that a payload's
// numbers keep their precision), and the validator takes such a number for a String, and
// a JSON string of digits for an Int or Float. GraphQL coerces neither.
type strictVariables struct {
	schema *ast.Schema
}

var _ interface {
	gqlgen.OperationContextMutator
	gqlgen.HandlerExtension
} = strictVariables{}

// ExtensionName implements gqlgen.HandlerExtension.
func (strictVariables) ExtensionName() string { return "HeraldStrictVariables" }

// Validate implements gqlgen.HandlerExtension.
func (strictVariables) Validate(gqlgen.ExecutableSchema) error { return nil }

// MutateOperationContext checks each variable's value against its type.
func (s strictVariables) MutateOperationContext(_ context.Context, opCtx *gqlgen.OperationContext) *gqlerror.Error {
	for _, def := range opCtx.Operation.VariableDefinitions {
		v, ok := opCtx.Variables[def.Variable]
		if !ok {
			continue
		}
		if bad := s.check(def.Type, v); bad != nil {
			// The path was gathered innermost first, on the way out.
			path := ast.Path{ast.PathName("variable"), ast.PathName(def.Variable)}
			for i := len(bad.path) - 1; i >= 0; i-- {
				path = append(path, bad.path[i])
			}
			err := gqlerror.ErrorPathf(path, "%s", bad.msg)
			err.Extensions = map[string]any{"code": "GRAPHQL_VALIDATION_FAILED"}
			return err
		}
	}
	return nil
}

// badValue is a value of the wrong type: what is wrong, and where (innermost first).
type badValue struct {
	msg  string
	path []ast.PathElement
}

// check checks v against t; it allocates only for a value it refuses.
func (s strictVariables) check(t *ast.Type, v any) *badValue {
	if v == nil {
		return nil // nullness is the validator's
	}
	if t.Elem != nil {
		l, ok := v.([]any)
		if !ok {
			return s.check(t.Elem, v) // a single value is a list of one
		}
		for i, x := range l {
			if bad := s.check(t.Elem, x); bad != nil {
				bad.path = append(bad.path, ast.PathIndex(i))
				return bad
			}
		}
		return nil
	}
	def := s.schema.Types[t.NamedType]
	if def == nil {
		return nil
	}
	switch def.Kind {
	case ast.InputObject:
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		for _, f := range def.Fields {
			if x, ok := m[f.Name]; ok {
				if bad := s.check(f.Type, x); bad != nil {
					bad.path = append(bad.path, ast.PathName(f.Name))
					return bad
				}
			}
		}
	case ast.Scalar:
		_, isNumber := v.(json.Number)
		_, isString := v.(string)
		switch {
		case t.NamedType == "String" && isNumber:
			return &badValue{msg: "cannot use a number as String"}
		case (t.NamedType == "Int" || t.NamedType == "Float") && isString:
			return &badValue{msg: "cannot use a string as " + t.NamedType}
		}
	}
	return nil
}
