// Package heraldpg writes Herald events inside your own PostgreSQL transaction: the
// transactional outbox. Use it when Herald runs on the same PostgreSQL database as your
// application's data and an event must exist if and only if your data change commits.
//
// Push inserts the event into the herald_outbox table through your transaction. Nothing
// triggers before you commit; if you roll back, the event never existed. After the commit,
// an engine replica (woken by a NOTIFY the insert fires) moves the entry into the event
// log in one transaction with the runs it triggers, usually within milliseconds. The id
// Push returns is the event's id.
//
// The package is separate from the root SDK so that only its users import pgx.
package heraldpg

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/heraldhq/herald"
)

// Execer is what Push writes through: a pgx.Tx (the point of this package), or a
// *pgx.Conn or *pgxpool.Pool for a push outside a transaction.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

const insert = `INSERT INTO herald_outbox (id, tenant, key, payload, metadata) VALUES ($1, $2, $3, $4, $5)`

// Push writes ev for tenant (a tenant name, e.g. "default") through tx and returns the
// event's id. The event is relayed only if tx commits.
func Push(ctx context.Context, tx Execer, tenant string, ev herald.Event) (string, error) {
	id, args, err := row(tenant, ev)
	if err != nil {
		return "", err
	}
	if _, err := tx.Exec(ctx, insert, args...); err != nil {
		return "", fmt.Errorf("heraldpg: writing event %q to the outbox: %w", ev.Key, err)
	}
	return id, nil
}

// PushSQL is Push for a database/sql transaction (for example with the pgx stdlib driver).
func PushSQL(ctx context.Context, tx *sql.Tx, tenant string, ev herald.Event) (string, error) {
	id, args, err := row(tenant, ev)
	if err != nil {
		return "", err
	}
	if _, err := tx.ExecContext(ctx, insert, args...); err != nil {
		return "", fmt.Errorf("heraldpg: writing event %q to the outbox: %w", ev.Key, err)
	}
	return id, nil
}

// row validates ev and returns its id and insert arguments.
func row(tenant string, ev herald.Event) (string, []any, error) {
	if tenant == "" {
		return "", nil, errors.New("heraldpg: tenant is required")
	}
	if err := validKey(ev.Key); err != nil {
		return "", nil, err
	}
	payload := []byte("{}")
	if ev.Payload != nil {
		b, err := json.Marshal(ev.Payload)
		if err != nil {
			return "", nil, fmt.Errorf("heraldpg: encoding payload: %w", err)
		}
		if len(b) == 0 || b[0] != '{' {
			if string(b) != "null" {
				return "", nil, errors.New("heraldpg: payload must encode to a JSON object")
			}
			b = []byte("{}")
		}
		payload = b
	}
	var meta any
	if len(ev.AdditionalMetadata) > 0 {
		b, err := json.Marshal(ev.AdditionalMetadata)
		if err != nil {
			return "", nil, fmt.Errorf("heraldpg: encoding additional metadata: %w", err)
		}
		meta = string(b)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return "", nil, fmt.Errorf("heraldpg: making an event id: %w", err)
	}
	return id.String(), []any{id.String(), tenant, ev.Key, string(payload), meta}, nil
}

// validKey applies the engine's key rules, so a bad key fails here rather than after commit.
func validKey(key string) error {
	if key == "" || len(key) > 255 {
		return fmt.Errorf("heraldpg: event key must be 1–255 bytes, got %d", len(key))
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == ':' || c == '/') {
			return fmt.Errorf("heraldpg: event key %q contains %q; allowed are A-Z a-z 0-9 . _ - : /", key, c)
		}
	}
	return nil
}
