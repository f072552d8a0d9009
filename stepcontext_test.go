package herald

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/wire"
)

func testStepContext(a *assignment) *StepContext {
	return &StepContext{a: a, logger: slog.New(slog.DiscardHandler)}
}

func TestStepContextInputAndParents(t *testing.T) {
	t.Parallel()
	sc := testStepContext(&assignment{Assignment: wire.Assignment{
		StepRunID: "sr", RunID: "r", Workflow: "w", Step: "child", Attempt: 2, MaxAttempts: 3, EventID: "e",
		Input:   json.RawMessage(`{"user_id":"u_1"}`),
		Parents: map[string]json.RawMessage{"parent": json.RawMessage(`{"sent":true}`), "empty": nil},
	}})
	if sc.RunID() != "r" || sc.StepRunID() != "sr" || sc.Workflow() != "w" || sc.Step() != "child" ||
		sc.Attempt() != 2 || sc.MaxAttempts() != 3 || sc.EventID() != "e" || sc.Logger() == nil {
		t.Fatal("accessors do not match the assignment")
	}
	var in struct {
		UserID string `json:"user_id"`
	}
	if err := sc.Input(&in); err != nil || in.UserID != "u_1" {
		t.Fatalf("Input = %+v, %v", in, err)
	}
	var out struct {
		Sent bool `json:"sent"`
	}
	if err := sc.ParentOutput("parent", &out); err != nil || !out.Sent {
		t.Fatalf("ParentOutput = %+v, %v", out, err)
	}
	var m map[string]any
	if err := sc.ParentOutput("empty", &m); err != nil || m == nil || len(m) != 0 {
		t.Fatalf("ParentOutput of an empty output = %v, %v", m, err)
	}
	if err := sc.ParentOutput("stranger", &out); err == nil || !strings.Contains(err.Error(), `no parent "stranger"`) {
		t.Fatalf("ParentOutput of a non-parent = %v", err)
	}
	var wrong struct {
		Sent string `json:"sent"`
	}
	if err := sc.ParentOutput("parent", &wrong); err == nil {
		t.Fatal("ParentOutput decoded a bool into a string")
	}

	// No input decodes as {}.
	sc = testStepContext(&assignment{Assignment: wire.Assignment{Step: "s"}})
	m = nil
	if err := sc.Input(&m); err != nil || m == nil {
		t.Fatalf("Input of a manual run without input = %v, %v", m, err)
	}
}

func TestNonRetryable(t *testing.T) {
	t.Parallel()
	if NonRetryable(nil) != nil {
		t.Fatal("NonRetryable(nil) != nil")
	}
	base := errors.New("bad card")
	err := NonRetryable(base)
	if err.Error() != "bad card" || !errors.Is(err, base) {
		t.Fatalf("NonRetryable changed the error: %v", err)
	}
	if isRetryable(err) || isRetryable(fmt.Errorf("charging: %w", err)) {
		t.Fatal("a NonRetryable error (or one wrapping it) is retryable")
	}
	if !isRetryable(base) {
		t.Fatal("a plain error is not retryable")
	}
}

func TestEncodeOutput(t *testing.T) {
	t.Parallel()
	type result struct {
		ID string `json:"id"`
	}
	var nilMap map[string]any
	var nilPtr *result
	for _, tt := range []struct {
		in   any
		want string
	}{
		{nil, `{}`},
		{nilMap, `{}`},
		{nilPtr, `{}`},
		{map[string]any{"a": 1}, `{"a":1}`},
		{result{ID: "x"}, `{"id":"x"}`},
		{&result{ID: "y"}, `{"id":"y"}`},
		{json.RawMessage(` {"raw":true} `), `{"raw":true}`},
	} {
		got, err := encodeOutput(tt.in)
		if err != nil || string(got) != tt.want {
			t.Errorf("encodeOutput(%#v) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
	for _, tt := range []struct {
		in   any
		kind string
	}{
		{"hello", "a string"},
		{42, "a number"},
		{[]int{1}, "an array"},
		{true, "a boolean"},
		{[]byte("{}"), "a string"}, // []byte encodes as base64
	} {
		_, err := encodeOutput(tt.in)
		if err == nil || !strings.Contains(err.Error(), "must be a JSON object") || !strings.Contains(err.Error(), tt.kind) {
			t.Errorf("encodeOutput(%#v) = %v, want an error naming %s", tt.in, err, tt.kind)
		}
	}
	if _, err := encodeOutput(map[string]any{"ch": make(chan int)}); err == nil {
		t.Error("an unencodable output was accepted")
	}
}

func TestRunStepRecoversPanics(t *testing.T) {
	t.Parallel()
	sc := testStepContext(&assignment{})
	out, stack, err := runStep(context.Background(), func(context.Context, *StepContext) (any, error) {
		var m map[string]int
		m["boom"] = 1 // nil map write panics
		return nil, nil
	}, sc)
	if out != nil || err == nil || !strings.Contains(err.Error(), "step panicked") || len(stack) == 0 {
		t.Fatalf("runStep = %v, %v, stack %d bytes", out, err, len(stack))
	}
	if !isRetryable(err) {
		t.Fatal("a panic is not retryable")
	}
	out, stack, err = runStep(context.Background(), func(context.Context, *StepContext) (any, error) {
		return map[string]int{"n": 1}, nil
	}, sc)
	if err != nil || stack != nil || out == nil {
		t.Fatalf("runStep = %v, %v, %v", out, stack, err)
	}
}
