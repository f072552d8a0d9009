package graphql

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"

	gqlgen "github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/heraldhq/herald/internal/graphql/model"
)

// sendPlan runs the common shape of the sendCustomEvent mutation without gqlgen's
// executor. The mutation is the operation clients send over and over, and the executor's
// general machinery (variable coercion by reflection, a context, a closure and a
// middleware call per field of the answer) cost it more CPU than the event's ingest. The
// shape: the operation's only field is sendCustomEvent(input: $var), and its selection is
// leaf fields of SendCustomEventResponse and of its workflows, without fragments,
// directives or repeated response keys. A plan is compiled once per cached document
// (gqlparser validated it before it was cached) and used only when the input variable is
// plainly of its type (sendInput); any other document or value, including every one
// gqlgen would coerce or refuse, runs through the executor as before. The answer is
// written with gqlgen's own scalar marshalers, and an error goes through the same
// presenter on the same path and location, so both paths answer byte for byte alike
// (TestSendPlanMatchesExecutor).
type sendPlan struct {
	// variable is the name of the input's variable.
	variable string
	// alias is the response key of sendCustomEvent.
	alias string
	// pos is where sendCustomEvent is in the document (an error's locations).
	pos gqlerror.Location
	// fields are the selection of SendCustomEventResponse, in order.
	fields []planField
}

// planField is a selected field: its response key, its name, and for workflows the
// selection of TemporalWorkflow.
type planField struct {
	key, name string
	sub       []planField
}

// Leaf fields a sendPlan answers, by type.
var (
	sendResponseLeaves     = map[string]bool{"__typename": true, "success": true, "eventID": true, "duplicate": true, "deliverAt": true}
	temporalWorkflowLeaves = map[string]bool{"__typename": true, "type": true, "id": true, "runID": true}
)

// compileSendPlan returns the plan of op, or nil when op is not of the shape a plan runs
// or is over the limits (gqlgen then runs it, or refuses it, as any other).
func compileSendPlan(op *ast.OperationDefinition, l limits) *sendPlan {
	if op.Operation != ast.Mutation || len(op.Directives) > 0 || len(op.VariableDefinitions) != 1 || len(op.SelectionSet) != 1 {
		return nil
	}
	def := op.VariableDefinitions[0]
	if def.Type == nil || def.Type.NamedType != "SendCustomEventInput" || !def.Type.NonNull || def.DefaultValue != nil || len(def.Directives) > 0 {
		return nil
	}
	f, ok := op.SelectionSet[0].(*ast.Field)
	if !ok || f.Name != "sendCustomEvent" || len(f.Directives) > 0 || len(f.Arguments) != 1 {
		return nil
	}
	arg := f.Arguments[0]
	if arg.Name != "input" || arg.Value == nil || arg.Value.Kind != ast.Variable || arg.Value.Raw != def.Variable {
		return nil
	}
	fields, ok := planFields(f.SelectionSet, sendResponseLeaves, true)
	if !ok {
		return nil
	}
	if l.check(op, nil) != nil {
		return nil
	}
	p := &sendPlan{variable: def.Variable, alias: f.Alias, fields: fields}
	if f.Position != nil {
		p.pos = gqlerror.Location{Line: f.Position.Line, Column: f.Position.Column}
	}
	return p
}

// planFields reads a selection of leaves (and, when workflows is set, of the workflows
// list): plain fields without arguments or directives, each response key once.
func planFields(set ast.SelectionSet, leaves map[string]bool, workflows bool) ([]planField, bool) {
	if len(set) == 0 {
		return nil, false
	}
	out := make([]planField, 0, len(set))
	seen := make(map[string]bool, len(set))
	for _, sel := range set {
		f, ok := sel.(*ast.Field)
		if !ok || len(f.Directives) > 0 || len(f.Arguments) > 0 || seen[f.Alias] {
			return nil, false
		}
		seen[f.Alias] = true
		pf := planField{key: f.Alias, name: f.Name}
		switch {
		case leaves[f.Name] && len(f.SelectionSet) == 0:
		case workflows && f.Name == "workflows":
			if pf.sub, ok = planFields(f.SelectionSet, temporalWorkflowLeaves, false); !ok {
				return nil, false
			}
		default:
			return nil, false
		}
		out = append(out, pf)
	}
	return out, true
}

// sendInput reads the input variable when it is plainly a SendCustomEventInput: an
// object of its fields only, each of its own JSON type (strings for String and ID,
// objects for Map, an RFC 3339 string for Time) or null where the schema allows it. Such
// a value passes gqlgen's coercion and Herald's strict check unchanged and gqlgen reads it
// into the same struct; for any other value ok is false and gqlgen runs the request.
func sendInput(v any) (in model.SendCustomEventInput, ok bool) {
	m, isMap := v.(map[string]any)
	if !isMap {
		return in, false
	}
	for k, x := range m {
		switch k {
		case "type":
			in.Type, ok = x.(string)
		case "operation":
			in.Operation, ok = x.(string)
		case "payload":
			in.Payload, ok = payloadInput(x)
		case "idempotencyKey":
			in.IdempotencyKey, ok = optString(x)
		case "scope":
			in.Scope, ok = optString(x)
		case "delay":
			in.Delay, ok = optString(x)
		case "metadata":
			in.Metadata, ok = optMap(x)
		case "deliverAt":
			if x == nil {
				ok = true
				break
			}
			s, isString := x.(string)
			if !isString {
				return in, false
			}
			t, err := model.UnmarshalTime(s)
			if err != nil {
				return in, false
			}
			in.DeliverAt, ok = &t, true
		default:
			return in, false
		}
		if !ok {
			return in, false
		}
	}
	_, hasType := m["type"]
	_, hasOperation := m["operation"]
	return in, hasType && hasOperation && in.Payload != nil
}

