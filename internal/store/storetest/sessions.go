package storetest

import (
	"crypto/sha256"
	"reflect"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// sessionHash is the hash of a session id.
func sessionHash(id string) []byte {
	h := sha256.Sum256([]byte(id))
	return h[:]
}

func testSessions(t *testing.T, open Opener) {
	b := setup(t, open)
	other := b.newTenant("globex")
	admin := newToken(b.tenant.ID, "admin", "adm", store.RoleAdmin)
	user := newToken(b.tenant.ID, "user", "usr", store.RoleMember)
	otherTok := newToken(other.ID, "user", "oth", store.RoleMember)
	for _, tk := range []store.Token{admin, user, otherTok} {
		noErr(t, b.s.TokenCreate(b.ctx, tk), "CreateToken")
	}
	s1 := store.Session{Hash: sessionHash("s1"), TenantID: b.tenant.ID, TokenID: admin.ID, CSRF: "csrf-1", CreatedAt: base, ExpiresAt: at(time.Hour)}
	s2 := store.Session{Hash: sessionHash("s2"), TenantID: b.tenant.ID, TokenID: user.ID, CSRF: "csrf-2", CreatedAt: base, ExpiresAt: at(time.Hour)}
	// A session whose tenant does not match its token's is never valid.
	bad := store.Session{Hash: sessionHash("bad"), TenantID: b.tenant.ID, TokenID: otherTok.ID, CSRF: "x", CreatedAt: base, ExpiresAt: at(time.Hour)}
	for _, s := range []store.Session{s1, s2, bad} {
		noErr(t, b.s.SessionCreate(b.ctx, s), "CreateSession")
	}
	wantErr(t, b.s.SessionCreate(b.ctx, s1), store.ErrConflict, "CreateSession(same hash)")

	got, err := b.s.SessionGet(b.ctx, s1.Hash, at(time1))
	noErr(t, err, "GetSession")
	want := s1
	want.TenantName, want.Role = "acme", store.RoleAdmin
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GetSession = %+v, want %+v", got, want)
	}
	got, err = b.s.SessionGet(b.ctx, s2.Hash, at(time1))
	noErr(t, err, "GetSession(user)")
	if got.Role != store.RoleMember || got.TokenID != user.ID || got.CSRF != "csrf-2" {
		t.Errorf("GetSession(user) = %+v", got)
	}

	_, err = b.s.SessionGet(b.ctx, s1.Hash, at(time.Hour))
	wantErr(t, err, store.ErrNotFound, "GetSession(expired)")
	_, err = b.s.SessionGet(b.ctx, sessionHash("nope"), base)
	wantErr(t, err, store.ErrNotFound, "GetSession(unknown)")
	_, err = b.s.SessionGet(b.ctx, bad.Hash, base)
	wantErr(t, err, store.ErrNotFound, "GetSession(token of another tenant)")

	noErr(t, b.s.TokenRevoke(b.ctx, store.TokenRevokeParams{TenantID: b.tenant.ID, ID: user.ID, At: at(time1)}), "RevokeToken")
	_, err = b.s.SessionGet(b.ctx, s2.Hash, at(2*time1))
	wantErr(t, err, store.ErrNotFound, "GetSession(revoked token)")

	noErr(t, b.s.SessionDelete(b.ctx, s1.Hash), "DeleteSession")
	_, err = b.s.SessionGet(b.ctx, s1.Hash, at(time1))
	wantErr(t, err, store.ErrNotFound, "GetSession(deleted)")
	noErr(t, b.s.SessionDelete(b.ctx, s1.Hash), "DeleteSession(again)")
}
