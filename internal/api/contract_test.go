package api_test

// Every request the API tests send and every response they receive is held to the OpenAPI
// document (openapi.json, the one served at GET /api/v1/openapi.json) by a validating
// http.RoundTripper. The rule:
//
//   - A response is ALWAYS validated: its status must be one the operation lists, and its
//     headers and body must match what the document says of that status and content type.
//   - A request is validated too, but a test may send bad input on purpose, and the server
//     is the judge of input. So a request the document refuses must be refused by the
//     server (a 4xx status): a document that refuses what the server accepts (2xx) has
//     drifted, and the test fails. A request the document accepts may still be refused (the
//     server checks more than a schema can say: a DAG of steps, a CEL expression, whether a
//     workflow exists).
//   - A request to a path or method the document does not have must be answered 404 or 405
//     (under /api/, 404 with the error body): the route does not exist.
//
// So a request answered 4xx or 5xx is checked only for its route (its body would not change
// the verdict, and a body over a limit can be large); its response is checked in full.
//
// Three readings are made for the validator, never for the server: a payload schema's key
// with "/" in the path is validated in its percent-encoded form (%2F), the form the
// document describes (the server takes both); a request body sent without a Content-Type
// is validated as application/octet-stream, what RFC 9110 (8.3) lets a recipient assume
// (the document's */* entries describe it; the server reads it as JSON); a HEAD request's
// answer has no body to check. Nothing else is rewritten.
//
// Requests go through client.do or validatingClient(t); TestMain makes
// http.DefaultTransport refuse every request, so that a test that bypasses the check
// fails instead of going unchecked.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	verrors "github.com/pb33f/libopenapi-validator/errors"

	"github.com/heraldhq/herald/internal/api"
)

// baseTransport is the transport of validated requests; http.DefaultTransport itself
// refuses requests in this package's tests (TestMain).
var baseTransport = http.DefaultTransport.(*http.Transport).Clone()

func TestMain(m *testing.M) {
	http.DefaultTransport = refuseTransport{}
	os.Exit(m.Run())
}

// refuseTransport fails every request: tests send theirs through the validating client.
type refuseTransport struct{}

func (refuseTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return nil, fmt.Errorf("%s %s: API tests send requests through client.do or validatingClient(t), "+
		"which hold them to the OpenAPI document", r.Method, r.URL)
}

// contract is the OpenAPI document and its validator, built once per test binary. The
// validator is safe for concurrent use.
var contract = sync.OnceValues(func() (*contractValidator, error) {
	doc, err := libopenapi.NewDocument(api.OpenAPIDocument())
	if err != nil {
		return nil, fmt.Errorf("parsing openapi.json: %w", err)
	}
	v, errs := validator.NewValidator(doc, config.WithFormatAssertions(), config.WithURLEncodedBodyValidation())
	if len(errs) > 0 {
		return nil, fmt.Errorf("building the validator of openapi.json: %w", errors.Join(errs...))
	}
	return &contractValidator{v: v}, nil
})

type contractValidator struct {
	v validator.Validator
}

// validatingClient is an HTTP client whose requests and responses are held to the
// OpenAPI document; a mismatch fails t.
func validatingClient(t testing.TB) *http.Client {
	return &http.Client{Transport: &validatingTransport{t: t, base: baseTransport}}
}

// validatingTransport holds each exchange to the OpenAPI document (see the rule at the
// top of this file).
type validatingTransport struct {
	t    testing.TB
	base http.RoundTripper
}

func (vt *validatingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		var err error
		if reqBody, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	res, err := vt.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resBody, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(resBody))
	for _, p := range checkExchange(req, reqBody, res, resBody) {
		vt.t.Errorf("%s", p)
	}
	return res, nil
}

