package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/api"
	"github.com/heraldhq/herald/internal/engine"
	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/testenv"
)

// The fuzz targets of this package drive the real API handler of a real engine: on SQLite
// in a temporary directory, made once per target (not per input), and also on PostgreSQL
// when HERALD_TEST_DATABASE_URL is set, in which case every input goes to both and both
// must answer alike. Plain `go test` replays each target's seeds (f.Add and
// testdata/fuzz/<Target>); `go test -run '^$' -fuzz '^FuzzX$' -fuzztime 3m -parallel 1
// ./internal/api` explores further (docs/architecture.md, "Fuzzing").
//
// Every target checks, for every input: no 5xx (a panic in a handler is a 500); an error
// status carries the JSON error body {"error": {"code", "message"}}; and an error stores
// nothing (no event, no delayed event newer than the request).

// fuzzConfig is the API's configuration in fuzz targets: body limits small enough that
// inputs reach them.
func fuzzConfig() api.Config {
	var log io.Writer = io.Discard
	if os.Getenv("HERALD_TEST_LOG") != "" {
		log = os.Stderr
	}
	return api.Config{MaxEventBytes: 8 << 10, MaxBulkBytes: 64 << 10, MaxWebhookBodyBytes: 8 << 10,
		Logger: slog.New(slog.NewTextHandler(log, nil))}
}

// fuzzServer is the engines a fuzz target drives, one per store.
type fuzzServer struct {
	stores []*fuzzStore
}

// fuzzStore is one engine behind the API handler, with the operator token of its tenant.
type fuzzStore struct {
	name   string
	env    *testenv.Env
	eng    *engine.Engine
	h      http.Handler
	token  string
	tenant string
}

// newFuzzServer starts the engines of a fuzz target.
func newFuzzServer(f *testing.F) *fuzzServer {
	f.Helper()
	fs := &fuzzServer{}
	fs.add(f, "sqlite", testenv.Options{Retention: -1})
	if os.Getenv(pgtest.EnvURL) != "" {
		fs.add(f, "postgres", testenv.Options{Retention: -1, DatabaseURL: pgtest.NewDatabase(f)})
	}
	return fs
}

func (fs *fuzzServer) add(f *testing.F, name string, o testenv.Options) {
	env := testenv.StartWith(f, o)
	eng := env.Server.Engine()
	p, err := eng.Authenticate(context.Background(), env.Token)
	if err != nil {
		f.Fatal(err)
	}
	fs.stores = append(fs.stores, &fuzzStore{name: name, env: env, eng: eng, h: api.New(eng, fuzzConfig()),
		token: env.Token, tenant: p.TenantID})
}

// setup runs a call on every store and requires status want (the state a target starts
// from: workflows, webhooks, workers).
func (fs *fuzzServer) setup(f *testing.F, want int, method, path, body string) []fuzzReply {
	f.Helper()
	var out []fuzzReply
	for _, s := range fs.stores {
		r := s.serve(context.Background(), fuzzRequest{method: method, path: path, body: []byte(body),
			header: http.Header{"Content-Type": {"application/json"}}})
		if r.status != want {
			f.Fatalf("%s: %s %s = %d, want %d: %s", s.name, method, path, r.status, want, r.body)
		}
		out = append(out, r)
	}
	return out
}

// fuzzRequest is one request of a fuzz input. The token is added per store.
type fuzzRequest struct {
	method, path string
	header       http.Header
	body         []byte
	// ctx, when set, is the request's context (a client that goes away).
	ctx func() (context.Context, context.CancelFunc)
	// noAuth sends no token (webhook deliveries).
	noAuth bool
	// pathOf, when set, gives the path per store (one with the store's tenant id).
	pathOf func(*fuzzStore) string
	// rawQuery is the query, as sent.
	rawQuery string
	// bodyOf, when set, gives the body per store (one naming the store's ids).
	bodyOf func(*fuzzStore) []byte
}

// fuzzReply is one store's answer.
type fuzzReply struct {
	store  *fuzzStore
	status int
	header http.Header
	body   []byte
	// stored is whether an event or a delayed event newer than the request exists after it.
	stored bool
}

// json decodes the reply body.
func (r fuzzReply) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("%s: reply %d is not a JSON object: %v: %q", r.store.name, r.status, err, r.body)
	}
	return m
}

// errorOf returns the code and field of an error reply.
func (r fuzzReply) errorOf() (code, field string) {
	var e struct {
		Error struct{ Code, Field string } `json:"error"`
	}
	_ = json.Unmarshal(r.body, &e)
	return e.Error.Code, e.Error.Field
}

// do sends the request to every store and checks what holds for every input. The stores'
// answers must agree on status, error code and field.
func (fs *fuzzServer) do(t *testing.T, req fuzzRequest) []fuzzReply {
	t.Helper()
	out := make([]fuzzReply, len(fs.stores))
	for i, s := range fs.stores {
		ctx, cancel := context.Background(), context.CancelFunc(func() {})
		if req.ctx != nil {
			ctx, cancel = req.ctx()
		}
		out[i] = s.serve(ctx, req)
		cancel()
		checkReply(t, req, out[i])
	}
	for _, r := range out[1:] {
		if r.status == 499 || out[0].status == 499 {
			// A client that went away (a poll's): when it did is timing, not the store.
			break
		}
		c0, f0 := out[0].errorOf()
		c, fl := r.errorOf()
		if r.status != out[0].status || c != c0 || fl != f0 {
			t.Fatalf("%s %s: the stores disagree: %s answered %d %s, %s answered %d %s",
				req.method, req.path, out[0].store.name, out[0].status, out[0].body, r.store.name, r.status, r.body)
		}
	}
	return out
}

