package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/heraldhq/herald/internal/store"
)

const webhookCols = `id, tenant_id, name, source, event_key_expression, scope_expression, dedupe_expression,
	static_payload, auth, secret, created_at, updated_at`

func scanWebhook(row store.Scanner) (store.Webhook, error) {
	var w store.Webhook
	var static sql.NullString
	var auth string
	var created, updated int64
	if err := row.Scan(&w.ID, &w.TenantID, &w.Name, &w.Source, &w.EventKeyExpression, &w.ScopeExpression, &w.DedupeExpression,
		&static, &auth, &w.SealedSecret, &created, &updated); err != nil {
		return w, err
	}
	if static.Valid {
		w.StaticPayload = json.RawMessage(static.String)
	}
	if err := json.Unmarshal([]byte(auth), &w.Auth); err != nil {
		return w, fmt.Errorf("decoding auth of webhook %s: %w", w.ID, err)
	}
	w.CreatedAt, w.UpdatedAt = fromMS(created), fromMS(updated)
	return w, nil
}

func webhookArgs(w store.Webhook) ([]any, error) {
	auth, err := json.Marshal(w.Auth)
	if err != nil {
		return nil, err
	}
	var static any
	if len(w.StaticPayload) > 0 {
		static = string(w.StaticPayload)
	}
	return []any{w.Source, w.EventKeyExpression, w.ScopeExpression, w.DedupeExpression, static, string(auth), w.SealedSecret,
		ms64(w.UpdatedAt)}, nil
}

// WebhookCreate implements store.Store.
func (s *Store) WebhookCreate(ctx context.Context, w store.Webhook) error {
	args, err := webhookArgs(w)
	if err != nil {
		return fmt.Errorf("creating webhook: %w", err)
	}
	return s.write(ctx, "creating webhook", func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO webhooks (source, event_key_expression, scope_expression, dedupe_expression,
			static_payload, auth, secret, updated_at, id, tenant_id, name, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			append(args, w.ID, w.TenantID, w.Name, ms64(w.CreatedAt))...)
		return err
	})
}

// WebhookGet implements store.Store.
func (s *Store) WebhookGet(ctx context.Context, tenantID, name string) (store.Webhook, error) {
	w, err := scanWebhook(s.r.QueryRowContext(ctx, `SELECT `+webhookCols+` FROM webhooks WHERE tenant_id = ? AND name = ?`, tenantID, name))
	return w, mapErr("getting webhook", err)
}

// WebhookList implements store.Store.
func (s *Store) WebhookList(ctx context.Context, tenantID string) ([]store.Webhook, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+webhookCols+` FROM webhooks WHERE tenant_id = ? ORDER BY name`, tenantID)
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
	return s.write(ctx, "updating webhook", func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, `UPDATE webhooks SET source = ?, event_key_expression = ?, scope_expression = ?,
			dedupe_expression = ?, static_payload = ?, auth = ?, secret = ?, updated_at = ? WHERE tenant_id = ? AND id = ?`,
			append(args, w.TenantID, w.ID)...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return store.ErrNotFound
		}
		return nil
	})
}

// WebhookDelete implements store.Store.
func (s *Store) WebhookDelete(ctx context.Context, tenantID, name string) error {
	return s.write(ctx, "deleting webhook", func(tx *wtx) error {
		var id string
		if err := tx.QueryRowContext(ctx, `SELECT id FROM webhooks WHERE tenant_id = ? AND name = ?`, tenantID, name).Scan(&id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE tenant_id = ? AND webhook_id = ?`, tenantID, id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM webhooks WHERE id = ?`, id)
		return err
	})
}

// hotStmts are the statements every webhook delivery runs, prepared once.
type hotStmts struct {
	webhookEvent *sql.Stmt
}

// hotStatements prepares the hot statements on first use (again after a failure).
func (s *Store) hotStatements(ctx context.Context) (*hotStmts, error) {
	s.hotMu.Lock()
	defer s.hotMu.Unlock()
	if s.hot.webhookEvent == nil {
		st, err := s.r.PrepareContext(ctx, `SELECT `+eventCols+` FROM events WHERE tenant_id = ? AND webhook = ? AND dedupe_id = ?`)
		if err != nil {
			return nil, err
		}
		s.hot.webhookEvent = st
	}
	return &s.hot, nil
}

// WebhookGetEvent implements store.Store. Every delivery with an id runs it, so its
// statement is prepared once.
func (s *Store) WebhookGetEvent(ctx context.Context, p store.WebhookGetEventParams) (store.Event, error) {
	hot, err := s.hotStatements(ctx)
	if err != nil {
		return store.Event{}, mapErr("getting webhook event", err)
	}
	e, err := scanEvent(hot.webhookEvent.QueryRowContext(ctx, p.TenantID, p.Webhook, p.DedupeID))
	return e, mapErr("getting webhook event", err)
}

const insertDeliverySQL = `INSERT INTO webhook_deliveries (id, tenant_id, webhook_id, received_at, verification, outcome,
	status_code, error, event_id, dedupe_id, body_bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

func deliveryArgs(d *store.WebhookDelivery) []any {
	return []any{d.ID, d.TenantID, d.WebhookID, ms64(d.ReceivedAt), d.Verification, d.Outcome, d.StatusCode, d.Error,
		nullStr(d.EventID), nullStr(d.DedupeID), d.BodyBytes}
}

// WebhookDeliveryList implements store.Store.
func (s *Store) WebhookDeliveryList(ctx context.Context, p store.DeliveryListParams) ([]store.WebhookDelivery, error) {
	q := `SELECT id, tenant_id, webhook_id, received_at, verification, outcome, status_code, error, event_id, dedupe_id, body_bytes
		FROM webhook_deliveries WHERE tenant_id = ? AND webhook_id = ?`
	args := []any{p.TenantID, p.WebhookID}
	if p.Filter.Before != "" {
		q, args = q+` AND id < ?`, append(args, p.Filter.Before)
	}
	rows, err := s.r.QueryContext(ctx, q+` ORDER BY id DESC LIMIT ?`, append(args, p.Filter.Limit)...)
	if err != nil {
		return nil, mapErr("listing deliveries", err)
	}
	out, err := collect(rows, func(r store.Scanner) (store.WebhookDelivery, error) {
		var d store.WebhookDelivery
		var received int64
		var event, dedupe sql.NullString
		err := r.Scan(&d.ID, &d.TenantID, &d.WebhookID, &received, &d.Verification, &d.Outcome, &d.StatusCode, &d.Error,
			&event, &dedupe, &d.BodyBytes)
		d.ReceivedAt, d.EventID, d.DedupeID = fromMS(received), event.String, dedupe.String
		return d, err
	})
	return out, mapErr("listing deliveries", err)
}

// WebhookDeliveryPrune implements store.Store.
func (s *Store) WebhookDeliveryPrune(ctx context.Context, p store.DeliveryPruneParams) (int, error) {
	p.Keep = max(p.Keep, 1)
	var n int64
	err := s.write(ctx, "pruning deliveries", func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE tenant_id = ? AND webhook_id = ? AND id <
			(SELECT id FROM webhook_deliveries WHERE tenant_id = ? AND webhook_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)`,
			p.TenantID, p.WebhookID, p.TenantID, p.WebhookID, p.Keep-1)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}
