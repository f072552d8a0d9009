package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/heraldhq/herald"
)

// maxBulkBatch is the most events one bulk request may carry (see docs/api.md).
const maxBulkBatch = 1000

// readSource reads the bytes named by a "@file" or "-" argument. what names the
// value for error messages ("payload", "input", "--bulk"). The returned label
// says where the bytes came from, for later error messages.
func readSource(arg, what string, stdin io.Reader) (data []byte, label string, err error) {
	switch {
	case arg == "-":
		if stdin == nil {
			return nil, "", fmt.Errorf("%s: no standard input to read", what)
		}
		data, err := io.ReadAll(stdin)
		if err != nil {
			return nil, "", fmt.Errorf("%s: reading standard input: %w", what, err)
		}
		return data, what + " from standard input", nil
	case strings.HasPrefix(arg, "@"):
		name := arg[1:]
		if name == "" {
			return nil, "", fmt.Errorf("%s: missing file name after @", what)
		}
		data, err := os.ReadFile(name)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", what, err)
		}
		return data, fmt.Sprintf("%s from file %s", what, name), nil
	default:
		return []byte(arg), what + " argument", nil
	}
}

// parseObjectArg turns an optional positional argument into a JSON object. The
// argument is a JSON literal, "@file" (read the file), or "-" (read standard
// input). When args is empty the result is {}. what names the value in error
// messages ("payload", "input").
func parseObjectArg(args []string, what string, stdin io.Reader) (json.RawMessage, error) {
	if len(args) == 0 {
		return json.RawMessage(`{}`), nil
	}
	data, label, err := readSource(args[0], what, stdin)
	if err != nil {
		return nil, err
	}
	return decodeObject(data, label)
}

// decodeObject checks that data holds exactly one JSON object and returns it
// compacted. label names the value in error messages.
func decodeObject(data []byte, label string) (json.RawMessage, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%s is empty; want a JSON object such as {}", label)
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("%s is not valid JSON: %s", label, describeJSONError(err, data))
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, fmt.Errorf("%s must be a JSON object, not %s", label, jsonKind(v))
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, data); err != nil {
		return nil, fmt.Errorf("%s is not valid JSON: %s", label, describeJSONError(err, data))
	}
	return json.RawMessage(buf.Bytes()), nil
}

// describeJSONError renders a JSON decoding error with a line and column when
// the error carries an offset into data.
func describeJSONError(err error, data []byte) string {
	var syn *json.SyntaxError
	if errors.As(err, &syn) && !strings.HasPrefix(syn.Error(), "unexpected end") {
		line, col := position(data, syn.Offset)
		return fmt.Sprintf("%s (line %d, column %d)", syn.Error(), line, col)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of JSON input"
	}
	return err.Error()
}

// position converts a byte offset into a 1-based line and column.
func position(data []byte, offset int64) (line, col int) {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	if offset < 0 {
		offset = 0
	}
	before := data[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(offset) - (bytes.LastIndexByte(before, '\n') + 1)
	if col < 1 {
		col = 1
	}
	return line, col
}

// jsonKind names the JSON type of a value decoded into any.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case float64, json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// parseMetadata turns repeated --metadata flags into additional metadata.
// "KEY=VALUE" sets a string; "KEY:=JSON" sets a JSON number, boolean or string
// (as in HTTPie), e.g. "attempt:=3" or "test:=true". A key may appear once.
// It returns nil when pairs is empty.
func parseMetadata(pairs []string) (map[string]any, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	md := make(map[string]any, len(pairs))
	for _, pair := range pairs {
		key, value, ok := strings.Cut(pair, "=")
		if !ok {
			return nil, fmt.Errorf("--metadata %q: want KEY=VALUE or KEY:=JSON", pair)
		}
		typed := strings.HasSuffix(key, ":")
		if typed {
			key = strings.TrimSuffix(key, ":")
		}
		if key == "" {
			return nil, fmt.Errorf("--metadata %q: empty key", pair)
		}
		if _, dup := md[key]; dup {
			return nil, fmt.Errorf("--metadata: key %q given more than once", key)
		}
		if !typed {
			md[key] = value
			continue
		}
		dec := json.NewDecoder(strings.NewReader(value))
		dec.UseNumber()
		var v any
		// Not dec.More, which reads a stray "}" or "]" after the value as the end.
		if err := dec.Decode(&v); err != nil || strings.TrimSpace(value[dec.InputOffset():]) != "" {
			return nil, fmt.Errorf("--metadata %q: %q is not a JSON number, boolean or string", pair, value)
		}
		switch v.(type) {
		case json.Number, bool, string:
			md[key] = v
		default:
			return nil, fmt.Errorf("--metadata %q: value must be a number, boolean or string, not %s", pair, jsonKind(v))
		}
	}
	return md, nil
}

// parseBulk parses the --bulk input: either a JSON array of events or a
// stream of JSON objects, one event each (NDJSON). Each event is
// {"key": ..., "payload": {...}, "additional_metadata": {...}}; payload
// defaults to {}. label names the source in error messages.
func parseBulk(data []byte, label string) ([]herald.Event, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%s: no events", label)
	}
	if trimmed[0] == '[' {
		return parseBulkArray(data, label)
	}
	return parseBulkStream(data, label)
}

