package postgres

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/store"
)

const filterCols = `f.id, f.tenant_id, f.workflow_id, w.name, f.scope, f.expression, f.payload, f.created_at`

func scanFilter(row pgx.Row) (store.Filter, error) {
	var f store.Filter
	var payload []byte
	if err := row.Scan(&f.ID, &f.TenantID, &f.WorkflowID, &f.Workflow, &f.Scope, &f.Expression, &payload, &f.CreatedAt); err != nil {
		return f, err
	}
	if payload != nil {
		f.Payload = json.RawMessage(payload)
	}
	f.CreatedAt = f.CreatedAt.UTC()
	return f, nil
}

// FilterCreate implements store.Store.
func (s *Store) FilterCreate(ctx context.Context, f store.Filter) (store.Filter, error) {
	var payload any
	if len(f.Payload) > 0 {
		payload = f.Payload
	}
	var mark int64
	err := s.tx(ctx, "creating filter", func(tx pgx.Tx) error {
		// The workflow's row is locked before the change mark's, as every workflow change
		// locks them (see bumpWorkflows).
		if err := tx.QueryRow(ctx, `SELECT id FROM workflows WHERE tenant_id = $1 AND name = $2 FOR NO KEY UPDATE`,
			f.TenantID, f.Workflow).Scan(&f.WorkflowID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO workflow_filters (id, tenant_id, workflow_id, scope, expression, payload, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, f.ID, f.TenantID, f.WorkflowID, f.Scope, f.Expression, payload, f.CreatedAt); err != nil {
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
	f, err := scanFilter(s.pool.QueryRow(ctx, `SELECT `+filterCols+` FROM workflow_filters f
		JOIN workflows w ON w.id = f.workflow_id WHERE f.tenant_id = $1 AND w.tenant_id = $1 AND w.name = $2 AND f.id = $3`,
		p.TenantID, p.Workflow, p.ID))
	return f, mapErr("getting filter", err)
}

// FilterList implements store.Store.
func (s *Store) FilterList(ctx context.Context, p store.FilterListParams) ([]store.Filter, error) {
	w := &where{}
	w.add("f.tenant_id = ?", p.TenantID)
	w.add("w.tenant_id = ?", p.TenantID)
	w.add("w.name = ?", p.Workflow)
	if p.Scope != "" {
		w.add("f.scope = ?", p.Scope)
	}
	if p.Before != "" {
		w.add("f.id < ?", p.Before)
	}
	q := `SELECT ` + filterCols + ` FROM workflow_filters f JOIN workflows w ON w.id = f.workflow_id WHERE ` + w.String() + ` ORDER BY f.id DESC`
	if p.Limit > 0 {
		w.args = append(w.args, p.Limit)
		q += ` LIMIT $` + strconv.Itoa(len(w.args))
	}
	return s.queryFilters(ctx, s.pool, "listing filters", q, w.args...)
}

func (s *Store) queryFilters(ctx context.Context, db querier, what, q string, args ...any) ([]store.Filter, error) {
	rows, err := db.Query(ctx, q, args...)
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
	return s.tx(ctx, "deleting filter", func(tx pgx.Tx) error {
		// The workflow's row first, as in FilterCreate.
		var workflowID string
		if err := tx.QueryRow(ctx, `SELECT id FROM workflows WHERE tenant_id = $1 AND name = $2 FOR NO KEY UPDATE`,
			p.TenantID, p.Workflow).Scan(&workflowID); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM workflow_filters WHERE tenant_id = $1 AND id = $2 AND workflow_id = $3`,
			p.TenantID, p.ID, workflowID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrNotFound
		}
		_, err = bumpWorkflows(ctx, tx, workflowID)
		return err
	})
}
