package postgres

import (
	"context"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/store"
)

const schemaCols = `tenant_id, key, schema, created_at, updated_at`

func scanSchema(row pgx.Row) (store.EventSchema, error) {
	var s store.EventSchema
	var doc string
	if err := row.Scan(&s.TenantID, &s.Key, &doc, &s.CreatedAt, &s.UpdatedAt); err != nil {
		return s, err
	}
	s.Schema = []byte(doc)
	s.CreatedAt, s.UpdatedAt = s.CreatedAt.UTC(), s.UpdatedAt.UTC()
	return s, nil
}

// bumpSchemas bumps the schema change mark and wakes the other replicas. They listen on
// the workflows channel: its handler refreshes both the trigger index and the schema
// cache, each only when its own mark moved.
func bumpSchemas(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `UPDATE event_schema_changes SET mark = mark + 1 WHERE id = 1`); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `SELECT pg_notify($1, '')`, chanWorkflows)
	return err
}

// SchemaPut implements store.Store.
func (s *Store) SchemaPut(ctx context.Context, sc store.EventSchema) (store.EventSchema, bool, error) {
	var saved store.EventSchema
	var created bool
	err := s.tx(ctx, "saving event schema", func(tx pgx.Tx) error {
		created = false
		tag, err := tx.Exec(ctx, `INSERT INTO event_schemas (`+schemaCols+`) VALUES ($1, $2, $3, $4, $4)
			ON CONFLICT (tenant_id, key) DO NOTHING`, sc.TenantID, sc.Key, string(sc.Schema), sc.CreatedAt)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 1 {
			created, saved = true, sc
			saved.UpdatedAt = sc.CreatedAt
			return bumpSchemas(ctx, tx)
		}
		cur, err := scanSchema(tx.QueryRow(ctx, `SELECT `+schemaCols+` FROM event_schemas WHERE tenant_id = $1 AND key = $2 FOR UPDATE`,
			sc.TenantID, sc.Key))
		if err != nil {
			return err
		}
		if string(cur.Schema) == string(sc.Schema) {
			saved = cur
			return nil
		}
		saved = sc
		saved.CreatedAt = cur.CreatedAt
		if _, err := tx.Exec(ctx, `UPDATE event_schemas SET schema = $1, updated_at = $2 WHERE tenant_id = $3 AND key = $4`,
			string(sc.Schema), sc.UpdatedAt, sc.TenantID, sc.Key); err != nil {
			return err
		}
		return bumpSchemas(ctx, tx)
	})
	if err != nil {
		return store.EventSchema{}, false, err
	}
	return saved, created, nil
}

// SchemaGet implements store.Store.
func (s *Store) SchemaGet(ctx context.Context, tenantID, key string) (store.EventSchema, error) {
	sc, err := scanSchema(s.pool.QueryRow(ctx, `SELECT `+schemaCols+` FROM event_schemas WHERE tenant_id = $1 AND key = $2`, tenantID, key))
	return sc, mapErr("getting event schema", err)
}

// SchemaList implements store.Store.
func (s *Store) SchemaList(ctx context.Context, tenantID string) ([]store.EventSchema, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+schemaCols+` FROM event_schemas WHERE tenant_id = $1 ORDER BY key`, tenantID)
	if err != nil {
		return nil, mapErr("listing event schemas", err)
	}
	out, err := collect(rows, scanSchema)
	return out, mapErr("listing event schemas", err)
}

// SchemaListAll implements store.Store.
func (s *Store) SchemaListAll(ctx context.Context) ([]store.EventSchema, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+schemaCols+` FROM event_schemas ORDER BY tenant_id, key`)
	if err != nil {
		return nil, mapErr("listing event schemas", err)
	}
	out, err := collect(rows, scanSchema)
	return out, mapErr("listing event schemas", err)
}

// SchemaDelete implements store.Store.
func (s *Store) SchemaDelete(ctx context.Context, tenantID, key string) error {
	return s.tx(ctx, "deleting event schema", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM event_schemas WHERE tenant_id = $1 AND key = $2`, tenantID, key)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrNotFound
		}
		return bumpSchemas(ctx, tx)
	})
}

// SchemaChangeMark implements store.Store.
func (s *Store) SchemaChangeMark(ctx context.Context) (string, error) {
	var mark int64
	err := s.pool.QueryRow(ctx, `SELECT mark FROM event_schema_changes WHERE id = 1`).Scan(&mark)
	return strconv.FormatInt(mark, 10), mapErr("reading event schema change mark", err)
}
