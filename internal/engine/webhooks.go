package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/webhook"
)

// Webhook limits and defaults.
const (
	// DefaultWebhookDeliveryLog is how many delivery records each webhook keeps.
	DefaultWebhookDeliveryLog = 10_000
	// MaxStaticPayloadBytes bounds a webhook's static payload.
	MaxStaticPayloadBytes = 64 << 10
	// MaxWebhookSecretBytes bounds a webhook secret, password or API key.
	MaxWebhookSecretBytes = 1024
	// MaxScopeBytes bounds an event's scope, given or from a webhook's expression.
	MaxScopeBytes = webhook.MaxScopeBytes
)

// ErrNoMasterKey means the engine has no master key, so it can neither save nor use
// webhook secrets.
var ErrNoMasterKey = webhook.ErrNoMasterKey

// WebhookSpec is a webhook definition as a user gives it. For a create, Name, Source,
// EventKeyExpression and the secret (Secret for presets, Auth for generic) are required;
// for an update, nil fields keep their current value.
type WebhookSpec struct {
	Name               *string
	Source             *string
	Secret             *string
	EventKeyExpression *string
	ScopeExpression    *string
	DedupeExpression   *string
	// StaticPayload is a JSON object merged over every delivery's body (static values win);
	// JSON null removes it, nil keeps it.
	StaticPayload json.RawMessage
	// Auth is the generic source's authentication. On update it replaces the current one
	// whole, except that its secret field may be left empty to keep the current secret
	// when the type does not change.
	Auth *WebhookAuthSpec
}

// WebhookAuthSpec is a generic webhook's authentication, secret included.
type WebhookAuthSpec struct {
	// Type is hmac, basic or api_key.
	Type string
	// Header carries the signature (hmac) or the key (api_key).
	Header string
	// Secret is the HMAC secret.
	Secret string
	// Algorithm is sha1, sha256 (default) or sha512.
	Algorithm string
	// Encoding is hex (default), base64 or base64url.
	Encoding string
	// Prefix precedes the signature in the header, such as "sha256=".
	Prefix string
	// Username and Password are the basic-auth credentials.
	Username string
	Password string
	// Key is the API key.
	Key string
}

// CreateWebhook validates and stores a new webhook of the tenant. Its expressions are
// compiled and type-checked first; its secret is stored encrypted.
func (e *Engine) CreateWebhook(ctx context.Context, tenantID string, spec WebhookSpec) (store.Webhook, error) {
	at := e.now()
	w, err := e.buildWebhook(tenantID, nil, spec, at)
	if err != nil {
		return store.Webhook{}, err
	}
	if err := e.store.WebhookCreate(ctx, w); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return store.Webhook{}, fmt.Errorf("a webhook named %q exists: %w", w.Name, store.ErrConflict)
		}
		return store.Webhook{}, err
	}
	return w, nil
}

// UpdateWebhook changes a webhook of the tenant; rotating its secret is an update.
func (e *Engine) UpdateWebhook(ctx context.Context, tenantID, name string, spec WebhookSpec) (store.Webhook, error) {
	cur, err := e.store.WebhookGet(ctx, tenantID, name)
	if err != nil {
		return store.Webhook{}, err
	}
	w, err := e.buildWebhook(tenantID, &cur, spec, e.now())
	if err != nil {
		return store.Webhook{}, err
	}
	if err := e.store.WebhookUpdate(ctx, w); err != nil {
		return store.Webhook{}, err
	}
	e.receiver.Forget(tenantID, name)
	return w, nil
}

