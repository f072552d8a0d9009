package api_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"testing"
)

// checkCloudEvent checks an accepted CloudEvent: its type is the event key, its data the
// payload, its source and id are kept as ce_source and ce_id, and it reads back as the
// reply showed it.
func checkCloudEvent(t *testing.T, r fuzzReply, typ, source, id string, data json.RawMessage, got pushOut) {
	t.Helper()
	if got.Duplicate {
		return
	}
	var meta map[string]any
	if err := json.Unmarshal(got.Event.AdditionalMetadata, &meta); err != nil {
		t.Fatalf("%s: metadata %s: %v", r.store.name, got.Event.AdditionalMetadata, err)
	}
	if meta["ce_source"] != source || meta["ce_id"] != id {
		t.Fatalf("%s: source %q id %q, metadata %s", r.store.name, source, id, got.Event.AdditionalMetadata)
	}
	checkPushed(t, r, pushIn{Key: typ, Payload: data, AdditionalMetadata: got.Event.AdditionalMetadata}, got)
}

// ceAttr returns a string attribute of a structured CloudEvent.
func ceAttr(t *testing.T, r fuzzReply, members map[string]json.RawMessage, name string) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(members[name], &s); err != nil || s == "" {
		t.Fatalf("%s: accepted a CloudEvent whose %s is %s", r.store.name, name, members[name])
	}
	return s
}

// FuzzCloudEventStructured posts arbitrary bodies as application/cloudevents+json. An
// accepted event has the type as its key and the data as its payload, and keeps its
// source and id.
func FuzzCloudEventStructured(f *testing.F) {
	for _, s := range []string{
		`{"specversion":"1.0","type":"order:paid","source":"/shop","id":"1","data":{"amount":3}}`,
		`{"specversion":"1.0","type":"order:new","source":"/shop","id":"1","subject":"s","time":"2026-01-02T15:04:05Z","datacontenttype":"application/json","dataschema":"https://x/s","tenant":"acme","n":3,"ok":true,"data":{}}`,
		`{"specversion":"1.0","type":"order:new","source":"a b","id":"` + strings.Repeat("i", 300) + `"}`,
		`{"specversion":"1.0","type":"order:new","source":"/s","id":"2","data":null,"subject":null}`,
		`{"specversion":"1.0","type":"order:new","source":"/s","id":"3","data_base64":"AA=="}`,
		`{"specversion":"1.0","type":"order:new","source":"/s","id":"4","datacontenttype":"text/plain","data":"hi"}`,
		`{"specversion":"0.3","type":"k","source":"/s","id":"5"}`,
		`{"specversion":"1.0","type":"k","source":"/s","id":"6","Bad":"x"}`,
		`{"specversion":"1.0","type":"k","source":"/s","id":"7","x":{"a":1}}`,
		`{"specversion":"1.0","type":"k","source":"/s","id":"8","time":"yesterday"}`,
		`{"specversion":"1.0","type":"k","source":"/s","id":""}`,
		`{"specversion":"1.0","type":"k","source":"/s","id":"9","data":[1]}`,
		`{"specversion":"1.0","type":"k","source":"/s","id":"10","x":"\ud800"}`,
		`{"specversion":"1.0","type":"k","source":"/s","id":"11"} {}`,
		`[]`, ``, `null`,
	} {
		f.Add([]byte(s))
	}
	fs := pushWorld(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		h := http.Header{"Content-Type": {"application/cloudevents+json; charset=utf-8"}}
		for _, r := range fs.do(t, fuzzRequest{method: "POST", path: "/api/v1/events", header: h, body: body}) {
			if r.status >= 300 {
				continue
			}
			var members map[string]json.RawMessage
			if err := json.NewDecoder(strings.NewReader(string(body))).Decode(&members); err != nil {
				t.Fatalf("%s: accepted %q: %v", r.store.name, body, err)
			}
			var got pushOut
			if err := json.Unmarshal(r.body, &got); err != nil {
				t.Fatal(err)
			}
			if got.Duplicate != (r.status == http.StatusOK) || got.Duplicate == r.stored {
				t.Fatalf("%s: status %d, stored %v: %s", r.store.name, r.status, r.stored, r.body)
			}
			checkCloudEvent(t, r, ceAttr(t, r, members, "type"), ceAttr(t, r, members, "source"), ceAttr(t, r, members, "id"), members["data"], got)
		}
	})
}

