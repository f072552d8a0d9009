package herald

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func noop(context.Context, *StepContext) (any, error) { return nil, nil }

// validWorkflow returns a small valid workflow: a → b, a → c, (b, c) → d.
func validWorkflow() Workflow {
	return Workflow{
		Name:     "diamond",
		Triggers: []string{"user:created", "user:*"},
		Steps: []Step{
			{Name: "a", Run: noop},
			{Name: "b", Parents: []string{"a"}, Run: noop},
			{Name: "c", Parents: []string{"a"}, Run: noop, Timeout: 30 * time.Second},
			{Name: "d", Parents: []string{"b", "c"}, Run: noop, Retry: RetryPolicy{MaxAttempts: 5}},
		},
	}
}

func TestWorkflowValidate(t *testing.T) {
	t.Parallel()

	if err := validWorkflow().validate(); err != nil {
		t.Fatalf("valid workflow: %v", err)
	}

	tests := []struct {
		name   string
		modify func(*Workflow)
		want   string // substring of the error
	}{
		{"empty name", func(wf *Workflow) { wf.Name = "" }, "invalid workflow name"},
		{"bad char in name", func(wf *Workflow) { wf.Name = "wel come" }, "invalid workflow name"},
		{"long name", func(wf *Workflow) { wf.Name = strings.Repeat("x", 129) }, "invalid workflow name"},
		{"empty trigger", func(wf *Workflow) { wf.Triggers = []string{""} }, "trigger 0 is empty"},
		{"duplicate trigger", func(wf *Workflow) { wf.Triggers = []string{"a", "a"} }, `duplicate trigger "a"`},
		{"long trigger", func(wf *Workflow) { wf.Triggers = []string{strings.Repeat("k", 256)} }, "longer than 255"},
		{"no steps", func(wf *Workflow) { wf.Steps = nil }, "has no steps"},
		{"long description", func(wf *Workflow) { wf.Description = strings.Repeat("d", 4097) }, "description is longer"},
		{"bad step name", func(wf *Workflow) { wf.Steps[0].Name = "a/b" }, `invalid step name "a/b"`},
		{"duplicate step", func(wf *Workflow) { wf.Steps[1].Name = "a" }, `duplicate step "a"`},
		{"nil run", func(wf *Workflow) { wf.Steps[2].Run = nil }, `step "c": Run is nil`},
		{"unknown parent", func(wf *Workflow) { wf.Steps[1].Parents = []string{"zz"} }, `parent "zz" does not exist`},
		{"self parent", func(wf *Workflow) { wf.Steps[1].Parents = []string{"b"} }, "is its own parent"},
		{"parent twice", func(wf *Workflow) { wf.Steps[3].Parents = []string{"b", "b"} }, `parent "b" listed twice`},
		{"timeout too short", func(wf *Workflow) { wf.Steps[0].Timeout = 500 * time.Millisecond }, "timeout 500ms out of range"},
		{"timeout too long", func(wf *Workflow) { wf.Steps[0].Timeout = 25 * time.Hour }, "out of range"},
		{"attempts too many", func(wf *Workflow) { wf.Steps[0].Retry.MaxAttempts = 101 }, "max attempts 101 out of range"},
		{"attempts negative", func(wf *Workflow) { wf.Steps[0].Retry.MaxAttempts = -1 }, "out of range"},
		{"negative backoff", func(wf *Workflow) { wf.Steps[0].Retry.InitialBackoff = -time.Second }, "is negative"},
		{"max below initial", func(wf *Workflow) {
			wf.Steps[0].Retry = RetryPolicy{InitialBackoff: time.Minute, MaxBackoff: time.Second}
		}, "below the initial backoff"},
		{"small multiplier", func(wf *Workflow) { wf.Steps[0].Retry.Multiplier = 0.5 }, "multiplier 0.5 out of range"},
		{"big multiplier", func(wf *Workflow) { wf.Steps[0].Retry.Multiplier = 11 }, "multiplier 11 out of range"},
		{"initial above default max", func(wf *Workflow) { wf.Steps[0].Retry.InitialBackoff = 2 * time.Minute }, "below the initial backoff"},
		{"max backoff over 24h", func(wf *Workflow) { wf.Steps[0].Retry.MaxBackoff = 25 * time.Hour }, "over 24h"},
		{"two-step cycle", func(wf *Workflow) { wf.Steps[0].Parents = []string{"d"} }, "cycle"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wf := validWorkflow()
			wf.Steps = append([]Step(nil), wf.Steps...)
			tt.modify(&wf)
			err := wf.validate()
			if err == nil {
				t.Fatalf("validate() = nil, want error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("validate() = %q, want it to contain %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "herald: ") {
				t.Errorf("error %q lacks the herald: prefix", err)
			}
		})
	}
}

