package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/server"
)

// storeOptions says which store the engine under test uses and how it is tuned.
// Every store-specific knob lives here, so that another store is added by a field here,
// a flag in main and a line in serverConfig. For PostgreSQL (server.Config.DatabaseURL)
// that line is not quite enough: every engine must start on an empty database, because
// the admin token is minted only when the default tenant is first bootstrapped; so
// startEngine would create a fresh database (or schema) per engine on that server.
type storeOptions struct {
	// SQLiteSynchronous is "FULL" (the server default) or "NORMAL".
	SQLiteSynchronous string
	// DatabaseURL, when set, runs every engine on PostgreSQL: each engine (or pair of
	// replicas) gets a fresh database on that server, dropped when it stops.
	DatabaseURL string
	// masterKey encrypts webhook secrets of PostgreSQL engines (random per run).
	masterKey string
}

// describe names the store for the report header.
func (so storeOptions) describe() string {
	if so.DatabaseURL != "" {
		return "PostgreSQL"
	}
	return "SQLite synchronous=" + so.SQLiteSynchronous
}

// freshDatabase creates an empty database on the server of base and returns its URL and
// a function that drops it.
func freshDatabase(ctx context.Context, base string) (string, func(), error) {
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", nil, fmt.Errorf("connecting to --database-url: %w", err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	rand.Read(b)
	name := "herald_bench_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, fmt.Errorf("creating database %s: %w", name, err)
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", nil, fmt.Errorf("parsing --database-url: %w", err)
	}
	u.Path = "/" + name
	drop := func() {
		c, err := pgx.Connect(context.Background(), base)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	}
	return u.String(), drop, nil
}

// engineUnderTest is a Herald engine running in this process and serving its HTTP API
// on a loopback port.
type engineUnderTest struct {
	// URL is the base URL of the engine, e.g. http://127.0.0.1:41234.
	URL string
	// Token is an admin token of the default tenant.
	Token string
	// DataDir is the engine's data directory.
	DataDir string

	databaseURL string

	srv    *server.Server
	served chan error
	// cleanup runs after the engine stopped (drops its database).
	cleanup func()
}

// serverConfig builds the server configuration of an engine under test whose data lives
// in dataDir. The address is a free loopback port.
func serverConfig(dataDir string, so storeOptions, log *slog.Logger) server.Config {
	cfg := server.Defaults()
	cfg.DataDir = dataDir
	cfg.Addr = "127.0.0.1:0"
	if so.SQLiteSynchronous != "" {
		cfg.SQLiteSynchronous = so.SQLiteSynchronous
	}
	cfg.Logger = log
	return cfg
}

// startEngine opens a fresh engine in a new directory name-* under parentDir and starts
// serving its API. The caller stops it with stop.
func startEngine(ctx context.Context, parentDir, name string, so storeOptions, log *slog.Logger) (*engineUnderTest, error) {
	dir, err := os.MkdirTemp(parentDir, name+"-")
	if err != nil {
		return nil, fmt.Errorf("creating data dir: %w", err)
	}
	cfg := serverConfig(dir, so, log)
	var drop func()
	if so.DatabaseURL != "" {
		cfg.MasterKey = so.masterKey
		if cfg.DatabaseURL, drop, err = freshDatabase(ctx, so.DatabaseURL); err != nil {
			return nil, err
		}
	}
	e, err := openEngine(ctx, cfg, "")
	if err != nil {
		if drop != nil {
			drop()
		}
		return nil, err
	}
	e.cleanup = drop
	return e, nil
}

// startReplica starts a second engine on first's PostgreSQL database, sharing its token.
func startReplica(ctx context.Context, parentDir string, first *engineUnderTest, so storeOptions, log *slog.Logger) (*engineUnderTest, error) {
	dir, err := os.MkdirTemp(parentDir, "replica-")
	if err != nil {
		return nil, fmt.Errorf("creating data dir: %w", err)
	}
	cfg := serverConfig(dir, so, log)
	cfg.DatabaseURL = first.databaseURL
	cfg.MasterKey = so.masterKey
	return openEngine(ctx, cfg, first.Token)
}

// openEngine opens the engine described by cfg and serves its API in the background.
// token is the admin token to use when this engine does not create one (a replica).
func openEngine(ctx context.Context, cfg server.Config, token string) (*engineUnderTest, error) {
	srv, err := server.Open(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("starting herald: %w", err)
	}
	if srv.AdminToken != "" {
		token = srv.AdminToken
	}
	if token == "" {
		_ = srv.Shutdown(ctx)
		return nil, errors.New("starting herald: no admin token (the data dir was not fresh)")
	}
	e := &engineUnderTest{URL: srv.URL(), Token: token, DataDir: cfg.DataDir, databaseURL: cfg.DatabaseURL, srv: srv, served: make(chan error, 1)}
	go func() { e.served <- srv.Serve() }()
	return e, nil
}

// stop shuts the engine down and waits for its HTTP server to return.
func (e *engineUnderTest) stop(ctx context.Context) error {
	err := e.srv.Shutdown(ctx)
	err = errors.Join(err, <-e.served)
	if e.cleanup != nil {
		e.cleanup()
	}
	return err
}