// FuzzCloudEventsBatch posts arbitrary bodies as application/cloudevents-batch+json. An
// accepted batch answers one item per event, in order; a refused one stores none.
func FuzzCloudEventsBatch(f *testing.F) {
	for _, s := range []string{
		`[{"specversion":"1.0","type":"order:paid","source":"/shop","id":"1","data":{"amount":3}},{"specversion":"1.0","type":"user:created","source":"/u","id":"1","data":{"n":2}}]`,
		`[{"specversion":"1.0","type":"order:new","source":"/s","id":"1"},{"specversion":"1.0","type":"order:new","source":"/s","id":"1"}]`,
		`[{"specversion":"1.0","type":"order:new","source":"/s","id":"2"},{"specversion":"1.0","type":"bad key","source":"/s","id":"3"}]`,
		`[{"specversion":"1.0","type":"order:paid","source":"/s","id":"4","data":{}}]`,
		`[]`, `[1]`, `[null]`, `{}`, ``,
	} {
		f.Add([]byte(s))
	}
	fs := pushWorld(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		h := http.Header{"Content-Type": {"application/cloudevents-batch+json"}}
		for _, r := range fs.do(t, fuzzRequest{method: "POST", path: "/api/v1/events", header: h, body: body}) {
			if r.status >= 300 {
				continue
			}
			var in []map[string]json.RawMessage
			if err := json.Unmarshal(body, &in); err != nil {
				t.Fatalf("%s: accepted %q: %v", r.store.name, body, err)
			}
			var got struct {
				Items []pushOut `json:"items"`
			}
			if err := json.Unmarshal(r.body, &got); err != nil || r.status != http.StatusCreated || len(got.Items) != len(in) {
				t.Fatalf("%s: %d events, answered %d: %s", r.store.name, len(in), r.status, r.body)
			}
			fresh := false
			for i, it := range got.Items {
				fresh = fresh || !it.Duplicate
				checkCloudEvent(t, r, ceAttr(t, r, in[i], "type"), ceAttr(t, r, in[i], "source"), ceAttr(t, r, in[i], "id"), in[i]["data"], it)
			}
			if fresh != r.stored {
				t.Fatalf("%s: new events answered: %v, stored: %v", r.store.name, fresh, r.stored)
			}
		}
	})
}

// FuzzCloudEventBinary posts CloudEvents in binary mode: arbitrary header lines
// ("Name: value", as a client can send them) with a Content-Type and a body. An accepted
// event has the ce-type header as its key, the ce-source and ce-id headers
// (percent-decoded) as its source and id, and the body as its payload.
func FuzzCloudEventBinary(f *testing.F) {
	const base = "ce-specversion: 1.0\nce-type: order:new\nce-source: /shop\nce-id: 1\n"
	for _, s := range [][3]string{
		{base, "application/json", `{"a":1}`},
		{base + "ce-subject: caf%C3%A9\nce-tenant: acme", "application/json; charset=utf-8", `{}`},
		{base, "", ``},
		{base, "application/vnd.x+json", `{"a":[1,2]}`},
		{base, "text/plain", `hello`},
		{base + "ce-datacontenttype: application/json", "application/json", `{}`},
		{base + "ce-subject: %ZZ", "application/json", `{}`},
		{base + "ce-subject: %FF", "application/json", `{}`},
		{base + "ce-Bad_Name: x", "application/json", `{}`},
		{base + "ce-id: 2", "application/json", `{}`},
		{"ce-specversion: 1.0\nce-type: order:paid\nce-source: /s\nce-id: 3", "application/json", `{"amount":1}`},
		{"ce-type: k", "application/json", `{}`},
		{base, "application/json", `[1]`},
		{base, "application/json", `{"a":1} x`},
		{base + "Idempotency-Key: k", "application/json", `{}`},
	} {
		f.Add(s[0], s[1], []byte(s[2]))
	}
	fs := pushWorld(f)
	f.Fuzz(func(t *testing.T, lines, contentType string, body []byte) {
		h := http.Header{}
		sc := bufio.NewScanner(strings.NewReader(lines))
		for sc.Scan() {
			name, value, ok := strings.Cut(sc.Text(), ":")
			if !ok {
				continue
			}
			v, ok := headerValue(value)
			if !ok || !headerName(name) {
				t.Skip("not a header a client can send")
			}
			name = textproto.CanonicalMIMEHeaderKey(name)
			h[name] = append(h[name], v)
		}
		ct, ok := headerValue(contentType)
		if !ok {
			t.Skip("not a header a client can send")
		}
		if ct != "" {
			h.Set("Content-Type", ct)
		}
		if h.Get("Authorization") != "" {
			t.Skip("the token is the target's")
		}
		for _, r := range fs.do(t, fuzzRequest{method: "POST", path: "/api/v1/events", header: h, body: body}) {
			if r.status >= 300 || h.Get("Ce-Type") == "" {
				// Without a ce-type header the request may be another mode.
				continue
			}
			attr := func(name string) string {
				v, err := url.PathUnescape(h.Get(name))
				if err != nil || v == "" {
					t.Fatalf("%s: accepted a CloudEvent whose %s is %q", r.store.name, name, h.Get(name))
				}
				return v
			}
			var got pushOut
			if err := json.Unmarshal(r.body, &got); err != nil {
				t.Fatal(err)
			}
			if got.Duplicate != (r.status == http.StatusOK) || got.Duplicate == r.stored {
				t.Fatalf("%s: status %d, stored %v: %s", r.store.name, r.status, r.stored, r.body)
			}
			checkCloudEvent(t, r, attr("Ce-Type"), attr("Ce-Source"), attr("Ce-Id"), body, got)
		}
	})
}

// headerName reports whether a client can send name as a header name: an HTTP token.
func headerName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}
