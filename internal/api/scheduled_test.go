package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/internal/testkit"
)

func parseTime(t *testing.T, v any) time.Time {
	t.Helper()
	s, _ := v.(string)
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("not a time: %v", v)
	}
	return tm
}

// waitDelivered polls an event until it is delivered.
func (c *client) waitDelivered(id string) map[string]any {
	c.t.Helper()
	return testkit.Poll(c.t, "event "+id+" to be delivered", func() (map[string]any, bool) {
		ev := c.must(200, "GET", "/api/v1/events/"+id, nil)
		return ev, ev["status"] == "delivered"
	})
}

func eventIDs(m map[string]any) []string {
	out := []string{}
	for _, it := range items(m) {
		out = append(out, it["id"].(string))
	}
	return out
}

// TestDelayedEventTriggersWhenDue: a push with a delay is stored at once as scheduled
// (listed, readable, no runs), and triggers its workflow when due, within a second. The
// sweep interval is a minute, so only the dispatcher's timer can deliver it in time.
func TestDelayedEventTriggersWhenDue(t *testing.T) {
	forEachStoreWith(t, testenv.Options{SweepInterval: time.Minute}, func(t *testing.T, b *bundle) {
		c := b.c
		c.putWorkflow(simpleWorkflow("fulfil", "order:*", "ship"))
		// A far event first, so that the dispatcher's timer must be reset by the near one.
		far := c.must(201, "POST", "/api/v1/events", map[string]any{"key": "order:later", "delay": "1h"})
		res := c.must(201, "POST", "/api/v1/events", map[string]any{"key": "order:paid", "payload": map[string]any{"n": 1},
			"additional_metadata": map[string]any{"user": "u1"}, "delay": "1500ms"})
		ev := res["event"].(map[string]any)
		id := ev["id"].(string)
		if ev["status"] != "scheduled" || len(res["runs"].([]any)) != 0 || len(ev["triggers"].([]any)) != 0 {
			t.Fatalf("scheduled push replied %v", res)
		}
		due := parseTime(t, ev["deliver_at"])
		if d := due.Sub(parseTime(t, ev["created_at"])); d < 1400*time.Millisecond || d > 1600*time.Millisecond {
			t.Errorf("deliver_at is %s after created_at, want 1.5s", d)
		}

		got := c.must(200, "GET", "/api/v1/events/"+id, nil)
		if runs, ok := got["runs"].([]any); got["status"] != "scheduled" || got["deliver_at"] == nil || !ok || len(runs) != 0 {
			t.Errorf("GET scheduled event = %v", got)
		}
		if ids := eventIDs(c.must(200, "GET", "/api/v1/events?status=scheduled", nil)); len(ids) != 2 || ids[0] != id {
			t.Errorf("scheduled events = %v, want [%s %s]", ids, id, far["event"].(map[string]any)["id"])
		}
		if ids := eventIDs(c.must(200, "GET", "/api/v1/events", nil)); len(ids) != 0 {
			t.Errorf("delivered events = %v, want none yet", ids)
		}

		delivered := c.waitDelivered(id)
		at := parseTime(t, delivered["created_at"])
		if at.Before(due) || at.Sub(due) > time.Second {
			t.Errorf("delivered at %s, due %s: want within a second after", at, due)
		}
		runs, _ := delivered["runs"].([]any)
		if len(runs) != 1 || runs[0].(map[string]any)["workflow"] != "fulfil" || delivered["deliver_at"] != nil {
			t.Fatalf("delivered event = %v", delivered)
		}
		if ids := eventIDs(c.must(200, "GET", "/api/v1/events?status=scheduled", nil)); len(ids) != 1 {
			t.Errorf("scheduled events after delivery = %v, want only the far one", ids)
		}
		if ids := eventIDs(c.must(200, "GET", "/api/v1/events?status=delivered&metadata[user]=u1", nil)); len(ids) != 1 || ids[0] != id {
			t.Errorf("delivered events = %v, want [%s]", ids, id)
		}
		r := c.do("POST", "/api/v1/events/"+id+"/cancel", nil)
		if code, _ := r.errCodeField(t); r.status != 409 || code != "conflict" {
			t.Errorf("cancel after delivery: %d %s, want 409 conflict", r.status, r.body)
		}
	})
}

