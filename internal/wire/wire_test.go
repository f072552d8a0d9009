package wire

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
)

// goldens maps each file of testdata, written from what the server sends
// (internal/api TestWireGolden), to the wire type that carries it.
var goldens = map[string]func() any{
	"event_full.json":            func() any { return new(Event) },
	"event_min.json":             func() any { return new(Event) },
	"event_scheduled.json":       func() any { return new(Event) },
	"push_reply_full.json":       func() any { return new(PushReply) },
	"push_reply_min.json":        func() any { return new(PushReply) },
	"bulk_reply.json":            func() any { return new(BulkReply) },
	"dry_run_reply.json":         func() any { return new(DryRunReply) },
	"run_full.json":              func() any { return new(Run) },
	"run_min.json":               func() any { return new(Run) },
	"workflow_full.json":         func() any { return new(Workflow) },
	"workflow_min.json":          func() any { return new(Workflow) },
	"put_workflow_reply.json":    func() any { return new(PutWorkflowReply) },
	"list_workflows.json":        func() any { return new(List[Workflow]) },
	"token_full.json":            func() any { return new(Token) },
	"token_min.json":             func() any { return new(Token) },
	"token_created.json":         func() any { return new(TokenCreated) },
	"tenant.json":                func() any { return new(Tenant) },
	"assignment_full.json":       func() any { return new(Assignment) },
	"assignment_min.json":        func() any { return new(Assignment) },
	"assignments.json":           func() any { return new(Assignments) },
	"worker_registered.json":     func() any { return new(WorkerRegistered) },
	"heartbeat_reply.json":       func() any { return new(HeartbeatReply) },
	"accepted.json":              func() any { return new(Status) },
	"error_full.json":            func() any { return new(Error) },
	"error_min.json":             func() any { return new(Error) },
	"filter_full.json":           func() any { return new(Filter) },
	"filter_min.json":            func() any { return new(Filter) },
	"event_schema.json":          func() any { return new(EventSchema) },
	"webhook_full.json":          func() any { return new(Webhook) },
	"webhook_min.json":           func() any { return new(Webhook) },
	"webhook_delivery_full.json": func() any { return new(WebhookDelivery) },
	"webhook_delivery_min.json":  func() any { return new(WebhookDelivery) },
	"webhook_challenge.json":     func() any { return new(WebhookChallenge) },
}

// TestGoldensRoundTrip reads every golden (a body the server writes) into its wire type,
// refusing fields the type does not have, and writes it back: the bytes must be the
// golden's. A renamed or missing field, or an omitempty added or dropped, changes them.
func TestGoldensRoundTrip(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if _, ok := goldens[filepath.Base(f)]; !ok {
			t.Errorf("%s has no wire type in goldens", f)
		}
	}
	for name, newValue := range goldens {
		t.Run(name, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			v := newValue()
			dec := json.NewDecoder(bytes.NewReader(want))
			dec.DisallowUnknownFields()
			if err := dec.Decode(v); err != nil {
				t.Fatalf("reading %s into %T: %v", name, v, err)
			}
			var got bytes.Buffer
			enc := json.NewEncoder(&got)
			enc.SetEscapeHTML(false) // as the server writes
			enc.SetIndent("", "  ")
			if err := enc.Encode(v); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("%T writes\n%s\nthe server writes (%s)\n%s", v, got.Bytes(), name, want)
			}
		})
	}
}

// schemas maps the schemas of internal/api/openapi.json to their wire types. replies
// are written by the server: their required properties are exactly the fields without
// omitempty.
var schemas = map[string]struct {
	typ   any
	reply bool
}{
	"Error":            {Error{}, true},
	"EventPush":        {EventPush{}, false},
	"TriggerDecision":  {TriggerDecision{}, true},
	"Event":            {Event{}, true},
	"RunRef":           {RunRef{}, true},
	"PushReply":        {PushReply{}, true},
	"BulkReply":        {BulkReply{}, true},
	"Decision":         {Decision{}, true},
	"DryRunReply":      {DryRunReply{}, true},
	"Retry":            {Retry{}, false},
	"StepDef":          {StepDef{}, false},
	"WorkflowDef":      {WorkflowDef{}, false},
	"Workflow":         {Workflow{}, true},
	"PutWorkflowReply": {PutWorkflowReply{}, true},
	"StepRun":          {StepRun{}, true},
	"Run":              {Run{}, true},
	"Filter":           {Filter{}, true},
	"FilterCreate":     {FilterCreate{}, false},
	"Token":            {Token{}, true},
	"TokenCreate":      {TokenCreate{}, false},
	"TokenCreated":     {TokenCreated{}, true},
	"Tenant":           {Tenant{}, true},
	"TenantCreate":     {TenantCreate{}, false},
	"EventSchema":      {EventSchema{}, true},
	"EventSchemaPut":   {EventSchemaPut{}, false},
	"WorkerRegister":   {WorkerRegister{}, false},
	"WorkerRegistered": {WorkerRegistered{}, true},
	"Poll":             {Poll{}, false},
	"Assignment":       {Assignment{}, true},
	"Assignments":      {Assignments{}, true},
	"Heartbeat":        {Heartbeat{}, false},
	"HeartbeatReply":   {HeartbeatReply{}, true},
	"Complete":         {Complete{}, false},
	"Fail":             {Fail{}, false},
	"Accepted":         {Status{}, true},
	"Health":           {Status{}, true},
	"WebhookAuth":      {WebhookAuth{}, false},
	"WebhookCreate":    {WebhookSpec{}, false},
	"WebhookUpdate":    {WebhookSpec{}, false},
	"Webhook":          {Webhook{}, true},
	"WebhookDelivery":  {WebhookDelivery{}, true},
	"WebhookChallenge": {WebhookChallenge{}, true},
}

// TestTypesMatchOpenAPI holds every wire type to its schema in the API's OpenAPI
// document: the same property names, and for a reply the fields always written are the
// required properties.
func TestTypesMatchOpenAPI(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "api", "openapi.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]json.RawMessage `json:"properties"`
				Required   []string                   `json:"required"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	for name, s := range schemas {
		t.Run(name, func(t *testing.T) {
			schema, ok := doc.Components.Schemas[name]
			if !ok {
				t.Fatalf("openapi.json has no schema %s", name)
			}
			var props []string
			for p := range schema.Properties {
				props = append(props, p)
			}
			sort.Strings(props)
			names, always := jsonFields(reflect.TypeOf(s.typ))
			if !slices.Equal(names, props) {
				t.Errorf("%T has the JSON fields %v; the schema %s has %v", s.typ, names, name, props)
			}
			if s.reply {
				required := slices.Clone(schema.Required)
				sort.Strings(required)
				if !slices.Equal(always, required) {
					t.Errorf("%T always writes %v; the schema %s requires %v", s.typ, always, name, required)
				}
			}
		})
	}
}

// jsonFields returns the JSON names of a struct's fields, and those written even when
// zero (without omitempty or omitzero), each sorted.
func jsonFields(t reflect.Type) (names, always []string) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, ok := f.Tag.Lookup("json")
		if !ok || tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		names = append(names, name)
		if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") {
			always = append(always, name)
		}
	}
	sort.Strings(names)
	sort.Strings(always)
	return names, always
}
