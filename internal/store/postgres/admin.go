package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/store"
)

// TenantCreate implements store.Store.
func (s *Store) TenantCreate(ctx context.Context, t store.Tenant) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)`, t.ID, t.Name, t.CreatedAt)
	return mapErr("creating tenant", err)
}

func scanTenant(row pgx.Row) (store.Tenant, error) {
	var t store.Tenant
	err := row.Scan(&t.ID, &t.Name, &t.CreatedAt)
	t.CreatedAt = t.CreatedAt.UTC()
	return t, err
}

// TenantGetByName implements store.Store.
func (s *Store) TenantGetByName(ctx context.Context, name string) (store.Tenant, error) {
	t, err := scanTenant(s.pool.QueryRow(ctx, `SELECT id, name, created_at FROM tenants WHERE name = $1`, name))
	return t, mapErr("getting tenant", err)
}

// TenantGet implements store.Store.
func (s *Store) TenantGet(ctx context.Context, id string) (store.Tenant, error) {
	t, err := scanTenant(s.pool.QueryRow(ctx, `SELECT id, name, created_at FROM tenants WHERE id = $1`, id))
	return t, mapErr("getting tenant", err)
}

// TenantList implements store.Store.
func (s *Store) TenantList(ctx context.Context) ([]store.Tenant, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, name, created_at FROM tenants ORDER BY name`)
	if err != nil {
		return nil, mapErr("listing tenants", err)
	}
	out, err := collect(rows, scanTenant)
	return out, mapErr("listing tenants", err)
}

// collect reads every row of rows with scan (store.CollectRows) and closes rows.
func collect[T any](rows pgx.Rows, scan func(pgx.Row) (T, error)) ([]T, error) {
	defer rows.Close()
	return store.CollectRows(rows, func(r store.Scanner) (T, error) { return scan(r) })
}

// TokenCreate implements store.Store.
func (s *Store) TokenCreate(ctx context.Context, t store.Token) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO api_tokens (id, tenant_id, name, hash, role, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		t.ID, t.TenantID, t.Name, t.Hash, string(t.Role), t.CreatedAt)
	return mapErr("creating token", err)
}

const tokenCols = `k.id, k.tenant_id, t.name, k.name, k.hash, k.role, k.created_at, k.revoked_at`

func scanToken(row pgx.Row) (store.Token, error) {
	var k store.Token
	err := row.Scan(&k.ID, &k.TenantID, &k.TenantName, &k.Name, &k.Hash, &k.Role, &k.CreatedAt, &k.RevokedAt)
	k.CreatedAt = k.CreatedAt.UTC()
	k.RevokedAt = utcPtr(k.RevokedAt)
	return k, err
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// TokenGetByHash implements store.Store.
func (s *Store) TokenGetByHash(ctx context.Context, hash []byte) (store.Token, error) {
	k, err := scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenCols+` FROM api_tokens k JOIN tenants t ON t.id = k.tenant_id
		WHERE k.hash = $1 AND k.revoked_at IS NULL`, hash))
	return k, mapErr("getting token", err)
}

// TokenGet implements store.Store.
func (s *Store) TokenGet(ctx context.Context, tenantID, id string) (store.Token, error) {
	k, err := scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenCols+` FROM api_tokens k JOIN tenants t ON t.id = k.tenant_id
		WHERE k.tenant_id = $1 AND k.id = $2`, tenantID, id))
	return k, mapErr("getting token", err)
}

// TokenList implements store.Store.
func (s *Store) TokenList(ctx context.Context, tenantID string) ([]store.Token, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+tokenCols+` FROM api_tokens k JOIN tenants t ON t.id = k.tenant_id
		WHERE k.tenant_id = $1 ORDER BY k.created_at, k.id`, tenantID)
	if err != nil {
		return nil, mapErr("listing tokens", err)
	}
	out, err := collect(rows, scanToken)
	return out, mapErr("listing tokens", err)
}