// TestCancelDelayedEvent: a cancelled event is listed as cancelled, never triggers, and
// cannot be cancelled twice; unknown ids are 404; a repeat of its idempotency key answers
// it as a duplicate.
func TestCancelDelayedEvent(t *testing.T) {
	forEachStoreWith(t, testenv.Options{ManualClock: true}, func(t *testing.T, b *bundle) {
		c := b.c
		c.putWorkflow(simpleWorkflow("fulfil", "order:*", "ship"))
		due := b.env.Clock.Now().Add(time.Hour)
		res := c.must(201, "POST", "/api/v1/events", map[string]any{"key": "order:paid", "deliver_at": due.UTC().Format(time.RFC3339Nano), "idempotency_key": "o-1"})
		id := res["event"].(map[string]any)["id"].(string)

		cancelled := c.must(200, "POST", "/api/v1/events/"+id+"/cancel", nil)
		if cancelled["status"] != "cancelled" || cancelled["id"] != id {
			t.Fatalf("cancel = %v", cancelled)
		}
		r := c.do("POST", "/api/v1/events/"+id+"/cancel", nil)
		if code, _ := r.errCodeField(t); r.status != 409 || code != "conflict" {
			t.Errorf("second cancel: %d %s, want 409 conflict", r.status, r.body)
		}
		r = c.do("POST", "/api/v1/events/0193a2b4-0000-7000-8000-000000000000/cancel", nil)
		if code, _ := r.errCodeField(t); r.status != 404 || code != "not_found" {
			t.Errorf("cancel of an unknown id: %d %s, want 404", r.status, r.body)
		}
		if ids := eventIDs(c.must(200, "GET", "/api/v1/events?status=cancelled", nil)); len(ids) != 1 || ids[0] != id {
			t.Errorf("cancelled events = %v", ids)
		}
		dup := c.must(200, "POST", "/api/v1/events", map[string]any{"key": "order:paid", "delay": "1m", "idempotency_key": "o-1"})
		if dup["duplicate"] != true || dup["event"].(map[string]any)["id"] != id || dup["event"].(map[string]any)["status"] != "cancelled" {
			t.Errorf("repeat of the key = %v", dup)
		}

		// Past its due time, the dispatcher delivers nothing: no event, no run.
		b.env.Clock.Set(due.Add(time.Second))
		if _, err := b.env.Server.Engine().DeliverDue(t.Context()); err != nil {
			t.Fatal(err)
		}
		if ev := c.must(200, "GET", "/api/v1/events/"+id, nil); ev["status"] != "cancelled" {
			t.Errorf("cancelled event became %v", ev["status"])
		}
		if runs := items(c.must(200, "GET", "/api/v1/runs", nil)); len(runs) != 0 {
			t.Errorf("a cancelled event started runs: %v", runs)
		}
	})
}

// TestDelayedEventIdempotentAndBulk: the idempotency key of a delayed push is claimed when
// it is scheduled; bulk pushes mix delayed and immediate events; a past time or a delay
// of zero or less means now.
func TestDelayedEventIdempotentAndBulk(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		c := b.c
		c.putWorkflow(simpleWorkflow("fulfil", "order:*", "ship"))
		first := c.must(201, "POST", "/api/v1/events", map[string]any{"key": "order:paid", "delay": "1h", "idempotency_key": "k"})
		again := c.must(200, "POST", "/api/v1/events", map[string]any{"key": "order:paid", "idempotency_key": "k"})
		fe, ae := first["event"].(map[string]any), again["event"].(map[string]any)
		if again["duplicate"] != true || ae["id"] != fe["id"] || ae["status"] != "scheduled" || ae["deliver_at"] != fe["deliver_at"] {
			t.Errorf("repeat = %v, want the scheduled original", again)
		}
		// A dry run explains now: it refuses a delay rather than ignore it.
		r := c.do("POST", "/api/v1/events", map[string]any{"key": "order:paid", "delay": "1h", "dry_run": true})
		if code, field := r.errCodeField(t); r.status != 400 || code != "invalid_argument" || field != "dry_run" {
			t.Errorf("dry run with a delay: %d %s, want 400 naming dry_run", r.status, r.body)
		}
		// A dry run names the delayed event that holds the key.
		x := c.must(200, "POST", "/api/v1/events", map[string]any{"key": "order:paid", "idempotency_key": "k", "dry_run": true})
		if x["duplicate_of"] != fe["id"] {
			t.Errorf("dry run with a key held by a delayed event: duplicate_of = %v, want %v", x["duplicate_of"], fe["id"])
		}

		// Identical delayed pushes racing: one is scheduled, the others are its duplicates.
		const racers = 6
		type reply struct {
			status int
			id     string
			dup    bool
		}
		replies := make(chan reply, racers)
		var wg sync.WaitGroup
		for i := 0; i < racers; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body := strings.NewReader(`{"key": "order:raced", "delay": "1h", "idempotency_key": "race"}`)
				req, _ := http.NewRequest("POST", c.url+"/api/v1/events", body)
				req.Header.Set("Authorization", "Bearer "+c.token)
				req.Header.Set("Content-Type", "application/json")
				res, err := validatingClient(t).Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				defer res.Body.Close()
				var m struct {
					Event     struct{ ID string }
					Duplicate bool
				}
				_ = json.NewDecoder(res.Body).Decode(&m)
				replies <- reply{res.StatusCode, m.Event.ID, m.Duplicate}
			}()
		}
		wg.Wait()
		close(replies)
		created, ids := 0, map[string]bool{}
		for r := range replies {
			if r.status == 201 && !r.dup {
				created++
			} else if r.status != 200 || !r.dup {
				t.Errorf("racing push: %+v", r)
			}
			ids[r.id] = true
		}
		if created != 1 || len(ids) != 1 {
			t.Errorf("racing delayed pushes: %d created, %d distinct events; want 1 and 1", created, len(ids))
		}

		bulk := c.must(201, "POST", "/api/v1/events/bulk", map[string]any{"events": []map[string]any{
			{"key": "order:a", "delay": "2h"},
			{"key": "order:b"},
			{"key": "order:c", "deliver_at": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)},
			{"key": "order:d", "delay": "-5s"},
			{"key": "order:e", "delay": "0s"},
		}})
		its := items(bulk)
		want := []string{"scheduled", "delivered", "delivered", "delivered", "delivered"}
		for i, it := range its {
			ev := it["event"].(map[string]any)
			if ev["status"] != want[i] {
				t.Errorf("bulk item %d: status %v, want %s", i, ev["status"], want[i])
			}
			if n := len(it["runs"].([]any)); (want[i] == "delivered") != (n == 1) {
				t.Errorf("bulk item %d: %d runs", i, n)
			}
		}
		if ids := eventIDs(c.must(200, "GET", "/api/v1/events?status=scheduled", nil)); len(ids) != 3 {
			t.Errorf("scheduled = %v, want 3", ids)
		}
	})
}

