package api_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testenv"
)

// Signing as each sender does, so that the tests exercise Herald's verification end to end.

func hmacHex(newHash func() hash.Hash, key, msg string) string {
	m := hmac.New(newHash, []byte(key))
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

func stripeHeaders(secret string, t time.Time, body string) http.Header {
	ts := strconv.FormatInt(t.Unix(), 10)
	return http.Header{"Stripe-Signature": {"t=" + ts + ",v1=" + hmacHex(sha256.New, secret, ts+"."+body)}}
}

func githubHeaders(secret, event, delivery, body string) http.Header {
	return http.Header{
		"X-Hub-Signature-256": {"sha256=" + hmacHex(sha256.New, secret, body)},
		"X-Github-Event":      {event},
		"X-Github-Delivery":   {delivery},
	}
}

func slackHeaders(secret string, t time.Time, body string) http.Header {
	ts := strconv.FormatInt(t.Unix(), 10)
	return http.Header{
		"X-Slack-Signature":         {"v0=" + hmacHex(sha256.New, secret, "v0:"+ts+":"+body)},
		"X-Slack-Request-Timestamp": {ts},
	}
}

func standardHeaders(secret, id string, t time.Time, body string) http.Header {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		panic(err)
	}
	ts := strconv.FormatInt(t.Unix(), 10)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + ts + "." + body))
	return http.Header{
		"Webhook-Id":        {id},
		"Webhook-Timestamp": {ts},
		"Webhook-Signature": {"v1,bm90IHRoZSBzaWduYXR1cmUgb2YgdGhpcyBib2R5ISE= v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))},
	}
}

// deliver posts a delivery to a receive URL without any token.
func deliver(t *testing.T, rawURL string, h http.Header, contentType string, body []byte) resp {
	t.Helper()
	req, err := http.NewRequest("POST", rawURL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := validatingClient(t).Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", rawURL, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: data}
}

// hookURL returns the receive URL of a webhook reply, checking its shape.
func hookURL(t *testing.T, b *bundle, w map[string]any) string {
	t.Helper()
	u, _ := w["url"].(string)
	if !strings.HasPrefix(u, b.env.URL+"/api/v1/tenants/") || !strings.HasSuffix(u, "/webhooks/"+url.PathEscape(w["name"].(string))) {
		t.Fatalf("webhook url = %q, want %s/api/v1/tenants/{tenant_id}/webhooks/%s", u, b.env.URL, w["name"])
	}
	return u
}

// tenantOf returns the tenant id a receive URL embeds.
func tenantOf(t *testing.T, rawURL string) string {
	t.Helper()
	parts := strings.Split(rawURL, "/")
	return parts[len(parts)-3]
}

func deliveries(t *testing.T, c *client, name string) []map[string]any {
	t.Helper()
	return items(c.must(200, "GET", "/api/v1/webhooks/"+name+"/deliveries", nil))
}

const stripeSecret = "whsec_dGhpcyBpcyBhIHRlc3Qgc2VjcmV0IG9mIHN0cmlwZQ"

func stripeEvent(id, typ, customer string) string {
	return fmt.Sprintf(`{"id":%q,"object":"event","type":%q,"data":{"object":{"customer":%q,"amount":4200}}}`, id, typ, customer)
}

func TestWebhookCRUD(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		c := b.c
		w := c.must(201, "POST", "/api/v1/webhooks", map[string]any{
			"name": "stripe", "source": "stripe", "secret": stripeSecret,
			"event_key_expression": "'stripe:' + input.type", "scope_expression": "input.data.object.customer",
			"static_payload": map[string]any{"env": "prod"},
		})
		u := hookURL(t, b, w)
		if w["source"] != "stripe" || w["event_key_expression"] != "'stripe:' + input.type" ||
			w["scope_expression"] != "input.data.object.customer" || w["static_payload"].(map[string]any)["env"] != "prod" {
			t.Fatalf("created = %v", w)
		}
		if _, ok := w["secret"]; ok || strings.Contains(string(c.do("GET", "/api/v1/webhooks/stripe", nil).body), stripeSecret) {
			t.Fatal("the API shows the secret")
		}
		g := c.must(201, "POST", "/api/v1/webhooks", map[string]any{
			"name": "partner", "source": "generic", "event_key_expression": "'partner:' + input.event",
			"auth": map[string]any{"type": "hmac", "header": "X-Signature", "secret": "p-secret", "algorithm": "SHA256", "prefix": "sha256="},
		})
		if a := g["auth"].(map[string]any); a["type"] != "hmac" || a["algorithm"] != "sha256" || a["encoding"] != "hex" ||
			a["header"] != "X-Signature" || a["prefix"] != "sha256=" || a["secret"] != nil {
			t.Fatalf("generic auth shown as %v", a)
		}
		if r := c.do("POST", "/api/v1/webhooks", map[string]any{"name": "stripe", "source": "github", "secret": "x", "event_key_expression": "'k'"}); r.status != 409 {
			t.Fatalf("duplicate name: %d %s", r.status, r.body)
		}
		list := items(c.must(200, "GET", "/api/v1/webhooks", nil))
		if len(list) != 2 || list[0]["name"] != "partner" || list[1]["name"] != "stripe" || list[1]["url"] != u {
			t.Fatalf("list = %v", list)
		}

		// Update: expressions change, the secret rotates, and the old secret stops working.
		body := stripeEvent("evt_1", "invoice.paid", "cus_1")
		if r := deliver(t, u, stripeHeaders(stripeSecret, time.Now(), body), "application/json", []byte(body)); r.status != 200 {
			t.Fatalf("delivery before rotation: %d %s", r.status, r.body)
		}
		newSecret := "whsec_cm90YXRlZCBzZWNyZXQ"
		up := c.must(200, "PATCH", "/api/v1/webhooks/stripe", map[string]any{
			"secret": newSecret, "event_key_expression": "'billing:' + input.type", "scope_expression": "", "static_payload": nil,
		})
		if up["event_key_expression"] != "'billing:' + input.type" || up["scope_expression"] != nil || up["static_payload"] != nil ||
			up["url"] != u || up["created_at"] != w["created_at"] {
			t.Fatalf("updated = %v", up)
		}
		body = stripeEvent("evt_2", "invoice.paid", "cus_1")
		if r := deliver(t, u, stripeHeaders(stripeSecret, time.Now(), body), "application/json", []byte(body)); r.status != 401 {
			t.Fatalf("old secret after rotation: %d %s", r.status, r.body)
		}
		r := deliver(t, u, stripeHeaders(newSecret, time.Now(), body), "application/json", []byte(body))
		if r.status != 200 || r.json(t)["event"].(map[string]any)["key"] != "billing:invoice.paid" {
			t.Fatalf("new secret after rotation: %d %s", r.status, r.body)
		}
		// Updating only the expressions keeps the secret.
		c.must(200, "PATCH", "/api/v1/webhooks/stripe", map[string]any{"event_key_expression": "'stripe:' + input.type"})
		body = stripeEvent("evt_3", "invoice.paid", "cus_1")
		if r := deliver(t, u, stripeHeaders(newSecret, time.Now(), body), "application/json", []byte(body)); r.status != 200 {
			t.Fatalf("after an update without secret: %d %s", r.status, r.body)
		}

		// Delete: the URL answers 404 and the name is free again.
		c.must(204, "DELETE", "/api/v1/webhooks/stripe", nil)
		if r := c.do("GET", "/api/v1/webhooks/stripe", nil); r.status != 404 {
			t.Fatalf("get after delete: %d", r.status)
		}
		if r := deliver(t, u, stripeHeaders(newSecret, time.Now(), body), "application/json", []byte(body)); r.status != 404 {
			t.Fatalf("delivery after delete: %d %s", r.status, r.body)
		}
		for _, mp := range [][2]string{{"DELETE", "/api/v1/webhooks/stripe"}, {"GET", "/api/v1/webhooks/stripe/deliveries"}} {
			if r := c.do(mp[0], mp[1], nil); r.status != 404 {
				t.Fatalf("%s %s after delete: %d", mp[0], mp[1], r.status)
			}
		}
		// Without a token, nothing of the management API answers.
		if r := c.with("").do("GET", "/api/v1/webhooks", nil); r.status != 401 {
			t.Fatalf("list without token: %d", r.status)
		}
	})
}