func TestWorkflowValidateNoTriggers(t *testing.T) {
	t.Parallel()
	wf := Workflow{Name: "manual-only", Steps: []Step{{Name: "only", Run: noop}}}
	if err := wf.validate(); err != nil {
		t.Fatalf("a workflow without triggers is valid: %v", err)
	}
}

func TestFindCycleNamesTheCycle(t *testing.T) {
	t.Parallel()
	steps := []Step{
		{Name: "root"},
		{Name: "x", Parents: []string{"root", "z"}},
		{Name: "y", Parents: []string{"x"}},
		{Name: "z", Parents: []string{"y"}},
	}
	index := map[string]int{"root": 0, "x": 1, "y": 2, "z": 3}
	got := strings.Join(findCycle(steps, index), " -> ")
	if got != "x -> z -> y -> x" {
		t.Fatalf("cycle = %q, want %q", got, "x -> z -> y -> x")
	}
	steps[1].Parents = []string{"root"}
	if c := findCycle(steps, index); c != nil {
		t.Fatalf("DAG reported a cycle: %v", c)
	}
}

func TestRegister(t *testing.T) {
	t.Parallel()
	w := NewWorker(&Client{}, WorkerConfig{})
	if err := w.Register(validWorkflow()); err != nil {
		t.Fatalf("Register: %v", err)
	}
	if err := w.Register(validWorkflow()); err == nil || !strings.Contains(err.Error(), "registered twice") {
		t.Fatalf("second Register = %v, want a duplicate error", err)
	}
	other := Workflow{Name: "other", Steps: []Step{{Name: "s", Run: noop}}}
	if err := w.Register(other, other); err == nil || !strings.Contains(err.Error(), "registered twice") {
		t.Fatalf("Register(x, x) = %v, want a duplicate error", err)
	}
	// Nothing of a failed call is registered.
	bad := Workflow{Name: "bad", Steps: []Step{{Name: "s"}}}
	if err := w.Register(Workflow{Name: "fine", Steps: []Step{{Name: "s", Run: noop}}}, bad); err == nil {
		t.Fatal("Register with an invalid workflow succeeded")
	}
	if w.step("fine", "s") != nil {
		t.Fatal("a workflow of a failed Register call was registered")
	}
	if w.step("diamond", "d") == nil {
		t.Fatal("registered step not found")
	}
}

func TestRegisterCopiesSteps(t *testing.T) {
	t.Parallel()
	w := NewWorker(&Client{}, WorkerConfig{})
	wf := validWorkflow()
	if err := w.Register(wf); err != nil {
		t.Fatal(err)
	}
	wf.Steps[0].Name = "changed"
	if w.step("diamond", "a") == nil {
		t.Fatal("changing the caller's slice changed the registered workflow")
	}
}

func TestWorkerConfigDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := NewWorker(&Client{}, WorkerConfig{}).config()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Slots != 10 || cfg.PollWait != 20*time.Second || cfg.ShutdownTimeout != 20*time.Second || cfg.Name == "" {
		t.Fatalf("defaults = %+v", cfg)
	}
	for _, bad := range []WorkerConfig{{Slots: -1}, {Slots: 1001}, {PollWait: -time.Second}, {PollWait: 61 * time.Second}} {
		if _, err := NewWorker(&Client{}, bad).config(); err == nil {
			t.Errorf("config(%+v) = nil error", bad)
		}
	}
}

