package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

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
	// MaxScopeBytes bounds the scope an expression gives.
	MaxScopeBytes = 1024
	// MaxDedupeIDBytes bounds a delivery's deduplication id.
	MaxDedupeIDBytes = 255
)

// ErrNoMasterKey means the engine has no master key, so it can neither save nor use
// webhook secrets.
var ErrNoMasterKey = errors.New("no master key configured: webhook secrets cannot be encrypted")

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
	e.webhooks.forget(tenantID, name)
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
		w.SealedSecret = e.cfg.Secrets.Seal([]byte(*secret), secretAD(w))
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

// secretAD binds a sealed secret to its webhook: copied onto another row it does not open.
func secretAD(w store.Webhook) []byte {
	return []byte("herald webhook secret\x00" + w.TenantID + "\x00" + w.ID)
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
	e.webhooks.forget(tenantID, name)
	return err
}

// ListWebhookDeliveries lists a webhook's delivery records, newest first.
func (e *Engine) ListWebhookDeliveries(ctx context.Context, tenantID, name string, f store.DeliveryFilter) ([]store.WebhookDelivery, error) {
	w, err := e.store.WebhookGet(ctx, tenantID, name)
	if err != nil {
		return nil, err
	}
	return e.store.WebhookDeliveryList(ctx, tenantID, w.ID, f)
}

// WebhookRequest is one request to a webhook's URL.
type WebhookRequest struct {
	TenantID string
	Name     string
	Header   http.Header
	Body     io.Reader
	// MaxBytes is the largest body accepted; a larger one is refused with 413.
	MaxBytes int64
}

// WebhookReply is an accepted delivery: the event created (or, for a replay, the event the
// first delivery created) and its runs.
type WebhookReply struct {
	Event     store.Event
	Runs      []RunRef
	Duplicate bool
	// Challenge is set for Slack's url_verification request, which is answered with it and
	// creates no event.
	Challenge *string
}

// WebhookError is a refused delivery: the status to answer and why. Message is meant for
// the sender and says nothing about secrets or other tenants.
type WebhookError struct {
	Status  int
	Code    string
	Message string
	Field   string
}

// Error implements error.
func (e *WebhookError) Error() string { return e.Message }

