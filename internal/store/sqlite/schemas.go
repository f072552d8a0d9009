package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/heraldhq/herald/internal/store"
)

const schemaCols = `tenant_id, key, schema, created_at, updated_at`

func scanSchema(row store.Scanner) (store.EventSchema, error) {
	var s store.EventSchema
	var doc string
	var created, updated int64
	if err := row.Scan(&s.TenantID, &s.Key, &doc, &created, &updated); err != nil {
		return s, err
	}
	s.Schema = json.RawMessage(doc)
	s.CreatedAt, s.UpdatedAt = fromMS(created), fromMS(updated)
	return s, nil
}

// SchemaPut implements store.Store.
func (s *Store) SchemaPut(ctx context.Context, sc store.EventSchema) (store.EventSchema, bool, error) {
	var saved store.EventSchema
	var created bool
	err := s.write(ctx, "saving event schema", func(tx *wtx) error {
		cur, err := scanSchema(tx.QueryRowContext(ctx, `SELECT `+schemaCols+` FROM event_schemas WHERE tenant_id = ? AND key = ?`,
			sc.TenantID, sc.Key))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			created, saved = true, sc
			saved.UpdatedAt = sc.CreatedAt
			if _, err := tx.ExecContext(ctx, `INSERT INTO event_schemas (`+schemaCols+`) VALUES (?, ?, ?, ?, ?)`,
				sc.TenantID, sc.Key, string(sc.Schema), ms64(sc.CreatedAt), ms64(sc.CreatedAt)); err != nil {
				return err
			}
		case err != nil:
			return err
		case string(cur.Schema) == string(sc.Schema):
			saved = cur
			return nil
		default:
			saved = sc
			saved.CreatedAt = cur.CreatedAt
			if _, err := tx.ExecContext(ctx, `UPDATE event_schemas SET schema = ?, updated_at = ? WHERE tenant_id = ? AND key = ?`,
				string(sc.Schema), ms64(sc.UpdatedAt), sc.TenantID, sc.Key); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `UPDATE event_schema_changes SET mark = mark + 1 WHERE id = 1`)
		return err
	})
	if err != nil {
		return store.EventSchema{}, false, err
	}
	return saved, created, nil
}

// SchemaGet implements store.Store.
func (s *Store) SchemaGet(ctx context.Context, tenantID, key string) (store.EventSchema, error) {
	sc, err := scanSchema(s.r.QueryRowContext(ctx, `SELECT `+schemaCols+` FROM event_schemas WHERE tenant_id = ? AND key = ?`, tenantID, key))
	return sc, mapErr("getting event schema", err)
}

// SchemaList implements store.Store.
func (s *Store) SchemaList(ctx context.Context, tenantID string) ([]store.EventSchema, error) {
	return s.listSchemas(ctx, `SELECT `+schemaCols+` FROM event_schemas WHERE tenant_id = ? ORDER BY key`, tenantID)
}

// SchemaListAll implements store.Store.
func (s *Store) SchemaListAll(ctx context.Context) ([]store.EventSchema, error) {
	return s.listSchemas(ctx, `SELECT `+schemaCols+` FROM event_schemas ORDER BY tenant_id, key`)
}

func (s *Store) listSchemas(ctx context.Context, q string, args ...any) ([]store.EventSchema, error) {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, mapErr("listing event schemas", err)
	}
	out, err := collect(rows, scanSchema)
	return out, mapErr("listing event schemas", err)
}

// SchemaDelete implements store.Store.
func (s *Store) SchemaDelete(ctx context.Context, tenantID, key string) error {
	return s.write(ctx, "deleting event schema", func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM event_schemas WHERE tenant_id = ? AND key = ?`, tenantID, key)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return store.ErrNotFound
		}
		_, err = tx.ExecContext(ctx, `UPDATE event_schema_changes SET mark = mark + 1 WHERE id = 1`)
		return err
	})
}

// SchemaChangeMark implements store.Store.
func (s *Store) SchemaChangeMark(ctx context.Context) (string, error) {
	var mark int64
	err := s.r.QueryRowContext(ctx, `SELECT mark FROM event_schema_changes WHERE id = 1`).Scan(&mark)
	return strconv.FormatInt(mark, 10), mapErr("reading event schema change mark", err)
}