// TestDelayedEventBadInput: bad delays and times are refused with 400 naming the field,
// and nothing is stored.
func TestDelayedEventBadInput(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		c := b.c
		c.putWorkflow(simpleWorkflow("fulfil", "order:*", "ship"))
		future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		cases := []struct {
			path  string
			body  map[string]any
			field string
		}{
			{"/api/v1/events", map[string]any{"key": "order:a", "delay": "1m", "deliver_at": future}, "delay"},
			{"/api/v1/events", map[string]any{"key": "order:a", "delay": "soon"}, "delay"},
			{"/api/v1/events", map[string]any{"key": "order:a", "delay": "90"}, "delay"},
			{"/api/v1/events", map[string]any{"key": "order:a", "delay": "8761h"}, "delay"},
			{"/api/v1/events", map[string]any{"key": "order:a", "deliver_at": "tomorrow"}, "deliver_at"},
			{"/api/v1/events", map[string]any{"key": "order:a", "deliver_at": time.Now().AddDate(2, 0, 0).UTC().Format(time.RFC3339)}, "deliver_at"},
			{"/api/v1/events", map[string]any{"key": "bad key", "delay": "1m"}, "key"},
			{"/api/v1/events/bulk", map[string]any{"events": []map[string]any{{"key": "order:a", "delay": "1m"}, {"key": "order:b", "delay": "x"}}}, "events[1].delay"},
		}
		for _, tc := range cases {
			r := c.do("POST", tc.path, tc.body)
			code, field := r.errCodeField(t)
			if r.status != 400 || code != "invalid_argument" || field != tc.field {
				t.Errorf("%v: %d %s, want 400 naming %s", tc.body, r.status, r.body, tc.field)
			}
		}
		for _, st := range []string{"scheduled", "delivered"} {
			if ids := eventIDs(c.must(200, "GET", "/api/v1/events?status="+st, nil)); len(ids) != 0 {
				t.Errorf("bad input stored %s events %v", st, ids)
			}
		}
	})
}

