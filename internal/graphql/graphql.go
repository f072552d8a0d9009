// Package graphql serves Herald's GraphQL API at /graphql (docs/graphql.md): the
// sendCustomEvent mutation of teams that send events that way, over the same ingest path,
// tokens and tenant confinement as the HTTP API under /api/v1, and queries for what a
// caller wants next (events, runs, workflows).
//
// The schema is schema.graphql, embedded and served at GET /graphql/schema.graphql;
// gqlgen generates generated.go and models_gen.go from it (go generate). Errors carry
// extensions.code, the REST error code in capitals, mapped through the HTTP API's own
// table (api.ProblemOf), so that the two surfaces cannot drift.
package graphql

import (
	"bytes"
	"cmp"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"

	gqlgen "github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/executor"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/heraldhq/herald/internal/api"
	"github.com/heraldhq/herald/internal/engine"
	"github.com/heraldhq/herald/internal/graphql/generated"
	"github.com/heraldhq/herald/internal/store"
)

// Schema is the GraphQL schema the server runs, in SDL.
//
//go:embed schema.graphql
var Schema string

// Config configures the GraphQL endpoint. The zero value of each field means its default.
type Config struct {
	// MaxEventBytes is the largest event (payload and metadata, as JSON), as for the HTTP
	// API. Default 1 MiB.
	MaxEventBytes int64
	// MaxDepth is the deepest selection a query may nest (a root field is at depth 1).
	// Default 10.
	MaxDepth int
	// MaxCost is the highest cost a query may have (see docs/graphql.md). Default 10,000.
	MaxCost int
	// MaxTokens is the most lexical tokens a document may have. Default 20,000.
	MaxTokens int
	// Logger receives unexpected errors. Default slog.Default().
	Logger *slog.Logger
}

// docOverhead is what a request body may hold besides its events: the document, the
// variables' other fields, the JSON around them.
const docOverhead = 64 << 10

// Handler serves /graphql and /graphql/...
type Handler struct {
	cfg  Config
	eng  *engine.Engine
	log  *slog.Logger
	res  *resolver
	exec *executor.Executor
	docs *docCache
	// plans enables sendPlan, and planned counts the requests it ran (the tests compare
	// the two paths).
	plans   bool
	planned atomic.Int64
	mux     *http.ServeMux
}

// New returns the GraphQL endpoint over eng.
func New(eng *engine.Engine, cfg Config) *Handler {
	if cfg.MaxEventBytes <= 0 {
		cfg.MaxEventBytes = 1 << 20
	}
	if cfg.MaxDepth <= 0 {
		cfg.MaxDepth = 10
	}
	if cfg.MaxCost <= 0 {
		cfg.MaxCost = 10_000
	}
	if cfg.MaxTokens <= 0 {
		cfg.MaxTokens = 20_000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	h := &Handler{cfg: cfg, eng: eng, log: cfg.Logger, res: &resolver{eng: eng, maxEventBytes: cfg.MaxEventBytes},
		plans: true, mux: http.NewServeMux()}
	es := generated.NewExecutableSchema(generated.Config{Resolvers: h.res})
	lim := limits{maxDepth: cfg.MaxDepth, maxCost: cfg.MaxCost}
	h.docs = newDocCache(512, 16<<10, func(op *ast.OperationDefinition) *sendPlan { return compileSendPlan(op, lim) })
	h.exec = executor.New(es)
	h.exec.SetQueryCache(h.docs)
	h.exec.SetParserTokenLimit(cfg.MaxTokens)
	h.exec.SetErrorPresenter(h.presentError)
	h.exec.SetRecoverFunc(h.recoverPanic)
	h.exec.Use(strictVariables{schema: es.Schema()})
	h.exec.Use(lim)
	h.routes()
	return h
}

// recoverPanic logs a resolver's panic and answers it as an internal error.
func (h *Handler) recoverPanic(_ context.Context, v any) error {
	h.log.Error("graphql resolver panic", "panic", fmt.Sprint(v))
	return errInternal
}

func (h *Handler) routes() {
	h.mux.HandleFunc("POST /graphql", h.serveGraphQL)
	h.mux.HandleFunc("GET /graphql", func(w http.ResponseWriter, r *http.Request) {
		if wantsHTML(r) {
			serveConsole(w, r, "index.html")
			return
		}
		h.serveGraphQL(w, r)
	})
	h.mux.HandleFunc("GET /graphql/schema.graphql", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, Schema)
	})
	h.mux.HandleFunc("GET /graphql/console/{file}", func(w http.ResponseWriter, r *http.Request) {
		serveConsole(w, r, r.PathValue("file"))
	})
	h.mux.HandleFunc("/graphql", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", "GET, POST")
		h.writeProblem(w, r, api.Problem{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed",
			Message: r.Method + " is not allowed on /graphql: send a query with POST (or GET for a query)"})
	})
	h.mux.HandleFunc("/graphql/", func(w http.ResponseWriter, r *http.Request) {
		h.writeProblem(w, r, api.Problem{Status: http.StatusNotFound, Code: "not_found", Message: "no such endpoint: " + r.Method + " " + r.URL.Path})
	})
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			h.log.Error("graphql handler panic", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v))
			h.writeProblem(w, r, api.Problem{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error"})
		}
	}()
	h.mux.ServeHTTP(w, r)
}

