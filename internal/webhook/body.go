package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/heraldhq/herald/internal/store"
)

// Body is a decoded delivery body.
type Body struct {
	// Input is the body as CEL sees it: a JSON object decoded into Go values.
	Input map[string]any
	// Payload is the same object as JSON: the event's payload. For a JSON body it is the
	// body itself (surrounding space trimmed); compact it before comparing.
	Payload json.RawMessage
}

// BodyError is a body that cannot be decoded (400).
type BodyError struct {
	Msg string
}

// Error implements error.
func (e *BodyError) Error() string { return e.Msg }

// DecodeBody parses a delivery body by its content type. JSON (any type but a form) must
// be an object; an empty body is {}. An application/x-www-form-urlencoded body becomes an
// object of its fields (a string each, or a list of strings for a repeated field), unless
// it has a field "payload" holding a JSON object (Slack's interactive requests), which is
// then the body.
func DecodeBody(contentType string, body []byte) (Body, error) {
	decode := decodeJSON
	if isForm(contentType) {
		decode = decodeForm
	}
	b, err := decode(body)
	if err != nil {
		return Body{}, err
	}
	if why := store.Unstorable(b.Payload); why != "" {
		return Body{}, &BodyError{Msg: "body " + why}
	}
	return b, nil
}

func isForm(contentType string) bool {
	if contentType == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/x-www-form-urlencoded"
}

func decodeJSON(body []byte) (Body, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return Body{Input: map[string]any{}, Payload: json.RawMessage("{}")}, nil
	}
	if trimmed[0] != '{' {
		return Body{}, &BodyError{Msg: "body must be a JSON object (or a form)"}
	}
	// Unmarshal checks that the whole body is one JSON value, so the bytes themselves are
	// the payload.
	var in map[string]any
	if err := json.Unmarshal(trimmed, &in); err != nil {
		return Body{}, &BodyError{Msg: "body is not valid JSON: " + err.Error()}
	}
	return Body{Input: in, Payload: trimmed}, nil
}

func decodeForm(body []byte) (Body, error) {
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return Body{}, &BodyError{Msg: "form body is malformed: " + err.Error()}
	}
	// Percent-escapes may decode to any byte. Text that is not UTF-8 is refused, as in a
	// JSON body: encoding it as JSON would turn each bad byte into U+FFFD, so that the
	// payload would differ from what the expressions saw (and two such names would
	// collide), and PostgreSQL's text cannot hold it as an event's scope or delivery id.
	for k, vs := range vals {
		if !utf8.ValidString(k) {
			return Body{}, &BodyError{Msg: fmt.Sprintf("form field name %q is not valid UTF-8", k)}
		}
		for _, v := range vs {
			if !utf8.ValidString(v) {
				return Body{}, &BodyError{Msg: fmt.Sprintf("form field %q is not valid UTF-8", k)}
			}
		}
	}
	if ps := vals["payload"]; len(ps) == 1 {
		p := strings.TrimSpace(ps[0])
		if strings.HasPrefix(p, "{") {
			b, err := decodeJSON([]byte(p))
			if err != nil {
				return Body{}, &BodyError{Msg: "form field payload: " + err.Error()}
			}
			return b, nil
		}
	}
	in := make(map[string]any, len(vals))
	for k, vs := range vals {
		if len(vs) == 1 {
			in[k] = vs[0]
			continue
		}
		l := make([]any, len(vs))
		for i, v := range vs {
			l[i] = v
		}
		in[k] = l
	}
	payload, err := json.Marshal(in)
	if err != nil {
		return Body{}, fmt.Errorf("encoding form body: %w", err)
	}
	return Body{Input: in, Payload: payload}, nil
}

// MergeStatic returns payload with the static object's top-level keys set over it: static
// values win on a collision. Both must be JSON objects.
func MergeStatic(payload, static json.RawMessage) (json.RawMessage, error) {
	if len(static) == 0 {
		return payload, nil
	}
	var base, over map[string]json.RawMessage
	if err := json.Unmarshal(payload, &base); err != nil {
		return nil, fmt.Errorf("merging static payload: %w", err)
	}
	if err := json.Unmarshal(static, &over); err != nil {
		return nil, fmt.Errorf("merging static payload: %w", err)
	}
	if base == nil {
		base = map[string]json.RawMessage{}
	}
	for k, v := range over {
		base[k] = v
	}
	out, err := json.Marshal(base)
	if err != nil {
		return nil, fmt.Errorf("merging static payload: %w", err)
	}
	return out, nil
}

// Headers returns the request headers as CEL sees them: lower-case names, repeated values
// joined with ", ", and the named credential headers left out.
func Headers(h http.Header, omit []string) map[string]string {
	out := make(map[string]string, len(h))
	for k, vs := range h {
		out[strings.ToLower(k)] = strings.Join(vs, ", ")
	}
	for _, o := range omit {
		delete(out, strings.ToLower(o))
	}
	return out
}
