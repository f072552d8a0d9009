package herald

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/heraldhq/herald/internal/wire"
)

// Webhook sources: the presets, which need only their signing secret, and generic,
// which takes an Auth.
const (
	// WebhookStripe verifies Stripe-Signature (t= and v1= HMAC-SHA256, 300 s tolerance).
	WebhookStripe = "stripe"
	// WebhookGitHub verifies X-Hub-Signature-256.
	WebhookGitHub = "github"
	// WebhookSlack verifies X-Slack-Signature over v0:<timestamp>:<body> (5 minutes) and
	// answers Slack's url_verification challenge.
	WebhookSlack = "slack"
	// WebhookStandard verifies Standard Webhooks (Svix): webhook-id, webhook-timestamp and
	// webhook-signature with a "whsec_" base64 secret.
	WebhookStandard = "standard"
	// WebhookGeneric verifies an HMAC header, basic auth or an API key, as its Auth says.
	WebhookGeneric = "generic"
)

// WebhookAuth is a generic webhook's authentication. Set Type and the fields it uses:
// "hmac" (Header, Secret, Algorithm sha1|sha256|sha512, Encoding hex|base64|base64url,
// optional Prefix such as "sha256="), "basic" (Username, Password) or "api_key" (Header,
// Key). The secret fields are sent to the engine and never shown again.
type WebhookAuth = wire.WebhookAuth

// WebhookParams describes a webhook to create.
type WebhookParams struct {
	// Name is unique within the tenant and part of the receive URL.
	Name string `json:"name"`
	// Source is one of the Webhook* source constants.
	Source string `json:"source"`
	// Secret is a preset's signing secret (Stripe's whole "whsec_..." string, GitHub's
	// secret, Slack's signing secret, a Standard Webhooks "whsec_..." secret).
	Secret string `json:"secret,omitempty"`
	// EventKeyExpression is a CEL expression over input (the body) and headers
	// (lower-case names) giving the event key, such as `'stripe:' + input.type`.
	EventKeyExpression string `json:"event_key_expression"`
	// ScopeExpression is an optional CEL expression giving the event's scope.
	ScopeExpression string `json:"scope_expression,omitempty"`
	// DedupeExpression is an optional CEL expression giving the delivery id; it replaces
	// the preset's (Stripe's event id, X-GitHub-Delivery, webhook-id).
	DedupeExpression string `json:"dedupe_expression,omitempty"`
	// StaticPayload is an optional object merged over each body; its values win.
	StaticPayload any `json:"static_payload,omitempty"`
	// Auth is the generic source's authentication.
	Auth *WebhookAuth `json:"auth,omitempty"`
}

// WebhookUpdate changes a webhook; nil fields keep their value. Rotating a secret is an
// update of Secret (presets) or of Auth (generic; Auth replaces the whole method, and its
// secret field may be left empty to keep the current secret).
type WebhookUpdate struct {
	Source             *string `json:"source,omitempty"`
	Secret             *string `json:"secret,omitempty"`
	EventKeyExpression *string `json:"event_key_expression,omitempty"`
	ScopeExpression    *string `json:"scope_expression,omitempty"`
	DedupeExpression   *string `json:"dedupe_expression,omitempty"`
	// StaticPayload replaces the static payload; json.RawMessage("null") removes it.
	StaticPayload json.RawMessage `json:"static_payload,omitempty"`
	Auth          *WebhookAuth    `json:"auth,omitempty"`
}

// WebhookInfo is a webhook as the engine shows it: never with its secret.
type WebhookInfo = wire.Webhook

// WebhookDelivery is the record of one request to a webhook's URL.
type WebhookDelivery = wire.WebhookDelivery

// DeliveryPage is one page of delivery records, newest first.
type DeliveryPage struct {
	Items      []WebhookDelivery
	NextCursor string
}

