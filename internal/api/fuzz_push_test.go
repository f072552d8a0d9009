package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/wire"
)

// pushWorld gives a fuzz target of pushes something to match: workflows on exact keys, a
// pattern, a trigger expression, a workflow gated by a runtime filter, and a payload
// schema on one key.
func pushWorld(f *testing.F) *fuzzServer {
	fs := newFuzzServer(f)
	fs.setup(f, 200, "PUT", "/api/v1/workflows/orders", `{"triggers":["order:*"],"steps":[{"name":"a"},{"name":"b","parents":["a"]}]}`)
	fs.setup(f, 200, "PUT", "/api/v1/workflows/big", `{"triggers":[{"key":"user:created","expression":"input.n > 1"}],"steps":[{"name":"a"}]}`)
	fs.setup(f, 200, "PUT", "/api/v1/workflows/scoped", `{"triggers":["order:*","user:*"],"steps":[{"name":"a"}]}`)
	fs.setup(f, 201, "POST", "/api/v1/workflows/scoped/filters", `{"scope":"acme","expression":"additional_metadata.vip == true","payload":{"plan":"gold"}}`)
	fs.setup(f, 201, "PUT", "/api/v1/event-schemas/order:paid", `{"schema":{"type":"object","required":["amount"],"properties":{"amount":{"type":"number"}}}}`)
	return fs
}

// The push bodies as the handler reads and writes them: a native push, its reply, and an
// event of the reply.
type (
	pushIn      = wire.EventPush
	pushOut     = wire.PushReply
	pushedEvent = wire.Event
)

// emptyOr is a payload as stored: absent or null is {}.
func emptyOr(raw json.RawMessage) []byte {
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" {
		return []byte("{}")
	}
	return raw
}

// checkPushed checks an accepted event against what was pushed, and reads it back: the
// stored event is what the reply said.
func checkPushed(t *testing.T, r fuzzReply, in pushIn, got pushOut) {
	t.Helper()
	ev := got.Event
	if ev.Key != in.Key || ev.Scope != in.Scope || !sameJSON(ev.Payload, emptyOr(in.Payload)) {
		t.Fatalf("%s: pushed key %q scope %q payload %s, the reply has %q %q %s", r.store.name, in.Key, in.Scope, in.Payload, ev.Key, ev.Scope, ev.Payload)
	}
	meta := emptyOr(in.AdditionalMetadata)
	if len(ev.AdditionalMetadata) > 0 && !sameJSON(ev.AdditionalMetadata, meta) || len(ev.AdditionalMetadata) == 0 && string(meta) != "{}" && !sameJSON(meta, []byte("{}")) {
		t.Fatalf("%s: pushed metadata %s, the reply has %s", r.store.name, in.AdditionalMetadata, ev.AdditionalMetadata)
	}
	back := r.store.serve(t.Context(), fuzzRequest{method: "GET", path: "/api/v1/events/" + ev.ID})
	if back.status != http.StatusOK {
		t.Fatalf("%s: reading back event %s: %d %s", r.store.name, ev.ID, back.status, back.body)
	}
	var stored pushedEvent
	if err := json.Unmarshal(back.body, &stored); err != nil {
		t.Fatal(err)
	}
	if stored.Key != ev.Key || stored.Status != ev.Status || !sameJSON(stored.Payload, ev.Payload) ||
		len(stored.AdditionalMetadata)+len(ev.AdditionalMetadata) > 0 && !sameJSON(stored.AdditionalMetadata, ev.AdditionalMetadata) {
		t.Fatalf("%s: the push answered %+v, the store has %+v", r.store.name, ev, stored)
	}
}

