// Package server wires Herald together: configuration, the store, the engine and the HTTP
// API, for `herald serve` and for tests that want a real engine in-process.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/api"
	"github.com/heraldhq/herald/internal/dashboard"
	"github.com/heraldhq/herald/internal/engine"
	"github.com/heraldhq/herald/internal/graphql"
	"github.com/heraldhq/herald/internal/metrics"
	"github.com/heraldhq/herald/internal/secrets"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/postgres"
	"github.com/heraldhq/herald/internal/store/sqlite"
)

// Config is the whole configuration of `herald serve`. Each field maps to a flag and a
// HERALD_* environment variable of the same name; the comment gives the default.
type Config struct {
	// DataDir holds the embedded database, the token file and other local state.
	// Flag --data-dir, env HERALD_DATA_DIR, default "./.herald".
	DataDir string
	// DatabaseURL selects the PostgreSQL store (several replicas may share it) instead of
	// the embedded SQLite store. Flag --database-url, env HERALD_DATABASE_URL.
	DatabaseURL string
	// Addr is the HTTP listen address. Flag --addr, env HERALD_ADDR, default "127.0.0.1:7420".
	Addr string
	// SQLiteSynchronous is "FULL" (default: commits survive power loss) or "NORMAL"
	// (commits survive a crash of the process). Flag --sqlite-synchronous.
	SQLiteSynchronous string
	// LeaseDuration is how long a step lease lasts without a heartbeat. Default 30s.
	// Flag --lease-duration.
	LeaseDuration time.Duration
	// SweepInterval is how often expired leases and due retries are checked. Default 1s.
	// Flag --sweep-interval.
	SweepInterval time.Duration
	// MaxEventBytes is the largest event body. Default 1 MiB. Flag --max-event-bytes.
	MaxEventBytes int64
	// MasterKeyFile holds the master key (base64 of 32 bytes) that encrypts webhook
	// secrets. Flag --master-key-file, env HERALD_MASTER_KEY_FILE.
	MasterKeyFile string
	// MasterKey is the master key itself, base64 of 32 bytes (env HERALD_MASTER_KEY; no
	// flag, so that it stays out of process listings). Set at most one of MasterKey and
	// MasterKeyFile. With neither, the embedded store uses <data-dir>/master.key, created
	// (mode 0600) on first start; PostgreSQL refuses to start, since every replica must
	// share one key.
	MasterKey string
	// WebhookMaxBodyBytes is the largest webhook delivery body; larger ones get 413.
	// Default 1 MiB. Flag --webhook-max-body-bytes.
	WebhookMaxBodyBytes int64
	// WebhookDeliveryLog is how many delivery records each webhook keeps. Default 10,000.
	// Flag --webhook-delivery-log.
	WebhookDeliveryLog int
	// PublicURL is the base URL senders reach Herald at, shown in webhooks' receive URLs.
	// Default: the scheme and host each API request came through. Flag --public-url.
	PublicURL string
	// Retention is how long events, ended runs and webhook deliveries are kept; older ones
	// are pruned in the background, in small batches. 0 keeps everything. Default 720h
	// (30 days). Flag --retention.
	Retention time.Duration
	// IdempotencyWindow is how long a push's idempotency key is remembered. Default 24h.
	// Flag --idempotency-window.
	IdempotencyWindow time.Duration
	// MetricsAddr, when set, serves Prometheus metrics at /metrics on this address without
	// a token (keep it private). Without it, /metrics on Addr needs an operator token.
	// Flag --metrics-addr.
	MetricsAddr string
	// ReadTimeout bounds the time to read one request, its headers and its body, from its
	// first byte, on every route (the API, unauthenticated webhook deliveries, the
	// dashboard): a client that sends more slowly is cut off (408 when the body is late;
	// headers count at most 10s of it). It ends when the body has been read, so the time a
	// handler then takes, such as a worker's long poll, is not counted. Raise it for bulk
	// pushes of tens of MiB over slow links. Default 30s. Flag --read-timeout.
	ReadTimeout time.Duration
	// ShutdownTimeout bounds a graceful shutdown. Default 10s.
	ShutdownTimeout time.Duration
	// Logger receives logs. Default slog.Default().
	Logger *slog.Logger
	// Clock, when set, is the engine's clock instead of the wall clock. Tests only.
	Clock engine.Clock
	// Signals, when set, receives the engine's test signals (engine.Signals). Tests only.
	Signals *engine.Signals
}

// Defaults returns the default configuration.
func Defaults() Config {
	return Config{
		DataDir:           "./.herald",
		Addr:              "127.0.0.1:7420",
		SQLiteSynchronous: "FULL",
		LeaseDuration:     30 * time.Second,
		SweepInterval:     time.Second,
		MaxEventBytes:     1 << 20,
		ShutdownTimeout:   10 * time.Second,
		ReadTimeout:       30 * time.Second,
		Retention:         720 * time.Hour,
		IdempotencyWindow: 24 * time.Hour,

		WebhookMaxBodyBytes: 1 << 20,
		WebhookDeliveryLog:  10_000,
	}
}

