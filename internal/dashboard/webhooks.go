package dashboard

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/heraldhq/herald/internal/engine"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/webhook"
)

// receiveURL is a webhook's public receive URL.
func (d *Dashboard) receiveURL(r *http.Request, w store.Webhook) string {
	base := d.cfg.PublicURL
	if base == "" {
		scheme := "http"
		if secure(r) {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	return strings.TrimRight(base, "/") + "/api/v1/tenants/" + url.PathEscape(w.TenantID) + "/webhooks/" + url.PathEscape(w.Name)
}

type webhookRow struct {
	store.Webhook
	URL string
}

func (d *Dashboard) webhooks(w http.ResponseWriter, r *http.Request, s *store.Session) error {
	ws, err := d.eng.ListWebhooks(r.Context(), s.TenantID)
	if err != nil {
		return err
	}
	rows := make([]webhookRow, len(ws))
	for i, wh := range ws {
		rows[i] = webhookRow{Webhook: wh, URL: d.receiveURL(r, wh)}
	}
	d.render(w, r, http.StatusOK, "webhooks", page{Title: "Webhooks", Nav: "webhooks", Session: s, Data: rows})
	return nil
}

type webhookData struct {
	Hook       webhookRow
	Deliveries []store.WebhookDelivery
	Next       string
}

func (d *Dashboard) webhook(w http.ResponseWriter, r *http.Request, s *store.Session) error {
	wh, err := d.eng.GetWebhook(r.Context(), s.TenantID, r.PathValue("name"))
	if err != nil {
		return err
	}
	ds, err := d.eng.ListWebhookDeliveries(r.Context(), s.TenantID, wh.Name, store.DeliveryFilter{Before: cursorParam(r, "before"), Limit: pageSize + 1})
	if err != nil {
		return err
	}
	data := webhookData{Hook: webhookRow{Webhook: wh, URL: d.receiveURL(r, wh)}}
	if len(ds) > pageSize {
		ds = ds[:pageSize]
		data.Next = query("before", ds[pageSize-1].ID)
	}
	data.Deliveries = ds
	d.render(w, r, http.StatusOK, "webhook", page{Title: "Webhook " + wh.Name, Nav: "webhooks", Session: s, Data: data})
	return nil
}

// webhookFormData is the create / edit form, as typed.
type webhookFormData struct {
	Editing                                       bool
	Name, Source, EventKey, Scope, Dedupe, Static string
	AuthType, Header, Algorithm, Encoding, Prefix string
	Username                                      string
	Sources, AuthTypes, Algorithms, Encodings     []string
	Error, ErrorField                             string
}

func newWebhookForm() webhookFormData {
	return webhookFormData{
		Sources: webhook.Sources(), AuthTypes: []string{"hmac", "basic", "api_key"},
		Algorithms: []string{"sha256", "sha1", "sha512"}, Encodings: []string{"hex", "base64", "base64url"},
	}
}

func (d *Dashboard) webhookForm(w http.ResponseWriter, r *http.Request, s *store.Session) error {
	f := newWebhookForm()
	title := "New webhook"
	if name := r.PathValue("name"); name != "" {
		wh, err := d.eng.GetWebhook(r.Context(), s.TenantID, name)
		if err != nil {
			return err
		}
		title = "Edit webhook " + name
		f.Editing, f.Name, f.Source, f.EventKey, f.Scope, f.Dedupe = true, wh.Name, wh.Source, wh.EventKeyExpression, wh.ScopeExpression, wh.DedupeExpression
		if len(wh.StaticPayload) > 0 {
			f.Static = jsonText(wh.StaticPayload)
		}
		f.AuthType, f.Header, f.Algorithm, f.Encoding, f.Prefix, f.Username = wh.Auth.Type, wh.Auth.Header, wh.Auth.Algorithm, wh.Auth.Encoding, wh.Auth.Prefix, wh.Auth.Username
	}
	d.render(w, r, http.StatusOK, "webhook_form", page{Title: title, Nav: "webhooks", Session: s, Data: f})
	return nil
}

func (d *Dashboard) saveWebhook(w http.ResponseWriter, r *http.Request, s *store.Session) error {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	editing := r.PathValue("name")
	v := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	f := newWebhookForm()
	f.Editing, f.Name, f.Source, f.EventKey, f.Scope, f.Dedupe, f.Static = editing != "", v("name"), v("source"), v("event_key_expression"),
		v("scope_expression"), v("dedupe_expression"), v("static_payload")
	f.AuthType, f.Header, f.Algorithm, f.Encoding, f.Prefix, f.Username = v("auth_type"), v("header"), v("algorithm"), v("encoding"), v("prefix"), v("username")
	if editing != "" {
		f.Name = editing
	}
	spec := engine.WebhookSpec{Name: &f.Name, Source: &f.Source, EventKeyExpression: &f.EventKey, ScopeExpression: &f.Scope, DedupeExpression: &f.Dedupe}
	secret := r.PostFormValue("secret")
	if f.Source == webhook.SourceGeneric {
		spec.Auth = &engine.WebhookAuthSpec{Type: f.AuthType, Header: f.Header, Algorithm: f.Algorithm, Encoding: f.Encoding, Prefix: f.Prefix,
			Username: f.Username}
		switch f.AuthType {
		case "basic":
			spec.Auth.Password = secret
		case "api_key":
			spec.Auth.Key = secret
		default:
			spec.Auth.Secret = secret
		}
	} else if secret != "" || editing == "" {
		spec.Secret = &secret
	}
	switch {
	case f.Static != "":
		if !json.Valid([]byte(f.Static)) {
			f.Error, f.ErrorField = "The static payload is not valid JSON.", "static_payload"
			d.render(w, r, http.StatusBadRequest, "webhook_form", page{Title: "Webhook", Nav: "webhooks", Session: s, Data: f})
			return nil
		}
		spec.StaticPayload = json.RawMessage(f.Static)
	case editing != "":
		spec.StaticPayload = json.RawMessage("null")
	}
	var err error
	if editing != "" {
		_, err = d.eng.UpdateWebhook(r.Context(), s.TenantID, editing, spec)
	} else {
		_, err = d.eng.CreateWebhook(r.Context(), s.TenantID, spec)
	}
	var fe *engine.FieldError
	var we *webhook.Refusal
	switch {
	case errors.As(err, &fe):
		f.Error, f.ErrorField = fe.Error(), fe.Field
	case errors.As(err, &we):
		f.Error, f.ErrorField = we.Message, we.Field
	case errors.Is(err, store.ErrConflict):
		f.Error = err.Error()
	case errors.Is(err, engine.ErrNoMasterKey):
		f.Error = "This server has no master key to encrypt webhook secrets (see herald serve --help)."
	case err != nil:
		return err
	}
	if f.Error != "" {
		d.render(w, r, http.StatusBadRequest, "webhook_form", page{Title: "Webhook", Nav: "webhooks", Session: s, Data: f})
		return nil
	}
	redirect(w, r, "/webhooks/"+url.PathEscape(f.Name), "Webhook saved.")
	return nil
}

func (d *Dashboard) deleteWebhook(w http.ResponseWriter, r *http.Request, s *store.Session) error {
	name := r.PathValue("name")
	if err := d.eng.DeleteWebhook(r.Context(), s.TenantID, name); err != nil {
		return err
	}
	redirect(w, r, "/webhooks", "Webhook "+name+" deleted; the events it created stay.")
	return nil
}
