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

// Principal is who a request acts as: a token of one tenant.
type Principal struct {
	TenantID   string
	TenantName string
	TokenID    string
	Admin      bool
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
		tok, err := e.store.GetTokenByHash(rctx, hash)
		if err != nil {
			return nil, err
		}
		if subtle.ConstantTimeCompare(tok.Hash, hash) != 1 {
			return nil, store.ErrNotFound
		}
		p := Principal{TenantID: tok.TenantID, TenantName: tok.TenantName, TokenID: tok.ID, Admin: tok.Admin}
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

// CreateToken creates a token for the caller's tenant, or, for an admin, for any tenant
// and possibly an admin one. It returns the token and its secret, shown only this once.
func (e *Engine) CreateToken(ctx context.Context, p Principal, name, tenantName string, admin bool) (store.Token, string, error) {
	if err := ValidateName("name", name); err != nil {
		return store.Token{}, "", err
	}
	tenantID, tname := p.TenantID, p.TenantName
	if (tenantName != "" && tenantName != p.TenantName) || admin {
		if !p.Admin {
			return store.Token{}, "", fmt.Errorf("creating tokens for other tenants or admin tokens: %w", ErrPermission)
		}
	}
	if tenantName != "" && tenantName != p.TenantName {
		t, err := e.store.GetTenantByName(ctx, tenantName)
		if errors.Is(err, store.ErrNotFound) {
			return store.Token{}, "", fieldErr("tenant", "no tenant named %q", tenantName)
		}
		if err != nil {
			return store.Token{}, "", err
		}
		tenantID, tname = t.ID, t.Name
	}
	return e.createToken(ctx, tenantID, tname, name, admin)
}

func (e *Engine) createToken(ctx context.Context, tenantID, tenantName, name string, admin bool) (store.Token, string, error) {
	secret := newSecret()
	tok := store.Token{ID: NewID(), TenantID: tenantID, TenantName: tenantName, Name: name, Hash: HashToken(secret), Admin: admin, CreatedAt: now()}
	if err := e.store.CreateToken(ctx, tok); err != nil {
		return store.Token{}, "", err
	}
	return tok, secret, nil
}

// RevokeToken revokes a token of the caller's tenant; it takes effect at once.
func (e *Engine) RevokeToken(ctx context.Context, p Principal, id string) error {
	if err := e.store.RevokeToken(ctx, p.TenantID, id, now()); err != nil {
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

// CreateTenant creates a tenant (admin only).
func (e *Engine) CreateTenant(ctx context.Context, p Principal, name string) (store.Tenant, error) {
	if !p.Admin {
		return store.Tenant{}, fmt.Errorf("creating tenants: %w", ErrPermission)
	}
	if err := ValidateName("name", name); err != nil {
		return store.Tenant{}, err
	}
	t := store.Tenant{ID: NewID(), Name: name, CreatedAt: now()}
	if err := e.store.CreateTenant(ctx, t); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return t, fmt.Errorf("a tenant named %q exists: %w", name, store.ErrConflict)
		}
		return t, err
	}
	return t, nil
}

// ListTenants lists tenants (admin only).
func (e *Engine) ListTenants(ctx context.Context, p Principal) ([]store.Tenant, error) {
	if !p.Admin {
		return nil, fmt.Errorf("listing tenants: %w", ErrPermission)
	}
	return e.store.ListTenants(ctx)
}

// DefaultTenant is the tenant created on first start.
const DefaultTenant = "default"

// Bootstrap creates the default tenant and an admin token on first start. It returns the
// new token's secret, or "" when the default tenant already existed.
func (e *Engine) Bootstrap(ctx context.Context) (string, error) {
	_, err := e.store.GetTenantByName(ctx, DefaultTenant)
	if err == nil {
		return "", nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("looking up default tenant: %w", err)
	}
	t := store.Tenant{ID: NewID(), Name: DefaultTenant, CreatedAt: now()}
	if err := e.store.CreateTenant(ctx, t); err != nil {
		if errors.Is(err, store.ErrConflict) { // another replica won the race
			return "", nil
		}
		return "", fmt.Errorf("creating default tenant: %w", err)
	}
	_, secret, err := e.createToken(ctx, t.ID, t.Name, "admin", true)
	if err != nil {
		return "", fmt.Errorf("creating admin token: %w", err)
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
