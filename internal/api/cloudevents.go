package api

// CloudEvents 1.0 on POST /api/v1/events: structured mode (application/cloudevents+json),
// binary mode (ce-* headers, the body is the data) and batch mode
// (application/cloudevents-batch+json). See docs/api.md#cloudevents for the mapping.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/heraldhq/herald/internal/engine"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/wire"
)

// CloudEvents media types.
const (
	ceStructuredType = "application/cloudevents+json"
	ceBatchType      = "application/cloudevents-batch+json"
)

// CloudEvents content modes.
const (
	ceStructured = "structured"
	ceBinary     = "binary"
	ceBatch      = "batch"
	ceOtherMode  = "unsupported"
)

// ceMetadataPrefix prefixes the names of CloudEvents attributes kept in
// additional_metadata (ce_source, ce_subject, ...).
const ceMetadataPrefix = "ce_"

// cloudEventsMode says how a request to POST /api/v1/events carries CloudEvents, or ""
// for a native push: by its Content-Type (structured, batch, or another CloudEvents
// format, which is not supported), else by the presence of a required attribute's ce-*
// header (binary).
func cloudEventsMode(r *http.Request) string {
	mt := mediaType(r.Header.Get("Content-Type"))
	switch {
	case mt == ceStructuredType:
		return ceStructured
	case mt == ceBatchType:
		return ceBatch
	case strings.HasPrefix(mt, "application/cloudevents"):
		return ceOtherMode
	}
	for _, h := range []string{"Ce-Specversion", "Ce-Id", "Ce-Source", "Ce-Type"} {
		if len(r.Header.Values(h)) > 0 {
			return ceBinary
		}
	}
	return ""
}

// mediaType is the lower-case media type of a Content-Type, without parameters.
func mediaType(ct string) string {
	if ct == "" {
		return ""
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		mt, _, _ = strings.Cut(ct, ";")
	}
	return strings.ToLower(strings.TrimSpace(mt))
}

// isJSONType reports whether a datacontenttype says JSON: application/json, text/json or
// any +json type.
func isJSONType(ct string) bool {
	mt := mediaType(ct)
	return mt == "application/json" || mt == "text/json" || strings.HasSuffix(mt, "+json")
}

// pushCloudEvents pushes the CloudEvent(s) of a request; mode is from cloudEventsMode.
// The reply is a push's (one event) or a bulk push's (batch).
func (a *API) pushCloudEvents(w http.ResponseWriter, r *http.Request, p engine.Principal, mode string) error {
	if mode == ceOtherMode {
		return &statusError{status: http.StatusUnsupportedMediaType, code: "unsupported_media_type",
			msg: fmt.Sprintf("CloudEvents format %q is not supported; use %s, %s or binary mode with JSON data",
				mediaType(r.Header.Get("Content-Type")), ceStructuredType, ceBatchType)}
	}
	if r.Header.Get("Idempotency-Key") != "" {
		return &engine.FieldError{Field: "Idempotency-Key", Message: "is not used with CloudEvents: source and id make the idempotency key"}
	}
	var evs []engine.EventInput
	switch mode {
	case ceBinary:
		in, err := a.ceBinary(w, r)
		if err != nil {
			return err
		}
		evs = []engine.EventInput{in}
	case ceStructured:
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.cfg.MaxEventBytes+4096))
		if err != nil {
			return err
		}
		in, err := a.ceStructured(body, "")
		if err != nil {
			return err
		}
		evs = []engine.EventInput{in}
	case ceBatch:
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.cfg.MaxBulkBytes))
		if err != nil {
			return err
		}
		var items []json.RawMessage
		if err := json.Unmarshal(body, &items); err != nil {
			return &statusError{status: http.StatusBadRequest, code: "malformed_json",
				msg: "a CloudEvents batch must be a JSON array of events: " + err.Error()}
		}
		if len(items) == 0 || len(items) > engine.MaxBulk {
			return &engine.FieldError{Message: fmt.Sprintf("a batch carries 1 to %d events, not %d", engine.MaxBulk, len(items))}
		}
		evs = make([]engine.EventInput, len(items))
		for i, raw := range items {
			if evs[i], err = a.ceStructured(raw, fmt.Sprintf("[%d].", i)); err != nil {
				return err
			}
		}
	}
	res, err := a.eng.Push(r.Context(), p.TenantID, evs, mode == ceBatch)
	if err != nil {
		return ceErr(err)
	}
	if mode == ceBatch {
		out := wire.BulkReply{Items: make([]wire.PushReply, len(res))}
		for i, x := range res {
			out.Items[i] = toPushReply(x)
		}
		writeJSON(w, http.StatusCreated, out)
		return nil
	}
	status := http.StatusCreated
	if res[0].Duplicate {
		status = http.StatusOK
	}
	writeJSON(w, status, toPushReply(res[0]))
	return nil
}

