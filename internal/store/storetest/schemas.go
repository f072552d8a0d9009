package storetest

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// schemaDoc is a schema document requiring a numeric field.
func schemaDoc(field string) json.RawMessage {
	return json.RawMessage(`{"type":"object","required":["` + field + `"],"properties":{"` + field + `":{"type":"number"}}}`)
}

func testSchemas(t *testing.T, open Opener) {
	t.Run("PutGetListDelete", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		other := b.newTenant("other")
		mark0, err := b.s.SchemaChangeMark(b.ctx)
		noErr(t, err, "EventSchemasChangeMark")

		saved, created, err := b.s.SchemaPut(b.ctx, store.EventSchema{TenantID: b.tenant.ID, Key: "order:paid",
			Schema: schemaDoc("amount"), CreatedAt: at(time.Second), UpdatedAt: at(time.Second)})
		noErr(t, err, "PutEventSchema")
		if !created || string(saved.Schema) != string(schemaDoc("amount")) || !saved.CreatedAt.Equal(at(time.Second)) || !saved.UpdatedAt.Equal(at(time.Second)) {
			t.Fatalf("first put: created=%v saved=%+v", created, saved)
		}
		mark1, err := b.s.SchemaChangeMark(b.ctx)
		noErr(t, err, "EventSchemasChangeMark")
		if mark1 == mark0 {
			t.Fatalf("change mark did not move on insert: %q", mark1)
		}
		// The same document again changes nothing, not even the mark.
		saved, created, err = b.s.SchemaPut(b.ctx, store.EventSchema{TenantID: b.tenant.ID, Key: "order:paid",
			Schema: schemaDoc("amount"), CreatedAt: at(2 * time.Second), UpdatedAt: at(2 * time.Second)})
		noErr(t, err, "PutEventSchema(same)")
		if created || !saved.UpdatedAt.Equal(at(time.Second)) {
			t.Fatalf("same put: created=%v saved=%+v", created, saved)
		}
		if m, _ := b.s.SchemaChangeMark(b.ctx); m != mark1 {
			t.Fatalf("change mark moved on a no-op put: %q -> %q", mark1, m)
		}
		// A different document replaces it and keeps created_at.
		saved, created, err = b.s.SchemaPut(b.ctx, store.EventSchema{TenantID: b.tenant.ID, Key: "order:paid",
			Schema: schemaDoc("total"), CreatedAt: at(3 * time.Second), UpdatedAt: at(3 * time.Second)})
		noErr(t, err, "PutEventSchema(replace)")
		if created || !saved.CreatedAt.Equal(at(time.Second)) || !saved.UpdatedAt.Equal(at(3*time.Second)) {
			t.Fatalf("replacing put: created=%v saved=%+v", created, saved)
		}
		mark2, _ := b.s.SchemaChangeMark(b.ctx)
		if mark2 == mark1 {
			t.Fatal("change mark did not move on replace")
		}
		got, err := b.s.SchemaGet(b.ctx, b.tenant.ID, "order:paid")
		noErr(t, err, "GetEventSchema")
		if got.TenantID != b.tenant.ID || got.Key != "order:paid" || string(got.Schema) != string(schemaDoc("total")) ||
			!got.CreatedAt.Equal(at(time.Second)) || !got.UpdatedAt.Equal(at(3*time.Second)) {
			t.Fatalf("GetEventSchema = %+v", got)
		}
		// Key order and spacing are kept as saved.
		odd := json.RawMessage(`{"type":"object","properties":{"z":{},"a":{}}}`)
		_, _, err = b.s.SchemaPut(b.ctx, store.EventSchema{TenantID: b.tenant.ID, Key: "a:first", Schema: odd, CreatedAt: base, UpdatedAt: base})
		noErr(t, err, "PutEventSchema(a:first)")
		_, _, err = b.s.SchemaPut(b.ctx, store.EventSchema{TenantID: other.ID, Key: "order:paid", Schema: schemaDoc("x"), CreatedAt: base, UpdatedAt: base})
		noErr(t, err, "PutEventSchema(other tenant)")

		list, err := b.s.SchemaList(b.ctx, b.tenant.ID)
		noErr(t, err, "ListEventSchemas")
		if len(list) != 2 || list[0].Key != "a:first" || string(list[0].Schema) != string(odd) || list[1].Key != "order:paid" {
			t.Fatalf("ListEventSchemas = %+v", list)
		}
		all, err := b.s.SchemaListAll(b.ctx)
		noErr(t, err, "ListAllEventSchemas")
		if len(all) != 3 {
			t.Fatalf("ListAllEventSchemas returned %d schemas, want 3", len(all))
		}

		// Tenant isolation: another tenant's key is not found, and its delete touches nothing.
		_, err = b.s.SchemaGet(b.ctx, b.tenant.ID, "nope")
		wantErr(t, err, store.ErrNotFound, "GetEventSchema(unknown)")
		_, _, err = b.s.SchemaPut(b.ctx, store.EventSchema{TenantID: other.ID, Key: "only:other", Schema: schemaDoc("x"), CreatedAt: base, UpdatedAt: base})
		noErr(t, err, "PutEventSchema(only:other)")
		_, err = b.s.SchemaGet(b.ctx, b.tenant.ID, "only:other")
		wantErr(t, err, store.ErrNotFound, "GetEventSchema(other tenant's key)")
		wantErr(t, b.s.SchemaDelete(b.ctx, b.tenant.ID, "only:other"), store.ErrNotFound, "DeleteEventSchema(other tenant's key)")
		if _, err := b.s.SchemaGet(b.ctx, other.ID, "only:other"); err != nil {
			t.Fatalf("the other tenant's schema is gone: %v", err)
		}

		mark3, _ := b.s.SchemaChangeMark(b.ctx)
		noErr(t, b.s.SchemaDelete(b.ctx, b.tenant.ID, "order:paid"), "DeleteEventSchema")
		_, err = b.s.SchemaGet(b.ctx, b.tenant.ID, "order:paid")
		wantErr(t, err, store.ErrNotFound, "GetEventSchema(deleted)")
		if m, _ := b.s.SchemaChangeMark(b.ctx); m == mark3 {
			t.Fatal("change mark did not move on delete")
		}
		wantErr(t, b.s.SchemaDelete(b.ctx, b.tenant.ID, "order:paid"), store.ErrNotFound, "DeleteEventSchema(again)")
		if got, err := b.s.SchemaGet(b.ctx, other.ID, "order:paid"); err != nil || string(got.Schema) != string(schemaDoc("x")) {
			t.Fatalf("deleting one tenant's key touched the other's: %+v %v", got, err)
		}
	})

	t.Run("ConcurrentFirstPuts", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		// Several first puts of one key race: exactly one creates, none fails.
		const n = 6
		var wg sync.WaitGroup
		createdN := make(chan bool, n)
		errs := make(chan error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, created, err := b.s.SchemaPut(b.ctx, store.EventSchema{TenantID: b.tenant.ID, Key: "race",
					Schema: schemaDoc("amount"), CreatedAt: base, UpdatedAt: base})
				errs <- err
				createdN <- created
			}()
		}
		wg.Wait()
		close(errs)
		close(createdN)
		for err := range errs {
			noErr(t, err, "PutEventSchema(concurrent)")
		}
		c := 0
		for ok := range createdN {
			if ok {
				c++
			}
		}
		if c != 1 {
			t.Fatalf("%d concurrent first puts reported created, want 1", c)
		}
	})
}