// FuzzPushEvent posts arbitrary bodies (and Idempotency-Key headers) to POST
// /api/v1/events. An accepted event is stored as pushed (key, scope, payload, metadata as
// JSON values), and reads back as the reply showed it; a repeat of a live idempotency key
// stores nothing; a dry run stores nothing.
func FuzzPushEvent(f *testing.F) {
	for _, s := range [][2]string{
		{`{"key":"order:paid","payload":{"amount":12.5,"items":[{"sku":"a"}]}}`, ""},
		{`{"key":"order:paid","payload":{"currency":"EUR"}}`, ""},
		{`{"key":"user:created","payload":{"n":2},"additional_metadata":{"tenant":"acme","vip":true,"n":3}}`, ""},
		{`{"key":"user:created","payload":{"n":"x"}}`, ""},
		{`{"key":"order:new","idempotency_key":"k-1"}`, ""},
		{`{"key":"order:new"}`, "k-1"},
		{`{"key":"order:new","idempotency_key":"a"}`, "b"},
		{`{"key":"order:new","scope":"acme","payload":null}`, ""},
		{`{"key":"order:new","dry_run":true,"payload":{"a":1}}`, ""},
		{`{"key":"order:new","delay":"1h"}`, ""},
		{`{"key":"order:new","deliver_at":"2031-01-02T15:04:05Z","dry_run":true}`, ""},
		{`{"key":"order:new","parent_run_id":"0190a3e1-0000-7000-8000-000000000000"}`, ""},
		{`{"key":"order:new","parent_step_run_id":"x"}`, ""},
		{`{"key":"a b"}`, ""},
		{`{"key":"` + strings.Repeat("k", 256) + `"}`, ""},
		{`{"key":"k","payload":[1]}`, ""},
		{`{"key":"k","payload":{"a":1e2,"b":-0.0,"c":1.50}}`, ""},
		{`{"key":"k","additional_metadata":{"a":{"b":1}}}`, ""},
		{`{"key":"k","paylod":{}}`, ""},
		{`{"key":"k"} {"key":"k"}`, ""},
		{`{"KEY":"k","Payload":{"\u00e9":"\ud83d\ude00"}}`, ""},
		{`{"key":"k","payload":{"a":"\u0000"}}`, ""},
		{`{"key":"k","payload":{"a":"\ud800"}}`, ""},
		{`{"key":"k","payload":{"a":1e131072,"b":1e-16383}}`, ""},
		{`{"key":"k","payload":{"a":1.7976931348623157e308,"b":5e-324,"c":0e-400}}`, ""},
		{`{"key":"k","additional_metadata":{"n":1e309}}`, ""},
		{"{\"key\":\"k\",\"payload\":{\"a\":\"\xff\"}}", ""},
		{`{"key":"k","scope":"` + strings.Repeat("s", 1025) + `"}`, ""},
		{`{"key":1}`, ""},
		{``, ""},
		{`[]`, ""},
	} {
		f.Add([]byte(s[0]), s[1])
	}
	fs := pushWorld(f)
	f.Fuzz(func(t *testing.T, body []byte, idem string) {
		idem, ok := headerValue(idem)
		if !ok {
			t.Skip("not a header value a client can send")
		}
		h := http.Header{"Content-Type": {"application/json"}}
		if idem != "" {
			h.Set("Idempotency-Key", idem)
		}
		for _, r := range fs.do(t, fuzzRequest{method: "POST", path: "/api/v1/events", header: h, body: body}) {
			if r.status >= 300 {
				continue
			}
			var in pushIn
			if err := json.Unmarshal(body, &in); err != nil {
				t.Fatalf("%s: accepted %q, which does not decode: %v", r.store.name, body, err)
			}
			if idem != "" {
				in.IdempotencyKey = idem
			}
			if in.DryRun {
				if r.status != http.StatusOK || r.stored || r.json(t)["dry_run"] != true {
					t.Fatalf("%s: dry run answered %d (stored %v): %s", r.store.name, r.status, r.stored, r.body)
				}
				continue
			}
			var got pushOut
			if err := json.Unmarshal(r.body, &got); err != nil {
				t.Fatalf("%s: %v: %s", r.store.name, err, r.body)
			}
			switch {
			case r.status == http.StatusOK:
				if !got.Duplicate || in.IdempotencyKey == "" || r.stored {
					t.Fatalf("%s: 200 for a push that is not a repeat (stored %v): %s", r.store.name, r.stored, r.body)
				}
			case r.status == http.StatusCreated:
				if got.Duplicate || !r.stored {
					t.Fatalf("%s: 201 (stored %v): %s", r.store.name, r.stored, r.body)
				}
				checkPushed(t, r, in, got)
			default:
				t.Fatalf("%s: status %d: %s", r.store.name, r.status, r.body)
			}
		}
	})
}

