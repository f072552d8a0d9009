package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

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

	srv    *server.Server
	served chan error
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
	return openEngine(ctx, serverConfig(dir, so, log))
}

// openEngine opens the engine described by cfg and serves its API in the background.
func openEngine(ctx context.Context, cfg server.Config) (*engineUnderTest, error) {
	srv, err := server.Open(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("starting herald: %w", err)
	}
	if srv.AdminToken == "" {
		_ = srv.Shutdown(ctx)
		return nil, errors.New("starting herald: no admin token (the data dir was not fresh)")
	}
	e := &engineUnderTest{URL: srv.URL(), Token: srv.AdminToken, DataDir: cfg.DataDir, srv: srv, served: make(chan error, 1)}
	go func() { e.served <- srv.Serve() }()
	return e, nil
}

// stop shuts the engine down and waits for its HTTP server to return.
func (e *engineUnderTest) stop(ctx context.Context) error {
	err := e.srv.Shutdown(ctx)
	return errors.Join(err, <-e.served)
}