func TestWebhookValidation(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		base := func(kv ...any) map[string]any {
			m := map[string]any{"name": "h", "source": "github", "secret": "s", "event_key_expression": "'github:' + headers['x-github-event']"}
			for i := 0; i < len(kv); i += 2 {
				if kv[i+1] == nil {
					delete(m, kv[i].(string))
					continue
				}
				m[kv[i].(string)] = kv[i+1]
			}
			return m
		}
		hmacAuth := map[string]any{"type": "hmac", "header": "X-Sig", "secret": "s"}
		cases := []struct {
			name  string
			body  any
			field string
			msg   string
		}{
			{"syntax error in the key", base("event_key_expression", "'a' +"), "event_key_expression", "Syntax error"},
			{"unknown variable", base("event_key_expression", "body.type"), "event_key_expression", "undeclared reference"},
			{"type error", base("event_key_expression", "'a' + 1"), "event_key_expression", "no matching overload"},
			{"non-string key", base("event_key_expression", "1 + 1"), "event_key_expression", "must give a string"},
			{"missing key", base("event_key_expression", nil), "event_key_expression", "required"},
			{"bad scope", base("scope_expression", "input.x +"), "scope_expression", "Syntax error"},
			{"non-string dedupe", base("dedupe_expression", "input.n > 1"), "dedupe_expression", "must give a string"},
			{"bad name", base("name", "a/b"), "name", "contains"},
			{"missing source", base("source", nil), "source", "required"},
			{"unknown source", base("source", "gitlab"), "source", "must be one of"},
			{"missing secret", base("secret", nil), "secret", "required"},
			{"empty secret", base("secret", ""), "secret", "must not be empty"},
			{"stripe secret without whsec_", base("source", "stripe", "secret", "dGhpcyBpcyBh"), "secret", "whsec_"},
			{"standard secret not base64", base("source", "standard", "secret", "whsec_!!!"), "secret", "base64"},
			{"auth on a preset", base("auth", hmacAuth), "auth", "only for the generic source"},
			{"generic without auth", base("source", "generic", "secret", nil), "auth", "required"},
			{"generic with top-level secret", base("source", "generic", "auth", hmacAuth), "secret", "takes its secret in auth"},
			{"unknown auth type", base("source", "generic", "secret", nil, "auth", map[string]any{"type": "oauth"}), "auth.type", "must be hmac, basic or api_key"},
			{"hmac without header", base("source", "generic", "secret", nil, "auth", map[string]any{"type": "hmac", "secret": "s"}), "auth.header", "required"},
			{"hmac without secret", base("source", "generic", "secret", nil, "auth", map[string]any{"type": "hmac", "header": "X-Sig"}), "auth.secret", "required"},
			{"hmac with md5", base("source", "generic", "secret", nil, "auth", map[string]any{"type": "hmac", "header": "X-Sig", "secret": "s", "algorithm": "md5"}), "auth.algorithm", "sha1, sha256 or sha512"},
			{"hmac with base32", base("source", "generic", "secret", nil, "auth", map[string]any{"type": "hmac", "header": "X-Sig", "secret": "s", "encoding": "base32"}), "auth.encoding", "hex, base64 or base64url"},
			{"header with a space", base("source", "generic", "secret", nil, "auth", map[string]any{"type": "api_key", "header": "X Key", "key": "k"}), "auth.header", "contains"},
			{"basic without username", base("source", "generic", "secret", nil, "auth", map[string]any{"type": "basic", "password": "p"}), "auth.username", "required"},
			{"basic with a key", base("source", "generic", "secret", nil, "auth", map[string]any{"type": "basic", "username": "u", "password": "p", "key": "k"}), "auth.key", "not used"},
			{"static payload not an object", base("static_payload", []int{1}), "static_payload", "JSON object"},
			{"unknown field", base("secrets", "x"), "secrets", "unknown field"},
		}
		for _, tc := range cases {
			r := b.c.do("POST", "/api/v1/webhooks", tc.body)
			if r.status != 400 {
				t.Errorf("%s: status %d, want 400: %s", tc.name, r.status, r.body)
				continue
			}
			_, field := r.errCodeField(t)
			msg := r.json(t)["error"].(map[string]any)["message"].(string)
			if field != tc.field || !strings.Contains(msg, tc.msg) {
				t.Errorf("%s: field %q message %q, want field %q and %q", tc.name, field, msg, tc.field, tc.msg)
			}
		}
		if n := len(items(b.c.must(200, "GET", "/api/v1/webhooks", nil))); n != 0 {
			t.Fatalf("refused creates stored %d webhooks", n)
		}
		// Update validation: no rename; a source change needs a new secret; bad expressions.
		b.c.must(201, "POST", "/api/v1/webhooks", base())
		for _, tc := range []struct {
			body  map[string]any
			field string
		}{
			{map[string]any{"name": "other"}, "name"},
			{map[string]any{"source": "slack"}, "secret"},
			{map[string]any{"source": "generic"}, "auth"},
			{map[string]any{"event_key_expression": "input."}, "event_key_expression"},
		} {
			r := b.c.do("PATCH", "/api/v1/webhooks/h", tc.body)
			if _, field := r.errCodeField(t); r.status != 400 || field != tc.field {
				t.Errorf("PATCH %v: %d %s, want 400 on %s", tc.body, r.status, r.body, tc.field)
			}
		}
		if r := b.c.do("PATCH", "/api/v1/webhooks/nope", map[string]any{"secret": "x"}); r.status != 404 {
			t.Errorf("PATCH unknown: %d", r.status)
		}
	})
}

