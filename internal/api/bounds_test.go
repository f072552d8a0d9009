package api_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// metadataQuery returns n metadata filters in the bracket syntax (metadata[m0]=v&...), or
// in the repeated syntax (metadata=m0=v&...).
func metadataQuery(n int, bracket bool) string {
	parts := make([]string, n)
	for i := range parts {
		if bracket {
			parts[i] = fmt.Sprintf("metadata[m%d]=v", i)
		} else {
			parts[i] = "metadata=" + url.QueryEscape(fmt.Sprintf("m%d=v", i))
		}
	}
	return strings.Join(parts, "&")
}

// TestListingsAreBounded: what one listing accepts is capped (docs/api.md, "Listing
// limits"), the same on both stores. About 500 metadata filters answered 500 on SQLite
// ("Expression tree is too large"); past the cap every listing answers 400 naming the
// field, and at the cap it works.
func TestListingsAreBounded(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		b.c.putWorkflow(simpleWorkflow("w", "k", "s"))
		b.c.must(201, "POST", "/api/v1/events", map[string]any{"key": "k", "additional_metadata": map[string]any{"m0": "v", "m1": "v"}})
		const max = 20 // engine.MaxMetadataFilters, as documented
		for _, list := range []string{"/api/v1/events", "/api/v1/runs", "/api/v1/events?status=scheduled&"} {
			sep := "?"
			if strings.HasSuffix(list, "&") {
				sep = ""
			}
			// At the cap, in either syntax or both mixed: accepted.
			for _, q := range []string{metadataQuery(max, true), metadataQuery(max, false), metadataQuery(2, true) + "&" + metadataQuery(max, false)[len(metadataQuery(2, false))+1:]} {
				if r := b.c.do("GET", list+sep+q, nil); r.status != 200 {
					t.Errorf("GET %s with %d metadata filters: %d %s, want 200", list, max, r.status, r.body)
				}
			}
			bad := []struct {
				name, query, field string
			}{
				{"500 metadata filters", metadataQuery(500, true), "metadata"},
				{"one past the cap, brackets", metadataQuery(max+1, true), "metadata"},
				{"one past the cap, repeated", metadataQuery(max+1, false), "metadata"},
				{"one past the cap, mixed", metadataQuery(max, true) + "&metadata=extra%3Dv", "metadata"},
				{"a metadata value over 1 KiB", "metadata[m0]=" + strings.Repeat("v", 1025), "metadata[m0]"},
				{"a repeated metadata value over 1 KiB", "metadata=m0%3D" + strings.Repeat("v", 1025), "metadata"},
				{"key twice", "key=k&key=j", "key"},
				{"key_prefix twice", "key_prefix=k&key_prefix=j", "key_prefix"},
				{"since twice", "since=2026-01-01T00:00:00Z&since=2026-01-02T00:00:00Z", "since"},
				{"limit twice", "limit=1&limit=2", "limit"},
				{"cursor twice", "cursor=a&cursor=b", "cursor"},
			}
			for _, c := range bad {
				r := b.c.do("GET", list+sep+c.query, nil)
				if r.status != 400 {
					t.Errorf("GET %s, %s: %d %s, want 400", list, c.name, r.status, r.body)
					continue
				}
				if code, field := r.errCodeField(t); code != "invalid_argument" || field != c.field {
					t.Errorf("GET %s, %s: %s on %q, want invalid_argument on %q", list, c.name, code, field, c.field)
				}
			}
		}
		// Filters of one listing alone.
		for _, c := range []struct{ path, field string }{
			{"/api/v1/runs?workflow=w&workflow=x", "workflow"},
			{"/api/v1/runs?workflow=" + strings.Repeat("w", 129), "workflow"},
			{"/api/v1/runs?status=failed&status=queued", "status"},
			{"/api/v1/runs?event_id=a&event_id=b", "event_id"},
			{"/api/v1/runs?event_id=" + strings.Repeat("0", 5000), "event_id"},
			{"/api/v1/events?workflow=w&workflow=x", "workflow"},
			{"/api/v1/events?status=delivered&status=failed", "status"},
		} {
			r := b.c.do("GET", c.path, nil)
			if r.status != 400 {
				t.Errorf("GET %.80s: %d %s, want 400", c.path, r.status, r.body)
				continue
			}
			if code, field := r.errCodeField(t); code != "invalid_argument" || field != c.field {
				t.Errorf("GET %.80s: %s on %q, want invalid_argument on %q", c.path, code, field, c.field)
			}
		}
	})
}
