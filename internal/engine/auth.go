package engine

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/heraldhq/herald/internal/store"
)

// TokenPrefix starts every API token secret.
const TokenPrefix = "hrld_"

// Principal is who a request acts as: a token of one tenant, with its role.
type Principal struct {
	TenantID   string
	TenantName string
	TokenID    string
	Role       store.Role
}

// rank orders the roles: each may do all that the roles below it may. Unknown roles rank 0.
func rank(r store.Role) int {
	switch r {
	case store.RoleOperator:
		return 3
	case store.RoleAdmin:
		return 2
	case store.RoleMember:
		return 1
	}
	return 0
}

// Has reports whether p's role is r or a role above it.
func (p Principal) Has(r store.Role) bool { return rank(r) > 0 && rank(p.Role) >= rank(r) }

// Require returns ErrPermission, saying that what needs role r, unless p has it.
func (p Principal) Require(r store.Role, what string) error {
	if p.Has(r) {
		return nil
	}
	return fmt.Errorf("%s needs %s: %w", what, roleToken(r), ErrPermission)
}

// roleToken names a token of role r in an error message.
func roleToken(r store.Role) string {
	switch r {
	case store.RoleOperator:
		return "an operator token"
	case store.RoleAdmin:
		return "a tenant admin token (or an operator token)"
	}
	return "a token"
}

// ParseRole reads a role's name; "" means a member.
func ParseRole(field, s string) (store.Role, error) {
	r := store.Role(s)
	if s == "" {
		r = store.RoleMember
	}
	if rank(r) == 0 {
		return "", fieldErr(field, "must be %q, %q or %q, not %q", store.RoleOperator, store.RoleAdmin, store.RoleMember, s)
	}
	return r, nil
}