func TestWebhookStripeDeliveryAndReplay(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		c := b.c
		c.putWorkflow(simpleWorkflow("bill", "stripe:invoice.paid", "charge"))
		c.putWorkflow(simpleWorkflow("audit", "stripe:invoice.paid", "log"))
		w := c.must(201, "POST", "/api/v1/webhooks", map[string]any{
			"name": "stripe", "source": "stripe", "secret": stripeSecret,
			"event_key_expression": "'stripe:' + input.type", "scope_expression": "input.data.object.customer",
			"static_payload": map[string]any{"environment": "production", "object": "overridden"},
		})
		u := hookURL(t, b, w)
		body := stripeEvent("evt_1NG8Du2eZvKYlo2CUI79vXWy", "invoice.paid", "cus_42")
		h := stripeHeaders(stripeSecret, time.Now(), body)
		r := deliver(t, u, h, "application/json", []byte(body))
		if r.status != 200 {
			t.Fatalf("delivery: %d %s", r.status, r.body)
		}
		rep := r.json(t)
		ev := rep["event"].(map[string]any)
		if ev["key"] != "stripe:invoice.paid" || ev["source"] != "webhook" || ev["webhook"] != "stripe" ||
			ev["scope"] != "cus_42" || ev["dedupe_id"] != "evt_1NG8Du2eZvKYlo2CUI79vXWy" || rep["duplicate"] != false {
			t.Fatalf("event = %v", rep)
		}
		runs := runIDs(rep)
		if len(runs) != 2 {
			t.Fatalf("runs = %v, want bill and audit", runs)
		}
		// The payload is the body with the static payload merged over it.
		p := ev["payload"].(map[string]any)
		if p["environment"] != "production" || p["object"] != "overridden" || p["type"] != "invoice.paid" {
			t.Fatalf("payload = %v", p)
		}
		if in := c.run(runs["bill"])["input"].(map[string]any); in["environment"] != "production" || in["id"] != "evt_1NG8Du2eZvKYlo2CUI79vXWy" {
			t.Fatalf("run input = %v", in)
		}
		got := c.must(200, "GET", "/api/v1/events/"+ev["id"].(string), nil)
		if got["scope"] != "cus_42" || got["webhook"] != "stripe" || len(got["runs"].([]any)) != 2 {
			t.Fatalf("GET event = %v", got)
		}

		// Stripe retries the same event (new timestamp, new signature): 200 with the
		// original event and runs; nothing new.
		r = deliver(t, u, stripeHeaders(stripeSecret, time.Now().Add(time.Second), body), "application/json", []byte(body))
		if r.status != 200 {
			t.Fatalf("replay: %d %s", r.status, r.body)
		}
		again := r.json(t)
		if again["duplicate"] != true || again["event"].(map[string]any)["id"] != ev["id"] || fmt.Sprint(runIDs(again)) != fmt.Sprint(runs) {
			t.Fatalf("replay answered %v, want the original %v", again, rep)
		}
		if n := len(items(c.must(200, "GET", "/api/v1/events", nil))); n != 1 {
			t.Fatalf("%d events after a replay, want 1", n)
		}
		if n := len(items(c.must(200, "GET", "/api/v1/runs", nil))); n != 2 {
			t.Fatalf("%d runs after a replay, want 2", n)
		}
		ds := deliveries(t, c, "stripe")
		if len(ds) != 2 || ds[0]["outcome"] != "duplicate" || ds[1]["outcome"] != "accepted" ||
			ds[0]["event_id"] != ev["id"] || ds[1]["event_id"] != ev["id"] || ds[0]["status_code"] != 200.0 ||
			ds[1]["verification"] != "passed" || ds[1]["dedupe_id"] != "evt_1NG8Du2eZvKYlo2CUI79vXWy" {
			t.Fatalf("deliveries = %v", ds)
		}
		// A different event id is a new event.
		body2 := stripeEvent("evt_2", "invoice.paid", "cus_42")
		if r := deliver(t, u, stripeHeaders(stripeSecret, time.Now(), body2), "", []byte(body2)); r.status != 200 || r.json(t)["duplicate"] != false {
			t.Fatalf("second event: %d %s", r.status, r.body)
		}
	})
}