// ReceiveWebhook verifies a delivery on its raw bytes, decodes it, evaluates the webhook's
// expressions and pushes the event through the normal ingest path: the event, its runs and
// the delivery record commit in one transaction. Every delivery to an existing webhook,
// accepted or refused, leaves a delivery record; a refused one leaves nothing else.
func (e *Engine) ReceiveWebhook(ctx context.Context, r WebhookRequest) (WebhookReply, error) {
	w, secret, cached, gen := e.webhooks.get(r.TenantID, r.Name)
	if !cached {
		var err error
		w, err = e.store.WebhookGet(ctx, r.TenantID, r.Name)
		if errors.Is(err, store.ErrNotFound) {
			return WebhookReply{}, &WebhookError{Status: http.StatusNotFound, Code: "not_found", Message: "no such webhook"}
		}
		if err != nil {
			return WebhookReply{}, err
		}
	}
	rec := store.WebhookDelivery{
		ID: NewID(), TenantID: w.TenantID, WebhookID: w.ID, ReceivedAt: e.now(),
		Verification: store.VerificationNotChecked, Outcome: store.DeliveryRefused,
	}
	// refuse records the refusal and returns the error the sender sees; an internal
	// problem is recorded in detail but shown to the sender as "internal error".
	refuse := func(status int, code, msg, field string) error {
		rec.StatusCode, rec.Error = status, msg
		e.recordDelivery(ctx, &rec)
		e.log.Debug("webhook delivery refused", "tenant_id", w.TenantID, "webhook", w.Name, "status", status, "error", msg)
		if status == http.StatusInternalServerError {
			msg, field = "internal error", ""
		}
		return &WebhookError{Status: status, Code: code, Message: msg, Field: field}
	}

	body, err := io.ReadAll(io.LimitReader(r.Body, r.MaxBytes+1))
	tooLarge := int64(len(body)) > r.MaxBytes
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// The server's read timeout passed; net/http has cancelled the request's context
			// with the failed read, but the refusal is still recorded.
			ctx = context.WithoutCancel(ctx)
			rec.BodyBytes = int64(len(body))
			return WebhookReply{}, refuse(http.StatusRequestTimeout, "request_timeout",
				"the body did not arrive within the server's read timeout", "")
		}
		if !errors.As(err, &mbe) {
			return WebhookReply{}, fmt.Errorf("reading webhook body: %w", err)
		}
		tooLarge = true
	}
	rec.BodyBytes = int64(len(body))
	if tooLarge {
		return WebhookReply{}, refuse(http.StatusRequestEntityTooLarge, "payload_too_large",
			fmt.Sprintf("body is larger than the limit of %d bytes", r.MaxBytes), "")
	}

	if !cached {
		var err error
		if secret, err = e.openSecret(w); err != nil {
			e.log.Error("cannot open a webhook secret", "tenant_id", w.TenantID, "webhook", w.Name, "err", err)
			return WebhookReply{}, refuse(http.StatusInternalServerError, "internal",
				"the webhook's secret cannot be decrypted: "+err.Error(), "")
		}
		e.webhooks.put(w, secret, gen)
	}
	scheme := webhook.Scheme{Source: w.Source, Auth: webhook.Auth(w.Auth), Secret: secret}
	if err := scheme.Verify(r.Header, body, time.Now()); err != nil {
		rec.Verification = store.VerificationFailed
		var ve *webhook.Error
		if errors.As(err, &ve) {
			return WebhookReply{}, refuse(http.StatusUnauthorized, "invalid_signature", ve.Msg, "")
		}
		return WebhookReply{}, refuse(http.StatusInternalServerError, "internal", "verifying: "+err.Error(), "")
	}
	rec.Verification = store.VerificationPassed

	decoded, err := webhook.DecodeBody(r.Header.Get("Content-Type"), body)
	if err != nil {
		return WebhookReply{}, refuse(http.StatusBadRequest, "malformed_body", err.Error(), "")
	}
	if w.Source == webhook.SourceSlack && decoded.Input["type"] == "url_verification" {
		ch, _ := decoded.Input["challenge"].(string)
		rec.Outcome, rec.StatusCode = store.DeliveryChallenge, http.StatusOK
		e.recordDelivery(ctx, &rec)
		return WebhookReply{Challenge: &ch}, nil
	}

	headers := webhook.Headers(r.Header, scheme.CredentialHeaders())
	key, err := e.exprs.Eval(ctx, w.EventKeyExpression, decoded.Input, headers)
	if err != nil && ctx.Err() != nil {
		// The sender went away: no answer, and nothing to record as its fault.
		return WebhookReply{}, fmt.Errorf("evaluating event_key_expression: %w", ctx.Err())
	}
	if err != nil {
		return WebhookReply{}, refuse(http.StatusUnprocessableEntity, "expression_failed", "event_key_expression: "+err.Error(), "event_key_expression")
	}
	if err := ValidateKey("event_key_expression", key); err != nil {
		var fe *FieldError
		errors.As(err, &fe)
		return WebhookReply{}, refuse(http.StatusUnprocessableEntity, "expression_failed",
			fmt.Sprintf("event_key_expression gave %q, which is not an event key: it %s", truncate(key, 300), fe.Message), "event_key_expression")
	}
	var scope string
	if w.ScopeExpression != "" {
		if scope, err = e.exprs.Eval(ctx, w.ScopeExpression, decoded.Input, headers); err != nil {
			if ctx.Err() != nil {
				return WebhookReply{}, fmt.Errorf("evaluating scope_expression: %w", ctx.Err())
			}
			return WebhookReply{}, refuse(http.StatusUnprocessableEntity, "expression_failed", "scope_expression: "+err.Error(), "scope_expression")
		}
		if len(scope) > MaxScopeBytes {
			return WebhookReply{}, refuse(http.StatusUnprocessableEntity, "expression_failed",
				fmt.Sprintf("scope_expression gave %d bytes; the limit is %d", len(scope), MaxScopeBytes), "scope_expression")
		}
		if !utf8.ValidString(scope) {
			// A header may carry any bytes; PostgreSQL's text refuses what is not UTF-8.
			return WebhookReply{}, refuse(http.StatusUnprocessableEntity, "expression_failed",
				"scope_expression gave text that is not valid UTF-8", "scope_expression")
		}
	}
	dedupe := presetDedupeID(w.Source, r.Header, decoded.Input)
	if w.DedupeExpression != "" {
		if dedupe, err = e.exprs.Eval(ctx, w.DedupeExpression, decoded.Input, headers); err != nil {
			if ctx.Err() != nil {
				return WebhookReply{}, fmt.Errorf("evaluating dedupe_expression: %w", ctx.Err())
			}
			return WebhookReply{}, refuse(http.StatusUnprocessableEntity, "expression_failed", "dedupe_expression: "+err.Error(), "dedupe_expression")
		}
	}
	if len(dedupe) > MaxDedupeIDBytes {
		return WebhookReply{}, refuse(http.StatusUnprocessableEntity, "expression_failed",
			fmt.Sprintf("the delivery id is %d bytes; the limit is %d", len(dedupe), MaxDedupeIDBytes), "dedupe_expression")
	}
	if !utf8.ValidString(dedupe) {
		// A header may carry any bytes; PostgreSQL's text refuses what is not UTF-8.
		return WebhookReply{}, refuse(http.StatusUnprocessableEntity, "expression_failed",
			"the delivery id is not valid UTF-8", "dedupe_expression")
	}
	// A replay is found by the unique (tenant, webhook, dedupe id) index when its event is
	// inserted, not by a lookup first: replays are rare, and the lookup would cost every
	// delivery a read.
	rec.DedupeID = dedupe
	payload, err := webhook.MergeStatic(decoded.Payload, w.StaticPayload)
	if err != nil {
		return WebhookReply{}, refuse(http.StatusInternalServerError, "internal", err.Error(), "")
	}

	rec.Outcome, rec.StatusCode = store.DeliveryAccepted, http.StatusOK
	res, err := e.Push(ctx, w.TenantID, []EventInput{{
		Key: key, Payload: payload, Scope: scope, Origin: FromWebhook(w.Name, dedupe, &rec),
	}}, false)
	var schemaErr *SchemaError
	switch {
	case err == nil:
		e.touchDeliveries(w.TenantID, w.ID)
		return WebhookReply{Event: res[0].Event, Runs: res[0].Runs}, nil
	case errors.Is(err, store.ErrConflict) && dedupe != "":
		// Another delivery with the same id committed first.
		ev, gerr := e.store.WebhookGetEvent(ctx, w.TenantID, w.Name, dedupe)
		if gerr != nil {
			return WebhookReply{}, errors.Join(err, gerr)
		}
		rec.ID = NewID()
		return e.duplicate(ctx, &rec, ev), nil
	case errors.As(err, &schemaErr):
		// The payload does not conform to the schema of its key: refused, nothing stored.
		rec.Outcome = store.DeliveryRefused
		return WebhookReply{}, refuse(http.StatusUnprocessableEntity, "schema_violation", err.Error(), schemaErr.Field)
	case isBadInput(err):
		rec.Outcome = store.DeliveryRefused
		return WebhookReply{}, refuse(http.StatusUnprocessableEntity, "invalid_event", err.Error(), "")
	}
	return WebhookReply{}, err
}