// parseBulkArray parses a JSON array of events.
func parseBulkArray(data []byte, label string) ([]herald.Event, error) {
	var items []json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&items); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) {
			return nil, fmt.Errorf("%s: want a JSON array of event objects", label)
		}
		return nil, fmt.Errorf("%s is not valid JSON: %s", label, describeJSONError(err, data))
	}
	if len(bytes.TrimSpace(data[dec.InputOffset():])) > 0 {
		return nil, fmt.Errorf("%s: unexpected data after the JSON array", label)
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("%s: no events", label)
	}
	events := make([]herald.Event, 0, len(items))
	for i, raw := range items {
		ev, err := bulkEvent(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: events[%d]: %w", label, i, err)
		}
		events = append(events, ev)
	}
	return events, nil
}

// parseBulkStream parses a stream of JSON objects separated by whitespace,
// which covers NDJSON (one per line) and concatenated, indented objects.
func parseBulkStream(data []byte, label string) ([]herald.Event, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var events []herald.Event
	for {
		start := skipSpace(data, dec.InputOffset())
		if start >= int64(len(data)) {
			break
		}
		line, _ := position(data, start)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("%s: line %d: not valid JSON: %s", label, line, describeJSONError(err, data))
		}
		ev, err := bulkEvent(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: line %d: %w", label, line, err)
		}
		events = append(events, ev)
	}
	if len(events) == 0 {
		return nil, fmt.Errorf("%s: no events", label)
	}
	return events, nil
}

// skipSpace returns the offset of the first non-whitespace byte at or after off.
func skipSpace(data []byte, off int64) int64 {
	for off < int64(len(data)) {
		switch data[off] {
		case ' ', '\t', '\r', '\n':
			off++
		default:
			return off
		}
	}
	return off
}

// bulkEvent checks one bulk event object and converts it to a herald.Event.
func bulkEvent(raw json.RawMessage) (herald.Event, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		var v any
		_ = json.Unmarshal(raw, &v)
		return herald.Event{}, fmt.Errorf("want an event object, not %s", jsonKind(v))
	}
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		switch name {
		case "key", "payload", "additional_metadata", "idempotency_key", "delay", "deliver_at":
		default:
			return herald.Event{}, fmt.Errorf("unknown field %q (want key, payload, additional_metadata, idempotency_key, delay, deliver_at)", name)
		}
	}

	var ev herald.Event
	if err := json.Unmarshal(fields["key"], &ev.Key); err != nil || ev.Key == "" {
		return herald.Event{}, errors.New("key: want a non-empty string")
	}

	payload := bytes.TrimSpace(fields["payload"])
	if len(payload) == 0 || string(payload) == "null" {
		ev.Payload = json.RawMessage(`{}`)
	} else {
		obj, err := decodeObject(payload, "payload")
		if err != nil {
			return herald.Event{}, err
		}
		ev.Payload = obj
	}

	if md := bytes.TrimSpace(fields["additional_metadata"]); len(md) > 0 && string(md) != "null" {
		dec := json.NewDecoder(bytes.NewReader(md))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			return herald.Event{}, errors.New("additional_metadata: want a JSON object")
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			switch m[k].(type) {
			case string, json.Number, bool:
			default:
				return herald.Event{}, fmt.Errorf("additional_metadata.%s: want a string, number or boolean, not %s", k, jsonKind(m[k]))
			}
		}
		ev.AdditionalMetadata = m
	}
	if err := bulkSchedule(fields, &ev); err != nil {
		return herald.Event{}, err
	}
	return ev, nil
}
