package api_test

import (
	"net/url"
	"reflect"
	"testing"
	"time"
)

// TestListEventFilters pins the list filters of GET /api/v1/events: key prefix, metadata,
// time range, and their errors.
func TestListEventFilters(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		c := b.c
		push := func(key, meta string) string {
			body := `{"key":"` + key + `"`
			if meta != "" {
				body += `,"additional_metadata":` + meta
			}
			return c.must(201, "POST", "/api/v1/events", body+`}`)["event"].(map[string]any)["id"].(string)
		}
		a := push("user:created", `{"region":"eu","tier":3}`)
		bb := push("user:deleted", `{"region":"us","vip":true}`)
		cc := push("order:paid", `{"region":"eu"}`)
		list := func(q string) []string {
			t.Helper()
			items := c.must(200, "GET", "/api/v1/events?"+q, nil)["items"].([]any)
			out := []string{}
			for _, it := range items {
				out = append(out, it.(map[string]any)["id"].(string))
			}
			return out
		}
		now := time.Now().UTC()
		cases := []struct {
			q    string
			want []string
		}{
			{"key_prefix=user:", []string{bb, a}},
			{"metadata=region%3Deu", []string{cc, a}},
			{"metadata=region%3Deu&metadata=tier%3D3", []string{a}},
			{"metadata=vip%3Dtrue&key_prefix=user:", []string{bb}},
			{"since=" + url.QueryEscape(now.Add(time.Minute).Format(time.RFC3339)), []string{}},
			{"until=" + url.QueryEscape(now.Add(time.Minute).Format(time.RFC3339)) + "&key=order:paid", []string{cc}},
			{"since=" + url.QueryEscape(now.Add(-time.Minute).Format(time.RFC3339)) + "&limit=2", []string{cc, bb}},
		}
		for _, tc := range cases {
			if got := list(tc.q); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("GET /api/v1/events?%s = %v, want %v", tc.q, got, tc.want)
			}
		}
		for q, field := range map[string]string{"metadata=nope": "metadata", "since=yesterday": "since", `metadata=a"b%3D1`: "metadata"} {
			r := c.do("GET", "/api/v1/events?"+q, nil)
			if code, f := r.errCodeField(t); r.status != 400 || code != "invalid_argument" || f != field {
				t.Errorf("GET /api/v1/events?%s = %d %s field %q, want 400 invalid_argument field %q", q, r.status, code, f, field)
			}
		}
	})
}