// serve runs one request through the store's API handler.
func (s *fuzzStore) serve(ctx context.Context, req fuzzRequest) fuzzReply {
	path := req.path
	if req.pathOf != nil {
		path = req.pathOf(s)
	}
	body := req.body
	if req.bodyOf != nil {
		body = req.bodyOf(s)
	}
	r := httptest.NewRequestWithContext(ctx, req.method, "http://herald.test"+path, bytes.NewReader(body))
	r.URL.RawQuery = req.rawQuery
	for k, vs := range req.header {
		r.Header[k] = vs
	}
	if !req.noAuth {
		r.Header.Set("Authorization", "Bearer "+s.token)
	}
	marker := engine.NewID()
	w := httptest.NewRecorder()
	s.h.ServeHTTP(w, r)
	return fuzzReply{store: s, status: w.Code, header: w.Header(), body: w.Body.Bytes(), stored: s.storedSince(marker)}
}

// storedSince reports whether an event or a delayed event was stored after marker, an id
// made before the request (ids grow with time in a process). Delayed events delivered
// meanwhile keep the ids they got when pushed, so they do not count.
func (s *fuzzStore) storedSince(marker string) bool {
	ctx := context.Background()
	st := s.eng.Store()
	evs, err := st.EventList(ctx, s.tenant, store.EventFilter{After: marker, Limit: 1})
	if err != nil {
		panic(fmt.Sprintf("%s: listing events: %v", s.name, err))
	}
	if len(evs) > 0 {
		return true
	}
	sch, err := st.ScheduledList(ctx, store.ScheduledListParams{TenantID: s.tenant, Status: store.ScheduledPending, Filter: store.EventFilter{Limit: 1}})
	if err != nil {
		panic(fmt.Sprintf("%s: listing delayed events: %v", s.name, err))
	}
	return len(sch) > 0 && sch[0].ID > marker
}

// checkReply checks what holds for every answer: no 5xx; an error is the JSON error body
// with a code and a message, and stores nothing.
func checkReply(t *testing.T, req fuzzRequest, r fuzzReply) {
	t.Helper()
	path := req.path
	if req.pathOf != nil {
		path = req.pathOf(r.store)
	}
	what := fmt.Sprintf("%s: %s %s?%s (body %q)", r.store.name, req.method, path, req.rawQuery, truncateFuzz(req.body))
	if r.status >= 500 {
		t.Fatalf("%s: status %d: %s", what, r.status, r.body)
	}
	if r.status < 400 {
		if r.status != http.StatusNoContent && !json.Valid(r.body) {
			t.Fatalf("%s: status %d with a body that is not JSON: %q", what, r.status, r.body)
		}
		return
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s: status %d with Content-Type %q", what, r.status, ct)
	}
	var e struct {
		Error *struct {
			Code    string  `json:"code"`
			Message string  `json:"message"`
			Field   *string `json:"field"`
		} `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || e.Error == nil || e.Error.Code == "" || e.Error.Message == "" ||
		(e.Error.Field != nil && *e.Error.Field == "") {
		t.Fatalf("%s: status %d without the error body (%v): %s", what, r.status, err, r.body)
	}
	if r.stored {
		t.Fatalf("%s: refused with %d but stored an event: %s", what, r.status, r.body)
	}
}

func truncateFuzz(b []byte) string {
	if len(b) > 2000 {
		return string(b[:2000]) + "…"
	}
	return string(b)
}

// headerValue is v as net/http hands it to a handler, and whether a client can send it at
// all: a header value holds no control character but tab, and loses surrounding space.
func headerValue(v string) (string, bool) {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return "", false
		}
	}
	return strings.Trim(v, " \t"), true
}

// sameJSON reports whether two JSON texts hold the same value: objects compared by their
// members, numbers by their value (PostgreSQL's jsonb writes 1e2 as 100).
func sameJSON(a, b []byte) bool {
	va, err := decodeNumbers(a)
	if err != nil {
		return false
	}
	vb, err := decodeNumbers(b)
	if err != nil {
		return false
	}
	return sameValue(va, vb)
}

func decodeNumbers(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

func sameValue(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !sameValue(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !sameValue(x[i], y[i]) {
				return false
			}
		}
		return true
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		if x == y {
			return true
		}
		fx, _, errx := big.ParseFloat(string(x), 10, 4096, big.ToNearestEven)
		fy, _, erry := big.ParseFloat(string(y), 10, 4096, big.ToNearestEven)
		return errx == nil && erry == nil && fx.Cmp(fy) == 0
	default:
		return a == b
	}
}

// within reports whether t lies in [from, to] at the stores' millisecond precision.
func within(t, from, to time.Time) bool {
	return !t.Before(from.Truncate(time.Millisecond)) && !t.After(to)
}