// ceStructured reads one event in the JSON event format; prefix names it in a batch
// ("[3].").
func (a *API) ceStructured(body []byte, prefix string) (engine.EventInput, error) {
	var members map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&members); err != nil || members == nil {
		msg := "a CloudEvent must be a JSON object"
		if err != nil {
			msg += ": " + err.Error()
		}
		if prefix != "" {
			return engine.EventInput{}, &engine.FieldError{Field: strings.TrimSuffix(prefix, "."), Message: msg}
		}
		return engine.EventInput{}, &statusError{status: http.StatusBadRequest, code: "malformed_json", msg: msg}
	}
	if len(bytes.TrimSpace(body[dec.InputOffset():])) > 0 { // not dec.More, which stops at "}"
		return engine.EventInput{}, &statusError{status: http.StatusBadRequest, code: "malformed_json", msg: "request body has data after the JSON value"}
	}
	attrs := map[string]any{}
	var data json.RawMessage
	// In name order, so that an event with several bad attributes is always refused for
	// the same one.
	for _, name := range sortedKeys(members) {
		raw := members[name]
		switch name {
		case "data":
			data = raw
			continue
		case "data_base64":
			return engine.EventInput{}, &engine.FieldError{Field: prefix + name,
				Message: "binary data is not supported: Herald takes data that is a JSON object (datacontenttype application/json)"}
		}
		if err := ceAttrName(prefix, name); err != nil {
			return engine.EventInput{}, err
		}
		// Checked as written: decoding would turn a lone surrogate escape into U+FFFD.
		if why := store.Unstorable(raw); why != "" {
			return engine.EventInput{}, &engine.FieldError{Field: prefix + name, Message: why}
		}
		var v any
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		if err := d.Decode(&v); err != nil {
			return engine.EventInput{}, &engine.FieldError{Field: prefix + name, Message: "is not valid JSON"}
		}
		switch v.(type) {
		case nil: // null: the attribute is absent
		case string, json.Number, bool:
			attrs[name] = v
		default:
			return engine.EventInput{}, &engine.FieldError{Field: prefix + name, Message: "must be a string, number or boolean"}
		}
	}
	if ct, ok := attrs["datacontenttype"].(string); ok && !isJSONType(ct) {
		return engine.EventInput{}, &engine.FieldError{Field: prefix + "datacontenttype",
			Message: fmt.Sprintf("is %q; Herald takes JSON data only (application/json or a +json type)", ct)}
	}
	return a.ceEvent(attrs, data, prefix)
}

// ceBinary reads one event in binary mode: attributes from the ce-* headers
// (percent-decoded), datacontenttype from Content-Type, data from the body.
func (a *API) ceBinary(w http.ResponseWriter, r *http.Request) (engine.EventInput, error) {
	attrs := map[string]any{}
	for _, h := range sortedKeys(r.Header) {
		vs := r.Header[h]
		if len(h) <= 3 || !strings.EqualFold(h[:3], "ce-") {
			continue
		}
		name := strings.ToLower(h[3:])
		if err := ceAttrName("", name); err != nil {
			return engine.EventInput{}, err
		}
		if name == "datacontenttype" {
			// The HTTP binding maps it to Content-Type in binary mode, never to a header.
			return engine.EventInput{}, &engine.FieldError{Field: name,
				Message: "in binary mode the data's content type is the Content-Type header, not ce-datacontenttype"}
		}
		if len(vs) != 1 {
			return engine.EventInput{}, &engine.FieldError{Field: name, Message: fmt.Sprintf("header ce-%s is given %d times", name, len(vs))}
		}
		v, err := url.PathUnescape(vs[0])
		if err != nil {
			return engine.EventInput{}, &engine.FieldError{Field: name, Message: "header ce-" + name + " is not validly percent-encoded"}
		}
		if !utf8.ValidString(v) {
			return engine.EventInput{}, &engine.FieldError{Field: name, Message: "header ce-" + name + " does not decode to UTF-8"}
		}
		attrs[name] = v
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		attrs["datacontenttype"] = ct
	}
	if ct, ok := attrs["datacontenttype"].(string); ok && !isJSONType(ct) {
		return engine.EventInput{}, &statusError{status: http.StatusUnsupportedMediaType, code: "unsupported_media_type",
			msg: fmt.Sprintf("the data of a binary-mode CloudEvent must be JSON (application/json or a +json type), not %q", ct), field: "datacontenttype"}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.cfg.MaxEventBytes+4096))
	if err != nil {
		return engine.EventInput{}, err
	}
	var data json.RawMessage
	if len(bytes.TrimSpace(body)) > 0 {
		if !json.Valid(body) {
			return engine.EventInput{}, &statusError{status: http.StatusBadRequest, code: "malformed_json", msg: "the body (the event's data) is not valid JSON", field: "data"}
		}
		data = body
	}
	return a.ceEvent(attrs, data, "")
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ceAttrName checks an attribute name: lower-case a-z and 0-9.
func ceAttrName(prefix, name string) error {
	ok := name != ""
	for i := 0; i < len(name) && ok; i++ {
		c := name[i]
		ok = c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
	}
	if !ok {
		return &engine.FieldError{Field: prefix + name, Message: "is not a CloudEvents attribute name (lower-case a-z and 0-9 only)"}
	}
	return nil
}

