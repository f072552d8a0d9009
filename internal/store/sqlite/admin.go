package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/heraldhq/herald/internal/store"
)

// TenantCreate implements store.Store.
func (s *Store) TenantCreate(ctx context.Context, t store.Tenant) error {
	return s.write(ctx, "creating tenant", func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)`, t.ID, t.Name, ms64(t.CreatedAt))
		return err
	})
}

func scanTenant(row store.Scanner) (store.Tenant, error) {
	var t store.Tenant
	var created int64
	if err := row.Scan(&t.ID, &t.Name, &created); err != nil {
		return t, err
	}
	t.CreatedAt = fromMS(created)
	return t, nil
}

// TenantGetByName implements store.Store.
func (s *Store) TenantGetByName(ctx context.Context, name string) (store.Tenant, error) {
	t, err := scanTenant(s.r.QueryRowContext(ctx, `SELECT id, name, created_at FROM tenants WHERE name = ?`, name))
	return t, mapErr("getting tenant", err)
}

// TenantGet implements store.Store.
func (s *Store) TenantGet(ctx context.Context, id string) (store.Tenant, error) {
	t, err := scanTenant(s.r.QueryRowContext(ctx, `SELECT id, name, created_at FROM tenants WHERE id = ?`, id))
	return t, mapErr("getting tenant", err)
}

// TenantList implements store.Store.
func (s *Store) TenantList(ctx context.Context) ([]store.Tenant, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, name, created_at FROM tenants ORDER BY name`)
	if err != nil {
		return nil, mapErr("listing tenants", err)
	}
	out, err := collect(rows, scanTenant)
	return out, mapErr("listing tenants", err)
}

// TokenCreate implements store.Store.
func (s *Store) TokenCreate(ctx context.Context, t store.Token) error {
	return s.write(ctx, "creating token", func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO api_tokens (id, tenant_id, name, hash, role, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			t.ID, t.TenantID, t.Name, t.Hash, string(t.Role), ms64(t.CreatedAt))
		return err
	})
}

const tokenCols = `k.id, k.tenant_id, t.name, k.name, k.hash, k.role, k.created_at, k.revoked_at`

func scanToken(row store.Scanner) (store.Token, error) {
	var k store.Token
	var created int64
	var revoked sql.NullInt64
	if err := row.Scan(&k.ID, &k.TenantID, &k.TenantName, &k.Name, &k.Hash, &k.Role, &created, &revoked); err != nil {
		return k, err
	}
	k.CreatedAt = fromMS(created)
	k.RevokedAt = ptrMS(revoked)
	return k, nil
}

// TokenGetByHash implements store.Store.
func (s *Store) TokenGetByHash(ctx context.Context, hash []byte) (store.Token, error) {
	k, err := scanToken(s.r.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM api_tokens k JOIN tenants t ON t.id = k.tenant_id
		WHERE k.hash = ? AND k.revoked_at IS NULL`, hash))
	return k, mapErr("getting token", err)
}

// TokenGet implements store.Store.
func (s *Store) TokenGet(ctx context.Context, tenantID, id string) (store.Token, error) {
	k, err := scanToken(s.r.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM api_tokens k JOIN tenants t ON t.id = k.tenant_id
		WHERE k.tenant_id = ? AND k.id = ?`, tenantID, id))
	return k, mapErr("getting token", err)
}

// TokenList implements store.Store.
func (s *Store) TokenList(ctx context.Context, tenantID string) ([]store.Token, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+tokenCols+` FROM api_tokens k JOIN tenants t ON t.id = k.tenant_id
		WHERE k.tenant_id = ? ORDER BY k.created_at, k.id`, tenantID)
	if err != nil {
		return nil, mapErr("listing tokens", err)
	}
	out, err := collect(rows, scanToken)
	return out, mapErr("listing tokens", err)
}

