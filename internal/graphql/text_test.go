package graphql_test

import (
	"testing"
)

// TestIDsWithNULFindNothing: an id or name holding U+0000 reached the store, whose
// PostgreSQL text refuses it (INTERNAL, where SQLite found nothing). event, run and
// workflow find nothing, and the runs filter refuses such an event id, on both stores.
func TestIDsWithNULFindNothing(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		c := b.c
		c.putWorkflow(workflow("w", "k"))
		for _, q := range []string{
			`query($id: ID!) { event(id: $id) { id } }`,
			`query($id: ID!) { run(id: $id) { id } }`,
			`query($id: String!) { workflow(name: $id) { name } }`,
		} {
			for _, id := range []string{"\x00", "a\x00b", "\xff"} {
				r := c.gql(q, map[string]any{"id": id})
				if r.status != 200 || len(r.Errors) > 1 || len(r.Errors) == 1 && r.Errors[0].code() != "NOT_FOUND" {
					t.Errorf("%s with %q: %d %s, want no such thing", q, id, r.status, r.raw)
				}
			}
		}
		for _, q := range []string{
			`query($id: ID) { runs(eventID: $id) { items { id } } }`,
			`query($id: String) { runs(workflow: $id) { items { id } } }`,
			`query($id: String) { runs(key: $id) { items { id } } }`,
			`query($id: String) { events(workflow: $id) { items { id } } }`,
			`query($id: String) { events(keyPrefix: $id) { items { id } } }`,
			`query($id: String) { events(cursor: $id) { items { id } } }`,
		} {
			r := c.gql(q, map[string]any{"id": "a\x00"})
			if e := r.only(t); e.code() != "INVALID_ARGUMENT" {
				t.Errorf("%s with U+0000: %s", q, r.raw)
			}
		}
	})
}
