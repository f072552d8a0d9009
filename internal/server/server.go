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
	"time"

	"github.com/heraldhq/herald/internal/api"
	"github.com/heraldhq/herald/internal/engine"
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
	// ShutdownTimeout bounds a graceful shutdown. Default 10s.
	ShutdownTimeout time.Duration
	// Logger receives logs. Default slog.Default().
	Logger *slog.Logger
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
	// AdminToken is the admin token's secret when this start created it, else "".
	AdminToken string
}

// TokenFile is the name, inside the data directory, of the file holding the admin token
// created on first start.
const TokenFile = "token"

// Open opens the store, bootstraps the default tenant on first start (writing the admin
// token to <data-dir>/token, mode 0600), starts the engine and listens on cfg.Addr.
// Serve must be called to answer requests.
func Open(ctx context.Context, cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	st, err := OpenStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, store: st}
	if err := s.start(ctx); err != nil {
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

func (s *Server) start(ctx context.Context) error {
	eng, err := engine.New(ctx, s.store, engine.Config{LeaseDuration: s.cfg.LeaseDuration, SweepInterval: s.cfg.SweepInterval, Logger: s.log})
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
			return fmt.Errorf("writing admin token to %s: %w", path, err)
		}
		s.AdminToken = secret
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("addr: %w", err)
	}
	s.ln = ln
	s.engine = eng
	a := api.New(eng, api.Config{MaxEventBytes: s.cfg.MaxEventBytes, Logger: s.log})
	s.http = &http.Server{
		Handler:           a,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
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
	err := s.http.Shutdown(ctx)
	return errors.Join(err, s.store.Close())
}