// HashToken returns the SHA-256 of a token secret, which is all the store keeps.
func HashToken(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// newSecret returns a fresh token secret: the prefix and 32 random bytes.
func newSecret() string {
	b := make([]byte, 32)
	rand.Read(b) // never returns an error (crypto/rand documents it)
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// tokenReadTimeout bounds a store read of a token, which runs on behalf of every request
// waiting for it.
const tokenReadTimeout = 10 * time.Second

// tokenCache remembers verified tokens for ttl. Concurrent misses of one token share a
// single store read (lookups), so an entry expiring under load costs one query, not one
// per request in flight (each of which would also hold a connection of the pool).
//
// A revocation through this engine moves gen: reads begun before it are neither shared
// with later callers (their key names the generation) nor cached, so a token revoked here
// is refused at once even while a read of it that began earlier is still running.
type tokenCache struct {
	ttl     time.Duration
	readFor time.Duration // bound of one store read (tokenReadTimeout)
	mu      sync.Mutex
	m       map[string]cachedToken // by hash
	gen     atomic.Uint64
	lookups singleflight.Group // by generation and hash
}

type cachedToken struct {
	p       Principal
	hash    []byte
	expires time.Time
}

func newTokenCache(ttl time.Duration) *tokenCache {
	return &tokenCache{ttl: ttl, readFor: tokenReadTimeout, m: map[string]cachedToken{}}
}

// Authenticate resolves a bearer token secret to its principal.
func (e *Engine) Authenticate(ctx context.Context, secret string) (Principal, error) {
	if secret == "" || len(secret) > 256 {
		return Principal{}, ErrUnauthenticated
	}
	hash := HashToken(secret)
	k := string(hash)
	if p, ok := e.tokens.get(k, hash); ok {
		return p, nil
	}
	// One read per generation and token, shared by every caller that misses meanwhile. It
	// checks the cache again and fills it before it ends, so a caller that missed just
	// before an earlier read finished finds that read's answer instead of reading again.
	// The read runs on behalf of every caller, so one caller giving up does not cancel it;
	// it is bounded instead, so that a database that stops answering fails it (503) and
	// the next caller reads again, rather than every later caller joining a read that
	// hangs.
	gen := e.tokens.gen.Load()
	ch := e.tokens.lookups.DoChan(strconv.FormatUint(gen, 10)+":"+k, func() (any, error) {
		if p, ok := e.tokens.get(k, hash); ok {
			return p, nil
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.tokens.readFor)
		defer cancel()
		tok, err := e.store.TokenGetByHash(rctx, hash)
		if err != nil {
			return nil, err
		}
		if subtle.ConstantTimeCompare(tok.Hash, hash) != 1 {
			return nil, store.ErrNotFound
		}
		p := Principal{TenantID: tok.TenantID, TenantName: tok.TenantName, TokenID: tok.ID, Role: tok.Role}
		e.tokens.put(k, hash, p, gen)
		return p, nil
	})
	select {
	case r := <-ch:
		if errors.Is(r.Err, store.ErrNotFound) {
			return Principal{}, ErrUnauthenticated
		}
		if r.Err != nil {
			return Principal{}, r.Err
		}
		return r.Val.(Principal), nil
	case <-ctx.Done():
		return Principal{}, ctx.Err()
	}
}

// get returns the cached principal of the token k (its hash), if it has not expired.
func (c *tokenCache) get(k string, hash []byte) (Principal, bool) {
	c.mu.Lock()
	t, ok := c.m[k]
	c.mu.Unlock()
	if ok && time.Now().Before(t.expires) && subtle.ConstantTimeCompare(t.hash, hash) == 1 {
		return t.p, true
	}
	return Principal{}, false
}

// put caches p for the token k, unless a revocation happened since generation gen began.
func (c *tokenCache) put(k string, hash []byte, p Principal, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen.Load() != gen {
		return
	}
	if len(c.m) > 10000 {
		clear(c.m)
	}
	c.m[k] = cachedToken{p: p, hash: hash, expires: time.Now().Add(c.ttl)}
}

// TokenInput describes a token to create.
type TokenInput struct {
	// Name labels the token.
	Name string
	// Tenant names the token's tenant; "" is the caller's. Another tenant needs an
	// operator.
	Tenant string
	// Role is the token's role; "" is a member. No token makes one of a role above its
	// own.
	Role store.Role
}

// CreateToken creates a token: a tenant admin for its own tenant, an operator for any
// tenant; neither of a role above its own. It returns the token and its secret, shown only
// this once.
func (e *Engine) CreateToken(ctx context.Context, p Principal, in TokenInput) (store.Token, string, error) {
	role, err := ParseRole("role", string(in.Role))
	if err != nil {
		return store.Token{}, "", err
	}
	if err := p.Require(store.RoleAdmin, "creating tokens"); err != nil {
		return store.Token{}, "", err
	}
	if err := p.Require(role, "creating "+string(role)+" tokens"); err != nil {
		return store.Token{}, "", err
	}
	tenantID, tname, err := e.tokenTenant(ctx, p, in.Tenant)
	if err != nil {
		return store.Token{}, "", err
	}
	if err := ValidateName("name", in.Name); err != nil {
		return store.Token{}, "", err
	}
	return e.createToken(ctx, tenantID, tname, in.Name, role)
}

// tokenTenant resolves the tenant a token call acts on: the caller's own when name is
// empty or names it, any other only for an operator. The refusal does not depend on
// whether that tenant exists.
func (e *Engine) tokenTenant(ctx context.Context, p Principal, name string) (id, tname string, err error) {
	if name == "" || name == p.TenantName {
		return p.TenantID, p.TenantName, nil
	}
	if err := p.Require(store.RoleOperator, "acting on another tenant's tokens"); err != nil {
		return "", "", err
	}
	t, err := e.store.TenantGetByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return "", "", fieldErr("tenant", "no tenant named %q", name)
	}
	if err != nil {
		return "", "", err
	}
	return t.ID, t.Name, nil
}

func (e *Engine) createToken(ctx context.Context, tenantID, tenantName, name string, role store.Role) (store.Token, string, error) {
	secret := newSecret()
	tok := store.Token{ID: NewID(), TenantID: tenantID, TenantName: tenantName, Name: name, Hash: HashToken(secret), Role: role, CreatedAt: e.now()}
	if err := e.store.TokenCreate(ctx, tok); err != nil {
		return store.Token{}, "", err
	}
	return tok, secret, nil
}

// ListTokens lists the tokens of the caller's tenant, or, for an operator, of the tenant
// named (see tokenTenant); revoked ones included.
func (e *Engine) ListTokens(ctx context.Context, p Principal, tenant string) ([]store.Token, error) {
	tenantID, _, err := e.tokenTenant(ctx, p, tenant)
	if err != nil {
		return nil, err
	}
	return e.store.TokenList(ctx, tenantID)
}

// RevokeToken revokes a token of the caller's tenant, or, for an operator, of the tenant
// named (see tokenTenant); it takes effect at once. Any token may revoke itself; revoking
// another needs a tenant admin, and one of a role above the caller's (an operator token,
// for a tenant admin) is refused. Another tenant's token is not found.
func (e *Engine) RevokeToken(ctx context.Context, p Principal, tenant, id string) error {
	tenantID, _, err := e.tokenTenant(ctx, p, tenant)
	if err != nil {
		return err
	}
	tok, err := e.store.TokenGet(ctx, tenantID, id)
	if err != nil {
		return err
	}
	if tok.ID != p.TokenID {
		if err := p.Require(store.RoleAdmin, "revoking another token"); err != nil {
			return err
		}
		if err := p.Require(tok.Role, "revoking "+string(tok.Role)+" tokens"); err != nil {
			return err
		}
	}
	if err := e.store.TokenRevoke(ctx, store.TokenRevokeParams{TenantID: tenantID, ID: id, At: e.now()}); err != nil {
		return err
	}
	e.tokens.mu.Lock()
	e.tokens.gen.Add(1)
	for k, c := range e.tokens.m {
		if c.p.TokenID == id {
			delete(e.tokens.m, k)
		}
	}
	e.tokens.mu.Unlock()
	return nil
}

// CreateTenant creates a tenant (operators only).
func (e *Engine) CreateTenant(ctx context.Context, p Principal, name string) (store.Tenant, error) {
	if err := p.Require(store.RoleOperator, "creating tenants"); err != nil {
		return store.Tenant{}, err
	}
	if err := ValidateName("name", name); err != nil {
		return store.Tenant{}, err
	}
	t := store.Tenant{ID: NewID(), Name: name, CreatedAt: e.now()}
	if err := e.store.TenantCreate(ctx, t); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return t, fmt.Errorf("a tenant named %q exists: %w", name, store.ErrConflict)
		}
		return t, err
	}
	return t, nil
}