// duplicate records a replayed delivery and answers with the event the first one created.
func (e *Engine) duplicate(ctx context.Context, rec *store.WebhookDelivery, ev store.Event) WebhookReply {
	rec.Outcome, rec.StatusCode, rec.EventID = store.DeliveryDuplicate, http.StatusOK, ev.ID
	e.recordDelivery(ctx, rec)
	runs := []RunRef{}
	for _, t := range ev.Triggers {
		if t.RunID != "" {
			runs = append(runs, RunRef{Workflow: t.Workflow, Version: t.Version, RunID: t.RunID})
		}
	}
	return WebhookReply{Event: ev, Runs: runs, Duplicate: true}
}

// presetDedupeID is the delivery id a preset source sends: Stripe's event id, GitHub's
// X-GitHub-Delivery, Standard Webhooks' webhook-id, Slack's Events API event_id.
func presetDedupeID(source string, h http.Header, input map[string]any) string {
	switch source {
	case webhook.SourceStripe:
		id, _ := input["id"].(string)
		return id
	case webhook.SourceGitHub:
		return h.Get(webhook.HeaderGitHubDelivery)
	case webhook.SourceStandard:
		return h.Get(webhook.HeaderStandardID)
	case webhook.SourceSlack:
		id, _ := input["event_id"].(string)
		return id
	}
	return ""
}

