package postgres

import (
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// eventFilter builds the WHERE clause of an event listing.
func eventFilter(tenantID string, f store.EventFilter) *where {
	w := &where{}
	w.add("tenant_id = ?", tenantID)
	addKeyConds(w, f.Key, f.KeyPrefix)
	addMetadataConds(w, "metadata", f.Metadata)
	if f.Workflow != "" {
		addWorkflowEventCond(w, tenantID, f.Workflow)
	}
	if !f.Since.IsZero() {
		w.add("created_at >= ?", f.Since)
	}
	if !f.Until.IsZero() {
		// Ids are UUIDv7 of (about) their creation: the id bound lets a scan along the id
		// start at the window's end.
		w.add("created_at < ?", f.Until)
		w.add("id < ?", store.TimeID(f.Until.Add(time.Second)))
	}
	if f.Before != "" {
		w.add("id < ?", f.Before)
	}
	if f.After != "" {
		w.add("id > ?", f.After)
	}
	return w
}

// addKeyConds selects events with exactly key and with a key starting with prefix ("":
// any). Keys compare in byte order (COLLATE "C") so that the index on
// (tenant_id, key COLLATE "C", id) serves exact keys and prefixes alike, whatever the
// database's collation: a prefix is the range [prefix, prefixEnd).
func addKeyConds(w *where, key, prefix string) {
	if key != "" {
		w.add(`key COLLATE "C" = ?`, key)
	}
	if prefix != "" {
		if end, ok := prefixEnd(prefix); ok {
			w.add(`key COLLATE "C" >= ?`, prefix)
			w.add(`key COLLATE "C" < ?`, end)
		} else {
			w.add("starts_with(key, ?)", prefix)
		}
	}
}

// prefixEnd returns the least string greater, in byte order, than every string starting
// with prefix, when prefix ends with an ASCII byte below 0x7f (every event key does).
func prefixEnd(prefix string) (string, bool) {
	last := prefix[len(prefix)-1]
	if last >= 0x7f {
		return "", false
	}
	return prefix[:len(prefix)-1] + string(rune(last+1)), true
}