// ListDeliveriesParams pages ListWebhookDeliveries.
type ListDeliveriesParams struct {
	// Cursor is the NextCursor of the previous page; empty for the first page.
	Cursor string
	// Limit is the page size, 1–500. Default: 50.
	Limit int
}

// CreateWebhook creates a webhook of the caller's tenant. Its expressions are checked
// first: a bad one fails with a 400 APIError naming the field.
func (c *Client) CreateWebhook(ctx context.Context, p WebhookParams) (*WebhookInfo, error) {
	req := wire.WebhookSpec{Name: &p.Name, Source: &p.Source, EventKeyExpression: &p.EventKeyExpression,
		Secret: nonEmpty(p.Secret), ScopeExpression: nonEmpty(p.ScopeExpression), DedupeExpression: nonEmpty(p.DedupeExpression),
		Auth: p.Auth}
	payload, err := marshalInput("static_payload", p.StaticPayload)
	var reply wire.Webhook
	if err == nil {
		req.StaticPayload = payload
		err = c.call(ctx, http.MethodPost, "/webhooks", nil, req, &reply, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("herald: creating webhook %q: %w", p.Name, err)
	}
	return &reply, nil
}

// GetWebhook returns a webhook of the caller's tenant.
func (c *Client) GetWebhook(ctx context.Context, name string) (*WebhookInfo, error) {
	var reply wire.Webhook
	if err := c.call(ctx, http.MethodGet, "/webhooks/"+pathEscape(name), nil, nil, &reply, 0); err != nil {
		return nil, fmt.Errorf("herald: getting webhook %q: %w", name, err)
	}
	return &reply, nil
}

// ListWebhooks lists the caller's tenant's webhooks by name.
func (c *Client) ListWebhooks(ctx context.Context) ([]WebhookInfo, error) {
	var res wire.List[wire.Webhook]
	if err := c.call(ctx, http.MethodGet, "/webhooks", nil, nil, &res, 0); err != nil {
		return nil, fmt.Errorf("herald: listing webhooks: %w", err)
	}
	return res.Items, nil
}

// UpdateWebhook changes a webhook and returns it.
func (c *Client) UpdateWebhook(ctx context.Context, name string, u WebhookUpdate) (*WebhookInfo, error) {
	req := wire.WebhookSpec{Source: u.Source, Secret: u.Secret, EventKeyExpression: u.EventKeyExpression,
		ScopeExpression: u.ScopeExpression, DedupeExpression: u.DedupeExpression, StaticPayload: u.StaticPayload,
		Auth: u.Auth}
	var reply wire.Webhook
	if err := c.call(ctx, http.MethodPatch, "/webhooks/"+pathEscape(name), nil, req, &reply, 0); err != nil {
		return nil, fmt.Errorf("herald: updating webhook %q: %w", name, err)
	}
	return &reply, nil
}

// DeleteWebhook deletes a webhook and its delivery log; its URL then answers 404.
func (c *Client) DeleteWebhook(ctx context.Context, name string) error {
	if err := c.call(ctx, http.MethodDelete, "/webhooks/"+pathEscape(name), nil, nil, nil, 0); err != nil {
		return fmt.Errorf("herald: deleting webhook %q: %w", name, err)
	}
	return nil
}

// ListWebhookDeliveries lists a webhook's recent deliveries, newest first: what to look
// at first when a webhook "did nothing".
func (c *Client) ListWebhookDeliveries(ctx context.Context, name string, p ListDeliveriesParams) (*DeliveryPage, error) {
	var res wire.List[wire.WebhookDelivery]
	if err := c.call(ctx, http.MethodGet, "/webhooks/"+pathEscape(name)+"/deliveries", pageQuery(p.Cursor, p.Limit), nil, &res, 0); err != nil {
		return nil, fmt.Errorf("herald: listing deliveries of webhook %q: %w", name, err)
	}
	return &DeliveryPage{Items: res.Items, NextCursor: res.NextCursor}, nil
}