// Validate checks the configuration and names the bad field.
func (c Config) Validate() error {
	switch {
	case c.DataDir == "":
		return errors.New("data-dir: must not be empty")
	case c.Addr == "":
		return errors.New("addr: must not be empty")
	case c.SQLiteSynchronous != "FULL" && c.SQLiteSynchronous != "NORMAL":
		return fmt.Errorf("sqlite-synchronous: must be FULL or NORMAL, not %q", c.SQLiteSynchronous)
	case c.LeaseDuration < time.Second:
		return fmt.Errorf("lease-duration: must be at least 1s, not %s", c.LeaseDuration)
	case c.SweepInterval < 10*time.Millisecond || c.SweepInterval > time.Minute:
		return fmt.Errorf("sweep-interval: must be between 10ms and 1m, not %s", c.SweepInterval)
	case c.MaxEventBytes < 1024 || c.MaxEventBytes > 64<<20:
		return fmt.Errorf("max-event-bytes: must be between 1024 and %d", 64<<20)
	case c.Retention < 0 || (c.Retention > 0 && c.Retention < time.Minute):
		return fmt.Errorf("retention: must be 0 (keep everything) or at least 1m, not %s", c.Retention)
	case c.WebhookMaxBodyBytes < 1024 || c.WebhookMaxBodyBytes > 64<<20:
		return fmt.Errorf("webhook-max-body-bytes: must be between 1024 and %d", 64<<20)
	case c.IdempotencyWindow < time.Second || c.IdempotencyWindow > 30*24*time.Hour:
		return fmt.Errorf("idempotency-window: must be between 1s and 720h, not %s", c.IdempotencyWindow)
	case c.Retention > 0 && c.IdempotencyWindow > c.Retention:
		return fmt.Errorf("idempotency-window (%s) must not exceed retention (%s): a repeat must find its original event", c.IdempotencyWindow, c.Retention)
	case c.ReadTimeout < 100*time.Millisecond || c.ReadTimeout > time.Hour:
		return fmt.Errorf("read-timeout: must be between 100ms and 1h, not %s", c.ReadTimeout)
	case c.WebhookDeliveryLog < 1:
		return fmt.Errorf("webhook-delivery-log: must be at least 1, not %d", c.WebhookDeliveryLog)
	case c.MasterKey != "" && c.MasterKeyFile != "":
		return errors.New("master-key-file: set either HERALD_MASTER_KEY or --master-key-file, not both")
	case c.PublicURL != "" && !strings.HasPrefix(c.PublicURL, "http://") && !strings.HasPrefix(c.PublicURL, "https://"):
		return fmt.Errorf("public-url: must start with http:// or https://, not %q", c.PublicURL)
	}
	return nil
}

// Server is a running Herald: store, engine and HTTP API.
type Server struct {
	cfg    Config
	log    *slog.Logger
	store  store.Store
	engine *engine.Engine
	http   *http.Server
	ln     net.Listener
	// metricsHTTP serves /metrics on MetricsAddr (nil without one).
	metricsHTTP *http.Server
	metricsLn   net.Listener
	// stopDashboard ends the dashboard's sampler; dashboardDone is closed when it has.
	stopDashboard context.CancelFunc
	dashboardDone chan struct{}
	// AdminToken is the secret of the operator token of tenant "default" when this start
	// created it (the first start), else "".
	AdminToken string
}

// TokenFile is the name, inside the data directory, of the file holding the operator token
// created on first start.
const TokenFile = "token"

// Open resolves the master key (creating <data-dir>/master.key on the embedded store's
// first start), opens the store, bootstraps the default tenant on first start (writing the
// operator token to <data-dir>/token, mode 0600), starts the engine and listens on cfg.Addr.
// Serve must be called to answer requests.
func Open(ctx context.Context, cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	box, err := masterKey(cfg, log)
	if err != nil {
		return nil, err
	}
	st, err := OpenStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, store: st}
	if err := s.start(ctx, box); err != nil {
		st.Close()
		return nil, err
	}
	return s, nil
}

// OpenStore opens and migrates the configured store: PostgreSQL when DatabaseURL is set,
// else SQLite in the data directory.
func OpenStore(ctx context.Context, cfg Config) (store.Store, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data-dir: %w", err)
	}
	if cfg.DatabaseURL != "" {
		return postgres.Open(ctx, postgres.Config{URL: cfg.DatabaseURL})
	}
	return sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(cfg.DataDir, "herald.db"), Synchronous: cfg.SQLiteSynchronous})
}