func TestWebhookRefusalsStoreOnlyADeliveryRecord(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		c := b.c
		c.putWorkflow(simpleWorkflow("bill", "stripe:invoice.paid", "charge"))
		w := c.must(201, "POST", "/api/v1/webhooks", map[string]any{
			"name": "stripe", "source": "stripe", "secret": stripeSecret,
			"event_key_expression": "'stripe:' + input.type", "scope_expression": "input.data.object.customer",
		})
		u := hookURL(t, b, w)
		body := stripeEvent("evt_1", "invoice.paid", "cus_1")
		good := stripeHeaders(stripeSecret, time.Now(), body)
		now := time.Now()
		cases := []struct {
			name        string
			h           http.Header
			ctype, body string
			status      int
			code        string
			field       string
			verified    string
		}{
			{"bad signature", stripeHeaders("whsec_other", now, body), "application/json", body, 401, "invalid_signature", "", "failed"},
			{"whsec_ removed from the secret", stripeHeaders(strings.TrimPrefix(stripeSecret, "whsec_"), now, body), "application/json", body, 401, "invalid_signature", "", "failed"},
			{"one flipped body byte", good, "application/json", strings.Replace(body, "cus_1", "cus_2", 1), 401, "invalid_signature", "", "failed"},
			{"trailing newline", good, "application/json", body + "\n", 401, "invalid_signature", "", "failed"},
			{"missing header", http.Header{}, "application/json", body, 401, "invalid_signature", "", "failed"},
			{"duplicated header", http.Header{"Stripe-Signature": {good.Get("Stripe-Signature"), good.Get("Stripe-Signature")}}, "application/json", body, 401, "invalid_signature", "", "failed"},
			{"stale timestamp", stripeHeaders(stripeSecret, now.Add(-6*time.Minute), body), "application/json", body, 401, "invalid_signature", "", "failed"},
			{"future timestamp", stripeHeaders(stripeSecret, now.Add(6*time.Minute), body), "application/json", body, 401, "invalid_signature", "", "failed"},
			{"body not JSON", stripeHeaders(stripeSecret, now, "not json"), "application/json", "not json", 400, "malformed_body", "", "passed"},
			{"body a JSON array", stripeHeaders(stripeSecret, now, "[1]"), "application/json", "[1]", 400, "malformed_body", "", "passed"},
			{"key expression fails", stripeHeaders(stripeSecret, now, `{"id":"evt_x"}`), "application/json", `{"id":"evt_x"}`, 422, "expression_failed", "event_key_expression", "passed"},
			{"key not a string", stripeHeaders(stripeSecret, now, `{"id":"evt_y","type":7}`), "application/json", `{"id":"evt_y","type":7}`, 422, "expression_failed", "event_key_expression", "passed"},
			{"key not an event key", stripeHeaders(stripeSecret, now, `{"id":"evt_z","type":"a b"}`), "application/json", `{"id":"evt_z","type":"a b"}`, 422, "expression_failed", "event_key_expression", "passed"},
			{"scope expression fails", stripeHeaders(stripeSecret, now, `{"id":"evt_w","type":"invoice.paid"}`), "application/json", `{"id":"evt_w","type":"invoice.paid"}`, 422, "expression_failed", "scope_expression", "passed"},
		}
		for _, tc := range cases {
			r := deliver(t, u, tc.h, tc.ctype, []byte(tc.body))
			if r.status != tc.status {
				t.Errorf("%s: status %d, want %d: %s", tc.name, r.status, tc.status, r.body)
				continue
			}
			code, field := r.errCodeField(t)
			if code != tc.code || field != tc.field {
				t.Errorf("%s: code %q field %q, want %q %q", tc.name, code, field, tc.code, tc.field)
			}
			if bytes.Contains(r.body, []byte(stripeSecret)) || bytes.Contains(r.body, []byte(strings.TrimPrefix(stripeSecret, "whsec_"))) {
				t.Errorf("%s: the reply shows the secret: %s", tc.name, r.body)
			}
		}
		// An unknown webhook is 404 and records nothing.
		for _, bad := range []string{strings.Replace(u, "/webhooks/stripe", "/webhooks/strip", 1), strings.Replace(u, tenantOf(t, u), "not-a-tenant", 1)} {
			if r := deliver(t, bad, good, "application/json", []byte(body)); r.status != 404 {
				t.Errorf("POST %s: %d, want 404", bad, r.status)
			} else if code, _ := r.errCodeField(t); code != "not_found" {
				t.Errorf("POST %s: code %q", bad, code)
			}
		}
		// Nothing but delivery records was stored.
		if n := len(items(c.must(200, "GET", "/api/v1/events", nil))); n != 0 {
			t.Fatalf("refused deliveries stored %d events", n)
		}
		if n := len(items(c.must(200, "GET", "/api/v1/runs", nil))); n != 0 {
			t.Fatalf("refused deliveries started %d runs", n)
		}
		ds := deliveries(t, c, "stripe")
		if len(ds) != len(cases) {
			t.Fatalf("%d delivery records, want %d", len(ds), len(cases))
		}
		for i, d := range ds {
			tc := cases[len(cases)-1-i] // newest first
			if d["status_code"] != float64(tc.status) || d["verification"] != tc.verified || d["outcome"] != "refused" ||
				d["error"] == "" || d["event_id"] != nil {
				t.Errorf("delivery record of %q = %v", tc.name, d)
			}
		}
		// A good delivery still goes through after all of that.
		if r := deliver(t, u, stripeHeaders(stripeSecret, time.Now(), body), "application/json", []byte(body)); r.status != 200 {
			t.Fatalf("good delivery: %d %s", r.status, r.body)
		}
	})
}

