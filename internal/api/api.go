// Package api serves Herald's HTTP API under /api/v1 (see docs/api.md and
// docs/worker-protocol.md): JSON in and out, bearer-token authentication, one error shape.
package api

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/heraldhq/herald/internal/engine"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/webhook"
	"github.com/heraldhq/herald/internal/wire"
)

// Config configures the API.
type Config struct {
	// MaxEventBytes is the largest event (payload and metadata), and the largest body of
	// any call but bulk push. Default 1 MiB.
	MaxEventBytes int64
	// MaxBulkBytes is the largest bulk push body. Default 64 MiB.
	MaxBulkBytes int64
	// MaxWebhookBodyBytes is the largest webhook delivery body; larger ones get 413.
	// Default 1 MiB.
	MaxWebhookBodyBytes int64
	// PublicURL is the base URL senders reach this API at (e.g. https://herald.example.com),
	// used to show webhooks' receive URLs. Default: the scheme and host of each request.
	PublicURL string
	// Logger receives request errors. Default slog.Default().
	Logger *slog.Logger
	// Metrics, when set, is served at GET /metrics to operator tokens (Prometheus).
	Metrics http.Handler
}

// API is the HTTP handler set.
type API struct {
	cfg Config
	eng *engine.Engine
	log *slog.Logger
	mux *http.ServeMux
	// patterns are the routes' patterns in the order routes registered them, so that a
	// test can hold the OpenAPI document to the route table.
	patterns []string
}

// openAPI is the OpenAPI 3.1 description of this API, served at GET
// /api/v1/openapi.json. It is the one source of truth of the REST contract: the tests
// hold every route, request and response to it.
//
//go:embed openapi.json
var openAPI []byte

// New returns the API over eng.
func New(eng *engine.Engine, cfg Config) *API {
	if cfg.MaxEventBytes <= 0 {
		cfg.MaxEventBytes = 1 << 20
	}
	if cfg.MaxBulkBytes <= 0 {
		cfg.MaxBulkBytes = 64 << 20
	}
	if cfg.MaxWebhookBodyBytes <= 0 {
		cfg.MaxWebhookBodyBytes = 1 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	a := &API{cfg: cfg, eng: eng, log: cfg.Logger, mux: http.NewServeMux()}
	a.routes()
	return a
}

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			a.log.Error("handler panic", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v))
			writeError(w, http.StatusInternalServerError, "internal", "internal error", "")
		}
	}()
	// Percent-escapes in a path or query may decode to any byte. Everything Herald stores is
	// UTF-8 without U+0000, so such a path names nothing, and PostgreSQL's text refuses it
	// in a query (SQLSTATE 22021, which answered 500 where SQLite found nothing).
	if why := PathUnstorable(r.URL.Path); why != "" {
		writeError(w, http.StatusNotFound, "not_found", "not found: the path "+why, "")
		return
	}
	if param, why := QueryUnstorable(r.URL.Query()); why != "" {
		writeError(w, http.StatusBadRequest, "invalid_argument", param+": "+why, param)
		return
	}
	a.mux.ServeHTTP(w, r)
}

// PathUnstorable says why a request's decoded path can name nothing Herald stores — it is
// not UTF-8, or it holds U+0000 (%00) — or returns "".
func PathUnstorable(path string) string {
	switch {
	case !utf8.ValidString(path):
		return "is not UTF-8"
	case strings.IndexByte(path, 0) >= 0:
		return "holds the character U+0000"
	}
	return ""
}

// QueryUnstorable returns the first parameter of q, in name order, whose name or a value is
// not UTF-8 or holds U+0000, and why; why is "" when there is none.
func QueryUnstorable(q url.Values) (param, why string) {
	if param, bad := QueryNotUTF8(q); bad {
		return param, "is not valid UTF-8"
	}
	for _, k := range sortedKeys(q) {
		bad := strings.IndexByte(k, 0) >= 0
		for _, v := range q[k] {
			bad = bad || strings.IndexByte(v, 0) >= 0
		}
		if bad {
			return k, "must not contain the character U+0000"
		}
	}
	return "", ""
}

// QueryNotUTF8 returns the first parameter of q, in name order, whose name or a value is
// not UTF-8.
func QueryNotUTF8(q url.Values) (param string, bad bool) {
	for _, k := range sortedKeys(q) {
		ok := utf8.ValidString(k)
		for _, v := range q[k] {
			ok = ok && utf8.ValidString(v)
		}
		if !ok {
			return k, true
		}
	}
	return "", false
}

