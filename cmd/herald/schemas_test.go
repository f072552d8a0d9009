package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldhq/herald"
)

func TestE2ESchemas(t *testing.T) {
	t.Parallel()
	e := setupE2E(t)
	file := filepath.Join(t.TempDir(), "created.schema.json")
	doc := `{
  "type": "object",
  "required": ["user_id"],
  "properties": {"user_id": {"type": "string"}}
}`
	if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}

	// An invalid schema is refused with the compiler's message, naming the field.
	r := e.run(t, `{"type": 7}`, "schemas", "put", "user:created", "-")
	if r.code != exitError || !strings.Contains(r.stderr, `(field: schema)`) {
		t.Fatalf("invalid schema: exit %d, stderr %q", r.code, r.stderr)
	}
	// From a file, from standard input, inline.
	out := e.ok(t, "", "schemas", "put", "user:created", file)
	wantContains(t, out, "schema of user:created saved")
	e.ok(t, `{"type":"object"}`, "schemas", "put", "user:deleted", "-")
	e.ok(t, "", "schemas", "put", "ping", `{"type":"object","additionalProperties":false}`)

	out = e.ok(t, "", "schemas", "list")
	wantContains(t, out, "KEY", "ping", "user:created", "user:deleted")
	var list struct{ Items []herald.EventSchema }
	e.okJSON(t, &list, "", "schemas", "list")
	if len(list.Items) != 3 || list.Items[0].Key != "ping" {
		t.Fatalf("list -o json = %+v", list)
	}
	// get prints the schema itself, indented: it can be saved and put again.
	out = e.ok(t, "", "schemas", "get", "user:created")
	var back map[string]any
	if err := json.Unmarshal([]byte(out), &back); err != nil || back["required"].([]any)[0] != "user_id" || !strings.Contains(out, "\n  \"type\"") {
		t.Fatalf("get printed %q (%v)", out, err)
	}

	// A push that does not conform fails with the field; a conforming one succeeds.
	r = e.run(t, "", "push", "user:created", `{"user_id": 7}`)
	if r.code != exitError || !strings.Contains(r.stderr, "(field: payload/user_id)") {
		t.Fatalf("violating push: exit %d, stderr %q", r.code, r.stderr)
	}
	e.ok(t, "", "push", "user:created", `{"user_id": "u_7"}`)

	out = e.ok(t, "", "schemas", "delete", "user:created")
	wantContains(t, out, "schema of user:created deleted")
	e.ok(t, "", "push", "user:created", `{"user_id": 7}`)
	r = e.run(t, "", "schemas", "get", "user:created")
	if r.code != exitError || !strings.Contains(r.stderr, "not found") {
		t.Fatalf("get after delete: exit %d, stderr %q", r.code, r.stderr)
	}
}
