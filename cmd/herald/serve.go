package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/heraldhq/herald/internal/server"
	"github.com/heraldhq/herald/internal/store"
)

// newServeCmd returns `herald serve`: the engine and HTTP API in one process.
func newServeCmd(c *cli) *cobra.Command {
	def := server.Defaults()
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the Herald engine and HTTP API",
		Long: `Run the engine and its HTTP API on an embedded SQLite store in --data-dir.

On first start it creates tenant "default" and an operator API token (the
server's administrator: tenants, tokens of every tenant, /metrics), prints the
token once and writes it to <data-dir>/token (mode 0600), where the CLI on this
machine finds it. The database files (herald.db, -wal, -shm) are kept at
mode 0600 too, existing ones included. Every flag can also be set with HERALD_<FLAG> in upper case,
dashes as underscores (e.g. HERALD_ADDR, HERALD_LEASE_DURATION).

Webhook secrets are encrypted under a master key: HERALD_MASTER_KEY (base64 of
32 bytes) or --master-key-file. Without either, the embedded store creates
<data-dir>/master.key (mode 0600) on first start; back it up with the database.
PostgreSQL needs one of them, the same on every replica.`,
		Args: cobra.NoArgs,
	}
	f := cmd.Flags()
	f.String("addr", def.Addr, "HTTP listen address (env HERALD_ADDR)")
	f.String("database-url", "", "PostgreSQL URL; several replicas may share it (default: embedded SQLite in --data-dir)")
	f.String("sqlite-synchronous", def.SQLiteSynchronous, "SQLite durability: FULL survives power loss, NORMAL survives a process crash")
	f.Duration("lease-duration", def.LeaseDuration, "how long a step lease lasts without a worker heartbeat")
	f.Duration("sweep-interval", def.SweepInterval, "how often expired leases and due retries are checked")
	f.Int64("max-event-bytes", def.MaxEventBytes, "largest accepted event (payload + metadata), in bytes")
	f.String("master-key-file", "", "file with the master key (base64 of 32 bytes) encrypting webhook secrets, or env HERALD_MASTER_KEY (default <data-dir>/master.key; one is required with --database-url)")
	f.Int64("webhook-max-body-bytes", def.WebhookMaxBodyBytes, "largest accepted webhook delivery body, in bytes (larger: 413)")
	f.Int("webhook-delivery-log", def.WebhookDeliveryLog, "delivery records kept per webhook (the newest)")
	f.String("public-url", "", "base URL senders reach herald at, shown in webhook URLs (default: the host of each API request)")
	f.Duration("retention", def.Retention, "how long events, ended runs and webhook deliveries are kept (0 keeps everything)")
	f.Duration("idempotency-window", def.IdempotencyWindow, "how long a push's idempotency key is remembered (a repeat within it returns the original event)")
	f.Duration("read-timeout", def.ReadTimeout, "longest time to read one request, headers and body, on every route (a slower client is cut off; a long poll's wait is not counted)")
	f.String("metrics-addr", "", "serve Prometheus /metrics here without a token, e.g. 127.0.0.1:9420 (default: /metrics on --addr, operator token required)")
	f.String("log-format", "text", "log format: text or json")
	f.String("log-level", "info", "log level: debug, info, warn or error")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := applyEnv(cmd, c.getenv); err != nil {
			return err
		}
		cfg := def
		cfg.DataDir, _ = cmd.Flags().GetString("data-dir")
		cfg.Addr, _ = f.GetString("addr")
		cfg.DatabaseURL, _ = f.GetString("database-url")
		sync, _ := f.GetString("sqlite-synchronous")
		cfg.SQLiteSynchronous = strings.ToUpper(sync)
		cfg.LeaseDuration, _ = f.GetDuration("lease-duration")
		cfg.SweepInterval, _ = f.GetDuration("sweep-interval")
		cfg.MaxEventBytes, _ = f.GetInt64("max-event-bytes")
		cfg.MasterKeyFile, _ = f.GetString("master-key-file")
		cfg.MasterKey = strings.TrimSpace(c.getenv("HERALD_MASTER_KEY"))
		cfg.WebhookMaxBodyBytes, _ = f.GetInt64("webhook-max-body-bytes")
		cfg.WebhookDeliveryLog, _ = f.GetInt("webhook-delivery-log")
		cfg.PublicURL, _ = f.GetString("public-url")
		cfg.Retention, _ = f.GetDuration("retention")
		cfg.IdempotencyWindow, _ = f.GetDuration("idempotency-window")
		cfg.MetricsAddr, _ = f.GetString("metrics-addr")
		cfg.ReadTimeout, _ = f.GetDuration("read-timeout")
		logger, err := newLogger(c, f)
		if err != nil {
			return err
		}
		cfg.Logger = logger
		return serve(cmd.Context(), c, cfg)
	}
	return cmd
}