func TestDefinitionJSON(t *testing.T) {
	t.Parallel()
	wf := Workflow{
		Name:        "welcome-user",
		Description: "Greets new users",
		Triggers:    []string{"user:created"},
		Steps: []Step{
			{Name: "send-welcome-email", Timeout: 30 * time.Second, Run: noop,
				Retry: RetryPolicy{MaxAttempts: 3, InitialBackoff: time.Second, MaxBackoff: time.Minute, Multiplier: 2}},
			{Name: "add-to-crm", Parents: []string{"send-welcome-email"}, Run: noop},
		},
	}
	b, err := json.Marshal(wf.Definition())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"name":"welcome-user","description":"Greets new users","triggers":["user:created"],"steps":[` +
		`{"name":"send-welcome-email","timeout":"30s","retry":{"max_attempts":3,"initial_backoff":"1s","max_backoff":"1m","multiplier":2}},` +
		`{"name":"add-to-crm","parents":["send-welcome-email"]}]}`
	if string(b) != want {
		t.Fatalf("definition JSON\n got %s\nwant %s", b, want)
	}

	var back WorkflowDefinition
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	s := back.Steps[0]
	if s.Timeout != 30*time.Second || s.Retry.MaxBackoff != time.Minute || s.Retry.Multiplier != 2 || back.Steps[1].Parents[0] != "send-welcome-email" {
		t.Fatalf("round trip = %+v", back)
	}

	// No triggers encode as [], not null.
	b, _ = json.Marshal(Workflow{Name: "m", Steps: []Step{{Name: "s"}}}.Definition())
	if !strings.Contains(string(b), `"triggers":[]`) {
		t.Fatalf("no triggers encoded as %s", b)
	}
}

func TestWorkflowInfoDecodesEngineDurations(t *testing.T) {
	t.Parallel()
	// The engine may echo defaults in time.Duration.String form.
	in := `{"name":"w","active":true,"version":2,"triggers":["k"],"created_at":"2026-11-23T18:37:00.123Z","updated_at":"2026-11-23T18:37:00.123Z",
		"steps":[{"name":"s","parents":[],"timeout":"1m0s","retry":{"max_attempts":3,"initial_backoff":"1s","max_backoff":"1m0s","multiplier":2}},
		{"name":"t","parents":["s"],"timeout":"","retry":null}]}`
	var wf WorkflowInfo
	if err := json.Unmarshal([]byte(in), &wf); err != nil {
		t.Fatal(err)
	}
	if wf.Version != 2 || !wf.Active || wf.Steps[0].Timeout != time.Minute || wf.Steps[0].Retry.MaxBackoff != time.Minute ||
		wf.Steps[1].Timeout != 0 || wf.Steps[1].Retry != (RetryPolicy{}) {
		t.Fatalf("decoded %+v", wf)
	}
	var d jsonDuration
	if err := json.Unmarshal([]byte(`"soon"`), &d); err == nil {
		t.Fatal("invalid duration accepted")
	}
}

func TestFormatDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		time.Second:                    "1s",
		10 * time.Second:               "10s",
		time.Minute:                    "1m",
		90 * time.Second:               "1m30s",
		time.Hour:                      "1h",
		90 * time.Minute:               "1h30m",
		2*time.Hour + 5*time.Second:    "2h0m5s",
		500 * time.Millisecond:         "500ms",
		20*time.Minute + 0*time.Second: "20m",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
		if back, err := time.ParseDuration(formatDuration(d)); err != nil || back != d {
			t.Errorf("ParseDuration(%q) = %v, %v", formatDuration(d), back, err)
		}
	}
}

func TestWorkflowValidateWildcardTriggers(t *testing.T) {
	t.Parallel()
	for _, trig := range [][]string{{"user:*"}, {"*"}, {"user:created", "user:*"}} {
		wf := validWorkflow()
		wf.Triggers = trig
		if err := wf.validate(); err != nil {
			t.Errorf("triggers %q: %v", trig, err)
		}
	}
	for _, bad := range []string{"user:*:x", "*x", "**"} {
		wf := validWorkflow()
		wf.Triggers = []string{bad}
		if err := wf.validate(); err == nil || !strings.Contains(err.Error(), "wildcard") {
			t.Errorf("trigger %q: err = %v, want a wildcard error", bad, err)
		}
	}
}
