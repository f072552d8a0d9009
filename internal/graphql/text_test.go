package graphql_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestLoneSurrogateInSendIsRefused: a lone UTF-16 surrogate escape ("\ud800") in a
// sendCustomEvent's payload was decoded by Go's JSON reader into U+FFFD and stored so,
// where REST refuses it with 400 (PostgreSQL's jsonb cannot hold it). It is refused with
// INVALID_ARGUMENT naming the variable's value ($input.payload.data.s) or the document
// (query), whichever execution path would have run it, and nothing is stored, on both
// stores.
func TestLoneSurrogateInSendIsRefused(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		c := b.c
		c.putWorkflow(workflow("reorder-stock", "inventory:*"))
		ev0, runs0 := counts(t, c)
		const vars = `{"input":{"type":"inventory","operation":"low_stock_alert","payload":{"id":"1","data":{"s":"a\ud800b"}}}}`
		for _, tc := range []struct{ name, body, field string }{
			{"variables, planned path", `{"query":` + quote(sendFull) + `,"variables":` + vars + `}`, "$input.payload.data.s"},
			{"variables, executor path", `{"query":` + quote(sendFull+"\nquery Other { __typename }") + `,"operationName":"Send","variables":` + vars + `}`, "$input.payload.data.s"},
			{"low surrogate alone in metadata", `{"query":` + quote(sendFull) + `,"variables":{"input":{"type":"inventory","operation":"x","payload":{"id":"1"},"metadata":{"m":"\udc00"}}}}`, "$input.metadata.m"},
			{"lone surrogate in the id", `{"query":` + quote(sendFull) + `,"variables":{"input":{"type":"inventory","operation":"x","payload":{"id":"\ud83d"}}}}`, "$input.payload.id"},
			{"in a list", `{"query":` + quote(sendFull) + `,"variables":{"input":{"type":"inventory","operation":"x","payload":{"id":"1","data":{"l":[1,{"a":["\udfff"]}]}}}}}`, "$input.payload.data.l[1].a[0]"},
			{"literal in the document", `{"query":` + quote(`mutation { sendCustomEvent(input: {type: "inventory", operation: "x", payload: {id: "1", data: {s: "\ud800"}}}) { success } }`) + `}`, "query"},
		} {
			r := decodeGQL(t, c.do("POST", "/graphql", tc.body))
			e := r.only(t)
			if e.code() != "INVALID_ARGUMENT" || e.field() != tc.field || !strings.Contains(e.Message, "surrogate") {
				t.Errorf("%s: %d %s, want INVALID_ARGUMENT on %s naming the surrogate", tc.name, r.status, r.raw, tc.field)
			}
		}
		// A pair is one character, and is kept.
		r := decodeGQL(t, c.do("POST", "/graphql", `{"query":`+quote(sendFull)+`,"variables":{"input":{"type":"inventory","operation":"x","payload":{"id":"1","data":{"s":"\ud83d\ude00"}}}}}`))
		if len(r.Errors) != 0 || !strings.Contains(string(r.raw), "\U0001F600") {
			t.Errorf("a surrogate pair: %s", r.raw)
		}
		if ev, runs := counts(t, c); ev != ev0+1 || runs != runs0+1 {
			t.Fatalf("events %d→%d, runs %d→%d: only the pair's push may be stored", ev0, ev, runs0, runs)
		}
	})
}

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

// quote renders s as a JSON string.
func quote(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}
