package api_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
)

// ce posts body to POST /api/v1/events with the given headers (Content-Type included).
func ce(t *testing.T, c *client, h http.Header, body string) resp {
	t.Helper()
	req, err := http.NewRequest("POST", c.url+"/api/v1/events", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	res, err := validatingClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: data}
}

func structured() http.Header {
	return http.Header{"Content-Type": {"application/cloudevents+json; charset=utf-8"}}
}

const orderCE = `{"specversion":"1.0","type":"com.example.order.paid","source":"https://shop.example.com/orders","id":"A234-1234",
	"time":"2026-11-23T18:37:00Z","subject":"order/42","datacontenttype":"application/json",
	"dataschema":"https://shop.example.com/schemas/paid.json","tenantregion":"eu","attempt":3,"test":true,
	"data":{"order_id":42,"amount":12.5}}`

func TestCloudEventStructured(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		c := b.c
		c.putWorkflow(simpleWorkflow("orders", "com.example.order.*", "ship"))
		first := ce(t, c, structured(), orderCE)
		if first.status != 201 {
			t.Fatalf("structured push: %d %s", first.status, first.body)
		}
		m := first.json(t)
		ev := m["event"].(map[string]any)
		if ev["key"] != "com.example.order.paid" || m["duplicate"] != false || len(m["runs"].([]any)) != 1 {
			t.Fatalf("reply = %v", m)
		}
		if p := ev["payload"].(map[string]any); p["order_id"] != float64(42) || p["amount"] != 12.5 {
			t.Fatalf("payload = %v", p)
		}
		meta := ev["additional_metadata"].(map[string]any)
		want := map[string]any{
			"ce_id": "A234-1234", "ce_source": "https://shop.example.com/orders", "ce_subject": "order/42",
			"ce_time": "2026-11-23T18:37:00Z", "ce_datacontenttype": "application/json",
			"ce_dataschema": "https://shop.example.com/schemas/paid.json", "ce_tenantregion": "eu", "ce_attempt": float64(3), "ce_test": true,
		}
		for k, v := range want {
			if meta[k] != v {
				t.Errorf("additional_metadata[%s] = %v, want %v", k, meta[k], v)
			}
		}
		if len(meta) != len(want) {
			t.Errorf("additional_metadata = %v, want exactly %v", meta, want)
		}

		// The same CloudEvent again (source + id) triggers nothing and answers the original.
		again := ce(t, c, structured(), orderCE)
		am := again.json(t)
		if again.status != 200 || am["duplicate"] != true || am["event"].(map[string]any)["id"] != ev["id"] ||
			runIDs(am)["orders"] != runIDs(m)["orders"] {
			t.Fatalf("repeat: %d %s", again.status, again.body)
		}
		// Same id from another source is another event.
		other := strings.Replace(orderCE, "https://shop.example.com/orders", "https://other.example.com", 1)
		if r := ce(t, c, structured(), other); r.status != 201 {
			t.Fatalf("same id, other source: %d %s", r.status, r.body)
		}
		if ev, runs := counts(t, c); ev != 2 || runs != 2 {
			t.Fatalf("stored %d events and %d runs, want 2 and 2", ev, runs)
		}
		// The metadata is searchable like any.
		found := items(c.must(200, "GET", "/api/v1/events?metadata=ce_id=A234-1234", nil))
		if len(found) != 2 {
			t.Fatalf("metadata search for ce_id found %d events, want 2", len(found))
		}

		// Absent data is {}; a long source and id still make a valid, stable key.
		long := `{"specversion":"1.0","type":"com.example.ping","source":"` + strings.Repeat("s", 300) + `","id":"1"}`
		r1 := ce(t, c, structured(), long)
		if r1.status != 201 || string(bytes.TrimSpace(mustRaw(t, r1, "payload"))) != "{}" {
			t.Fatalf("long source: %d %s", r1.status, r1.body)
		}
		if r2 := ce(t, c, structured(), long); r2.status != 200 || r2.json(t)["duplicate"] != true {
			t.Fatalf("long source repeated: %d %s", r2.status, r2.body)
		}
	})
}

// mustRaw returns a field of the reply's event as JSON text.
func mustRaw(t *testing.T, r resp, field string) []byte {
	t.Helper()
	i := bytes.Index(r.body, []byte(`"`+field+`":`))
	if i < 0 {
		t.Fatalf("no %s in %s", field, r.body)
	}
	rest := r.body[i+len(field)+3:]
	depth := 0
	for j, ch := range rest {
		switch ch {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return rest[:j+1]
			}
		}
	}
	t.Fatalf("unterminated %s in %s", field, r.body)
	return nil
}

