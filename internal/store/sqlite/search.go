package sqlite

import (
	"sort"
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

// workflowEventCond keeps the events that started a run of a workflow: a range of the
// runs_tenant_workflow_event index.
const workflowEventCond = "id IN (SELECT event_id FROM runs WHERE tenant_id = ? AND workflow_name = ? AND event_id IS NOT NULL)"

// runSearchConds returns the conditions of a run listing's event filters (the key and
// metadata of the run's event) and time filters: each run probes its event by primary key
// (newest runs first, until the page is full).
func runSearchConds(f store.RunFilter) ([]string, []any) {
	var where []string
	var args []any
	if len(f.Metadata) > 0 || f.Key != "" || f.KeyPrefix != "" {
		conds, cargs := metadataConds("e.metadata", f.Metadata)
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