type handler func(w http.ResponseWriter, r *http.Request, p engine.Principal) error

func (a *API) routes() {
	handle := func(pattern string, h http.Handler) {
		a.patterns = append(a.patterns, pattern)
		a.mux.Handle(pattern, h)
	}
	handle("GET /healthz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, wire.Status{Status: "ok"})
	}))
	// The API's contract needs no token: clients and code generators read it first.
	handle("GET /api/v1/openapi.json", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openAPI)
	}))
	// Each route names the least role it needs (docs/api.md, "Roles"); handlers of token
	// calls refine it per target (engine.CreateToken, RevokeToken). A member is any token.
	auth := func(pattern string, role store.Role, h handler) { handle(pattern, a.authed(role, h)) }
	const member, admin, operator = store.RoleMember, store.RoleAdmin, store.RoleOperator

	auth("POST /api/v1/events", member, a.pushEvent)
	auth("POST /api/v1/events/bulk", member, a.pushBulk)
	auth("GET /api/v1/events", member, a.listEvents)
	auth("GET /api/v1/events/{id}", member, a.getEvent)
	auth("POST /api/v1/events/{id}/replay", member, a.replayEvent)
	auth("POST /api/v1/events/{id}/cancel", member, a.cancelEvent)

	auth("PUT /api/v1/workflows/{name}", member, a.putWorkflow)
	auth("GET /api/v1/workflows", member, a.listWorkflows)
	auth("GET /api/v1/workflows/{name}", member, a.getWorkflow)
	auth("POST /api/v1/workflows/{name}/enable", member, a.toggleWorkflow(true))
	auth("POST /api/v1/workflows/{name}/disable", member, a.toggleWorkflow(false))
	auth("POST /api/v1/workflows/{name}/runs", member, a.startRun)
	auth("POST /api/v1/workflows/{name}/filters", member, a.createFilter)
	auth("GET /api/v1/workflows/{name}/filters", member, a.listFilters)
	auth("GET /api/v1/workflows/{name}/filters/{id}", member, a.getFilter)
	auth("DELETE /api/v1/workflows/{name}/filters/{id}", member, a.deleteFilter)

	auth("GET /api/v1/runs", member, a.listRuns)
	auth("GET /api/v1/runs/{id}", member, a.getRun)
	auth("POST /api/v1/runs/{id}/cancel", member, a.cancelRun)

	auth("POST /api/v1/tokens", member, a.createToken)
	auth("GET /api/v1/tokens", member, a.listTokens)
	auth("DELETE /api/v1/tokens/{id}", member, a.revokeToken)
	auth("POST /api/v1/tenants", operator, a.createTenant)
	auth("GET /api/v1/tenants", operator, a.listTenants)

	auth("PUT /api/v1/event-schemas/{key...}", admin, a.putEventSchema)
	auth("GET /api/v1/event-schemas", member, a.listEventSchemas)
	auth("GET /api/v1/event-schemas/{key...}", member, a.getEventSchema)
	auth("DELETE /api/v1/event-schemas/{key...}", admin, a.deleteEventSchema)

	auth("POST /api/v1/webhooks", admin, a.createWebhook)
	auth("GET /api/v1/webhooks", member, a.listWebhooks)
	auth("GET /api/v1/webhooks/{name}", member, a.getWebhook)
	auth("PATCH /api/v1/webhooks/{name}", admin, a.updateWebhook)
	auth("DELETE /api/v1/webhooks/{name}", admin, a.deleteWebhook)
	auth("GET /api/v1/webhooks/{name}/deliveries", member, a.listDeliveries)
	// A webhook's receive URL: no token, the sender's signature authenticates it.
	handle("POST /api/v1/tenants/{tenant_id}/webhooks/{name}", http.HandlerFunc(a.receiveWebhook))

	auth("POST /api/v1/workers", member, a.registerWorker)
	auth("POST /api/v1/workers/{id}/poll", member, a.poll)
	auth("POST /api/v1/workers/{id}/heartbeat", member, a.heartbeat)
	auth("POST /api/v1/workers/{id}/step-runs/{step_run_id}/complete", member, a.complete)
	auth("POST /api/v1/workers/{id}/step-runs/{step_run_id}/fail", member, a.fail)

	if a.cfg.Metrics != nil {
		auth("GET /metrics", operator, a.metrics)
	}

	// Any other path under /api/ (no method: every method) is not an endpoint.
	handle(notFoundPattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint: "+r.Method+" "+r.URL.Path, "")
	}))
}

