package sqlite

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// metadataConds returns conditions keeping rows whose JSON column col has each of m's
// names with that value: a string as is, a number or boolean by its JSON text.
func metadataConds(col string, m map[string]string) ([]string, []any) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var where []string
	var args []any
	for _, k := range keys {
		path := `$."` + k + `"`
		where = append(where, "CASE json_type("+col+", ?) WHEN 'text' THEN "+col+" ->> ? ELSE "+col+" -> ? END = ?")
		args = append(args, path, path, path, m[k])
	}
	return where, args
}

// metadataRows returns the event_metadata rows of an event: one per string, number or
// boolean of its additional metadata whose name can be filtered on.
func metadataRows(e *store.Event) ([][]any, error) {
	if len(e.Metadata) == 0 {
		return nil, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(e.Metadata, &m); err != nil {
		return nil, fmt.Errorf("event %s: decoding metadata: %w", e.ID, err)
	}
	var out [][]any
	for name, raw := range m {
		if strings.ContainsAny(name, `"\`) || len(raw) == 0 {
			continue
		}
		var v string
		switch c := raw[0]; {
		case c == '"':
			if err := json.Unmarshal(raw, &v); err != nil {
				return nil, fmt.Errorf("event %s: decoding metadata %q: %w", e.ID, name, err)
			}
		case c == 't' || c == 'f' || c == '-' || (c >= '0' && c <= '9'):
			var buf bytes.Buffer
			if err := json.Compact(&buf, raw); err != nil {
				return nil, fmt.Errorf("event %s: metadata %q: %w", e.ID, name, err)
			}
			v = buf.String()
		default: // null, objects and arrays are not searchable
			continue
		}
		out = append(out, []any{e.TenantID, name, v, e.ID})
	}
	return out, nil
}

// indexedMetadataConds returns conditions keeping the events (their id column is col)
// whose additional metadata has each of m's names with that value, as ranges of the
// event_metadata primary key.
func indexedMetadataConds(col, tenantID string, m map[string]string) ([]string, []any) {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	var where []string
	var args []any
	for _, k := range names {
		where = append(where, col+" IN (SELECT event_id FROM event_metadata WHERE tenant_id = ? AND name = ? AND value = ?)")
		args = append(args, tenantID, k, m[k])
	}
	return where, args
}

// workflowEventCond keeps the events that started a run of a workflow: a range of the
// runs_tenant_workflow_event index.
const workflowEventCond = "id IN (SELECT event_id FROM runs WHERE tenant_id = ? AND workflow_name = ? AND event_id IS NOT NULL)"

// runSearchConds returns the conditions of a run listing's event filters (the key and
// metadata of the run's event) and time filters: each run probes its event by primary key
// (newest runs first, until the page is full).
func runSearchConds(tenantID string, f store.RunFilter) ([]string, []any) {
	var where []string
	var args []any
	mconds, margs := indexedMetadataConds("event_id", tenantID, f.Metadata)
	where, args = append(where, mconds...), append(args, margs...)
	if f.Key != "" || f.KeyPrefix != "" {
		var conds []string
		var cargs []any
		if f.Key != "" {
			conds, cargs = append(conds, "e.key = ?"), append(cargs, f.Key)
		}
		if f.KeyPrefix != "" {
			conds, cargs = append(conds, "e.key >= ? AND e.key < ?"), append(cargs, f.KeyPrefix, f.KeyPrefix+"\xff")
		}
		q := "EXISTS (SELECT 1 FROM events e WHERE e.id = runs.event_id"
		for _, c := range conds {
			q += " AND " + c
		}
		where, args = append(where, q+")"), append(args, cargs...)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "created_at >= ?"), append(args, ms64(f.Since))
	}
	if !f.Until.IsZero() {
		// Run ids are UUIDv7 of their creation: the id bound starts the scan at the end.
		where, args = append(where, "created_at < ?", "id < ?"), append(args, ms64(f.Until), store.TimeID(f.Until.Add(time.Second)))
	}
	return where, args
}
