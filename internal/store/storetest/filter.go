package storetest

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// This file tests the event filters of listings and replay lineage. Statistics,
// retention and sessions have files of their own (stats.go, prune.go, sessions.go).

func testEventFilters(t *testing.T, open Opener) {
	t.Run("KeyPrefixMetadataTimeAndAfter", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		other := b.newTenant("globex")
		type spec struct {
			key  string
			meta string
		}
		specs := []spec{
			{"orders.created", `{"region":"eu","tier":3,"vip":true}`},
			{"orders.paid", `{"region":"us","tier":3}`},
			{"ordersx.created", `{"region":"eu"}`},
			{"users.created", ``},
			{"orders.created", `{"region":"eu","tier":4,"vip":false}`},
		}
		var ids []string // oldest first; event i at base + i minutes
		for i, sp := range specs {
			ev := newEvent(b.tenant.ID, sp.key, at(time.Duration(i)*time.Minute))
			if sp.meta != "" {
				ev.Metadata = json.RawMessage(sp.meta)
			}
			ids = append(ids, ev.ID)
			b.ingest(store.IngestItem{Event: ev})
		}
		oev := newEvent(other.ID, "orders.created", base)
		oev.Metadata = json.RawMessage(`{"region":"eu"}`)
		b.ingest(store.IngestItem{Event: oev})

		list := func(f store.EventFilter) []string {
			t.Helper()
			if f.Limit == 0 {
				f.Limit = 100
			}
			evs, err := b.s.EventList(b.ctx, b.tenant.ID, f)
			noErr(t, err, "ListEvents")
			out := []string{}
			for _, e := range evs {
				out = append(out, e.ID)
			}
			return out
		}
		cases := []struct {
			name string
			f    store.EventFilter
			want []int
		}{
			{"prefix", store.EventFilter{KeyPrefix: "orders."}, []int{4, 1, 0}},
			{"prefix without dot", store.EventFilter{KeyPrefix: "orders"}, []int{4, 2, 1, 0}},
			{"prefix is whole key", store.EventFilter{KeyPrefix: "users.created"}, []int{3}},
			{"prefix matches nothing", store.EventFilter{KeyPrefix: "zzz"}, nil},
			{"prefix and key", store.EventFilter{KeyPrefix: "orders.", Key: "orders.paid"}, []int{1}},
			{"metadata string", store.EventFilter{Metadata: map[string]string{"region": "eu"}}, []int{4, 2, 0}},
			{"metadata number", store.EventFilter{Metadata: map[string]string{"tier": "3"}}, []int{1, 0}},
			{"metadata boolean", store.EventFilter{Metadata: map[string]string{"vip": "true"}}, []int{0}},
			{"metadata false", store.EventFilter{Metadata: map[string]string{"vip": "false"}}, []int{4}},
			{"metadata two keys", store.EventFilter{Metadata: map[string]string{"region": "eu", "tier": "4"}}, []int{4}},
			{"metadata missing key", store.EventFilter{Metadata: map[string]string{"plan": "eu"}}, nil},
			{"metadata string is not quoted JSON", store.EventFilter{Metadata: map[string]string{"region": `"eu"`}}, nil},
			{"since", store.EventFilter{Since: at(3 * time.Minute)}, []int{4, 3}},
			{"until", store.EventFilter{Until: at(2 * time.Minute)}, []int{1, 0}},
			{"since and until", store.EventFilter{Since: at(time.Minute), Until: at(3*time.Minute + ms)}, []int{3, 2, 1}},
			{"after", store.EventFilter{After: ids[2]}, []int{4, 3}},
			{"after and before", store.EventFilter{After: ids[0], Before: ids[3]}, []int{2, 1}},
			{"prefix, metadata and cursor", store.EventFilter{KeyPrefix: "orders.", Metadata: map[string]string{"region": "eu"}, Before: ids[4]}, []int{0}},
			{"limit", store.EventFilter{KeyPrefix: "orders", Limit: 2}, []int{4, 2}},
		}
		for _, c := range cases {
			want := []string{}
			for _, i := range c.want {
				want = append(want, ids[i])
			}
			if got := list(c.f); !reflect.DeepEqual(got, want) {
				t.Errorf("%s: ListEvents = %v, want %v", c.name, got, want)
			}
		}
	})

	t.Run("ReplayOfRoundTrips", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		orig := newEvent(b.tenant.ID, "orders.created", base)
		b.ingest(store.IngestItem{Event: orig})
		rep := newEvent(b.tenant.ID, "orders.created", at(time1))
		rep.Source, rep.ReplayOf = store.SourceReplay, orig.ID
		b.ingest(store.IngestItem{Event: rep})

		got, err := b.s.EventGet(b.ctx, b.tenant.ID, rep.ID)
		noErr(t, err, "GetEvent")
		if got.ReplayOf != orig.ID || got.Source != store.SourceReplay {
			t.Errorf("replay: ReplayOf = %q, Source = %q; want %q, %q", got.ReplayOf, got.Source, orig.ID, store.SourceReplay)
		}
		got, err = b.s.EventGet(b.ctx, b.tenant.ID, orig.ID)
		noErr(t, err, "GetEvent(original)")
		if got.ReplayOf != "" {
			t.Errorf("original: ReplayOf = %q, want empty", got.ReplayOf)
		}
		evs, err := b.s.EventList(b.ctx, b.tenant.ID, store.EventFilter{Limit: 1})
		noErr(t, err, "ListEvents")
		if len(evs) != 1 || evs[0].ReplayOf != orig.ID {
			t.Errorf("ListEvents: %+v, want the replay with ReplayOf %s", evs, orig.ID)
		}
	})
}