// openSecret decrypts a webhook's secret.
func (e *Engine) openSecret(w store.Webhook) ([]byte, error) {
	if e.cfg.Secrets == nil {
		return nil, ErrNoMasterKey
	}
	return e.cfg.Secrets.Open(w.SealedSecret, secretAD(w))
}

// recordDelivery commits a delivery record alone (a refusal, a replay, a challenge)
// through the group-commit loop. A record that cannot be written is logged and dropped:
// the sender's answer does not depend on it.
func (e *Engine) recordDelivery(ctx context.Context, d *store.WebhookDelivery) {
	if err := e.commit(ctx, []store.IngestItem{{Delivery: d}}, 512); err != nil {
		e.log.Warn("recording a webhook delivery", "tenant_id", d.TenantID, "webhook_id", d.WebhookID, "err", err)
		return
	}
	e.touchDeliveries(d.TenantID, d.WebhookID)
}

// webhookKey names a webhook by tenant and name, as its URL does.
type webhookKey struct{ tenantID, name string }

// webhookCache keeps webhooks with their opened secrets for deliveries, so that a busy
// webhook is not read and decrypted per request. Entries expire after ttl (changes made
// through another replica); this replica's updates and deletes drop them at once.
type webhookCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[webhookKey]cachedWebhook
	// gen counts forgets: a webhook read before one is not cached after it.
	gen uint64
}

type cachedWebhook struct {
	w       store.Webhook
	secret  []byte
	expires time.Time
}

// get returns a cached webhook, or the generation to pass to put after reading it.
func (c *webhookCache) get(tenantID, name string) (store.Webhook, []byte, bool, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[webhookKey{tenantID, name}]
	if !ok || time.Now().After(e.expires) {
		return store.Webhook{}, nil, false, c.gen
	}
	return e.w, e.secret, true, c.gen
}

// put caches a webhook read at generation gen, unless one was forgotten since.
func (c *webhookCache) put(w store.Webhook, secret []byte, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.m) >= 10_000 {
		clear(c.m)
	}
	c.m[webhookKey{w.TenantID, w.Name}] = cachedWebhook{w: w, secret: secret, expires: time.Now().Add(c.ttl)}
}

func (c *webhookCache) forget(tenantID, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, webhookKey{tenantID, name})
	c.gen++
}

// deliveryLogKey names one webhook's delivery log.
type deliveryLogKey struct{ tenantID, webhookID string }

// touchDeliveries notes that a webhook's log grew, for the next prune.
func (e *Engine) touchDeliveries(tenantID, webhookID string) {
	e.deliveriesMu.Lock()
	e.deliveriesTouched[deliveryLogKey{tenantID, webhookID}] = struct{}{}
	e.deliveriesMu.Unlock()
}

// PruneDeliveryLogs trims the delivery log of every webhook that received deliveries
// since the last call to its newest WebhookDeliveryLog records. The sweeper calls it each
// interval, which bounds what unauthenticated senders can make the log grow to. A call
// waits for one in progress, so when it returns every earlier delivery has been pruned.
func (e *Engine) PruneDeliveryLogs(ctx context.Context) error {
	e.pruneMu.Lock()
	defer e.pruneMu.Unlock()
	e.deliveriesMu.Lock()
	touched := e.deliveriesTouched
	e.deliveriesTouched = map[deliveryLogKey]struct{}{}
	e.deliveriesMu.Unlock()
	var errs []error
	for k := range touched {
		if _, err := e.store.WebhookDeliveryPrune(ctx, k.tenantID, k.webhookID, e.cfg.WebhookDeliveryLog); err != nil {
			errs = append(errs, err)
			e.touchDeliveries(k.tenantID, k.webhookID) // try again next time
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("pruning webhook delivery logs: %w", err)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