// payloadInput reads a CustomEventPayloadInput: id a string, data an object or null.
func payloadInput(v any) (*model.CustomEventPayloadInput, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, false
	}
	var p model.CustomEventPayloadInput
	hasID := false
	for k, x := range m {
		switch k {
		case "id":
			p.ID, hasID = x.(string)
			if !hasID {
				return nil, false
			}
		case "data":
			if p.Data, ok = optMap(x); !ok {
				return nil, false
			}
		default:
			return nil, false
		}
	}
	return &p, hasID
}

func optString(v any) (*string, bool) {
	if v == nil {
		return nil, true
	}
	s, ok := v.(string)
	return &s, ok
}

// optMap reads a Map (or null) as the scalar does.
func optMap(v any) (model.JSONObject, bool) {
	if v == nil {
		return nil, true
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, false
	}
	var o model.JSONObject
	if err := o.UnmarshalGQL(v); err != nil {
		return nil, false
	}
	return o, true
}

// serveSend runs a send by its plan, and reports false, having done nothing, when the
// request is not for the plan (see sendPlan).
func (h *Handler) serveSend(ctx context.Context, w http.ResponseWriter, r *http.Request, params *gqlgen.RawParams) bool {
	p := h.docs.plan(params.Query, params.OperationName)
	if p == nil {
		return false
	}
	in, ok := sendInput(params.Variables[p.variable])
	if !ok {
		return false
	}
	h.planned.Add(1)
	res, gerr := h.callSend(ctx, p, in)
	if gerr != nil {
		// sendCustomEvent is non-null: its error makes data null.
		h.write(w, r, responseType(r), http.StatusOK, response{Errors: gqlerror.List{h.presentError(ctx, gerr)}, Data: json.RawMessage("null")})
		return true
	}
	h.write(w, r, responseType(r), http.StatusOK, response{Data: p.data(res)})
	return true
}

// data is the answer's data: the selected fields, written as gqlgen writes them.
func (p *sendPlan) data(res *model.SendCustomEventResponse) json.RawMessage {
	var buf bytes.Buffer
	buf.Grow(64 + 160*len(res.Workflows))
	buf.WriteByte('{')
	gqlgen.MarshalString(p.alias).MarshalGQL(&buf)
	buf.WriteByte(':')
	writeFields(&buf, p.fields, func(w *bytes.Buffer, f planField) {
		switch f.name {
		case "__typename":
			gqlgen.MarshalString("SendCustomEventResponse").MarshalGQL(w)
		case "success":
			gqlgen.MarshalBoolean(res.Success).MarshalGQL(w)
		case "eventID":
			gqlgen.MarshalID(res.EventID).MarshalGQL(w)
		case "duplicate":
			gqlgen.MarshalBoolean(res.Duplicate).MarshalGQL(w)
		case "deliverAt":
			if res.DeliverAt == nil {
				w.WriteString("null")
			} else {
				model.MarshalTime(*res.DeliverAt).MarshalGQL(w)
			}
		case "workflows":
			w.WriteByte('[')
			for i, wf := range res.Workflows {
				if i > 0 {
					w.WriteByte(',')
				}
				writeFields(w, f.sub, func(w *bytes.Buffer, f planField) {
					switch f.name {
					case "__typename":
						gqlgen.MarshalString("TemporalWorkflow").MarshalGQL(w)
					case "type":
						gqlgen.MarshalString(wf.Type).MarshalGQL(w)
					case "id":
						gqlgen.MarshalID(wf.ID).MarshalGQL(w)
					case "runID":
						gqlgen.MarshalID(wf.RunID).MarshalGQL(w)
					}
				})
			}
			w.WriteByte(']')
		}
	})
	buf.WriteByte('}')
	return buf.Bytes()
}

// callSend calls the resolver as gqlgen's executor calls it: an error it returns is on
// the field's path, at the field's location; a panic is an internal error on the path.
func (h *Handler) callSend(ctx context.Context, p *sendPlan, in model.SendCustomEventInput) (res *model.SendCustomEventResponse, gerr error) {
	path := ast.Path{ast.PathName(p.alias)}
	defer func() {
		if v := recover(); v != nil {
			res, gerr = nil, gqlerror.WrapPath(path, h.recoverPanic(ctx, v))
		}
	}()
	res, err := mutationResolver{h.res}.SendCustomEvent(ctx, in)
	if err == nil && res == nil {
		err = errInternal // the resolver answers a response or an error
	}
	if err == nil {
		return res, nil
	}
	var located *gqlerror.Error
	if errors.As(err, &located) {
		if located.Path == nil {
			located.Path = path
		}
		if located.Locations == nil && p.pos.Line != 0 {
			located.Locations = []gqlerror.Location{p.pos}
		}
		return nil, err
	}
	wrapped := gqlerror.WrapPath(path, err)
	if p.pos.Line != 0 {
		wrapped.Locations = []gqlerror.Location{p.pos}
	}
	return nil, wrapped
}

// writeFields writes an object of the fields, each value by value.
func writeFields(w *bytes.Buffer, fields []planField, value func(*bytes.Buffer, planField)) {
	w.WriteByte('{')
	for i, f := range fields {
		if i > 0 {
			w.WriteByte(',')
		}
		gqlgen.MarshalString(f.key).MarshalGQL(w)
		w.WriteByte(':')
		value(w, f)
	}
	w.WriteByte('}')
}
