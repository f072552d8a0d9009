// Package sqlite is Herald's embedded store: pure-Go SQLite (modernc.org/sqlite) in WAL
// mode. All writes go through one connection, so they never contend for SQLite's single
// write lock; reads use a separate pool of read-only connections.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/heraldhq/herald/internal/store"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Config configures the SQLite store.
type Config struct {
	// Path is the database file. Required.
	Path string
	// Synchronous is SQLite's synchronous pragma: "FULL" (default; a commit survives power
	// loss) or "NORMAL" (a commit survives a process crash, not power loss).
	Synchronous string
	// ReadConns is the size of the read pool. Default 4.
	ReadConns int
}

// Store is the SQLite implementation of store.Store.
type Store struct {
	w *sql.DB // one connection: every write
	r *sql.DB // read-only pool

	// hot holds statements prepared once on the read pool for per-request reads.
	hotMu sync.Mutex
	hot   hotStmts
	// stmts holds the writer's statements, prepared once.
	stmts stmtCache
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) and migrates the database at cfg.Path.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Path == "" {
		return nil, errors.New("sqlite: path is required")
	}
	syncMode := strings.ToUpper(cfg.Synchronous)
	if syncMode == "" {
		syncMode = "FULL"
	}
	if syncMode != "FULL" && syncMode != "NORMAL" {
		return nil, fmt.Errorf("sqlite: synchronous must be FULL or NORMAL, not %q", cfg.Synchronous)
	}
	if cfg.ReadConns <= 0 {
		cfg.ReadConns = 4
	}
	if err := privateFiles(cfg.Path); err != nil {
		return nil, err
	}
	dsn := func(extra ...string) string {
		q := url.Values{}
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous("+syncMode+")")
		q.Add("_pragma", "foreign_keys(ON)")
		for _, e := range extra {
			k, v, _ := strings.Cut(e, "=")
			q.Add(k, v)
		}
		return "file:" + cfg.Path + "?" + q.Encode()
	}
	w, err := sql.Open("sqlite", dsn("_txlock=immediate"))
	if err != nil {
		return nil, fmt.Errorf("sqlite: opening %s: %w", cfg.Path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := pingWriter(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: opening %s: %w", cfg.Path, err)
	}
	s := &Store{w: w}
	if err := s.migrate(ctx); err != nil {
		w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite", dsn("_pragma=query_only(1)"))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: opening read pool: %w", err)
	}
	r.SetMaxOpenConns(cfg.ReadConns)
	r.SetMaxIdleConns(cfg.ReadConns)
	s.r = r
	return s, nil
}

// privateFiles keeps the database to its owner, like the token and the master key: it
// creates the database file with mode 0600 when there is none (SQLite gives the -wal and
// -shm files it makes the mode of the database file), and takes the group's and others'
// permissions off a database, -wal or -shm file that already has them (made by an older
// Herald, which left them 0644, or by hand). A file it cannot make private stops the start.
func privateFiles(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("sqlite: opening %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("sqlite: opening %s: %w", path, err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("sqlite: %w", err)
		}
		if mode := fi.Mode().Perm(); mode&0o077 != 0 {
			if err := os.Chmod(p, mode&^0o077); err != nil {
				return fmt.Errorf("sqlite: making %s private (mode %04o, want no group or other access): %w", p, mode, err)
			}
		}
	}
	return nil
}

// pingWriter opens the writer's connection. Switching a new database to WAL takes an
// exclusive lock and SQLite reports SQLITE_BUSY for it without waiting on the busy
// timeout, so when several processes open a new database at once, the losers retry for
// up to ten seconds.
func pingWriter(ctx context.Context, w *sql.DB) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := w.PingContext(ctx)
		if err == nil || !strings.Contains(err.Error(), "SQLITE_BUSY") || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Close closes both pools.
func (s *Store) Close() error {
	s.hotMu.Lock()
	var herr error
	if s.hot.webhookEvent != nil {
		herr = s.hot.webhookEvent.Close()
	}
	s.hotMu.Unlock()
	return errors.Join(herr, s.stmts.close(), s.r.Close(), s.w.Close())
}

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

// migrate applies pending migrations in one write transaction (SQLite's write lock
// serializes concurrent starters).
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return fmt.Errorf("sqlite: reading migrations: %w", err)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: migrating: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("sqlite: migrating: %w", err)
	}
	var cur int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&cur); err != nil {
		return fmt.Errorf("sqlite: reading schema version: %w", err)
	}
	if latest := ms[len(ms)-1].Version; cur > latest {
		return fmt.Errorf("%w: database is at version %d, this herald knows up to %d", store.ErrSchemaTooNew, cur, latest)
	}
	for _, m := range ms {
		if m.Version <= cur {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return fmt.Errorf("sqlite: applying migration %d: %w", m.Version, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, m.Version, ms64(time.Now())); err != nil {
			return fmt.Errorf("sqlite: recording migration %d: %w", m.Version, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: committing migrations: %w", err)
	}
	return nil
}

// write runs fn in one write transaction. Statements fn ran unprepared are prepared for
// the next transactions once this one ended.
func (s *Store) write(ctx context.Context, what string, fn func(tx *wtx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(what, err)
	}
	t := &wtx{tx: tx, cache: &s.stmts}
	defer func() {
		tx.Rollback()
		if len(t.uncached) > 0 {
			s.stmts.prepare(context.WithoutCancel(ctx), s.w, t.uncached)
		}
	}()
	if err := fn(t); err != nil {
		return mapErr(what, err)
	}
	if err := tx.Commit(); err != nil {
		return mapErr(what, err)
	}
	return nil
}

// mapErr wraps err with context, translating SQLite codes to store sentinels.
func mapErr(what string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrStaleLease) {
		return err
	}
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%s: %w", what, store.ErrConflict)
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR:
			return fmt.Errorf("%s: %w: %v", what, store.ErrUnavailable, err)
		}
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL:
			return fmt.Errorf("%s: %w: %v", what, store.ErrUnavailable, err)
		}
	}
	return fmt.Errorf("%s: %w", what, err)
}

func ms64(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

func nullMS(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMilli()
}

func ptrMS(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMS(v.Int64)
	return &t
}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// collect reads every row of rows with scan (store.CollectRows) and closes rows.
func collect[T any](rows *sql.Rows, scan func(store.Scanner) (T, error)) ([]T, error) {
	defer rows.Close()
	return store.CollectRows(rows, scan)
}

// placeholders returns "?, ?, ?" for n.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}