// buildWebhook applies spec to cur (nil for a new webhook) and validates the result.
func (e *Engine) buildWebhook(tenantID string, cur *store.Webhook, spec WebhookSpec, at time.Time) (store.Webhook, error) {
	if e.cfg.Secrets == nil {
		return store.Webhook{}, ErrNoMasterKey
	}
	var w store.Webhook
	if cur == nil {
		if spec.Name == nil {
			return w, fieldErr("name", "is required")
		}
		if err := ValidateName("name", *spec.Name); err != nil {
			return w, err
		}
		w = store.Webhook{ID: NewID(), TenantID: tenantID, Name: *spec.Name, CreatedAt: at}
	} else {
		w = *cur
		if spec.Name != nil && *spec.Name != cur.Name {
			return w, fieldErr("name", "a webhook cannot be renamed (senders use its name in the URL); create a new one")
		}
	}
	w.UpdatedAt = at

	if spec.Source != nil {
		w.Source = *spec.Source
	}
	if !validSource(w.Source) {
		if w.Source == "" {
			return w, fieldErr("source", "is required: one of %s", strings.Join(webhook.Sources(), ", "))
		}
		return w, fieldErr("source", "must be one of %s, not %q", strings.Join(webhook.Sources(), ", "), w.Source)
	}
	sourceChanged := cur == nil || cur.Source != w.Source

	if spec.EventKeyExpression != nil {
		w.EventKeyExpression = *spec.EventKeyExpression
	}
	if w.EventKeyExpression == "" {
		return w, fieldErr("event_key_expression", "is required: a CEL expression giving the event key, such as 'stripe:' + input.type")
	}
	if spec.ScopeExpression != nil {
		w.ScopeExpression = *spec.ScopeExpression
	}
	if spec.DedupeExpression != nil {
		w.DedupeExpression = *spec.DedupeExpression
	}
	for _, x := range []struct{ field, expr string }{
		{"event_key_expression", w.EventKeyExpression},
		{"scope_expression", w.ScopeExpression},
		{"dedupe_expression", w.DedupeExpression},
	} {
		if x.expr == "" {
			continue
		}
		if err := CheckText(x.field, x.expr); err != nil {
			return w, err
		}
		if err := e.exprs.Check(x.expr); err != nil {
			return w, fieldErr(x.field, "%v", err)
		}
	}

	if spec.StaticPayload != nil {
		raw := bytes.TrimSpace(spec.StaticPayload)
		if bytes.Equal(raw, []byte("null")) {
			w.StaticPayload = nil
		} else {
			if len(raw) > MaxStaticPayloadBytes {
				return w, fieldErr("static_payload", "is %d bytes; the limit is %d", len(raw), MaxStaticPayloadBytes)
			}
			obj, err := jsonObject("static_payload", raw)
			if err != nil {
				return w, err
			}
			w.StaticPayload = obj
		}
	}

	secret, err := webhookSecret(&w, cur, spec, sourceChanged)
	if err != nil {
		return w, err
	}
	if secret != nil {
		if len(*secret) > MaxWebhookSecretBytes {
			return w, fieldErr(secretField(w), "is longer than %d bytes", MaxWebhookSecretBytes)
		}
		w.SealedSecret = e.cfg.Secrets.Seal([]byte(*secret), webhook.SecretAD(w))
	}
	return w, nil
}

func validSource(s string) bool {
	for _, v := range webhook.Sources() {
		if s == v {
			return true
		}
	}
	return false
}

// secretField names the field that carries w's secret.
func secretField(w store.Webhook) string {
	if w.Source != webhook.SourceGeneric {
		return "secret"
	}
	switch w.Auth.Type {
	case webhook.AuthBasic:
		return "auth.password"
	case webhook.AuthAPIKey:
		return "auth.key"
	}
	return "auth.secret"
}