// ListTenants lists tenants (operators only).
func (e *Engine) ListTenants(ctx context.Context, p Principal) ([]store.Tenant, error) {
	if err := p.Require(store.RoleOperator, "listing tenants"); err != nil {
		return nil, err
	}
	return e.store.TenantList(ctx)
}

// DefaultTenant is the tenant created on first start.
const DefaultTenant = "default"

// Bootstrap creates the default tenant and an operator token in it on first start. It
// returns the new token's secret, or "" when the default tenant already existed.
func (e *Engine) Bootstrap(ctx context.Context) (string, error) {
	_, err := e.store.TenantGetByName(ctx, DefaultTenant)
	if err == nil {
		return "", nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("looking up default tenant: %w", err)
	}
	t := store.Tenant{ID: NewID(), Name: DefaultTenant, CreatedAt: e.now()}
	if err := e.store.TenantCreate(ctx, t); err != nil {
		if errors.Is(err, store.ErrConflict) { // another replica won the race
			return "", nil
		}
		return "", fmt.Errorf("creating default tenant: %w", err)
	}
	_, secret, err := e.createToken(ctx, t.ID, t.Name, "operator", store.RoleOperator)
	if err != nil {
		return "", fmt.Errorf("creating operator token: %w", err)
	}
	return secret, nil
}

// BearerToken extracts the secret from an Authorization header value.
func BearerToken(h string) string {
	const p = "Bearer "
	if len(h) > len(p) && strings.EqualFold(h[:len(p)], p) {
		return strings.TrimSpace(h[len(p):])
	}
	return ""
}