// checkExchange returns what in one exchange does not match the OpenAPI document, as
// messages naming the route, the status and what mismatched.
func checkExchange(req *http.Request, reqBody []byte, res *http.Response, resBody []byte) []string {
	c, err := contract()
	if err != nil {
		return []string{err.Error()}
	}
	vreq := req.Clone(req.Context())
	body := reqBody
	if res.StatusCode >= 400 {
		body = nil // only the route matters (see the rule above)
	}
	vreq.Body = io.NopCloser(bytes.NewReader(body))
	if len(reqBody) > 0 && vreq.Header.Get("Content-Type") == "" {
		vreq.Header.Set("Content-Type", "application/octet-stream")
	}
	if rest, ok := strings.CutPrefix(vreq.URL.Path, "/api/v1/event-schemas/"); ok && strings.Contains(rest, "/") {
		vreq.URL.RawPath = "/api/v1/event-schemas/" + strings.ReplaceAll(rest, "/", "%2F")
	}
	vres := *res
	vres.Body = io.NopCloser(bytes.NewReader(resBody))
	vres.Request = vreq

	route := fmt.Sprintf("%s %s", req.Method, req.URL.RequestURI())
	_, reqErrs := c.v.ValidateHttpRequestSync(vreq)
	var resErrs []*verrors.ValidationError
	missing := routeMissing(reqErrs)
	if !missing {
		vreq.Body = io.NopCloser(bytes.NewReader(nil)) // the response's operation is found by the route
		_, resErrs = c.v.ValidateHttpResponse(vreq, &vres)
	}

	var problems []string
	if missing {
		// Not a route of the document: the server must not have it either.
		if res.StatusCode != http.StatusNotFound && res.StatusCode != http.StatusMethodNotAllowed {
			problems = append(problems, fmt.Sprintf("openapi: %s answered %d, but the document has no such route", route, res.StatusCode))
		}
		if res.StatusCode == http.StatusNotFound && strings.HasPrefix(req.URL.Path, "/api/") && req.Method != http.MethodHead {
			if why := notFoundBody(resBody); why != "" {
				problems = append(problems, fmt.Sprintf("openapi: %s answered 404 %s: %s", route, snippet(resBody), why))
			}
		}
		return problems
	}
	if len(reqErrs) > 0 && res.StatusCode < 400 {
		problems = append(problems, fmt.Sprintf("openapi: %s answered %d, but the document refuses the request (%s): %s",
			route, res.StatusCode, snippet(reqBody), describe(reqErrs)))
	}
	if len(resErrs) > 0 {
		problems = append(problems, fmt.Sprintf("openapi: %s: the response %d %s does not match the document: %s",
			route, res.StatusCode, snippet(resBody), describe(resErrs)))
	}
	return problems
}

// routeMissing reports whether the validator found no path or no operation for the
// request.
func routeMissing(errs []*verrors.ValidationError) bool {
	for _, e := range errs {
		if e.IsPathMissingError() || e.IsOperationMissingError() {
			return true
		}
	}
	return false
}

// notFoundBody says what is wrong with a 404 body of the not-found fallback, or "".
func notFoundBody(body []byte) string {
	var e struct {
		Error struct {
			Code, Message, Field string
		} `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return "not the error body: " + err.Error()
	}
	if e.Error.Code != "not_found" || e.Error.Message == "" {
		return `want code "not_found" and a message`
	}
	return ""
}

// describe says what mismatched: for a schema, each failing value's JSON path and why
// (with the schema keyword that refused it); else the validator's message.
func describe(errs []*verrors.ValidationError) string {
	var parts []string
	for _, e := range errs {
		if len(e.SchemaValidationErrors) == 0 {
			msg := e.Message
			if e.Reason != "" && e.Reason != e.Message {
				msg += ": " + e.Reason
			}
			parts = append(parts, msg)
			continue
		}
		for _, f := range e.SchemaValidationErrors {
			path := f.FieldPath
			if path == "" {
				path = "$"
			}
			parts = append(parts, fmt.Sprintf("%s: %s (schema %s)", path, f.Reason, f.KeywordLocation))
		}
	}
	return strings.Join(parts, "; ")
}

func snippet(b []byte) string {
	const max = 600
	s := strings.TrimSpace(string(b))
	if len(s) > max {
		s = s[:max] + "…"
	}
	if s == "" {
		return "(no body)"
	}
	return s
}