func TestCloudEventBinary(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		c := b.c
		c.putWorkflow(simpleWorkflow("orders", "com.example.order.paid", "ship"))
		h := http.Header{
			"Content-Type":   {"application/json"},
			"Ce-Specversion": {"1.0"},
			"Ce-Type":        {"com.example.order.paid"},
			"Ce-Source":      {"/orders"},
			"Ce-Id":          {"b-1"},
			"Ce-Subject":     {"caf%C3%A9 order"},
			"Ce-Traceparent": {"00-abc-01"},
		}
		r := ce(t, c, h, `{"order_id":7}`)
		if r.status != 201 {
			t.Fatalf("binary push: %d %s", r.status, r.body)
		}
		m := r.json(t)
		ev := m["event"].(map[string]any)
		meta := ev["additional_metadata"].(map[string]any)
		if ev["key"] != "com.example.order.paid" || ev["payload"].(map[string]any)["order_id"] != float64(7) || len(m["runs"].([]any)) != 1 ||
			meta["ce_subject"] != "café order" || meta["ce_traceparent"] != "00-abc-01" || meta["ce_datacontenttype"] != "application/json" ||
			meta["ce_id"] != "b-1" || meta["ce_source"] != "/orders" {
			t.Fatalf("binary reply = %v", m)
		}
		// Twice: one run.
		if again := ce(t, c, h, `{"order_id":7}`); again.status != 200 || again.json(t)["duplicate"] != true {
			t.Fatalf("binary repeat: %d %s", again.status, again.body)
		}
		// The same event in structured mode is the same event (source + id).
		if s := ce(t, c, structured(), `{"specversion":"1.0","type":"com.example.order.paid","source":"/orders","id":"b-1"}`); s.status != 200 {
			t.Fatalf("structured repeat of a binary event: %d %s", s.status, s.body)
		}
		// No body: data is {}.
		h2 := h.Clone()
		h2.Set("Ce-Id", "b-2")
		h2.Del("Content-Type")
		if r := ce(t, c, h2, ""); r.status != 201 || string(mustRaw(t, r, "payload")) != "{}" {
			t.Fatalf("binary without body: %d %s", r.status, r.body)
		}
		if ev, runs := counts(t, c); ev != 2 || runs != 2 {
			t.Fatalf("stored %d events and %d runs, want 2 and 2", ev, runs)
		}
	})
}

func TestCloudEventBatch(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		c := b.c
		c.putWorkflow(simpleWorkflow("orders", "com.example.*", "ship"))
		batch := http.Header{"Content-Type": {"application/cloudevents-batch+json"}}
		r := ce(t, c, batch, `[
			{"specversion":"1.0","type":"com.example.a","source":"/s","id":"1","data":{"n":1}},
			{"specversion":"1.0","type":"com.example.b","source":"/s","id":"2"},
			{"specversion":"1.0","type":"com.example.a","source":"/s","id":"1","data":{"n":1}}
		]`)
		if r.status != 201 {
			t.Fatalf("batch: %d %s", r.status, r.body)
		}
		its := items(r.json(t))
		if len(its) != 3 || its[0]["duplicate"] != false || its[1]["duplicate"] != false || its[2]["duplicate"] != true ||
			its[0]["event"].(map[string]any)["id"] != its[2]["event"].(map[string]any)["id"] ||
			its[1]["event"].(map[string]any)["key"] != "com.example.b" {
			t.Fatalf("batch items = %v", its)
		}
		// All or nothing: one bad event refuses the batch, naming it.
		r = ce(t, c, batch, `[
			{"specversion":"1.0","type":"com.example.c","source":"/s","id":"3"},
			{"specversion":"1.0","type":"com.example.c","source":"/s"}
		]`)
		if code, field := r.errCodeField(t); r.status != 400 || code != "invalid_argument" || field != "[1].id" {
			t.Fatalf("batch with a bad event: %d %s", r.status, r.body)
		}
		r = ce(t, c, batch, `[{"specversion":"1.0","type":"com.example.c","source":"/s","id":"4"}, 7]`)
		if _, field := r.errCodeField(t); r.status != 400 || field != "[1]" {
			t.Fatalf("batch with a non-object: %d %s", r.status, r.body)
		}
		if r := ce(t, c, batch, `[]`); r.status != 400 {
			t.Fatalf("empty batch: %d %s", r.status, r.body)
		}
		if r := ce(t, c, batch, `{"specversion":"1.0"}`); r.status != 400 {
			t.Fatalf("batch that is not an array: %d %s", r.status, r.body)
		}
		// A schema violation in a batch names the event and the data pointer.
		c.must(201, "PUT", "/api/v1/event-schemas/com.example.c", map[string]any{"schema": orderSchema})
		r = ce(t, c, batch, `[
			{"specversion":"1.0","type":"com.example.c","source":"/s","id":"5","data":{"amount":1}},
			{"specversion":"1.0","type":"com.example.c","source":"/s","id":"6","data":{"amount":"x"}}
		]`)
		if code, field := r.errCodeField(t); r.status != 422 || code != "schema_violation" || field != "[1].data/amount" {
			t.Fatalf("batch schema violation: %d %s", r.status, r.body)
		}
		if ev, runs := counts(t, c); ev != 2 || runs != 2 {
			t.Fatalf("stored %d events and %d runs, want 2 and 2", ev, runs)
		}
	})
}