// ceEvent maps a CloudEvent onto a push: type → key, source and id → idempotency key,
// data → payload, every other attribute → additional_metadata as ce_<name>.
func (a *API) ceEvent(attrs map[string]any, data json.RawMessage, prefix string) (engine.EventInput, error) {
	str := func(name string, required bool) (string, error) {
		v, ok := attrs[name]
		if !ok {
			if required {
				return "", &engine.FieldError{Field: prefix + name, Message: "is required (a CloudEvents 1.0 required attribute)"}
			}
			return "", nil
		}
		s, isStr := v.(string)
		if !isStr {
			return "", &engine.FieldError{Field: prefix + name, Message: "must be a string"}
		}
		if s == "" {
			return "", &engine.FieldError{Field: prefix + name, Message: "must not be empty"}
		}
		return s, nil
	}
	spec, err := str("specversion", true)
	if err != nil {
		return engine.EventInput{}, err
	}
	if spec != "1.0" {
		return engine.EventInput{}, &engine.FieldError{Field: prefix + "specversion", Message: fmt.Sprintf("must be \"1.0\", not %q", spec)}
	}
	id, err := str("id", true)
	if err != nil {
		return engine.EventInput{}, err
	}
	source, err := str("source", true)
	if err != nil {
		return engine.EventInput{}, err
	}
	typ, err := str("type", true)
	if err != nil {
		return engine.EventInput{}, err
	}
	for _, name := range []string{"subject", "datacontenttype", "dataschema", "time"} {
		if _, err := str(name, false); err != nil {
			return engine.EventInput{}, err
		}
	}
	if t, ok := attrs["time"].(string); ok {
		if _, err := time.Parse(time.RFC3339Nano, t); err != nil {
			return engine.EventInput{}, &engine.FieldError{Field: prefix + "time", Message: fmt.Sprintf("%q is not an RFC 3339 timestamp", t)}
		}
	}
	if err := engine.ValidateKey(prefix+"type", typ); err != nil {
		return engine.EventInput{}, err
	}

	data = bytes.TrimSpace(data)
	if len(data) > 0 && !bytes.Equal(data, []byte("null")) && data[0] != '{' {
		return engine.EventInput{}, &engine.FieldError{Field: prefix + "data", Message: "must be a JSON object: a Herald payload is an object"}
	}

	meta := map[string]any{}
	for _, name := range sortedKeys(attrs) {
		if name == "specversion" || name == "type" {
			continue // always "1.0"; the event key
		}
		meta[ceMetadataPrefix+name] = attrs[name]
	}
	metaJSON, err := json.Marshal(meta)
	if err != nil {
		return engine.EventInput{}, fmt.Errorf("encoding CloudEvents attributes: %w", err)
	}
	if n := int64(len(data) + len(metaJSON)); n > a.cfg.MaxEventBytes {
		return engine.EventInput{}, &statusError{status: http.StatusRequestEntityTooLarge, code: "payload_too_large",
			msg: fmt.Sprintf("event is %d bytes; the limit is %d", n, a.cfg.MaxEventBytes), field: prefix + "data"}
	}
	return engine.EventInput{Key: typ, Payload: data, Metadata: metaJSON, IdempotencyKey: ceIdempotencyKey(source, id)}, nil
}

// ceIdempotencyKey is the idempotency key of a CloudEvent: source + " " + id, which
// identifies an event by the spec, when that fits the key's limits (255 bytes, no control
// characters) and the source has no space; else "ce-sha256:" and the hex SHA-256 of the
// length-prefixed source followed by the id.
func ceIdempotencyKey(source, id string) string {
	k := source + " " + id
	clean := len(k) <= engine.MaxIdempotencyKeyLen && !strings.Contains(source, " ")
	for i := 0; i < len(k) && clean; i++ {
		clean = k[i] >= 0x20 && k[i] != 0x7f
	}
	if clean {
		return k
	}
	sum := sha256.Sum256([]byte(strconv.Itoa(len(source)) + ":" + source + id))
	return "ce-sha256:" + hex.EncodeToString(sum[:])
}

// ceErr renames the fields of the engine's errors after the CloudEvents attributes they
// came from: key → type, payload → data, idempotency_key → id, and a batch's
// "events[3]." → "[3].".
func ceErr(err error) error {
	var se *engine.SchemaError
	if errors.As(err, &se) {
		return &engine.SchemaError{Key: se.Key, Field: ceField(se.Field), Message: se.Message}
	}
	var fe *engine.FieldError
	if errors.As(err, &fe) {
		return &engine.FieldError{Field: ceField(fe.Field), Message: fe.Message}
	}
	return err
}

func ceField(f string) string {
	pre, rest := "", f
	if strings.HasPrefix(f, "events[") {
		if i := strings.Index(f, "]."); i > 0 {
			pre, rest = f[len("events"):i+2], f[i+2:]
		}
	}
	switch {
	case rest == "key":
		rest = "type"
	case rest == "idempotency_key":
		rest = "id"
	case strings.HasPrefix(rest, "payload"):
		rest = "data" + rest[len("payload"):]
	case strings.HasPrefix(rest, "additional_metadata"):
		rest = "extensions" + rest[len("additional_metadata"):]
	}
	return pre + rest
}