// wantsHTML reports whether a GET is a browser asking for a page rather than a client
// asking for a GraphQL response.
func wantsHTML(r *http.Request) bool {
	if r.URL.Query().Has("query") {
		return false
	}
	for part := range strings.SplitSeq(r.Header.Get("Accept"), ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case "text/html":
			return true
		case "application/json", "application/graphql-response+json":
			return false
		}
	}
	return false
}

// Media types of a GraphQL response.
const (
	mediaJSON            = "application/json"
	mediaGraphQLResponse = "application/graphql-response+json"
)

// responseType picks the response's media type from Accept: the first of the two GraphQL
// response types it names, application/json when it names neither.
func responseType(r *http.Request) string {
	for part := range strings.SplitSeq(r.Header.Get("Accept"), ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case mediaJSON:
			return mediaJSON
		case mediaGraphQLResponse:
			return mediaGraphQLResponse
		}
	}
	return mediaJSON
}

// request is a GraphQL-over-HTTP request's parameters.
type request struct {
	Query         *string        `json:"query"`
	OperationName *string        `json:"operationName"`
	Variables     map[string]any `json:"variables"`
	Extensions    map[string]any `json:"extensions"`
}

// serveGraphQL authenticates a request, reads it and executes it.
func (h *Handler) serveGraphQL(w http.ResponseWriter, r *http.Request) {
	p, err := api.Authenticate(h.eng, r)
	if err == nil {
		// Everything GraphQL does, a member token may do over REST (docs/api.md, "Roles").
		err = p.Require(store.RoleMember, "POST /graphql")
	}
	if err != nil {
		h.writeErr(w, r, err)
		return
	}
	params, perr := h.readRequest(w, r)
	if perr != nil {
		h.writeErr(w, r, perr)
		return
	}
	if h.plans && r.Method == http.MethodPost && h.serveSend(withPrincipal(r.Context(), p), w, r, params) {
		return
	}
	ctx := gqlgen.StartOperationTrace(withPrincipal(r.Context(), p)) // gqlgen's executor needs it
	opCtx, errs := h.exec.CreateOperationContext(ctx, params)
	if errs == nil && r.Method == http.MethodGet && opCtx.Operation.Operation != ast.Query {
		// GraphQL over HTTP: a mutation is never run by a GET.
		w.Header().Set("Allow", "POST")
		h.writeProblem(w, r, api.Problem{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed",
			Message: "a mutation must be sent with POST"})
		return
	}
	if errs != nil {
		// A request error: nothing ran. GraphQL over HTTP answers it 200 as
		// application/json and 400 as application/graphql-response+json.
		resp := h.exec.DispatchError(gqlgen.WithOperationContext(ctx, opCtx), errs)
		h.writeResponse(w, r, http.StatusBadRequest, resp)
		return
	}
	handle, ctx := h.exec.DispatchOperation(ctx, opCtx)
	h.writeResponse(w, r, http.StatusOK, handle(ctx))
}

