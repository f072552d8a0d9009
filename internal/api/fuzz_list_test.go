package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// listings are the paginated listings FuzzListQuery reads, by the fuzzed selector.
var listings = []string{
	"/api/v1/events",
	"/api/v1/runs",
	"/api/v1/workflows/scoped/filters",
	"/api/v1/webhooks/hook/deliveries",
	"/api/v1/workflows/nope/filters",
}

// listWorld stores what the listings show: events of several keys with metadata (and so
// runs), a few delayed ones, filters of several scopes, and webhook deliveries.
func listWorld(f *testing.F) *fuzzServer {
	fs := pushWorld(f)
	var evs []string
	for i := 0; i < 120; i++ {
		key := []string{"order:new", "order:paid", "user:created", "user:deleted"}[i%4]
		meta := fmt.Sprintf(`{"tenant":%q,"n":%d,"vip":%v,"f":1.5,"e":1e2,"s":"caf\u00e9"}`, []string{"acme", "beta", "gamma"}[i%3], i, i%5 == 0)
		ev := fmt.Sprintf(`{"key":%q,"payload":{"amount":%d,"n":%d},"additional_metadata":%s`, key, i, i%3, meta)
		if i%30 == 7 {
			ev += `,"delay":"240h"`
		}
		evs = append(evs, ev+"}")
	}
	fs.setup(f, 201, "POST", "/api/v1/events/bulk", `{"events":[`+strings.Join(evs, ",")+`]}`)
	for i := 0; i < 12; i++ {
		fs.setup(f, 201, "POST", "/api/v1/workflows/scoped/filters", fmt.Sprintf(`{"scope":"s%d","expression":"input.n > %d"}`, i%4, i))
	}
	fs.setup(f, 201, "POST", "/api/v1/webhooks", `{"name":"hook","source":"generic","auth":{"type":"api_key","header":"X-Api-Key","key":"k"},"event_key_expression":"'hook:x'"}`)
	for i := 0; i < 8; i++ {
		for _, s := range fs.stores {
			key := "k"
			if i%2 == 1 {
				key = "wrong"
			}
			s.serve(f.Context(), fuzzRequest{method: "POST", path: "/api/v1/tenants/" + s.tenant + "/webhooks/hook", noAuth: true,
				header: http.Header{"X-Api-Key": {key}}, body: []byte(`{}`)})
		}
	}
	return fs
}

// listItem is what FuzzListQuery reads of an item of any listing.
type listItem struct {
	ID                 string          `json:"id"`
	Key                string          `json:"key"`
	Workflow           string          `json:"workflow"`
	Status             string          `json:"status"`
	EventID            string          `json:"event_id"`
	Scope              string          `json:"scope"`
	StatusCode         int             `json:"status_code"`
	AdditionalMetadata json.RawMessage `json:"additional_metadata"`
	CreatedAt          time.Time       `json:"created_at"`
}

// summary is an item as both stores must show it (ids differ between stores).
func (it listItem) summary() string {
	return fmt.Sprintf("%s|%s|%s|%s|%d", it.Key, it.Workflow, it.Status, it.Scope, it.StatusCode)
}

type listPage struct {
	Items      []listItem `json:"items"`
	NextCursor string     `json:"next_cursor"`
}