func TestWebhookBodyLimitAndDeliveryLogCap(t *testing.T) {
	forEachStoreWith(t, testenv.Options{WebhookMaxBodyBytes: 2048, WebhookDeliveryLog: 3}, func(t *testing.T, b *bundle) {
		w := b.c.must(201, "POST", "/api/v1/webhooks", map[string]any{
			"name": "gh", "source": "github", "secret": "gh-secret", "event_key_expression": "'github:' + headers['x-github-event']",
		})
		u := hookURL(t, b, w)
		big := `{"pad":"` + strings.Repeat("x", 3000) + `"}`
		r := deliver(t, u, githubHeaders("gh-secret", "push", "d-big", big), "application/json", []byte(big))
		if r.status != 413 {
			t.Fatalf("body over the limit: %d %s", r.status, r.body)
		}
		if code, _ := r.errCodeField(t); code != "payload_too_large" {
			t.Fatalf("code %q", code)
		}
		ds := deliveries(t, b.c, "gh")
		if len(ds) != 1 || ds[0]["status_code"] != 413.0 || ds[0]["verification"] != "not_checked" {
			t.Fatalf("deliveries = %v", ds)
		}
		// Unauthenticated senders cannot grow the log past its cap.
		for i := range 6 {
			body := fmt.Sprintf(`{"n":%d}`, i)
			if r := deliver(t, u, githubHeaders("wrong", "push", "d", body), "application/json", []byte(body)); r.status != 401 {
				t.Fatalf("forged delivery: %d", r.status)
			}
		}
		if err := b.env.Server.Engine().Webhooks().PruneDeliveryLogs(t.Context()); err != nil {
			t.Fatal(err)
		}
		ds = deliveries(t, b.c, "gh")
		if len(ds) != 3 {
			t.Fatalf("%d delivery records after pruning, want 3", len(ds))
		}
		if !strings.Contains(ds[0]["error"].(string), "does not match") {
			t.Fatalf("the newest records were not kept: %v", ds)
		}
		// Pages of the log.
		page := b.c.must(200, "GET", "/api/v1/webhooks/gh/deliveries?limit=2", nil)
		next, _ := page["next_cursor"].(string)
		if len(items(page)) != 2 || next == "" {
			t.Fatalf("first page = %v", page)
		}
		rest := b.c.must(200, "GET", "/api/v1/webhooks/gh/deliveries?limit=2&cursor="+next, nil)
		if len(items(rest)) != 1 || rest["next_cursor"] != nil || items(rest)[0]["id"] != ds[2]["id"] {
			t.Fatalf("second page = %v", rest)
		}
	})
}