// notFoundPattern answers every other path under /api/ with the error body (404).
const notFoundPattern = "/api/"

// authed checks the bearer token and that its role is role or above, and maps the
// handler's error.
func (a *API) authed(role store.Role, h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := Authenticate(a.eng, r)
		if err == nil {
			err = p.Require(role, r.Pattern)
		}
		if err != nil {
			a.writeErr(w, r, err)
			return
		}
		if err := h(w, r, p); err != nil {
			a.writeErr(w, r, err)
		}
	})
}

// errMissingToken is a request without a bearer token.
var errMissingToken = fmt.Errorf("missing bearer token (Authorization: Bearer <token>): %w", engine.ErrUnauthenticated)

// Authenticate resolves the bearer token of a request (Authorization: Bearer <token>) to
// its principal. A missing, unknown or revoked token fails with engine.ErrUnauthenticated;
// a store that cannot answer, with its error. Every surface that takes API tokens (this
// API, GraphQL) authenticates through it.
func Authenticate(eng *engine.Engine, r *http.Request) (engine.Principal, error) {
	secret := engine.BearerToken(r.Header.Get("Authorization"))
	if secret == "" {
		return engine.Principal{}, errMissingToken
	}
	return eng.Authenticate(r.Context(), secret)
}

// Problem is an error as the API answers it.
type Problem struct {
	// Status is the HTTP status.
	Status int
	// Code is the error body's code (invalid_argument, not_found, ...).
	Code    string
	Message string
	// Field names the field to blame, or is "".
	Field string
	// RetryAfter, when positive, is the Retry-After header's value in seconds.
	RetryAfter int
}

// ProblemOf maps an error to its answer, the one table from errors to codes (docs/api.md).
// ok is false for an unexpected error, answered 500 internal, which the caller logs.
func ProblemOf(err error) (p Problem, ok bool) {
	var fe *engine.FieldError
	var mbe *http.MaxBytesError
	var se *statusError
	var we *webhook.Refusal
	var sv *engine.SchemaError
	switch {
	case errors.As(err, &se):
		return Problem{Status: se.status, Code: se.code, Message: se.msg, Field: se.field}, true
	case errors.As(err, &we):
		return Problem{Status: we.Status, Code: we.Code, Message: we.Message, Field: we.Field}, true
	case errors.Is(err, os.ErrDeadlineExceeded):
		// The server's read timeout (--read-timeout) passed before the body arrived.
		return Problem{Status: http.StatusRequestTimeout, Code: "request_timeout", Message: "the request body did not arrive within the server's read timeout"}, true
	case errors.As(err, &mbe):
		return Problem{Status: http.StatusRequestEntityTooLarge, Code: "payload_too_large",
			Message: fmt.Sprintf("request body is larger than the limit of %d bytes", mbe.Limit)}, true
	case errors.As(err, &sv):
		return Problem{Status: http.StatusUnprocessableEntity, Code: "schema_violation", Message: sv.Error(), Field: sv.Field}, true
	case errors.As(err, &fe):
		return Problem{Status: http.StatusBadRequest, Code: "invalid_argument", Message: fe.Error(), Field: fe.Field}, true
	case errors.Is(err, errMissingToken):
		return Problem{Status: http.StatusUnauthorized, Code: "unauthenticated", Message: "missing bearer token (Authorization: Bearer <token>)"}, true
	case errors.Is(err, engine.ErrUnauthenticated):
		return Problem{Status: http.StatusUnauthorized, Code: "unauthenticated", Message: "invalid or revoked token"}, true
	case errors.Is(err, engine.ErrPermission):
		return Problem{Status: http.StatusForbidden, Code: "permission_denied", Message: err.Error()}, true
	case errors.Is(err, store.ErrNotFound):
		return Problem{Status: http.StatusNotFound, Code: "not_found", Message: "not found"}, true
	case errors.Is(err, store.ErrStaleLease):
		return Problem{Status: http.StatusConflict, Code: "stale_lease",
			Message: "the lease is no longer yours (expired, reassigned or the run was cancelled); drop the result", Field: "lease_id"}, true
	case errors.Is(err, store.ErrConflict):
		return Problem{Status: http.StatusConflict, Code: "conflict", Message: err.Error()}, true
	case errors.Is(err, engine.ErrOverloaded):
		return Problem{Status: http.StatusTooManyRequests, Code: "overloaded", Message: "the engine is busy; retry later", RetryAfter: 1}, true
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, engine.ErrClosed):
		return Problem{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "the store cannot commit right now; retry later", RetryAfter: 2}, true
	}
	return Problem{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error"}, false
}

