package sqlite

import (
	"context"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// SessionCreate implements store.Store.
func (s *Store) SessionCreate(ctx context.Context, se store.Session) error {
	return s.write(ctx, "creating session", func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO dashboard_sessions (hash, tenant_id, token_id, csrf, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?)`, se.Hash, se.TenantID, se.TokenID, se.CSRF, ms64(se.CreatedAt), ms64(se.ExpiresAt))
		return err
	})
}

// SessionGet implements store.Store.
func (s *Store) SessionGet(ctx context.Context, hash []byte, now time.Time) (store.Session, error) {
	var se store.Session
	var created, expires int64
	err := s.r.QueryRowContext(ctx, `SELECT s.hash, s.tenant_id, t.name, s.token_id, k.role, s.csrf, s.created_at, s.expires_at
		FROM dashboard_sessions s JOIN api_tokens k ON k.id = s.token_id JOIN tenants t ON t.id = s.tenant_id
		WHERE s.hash = ? AND s.expires_at > ? AND k.revoked_at IS NULL AND k.tenant_id = s.tenant_id`, hash, ms64(now)).
		Scan(&se.Hash, &se.TenantID, &se.TenantName, &se.TokenID, &se.Role, &se.CSRF, &created, &expires)
	if err != nil {
		return se, mapErr("getting session", err)
	}
	se.CreatedAt, se.ExpiresAt = fromMS(created), fromMS(expires)
	return se, nil
}

// SessionDelete implements store.Store.
func (s *Store) SessionDelete(ctx context.Context, hash []byte) error {
	return s.write(ctx, "deleting session", func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM dashboard_sessions WHERE hash = ?`, hash)
		return err
	})
}
