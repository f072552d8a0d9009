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
		return store.Workflow{TenantID: tenant, Name: name, Def: store.WorkflowDef{Name: name, Triggers: store.PlainTriggers(triggers...)}}
	}
	ix := buildIndex([]store.Workflow{
		wf("t1", "exact", "user:created"),
		wf("t1", "users", "user:*"),
		wf("t1", "mixed", "user:created", "user:*", "order:*", "order:paid"), // several triggers match
		wf("t1", "everything", "*"),
		wf("t1", "prefix-no-colon", "user*"),
		wf("t1", "long", "user:created:v2*"),
		wf("t2", "other-tenant", "*"),
	}, nil, nil)
	names := func(ms []wfMatch) []string {
		out := []string{}
		for _, m := range ms {
			out = append(out, m.w.wf.Name)
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
		for _, m := range ix.match(tc.tenant, tc.key) {
			var want []int
			for i, tr := range m.w.wf.Def.Triggers {
				if TriggerMatches(tr.Key, tc.key) {
					want = append(want, i)
				}
			}
			if !reflect.DeepEqual(m.trigs, want) {
				t.Errorf("TriggerMatches disagrees with the index for %s on %q: index %v, TriggerMatches %v", m.w.wf.Name, tc.key, m.trigs, want)
			}
		}
	}
}