// writeErr maps an error to its status and the error body.
func (a *API) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	p, ok := ProblemOf(err)
	if !ok && errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		// The client went away; nobody reads this.
		writeError(w, 499, "cancelled", "request cancelled", "")
		return
	}
	if !ok {
		a.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if p.Status == http.StatusUnauthorized && p.Code == "unauthenticated" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="herald"`)
	}
	if p.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(p.RetryAfter))
	}
	writeError(w, p.Status, p.Code, p.Message, p.Field)
}

// statusError is an error with an explicit HTTP status.
type statusError struct {
	status           int
	code, msg, field string
}

func (e *statusError) Error() string { return e.msg }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg, field string) {
	writeJSON(w, status, wire.Error{Error: wire.ErrorDetail{Code: code, Message: msg, Field: field}})
}

// decode reads a JSON body of at most limit bytes into v, refusing unknown fields. An
// empty body leaves v as it is when allowEmpty is set.
func decode(r *http.Request, w http.ResponseWriter, limit int64, v any, allowEmpty bool) error {
	body := http.MaxBytesReader(w, r.Body, limit)
	data, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		if allowEmpty {
			return nil
		}
		return &statusError{status: http.StatusBadRequest, code: "malformed_json", msg: "request body is empty; a JSON object is required"}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			return &statusError{status: http.StatusBadRequest, code: "invalid_argument", msg: fmt.Sprintf("%s must be %s, not %s", ute.Field, ute.Type, ute.Value), field: ute.Field}
		}
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			f = strings.Trim(f, `"`)
			return &statusError{status: http.StatusBadRequest, code: "invalid_argument", msg: "unknown field " + strconv.Quote(f), field: f}
		}
		return &statusError{status: http.StatusBadRequest, code: "malformed_json", msg: "request body is not valid JSON: " + err.Error()}
	}
	// Decoder.More says whether an array or object goes on, so it reads a stray "}" or "]"
	// after the value as the end: what follows the value must be space.
	if len(bytes.TrimSpace(data[dec.InputOffset():])) > 0 {
		return &statusError{status: http.StatusBadRequest, code: "malformed_json", msg: "request body has data after the JSON value"}
	}
	return nil
}

// page reads cursor and limit.
func page(r *http.Request) (before string, limit int, err error) {
	if err := singleValued(r.URL.Query(), "limit", "cursor"); err != nil {
		return "", 0, err
	}
	limit = 50
	if s := r.URL.Query().Get("limit"); s != "" {
		n, perr := strconv.Atoi(s)
		if perr != nil || n < 1 || n > 500 {
			return "", 0, &engine.FieldError{Field: "limit", Message: "must be an integer between 1 and 500"}
		}
		limit = n
	}
	if c := r.URL.Query().Get("cursor"); c != "" {
		// Every cursor is the id of a page's last item.
		b, derr := base64.RawURLEncoding.DecodeString(c)
		if derr != nil || !store.ValidID(string(b)) {
			return "", 0, &engine.FieldError{Field: "cursor", Message: "is not a cursor this API returned"}
		}
		before = string(b)
	}
	return before, limit, nil
}

func cursor(lastID string) string { return base64.RawURLEncoding.EncodeToString([]byte(lastID)) }

// writePage answers a listing with a page of rows, read with limit+1 rows so that a
// further row means a next page (its cursor is the last shown row's id). Each row is
// shown by conv and named by id.
func writePage[R, J any](w http.ResponseWriter, rows []R, limit int, id func(R) string, conv func(R) J) {
	out := wire.List[J]{Items: make([]J, 0, min(len(rows), limit))}
	for i, r := range rows {
		if i == limit {
			out.NextCursor = cursor(id(rows[i-1]))
			break
		}
		out.Items = append(out.Items, conv(r))
	}
	writeJSON(w, http.StatusOK, out)
}
