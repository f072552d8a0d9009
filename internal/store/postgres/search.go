package postgres

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// addMetadataConds keeps rows whose jsonb column col has each of m's names with that
// value: a string as is, a number or boolean by its JSON text. Each name adds a
// containment test (col @> '{"name": value}', answered by a GIN index on col) and the
// exact text comparison that defines the match.
func addMetadataConds(w *where, col string, m map[string]string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := m[k]
		asString, _ := json.Marshal(map[string]string{k: v})
		w.args = append(w.args, string(asString))
		cond := fmt.Sprintf("(%s @> $%d::jsonb", col, len(w.args))
		if scalarJSON(v) {
			w.args = append(w.args, `{`+strconv.Quote(k)+`: `+v+`}`)
			cond += fmt.Sprintf(" OR %s @> $%d::jsonb", col, len(w.args))
		}
		w.args = append(w.args, k, v)
		cond += fmt.Sprintf(") AND %s ->> $%d = $%d", col, len(w.args)-1, len(w.args))
		w.conds = append(w.conds, cond)
	}
}

// scalarJSON reports whether v is the JSON text of a number or boolean.
func scalarJSON(v string) bool {
	if v == "true" || v == "false" {
		return true
	}
	return v != "" && (v[0] == '-' || v[0] >= '0' && v[0] <= '9') && json.Valid([]byte(v))
}

// addWorkflowEventCond keeps the events that started a run of a workflow (a range of the
// runs_tenant_workflow_event index).
func addWorkflowEventCond(w *where, tenantID, workflow string) {
	w.args = append(w.args, tenantID, workflow)
	w.conds = append(w.conds, fmt.Sprintf("id IN (SELECT event_id FROM runs WHERE tenant_id = $%d AND workflow_name = $%d AND event_id IS NOT NULL)",
		len(w.args)-1, len(w.args)))
}

// addRunSearchConds adds a run listing's event filters (the key and metadata of the run's
// event) and time filters.
func addRunSearchConds(w *where, tenantID string, f store.RunFilter) {
	if len(f.Metadata) > 0 || f.Key != "" || f.KeyPrefix != "" {
		ev := &where{args: w.args}
		ev.add("tenant_id = ?", tenantID)
		addKeyConds(ev, f.Key, f.KeyPrefix)
		addMetadataConds(ev, "metadata", f.Metadata)
		w.args = ev.args
		w.conds = append(w.conds, "event_id IN (SELECT id FROM events WHERE "+ev.String()+")")
	}
	if !f.Since.IsZero() {
		w.add("created_at >= ?", f.Since)
	}
	if !f.Until.IsZero() {
		// Run ids are UUIDv7 of their creation: the id bound starts the scan at the end.
		w.add("created_at < ?", f.Until)
		w.add("id < ?", store.TimeID(f.Until.Add(time.Second)))
	}
}