// webhookSecret validates the secret and authentication settings of w (Auth is set on
// w) and returns the new secret, or nil to keep the current one.
func webhookSecret(w *store.Webhook, cur *store.Webhook, spec WebhookSpec, sourceChanged bool) (*string, error) {
	if w.Source != webhook.SourceGeneric {
		if spec.Auth != nil {
			return nil, fieldErr("auth", "is only for the generic source; %s needs only secret", w.Source)
		}
		w.Auth = store.WebhookAuth{}
		if spec.Secret == nil {
			if sourceChanged {
				return nil, fieldErr("secret", "is required: the signing secret %s shows you", w.Source)
			}
			return nil, nil
		}
		s := *spec.Secret
		switch {
		case s == "":
			return nil, fieldErr("secret", "must not be empty")
		case w.Source == webhook.SourceStripe && !strings.HasPrefix(s, webhook.StandardSecretPrefix):
			return nil, fieldErr("secret", "a Stripe signing secret starts with %q; paste it whole", webhook.StandardSecretPrefix)
		case w.Source == webhook.SourceStandard:
			if _, err := webhook.StandardKey(s); err != nil {
				return nil, fieldErr("secret", "%v", err)
			}
		}
		return &s, nil
	}

	if spec.Secret != nil {
		return nil, fieldErr("secret", "a generic webhook takes its secret in auth (auth.secret, auth.password or auth.key)")
	}
	if spec.Auth == nil {
		if sourceChanged {
			return nil, fieldErr("auth", "is required for the generic source: {\"type\": \"hmac\" | \"basic\" | \"api_key\", ...}")
		}
		return nil, nil
	}
	a := *spec.Auth
	typeChanged := sourceChanged || cur.Auth.Type != a.Type
	notFor := func(field, value string) error {
		if value != "" {
			return fieldErr("auth."+field, "is not used by %s authentication", a.Type)
		}
		return nil
	}
	var secret, secretName string
	switch a.Type {
	case webhook.AuthHMAC:
		if err := validHeader("auth.header", a.Header); err != nil {
			return nil, err
		}
		alg := strings.ReplaceAll(strings.ToLower(a.Algorithm), "-", "")
		if alg == "" {
			alg = webhook.AlgSHA256
		}
		if webhook.HashFunc(alg) == nil {
			return nil, fieldErr("auth.algorithm", "must be sha1, sha256 or sha512, not %q", a.Algorithm)
		}
		enc := strings.ToLower(a.Encoding)
		if enc == "" {
			enc = webhook.EncHex
		}
		if enc != webhook.EncHex && enc != webhook.EncBase64 && enc != webhook.EncBase64URL {
			return nil, fieldErr("auth.encoding", "must be hex, base64 or base64url, not %q", a.Encoding)
		}
		if len(a.Prefix) > 64 {
			return nil, fieldErr("auth.prefix", "is longer than 64 bytes")
		}
		if err := CheckText("auth.prefix", a.Prefix); err != nil {
			return nil, err
		}
		if err := errors.Join(notFor("username", a.Username), notFor("password", a.Password), notFor("key", a.Key)); err != nil {
			return nil, firstErr(err)
		}
		w.Auth = store.WebhookAuth{Type: a.Type, Header: a.Header, Algorithm: alg, Encoding: enc, Prefix: a.Prefix}
		secret, secretName = a.Secret, "secret"
	case webhook.AuthBasic:
		if a.Username == "" {
			return nil, fieldErr("auth.username", "is required")
		}
		if strings.ContainsAny(a.Username, ":\r\n") || len(a.Username) > 256 {
			return nil, fieldErr("auth.username", "must be at most 256 bytes without ':' or line breaks")
		}
		if err := CheckText("auth.username", a.Username); err != nil {
			return nil, err
		}
		if err := errors.Join(notFor("header", a.Header), notFor("secret", a.Secret), notFor("algorithm", a.Algorithm),
			notFor("encoding", a.Encoding), notFor("prefix", a.Prefix), notFor("key", a.Key)); err != nil {
			return nil, firstErr(err)
		}
		w.Auth = store.WebhookAuth{Type: a.Type, Username: a.Username}
		secret, secretName = a.Password, "password"
	case webhook.AuthAPIKey:
		if err := validHeader("auth.header", a.Header); err != nil {
			return nil, err
		}
		if err := errors.Join(notFor("secret", a.Secret), notFor("algorithm", a.Algorithm), notFor("encoding", a.Encoding),
			notFor("prefix", a.Prefix), notFor("username", a.Username), notFor("password", a.Password)); err != nil {
			return nil, firstErr(err)
		}
		w.Auth = store.WebhookAuth{Type: a.Type, Header: a.Header}
		secret, secretName = a.Key, "key"
	case "":
		return nil, fieldErr("auth.type", "is required: hmac, basic or api_key")
	default:
		return nil, fieldErr("auth.type", "must be hmac, basic or api_key, not %q", a.Type)
	}
	if secret == "" {
		if typeChanged {
			return nil, fieldErr("auth."+secretName, "is required")
		}
		return nil, nil
	}
	return &secret, nil
}