func TestWebhookPresetsEndToEnd(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		c := b.c
		create := func(m map[string]any) string {
			t.Helper()
			return hookURL(t, b, c.must(201, "POST", "/api/v1/webhooks", m))
		}
		key := func(r resp) string {
			t.Helper()
			if r.status != 200 {
				t.Fatalf("delivery: %d %s", r.status, r.body)
			}
			return r.json(t)["event"].(map[string]any)["key"].(string)
		}

		// GitHub: the event key from a header and the body; X-GitHub-Delivery dedupes.
		gh := create(map[string]any{"name": "gh", "source": "github", "secret": "It's a Secret to Everybody",
			"event_key_expression": "'github:' + headers['x-github-event'] + (has(input.action) ? ':' + input.action : '')"})
		body := `{"action":"created","starred_at":"2026-01-01T00:00:00Z"}`
		if k := key(deliver(t, gh, githubHeaders("It's a Secret to Everybody", "star", "72d3162e-cc78-11e3-81ab-4c9367dc0958", body), "application/json", []byte(body))); k != "github:star:created" {
			t.Fatalf("github key %q", k)
		}
		ping := `{"zen":"Keep it logically awesome.","hook_id":1}`
		if k := key(deliver(t, gh, githubHeaders("It's a Secret to Everybody", "ping", "72d3162e-0000", ping), "application/json", []byte(ping))); k != "github:ping" {
			t.Fatalf("github ping key %q", k)
		}
		r := deliver(t, gh, githubHeaders("It's a Secret to Everybody", "star", "72d3162e-cc78-11e3-81ab-4c9367dc0958", body), "application/json", []byte(body))
		if r.status != 200 || r.json(t)["duplicate"] != true {
			t.Fatalf("github redelivery: %d %s", r.status, r.body)
		}

		// Slack: url_verification is answered after verification; a slash command is a form.
		sl := create(map[string]any{"name": "slack", "source": "slack", "secret": "8f742231b10e8888abcd99yyyzzz85a5",
			"event_key_expression": "has(input.command) ? 'slack:command:' + input.command.substring(1) : 'slack:' + input.type"})
		chal := `{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`
		r = deliver(t, sl, slackHeaders("8f742231b10e8888abcd99yyyzzz85a5", time.Now(), chal), "application/json", []byte(chal))
		if r.status != 200 || r.json(t)["challenge"] != "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" {
			t.Fatalf("challenge: %d %s", r.status, r.body)
		}
		if r := deliver(t, sl, slackHeaders("wrong", time.Now(), chal), "application/json", []byte(chal)); r.status != 401 || bytes.Contains(r.body, []byte("3eZbrw")) {
			t.Fatalf("unsigned challenge: %d %s", r.status, r.body)
		}
		form := "token=x&team_id=T1&command=%2Fdeploy&text=prod&user_id=U2"
		r = deliver(t, sl, slackHeaders("8f742231b10e8888abcd99yyyzzz85a5", time.Now(), form), "application/x-www-form-urlencoded", []byte(form))
		if key(r) != "slack:command:deploy" || r.json(t)["event"].(map[string]any)["payload"].(map[string]any)["text"] != "prod" {
			t.Fatalf("slash command: %s", r.body)
		}
		inter := "payload=" + url.QueryEscape(`{"type":"block_actions","user":{"id":"U1"}}`)
		if k := key(deliver(t, sl, slackHeaders("8f742231b10e8888abcd99yyyzzz85a5", time.Now(), inter), "application/x-www-form-urlencoded", []byte(inter))); k != "slack:block_actions" {
			t.Fatalf("interactive key %q", k)
		}
		if ds := deliveries(t, c, "slack"); len(ds) != 4 || ds[3]["outcome"] != "challenge" || ds[2]["status_code"] != 401.0 {
			t.Fatalf("slack deliveries = %v", ds)
		}

		// Standard Webhooks: several signatures (one stale after a rotation), webhook-id
		// dedupes.
		const swSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		sw := create(map[string]any{"name": "svix", "source": "standard", "secret": swSecret, "event_key_expression": "input.type"})
		body = `{"type":"contact.created","timestamp":"2022-11-03T20:26:10.344522Z","data":{"id":"1f81eb52"}}`
		if k := key(deliver(t, sw, standardHeaders(swSecret, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", time.Now(), body), "application/json", []byte(body))); k != "contact.created" {
			t.Fatalf("standard key %q", k)
		}
		r = deliver(t, sw, standardHeaders(swSecret, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", time.Now(), body), "application/json", []byte(body))
		if r.status != 200 || r.json(t)["duplicate"] != true {
			t.Fatalf("standard replay: %d %s", r.status, r.body)
		}

		// Generic: HMAC, basic auth, API key; a dedupe expression.
		hm := create(map[string]any{"name": "hm", "source": "generic", "event_key_expression": "'partner:' + input.event",
			"dedupe_expression": "input.delivery",
			"auth":              map[string]any{"type": "hmac", "header": "X-Partner-Signature", "secret": "p-secret", "algorithm": "sha1", "prefix": "sha1="}})
		body = `{"event":"order.shipped","delivery":"d-1"}`
		sig := http.Header{"X-Partner-Signature": {"sha1=" + hmacHex(sha1.New, "p-secret", body)}}
		if k := key(deliver(t, hm, sig, "application/json", []byte(body))); k != "partner:order.shipped" {
			t.Fatalf("hmac key %q", k)
		}
		if r := deliver(t, hm, sig, "application/json", []byte(body)); r.json(t)["duplicate"] != true {
			t.Fatalf("hmac replay: %s", r.body)
		}
		sha256Sig := http.Header{"X-Partner-Signature": {"sha1=" + hmacHex(sha256.New, "p-secret", body)}}
		if r := deliver(t, hm, sha256Sig, "application/json", []byte(body)); r.status != 401 {
			t.Fatalf("wrong algorithm: %d", r.status)
		}
		ba := create(map[string]any{"name": "ba", "source": "generic", "event_key_expression": "'basic:' + input.event + ':' + (has(headers.authorization) ? 'leak' : 'hidden')",
			"auth": map[string]any{"type": "basic", "username": "sender", "password": "s3cret"}})
		basic := http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("sender:s3cret"))}}
		if k := key(deliver(t, ba, basic, "application/json", []byte(`{"event":"x"}`))); k != "basic:x:hidden" {
			t.Fatalf("basic key %q (credentials must be hidden from expressions)", k)
		}
		wrong := http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("sender:nope"))}}
		if r := deliver(t, ba, wrong, "application/json", []byte(`{"event":"x"}`)); r.status != 401 {
			t.Fatalf("wrong password: %d", r.status)
		}
		ak := create(map[string]any{"name": "ak", "source": "generic", "event_key_expression": "'key:' + input.event",
			"auth": map[string]any{"type": "api_key", "header": "X-Api-Key", "key": "k_live_1"}})
		if k := key(deliver(t, ak, http.Header{"X-Api-Key": {"k_live_1"}}, "", []byte(`{"event":"y"}`))); k != "key:y" {
			t.Fatalf("api key key %q", k)
		}
		if r := deliver(t, ak, http.Header{"X-Api-Key": {"k_live_2"}}, "", []byte(`{"event":"y"}`)); r.status != 401 {
			t.Fatalf("wrong api key: %d", r.status)
		}
		// Rotating a generic secret: auth without its secret keeps it; with one replaces it.
		c.must(200, "PATCH", "/api/v1/webhooks/ak", map[string]any{"auth": map[string]any{"type": "api_key", "header": "X-Key"}})
		if k := key(deliver(t, ak, http.Header{"X-Key": {"k_live_1"}}, "", []byte(`{"event":"z"}`))); k != "key:z" {
			t.Fatalf("after changing the header: %q", k)
		}
		c.must(200, "PATCH", "/api/v1/webhooks/ak", map[string]any{"auth": map[string]any{"type": "api_key", "header": "X-Key", "key": "k_live_9"}})
		if r := deliver(t, ak, http.Header{"X-Key": {"k_live_1"}}, "", []byte(`{"event":"z"}`)); r.status != 401 {
			t.Fatalf("old key after rotation: %d", r.status)
		}
	})
}

