// Package testenv starts a real Herald engine in-process for tests: a SQLite store in a
// temporary directory, the HTTP API on a free loopback port, and the admin token.
package testenv

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/engine"
	"github.com/heraldhq/herald/internal/server"
	"github.com/heraldhq/herald/internal/testkit"
)

// Env is a running engine.
type Env struct {
	// URL is the engine's base URL, e.g. http://127.0.0.1:41234.
	URL string
	// Token is the operator token of tenant "default" (the first start's).
	Token string
	// DataDir is the engine's data directory.
	DataDir string
	// DatabaseURL is the engine's PostgreSQL database, "" on SQLite.
	DatabaseURL string
	// Server is the running server.
	Server *server.Server
	// Signals receives the engine's signals: a test waits on them for a duty's pass or a
	// parked poll instead of sleeping (see engine.Signals).
	Signals *engine.Signals
	// Clock is the engine's clock when Options.ManualClock is set, nil otherwise.
	Clock *testkit.Clock
}

// Options tune Start; the zero value is fine.
type Options struct {
	// LeaseDuration defaults to 2s, so that worker-death tests are quick.
	LeaseDuration time.Duration
	// SweepInterval defaults to 50ms.
	SweepInterval time.Duration
	// MaxEventBytes defaults to the server default (1 MiB).
	MaxEventBytes int64
	// DatabaseURL runs the engine on PostgreSQL instead of SQLite (see internal/pgtest).
	DatabaseURL string
	// DataDir, when set, is the engine's data directory instead of a fresh temporary one:
	// a second engine on an earlier one's SQLite database (a restart).
	DataDir string
	// Token is used as Env.Token when this engine did not create the admin token (a
	// second replica on a shared database).
	Token string
	// MasterKey (base64) encrypts webhook secrets. Default: SharedMasterKey on PostgreSQL
	// (replicas of one database must share it); on SQLite the engine creates
	// <data-dir>/master.key itself, as in production.
	MasterKey string
	// WebhookMaxBodyBytes defaults to the server default (1 MiB).
	WebhookMaxBodyBytes int64
	// WebhookDeliveryLog defaults to the server default (10,000 records per webhook).
	WebhookDeliveryLog int
	// Log, when set, receives the engine's logs (debug level and up) besides the usual.
	Log io.Writer
	// MetricsAddr, when set, serves token-free Prometheus metrics there
	// (Env.Server.MetricsURL()); "127.0.0.1:0" picks a free port.
	MetricsAddr string
	// Retention overrides the server default (720h); negative keeps everything.
	Retention time.Duration
	// IdempotencyWindow overrides the server default (24h).
	IdempotencyWindow time.Duration
	// ReadTimeout overrides the server default (30s) time to read a request.
	ReadTimeout time.Duration
	// ManualClock gives the engine a clock that stands still until the test moves it
	// (Env.Clock), starting at the wall clock's time.
	ManualClock bool
}

// SharedMasterKey is the fixed master key test engines on PostgreSQL use, so that every
// replica of a test database can open the secrets another one saved. Tests only.
func SharedMasterKey() string {
	return "aGVyYWxkLXRlc3QtbWFzdGVyLWtleS0zMi1ieXRlcyE=" // "herald-test-master-key-32-bytes!"
}

// Start starts an engine that stops when the test ends.
func Start(t testing.TB) *Env { return StartWith(t, Options{}) }

// StartWith starts an engine with options.
func StartWith(t testing.TB, o Options) *Env {
	t.Helper()
	cfg := server.Defaults()
	cfg.DataDir = o.DataDir
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	cfg.Addr = "127.0.0.1:0"
	cfg.SQLiteSynchronous = "NORMAL"
	cfg.LeaseDuration = 2 * time.Second
	cfg.SweepInterval = 50 * time.Millisecond
	if o.LeaseDuration > 0 {
		cfg.LeaseDuration = o.LeaseDuration
	}
	if o.SweepInterval > 0 {
		cfg.SweepInterval = o.SweepInterval
	}
	cfg.DatabaseURL = o.DatabaseURL
	cfg.MetricsAddr = o.MetricsAddr
	if o.Retention > 0 {
		cfg.Retention = o.Retention
	} else if o.Retention < 0 {
		cfg.Retention = 0
	}
	if o.IdempotencyWindow > 0 {
		cfg.IdempotencyWindow = o.IdempotencyWindow
	}
	if o.ReadTimeout > 0 {
		cfg.ReadTimeout = o.ReadTimeout
	}
	cfg.Signals = engine.NewSignals()
	var clock *testkit.Clock
	if o.ManualClock {
		clock = testkit.NewClock(time.Now())
		cfg.Clock = clock
	}
	if o.MaxEventBytes > 0 {
		cfg.MaxEventBytes = o.MaxEventBytes
	}
	cfg.MasterKey = o.MasterKey
	if cfg.MasterKey == "" && o.DatabaseURL != "" {
		cfg.MasterKey = SharedMasterKey()
	}
	if o.WebhookMaxBodyBytes > 0 {
		cfg.WebhookMaxBodyBytes = o.WebhookMaxBodyBytes
	}
	if o.WebhookDeliveryLog > 0 {
		cfg.WebhookDeliveryLog = o.WebhookDeliveryLog
	}
	level := slog.LevelWarn
	var out io.Writer = io.Discard
	if os.Getenv("HERALD_TEST_LOG") != "" {
		out, level = os.Stderr, slog.LevelDebug
	}
	if o.Log != nil {
		out, level = io.MultiWriter(out, o.Log), slog.LevelDebug
	}
	cfg.Logger = slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: level}))
	srv, err := server.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("starting herald: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	t.Cleanup(func() {
		if err := srv.Shutdown(context.Background()); err != nil {
			t.Errorf("shutting down herald: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serving: %v", err)
		}
	})
	tok := srv.AdminToken
	if tok == "" {
		tok = o.Token
	}
	return &Env{URL: srv.URL(), Token: tok, DataDir: cfg.DataDir, DatabaseURL: o.DatabaseURL, Server: srv, Signals: cfg.Signals, Clock: clock}
}

// WaitParked waits until a poll of worker workerID found nothing to claim and waits for a
// wake-up, so that work made ready after it returns wakes that poll. It fails the test
// after testkit.Timeout.
func (e *Env) WaitParked(t testing.TB, workerID string) {
	t.Helper()
	deadline := time.After(testkit.Timeout())
	for {
		select {
		case id := <-e.Signals.Parked:
			if id == workerID {
				return
			}
		case <-deadline:
			t.Fatalf("worker %s: no poll parked within %s", workerID, testkit.Timeout())
		}
	}
}

// WaitPass waits for the next pass of a background duty that starts after the call: ch is
// one of Signals' duty channels (Swept, Delivered, Relayed, Pruned). A test that asserts
// that a duty does nothing waits for its pass this way instead of sleeping. It fails the
// test after testkit.Timeout.
func (e *Env) WaitPass(t testing.TB, what string, ch chan struct{}) {
	t.Helper()
	deadline := time.After(testkit.Timeout())
	// A pass that was running when the call was made may have read the state before the
	// test's action: drain what was sent, then wait for two passes.
	engine.Drain(ch)
	for range 2 {
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("no %s pass within %s", what, testkit.Timeout())
		}
	}
}
