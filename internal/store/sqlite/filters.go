package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"

	"github.com/heraldhq/herald/internal/store"
)

const filterCols = `f.id, f.tenant_id, f.workflow_id, w.name, f.scope, f.expression, f.payload, f.created_at`

func scanFilter(row store.Scanner) (store.Filter, error) {
	var f store.Filter
	var payload sql.NullString
	var created int64
	if err := row.Scan(&f.ID, &f.TenantID, &f.WorkflowID, &f.Workflow, &f.Scope, &f.Expression, &payload, &created); err != nil {
		return f, err
	}
	if payload.Valid {
		f.Payload = json.RawMessage(payload.String)
	}
	f.CreatedAt = fromMS(created)
	return f, nil
}

// FilterCreate implements store.Store.
func (s *Store) FilterCreate(ctx context.Context, f store.Filter) (store.Filter, error) {
	var payload any
	if len(f.Payload) > 0 {
		payload = string(f.Payload)
	}
	var mark int64
	err := s.write(ctx, "creating filter", func(tx *wtx) error {
		if err := tx.QueryRowContext(ctx, `SELECT id FROM workflows WHERE tenant_id = ? AND name = ?`,
			f.TenantID, f.Workflow).Scan(&f.WorkflowID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO workflow_filters (id, tenant_id, workflow_id, scope, expression, payload, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, f.ID, f.TenantID, f.WorkflowID, f.Scope, f.Expression, payload, ms64(f.CreatedAt)); err != nil {
			return err
		}
		var err error
		mark, err = bumpWorkflows(ctx, tx, f.WorkflowID)
		return err
	})
	if err != nil {
		return store.Filter{}, err
	}
	out, err := s.FilterGet(ctx, store.FilterRef{TenantID: f.TenantID, Workflow: f.Workflow, ID: f.ID})
	out.Mark = store.PutMark(true, mark)
	return out, err
}

// FilterGet implements store.Store.
func (s *Store) FilterGet(ctx context.Context, p store.FilterRef) (store.Filter, error) {
	f, err := scanFilter(s.r.QueryRowContext(ctx, `SELECT `+filterCols+` FROM workflow_filters f
		JOIN workflows w ON w.id = f.workflow_id WHERE f.tenant_id = ? AND w.tenant_id = ? AND w.name = ? AND f.id = ?`,
		p.TenantID, p.TenantID, p.Workflow, p.ID))
	return f, mapErr("getting filter", err)
}

// FilterList implements store.Store.
func (s *Store) FilterList(ctx context.Context, p store.FilterListParams) ([]store.Filter, error) {
	q := `SELECT ` + filterCols + ` FROM workflow_filters f JOIN workflows w ON w.id = f.workflow_id
		WHERE f.tenant_id = ? AND w.tenant_id = ? AND w.name = ?`
	args := []any{p.TenantID, p.TenantID, p.Workflow}
	if p.Scope != "" {
		q += ` AND f.scope = ?`
		args = append(args, p.Scope)
	}
	if p.Before != "" {
		q += ` AND f.id < ?`
		args = append(args, p.Before)
	}
	q += ` ORDER BY f.id DESC`
	if p.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, p.Limit)
	}
	return s.queryFilters(ctx, s.r, "listing filters", q, args...)
}

func (s *Store) queryFilters(ctx context.Context, db queryer, what, q string, args ...any) ([]store.Filter, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, mapErr(what, err)
	}
	out, err := collect(rows, scanFilter)
	if out == nil {
		out = []store.Filter{}
	}
	return out, mapErr(what, err)
}

// FilterDelete implements store.Store.
func (s *Store) FilterDelete(ctx context.Context, p store.FilterRef) error {
	return s.write(ctx, "deleting filter", func(tx *wtx) error {
		var workflowID string
		if err := tx.QueryRowContext(ctx, `DELETE FROM workflow_filters WHERE tenant_id = ? AND id = ?
			AND workflow_id = (SELECT id FROM workflows WHERE tenant_id = ? AND name = ?) RETURNING workflow_id`,
			p.TenantID, p.ID, p.TenantID, p.Workflow).Scan(&workflowID); err != nil {
			return err
		}
		_, err := bumpWorkflows(ctx, tx, workflowID)
		return err
	})
}
