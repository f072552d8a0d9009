// Package postgres is Herald's PostgreSQL store (github.com/jackc/pgx/v5), for users who
// outgrow one machine: several engine replicas share one database. Claims use
// FOR UPDATE SKIP LOCKED so no step-run is leased twice; every transaction that makes work
// ready is followed by a NOTIFY so that workers long-polling any replica wake at once.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heraldhq/herald/internal/store"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Notification channels.
const (
	chanWork      = "herald_work"
	chanWorkflows = "herald_workflows"
	chanOutbox    = "herald_outbox"
)

// migrationLockID is the advisory lock key held while migrating ("herald" in ASCII).
const migrationLockID = 0x686572616c64

// Config configures the PostgreSQL store.
type Config struct {
	// URL is a libpq-style URL or DSN, e.g. postgres://user@host:5432/db. Required.
	URL string
	// MaxConns is the pool size. Default 16.
	MaxConns int32
}

// Store is the PostgreSQL implementation of store.Store.
type Store struct {
	pool *pgxpool.Pool
}

var (
	_ store.Store  = (*Store)(nil)
	_ store.Outbox = (*Store)(nil)
)

// Open connects, checks the connection and applies pending migrations under an advisory
// lock, so replicas starting together never race.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	s, err := Connect(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := s.Migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Connect connects without migrating and fails unless the schema is current.
func Connect(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.URL == "" {
		return nil, errors.New("postgres: database URL is required")
	}
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("postgres: bad database URL: %s", redact(err))
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 16
	}
	pc.MaxConns = cfg.MaxConns
	pc.ConnConfig.ConnectTimeout = 5 * time.Second
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres: %s", redact(err))
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: cannot connect to %s@%s:%d/%s: %s", pc.ConnConfig.User, pc.ConnConfig.Host,
			pc.ConnConfig.Port, pc.ConnConfig.Database, redact(err))
	}
	return &Store{pool: pool}, nil
}

// redact keeps a connection error's message short and free of passwords.
func redact(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Message + " (SQLSTATE " + pe.Code + ")"
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) && ce.Unwrap() != nil {
		return redact(ce.Unwrap())
	}
	msg, _, _ := strings.Cut(err.Error(), "\n") // pgx lists one line per address tried
	return msg
}

// Close closes the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// WriteParallelism implements store.ParallelWriter: two group commits at once keep the
// database busy while the engine prepares the next batch, and let a commit use a second
// core (one transaction runs in one PostgreSQL backend process).
func (s *Store) WriteParallelism() int { return 2 }

// Pool returns the connection pool (the transactional outbox writes through it).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// migrations lists the embedded migrations in version order.
func migrations() ([]store.Migration, error) { return store.LoadMigrations(migrationFS, "migrations") }

// LatestVersion is the schema version this build migrates to.
func LatestVersion() int {
	ms, err := migrations()
	if err != nil {
		return 0
	}
	return store.LatestVersion(ms)
}

// Migrate applies pending migrations while holding a session advisory lock.
func (s *Store) Migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return fmt.Errorf("postgres: reading migrations: %w", err)
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: migrating: %s", redact(err))
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(migrationLockID)); err != nil {
		return fmt.Errorf("postgres: taking the migration lock: %s", redact(err))
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(migrationLockID))
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)`); err != nil {
		return fmt.Errorf("postgres: migrating: %s", redact(err))
	}
	var cur int
	if err := conn.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&cur); err != nil {
		return fmt.Errorf("postgres: reading schema version: %s", redact(err))
	}
	if latest := ms[len(ms)-1].Version; cur > latest {
		return fmt.Errorf("%w: database is at version %d, this herald knows up to %d", store.ErrSchemaTooNew, cur, latest)
	}
	for _, m := range ms {
		if m.Version <= cur {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, now())`, m.Version)
			return err
		})
		if err != nil {
			return fmt.Errorf("postgres: applying migration %d: %s", m.Version, redact(err))
		}
	}
	return nil
}