// applyEnv sets every flag the user did not pass from its HERALD_* variable.
func applyEnv(cmd *cobra.Command, getenv func(string) string) error {
	var firstErr error
	cmd.Flags().VisitAll(func(fl *pflag.Flag) {
		if fl.Changed || firstErr != nil {
			return
		}
		env := "HERALD_" + strings.ToUpper(strings.ReplaceAll(fl.Name, "-", "_"))
		if v := getenv(env); v != "" {
			if err := fl.Value.Set(v); err != nil {
				firstErr = usagef("%s: %v", env, err)
			}
		}
	})
	return firstErr
}

func newLogger(c *cli, f *pflag.FlagSet) (*slog.Logger, error) {
	format, _ := f.GetString("log-format")
	levelName, _ := f.GetString("log-level")
	var level slog.Level
	if err := level.UnmarshalText([]byte(levelName)); err != nil {
		return nil, usagef("log-level: must be debug, info, warn or error, not %q", levelName)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(c.stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(c.stderr, opts)), nil
	}
	return nil, usagef("log-format: must be text or json, not %q", format)
}

// serve runs the server until ctx is cancelled (SIGINT, SIGTERM), then shuts down.
func serve(ctx context.Context, c *cli, cfg server.Config) error {
	srv, err := server.Open(ctx, cfg)
	if err != nil {
		if errors.Is(err, store.ErrSchemaTooNew) {
			return fmt.Errorf("%w (upgrade herald or point it at another data directory)", err)
		}
		return err
	}
	if srv.AdminToken != "" {
		fmt.Fprintf(c.stdout, "Created tenant \"default\" and an operator API token (shown once; also saved to %s):\n\n    %s\n\n",
			filepath.Join(cfg.DataDir, server.TokenFile), srv.AdminToken)
	}
	fmt.Fprintf(c.stdout, "herald is listening on %s (data dir %s); dashboard at %s/\n", srv.URL(), cfg.DataDir, srv.URL())
	if u := srv.MetricsURL(); u != "" {
		fmt.Fprintf(c.stdout, "Prometheus metrics at %s\n", u)
	}
	cfg.Logger.Info("herald started", "addr", srv.Addr(), "data_dir", cfg.DataDir, "pid", os.Getpid())
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	select {
	case err := <-done:
		_ = srv.Shutdown(context.Background())
		return err
	case <-ctx.Done():
	}
	cfg.Logger.Info("shutting down")
	shutdownStart := time.Now()
	err = srv.Shutdown(context.Background())
	<-done
	cfg.Logger.Info("stopped", "took", time.Since(shutdownStart).Round(time.Millisecond))
	return err
}

// newMigrateCmd returns `herald migrate`: apply the store's migrations and exit.
func newMigrateCmd(c *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply database migrations and exit",
		Long: `Apply the embedded schema migrations to the store and exit. 'herald serve'
applies them too, under a lock, so running this first is optional; it lets an
operator migrate before rolling out new replicas.`,
		Args: cobra.NoArgs,
	}
	cmd.Flags().String("database-url", "", "PostgreSQL URL (default: embedded SQLite in --data-dir)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := applyEnv(cmd, c.getenv); err != nil {
			return err
		}
		cfg := server.Defaults()
		cfg.DataDir, _ = cmd.Flags().GetString("data-dir")
		cfg.DatabaseURL, _ = cmd.Flags().GetString("database-url")
		st, err := server.OpenStore(cmd.Context(), cfg)
		if err != nil {
			return err
		}
		fmt.Fprintln(c.stdout, "migrations applied")
		return st.Close()
	}
	return cmd
}