// FuzzListQuery reads the listings with arbitrary query strings: cursors, limits, and the
// filters of events and runs (key, key_prefix, workflow, status, event_id, metadata in both
// forms, since, until) and of filters (scope). A listing answers a page of at most limit
// items, newest first, each matching the filters, with a next cursor that reads the next
// page; or 400 naming a parameter of the query; both stores show the same items.
func FuzzListQuery(f *testing.F) {
	for _, s := range []struct {
		which uint8
		query string
	}{
		{0, ""}, {0, "limit=7"}, {0, "limit=0"}, {0, "limit=501"}, {0, "limit=x"}, {0, "limit=2&limit=3"},
		{0, "key=order:paid&limit=5"}, {0, "key_prefix=user:"}, {0, "key=a%20b"}, {0, "key_prefix=%ff"},
		{0, "workflow=orders"}, {0, "workflow=no%20such"}, {0, "status=scheduled"}, {0, "status=delivered&limit=3"},
		{0, "status=cancelled&workflow=orders"}, {0, "status=x"},
		{0, "metadata[tenant]=acme&limit=10"}, {0, "metadata=tenant=beta&metadata=vip=true"}, {0, "metadata[n]=7"},
		{0, "metadata[f]=1.5"}, {0, "metadata[e]=100"}, {0, "metadata[e]=1e2"}, {0, "metadata[s]=caf%C3%A9"},
		{0, "metadata[tenant]=%ff"}, {0, "metadata[]=x"}, {0, "metadata[a=1"}, {0, "metadata=x"}, {0, "metadata=a=1&metadata=a=2"},
		{0, "since=2020-01-01T00:00:00Z&until=2099-01-01T00:00:00Z"}, {0, "since=2099-01-01T00:00:00Z&until=2020-01-01T00:00:00Z"},
		{0, "since=yesterday"}, {0, "cursor=x"}, {0, "cursor=MDE5MGEzZTEtMDAwMC03MDAwLTgwMDAtMDAwMDAwMDAwMDAw"},
		{1, ""}, {1, "limit=3&workflow=orders"}, {1, "status=queued"}, {1, "status=done"}, {1, "event_id=x"},
		{1, "event_id=0190a3e1-0000-7000-8000-000000000000"}, {1, "key=order:new&metadata[tenant]=gamma"},
		{1, "key_prefix=order:&limit=4"}, {1, "workflow=%ff"},
		{2, ""}, {2, "scope=s1"}, {2, "scope=%ff"}, {2, "limit=2"}, {2, "cursor=%%%"},
		{3, ""}, {3, "limit=1"}, {4, ""},
	} {
		f.Add(s.which, s.query)
	}
	fs := listWorld(f)
	f.Fuzz(func(t *testing.T, which uint8, rawQuery string) {
		for i := 0; i < len(rawQuery); i++ {
			// What a client can put in a request target's query.
			if c := rawQuery[i]; c <= ' ' || c >= 0x7f || c == '#' {
				t.Skip("not a query a client can send")
			}
		}
		path := listings[int(which)%len(listings)]
		rs := fs.do(t, fuzzRequest{method: "GET", path: path, rawQuery: rawQuery})
		q, _ := url.ParseQuery(rawQuery)
		var pages []listPage
		for _, r := range rs {
			if r.status >= 400 {
				if _, field := r.errorOf(); r.status == http.StatusBadRequest && !queryNames(q, field) {
					t.Fatalf("%s: %s?%s refused naming %q, not a parameter given: %s", r.store.name, path, rawQuery, field, r.body)
				}
				continue
			}
			var p listPage
			if err := json.Unmarshal(r.body, &p); err != nil || r.status != http.StatusOK || p.Items == nil {
				t.Fatalf("%s: %d %v: %s", r.store.name, r.status, err, r.body)
			}
			checkPage(t, r, path, q, p)
			if p.NextCursor != "" {
				next := url.Values{}
				for k, vs := range q {
					next[k] = vs
				}
				next.Set("cursor", p.NextCursor)
				n := r.store.serve(t.Context(), fuzzRequest{method: "GET", path: path, rawQuery: next.Encode()})
				var np listPage
				if err := json.Unmarshal(n.body, &np); err != nil || n.status != http.StatusOK {
					t.Fatalf("%s: the next page of %s?%s: %d %s", r.store.name, path, rawQuery, n.status, n.body)
				}
				if len(np.Items) > 0 && np.Items[0].ID >= p.Items[len(p.Items)-1].ID {
					t.Fatalf("%s: the next page starts at %s, after %s", r.store.name, np.Items[0].ID, p.Items[len(p.Items)-1].ID)
				}
				checkPage(t, r, path, q, np)
			}
			pages = append(pages, p)
		}
		for i := 1; i < len(pages); i++ {
			a, b := pages[0], pages[i]
			if len(a.Items) != len(b.Items) || (a.NextCursor == "") != (b.NextCursor == "") {
				t.Fatalf("%s?%s: %s shows %d items (more: %v), %s %d (more: %v)", path, rawQuery, rs[0].store.name, len(a.Items), a.NextCursor != "",
					rs[i].store.name, len(b.Items), b.NextCursor != "")
			}
			for j := range a.Items {
				ma, mb := a.Items[j].AdditionalMetadata, b.Items[j].AdditionalMetadata
				if a.Items[j].summary() != b.Items[j].summary() || len(ma)+len(mb) > 0 && !sameJSON(ma, mb) {
					t.Fatalf("%s?%s: item %d is %s on %s, %s on %s", path, rawQuery, j, a.Items[j].summary(), rs[0].store.name, b.Items[j].summary(), rs[i].store.name)
				}
			}
		}
	})
}