// tx runs fn in a transaction, retrying it when PostgreSQL aborts it for a deadlock or a
// serialization failure. fn must reset any results it accumulates.
func (s *Store) tx(ctx context.Context, what string, fn func(tx pgx.Tx) error) error {
	return retry(what, func() error { return pgx.BeginFunc(ctx, s.pool, fn) })
}

// retry runs attempt until it succeeds or fails for another reason than PostgreSQL
// aborting it for a deadlock or a serialization failure (at most 5 times), and maps the
// error (mapErr).
func retry(what string, attempt func() error) error {
	var err error
	for range 5 {
		var pe *pgconn.PgError
		if err = attempt(); !errors.As(err, &pe) || (pe.Code != "40P01" && pe.Code != "40001") {
			break
		}
	}
	return mapErr(what, err)
}

// txWake runs fn in a transaction, then sends the statements of the batch fn returns,
// COMMIT and the wake-ups of the queues of keys in one round trip (commitAndWake). It is
// retried like tx.
func (s *Store) txWake(ctx context.Context, what string, fn func(tx pgx.Tx) (*pgx.Batch, []store.WorkKey, error)) error {
	return retry(what, func() error {
		return s.pool.AcquireFunc(ctx, func(c *pgxpool.Conn) error {
			tx, err := c.Begin(ctx)
			if err != nil {
				return err
			}
			b, keys, err := fn(tx)
			if err == nil {
				err = commitAndWake(ctx, c.Conn(), false, b, keys)
			}
			if err != nil {
				_ = tx.Rollback(ctx) // a broken connection is dropped by the pool
			}
			return err
		})
	})
}

// pipelineWake sends BEGIN, the statements of b, COMMIT and the wake-ups of the queues of
// keys in one round trip (commitAndWake). It is retried like tx.
func (s *Store) pipelineWake(ctx context.Context, what string, b *pgx.Batch, keys []store.WorkKey) error {
	return retry(what, func() error {
		return s.pool.AcquireFunc(ctx, func(c *pgxpool.Conn) error {
			err := commitAndWake(ctx, c.Conn(), true, b, keys)
			if err != nil {
				_, _ = c.Exec(ctx, "ROLLBACK") // a broken connection is dropped by the pool
			}
			return err
		})
	})
}

// commitAndWake sends the statements of b (after BEGIN, when begin is set; else they
// belong to the transaction open on conn), then COMMIT, then the wake-ups of the queues of
// keys (pg_notify), all in one round trip. It returns nil once the transaction committed.
// b is left as it was, so that a retry can send it again: each call queues the statements
// anew, since pgx keeps, in a queued statement, the prepared statement it was sent as,
// which a failed batch invalidates on the connection.
//
// The wake-ups run after the COMMIT, as a transaction of their own. PostgreSQL serializes
// the commits of the transactions that sent a NOTIFY, under a database-wide lock held
// through the commit's WAL flush (and its wait for a synchronous standby); a NOTIFY inside
// the data transaction made the commits of every replica wait for each other's. A
// transaction that only notifies writes no WAL and holds the lock for microseconds. It
// runs after the commit either way, so a poll it wakes finds the work. Its failure is not
// the data's: the steps are queued and the next claim finds them.
func commitAndWake(ctx context.Context, conn *pgx.Conn, begin bool, b *pgx.Batch, keys []store.WorkKey) error {
	sent := &pgx.Batch{}
	if begin {
		sent.Queue("BEGIN")
	}
	for _, q := range b.QueuedQueries {
		sent.Queue(q.SQL, q.Arguments...)
	}
	n := sent.Len()
	sent.Queue("COMMIT")
	queueNotify(sent, keys)
	br := conn.SendBatch(ctx, sent)
	defer br.Close() // once COMMIT succeeded, what is left is the wake-ups'
	for range n {
		if _, err := br.Exec(); err != nil {
			return err
		}
	}
	tag, err := br.Exec()
	if err == nil && tag.String() == "ROLLBACK" {
		// The transaction had failed without its statement's error reaching here.
		err = pgx.ErrTxCommitRollback
	}
	return err
}