// firstErr returns the first of a joined error.
func firstErr(err error) error {
	if j, ok := err.(interface{ Unwrap() []error }); ok && len(j.Unwrap()) > 0 {
		return j.Unwrap()[0]
	}
	return err
}

// validHeader checks a header name: 1–128 bytes of A-Z a-z 0-9 and - _ .
func validHeader(field, h string) error {
	if h == "" {
		return fieldErr(field, "is required")
	}
	if len(h) > 128 {
		return fieldErr(field, "is longer than 128 bytes")
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fieldErr(field, "contains %q; a header name is A-Z a-z 0-9 - _ .", c)
		}
	}
	return nil
}

// GetWebhook returns a webhook of the tenant.
func (e *Engine) GetWebhook(ctx context.Context, tenantID, name string) (store.Webhook, error) {
	return e.store.WebhookGet(ctx, tenantID, name)
}

// ListWebhooks lists the tenant's webhooks.
func (e *Engine) ListWebhooks(ctx context.Context, tenantID string) ([]store.Webhook, error) {
	return e.store.WebhookList(ctx, tenantID)
}

// DeleteWebhook deletes a webhook of the tenant and its delivery log; its URL answers 404
// from then on.
func (e *Engine) DeleteWebhook(ctx context.Context, tenantID, name string) error {
	err := e.store.WebhookDelete(ctx, tenantID, name)
	e.receiver.Forget(tenantID, name)
	return err
}

// ListWebhookDeliveries lists a webhook's delivery records, newest first.
func (e *Engine) ListWebhookDeliveries(ctx context.Context, tenantID, name string, f store.DeliveryFilter) ([]store.WebhookDelivery, error) {
	w, err := e.store.WebhookGet(ctx, tenantID, name)
	if err != nil {
		return nil, err
	}
	return e.store.WebhookDeliveryList(ctx, store.DeliveryListParams{TenantID: tenantID, WebhookID: w.ID, Filter: f})
}

// webhookIngest is the ingest path as the webhook receiver sees it (webhook.Ingest).
type webhookIngest struct{ in *ingest }

// Push implements webhook.Ingest: the event, with its webhook origin, goes through the
// ingest path like any push, and the delivery record commits with it.
func (w webhookIngest) Push(ctx context.Context, ev webhook.Event, rec *store.WebhookDelivery) (webhook.Accepted, error) {
	res, err := w.in.Push(ctx, ev.TenantID, []EventInput{{
		Key: ev.Key, Payload: ev.Payload, Scope: ev.Scope, Origin: FromWebhook(ev.Webhook, ev.DedupeID, rec),
	}}, false)
	var schemaErr *SchemaError
	switch {
	case err == nil:
		return webhook.Accepted{Event: res[0].Event, Runs: res[0].Runs}, nil
	case errors.As(err, &schemaErr):
		// The payload does not conform to the schema of its key.
		return webhook.Accepted{}, &webhook.InvalidEventError{Code: "schema_violation", Field: schemaErr.Field, Err: err}
	case isBadInput(err):
		return webhook.Accepted{}, &webhook.InvalidEventError{Code: "invalid_event", Err: err}
	}
	return webhook.Accepted{}, err
}

// Record implements webhook.Ingest: a delivery record alone goes through group commit.
func (w webhookIngest) Record(ctx context.Context, rec *store.WebhookDelivery) error {
	return w.in.commit(ctx, []store.IngestItem{{Delivery: rec}}, 512)
}

// CheckKey implements webhook.Ingest with ValidateKey's rule.
func (webhookIngest) CheckKey(key string) error {
	var fe *FieldError
	if err := ValidateKey("key", key); errors.As(err, &fe) {
		return errors.New(fe.Message)
	} else if err != nil {
		return err
	}
	return nil
}
