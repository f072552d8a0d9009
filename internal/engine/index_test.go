package engine

import (
	"reflect"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/store"
)

func TestValidateTriggerWildcards(t *testing.T) {
	t.Parallel()
	good := []string{"user:created", "user:*", "*", "user*", "a/b.c_d-e:*", strings.Repeat("a", 254) + "*"}
	for _, tr := range good {
		if err := ValidateTrigger("t", tr); err != nil {
			t.Errorf("ValidateTrigger(%q) = %v, want nil", tr, err)
		}
	}
	bad := []string{"", "**", "user:*:created", "*user", "us*er*", "user *", strings.Repeat("a", 255) + "*"}
	for _, tr := range bad {
		if err := ValidateTrigger("t", tr); err == nil {
			t.Errorf("ValidateTrigger(%q) = nil, want an error", tr)
		}
	}
	// Event keys never take a wildcard.
	for _, k := range []string{"*", "user:*"} {
		if err := ValidateKey("key", k); err == nil {
			t.Errorf("ValidateKey(%q) = nil, want an error", k)
		}
	}
}

func TestIndexMatchesExactKeysAndPatterns(t *testing.T) {
	t.Parallel()
	wf := func(tenant, name string, triggers ...string) store.Workflow {
		return store.Workflow{TenantID: tenant, Name: name, Def: store.WorkflowDef{Name: name, Triggers: triggers}}
	}
	ix := buildIndex([]store.Workflow{
		wf("t1", "exact", "user:created"),
		wf("t1", "users", "user:*"),
		wf("t1", "mixed", "user:created", "user:*", "order:*", "order:paid"), // several triggers match
		wf("t1", "everything", "*"),
		wf("t1", "prefix-no-colon", "user*"),
		wf("t1", "long", "user:created:v2*"),
		wf("t2", "other-tenant", "*"),
	})
	names := func(wfs []*store.Workflow) []string {
		out := []string{}
		for _, w := range wfs {
			out = append(out, w.Name)
		}
		return out
	}
	cases := []struct {
		tenant, key string
		want        []string
	}{
		{"t1", "user:created", []string{"everything", "exact", "mixed", "prefix-no-colon", "users"}},
		{"t1", "user:deleted", []string{"everything", "mixed", "prefix-no-colon", "users"}},
		{"t1", "user:", []string{"everything", "mixed", "prefix-no-colon", "users"}},
		{"t1", "user", []string{"everything", "prefix-no-colon"}},
		{"t1", "users", []string{"everything", "prefix-no-colon"}},
		{"t1", "user:created:v2", []string{"everything", "long", "mixed", "prefix-no-colon", "users"}},
		{"t1", "order:paid", []string{"everything", "mixed"}},
		{"t1", "invoice:sent", []string{"everything"}},
		{"t2", "user:created", []string{"other-tenant"}},
		{"t3", "user:created", []string{}},
	}
	for _, tc := range cases {
		if got := names(ix.match(tc.tenant, tc.key)); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("match(%s, %q) = %v, want %v", tc.tenant, tc.key, got, tc.want)
		}
		for _, w := range ix.match(tc.tenant, tc.key) {
			ok := false
			for _, tr := range w.Def.Triggers {
				ok = ok || TriggerMatches(tr, tc.key)
			}
			if !ok {
				t.Errorf("TriggerMatches disagrees with the index for %s on %q", w.Name, tc.key)
			}
		}
	}
}
