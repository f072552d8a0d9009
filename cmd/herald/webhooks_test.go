package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldhq/herald"
)

// signedGitHub posts a GitHub-signed delivery to u and returns the status.
func signedGitHub(t *testing.T, u, secret, event, body string) int {
	t.Helper()
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(body))
	req, err := http.NewRequest("POST", u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func TestE2EWebhooks(t *testing.T) {
	t.Parallel()
	e := setupE2E(t)

	// Create, the secret from standard input; the reply shows the URL, never the secret.
	out := e.ok(t, "gh-secret-1\n", "webhooks", "create", "gh", "--source", "github", "--secret", "-",
		"--event-key", "'user:' + headers['x-github-event']", "--static-payload", `{"via": "github"}`)
	wantContains(t, out, "webhook:", "gh", "source:", "github", "url:", "/api/v1/tenants/", "/webhooks/gh",
		"event key:", "'user:' + headers['x-github-event']", `{"via":"github"}`)
	if strings.Contains(out, "gh-secret-1") {
		t.Fatalf("create shows the secret: %s", out)
	}
	var w herald.WebhookInfo
	e.okJSON(t, &w, "", "webhooks", "get", "gh")
	if !strings.HasPrefix(w.URL, e.env.URL+"/api/v1/tenants/") || w.Source != "github" {
		t.Fatalf("get = %+v", w)
	}

	// A delivery triggers the workflows on "user:created"; the log shows it.
	if st := signedGitHub(t, w.URL, "gh-secret-1", "created", `{"user_id":"u_9"}`); st != 200 {
		t.Fatalf("delivery: %d", st)
	}
	if st := signedGitHub(t, w.URL, "forged", "created", `{"user_id":"u_9"}`); st != 401 {
		t.Fatalf("forged delivery: %d", st)
	}
	out = e.ok(t, "", "webhooks", "deliveries", "gh")
	wantContains(t, out, "STATUS", "OUTCOME", "VERIFICATION", "200", "accepted", "passed", "401", "refused", "failed", "does not match")

	// Rotate the secret from a file; change the key expression.
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte("gh-secret-2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.ok(t, "", "webhooks", "update", "gh", "--secret", "@"+secretFile, "--event-key", "'user:' + input.kind")
	if st := signedGitHub(t, w.URL, "gh-secret-1", "created", `{"kind":"created"}`); st != 401 {
		t.Fatalf("old secret after rotation: %d", st)
	}
	if st := signedGitHub(t, w.URL, "gh-secret-2", "created", `{"kind":"created"}`); st != 200 {
		t.Fatalf("new secret after rotation: %d", st)
	}

	// A generic HMAC webhook; rotating its secret keeps its method.
	out = e.ok(t, "", "webhooks", "create", "partner", "--source", "generic", "--auth", "hmac", "--header", "X-Hub-Signature-256",
		"--prefix", "sha256=", "--secret", "p-1", "--event-key", "'user:' + input.kind")
	wantContains(t, out, "generic/hmac", "X-Hub-Signature-256: sha256=hex(hmac-sha256)")
	e.ok(t, "", "webhooks", "update", "partner", "--secret", "p-2")
	var p herald.WebhookInfo
	e.okJSON(t, &p, "", "webhooks", "get", "partner")
	if p.Auth == nil || p.Auth.Type != "hmac" || p.Auth.Header != "X-Hub-Signature-256" || p.Auth.Prefix != "sha256=" {
		t.Fatalf("generic webhook after rotation: %+v", p.Auth)
	}
	if st := signedGitHub(t, p.URL, "p-2", "x", `{"kind":"created"}`); st != 200 {
		t.Fatalf("generic delivery with the rotated secret: %d", st)
	}

	out = e.ok(t, "", "webhooks", "list")
	wantContains(t, out, "NAME", "SOURCE", "gh", "github", "partner", "generic/hmac", w.URL)

	// Errors: a bad expression names its field; flags are checked before any request.
	r := e.run(t, "", "webhooks", "create", "bad", "--source", "github", "--secret", "s", "--event-key", "'a' +")
	wantOneLineError(t, r, "herald: ")
	if !strings.Contains(r.stderr, "event_key_expression") {
		t.Errorf("bad expression: %q", r.stderr)
	}
	runCLI(t, noEngine(t), "", "webhooks", "create", "x", "--event-key", "'k'").wantErrLine(t, exitUsage,
		"herald: webhooks create: --source is required (stripe, github, slack, standard or generic)")
	runCLI(t, noEngine(t), "", "webhooks", "create", "x", "--source", "generic", "--header", "X", "--event-key", "'k'").wantErrLine(t, exitUsage,
		"herald: webhooks create: --auth (hmac, basic or api_key) is required with --header, --algorithm, --encoding, --prefix or --username")

	// Delete.
	if out := e.ok(t, "", "webhooks", "delete", "gh"); out != "webhook gh deleted\n" {
		t.Errorf("delete: %q", out)
	}
	wantOneLineError(t, e.run(t, "", "webhooks", "get", "gh"), "herald: ")
	if st := signedGitHub(t, w.URL, "gh-secret-2", "created", `{}`); st != 404 {
		t.Fatalf("delivery after delete: %d", st)
	}
}