func TestWebhookCrossTenant(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		a := b.c
		a.must(201, "POST", "/api/v1/tenants", map[string]any{"name": "acme"})
		tb := a.with(a.must(201, "POST", "/api/v1/tokens", map[string]any{"name": "acme", "tenant": "acme", "role": "admin"})["secret"].(string))
		wb := tb.must(201, "POST", "/api/v1/webhooks", map[string]any{"name": "hook", "source": "github", "secret": "b-secret",
			"event_key_expression": "'b:' + headers['x-github-event']"})
		wa := a.must(201, "POST", "/api/v1/webhooks", map[string]any{"name": "mine", "source": "github", "secret": "a-secret",
			"event_key_expression": "'a:' + headers['x-github-event']"})
		ua, ub := hookURL(t, b, wa), hookURL(t, b, wb)
		if tenantOf(t, ua) == tenantOf(t, ub) {
			t.Fatal("both tenants' webhooks have one tenant id in their URL")
		}
		body := `{"x":1}`
		// B's webhook name under A's URL: 404, correctly signed or not.
		crossed := strings.Replace(ua, "/webhooks/mine", "/webhooks/hook", 1)
		for _, secret := range []string{"b-secret", "a-secret"} {
			r := deliver(t, crossed, githubHeaders(secret, "push", "d1", body), "application/json", []byte(body))
			if r.status != 404 || bytes.Contains(r.body, []byte("acme")) || bytes.Contains(r.body, []byte(tenantOf(t, ub))) {
				t.Fatalf("B's webhook under A's URL: %d %s", r.status, r.body)
			}
		}
		// A's secret does not open B's webhook, and B's URL reaches only B.
		if r := deliver(t, ub, githubHeaders("a-secret", "push", "d2", body), "application/json", []byte(body)); r.status != 401 {
			t.Fatalf("A's secret on B's webhook: %d", r.status)
		}
		r := deliver(t, ub, githubHeaders("b-secret", "push", "d3", body), "application/json", []byte(body))
		if r.status != 200 || r.json(t)["event"].(map[string]any)["key"] != "b:push" {
			t.Fatalf("B's delivery: %d %s", r.status, r.body)
		}
		// Neither tenant sees the other's webhooks, events or delivery log.
		for _, path := range []string{"/api/v1/webhooks/hook", "/api/v1/webhooks/hook/deliveries"} {
			if r := a.do("GET", path, nil); r.status != 404 {
				t.Fatalf("A GET %s: %d", path, r.status)
			}
		}
		if r := a.do("PATCH", "/api/v1/webhooks/hook", map[string]any{"secret": "mine-now"}); r.status != 404 {
			t.Fatalf("A updated B's webhook: %d", r.status)
		}
		if r := a.do("DELETE", "/api/v1/webhooks/hook", nil); r.status != 404 {
			t.Fatalf("A deleted B's webhook: %d", r.status)
		}
		if l := items(a.must(200, "GET", "/api/v1/webhooks", nil)); len(l) != 1 || l[0]["name"] != "mine" {
			t.Fatalf("A's webhooks = %v", l)
		}
		if n := len(items(a.must(200, "GET", "/api/v1/events", nil))); n != 0 {
			t.Fatalf("A sees %d events", n)
		}
		if n := len(items(tb.must(200, "GET", "/api/v1/events", nil))); n != 1 {
			t.Fatalf("B sees %d events, want 1", n)
		}
		// The same name in both tenants is fine, each with its own URL.
		a.must(201, "POST", "/api/v1/webhooks", map[string]any{"name": "hook", "source": "github", "secret": "a2", "event_key_expression": "'x'"})
	})
}