// readRequest reads a POST's JSON body (within the body limit) or a GET's URL parameters.
func (h *Handler) readRequest(w http.ResponseWriter, r *http.Request) (*gqlgen.RawParams, error) {
	var in request
	if r.Method == http.MethodGet {
		q := r.URL.Query()
		if !q.Has("query") {
			return nil, badRequest("invalid_argument", "query", "a GET needs the query parameter (the GraphQL document)")
		}
		query, op := q.Get("query"), q.Get("operationName")
		in.Query, in.OperationName = &query, &op
		for _, p := range []struct {
			name string
			dst  *map[string]any
		}{{"variables", &in.Variables}, {"extensions", &in.Extensions}} {
			if s := q.Get(p.name); s != "" {
				if err := decodeJSON([]byte(s), p.dst); err != nil {
					return nil, badRequest("invalid_argument", p.name, p.name+" must be a JSON object: "+err.Error())
				}
			}
		}
		if err := loneSurrogates([]byte(`{"variables":`+cmp.Or(q.Get("variables"), "null")+`}`), query); err != nil {
			return nil, err
		}
	} else {
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if mt != mediaJSON {
			return nil, &problemError{p: api.Problem{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type",
				Message: "a GraphQL request is a JSON body: Content-Type: application/json"}}
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxEventBytes+docOverhead))
		if err != nil {
			return nil, err // *http.MaxBytesError: 413
		}
		if len(bytes.TrimSpace(body)) == 0 {
			return nil, badRequest("malformed_json", "", "request body is empty; a JSON object with query is required")
		}
		if err := decodeJSON(body, &in); err != nil {
			var ute *json.UnmarshalTypeError
			if errors.As(err, &ute) {
				return nil, badRequest("invalid_argument", ute.Field, fmt.Sprintf("%s must be %s, not %s", ute.Field, jsonKind(ute.Field), ute.Value))
			}
			return nil, badRequest("malformed_json", "", "request body is not valid JSON: "+err.Error())
		}
		if in.Query == nil {
			return nil, badRequest("invalid_argument", "query", "the body has no query (the GraphQL document)")
		}
		if err := loneSurrogates(body, *in.Query); err != nil {
			return nil, err
		}
	}
	params := &gqlgen.RawParams{Query: *in.Query, Variables: in.Variables, Extensions: in.Extensions, Headers: r.Header}
	if in.OperationName != nil {
		params.OperationName = *in.OperationName
	}
	return params, nil
}

// loneSurrogateMsg says what is wrong with a lone surrogate escape.
const loneSurrogateMsg = `must not contain a lone UTF-16 surrogate escape such as "\ud800" (half of a pair, which names no character)`

// loneSurrogates refuses a request whose variables (in body, a JSON object with
// "variables") or document (query) hold a \u escape of a lone UTF-16 surrogate. JSON and
// GraphQL allow them, but they name no character: Go's readers turn them into U+FFFD, so
// a payload would be stored other than sent, where the HTTP API refuses the same payload
// (store.Unstorable). Nothing runs. The field names the variable's value as the
// validator's errors do ("$input.payload.data.s"), or "query" for a string of the document.
func loneSurrogates(body []byte, query string) error {
	if store.HasLoneSurrogate([]byte(query)) {
		// The document is not JSON, but its strings escape as JSON's do.
		return badRequest("invalid_argument", "query", "query: a string of the document "+loneSurrogateMsg)
	}
	if !store.HasLoneSurrogate(body) {
		return nil
	}
	var in struct {
		Variables json.RawMessage `json:"variables"`
	}
	if err := json.Unmarshal(body, &in); err != nil || !store.HasLoneSurrogate(in.Variables) {
		return nil // elsewhere in the body (operationName, extensions): not read as data
	}
	var sb strings.Builder
	for _, p := range surrogatePath(in.Variables) {
		if sb.Len() > 0 && !strings.HasPrefix(p, "[") {
			sb.WriteByte('.')
		}
		sb.WriteString(p)
	}
	field := "$" + sb.String()
	if field == "$" {
		field = "variables"
	}
	return badRequest("invalid_argument", field, field+": "+loneSurrogateMsg)
}