// TokenRevoke implements store.Store.
func (s *Store) TokenRevoke(ctx context.Context, p store.TokenRevokeParams) error {
	tag, err := s.pool.Exec(ctx, `UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE tenant_id = $2 AND id = $3`, p.At, p.TenantID, p.ID)
	if err != nil {
		return mapErr("revoking token", err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}

// bumpWorkflows records a change to a workflow (or to its filters): the change mark goes
// up by one and the workflow carries the new mark (see WorkflowChanges). It tells the
// other replicas and returns the new mark. The caller must hold the workflow's row lock
// already (it changed or locked the row): every change takes that lock before the change
// mark's, or two changes of one workflow would deadlock.
func bumpWorkflows(ctx context.Context, tx pgx.Tx, workflowID string) (int64, error) {
	// One statement: the row lock on workflow_changes serializes every change until its
	// commit, so the fewer round trips after taking it, the better.
	var mark int64
	err := tx.QueryRow(ctx, `WITH m AS (UPDATE workflow_changes SET mark = mark + 1 WHERE id = 1 RETURNING mark),
		w AS (UPDATE workflows SET change_mark = (SELECT mark FROM m) WHERE id = $1 RETURNING id)
		SELECT m.mark FROM m, w, pg_notify($2, '')`, workflowID, chanWorkflows).Scan(&mark)
	return mark, err
}

// WorkflowPut implements store.Store.
func (s *Store) WorkflowPut(ctx context.Context, p store.PutWorkflowParams) (store.Workflow, bool, error) {
	def, err := json.Marshal(p.Def)
	if err != nil {
		return store.Workflow{}, false, fmt.Errorf("encoding workflow: %w", err)
	}
	var created bool
	var mark int64
	err = s.tx(ctx, "putting workflow", func(tx pgx.Tx) error {
		created = false
		// Serialize concurrent puts of one name (two workers registering at once).
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1 || '/' || $2))`, p.TenantID, p.Def.Name); err != nil {
			return err
		}
		var id, hash string
		var version int
		err := tx.QueryRow(ctx, `SELECT w.id, w.current_version, v.hash FROM workflows w
			JOIN workflow_versions v ON v.workflow_id = w.id AND v.version = w.current_version
			WHERE w.tenant_id = $1 AND w.name = $2`, p.TenantID, p.Def.Name).Scan(&id, &version, &hash)
		if err != nil && err != pgx.ErrNoRows {
			return err
		}
		next, insert, skip := store.WorkflowVersionDecision(err == nil, version, hash, p.Hash)
		if skip {
			return nil
		}
		version = next
		if insert {
			id = p.NewID
			if _, err := tx.Exec(ctx, `INSERT INTO workflows (id, tenant_id, name, active, current_version, created_at, updated_at)
				VALUES ($1, $2, $3, true, 1, $4, $4)`, id, p.TenantID, p.Def.Name, p.At); err != nil {
				return err
			}
		} else {
			if _, err := tx.Exec(ctx, `UPDATE workflows SET current_version = $1, updated_at = $2 WHERE id = $3`, version, p.At, id); err != nil {
				return err
			}
		}
		created = true
		if _, err := tx.Exec(ctx, `INSERT INTO workflow_versions (workflow_id, version, tenant_id, definition, hash, created_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, id, version, p.TenantID, string(def), p.Hash, p.At); err != nil {
			return err
		}
		mark, err = bumpWorkflows(ctx, tx, id)
		return err
	})
	if err != nil {
		return store.Workflow{}, false, err
	}
	wf, err := s.WorkflowGet(ctx, store.WorkflowGetParams{TenantID: p.TenantID, Name: p.Def.Name})
	wf.Mark = store.PutMark(created, mark)
	return wf, created, err
}

const workflowCols = `w.id, w.tenant_id, w.name, w.active, v.version, v.definition, w.created_at, w.updated_at, w.change_mark`

func scanWorkflow(row pgx.Row) (store.Workflow, error) {
	var wf store.Workflow
	var def string
	var mark int64
	if err := row.Scan(&wf.ID, &wf.TenantID, &wf.Name, &wf.Active, &wf.Version, &def, &wf.CreatedAt, &wf.UpdatedAt, &mark); err != nil {
		return wf, err
	}
	wf.Mark = strconv.FormatInt(mark, 10)
	if err := json.Unmarshal([]byte(def), &wf.Def); err != nil {
		return wf, fmt.Errorf("decoding workflow %s: %w", wf.Name, err)
	}
	wf.CreatedAt, wf.UpdatedAt = wf.CreatedAt.UTC(), wf.UpdatedAt.UTC()
	return wf, nil
}