// queryNames reports whether field names a parameter of q: itself (as JSON shows it: a
// name that is not UTF-8 with U+FFFD for each bad byte), or the metadata filters'
// "metadata" and "metadata[...]".
func queryNames(q url.Values, field string) bool {
	for k := range q {
		shown, _ := json.Marshal(k)
		var s string
		if json.Unmarshal(shown, &s) == nil && s == field {
			return true
		}
	}
	if field == "until" { // must be after since
		_, ok := q["since"]
		return ok
	}
	if field == "metadata" {
		for k := range q {
			if strings.HasPrefix(k, "metadata[") {
				return true
			}
		}
	}
	return false
}

// checkPage checks one page: at most limit items, newest first, each matching the query's
// filters.
func checkPage(t *testing.T, r fuzzReply, path string, q url.Values, p listPage) {
	t.Helper()
	limit := 50
	if s := q.Get("limit"); s != "" {
		limit, _ = strconv.Atoi(s)
	}
	if len(p.Items) > limit || p.NextCursor != "" && len(p.Items) != limit {
		t.Fatalf("%s: %d items (next cursor %q) for limit %d", r.store.name, len(p.Items), p.NextCursor, limit)
	}
	for i, it := range p.Items {
		if i > 0 && it.ID >= p.Items[i-1].ID {
			t.Fatalf("%s: item %d (%s) is not older than the one before (%s)", r.store.name, i, it.ID, p.Items[i-1].ID)
		}
		switch path {
		case "/api/v1/events":
			checkEventMatches(t, r, q, it)
		case "/api/v1/runs":
			if w := q.Get("workflow"); w != "" && it.Workflow != w || q.Get("status") != "" && it.Status != q.Get("status") ||
				q.Get("event_id") != "" && it.EventID != q.Get("event_id") {
				t.Fatalf("%s: run %+v does not match %v", r.store.name, it, q)
			}
		case "/api/v1/workflows/scoped/filters":
			if s := q.Get("scope"); s != "" && it.Scope != s {
				t.Fatalf("%s: filter %+v does not match scope %q", r.store.name, it, s)
			}
		}
	}
}

// checkEventMatches checks an event of a listing against the query's filters.
func checkEventMatches(t *testing.T, r fuzzReply, q url.Values, it listItem) {
	t.Helper()
	bad := func(what string) { t.Fatalf("%s: event %+v does not match %s in %v", r.store.name, it, what, q) }
	if k := q.Get("key"); k != "" && it.Key != k {
		bad("key")
	}
	if k := q.Get("key_prefix"); !strings.HasPrefix(it.Key, k) {
		bad("key_prefix")
	}
	want := q.Get("status")
	if want == "" {
		want = "delivered"
	}
	if it.Status != want {
		bad("status")
	}
	if s := q.Get("since"); s != "" {
		if at, err := time.Parse(time.RFC3339Nano, s); err == nil && it.CreatedAt.Before(at) {
			bad("since")
		}
	}
	if s := q.Get("until"); s != "" {
		if at, err := time.Parse(time.RFC3339Nano, s); err == nil && !it.CreatedAt.Before(at) {
			bad("until")
		}
	}
	var meta map[string]json.RawMessage
	_ = json.Unmarshal(it.AdditionalMetadata, &meta)
	filters := map[string]string{}
	for k, vs := range q {
		if name, ok := strings.CutPrefix(k, "metadata["); ok {
			filters[strings.TrimSuffix(name, "]")] = vs[0]
		}
	}
	for _, m := range q["metadata"] {
		k, v, _ := strings.Cut(m, "=")
		filters[k] = v
	}
	for k, v := range filters {
		raw, ok := meta[k]
		if !ok {
			bad("metadata " + k)
		}
		var s string
		if json.Unmarshal(raw, &s) != nil {
			s = string(raw) // a number or boolean, by its JSON text
		}
		if s != v && !(raw[0] != '"' && sameJSON(raw, []byte(v))) {
			bad("metadata " + k)
		}
	}
}
