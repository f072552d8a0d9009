package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/heraldhq/herald"
)

// Exit statuses.
const (
	exitError = 1
	exitUsage = 2
)

// usageError marks an error in how the command was invoked (unknown command
// or flag, wrong number of arguments); it exits with status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usagef returns a usageError with a formatted message.
func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// reportError writes err to w as one line and returns the exit status.
func reportError(w io.Writer, err error) int {
	fmt.Fprintf(w, "herald: %s\n", errorMessage(err))
	var ue usageError
	if errors.As(err, &ue) || isCobraUsageError(err) {
		return exitUsage
	}
	return exitError
}

// isCobraUsageError recognises the few usage errors cobra returns untyped.
func isCobraUsageError(err error) bool {
	return strings.HasPrefix(err.Error(), "unknown command ")
}

// errorMessage renders err as a single line for a human.
func errorMessage(err error) string {
	var apiErr *herald.APIError
	if errors.As(err, &apiErr) {
		msg := apiErr.Message
		if msg == "" {
			msg = apiErr.Code
		}
		if msg == "" {
			msg = fmt.Sprintf("%d %s", apiErr.StatusCode, http.StatusText(apiErr.StatusCode))
		}
		if what := apiErrorContext(err, apiErr); what != "" {
			msg = what + ": " + msg
		}
		if apiErr.Field != "" {
			msg += " (field: " + apiErr.Field + ")"
		}
		return oneLine(msg)
	}
	if errors.Is(err, context.Canceled) {
		return "interrupted"
	}
	var urlErr *url.Error
	var opErr *net.OpError
	if errors.As(err, &urlErr) && errors.As(err, &opErr) {
		return oneLine(fmt.Sprintf("cannot reach Herald at %s: %v", baseURL(urlErr.URL), opErr.Err))
	}
	// The SDK prefixes its errors with "herald: ", as does reportError.
	return oneLine(strings.TrimPrefix(err.Error(), "herald: "))
}

// apiErrorContext returns what the SDK was doing when the engine answered
// apiErr ("getting run 0193...", "listing events"): the text that wraps
// apiErr in err, without the SDK's "herald: " prefix. It is empty when err
// is apiErr itself or wraps it some other way.
func apiErrorContext(err error, apiErr *herald.APIError) string {
	full, inner := err.Error(), apiErr.Error()
	if full == inner || !strings.HasSuffix(full, ": "+inner) {
		return ""
	}
	return strings.TrimPrefix(strings.TrimSuffix(full, ": "+inner), "herald: ")
}

// baseURL strips the path of a request URL so messages show the engine address.
func baseURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return raw
	}
	return u.Scheme + "://" + u.Host
}

// oneLine collapses line breaks so an error is always one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}