func TestCloudEventRefusals(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		c := b.c
		c.putWorkflow(simpleWorkflow("orders", "*", "ship"))
		c.must(201, "PUT", "/api/v1/event-schemas/com.example.paid", map[string]any{"schema": orderSchema})
		ok := map[string]string{"specversion": `"1.0"`, "type": `"com.example.x"`, "source": `"/s"`, "id": `"1"`}
		with := func(kv ...string) string {
			m := map[string]string{}
			for k, v := range ok {
				m[k] = v
			}
			for i := 0; i < len(kv); i += 2 {
				if kv[i+1] == "" {
					delete(m, kv[i])
				} else {
					m[kv[i]] = kv[i+1]
				}
			}
			var parts []string
			for k, v := range m {
				parts = append(parts, `"`+k+`":`+v)
			}
			return "{" + strings.Join(parts, ",") + "}"
		}
		for _, tc := range []struct {
			name   string
			body   string
			status int
			code   string
			field  string
		}{
			{"no specversion", with("specversion", ""), 400, "invalid_argument", "specversion"},
			{"specversion 0.3", with("specversion", `"0.3"`), 400, "invalid_argument", "specversion"},
			{"no id", with("id", ""), 400, "invalid_argument", "id"},
			{"empty id", with("id", `""`), 400, "invalid_argument", "id"},
			{"no source", with("source", ""), 400, "invalid_argument", "source"},
			{"no type", with("type", ""), 400, "invalid_argument", "type"},
			{"numeric type", with("type", `7`), 400, "invalid_argument", "type"},
			{"type not a Herald key", with("type", `"com example"`), 400, "invalid_argument", "type"},
			{"bad time", with("time", `"yesterday"`), 400, "invalid_argument", "time"},
			{"data_base64", with("data_base64", `"aGVsbG8="`), 400, "invalid_argument", "data_base64"},
			{"xml data", with("datacontenttype", `"application/xml"`, "data", `"<a/>"`), 400, "invalid_argument", "datacontenttype"},
			{"data not an object", with("data", `[1,2]`), 400, "invalid_argument", "data"},
			{"object extension", with("ext", `{"a":1}`), 400, "invalid_argument", "ext"},
			{"bad attribute name", with("Bad_Name", `"x"`), 400, "invalid_argument", "Bad_Name"},
			{"not JSON", `{"specversion":`, 400, "malformed_json", ""},
			{"schema violation", with("type", `"com.example.paid"`, "data", `{"amount":"x"}`), 422, "schema_violation", "data/amount"},
		} {
			r := ce(t, c, structured(), tc.body)
			code, field := r.errCodeField(t)
			if r.status != tc.status || code != tc.code || field != tc.field {
				t.Errorf("%s: %d %s field %q (%s); want %d %s field %q", tc.name, r.status, code, field, r.body, tc.status, tc.code, tc.field)
			}
		}
		// Binary mode: non-JSON data is 415; a missing required header is named.
		bin := http.Header{"Ce-Specversion": {"1.0"}, "Ce-Type": {"com.example.x"}, "Ce-Source": {"/s"}, "Ce-Id": {"9"}}
		h := bin.Clone()
		h.Set("Content-Type", "text/plain")
		if r := ce(t, c, h, "hello"); r.status != 415 {
			t.Errorf("binary text/plain: %d %s", r.status, r.body)
		}
		// The binding maps datacontenttype to Content-Type; the header form is refused, as
		// is an attribute that does not decode to UTF-8.
		h = bin.Clone()
		h.Set("Ce-Datacontenttype", "application/json")
		h.Set("Content-Type", "application/json")
		if r := ce(t, c, h, `{}`); r.status != 400 {
			t.Errorf("binary with ce-datacontenttype: %d %s", r.status, r.body)
		} else if _, field := r.errCodeField(t); field != "datacontenttype" {
			t.Errorf("binary with ce-datacontenttype names %q", field)
		}
		h = bin.Clone()
		h.Set("Ce-Subject", "%C0%A0")
		h.Set("Content-Type", "application/json")
		if r := ce(t, c, h, `{}`); r.status != 400 {
			t.Errorf("binary with a non-UTF-8 subject: %d %s", r.status, r.body)
		} else if _, field := r.errCodeField(t); field != "subject" {
			t.Errorf("binary with a non-UTF-8 subject names %q", field)
		}
		h = bin.Clone()
		h.Del("Ce-Source")
		h.Set("Content-Type", "application/json")
		if r := ce(t, c, h, `{}`); r.status != 400 {
			t.Errorf("binary without ce-source: %d %s", r.status, r.body)
		} else if _, field := r.errCodeField(t); field != "source" {
			t.Errorf("binary without ce-source names %q", field)
		}
		// Other CloudEvents formats are 415; an Idempotency-Key header is refused.
		if r := ce(t, c, http.Header{"Content-Type": {"application/cloudevents+avro"}}, "x"); r.status != 415 {
			t.Errorf("avro: %d %s", r.status, r.body)
		}
		h = structured()
		h.Set("Idempotency-Key", "k")
		if r := ce(t, c, h, with()); r.status != 400 {
			t.Errorf("Idempotency-Key with a CloudEvent: %d %s", r.status, r.body)
		}
		if ev, runs := counts(t, c); ev != 0 || runs != 0 {
			t.Fatalf("refused CloudEvents stored %d events and %d runs", ev, runs)
		}
	})
}
