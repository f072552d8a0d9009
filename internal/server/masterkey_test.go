package server_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/secrets"
	"github.com/heraldhq/herald/internal/server"
)

// openServer starts a server with cfg and stops it when the test ends (or when stop is
// called first).
func openServer(t *testing.T, cfg server.Config) (srv *server.Server, stop func()) {
	t.Helper()
	srv, err := server.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("starting herald: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		if err := srv.Shutdown(context.Background()); err != nil {
			t.Errorf("shutting down: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serving: %v", err)
		}
	}
	t.Cleanup(stop)
	return srv, stop
}

func baseConfig(t *testing.T) server.Config {
	cfg := server.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.Addr = "127.0.0.1:0"
	cfg.SQLiteSynchronous = "NORMAL"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	return cfg
}

func TestMasterKeyConfiguration(t *testing.T) {
	t.Parallel()
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte(secrets.EncodeKey(secrets.NewKey())+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name string
		cfg  func(c *server.Config)
		want string
	}{
		{"both a key and a key file", func(c *server.Config) { c.MasterKey, c.MasterKeyFile = secrets.EncodeKey(secrets.NewKey()), keyFile }, "not both"},
		{"a key that is not base64", func(c *server.Config) { c.MasterKey = "not a key" }, "HERALD_MASTER_KEY"},
		{"a 16-byte key", func(c *server.Config) { c.MasterKey = secrets.EncodeKey(make([]byte, 16)) }, "32 bytes"},
		{"a missing key file", func(c *server.Config) { c.MasterKeyFile = keyFile + ".missing" }, "master-key-file"},
		// Refused before connecting, so the URL need not work.
		{"PostgreSQL without a key", func(c *server.Config) { c.DatabaseURL = "postgres://nobody@127.0.0.1:1/none" }, "master key required with --database-url"},
	}
	for _, tc := range bad {
		cfg := baseConfig(t)
		tc.cfg(&cfg)
		_, err := server.Open(context.Background(), cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Open = %v, want an error about %q", tc.name, err, tc.want)
		}
	}
	// A key file works, and no master.key is created beside the database then.
	cfg := baseConfig(t)
	cfg.MasterKeyFile = keyFile
	openServer(t, cfg)
	if _, err := os.Stat(filepath.Join(cfg.DataDir, server.MasterKeyFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a master.key was created although --master-key-file was given: %v", err)
	}
}

func TestMasterKeyOnPostgreSQL(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	cfg := baseConfig(t)
	cfg.DatabaseURL = db
	cfg.MasterKey = secrets.EncodeKey(secrets.NewKey())
	openServer(t, cfg)
}

// TestWebhookSecretsSurviveARestartUnderTheSameKey restarts an embedded engine on its data
// directory: the generated master.key is reused, so saved secrets still verify; under
// another key they do not, and the delivery log says why.
func TestWebhookSecretsSurviveARestartUnderTheSameKey(t *testing.T) {
	t.Parallel()
	cfg := baseConfig(t)
	srv, stop := openServer(t, cfg)
	keyBefore, err := os.ReadFile(filepath.Join(cfg.DataDir, server.MasterKeyFile))
	if err != nil {
		t.Fatalf("no master key created in the data directory: %v", err)
	}
	cl, err := herald.NewClient(herald.ClientConfig{URL: srv.URL(), Token: srv.AdminToken})
	if err != nil {
		t.Fatal(err)
	}
	w, err := cl.CreateWebhook(t.Context(), herald.WebhookParams{Name: "gh", Source: herald.WebhookGitHub, Secret: "restart-secret",
		EventKeyExpression: "'github:' + headers['x-github-event']"})
	if err != nil {
		t.Fatal(err)
	}
	token := srv.AdminToken
	stop()

	srv, stop = openServer(t, cfg)
	keyAfter, _ := os.ReadFile(filepath.Join(cfg.DataDir, server.MasterKeyFile))
	if string(keyAfter) != string(keyBefore) {
		t.Fatal("the master key changed across a restart")
	}
	path := strings.TrimPrefix(w.URL, w.URL[:strings.Index(w.URL, "/api/")])
	if status, body := githubDelivery(t, srv.URL()+path, "restart-secret"); status != 200 {
		t.Fatalf("delivery after a restart: %d %s", status, body)
	}
	stop()

	// Another key cannot open the secret: 500 to the sender, the reason in the log.
	cfg.MasterKey = secrets.EncodeKey(secrets.NewKey())
	srv, _ = openServer(t, cfg)
	status, body := githubDelivery(t, srv.URL()+path, "restart-secret")
	if status != 500 || strings.Contains(body, "master key") {
		t.Fatalf("delivery under another key: %d %s, want 500 without details", status, body)
	}
	cl, _ = herald.NewClient(herald.ClientConfig{URL: srv.URL(), Token: token})
	page, err := cl.ListWebhookDeliveries(t.Context(), "gh", herald.ListDeliveriesParams{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 || !strings.Contains(page.Items[0].Error, "another master key") {
		t.Fatalf("delivery record = %+v, want it to name the wrong master key", page.Items)
	}
}

// githubDelivery posts a GitHub-signed delivery and returns the status and body.
func githubDelivery(t *testing.T, u, secret string) (int, string) {
	t.Helper()
	body := `{"zen":"Half measures are as bad as nothing at all."}`
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(body))
	req, _ := http.NewRequest("POST", u, strings.NewReader(body))
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
	req.Header.Set("X-GitHub-Event", "ping")
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(data)
}
