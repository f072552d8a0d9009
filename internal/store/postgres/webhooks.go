package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/store"
)

const webhookCols = `id, tenant_id, name, source, event_key_expression, scope_expression, dedupe_expression,
	static_payload, auth, secret, created_at, updated_at`

func scanWebhook(row pgx.Row) (store.Webhook, error) {
	var w store.Webhook
	var static, auth []byte
	if err := row.Scan(&w.ID, &w.TenantID, &w.Name, &w.Source, &w.EventKeyExpression, &w.ScopeExpression, &w.DedupeExpression,
		&static, &auth, &w.SealedSecret, &w.CreatedAt, &w.UpdatedAt); err != nil {
		return w, err
	}
	if static != nil {
		w.StaticPayload = json.RawMessage(static)
	}
	if err := json.Unmarshal(auth, &w.Auth); err != nil {
		return w, fmt.Errorf("decoding auth of webhook %s: %w", w.ID, err)
	}
	w.CreatedAt, w.UpdatedAt = w.CreatedAt.UTC(), w.UpdatedAt.UTC()
	return w, nil
}

func webhookArgs(w store.Webhook) ([]any, error) {
	auth, err := json.Marshal(w.Auth)
	if err != nil {
		return nil, err
	}
	var static any
	if len(w.StaticPayload) > 0 {
		static = w.StaticPayload
	}
	return []any{w.Source, w.EventKeyExpression, w.ScopeExpression, w.DedupeExpression, static, json.RawMessage(auth), w.SealedSecret,
		w.UpdatedAt}, nil
}

// WebhookCreate implements store.Store.
func (s *Store) WebhookCreate(ctx context.Context, w store.Webhook) error {
	args, err := webhookArgs(w)
	if err != nil {
		return fmt.Errorf("creating webhook: %w", err)
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO webhooks (source, event_key_expression, scope_expression, dedupe_expression,
		static_payload, auth, secret, updated_at, id, tenant_id, name, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		append(args, w.ID, w.TenantID, w.Name, w.CreatedAt)...)
	return mapErr("creating webhook", err)
}

// WebhookGet implements store.Store.
func (s *Store) WebhookGet(ctx context.Context, tenantID, name string) (store.Webhook, error) {
	w, err := scanWebhook(s.pool.QueryRow(ctx, `SELECT `+webhookCols+` FROM webhooks WHERE tenant_id = $1 AND name = $2`, tenantID, name))
	return w, mapErr("getting webhook", err)
}

// WebhookList implements store.Store.
func (s *Store) WebhookList(ctx context.Context, tenantID string) ([]store.Webhook, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+webhookCols+` FROM webhooks WHERE tenant_id = $1 ORDER BY name`, tenantID)
	if err != nil {
		return nil, mapErr("listing webhooks", err)
	}
	out, err := collect(rows, scanWebhook)
	return out, mapErr("listing webhooks", err)
}

// WebhookUpdate implements store.Store.
func (s *Store) WebhookUpdate(ctx context.Context, w store.Webhook) error {
	args, err := webhookArgs(w)
	if err != nil {
		return fmt.Errorf("updating webhook: %w", err)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE webhooks SET source = $1, event_key_expression = $2, scope_expression = $3,
		dedupe_expression = $4, static_payload = $5, auth = $6, secret = $7, updated_at = $8 WHERE tenant_id = $9 AND id = $10`,
		append(args, w.TenantID, w.ID)...)
	if err != nil {
		return mapErr("updating webhook", err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}

// WebhookDelete implements store.Store.
func (s *Store) WebhookDelete(ctx context.Context, tenantID, name string) error {
	return s.tx(ctx, "deleting webhook", func(tx pgx.Tx) error {
		var id string
		if err := tx.QueryRow(ctx, `DELETE FROM webhooks WHERE tenant_id = $1 AND name = $2 RETURNING id`, tenantID, name).Scan(&id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM webhook_deliveries WHERE tenant_id = $1 AND webhook_id = $2`, tenantID, id)
		return err
	})
}

// WebhookGetEvent implements store.Store.
func (s *Store) WebhookGetEvent(ctx context.Context, p store.WebhookGetEventParams) (store.Event, error) {
	e, err := scanEvent(s.pool.QueryRow(ctx, `SELECT `+eventCols+` FROM events
		WHERE tenant_id = $1 AND webhook = $2 AND dedupe_id = $3`, p.TenantID, p.Webhook, p.DedupeID))
	return e, mapErr("getting webhook event", err)
}

var deliveryCols = []string{"id", "tenant_id", "webhook_id", "received_at", "verification", "outcome", "status_code", "error",
	"event_id", "dedupe_id", "body_bytes"}

// deliveryTypes are the PostgreSQL types of deliveryCols.
var deliveryTypes = []string{"text", "text", "text", "timestamptz", "text", "text", "int", "text", "text", "text", "bigint"}

func deliveryRow(d *store.WebhookDelivery) []any {
	return []any{d.ID, d.TenantID, d.WebhookID, d.ReceivedAt, d.Verification, d.Outcome, d.StatusCode, d.Error,
		nullStr(d.EventID), nullStr(d.DedupeID), d.BodyBytes}
}

// WebhookDeliveryList implements store.Store.
func (s *Store) WebhookDeliveryList(ctx context.Context, p store.DeliveryListParams) ([]store.WebhookDelivery, error) {
	q := `SELECT id, tenant_id, webhook_id, received_at, verification, outcome, status_code, error, event_id, dedupe_id, body_bytes
		FROM webhook_deliveries WHERE tenant_id = $1 AND webhook_id = $2`
	args := []any{p.TenantID, p.WebhookID}
	if p.Filter.Before != "" {
		args = append(args, p.Filter.Before)
		q += fmt.Sprintf(` AND id < $%d`, len(args))
	}
	args = append(args, p.Filter.Limit)
	rows, err := s.pool.Query(ctx, q+fmt.Sprintf(` ORDER BY id DESC LIMIT $%d`, len(args)), args...)
	if err != nil {
		return nil, mapErr("listing deliveries", err)
	}
	out, err := collect(rows, func(row pgx.Row) (store.WebhookDelivery, error) {
		var d store.WebhookDelivery
		var event, dedupe *string
		err := row.Scan(&d.ID, &d.TenantID, &d.WebhookID, &d.ReceivedAt, &d.Verification, &d.Outcome, &d.StatusCode, &d.Error,
			&event, &dedupe, &d.BodyBytes)
		d.ReceivedAt, d.EventID, d.DedupeID = d.ReceivedAt.UTC(), deref(event), deref(dedupe)
		return d, err
	})
	return out, mapErr("listing deliveries", err)
}

// WebhookDeliveryPrune implements store.Store.
func (s *Store) WebhookDeliveryPrune(ctx context.Context, p store.DeliveryPruneParams) (int, error) {
	p.Keep = max(p.Keep, 1)
	tag, err := s.pool.Exec(ctx, `DELETE FROM webhook_deliveries WHERE tenant_id = $1 AND webhook_id = $2 AND id <
		(SELECT id FROM webhook_deliveries WHERE tenant_id = $1 AND webhook_id = $2 ORDER BY id DESC LIMIT 1 OFFSET $3)`,
		p.TenantID, p.WebhookID, p.Keep-1)
	if err != nil {
		return 0, mapErr("pruning deliveries", err)
	}
	return int(tag.RowsAffected()), nil
}
