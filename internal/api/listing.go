package api

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/engine"
	"github.com/heraldhq/herald/internal/store"
)

// eventFilter reads the filters of GET /api/v1/events: key, key_prefix, metadata
// (repeatable "name=value"), since and until (RFC 3339).
func eventFilter(q url.Values) (store.EventFilter, error) {
	if err := singleValued(q, "key", "key_prefix", "workflow", "since", "until"); err != nil {
		return store.EventFilter{}, err
	}
	f := store.EventFilter{Key: q.Get("key"), KeyPrefix: q.Get("key_prefix"), Workflow: q.Get("workflow")}
	if f.Workflow != "" {
		if err := engine.ValidateName("workflow", f.Workflow); err != nil {
			return f, err
		}
	}
	// A key, or a prefix of one, has only the characters of event keys.
	if f.Key != "" {
		if err := engine.ValidateKey("key", f.Key); err != nil {
			return f, err
		}
	}
	if f.KeyPrefix != "" {
		if err := engine.ValidateKey("key_prefix", f.KeyPrefix); err != nil {
			return f, err
		}
	}
	if err := bracketMetadata(q, &f.Metadata); err != nil {
		return f, err
	}
	for _, m := range q["metadata"] {
		k, v, ok := strings.Cut(m, "=")
		if !ok || k == "" {
			return f, &engine.FieldError{Field: "metadata", Message: fmt.Sprintf("%q is not name=value", m)}
		}
		if err := ValidMetadataName(k); err != nil {
			return f, &engine.FieldError{Field: "metadata", Message: err.Error()}
		}
		if err := engine.CheckMetadataFilter("metadata", k, v); err != nil {
			return f, err
		}
		if f.Metadata == nil {
			f.Metadata = map[string]string{}
		}
		if _, dup := f.Metadata[k]; dup {
			return f, &engine.FieldError{Field: "metadata", Message: fmt.Sprintf("%q is filtered more than once", k)}
		}
		f.Metadata[k] = v
		if err := engine.CheckMetadataFilterCount("metadata", len(f.Metadata)); err != nil {
			return f, err
		}
	}
	for _, tf := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if s := q.Get(tf.name); s != "" {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return f, &engine.FieldError{Field: tf.name, Message: "must be an RFC 3339 time, e.g. 2026-01-02T15:04:05Z"}
			}
			*tf.dst = t
		}
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return f, &engine.FieldError{Field: "until", Message: "must be after since"}
	}
	return f, nil
}

// singleValued refuses a query parameter given more than once among names: a listing
// reads one value of each, and would otherwise drop the others silently.
func singleValued(q url.Values, names ...string) error {
	for _, n := range names {
		if len(q[n]) > 1 {
			return &engine.FieldError{Field: n, Message: "is given more than once"}
		}
	}
	return nil
}

// ValidMetadataName checks a metadata name used in a filter: 1–128 bytes without
// quotes, backslashes or control characters.
func ValidMetadataName(k string) error {
	if k == "" || len(k) > 128 {
		return fmt.Errorf("a metadata name is 1 to 128 bytes")
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c == '"' || c == '\\' || c < 0x20 {
			return fmt.Errorf("metadata name %q: quotes, backslashes and control characters are not allowed", k)
		}
	}
	return nil
}

// eventStatus reads the status filter of an event listing (default delivered: the event
// log). The workflow filter applies only to delivered events.
func eventStatus(q url.Values, f store.EventFilter) (string, error) {
	if err := singleValued(q, "status"); err != nil {
		return "", err
	}
	status := q.Get("status")
	if status == "" {
		return store.EventDelivered, nil
	}
	if !eventStatuses[status] {
		return "", &engine.FieldError{Field: "status", Message: "must be one of delivered, scheduled, cancelled, failed"}
	}
	if status != store.EventDelivered && f.Workflow != "" {
		return "", &engine.FieldError{Field: "workflow", Message: "applies only to delivered events (status delivered): a delayed event has started no run"}
	}
	return status, nil
}

// bracketMetadata reads metadata filters written metadata[NAME]=VALUE into m.
func bracketMetadata(q url.Values, m *map[string]string) error {
	// In name order, so that a listing with several bad filters is always refused for the
	// same one.
	for _, param := range sortedKeys(q) {
		vals := q[param]
		name, ok := strings.CutPrefix(param, "metadata[")
		if !ok {
			continue
		}
		name, ok = strings.CutSuffix(name, "]")
		if !ok {
			return &engine.FieldError{Field: param, Message: "a metadata filter is metadata[NAME]=VALUE"}
		}
		if err := ValidMetadataName(name); err != nil {
			return &engine.FieldError{Field: param, Message: err.Error()}
		}
		if len(vals) != 1 {
			return &engine.FieldError{Field: param, Message: "is given more than once"}
		}
		if err := engine.CheckMetadataFilter(param, name, vals[0]); err != nil {
			return err
		}
		if *m == nil {
			*m = map[string]string{}
		}
		(*m)[name] = vals[0]
		if err := engine.CheckMetadataFilterCount("metadata", len(*m)); err != nil {
			return err
		}
	}
	return nil
}

// runSearch reads a run listing's metadata (of the run's event) and time filters, with
// the same syntax as an event listing's.
func runSearch(q url.Values, f *store.RunFilter) error {
	ef, err := eventFilter(q)
	if err != nil {
		return err
	}
	f.Metadata, f.Since, f.Until, f.Key, f.KeyPrefix = ef.Metadata, ef.Since, ef.Until, ef.Key, ef.KeyPrefix
	return nil
}
