package postgres

import (
	"context"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// SessionCreate implements store.Store.
func (s *Store) SessionCreate(ctx context.Context, se store.Session) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO dashboard_sessions (hash, tenant_id, token_id, csrf, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, se.Hash, se.TenantID, se.TokenID, se.CSRF, se.CreatedAt, se.ExpiresAt)
	return mapErr("creating session", err)
}

// SessionGet implements store.Store.
func (s *Store) SessionGet(ctx context.Context, hash []byte, now time.Time) (store.Session, error) {
	var se store.Session
	err := s.pool.QueryRow(ctx, `SELECT s.hash, s.tenant_id, t.name, s.token_id, k.role, s.csrf, s.created_at, s.expires_at
		FROM dashboard_sessions s JOIN api_tokens k ON k.id = s.token_id JOIN tenants t ON t.id = s.tenant_id
		WHERE s.hash = $1 AND s.expires_at > $2 AND k.revoked_at IS NULL AND k.tenant_id = s.tenant_id`, hash, now).
		Scan(&se.Hash, &se.TenantID, &se.TenantName, &se.TokenID, &se.Role, &se.CSRF, &se.CreatedAt, &se.ExpiresAt)
	if err != nil {
		return se, mapErr("getting session", err)
	}
	se.CreatedAt, se.ExpiresAt = se.CreatedAt.UTC(), se.ExpiresAt.UTC()
	return se, nil
}

// SessionDelete implements store.Store.
func (s *Store) SessionDelete(ctx context.Context, hash []byte) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM dashboard_sessions WHERE hash = $1`, hash)
	return mapErr("deleting session", err)
}