// surrogatePath returns the path, in name order, to the innermost value of raw (valid
// JSON) that holds a lone surrogate escape: member names, and "[i]" for an array's items.
// A name holding one ends the path at its object.
func surrogatePath(raw json.RawMessage) []string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil
	}
	switch raw[0] {
	case '{':
		var m map[string]json.RawMessage
		if json.Unmarshal(raw, &m) != nil {
			return nil
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if store.HasLoneSurrogate(m[k]) {
				return append([]string{k}, surrogatePath(m[k])...)
			}
		}
	case '[':
		var l []json.RawMessage
		if json.Unmarshal(raw, &l) != nil {
			return nil
		}
		for i, v := range l {
			if store.HasLoneSurrogate(v) {
				return append([]string{fmt.Sprintf("[%d]", i)}, surrogatePath(v)...)
			}
		}
	}
	return nil
}

// jsonKind names what a request parameter must be.
func jsonKind(param string) string {
	switch param {
	case "variables", "extensions":
		return "an object"
	}
	return "a string"
}

// decodeJSON decodes one JSON value into v, numbers kept as written (json.Number).
func decodeJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the JSON value")
	}
	return nil
}

func badRequest(code, field, msg string) error {
	return &problemError{p: api.Problem{Status: http.StatusBadRequest, Code: code, Message: msg, Field: field}}
}

// response is a GraphQL response as written: without data for a request error (which ran
// nothing), with data (maybe null) for one that ran.
type response struct {
	Errors     gqlerror.List   `json:"errors,omitempty"`
	Data       json.RawMessage `json:"data,omitempty"`
	Extensions map[string]any  `json:"extensions,omitempty"`
}

// writeResponse writes a GraphQL response. requestErrStatus is the status of a response
// without data (a request error) as application/graphql-response+json; every response to
// a well-formed request is 200 as application/json, as GraphQL over HTTP says.
func (h *Handler) writeResponse(w http.ResponseWriter, r *http.Request, requestErrStatus int, resp *gqlgen.Response) {
	mt := responseType(r)
	status := http.StatusOK
	if mt == mediaGraphQLResponse && resp.Data == nil {
		status = requestErrStatus
	}
	h.write(w, r, mt, status, response{Errors: resp.Errors, Data: resp.Data, Extensions: resp.Extensions})
}

// write encodes a response.
func (h *Handler) write(w http.ResponseWriter, r *http.Request, mediaType string, status int, resp response) {
	if len(resp.Errors) == 0 && len(resp.Extensions) == 0 && len(resp.Data) > 0 {
		// The usual answer: data only, already encoded.
		w.Header().Set("Content-Type", mediaType+"; charset=utf-8")
		w.WriteHeader(status)
		w.Write(append(append(append(make([]byte, 0, len(resp.Data)+10), `{"data":`...), resp.Data...), '}'))
		return
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(resp); err != nil {
		h.log.Error("encoding graphql response", "err", err)
		buf.Reset()
		status = http.StatusInternalServerError
		enc.Encode(response{Errors: gqlerror.List{problemGQLError(api.Problem{Code: "internal", Message: "internal error"})}})
	}
	w.Header().Set("Content-Type", mediaType+"; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// writeErr answers an error met before the document ran (the token, the body).
func (h *Handler) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	var pe *problemError
	if errors.As(err, &pe) {
		h.writeProblem(w, r, pe.p)
		return
	}
	p, ok := api.ProblemOf(err)
	if !ok {
		if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
			return // the client went away
		}
		h.log.Error("graphql request failed", "err", err)
	}
	h.writeProblem(w, r, p)
}

// writeProblem answers a request that did not run with one GraphQL error and the HTTP
// status of the problem, whatever the media type: such a request is not well-formed, or
// not allowed, at the HTTP level.
func (h *Handler) writeProblem(w http.ResponseWriter, r *http.Request, p api.Problem) {
	if p.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="herald"`)
	}
	if p.RetryAfter > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(p.RetryAfter))
	}
	h.write(w, r, responseType(r), p.Status, response{Errors: gqlerror.List{problemGQLError(p)}})
}

type principalKey struct{}

func withPrincipal(ctx context.Context, p engine.Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// principal is the caller of a request; every resolver acts for its tenant only.
func principal(ctx context.Context) engine.Principal {
	p, ok := ctx.Value(principalKey{}).(engine.Principal)
	if !ok || p.TenantID == "" {
		// Every resolver runs under serveGraphQL, which authenticated the request.
		panic("graphql: resolver without an authenticated principal")
	}
	return p
}