// FuzzPushBulk posts arbitrary bodies to POST /api/v1/events/bulk. An accepted bulk push
// answers one item per event, in order, each stored as pushed; a refused one stores none
// of its events (the whole call commits or nothing does).
func FuzzPushBulk(f *testing.F) {
	for _, s := range []string{
		`{"events":[{"key":"order:paid","payload":{"amount":1}},{"key":"user:created","payload":{"n":5},"additional_metadata":{"a":"b"}}]}`,
		`{"events":[{"key":"order:new","idempotency_key":"x"},{"key":"order:new","idempotency_key":"x"}]}`,
		`{"events":[{"key":"order:new"},{"key":"order:paid","payload":{}}]}`,
		`{"events":[{"key":"order:new","delay":"10m"},{"key":"order:new","deliver_at":"2000-01-01T00:00:00Z"}]}`,
		`{"events":[{"key":"order:new","dry_run":true}]}`,
		`{"events":[{"key":"order:new"},{"key":"bad key"}]}`,
		`{"events":[{"key":"k","payload":{"a":"\ud800"}}]}`,
		`{"events":[]}`,
		`{"events":null}`,
		`{"events":[{}]}`,
		`{"events":{}}`,
		`{"event":[]}`,
	} {
		f.Add([]byte(s))
	}
	fs := pushWorld(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, r := range fs.do(t, fuzzRequest{method: "POST", path: "/api/v1/events/bulk", header: http.Header{"Content-Type": {"application/json"}}, body: body}) {
			if r.status >= 300 {
				continue
			}
			var in struct {
				Events []pushIn `json:"events"`
			}
			if err := json.Unmarshal(body, &in); err != nil {
				t.Fatalf("%s: accepted %q, which does not decode: %v", r.store.name, body, err)
			}
			var got struct {
				Items []pushOut `json:"items"`
			}
			if err := json.Unmarshal(r.body, &got); err != nil {
				t.Fatalf("%s: %v: %s", r.store.name, err, r.body)
			}
			if r.status != http.StatusCreated || len(got.Items) != len(in.Events) || len(in.Events) == 0 {
				t.Fatalf("%s: %d events pushed, %d answered with %d: %s", r.store.name, len(in.Events), len(got.Items), r.status, r.body)
			}
			fresh := 0
			for i, it := range got.Items {
				if it.Duplicate {
					if in.Events[i].IdempotencyKey == "" {
						t.Fatalf("%s: item %d is a duplicate without an idempotency key: %s", r.store.name, i, r.body)
					}
					continue
				}
				fresh++
				checkPushed(t, r, in.Events[i], it)
			}
			if r.stored != (fresh > 0) {
				t.Fatalf("%s: %d new events answered, stored %v", r.store.name, fresh, r.stored)
			}
		}
	})
}

