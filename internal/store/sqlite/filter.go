package sqlite

import (
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// eventFilter returns the WHERE conditions and arguments of an event listing. Metadata
// filters use the event_metadata index when indexed is set (the events table), else the
// JSON column metadata (delayed events, not indexed).
func eventFilter(tenantID string, f store.EventFilter, indexed bool) ([]string, []any) {
	where, args := []string{"tenant_id = ?"}, []any{tenantID}
	if f.Key != "" {
		where, args = append(where, "key = ?"), append(args, f.Key)
	}
	if f.KeyPrefix != "" {
		// Keys are ASCII and compared bytewise: a prefix is a range of the key index.
		where, args = append(where, "key >= ? AND key < ?"), append(args, f.KeyPrefix, f.KeyPrefix+"\xff")
	}
	mconds, margs := metadataConds("metadata", f.Metadata)
	if indexed {
		mconds, margs = indexedMetadataConds("id", tenantID, f.Metadata)
	}
	where, args = append(where, mconds...), append(args, margs...)
	if f.Workflow != "" {
		where, args = append(where, workflowEventCond), append(args, tenantID, f.Workflow)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "created_at >= ?"), append(args, ms64(f.Since))
	}
	if !f.Until.IsZero() {
		// Ids are UUIDv7 of (about) their creation: the id bound lets a scan along the id
		// start at the window's end.
		where, args = append(where, "created_at < ?", "id < ?"), append(args, ms64(f.Until), store.TimeID(f.Until.Add(time.Second)))
	}
	if f.Before != "" {
		where, args = append(where, "id < ?"), append(args, f.Before)
	}
	if f.After != "" {
		where, args = append(where, "id > ?"), append(args, f.After)
	}
	return where, args
}