// queueNotify adds to b one statement that notifies each distinct queue of keys.
func queueNotify(b *pgx.Batch, keys []store.WorkKey) {
	seen := map[store.WorkKey]bool{}
	var payloads []string
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			payloads = append(payloads, k.TenantID+"\x1f"+k.Workflow)
		}
	}
	if len(payloads) > 0 {
		b.Queue(`SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`, chanWork, payloads)
	}
}

// mapErr wraps err with context, translating PostgreSQL errors to store sentinels.
func mapErr(what string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrStaleLease) {
		return err
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s: %w", what, err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		// No caller's context has a deadline: this is pgx's connect timeout (the server
		// or the network does not answer), so the store is unavailable.
		return fmt.Errorf("%s: %w: %w", what, store.ErrUnavailable, err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505":
			return fmt.Errorf("%s: %w", what, store.ErrConflict)
		case strings.HasPrefix(pe.Code, "08"), strings.HasPrefix(pe.Code, "53"), strings.HasPrefix(pe.Code, "57P"),
			pe.Code == "40P01", pe.Code == "40001":
			return fmt.Errorf("%s: %w: %s", what, store.ErrUnavailable, redact(err))
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	// Anything else is the connection: refused, reset, closed, timed out.
	return fmt.Errorf("%s: %w: %s", what, store.ErrUnavailable, redact(err))
}

// Listen delivers notifications from every replica to h until ctx ends. After a lost
// connection it reconnects by itself. It calls h.Reconnected each time LISTEN takes
// effect, the first time included: notifications sent before that were not delivered, and
// a replica that has just started loaded its trigger index (and may have parked polls)
// before it was listening.
func (s *Store) Listen(ctx context.Context, h store.ListenHandlers) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, h, func() {
			backoff = 100 * time.Millisecond
			h.Reconnected()
		})
		if ctx.Err() != nil {
			return
		}
		_ = err
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		if backoff < 5*time.Second {
			backoff *= 2
		}
	}
}

// reachable reports whether the server takes a new connection within two seconds. It
// connects afresh rather than through the pool: while a server shuts down, a pooled
// connection whose backend has not been told yet may still answer, but a new one is
// refused.
func (s *Store) reachable(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return false
	}
	_ = c.Close(ctx)
	return true
}

func (s *Store) listenOnce(ctx context.Context, h store.ListenHandlers, onListening func()) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer func() {
		// A connection that was listening is not returned to the pool.
		conn.Hijack().Close(context.Background())
	}()
	for _, ch := range []string{chanWork, chanWorkflows, chanOutbox} {
		if _, err := conn.Exec(ctx, "LISTEN "+ch); err != nil {
			return err
		}
	}
	onListening()
	for {
		n, err := conn.Conn().WaitForNotification(ctx)
		if err != nil {
			if ctx.Err() == nil && conn.Conn().IsClosed() && !s.reachable(ctx) {
				// The server went away (a restart, a failover, the network): the pool's
				// idle connections are as dead as this one, and each would fail the next
				// request that took it (503) before the pool noticed. Close them all now;
				// connections in use close when they are released. (When only this
				// connection was cut — an idle timeout, a terminated backend — the server
				// answers and the pool is kept.)
				s.pool.Reset()
			}
			return err
		}
		switch n.Channel {
		case chanWork:
			tenant, wf, ok := strings.Cut(n.Payload, "\x1f")
			if ok {
				h.Work(store.WorkKey{TenantID: tenant, Workflow: wf})
			}
		case chanWorkflows:
			h.Workflows()
		case chanOutbox:
			h.Outbox()
		}
	}
}