// TokenRevoke implements store.Store.
func (s *Store) TokenRevoke(ctx context.Context, p store.TokenRevokeParams) error {
	return s.write(ctx, "revoking token", func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE tenant_id = ? AND id = ?`, ms64(p.At), p.TenantID, p.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		return nil
	})
}

// WorkflowPut implements store.Store.
func (s *Store) WorkflowPut(ctx context.Context, p store.PutWorkflowParams) (store.Workflow, bool, error) {
	var created bool
	var mark int64
	def, err := json.Marshal(p.Def)
	if err != nil {
		return store.Workflow{}, false, fmt.Errorf("encoding workflow: %w", err)
	}
	err = s.write(ctx, "putting workflow", func(tx *wtx) error {
		var id, hash string
		var version int
		err := tx.QueryRowContext(ctx, `SELECT w.id, w.current_version, v.hash FROM workflows w
			JOIN workflow_versions v ON v.workflow_id = w.id AND v.version = w.current_version
			WHERE w.tenant_id = ? AND w.name = ?`, p.TenantID, p.Def.Name).Scan(&id, &version, &hash)
		if err != nil && err != sql.ErrNoRows {
			return err
		}
		next, insert, skip := store.WorkflowVersionDecision(err == nil, version, hash, p.Hash)
		if skip {
			return nil
		}
		version = next
		if insert {
			id = p.NewID
			if _, err := tx.ExecContext(ctx, `INSERT INTO workflows (id, tenant_id, name, active, current_version, created_at, updated_at)
				VALUES (?, ?, ?, 1, 1, ?, ?)`, id, p.TenantID, p.Def.Name, ms64(p.At), ms64(p.At)); err != nil {
				return err
			}
		} else {
			if _, err := tx.ExecContext(ctx, `UPDATE workflows SET current_version = ?, updated_at = ? WHERE id = ?`, version, ms64(p.At), id); err != nil {
				return err
			}
		}
		created = true
		if _, err := tx.ExecContext(ctx, `INSERT INTO workflow_versions (workflow_id, version, tenant_id, definition, hash, created_at)
			VALUES (?, ?, ?, ?, ?, ?)`, id, version, p.TenantID, string(def), p.Hash, ms64(p.At)); err != nil {
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

func scanWorkflow(row store.Scanner) (store.Workflow, error) {
	var wf store.Workflow
	var def string
	var created, updated, mark int64
	if err := row.Scan(&wf.ID, &wf.TenantID, &wf.Name, &wf.Active, &wf.Version, &def, &created, &updated, &mark); err != nil {
		return wf, err
	}
	wf.Mark = strconv.FormatInt(mark, 10)
	if err := json.Unmarshal([]byte(def), &wf.Def); err != nil {
		return wf, fmt.Errorf("decoding workflow %s: %w", wf.Name, err)
	}
	wf.CreatedAt, wf.UpdatedAt = fromMS(created), fromMS(updated)
	return wf, nil
}

// WorkflowGet implements store.Store.
func (s *Store) WorkflowGet(ctx context.Context, p store.WorkflowGetParams) (store.Workflow, error) {
	q := `SELECT ` + workflowCols + ` FROM workflows w JOIN workflow_versions v ON v.workflow_id = w.id
		WHERE w.tenant_id = ? AND w.name = ? AND v.version = `
	args := []any{p.TenantID, p.Name}
	if p.Version > 0 {
		q += `?`
		args = append(args, p.Version)
	} else {
		q += `w.current_version`
	}
	wf, err := scanWorkflow(s.r.QueryRowContext(ctx, q, args...))
	return wf, mapErr("getting workflow", err)
}

// bumpWorkflows records a change to a workflow (or to its filters): the change mark goes
// up by one and the workflow carries the new mark (see WorkflowChanges), which it returns.
func bumpWorkflows(ctx context.Context, tx *wtx, workflowID string) (int64, error) {
	var mark int64
	if err := tx.QueryRowContext(ctx, `UPDATE workflow_changes SET mark = mark + 1 WHERE id = 1 RETURNING mark`).Scan(&mark); err != nil {
		return 0, err
	}
	_, err := tx.ExecContext(ctx, `UPDATE workflows SET change_mark = ? WHERE id = ?`, mark, workflowID)
	return mark, err
}

func (s *Store) listWorkflows(ctx context.Context, db queryer, where string, args ...any) ([]store.Workflow, error) {
	rows, err := db.QueryContext(ctx, `SELECT `+workflowCols+` FROM workflows w
		JOIN workflow_versions v ON v.workflow_id = w.id AND v.version = w.current_version `+where+` ORDER BY w.tenant_id, w.name`, args...)
	if err != nil {
		return nil, mapErr("listing workflows", err)
	}
	out, err := collect(rows, scanWorkflow)
	return out, mapErr("listing workflows", err)
}

// WorkflowList implements store.Store.
func (s *Store) WorkflowList(ctx context.Context, tenantID string) ([]store.Workflow, error) {
	return s.listWorkflows(ctx, s.r, `WHERE w.tenant_id = ?`, tenantID)
}

// WorkflowSetActive implements store.Store.
func (s *Store) WorkflowSetActive(ctx context.Context, p store.WorkflowSetActiveParams) (store.Workflow, error) {
	err := s.write(ctx, "toggling workflow", func(tx *wtx) error {
		var id string
		if err := tx.QueryRowContext(ctx, `UPDATE workflows SET active = ?, updated_at = ? WHERE tenant_id = ? AND name = ? RETURNING id`,
			boolInt(p.Active), ms64(p.At), p.TenantID, p.Name).Scan(&id); err != nil {
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

// WorkflowChanges implements store.Store. One read transaction gives the mark and the
// rows one snapshot.
func (s *Store) WorkflowChanges(ctx context.Context, since string) (store.WorkflowChangeSet, error) {
	after, err := store.ParseChangeMark(since)
	if err != nil {
		return store.WorkflowChangeSet{}, err
	}
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return store.WorkflowChangeSet{}, mapErr("reading workflow changes", err)
	}
	defer tx.Rollback()
	var cs store.WorkflowChangeSet
	var mark int64
	if err := tx.QueryRowContext(ctx, `SELECT mark FROM workflow_changes WHERE id = 1`).Scan(&mark); err != nil {
		return cs, mapErr("reading workflow changes", err)
	}
	cs.Mark = strconv.FormatInt(mark, 10)
	if cs.Workflows, err = s.listWorkflows(ctx, tx, `WHERE w.change_mark > ?`, after); err != nil {
		return cs, err
	}
	cs.Filters, err = s.queryFilters(ctx, tx, "listing filters", `SELECT `+filterCols+` FROM workflow_filters f
		JOIN workflows w ON w.id = f.workflow_id WHERE w.change_mark > ? ORDER BY f.id`, after)
	return cs, err
}

// WorkflowChangeMark implements store.Store.
func (s *Store) WorkflowChangeMark(ctx context.Context) (string, error) {
	var mark int64
	err := s.r.QueryRowContext(ctx, `SELECT mark FROM workflow_changes WHERE id = 1`).Scan(&mark)
	return strconv.FormatInt(mark, 10), mapErr("reading workflow change mark", err)
}
