// Package pgtest gives each test its own PostgreSQL database, created on the server named
// by HERALD_TEST_DATABASE_URL and dropped when the test ends.
//
// Without HERALD_TEST_DATABASE_URL the PostgreSQL tests are skipped, unless
// HERALD_REQUIRE_POSTGRES is set (as CI does), which turns the skip into a failure.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the variable holding the test server's URL.
const EnvURL = "HERALD_TEST_DATABASE_URL"

// EnvRequire names the variable that makes a missing server a failure.
const EnvRequire = "HERALD_REQUIRE_POSTGRES"

// NewDatabase creates an empty database for t and returns its URL.
func NewDatabase(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvURL)
	if base == "" {
		if os.Getenv(EnvRequire) != "" {
			t.Fatalf("PostgreSQL tests required (%s is set) but %s is empty", EnvRequire, EnvURL)
		}
		t.Skipf("PostgreSQL tests skipped: set %s (e.g. postgres://postgres@127.0.0.1:5432/postgres) to run them", EnvURL)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		if os.Getenv(EnvRequire) == "" {
			t.Skipf("PostgreSQL tests skipped: cannot connect to %s: %v", EnvURL, err)
		}
		t.Fatalf("connecting to %s: %v", EnvURL, err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 8)
	rand.Read(b)
	name := "herald_test_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("creating test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("dropping test database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("dropping test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parsing %s: %v", EnvURL, err)
	}
	u.Path = "/" + name
	return u.String()
}
