package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/expr"
	"github.com/heraldhq/herald/internal/testkit"
	"github.com/heraldhq/herald/internal/webhook"
)

func TestDecodeBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, contentType, body string
		input                   map[string]any // nil: refused
		payload                 string
	}{
		{"json", "application/json", ` {"type": "invoice.paid", "n": 1, "data": {"x": [1, "a"]}} `,
			map[string]any{"type": "invoice.paid", "n": 1.0, "data": map[string]any{"x": []any{1.0, "a"}}},
			`{"type":"invoice.paid","n":1,"data":{"x":[1,"a"]}}`},
		{"json with charset", "application/json; charset=utf-8", `{"a":"b"}`, map[string]any{"a": "b"}, `{"a":"b"}`},
		{"no content type", "", `{"a":"b"}`, map[string]any{"a": "b"}, `{"a":"b"}`},
		{"empty body", "application/json", "", map[string]any{}, `{}`},
		{"big integer kept exactly in the payload", "", `{"id": 12345678901234567890}`,
			map[string]any{"id": 12345678901234567890.0}, `{"id":12345678901234567890}`},
		{"form", "application/x-www-form-urlencoded", "command=%2Fdeploy&text=prod+now&tag=a&tag=b",
			map[string]any{"command": "/deploy", "text": "prod now", "tag": []any{"a", "b"}}, `{"command":"/deploy","tag":["a","b"],"text":"prod now"}`},
		{"form with a JSON payload field", "application/x-www-form-urlencoded", "payload=%7B%22type%22%3A%22block_actions%22%2C%22user%22%3A%7B%22id%22%3A%22U1%22%7D%7D",
			map[string]any{"type": "block_actions", "user": map[string]any{"id": "U1"}}, `{"type":"block_actions","user":{"id":"U1"}}`},
		{"form with a plain payload field", "application/x-www-form-urlencoded", "payload=hello",
			map[string]any{"payload": "hello"}, `{"payload":"hello"}`},
		{"array", "application/json", `[1, 2]`, nil, ""},
		{"string", "application/json", `"x"`, nil, ""},
		{"truncated", "application/json", `{"a": `, nil, ""},
		{"two values", "application/json", `{"a": 1} {"b": 2}`, nil, ""},
		{"form with a broken JSON payload", "application/x-www-form-urlencoded", "payload=%7B%22type", nil, ""},
		{"bad form escape", "application/x-www-form-urlencoded", "a=%zz", nil, ""},
		{"U+0000 (PostgreSQL cannot store it)", "application/json", `{"a":"x\u0000"}`, nil, ""},
		{"U+0000 in a form", "application/x-www-form-urlencoded", "a=%00", nil, ""},
		{"invalid UTF-8", "application/json", "{\"a\":\"\xff\"}", nil, ""},
		{"a backslash and u0000 is text", "application/json", `{"a":"\\u0000"}`, map[string]any{"a": `\u0000`}, `{"a":"\\u0000"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := webhook.DecodeBody(tt.contentType, []byte(tt.body))
			if tt.input == nil {
				var be *webhook.BodyError
				if !errors.As(err, &be) {
					t.Fatalf("DecodeBody = %v, %v; want a BodyError", b, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeBody: %v", err)
			}
			if !reflect.DeepEqual(b.Input, tt.input) {
				t.Errorf("input = %#v, want %#v", b.Input, tt.input)
			}
			var compact bytes.Buffer
			if err := json.Compact(&compact, b.Payload); err != nil {
				t.Fatalf("payload %q is not JSON: %v", b.Payload, err)
			}
			if compact.String() != tt.payload {
				t.Errorf("payload = %s, want %s", b.Payload, tt.payload)
			}
		})
	}
}

func TestMergeStatic(t *testing.T) {
	t.Parallel()
	got, err := webhook.MergeStatic(json.RawMessage(`{"type":"payment_intent.created","source":"api","n":{"a":1}}`),
		json.RawMessage(`{"source":"stripe","environment":"production"}`))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"environment":"production","n":{"a":1},"source":"stripe","type":"payment_intent.created"}`
	if string(got) != want {
		t.Errorf("merged = %s, want %s (static values win)", got, want)
	}
	same, err := webhook.MergeStatic(json.RawMessage(`{"a":1}`), nil)
	if err != nil || string(same) != `{"a":1}` {
		t.Errorf("no static payload: %s, %v", same, err)
	}
}

func TestExpressions(t *testing.T) {
	t.Parallel()
	x, err := webhook.NewExprs(expr.NewEvaluator(1))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	input := map[string]any{"type": "payment_intent.created", "action": "created", "customer_id": "cus_1", "n": 3.0,
		"data": map[string]any{"object": map[string]any{"id": "pi_1"}}}
	headers := map[string]string{"x-github-event": "star"}
	good := []struct{ expr, want string }{
		{`'stripe:' + input.type`, "stripe:payment_intent.created"},
		{`'github:' + headers['x-github-event'] + ':' + input.action`, "github:star:created"},
		{`input.customer_id`, "cus_1"},
		{`input.data.object.id`, "pi_1"},
		{`'webhook'`, "webhook"},
		{`has(input.missing) ? input.missing : 'none'`, "none"},
		{`input.type.split('.')[0]`, "payment_intent"},
		{`string(input.n)`, "3"},
	}
	for _, g := range good {
		if err := x.Check(g.expr); err != nil {
			t.Errorf("Check(%s): %v", g.expr, err)
			continue
		}
		got, err := x.Eval(ctx, g.expr, input, headers)
		if err != nil || got != g.want {
			t.Errorf("Eval(%s) = %q, %v; want %q", g.expr, got, err, g.want)
		}
	}
	// Refused when saved: syntax, unknown variables, types, non-strings.
	for _, bad := range []string{`'a' +`, `inputs.type`, `'a' + 1`, `1 + 2`, `input.n > 2`, ``, strings.Repeat("'a' + ", 1000) + "'a'"} {
		if err := x.Check(bad); !expr.IsError(err) {
			t.Errorf("Check(%.40s) = %v, want an expression error", bad, err)
		}
	}
	// Failing or non-string at run time.
	for _, bad := range []string{`input.missing`, `input.n`, `input.data`, `headers['x-nope']`} {
		if _, err := x.Eval(ctx, bad, input, headers); !expr.IsError(err) {
			t.Errorf("Eval(%s) = %v, want an expression error", bad, err)
		}
	}
	// A comprehension over a big body stops at the cost limit instead of running on.
	big := make([]any, 100_000)
	for i := range big {
		big[i] = "x"
	}
	quadratic := `input.items.map(a, input.items.map(b, a + b)).size() > 0 ? 'big' : 'small'`
	if _, err := x.Eval(ctx, quadratic, map[string]any{"items": big}, nil); !expr.IsError(err) {
		t.Errorf("quadratic expression over 100,000 items: %v, want the cost limit", err)
	}
}

// TestExpressionsRunOnTheSharedEvaluator: a webhook expression takes a slot of the
// evaluator it was given (shared with the engine's trigger expressions): with the only
// slot held, it waits, and gives up when its request is cancelled; a request already over
// evaluates nothing.
func TestExpressionsRunOnTheSharedEvaluator(t *testing.T) {
	t.Parallel()
	evals := expr.NewEvaluator(1)
	x, err := webhook.NewExprs(evals)
	if err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	evals.OnSlot(func() {
		entered <- struct{}{}
		<-release
	})
	first := make(chan error, 1)
	go func() {
		_, err := x.Eval(context.Background(), `'k:' + input.type`, map[string]any{"type": "a"}, nil)
		first <- err
	}()
	<-entered
	ctx, cancel := context.WithCancel(context.Background())
	second := make(chan error, 1)
	go func() {
		_, err := x.Eval(ctx, `'k:' + input.type`, map[string]any{"type": "b"}, nil)
		second <- err
	}()
	testkit.Eventually(t, "the second evaluation waits for the slot", func() bool { return evals.Waiting() == 1 })
	cancel()
	if err := <-second; !expr.IsError(err) || !strings.Contains(err.Error(), "request was cancelled") {
		t.Fatalf("waiting evaluation: %v", err)
	}
	if _, err := x.Eval(ctx, `'k:' + input.type`, map[string]any{"type": "c"}, nil); !expr.IsError(err) || !strings.Contains(err.Error(), "not evaluated") {
		t.Fatalf("after the request: %v", err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
}
