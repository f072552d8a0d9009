package api

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/heraldhq/herald/internal/engine"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/webhook"
	"github.com/heraldhq/herald/internal/wire"
)

// webhookSpec is a webhook as the engine takes it.
func webhookSpec(in wire.WebhookSpec) engine.WebhookSpec {
	s := engine.WebhookSpec{
		Name: in.Name, Source: in.Source, Secret: in.Secret, EventKeyExpression: in.EventKeyExpression,
		ScopeExpression: in.ScopeExpression, DedupeExpression: in.DedupeExpression, StaticPayload: in.StaticPayload,
	}
	if a := in.Auth; a != nil {
		s.Auth = &engine.WebhookAuthSpec{
			Type: a.Type, Header: a.Header, Secret: a.Secret, Algorithm: a.Algorithm, Encoding: a.Encoding,
			Prefix: a.Prefix, Username: a.Username, Password: a.Password, Key: a.Key,
		}
	}
	return s
}

func (a *API) toWebhook(r *http.Request, w store.Webhook) wire.Webhook {
	out := wire.Webhook{
		Name: w.Name, Source: w.Source, URL: a.webhookURL(r, w.TenantID, w.Name), EventKeyExpression: w.EventKeyExpression,
		ScopeExpression: w.ScopeExpression, DedupeExpression: w.DedupeExpression, StaticPayload: w.StaticPayload,
		CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt,
	}
	if w.Auth.Type != "" {
		out.Auth = &wire.WebhookAuth{Type: w.Auth.Type, Header: w.Auth.Header, Algorithm: w.Auth.Algorithm,
			Encoding: w.Auth.Encoding, Prefix: w.Auth.Prefix, Username: w.Auth.Username}
	}
	return out
}

// webhookURL is the full receive URL: the configured public URL, or else the scheme and
// host the caller reached this API through.
func (a *API) webhookURL(r *http.Request, tenantID, name string) string {
	base := a.cfg.PublicURL
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	return strings.TrimRight(base, "/") + "/api/v1/tenants/" + url.PathEscape(tenantID) + "/webhooks/" + url.PathEscape(name)
}

func (a *API) createWebhook(w http.ResponseWriter, r *http.Request, p engine.Principal) error {
	var in wire.WebhookSpec
	if err := decode(r, w, 1<<20, &in, false); err != nil {
		return err
	}
	wh, err := a.eng.CreateWebhook(r.Context(), p.TenantID, webhookSpec(in))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, a.toWebhook(r, wh))
	return nil
}

func (a *API) listWebhooks(w http.ResponseWriter, r *http.Request, p engine.Principal) error {
	whs, err := a.eng.ListWebhooks(r.Context(), p.TenantID)
	if err != nil {
		return err
	}
	out := wire.List[wire.Webhook]{Items: []wire.Webhook{}}
	for _, wh := range whs {
		out.Items = append(out.Items, a.toWebhook(r, wh))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) getWebhook(w http.ResponseWriter, r *http.Request, p engine.Principal) error {
	wh, err := a.eng.GetWebhook(r.Context(), p.TenantID, r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a.toWebhook(r, wh))
	return nil
}

func (a *API) updateWebhook(w http.ResponseWriter, r *http.Request, p engine.Principal) error {
	var in wire.WebhookSpec
	if err := decode(r, w, 1<<20, &in, false); err != nil {
		return err
	}
	wh, err := a.eng.UpdateWebhook(r.Context(), p.TenantID, r.PathValue("name"), webhookSpec(in))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a.toWebhook(r, wh))
	return nil
}

func (a *API) deleteWebhook(w http.ResponseWriter, r *http.Request, p engine.Principal) error {
	if err := a.eng.DeleteWebhook(r.Context(), p.TenantID, r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func toDelivery(d store.WebhookDelivery) wire.WebhookDelivery {
	return wire.WebhookDelivery{
		ID: d.ID, ReceivedAt: d.ReceivedAt, Verification: d.Verification, Outcome: d.Outcome, StatusCode: d.StatusCode,
		Error: d.Error, EventID: d.EventID, DedupeID: d.DedupeID, BodyBytes: d.BodyBytes,
	}
}

func (a *API) listDeliveries(w http.ResponseWriter, r *http.Request, p engine.Principal) error {
	before, limit, err := page(r)
	if err != nil {
		return err
	}
	ds, err := a.eng.ListWebhookDeliveries(r.Context(), p.TenantID, r.PathValue("name"), store.DeliveryFilter{Before: before, Limit: limit + 1})
	if err != nil {
		return err
	}
	writePage(w, ds, limit, func(d store.WebhookDelivery) string { return d.ID }, toDelivery)
	return nil
}

// receiveWebhook is a third-party sender's delivery. It needs no token: the webhook's
// signature or credentials authenticate it.
func (a *API) receiveWebhook(w http.ResponseWriter, r *http.Request) {
	rep, err := a.eng.Webhooks().Receive(r.Context(), webhook.Request{
		TenantID: r.PathValue("tenant_id"), Name: r.PathValue("name"), Header: r.Header,
		Body: http.MaxBytesReader(w, r.Body, a.cfg.MaxWebhookBodyBytes), MaxBytes: a.cfg.MaxWebhookBodyBytes,
	})
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	if rep.Challenge != nil {
		writeJSON(w, http.StatusOK, wire.WebhookChallenge{Challenge: *rep.Challenge})
		return
	}
	writeJSON(w, http.StatusOK, wire.PushReply{Event: toEvent(rep.Event), Runs: rep.Runs, Duplicate: rep.Duplicate})
}