// FuzzPushSchedule pushes events with arbitrary delay and deliver_at values. An accepted
// one is delivered now (no delay, a delay of zero or less, a time in the past) or delayed
// to exactly the time asked (deliver_at at millisecond precision, or the push's time plus
// the delay), never more than 365 days ahead; a refused one names delay or deliver_at.
func FuzzPushSchedule(f *testing.F) {
	for _, s := range [][2]string{
		{"1h", ""}, {"90s", ""}, {"-5m", ""}, {"0", ""}, {"1.5h", ""}, {"8760h", ""}, {"8760h0m0.001s", ""}, {"9223372036854775807ns", ""},
		{"", "2031-01-02T15:04:05Z"}, {"", "2000-01-01T00:00:00Z"}, {"", "2031-01-02T15:04:05.123456789+05:30"},
		{"", "2031-02-30T00:00:00Z"}, {"", "9999-12-31T23:59:59Z"}, {"", "0000-01-01T00:00:00Z"}, {"1h", "2031-01-02T15:04:05Z"},
		{"1 hour", ""}, {"", "tomorrow"}, {"1e3s", ""}, {"", "2031-01-02T15:04:05"},
	} {
		f.Add(s[0], s[1])
	}
	fs := pushWorld(f)
	f.Fuzz(func(t *testing.T, delay, deliverAt string) {
		body, err := json.Marshal(map[string]string{"key": "order:new", "delay": delay, "deliver_at": deliverAt})
		if err != nil {
			t.Fatal(err)
		}
		before := time.Now().UTC()
		rs := fs.do(t, fuzzRequest{method: "POST", path: "/api/v1/events", header: http.Header{"Content-Type": {"application/json"}}, body: body})
		after := time.Now().UTC()
		for _, r := range rs {
			if r.status >= 400 {
				if _, field := r.errorOf(); field != "delay" && field != "deliver_at" {
					t.Fatalf("%s: delay %q deliver_at %q refused naming %q: %s", r.store.name, delay, deliverAt, field, r.body)
				}
				continue
			}
			var got pushOut
			if err := json.Unmarshal(r.body, &got); err != nil || r.status != http.StatusCreated {
				t.Fatalf("%s: %d %v: %s", r.store.name, r.status, err, r.body)
			}
			// The time asked for, as an interval: a delay counts from a moment of the request.
			var from, to time.Time
			switch {
			case deliverAt != "":
				at, err := time.Parse(time.RFC3339Nano, deliverAt)
				if err != nil {
					t.Fatalf("%s: accepted deliver_at %q: %v", r.store.name, deliverAt, err)
				}
				from, to = at.UTC().Truncate(time.Millisecond), at.UTC().Truncate(time.Millisecond)
			case delay != "":
				d, err := time.ParseDuration(delay)
				if err != nil {
					t.Fatalf("%s: accepted delay %q: %v", r.store.name, delay, err)
				}
				from, to = before.Add(d), after.Add(d)
			}
			ev := got.Event
			ms := before.Truncate(time.Millisecond)
			switch {
			case from.IsZero() || !to.After(ms):
				// No delay, or a time already past when the request came: delivered now.
				if ev.Status != "delivered" {
					t.Fatalf("%s: delay %q deliver_at %q: status %s, want delivered: %s", r.store.name, delay, deliverAt, ev.Status, r.body)
				}
			case from.After(after):
				// A time still ahead when the reply came: delayed to it.
				if ev.Status != "scheduled" || ev.DeliverAt == nil || !within(*ev.DeliverAt, from, to) {
					t.Fatalf("%s: delay %q deliver_at %q: want scheduled in [%s, %s]: %s", r.store.name, delay, deliverAt, from, to, r.body)
				}
				if lim := after.Add(365 * 24 * time.Hour); ev.DeliverAt.After(lim) {
					t.Fatalf("%s: delayed to %s, past the limit %s", r.store.name, ev.DeliverAt, lim)
				}
			}
			if ev.Status == "scheduled" {
				back := r.store.serve(t.Context(), fuzzRequest{method: "GET", path: "/api/v1/events/" + ev.ID})
				var stored pushedEvent
				if err := json.Unmarshal(back.body, &stored); err != nil || back.status != 200 || stored.DeliverAt == nil || !stored.DeliverAt.Equal(*ev.DeliverAt) {
					t.Fatalf("%s: the reply says %s, reading back %d %s", r.store.name, fmt.Sprint(ev.DeliverAt), back.status, back.body)
				}
			}
		}
	})
}
