package store

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestTriggerJSONKeepsStoredDefinitions: definitions stored before trigger expressions
// (triggers as plain strings) read back as triggers without expressions and encode to
// the same bytes, so their content hash — hence their version — does not change; triggers
// with expressions are objects, and the two forms mix.
func TestTriggerJSONKeepsStoredDefinitions(t *testing.T) {
	t.Parallel()
	old := `{"name":"w","description":"","triggers":["user:created","order:*"],"steps":[]}`
	var def WorkflowDef
	if err := json.Unmarshal([]byte(old), &def); err != nil {
		t.Fatal(err)
	}
	if want := PlainTriggers("user:created", "order:*"); !reflect.DeepEqual(def.Triggers, want) {
		t.Fatalf("old definition's triggers = %+v, want %+v", def.Triggers, want)
	}
	b, err := json.Marshal(def)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != old {
		t.Fatalf("re-encoded definition = %s, want the stored bytes %s", b, old)
	}

	mixed := `["a",{"key":"b:*","expression":"input.x > 1"},{"key":"c"}]`
	var ts []Trigger
	if err := json.Unmarshal([]byte(mixed), &ts); err != nil {
		t.Fatal(err)
	}
	want := []Trigger{{Key: "a"}, {Key: "b:*", Expression: "input.x > 1"}, {Key: "c"}}
	if !reflect.DeepEqual(ts, want) {
		t.Fatalf("mixed triggers = %+v, want %+v", ts, want)
	}
	if b, _ := json.Marshal(ts); string(b) != `["a",{"key":"b:*","expression":"input.x \u003e 1"},"c"]` {
		t.Fatalf("mixed triggers encode as %s", b)
	}
	for _, bad := range []string{`[1]`, `[["a"]]`, `[{"key":"a","when":"x"}]`, `[null]`} {
		var ts []Trigger
		if err := json.Unmarshal([]byte(bad), &ts); err == nil && bad != `[null]` {
			t.Errorf("%s decoded as %+v, want an error", bad, ts)
		}
	}
}
