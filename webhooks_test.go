package herald_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/heraldhq/herald"
)

func TestWebhookClient(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := b.client

	_, err := c.CreateWebhook(b.ctx, herald.WebhookParams{Name: "bad", Source: herald.WebhookGitHub, Secret: "s", EventKeyExpression: "input."})
	var apiErr *herald.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Field != "event_key_expression" {
		t.Fatalf("bad expression: %v", err)
	}

	w, err := c.CreateWebhook(b.ctx, herald.WebhookParams{
		Name: "partner", Source: herald.WebhookGeneric, EventKeyExpression: "'partner:' + input.event",
		StaticPayload: map[string]any{"via": "partner"},
		Auth:          &herald.WebhookAuth{Type: "hmac", Header: "X-Signature", Secret: "first", Prefix: "sha256="},
	})
	if err != nil {
		t.Fatal(err)
	}
	if w.Auth == nil || w.Auth.Secret != "" || w.Auth.Algorithm != "sha256" || !strings.HasSuffix(w.URL, "/webhooks/partner") {
		t.Fatalf("created = %+v", w)
	}
	send := func(secret string) int {
		t.Helper()
		body := `{"event":"order.shipped"}`
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(body))
		req, _ := http.NewRequest("POST", w.URL, strings.NewReader(body))
		req.Header.Set("X-Signature", "sha256="+hex.EncodeToString(m.Sum(nil)))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if st := send("first"); st != 200 {
		t.Fatalf("delivery: %d", st)
	}

	// Rotate: Auth without its secret would keep it; with one, replaces it.
	drop := json.RawMessage("null")
	u, err := c.UpdateWebhook(b.ctx, "partner", herald.WebhookUpdate{
		Auth: &herald.WebhookAuth{Type: "hmac", Header: "X-Signature", Prefix: "sha256=", Secret: "second"}, StaticPayload: drop,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(u.StaticPayload) != 0 {
		t.Fatalf("static payload not removed: %s", u.StaticPayload)
	}
	if st := send("first"); st != 401 {
		t.Fatalf("old secret: %d", st)
	}
	if st := send("second"); st != 200 {
		t.Fatalf("new secret: %d", st)
	}

	page, err := c.ListWebhookDeliveries(b.ctx, "partner", herald.ListDeliveriesParams{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 2 || page.NextCursor == "" || page.Items[0].Outcome != "accepted" || page.Items[1].StatusCode != 401 {
		t.Fatalf("deliveries page = %+v", page)
	}
	ev, err := c.GetEvent(b.ctx, page.Items[0].EventID)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Source != "webhook" || ev.Webhook != "partner" || ev.Key != "partner:order.shipped" {
		t.Fatalf("event = %+v", ev)
	}

	ws, err := c.ListWebhooks(b.ctx)
	if err != nil || len(ws) != 1 || ws[0].Name != "partner" {
		t.Fatalf("list = %+v, %v", ws, err)
	}
	if err := c.DeleteWebhook(b.ctx, "partner"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetWebhook(b.ctx, "partner"); !errors.As(err, &apiErr) || apiErr.StatusCode != 404 {
		t.Fatalf("get after delete: %v", err)
	}
}