// MasterKeyFile is the name, inside the data directory, of the master key the embedded
// store creates on first start when no key is configured.
const MasterKeyFile = "master.key"

// masterKey resolves the master key: HERALD_MASTER_KEY, else --master-key-file, else (the
// embedded store only) <data-dir>/master.key, created on first start.
func masterKey(cfg Config, log *slog.Logger) (*secrets.Box, error) {
	var key []byte
	var err error
	switch {
	case cfg.MasterKey != "":
		if key, err = secrets.ParseKey(cfg.MasterKey); err != nil {
			return nil, fmt.Errorf("HERALD_MASTER_KEY: %w", err)
		}
	case cfg.MasterKeyFile != "":
		if key, err = secrets.LoadKeyFile(cfg.MasterKeyFile); err != nil {
			return nil, fmt.Errorf("master-key-file: %w", err)
		}
	case cfg.DatabaseURL != "":
		return nil, errors.New("master key required with --database-url: set HERALD_MASTER_KEY or --master-key-file " +
			"(base64 of 32 random bytes, e.g. from: head -c 32 /dev/urandom | base64), the same on every replica; " +
			"it encrypts webhook secrets")
	default:
		path := filepath.Join(cfg.DataDir, MasterKeyFile)
		var created bool
		if key, created, err = secrets.LoadOrCreateKeyFile(path); err != nil {
			return nil, err
		}
		if created {
			log.Info("created a master key for webhook secrets; back it up with the database", "path", path)
		}
	}
	return secrets.NewBox(key)
}

func (s *Server) start(ctx context.Context, box *secrets.Box) error {
	met := metrics.New(s.store.StatsQueueDepths, s.log)
	eng, err := engine.New(ctx, s.store, engine.Config{LeaseDuration: s.cfg.LeaseDuration, SweepInterval: s.cfg.SweepInterval,
		Secrets: box, WebhookDeliveryLog: s.cfg.WebhookDeliveryLog, Logger: s.log,
		Observer: met, Retention: s.cfg.Retention, IdempotencyWindow: s.cfg.IdempotencyWindow,
		Clock: s.cfg.Clock, Signals: s.cfg.Signals})
	if err != nil {
		return err
	}
	secret, err := eng.Bootstrap(ctx)
	if err != nil {
		return err
	}
	if secret != "" {
		path := filepath.Join(s.cfg.DataDir, TokenFile)
		if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
			return fmt.Errorf("writing operator token to %s: %w", path, err)
		}
		s.AdminToken = secret
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("addr: %w", err)
	}
	s.ln = ln
	s.engine = eng
	a := api.New(eng, api.Config{MaxEventBytes: s.cfg.MaxEventBytes, MaxWebhookBodyBytes: s.cfg.WebhookMaxBodyBytes,
		PublicURL: s.cfg.PublicURL, Logger: s.log, Metrics: met.Handler()})
	gql := graphql.New(eng, graphql.Config{MaxEventBytes: s.cfg.MaxEventBytes, Logger: s.log})
	dash, err := dashboard.New(eng, dashboard.Config{PublicURL: s.cfg.PublicURL, Logger: s.log})
	if err != nil {
		ln.Close()
		return err
	}
	if err := s.listenMetrics(met); err != nil {
		ln.Close()
		return err
	}
	dctx, stop := context.WithCancel(context.Background())
	s.stopDashboard, s.dashboardDone = stop, make(chan struct{})
	go func() { defer close(s.dashboardDone); dash.Run(dctx) }()
	s.http = &http.Server{
		Handler: routes(a, gql, dash),
		// ReadTimeout is a deadline on the connection from a request's first byte; net/http
		// lifts it once the body has been read (at once without a body) and reads on in the
		// background, so a handler's own time, such as a long poll, is not bounded by it.
		ReadHeaderTimeout: min(10*time.Second, s.cfg.ReadTimeout),
		ReadTimeout:       s.cfg.ReadTimeout,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	eng.Start()
	return nil
}

// Addr returns the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL returns the server's base URL.
func (s *Server) URL() string { return "http://" + s.Addr() }

// Engine returns the engine.
func (s *Server) Engine() *engine.Engine { return s.engine }

// Serve answers requests until Shutdown; it returns nil after a shutdown.
func (s *Server) Serve() error {
	if err := s.http.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown stops accepting requests, wakes waiting polls, waits for in-flight requests and
// commits (bounded by ShutdownTimeout), then closes the store.
func (s *Server) Shutdown(ctx context.Context) error {
	timeout := s.cfg.ShutdownTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s.engine.Close() // ends long-polls, drains queued commits
	s.stopDashboard()
	<-s.dashboardDone
	err := s.http.Shutdown(ctx)
	if s.metricsHTTP != nil {
		err = errors.Join(err, s.metricsHTTP.Shutdown(ctx))
	}
	return errors.Join(err, s.store.Close())
}
