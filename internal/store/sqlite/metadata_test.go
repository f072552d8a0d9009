package sqlite_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/heraldhq/herald/internal/store"
)

// metadataIndex lists the event_metadata rows as "tenant name=value event".
func metadataIndex(t *testing.T, path string) []string {
	t.Helper()
	db := rawDB(t, path)
	rows, err := db.Query(`SELECT tenant_id || ' ' || name || '=' || value || ' ' || event_id FROM event_metadata ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// TestEventMetadataIndex: ingest writes a row per searchable metadata value (strings as
// is, numbers and booleans by their JSON text; null, objects, arrays and names filters
// cannot express are left out); the migration's backfill of events stored before the
// index existed writes exactly the same rows; search goes through the index; pruning an
// event deletes its rows.
func TestEventMetadataIndex(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "herald.db")
	s := open(t, path)
	tenant := store.Tenant{ID: "t1", Name: "t1", CreatedAt: time.Now()}
	if err := s.TenantCreate(ctx, tenant); err != nil {
		t.Fatal(err)
	}
	old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	metas := []string{
		`{"user": "u1", "score": 1.50, "big": 1e3, "vip": true, "n": -42, "none": null, "obj": {"a": 1}, "arr": [1], "q\"uote": "x"}`,
		`{"user": "u2", "vip": false}`,
		``,
	}
	var ids []string
	for _, m := range metas {
		id := store.TimeID(old) // old enough to prune
		if len(ids) > 0 {
			id = uuid.Must(uuid.NewV7()).String()
		}
		ev := &store.Event{ID: id, TenantID: "t1", Key: "k", Payload: json.RawMessage(`{}`), Source: store.SourceAPI,
			Triggers: []store.TriggerDecision{}, CreatedAt: time.Now()}
		if len(ids) == 0 {
			ev.CreatedAt = old
		}
		if m != "" {
			ev.Metadata = json.RawMessage(m)
		}
		if err := s.EventInsert(ctx, []store.IngestItem{{Event: ev}}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	got := metadataIndex(t, path)
	want := []string{
		"t1 big=1e3 " + ids[0], "t1 n=-42 " + ids[0], "t1 score=1.50 " + ids[0], "t1 user=u1 " + ids[0], "t1 vip=true " + ids[0],
		"t1 user=u2 " + ids[1], "t1 vip=false " + ids[1],
	}
	if !reflect.DeepEqual(got, sorted(want)) {
		t.Fatalf("event_metadata after ingest:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(sorted(want), "\n"))
	}

	// The backfill of the migration renders values the same way.
	mig, err := os.ReadFile("migrations/0008_event_metadata.sql")
	if err != nil {
		t.Fatal(err)
	}
	backfill := string(mig[strings.Index(string(mig), "INSERT OR IGNORE"):])
	db := rawDB(t, path)
	if _, err := db.Exec(`DELETE FROM event_metadata`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(backfill); err != nil {
		t.Fatal(err)
	}
	if back := metadataIndex(t, path); !reflect.DeepEqual(back, got) {
		t.Fatalf("event_metadata after the backfill:\n%s\nwant what ingest wrote:\n%s", strings.Join(back, "\n"), strings.Join(got, "\n"))
	}

	// Search reads the index: a number by its JSON text, a boolean, two names at once.
	for _, c := range []struct {
		m    map[string]string
		want []string
	}{
		{map[string]string{"score": "1.50"}, []string{ids[0]}},
		{map[string]string{"score": "1.5"}, nil},
		{map[string]string{"vip": "false"}, []string{ids[1]}},
		{map[string]string{"vip": "true", "user": "u1"}, []string{ids[0]}},
		{map[string]string{"vip": "true", "user": "u2"}, nil},
	} {
		evs, err := s.EventList(ctx, "t1", store.EventFilter{Metadata: c.m, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		var gotIDs []string
		for _, e := range evs {
			gotIDs = append(gotIDs, e.ID)
		}
		if !reflect.DeepEqual(gotIDs, c.want) {
			t.Errorf("metadata %v: %v, want %v", c.m, gotIDs, c.want)
		}
	}
	var plan strings.Builder
	rows, err := db.Query(`EXPLAIN QUERY PLAN SELECT id FROM events WHERE tenant_id = 't1' AND id IN
		(SELECT event_id FROM event_metadata WHERE tenant_id = 't1' AND name = 'user' AND value = 'u1') ORDER BY id DESC LIMIT 50`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan.WriteString(detail + "\n")
	}
	rows.Close()
	if !strings.Contains(plan.String(), "SEARCH event_metadata USING PRIMARY KEY") {
		t.Errorf("a metadata filter does not search the index:\n%s", plan.String())
	}

	// Pruning the old event deletes its rows.
	if _, err := s.Prune(ctx, store.PruneParams{Before: old.Add(time.Hour), Now: time.Now(), Limit: 100}); err != nil {
		t.Fatal(err)
	}
	if after := metadataIndex(t, path); !reflect.DeepEqual(after, sorted(want[5:])) {
		t.Errorf("event_metadata after pruning the first event:\n%s", strings.Join(after, "\n"))
	}
}

func sorted(s []string) []string { return slices.Sorted(slices.Values(s)) }