// TestSearchEventsAndRuns: events by metadata, key prefix, workflow and time; runs by their
// event's metadata and time; page by page; bad parameters are 400 naming the field.
func TestSearchEventsAndRuns(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		c := b.c
		c.putWorkflow(simpleWorkflow("fulfil", "order:*", "ship"))
		c.putWorkflow(simpleWorkflow("audit", "order:paid", "log"))
		var paid []string // order:paid events of user u0, oldest first
		var u0Runs int
		for i := 0; i < 7; i++ {
			key := "order:placed"
			if i%2 == 0 {
				key = "order:paid"
			}
			user := fmt.Sprintf("u%d", i%2)
			res := c.must(201, "POST", "/api/v1/events", map[string]any{"key": key, "additional_metadata": map[string]any{"user": user, "i": i}})
			if user == "u0" && key == "order:paid" {
				paid = append(paid, res["event"].(map[string]any)["id"].(string))
			}
			if user == "u0" {
				u0Runs += len(res["runs"].([]any))
			}
		}
		c.push("user:created", nil)

		all := func(path string) []string {
			t.Helper()
			var out []string
			cur := ""
			for pages := 0; ; pages++ {
				p := path + "&limit=2"
				if cur != "" {
					p += "&cursor=" + url.QueryEscape(cur)
				}
				m := c.must(200, "GET", p, nil)
				for _, it := range items(m) {
					out = append(out, it["id"].(string))
				}
				next, _ := m["next_cursor"].(string)
				if next == "" {
					return out
				}
				cur = next
				if pages > 20 {
					t.Fatalf("too many pages")
				}
			}
		}
		reverse := func(ids []string) []string {
			out := make([]string, len(ids))
			for i, id := range ids {
				out[len(ids)-1-i] = id
			}
			return out
		}
		check := func(name string, got, want []string) {
			t.Helper()
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s: got %v, want %v", name, got, want)
			}
		}
		check("events of audit by metadata", all("/api/v1/events?workflow=audit&metadata[user]=u0"), reverse(paid))
		check("events by metadata=name=value", all("/api/v1/events?metadata=user=u0&key=order:paid"), reverse(paid))
		if n := len(all("/api/v1/events?key_prefix=order:&metadata[i]=3")); n != 1 {
			t.Errorf("events with i=3: %d, want 1", n)
		}
		if n := len(all("/api/v1/events?workflow=fulfil")); n != 7 {
			t.Errorf("events of fulfil: %d, want 7", n)
		}
		if n := len(all("/api/v1/runs?metadata[user]=u0")); n != u0Runs {
			t.Errorf("runs of u0: %d, want %d", n, u0Runs)
		}
		if n := len(all("/api/v1/runs?metadata[user]=u0&workflow=audit")); n != len(paid) {
			t.Errorf("audit runs of u0: %d, want %d", n, len(paid))
		}
		// Runs by their event's key: order:paid started fulfil and audit (4 events each),
		// order:placed only fulfil (3).
		for path, want := range map[string]int{
			"/api/v1/runs?key=order:paid":                      8,
			"/api/v1/runs?key_prefix=order:&workflow=audit":    4,
			"/api/v1/runs?key_prefix=order:pl":                 3,
			"/api/v1/runs?key_prefix=user:":                    0,
			"/api/v1/runs?key_prefix=order:&metadata[user]=u0": u0Runs,
		} {
			if n := len(all(path)); n != want {
				t.Errorf("%s: %d runs, want %d", path, n, want)
			}
		}
		future := url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
		past := url.QueryEscape(time.Now().Add(-time.Hour).UTC().Format(time.RFC3339))
		if n := len(all("/api/v1/runs?since=" + future)); n != 0 {
			t.Errorf("runs since the future: %d", n)
		}
		if n := len(all("/api/v1/runs?since=" + past + "&until=" + future + "&workflow=fulfil")); n != 7 {
			t.Errorf("runs of the last hour: %d, want 7", n)
		}

		bad := []struct{ path, field string }{
			{"/api/v1/events?status=bogus", "status"},
			{"/api/v1/events?status=scheduled&workflow=audit", "workflow"},
			{"/api/v1/events?since=yesterday", "since"},
			{"/api/v1/events?since=" + future + "&until=" + past, "until"},
			{"/api/v1/events?metadata[user=u0", "metadata[user"},
			{"/api/v1/events?" + url.QueryEscape(`metadata[a"b]`) + "=x", `metadata[a"b]`},
			{"/api/v1/runs?until=never", "until"},
			{"/api/v1/runs?metadata=novalue", "metadata"},
			{"/api/v1/events?metadata=a%3D1&metadata=a%3D2", "metadata"},
			{"/api/v1/events?metadata=a%3D1&metadata[a]=2", "metadata"},
			{"/api/v1/runs?status=delivered", "status"},
			{"/api/v1/events?key_prefix=order%20x", "key_prefix"},
			{"/api/v1/runs?key=a*b", "key"},
		}
		for _, tc := range bad {
			r := c.do("GET", tc.path, nil)
			code, field := r.errCodeField(t)
			if r.status != 400 || code != "invalid_argument" || field != tc.field {
				t.Errorf("GET %s: %d %s, want 400 naming %s", tc.path, r.status, r.body, tc.field)
			}
		}
	})
}