func TestWebhookConcurrentReplaysStartOneRun(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		b.c.putWorkflow(simpleWorkflow("bill", "stripe:invoice.paid", "charge"))
		u := hookURL(t, b, b.c.must(201, "POST", "/api/v1/webhooks", map[string]any{
			"name": "stripe", "source": "stripe", "secret": stripeSecret, "event_key_expression": "'stripe:' + input.type",
		}))
		body := stripeEvent("evt_race", "invoice.paid", "cus_1")
		const n = 12
		var wg sync.WaitGroup
		results := make([]resp, n)
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				results[i] = deliver(t, u, stripeHeaders(stripeSecret, time.Now(), body), "application/json", []byte(body))
			}()
		}
		close(start)
		wg.Wait()
		ids := map[string]bool{}
		fresh := 0
		for _, r := range results {
			if r.status != 200 {
				t.Fatalf("concurrent delivery: %d %s", r.status, r.body)
			}
			m := r.json(t)
			ids[m["event"].(map[string]any)["id"].(string)] = true
			if m["duplicate"] == false {
				fresh++
			}
			if len(m["runs"].([]any)) != 1 {
				t.Fatalf("reply without the run: %s", r.body)
			}
		}
		if len(ids) != 1 || fresh != 1 {
			t.Fatalf("%d concurrent replays gave %d events, %d accepted as new; want 1 and 1", n, len(ids), fresh)
		}
		if runs := items(b.c.must(200, "GET", "/api/v1/runs", nil)); len(runs) != 1 {
			t.Fatalf("%d runs, want 1", len(runs))
		}
		outcomes := map[string]int{}
		for _, d := range deliveries(t, b.c, "stripe") {
			outcomes[d["outcome"].(string)]++
		}
		if outcomes["accepted"] != 1 || outcomes["duplicate"] != n-1 {
			t.Fatalf("delivery outcomes = %v", outcomes)
		}
	})
}

// syncBuffer is a buffer the engine's logger may write while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

func TestWebhookSecretsAreEncryptedAtRestAndNeverLogged(t *testing.T) {
	logs := &syncBuffer{}
	forEachStoreWith(t, testenv.Options{Log: logs}, func(t *testing.T, b *bundle) {
		secrets := map[string]map[string]any{
			"stripe":  {"source": "stripe", "secret": "whsec_STRIPEcanary7f3a9d2b1c"},
			"github":  {"source": "github", "secret": "GITHUBcanary4e8b2a9f1d"},
			"slack":   {"source": "slack", "secret": "SLACKcanary9c2e7b4a1f"},
			"svix":    {"source": "standard", "secret": "whsec_U1RBTkRBUkRjYW5hcnkzYjhmMWUyZA=="},
			"hmac":    {"source": "generic", "auth": map[string]any{"type": "hmac", "header": "X-Sig", "secret": "HMACcanary2d9f4b7e1a"}},
			"basic":   {"source": "generic", "auth": map[string]any{"type": "basic", "username": "u", "password": "BASICcanary8a1c3e5f7b"}},
			"api-key": {"source": "generic", "auth": map[string]any{"type": "api_key", "header": "X-Key", "key": "APIKEYcanary6b4d2f8a0c"}},
		}
		canaries := []string{"STRIPEcanary7f3a9d2b1c", "GITHUBcanary4e8b2a9f1d", "SLACKcanary9c2e7b4a1f", "U1RBTkRBUkRjYW5hcnkzYjhmMWUyZA",
			"STANDARDcanary3b8f1e2d", "HMACcanary2d9f4b7e1a", "BASICcanary8a1c3e5f7b", "APIKEYcanary6b4d2f8a0c"}
		var urls []string
		for name, m := range secrets {
			m["name"], m["event_key_expression"] = name, "'k'"
			urls = append(urls, hookURL(t, b, b.c.must(201, "POST", "/api/v1/webhooks", m)))
		}
		// Deliveries, good and bad, and an update that rotates a secret.
		b.c.must(200, "PATCH", "/api/v1/webhooks/github", map[string]any{"secret": "GITHUBcanary4e8b2a9f1d"})
		for _, u := range urls {
			deliver(t, u, http.Header{"X-Key": {"APIKEYcanary6b4d2f8a0c"}, "Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("u:BASICcanary8a1c3e5f7b"))}},
				"application/json", []byte(`{}`))
			deliver(t, u, http.Header{"X-Key": {"wrong"}}, "application/json", []byte(`{}`))
		}
		var dump []byte
		if b.dbURL == "" {
			for _, f := range []string{"herald.db", "herald.db-wal"} {
				data, err := os.ReadFile(filepath.Join(b.env.DataDir, f))
				if err != nil {
					t.Fatal(err)
				}
				dump = append(dump, data...)
			}
			st, err := os.Stat(filepath.Join(b.env.DataDir, "master.key"))
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("master key file: %v, %v; want it created with mode 0600", st, err)
			}
		} else {
			out, err := exec.Command("pg_dump", b.dbURL).CombinedOutput()
			if err != nil {
				t.Fatalf("pg_dump: %v: %s", err, out)
			}
			dump = out
		}
		if !bytes.Contains(dump, []byte("api-key")) || !bytes.Contains(dump, []byte("X-Sig")) {
			t.Fatal("the dump does not hold the webhooks at all; the check below would prove nothing")
		}
		// The database holds the sealed secrets and never a secret in clear (nor the base64
		// or hex of one).
		for _, s := range canaries {
			for _, form := range []string{s, base64.StdEncoding.EncodeToString([]byte(s)), hex.EncodeToString([]byte(s))} {
				if bytes.Contains(dump, []byte(form)) {
					t.Fatalf("the database dump holds secret %q", s)
				}
			}
		}
		// Nothing the API answers holds one, and no log line does.
		all := b.c.must(200, "GET", "/api/v1/webhooks", nil)
		for _, s := range canaries {
			if strings.Contains(fmt.Sprint(all), s) {
				t.Fatalf("the webhook list shows secret %q", s)
			}
			if bytes.Contains(logs.Bytes(), []byte(s)) {
				t.Fatalf("the logs hold secret %q", s)
			}
		}
		if len(logs.Bytes()) == 0 {
			t.Fatal("no logs captured; the check above would prove nothing")
		}
	})
}
