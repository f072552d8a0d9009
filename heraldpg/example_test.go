package heraldpg_test

import (
	"context"
	"log"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/heraldpg"
)

// Write an order and the event announcing it in one transaction: the event exists if and
// only if the order does, and workflows listening for order:placed start after the commit.
func ExamplePush() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, "postgres://app@127.0.0.1:5432/app") // the database Herald runs on
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO orders (id, total) VALUES ($1, $2)`, "o-1", 4200); err != nil {
			return err
		}
		eventID, err := heraldpg.Push(ctx, tx, "default", herald.Event{
			Key:     "order:placed",
			Payload: map[string]any{"order_id": "o-1", "total": 4200},
		})
		log.Printf("event %s will be relayed after commit", eventID)
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
}
