package herald

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/wire"
)

// APIError is an error answered by the Herald engine. Every error reply of the
// HTTP API has the body {"error": {"code": ..., "message": ..., "field": ...}};
// APIError carries those fields together with the HTTP status.
//
// Use errors.As to inspect it:
//
//	var apiErr *herald.APIError
//	if errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusNotFound {
//		// ...
//	}
type APIError struct {
	// StatusCode is the HTTP status of the reply, such as 400 or 404.
	StatusCode int
	// Code is the machine-readable error code, such as "invalid_argument",
	// "not_found" or "conflict". It is empty when the reply had no JSON error body.
	Code string
	// Message is the human-readable explanation given by the engine.
	Message string
	// Field names the request field to blame, such as "events[3].key", when
	// one field is to blame.
	Field string
	// RetryAfter is how long the engine asked the caller to wait before
	// retrying (from the Retry-After header of 429 and 503 replies), or zero.
	RetryAfter time.Duration
}

// Error returns a one-line description of the error, such as
// `HTTP 400 invalid_argument: key must not be empty (field "key")`.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP %d", e.StatusCode)
	if e.Code != "" {
		b.WriteString(" ")
		b.WriteString(e.Code)
	}
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.StatusCode)
	}
	if msg != "" {
		b.WriteString(": ")
		b.WriteString(msg)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, " (field %q)", e.Field)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

// temporary reports whether the request may succeed if it is sent again later
// unchanged: the engine is overloaded (429) or cannot commit right now (503).
func (e *APIError) temporary() bool {
	return e.StatusCode == http.StatusTooManyRequests || e.StatusCode == http.StatusServiceUnavailable
}

// maxErrorBody bounds how much of an error reply is read.
const maxErrorBody = 64 << 10

// parseAPIError builds an APIError from the status, headers and body of an
// error reply. A body that is not the documented JSON error shape is kept, trimmed,
// as the message.
func parseAPIError(status int, header http.Header, body []byte) *APIError {
	e := &APIError{StatusCode: status}
	if header != nil {
		e.RetryAfter = parseRetryAfter(header.Get("Retry-After"), time.Now())
	}
	var reply struct { // wire.Error, with the detail's absence seen
		Error *wire.ErrorDetail `json:"error"`
	}
	if err := json.Unmarshal(body, &reply); err == nil && reply.Error != nil {
		e.Code = reply.Error.Code
		e.Message = reply.Error.Message
		e.Field = reply.Error.Field
		return e
	}
	msg := strings.TrimSpace(string(body))
	if len(msg) > 512 {
		msg = truncateUTF8(msg, 512) + "…"
	}
	e.Message = msg
	return e
}

// parseRetryAfter parses a Retry-After header value, which is either a number
// of seconds or an HTTP date. It returns zero when the value is absent or invalid.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 || secs > 24*60*60 {
			return 0
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// truncateUTF8 cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
