package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// maxCachedStmts bounds the writer's statement cache: statements are cached by their SQL
// text, and the few built at run time (insertRows) come in a bounded set of shapes.
const maxCachedStmts = 256

// stmtCache holds statements prepared on the writer connection, by SQL text, so that a
// write does not parse and plan its statements every time (preparing was an eighth of
// the CPU of a push that starts a run). A transaction holds the writer's one
// connection, so a statement cannot be prepared on the pool while it runs: a statement
// not cached yet runs unprepared, and is prepared on the pool after the transaction.
type stmtCache struct {
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

func (c *stmtCache) get(q string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stmts[q]
}

// prepare caches the statements of qs not cached yet, while there is room. A statement
// that fails to prepare is left out: its next use runs unprepared and reports the error.
func (c *stmtCache) prepare(ctx context.Context, db *sql.DB, qs []string) {
	for _, q := range qs {
		c.mu.Lock()
		_, have := c.stmts[q]
		full := len(c.stmts) >= maxCachedStmts
		c.mu.Unlock()
		if have || full {
			continue
		}
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			continue
		}
		c.mu.Lock()
		if _, have := c.stmts[q]; have || len(c.stmts) >= maxCachedStmts {
			st.Close()
		} else {
			if c.stmts == nil {
				c.stmts = map[string]*sql.Stmt{}
			}
			c.stmts[q] = st
		}
		c.mu.Unlock()
	}
}

// close closes every cached statement.
func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var first error
	for q, st := range c.stmts {
		if err := st.Close(); err != nil && first == nil {
			first = err
		}
		delete(c.stmts, q)
	}
	return first
}

// wtx is a write transaction that runs its statements prepared, through the store's
// statement cache. It has the methods of *sql.Tx that the store uses.
type wtx struct {
	tx    *sql.Tx
	cache *stmtCache
	// uncached lists the statements run unprepared, to cache after the transaction.
	uncached []string
}

// stmt returns the transaction's form of q's cached statement, or nil (then q is noted
// for the cache).
func (t *wtx) stmt(ctx context.Context, q string) *sql.Stmt {
	if st := t.cache.get(q); st != nil {
		return t.tx.StmtContext(ctx, st)
	}
	t.uncached = append(t.uncached, q)
	return nil
}

// ExecContext is (*sql.Tx).ExecContext with q prepared once per store.
func (t *wtx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := t.stmt(ctx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, q, args...)
}

// ExecOnce runs q unprepared and keeps it out of the cache: for SQL whose text varies
// without bound (a list of a batch's ids), which would fill the cache with statements
// used once.
func (t *wtx) ExecOnce(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(ctx, q, args...)
}

// QueryContext is (*sql.Tx).QueryContext with q prepared once per store.
func (t *wtx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := t.stmt(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return t.tx.QueryContext(ctx, q, args...)
}

// QueryRowContext is (*sql.Tx).QueryRowContext with q prepared once per store.
func (t *wtx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if st := t.stmt(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, q, args...)
}
