package graphql_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/testenv"
)

// bundle is a running engine and clients for it.
type bundle struct {
	env *testenv.Env
	c   *client
}

// forEachStore runs a test against an engine on each store: SQLite, and PostgreSQL when
// HERALD_TEST_DATABASE_URL is set.
func forEachStore(t *testing.T, test func(t *testing.T, b *bundle)) {
	testenv.ForEachStore(t, testenv.Options{}, func(t *testing.T, env *testenv.Env) { test(t, bundleOf(t, env)) })
}

func start(t *testing.T, o testenv.Options) *bundle {
	t.Helper()
	return bundleOf(t, testenv.StartWith(t, o))
}

// bundleOf makes the clients of a running engine.
func bundleOf(t *testing.T, env *testenv.Env) *bundle {
	return &bundle{env: env, c: &client{t: t, url: env.URL, token: env.Token}}
}

// client speaks raw HTTP: these tests pin the wire format.
type client struct {
	t     *testing.T
	url   string
	token string
}

func (c *client) with(token string) *client { return &client{t: c.t, url: c.url, token: token} }

type resp struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request; body is sent as is when it is a string or []byte, else as JSON.
func (c *client) do(method, path string, body any, header ...string) resp {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.url+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: data}
}

// must performs a REST call and fails the test unless the status is want.
func (c *client) must(want int, method, path string, body any) map[string]any {
	c.t.Helper()
	r := c.do(method, path, body)
	if r.status != want {
		c.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.body)
	}
	if len(r.body) == 0 {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		c.t.Fatalf("decoding %s: %v", r.body, err)
	}
	return m
}

// gqlError is one error of a GraphQL response.
type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

func (e gqlError) code() string {
	s, _ := e.Extensions["code"].(string)
	return s
}

func (e gqlError) field() string {
	s, _ := e.Extensions["field"].(string)
	return s
}

// gqlResp is a GraphQL response; hasData tells a response that ran (data present, maybe
// null) from a request error.
type gqlResp struct {
	status  int
	header  http.Header
	raw     []byte
	Data    map[string]any
	hasData bool
	Errors  []gqlError
}

// decodeGQL decodes a GraphQL response.
func decodeGQL(t *testing.T, r resp) gqlResp {
	t.Helper()
	var body struct {
		Data   json.RawMessage `json:"data"`
		Errors []gqlError      `json:"errors"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("not a GraphQL response (%d): %s", r.status, r.body)
	}
	out := gqlResp{status: r.status, header: r.header, raw: r.body, Errors: body.Errors, hasData: body.Data != nil}
	if len(body.Data) > 0 && string(body.Data) != "null" {
		if err := json.Unmarshal(body.Data, &out.Data); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range out.Errors {
		if e.Message == "" || e.code() == "" {
			t.Fatalf("an error without message or extensions.code: %s", r.body)
		}
	}
	return out
}

// gql posts a GraphQL request.
func (c *client) gql(query string, vars map[string]any, header ...string) gqlResp {
	c.t.Helper()
	body := map[string]any{"query": query}
	if vars != nil {
		body["variables"] = vars
	}
	return decodeGQL(c.t, c.do("POST", "/graphql", body, header...))
}

// ok posts a GraphQL request and fails the test on any error; it returns data.
func (c *client) ok(query string, vars map[string]any) map[string]any {
	c.t.Helper()
	r := c.gql(query, vars)
	if r.status != 200 || len(r.Errors) > 0 || r.Data == nil {
		c.t.Fatalf("graphql: %d %s", r.status, r.raw)
	}
	return r.Data
}

// only returns the single error of a response, failing the test otherwise.
func (r gqlResp) only(t *testing.T) gqlError {
	t.Helper()
	if len(r.Errors) != 1 {
		t.Fatalf("want one error, got %d: %s", len(r.Errors), r.raw)
	}
	return r.Errors[0]
}

// counts returns how many events (delivered and delayed) and runs the client's tenant has.
func counts(t *testing.T, c *client) (events, runs int) {
	t.Helper()
	for _, status := range []string{"delivered", "scheduled"} {
		events += len(c.must(200, "GET", "/api/v1/events?limit=500&status="+status, nil)["items"].([]any))
	}
	return events, len(c.must(200, "GET", "/api/v1/runs?limit=500", nil)["items"].([]any))
}

// workflow is a one-step workflow definition on the given triggers.
func workflow(name string, triggers ...string) map[string]any {
	return map[string]any{"name": name, "triggers": triggers, "steps": []map[string]any{{"name": "act"}}}
}

func (c *client) putWorkflow(def map[string]any) {
	c.t.Helper()
	c.must(200, "PUT", "/api/v1/workflows/"+def["name"].(string), def)
}

// dig walks a decoded JSON value by keys and indexes.
func dig(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("at %q: not an object: %v", k, v)
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("at [%d]: not a list that long: %v", k, v)
			}
			v = l[k]
		}
	}
	return v
}

func str(t *testing.T, v any, path ...any) string {
	t.Helper()
	s, ok := dig(t, v, path...).(string)
	if !ok {
		t.Fatalf("%v: not a string: %v", path, dig(t, v, path...))
	}
	return s
}

func list(t *testing.T, v any, path ...any) []any {
	t.Helper()
	l, ok := dig(t, v, path...).([]any)
	if !ok {
		t.Fatalf("%v: not a list: %v", path, dig(t, v, path...))
	}
	return l
}

func obj(t *testing.T, v any, path ...any) map[string]any {
	t.Helper()
	m, ok := dig(t, v, path...).(map[string]any)
	if !ok {
		t.Fatalf("%v: not an object: %v", path, dig(t, v, path...))
	}
	return m
}

// jsonEq reports whether v, encoded, is the JSON value want (key order aside).
func jsonEq(t *testing.T, v any, want string) bool {
	t.Helper()
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(v)
	b, _ := json.Marshal(w)
	return string(a) == string(b)
}