// WorkflowGet implements store.Store.
func (s *Store) WorkflowGet(ctx context.Context, p store.WorkflowGetParams) (store.Workflow, error) {
	q := `SELECT ` + workflowCols + ` FROM workflows w JOIN workflow_versions v ON v.workflow_id = w.id
		WHERE w.tenant_id = $1 AND w.name = $2 AND v.version = `
	args := []any{p.TenantID, p.Name}
	if p.Version > 0 {
		q += `$3`
		args = append(args, p.Version)
	} else {
		q += `w.current_version`
	}
	wf, err := scanWorkflow(s.pool.QueryRow(ctx, q, args...))
	return wf, mapErr("getting workflow", err)
}

func (s *Store) listWorkflows(ctx context.Context, q querier, where string, args ...any) ([]store.Workflow, error) {
	rows, err := q.Query(ctx, `SELECT `+workflowCols+` FROM workflows w
		JOIN workflow_versions v ON v.workflow_id = w.id AND v.version = w.current_version `+where+` ORDER BY w.tenant_id, w.name`, args...)
	if err != nil {
		return nil, mapErr("listing workflows", err)
	}
	out, err := collect(rows, scanWorkflow)
	return out, mapErr("listing workflows", err)
}

// WorkflowList implements store.Store.
func (s *Store) WorkflowList(ctx context.Context, tenantID string) ([]store.Workflow, error) {
	return s.listWorkflows(ctx, s.pool, `WHERE w.tenant_id = $1`, tenantID)
}

// WorkflowSetActive implements store.Store.
func (s *Store) WorkflowSetActive(ctx context.Context, p store.WorkflowSetActiveParams) (store.Workflow, error) {
	err := s.tx(ctx, "toggling workflow", func(tx pgx.Tx) error {
		var id string
		if err := tx.QueryRow(ctx, `UPDATE workflows SET active = $1, updated_at = $2 WHERE tenant_id = $3 AND name = $4 RETURNING id`,
			p.Active, p.At, p.TenantID, p.Name).Scan(&id); err != nil {
			return err
		}
		_, err := bumpWorkflows(ctx, tx, id)
		return err
	})
	if err != nil {
		return store.Workflow{}, err
	}
	return s.WorkflowGet(ctx, store.WorkflowGetParams{TenantID: p.TenantID, Name: p.Name})
}

// WorkflowChanges implements store.Store. A read-only repeatable-read transaction gives
// the mark and the rows one snapshot.
func (s *Store) WorkflowChanges(ctx context.Context, since string) (store.WorkflowChangeSet, error) {
	after, err := store.ParseChangeMark(since)
	if err != nil {
		return store.WorkflowChangeSet{}, err
	}
	var cs store.WorkflowChangeSet
	err = pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var mark int64
		if err := tx.QueryRow(ctx, `SELECT mark FROM workflow_changes WHERE id = 1`).Scan(&mark); err != nil {
			return err
		}
		cs.Mark = strconv.FormatInt(mark, 10)
		var err error
		if cs.Workflows, err = s.listWorkflows(ctx, tx, `WHERE w.change_mark > $1`, after); err != nil {
			return err
		}
		cs.Filters, err = s.queryFilters(ctx, tx, "listing filters", `SELECT `+filterCols+` FROM workflow_filters f
			JOIN workflows w ON w.id = f.workflow_id WHERE w.change_mark > $1 ORDER BY f.id`, after)
		return err
	})
	return cs, mapErr("reading workflow changes", err)
}

// WorkflowChangeMark implements store.Store.
func (s *Store) WorkflowChangeMark(ctx context.Context) (string, error) {
	var mark int64
	err := s.pool.QueryRow(ctx, `SELECT mark FROM workflow_changes WHERE id = 1`).Scan(&mark)
	return strconv.FormatInt(mark, 10), mapErr("reading workflow change mark", err)
}
