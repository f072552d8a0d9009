package store

import (
	"time"
)

// This file holds the dashboard's session row. Statistics are in stats.go, retention in
// prune.go, ids in ids.go.

// Session is a signed-in dashboard session. Only the SHA-256 of its id is stored; it acts
// as its token's principal for as long as both are valid.
type Session struct {
	Hash       []byte
	TenantID   string
	TenantName string
	TokenID    string
	// Role is the role of the session's token.
	Role Role
	// CSRF is the session's anti-forgery token, required by every form it posts.
	CSRF      string
	CreatedAt time.Time
	ExpiresAt time.Time
}
