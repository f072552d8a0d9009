package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/internal/testkit"
)

// bundle is what each test needs: a running engine and a client for it.
type bundle struct {
	env *testenv.Env
	c   *client
	// dbURL is the PostgreSQL database, "" on SQLite.
	dbURL string
}

// forEachStore runs a test against an engine on each store: SQLite, and PostgreSQL when
// HERALD_TEST_DATABASE_URL is set. Switching stores must change nothing a user can see.
func forEachStore(t *testing.T, test func(t *testing.T, b *bundle)) {
	forEachStoreWith(t, testenv.Options{}, test)
}

// forEachStoreWith is forEachStore with engine options.
func forEachStoreWith(t *testing.T, o testenv.Options, test func(t *testing.T, b *bundle)) {
	testenv.ForEachStore(t, o, func(t *testing.T, env *testenv.Env) { test(t, bundleOf(t, env)) })
}

func start(t *testing.T, o testenv.Options) *bundle {
	t.Helper()
	return bundleOf(t, testenv.StartWith(t, o))
}

// bundleOf makes the client of a running engine.
func bundleOf(t *testing.T, env *testenv.Env) *bundle {
	return &bundle{env: env, c: &client{t: t, url: env.URL, token: env.Token}, dbURL: env.DatabaseURL}
}

// client is a raw HTTP client: these tests pin the wire format itself.
type client struct {
	t     *testing.T
	url   string
	token string
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("decoding %s: %v", r.body, err)
	}
	return m
}

// errField returns the error body's code and field.
func (r resp) errCodeField(t *testing.T) (string, string) {
	t.Helper()
	e, ok := r.json(t)["error"].(map[string]any)
	if !ok {
		t.Fatalf("no error object in %s", r.body)
	}
	field, _ := e["field"].(string)
	if msg, _ := e["message"].(string); msg == "" {
		t.Fatalf("error without message: %s", r.body)
	}
	return e["code"].(string), field
}

func (c *client) with(token string) *client { return &client{t: c.t, url: c.url, token: token} }

func (c *client) do(method, path string, body any) resp {
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
	req.Header.Set("Content-Type", "application/json")
	return c.send(req)
}

// must performs a call and fails the test unless the status is want; it returns the JSON.
func (c *client) must(want int, method, path string, body any) map[string]any {
	c.t.Helper()
	r := c.do(method, path, body)
	if r.status != want {
		c.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.body)
	}
	if len(r.body) == 0 {
		return nil
	}
	return r.json(c.t)
}

func (c *client) putWorkflow(def map[string]any) {
	c.t.Helper()
	c.must(200, "PUT", "/api/v1/workflows/"+def["name"].(string), def)
}

// simpleWorkflow is a workflow with the given steps chained a→b→… on one trigger.
func simpleWorkflow(name, trigger string, steps ...string) map[string]any {
	var ss []map[string]any
	for i, s := range steps {
		st := map[string]any{"name": s, "retry": map[string]any{"initial_backoff": "20ms", "max_backoff": "100ms"}}
		if i > 0 {
			st["parents"] = []string{steps[i-1]}
		}
		ss = append(ss, st)
	}
	return map[string]any{"name": name, "triggers": []string{trigger}, "steps": ss}
}

func (c *client) push(key string, payload any) map[string]any {
	c.t.Helper()
	return c.must(201, "POST", "/api/v1/events", map[string]any{"key": key, "payload": payload})
}

func (c *client) registerWorker(workflows ...string) string {
	c.t.Helper()
	return c.must(201, "POST", "/api/v1/workers", map[string]any{"name": "test", "workflows": workflows, "slots": 5})["id"].(string)
}

// poll long-polls once for up to max assignments.
func (c *client) poll(worker string, max int, wait string) []map[string]any {
	c.t.Helper()
	m := c.must(200, "POST", "/api/v1/workers/"+worker+"/poll", map[string]any{"max": max, "wait": wait})
	var out []map[string]any
	for _, a := range m["assignments"].([]any) {
		out = append(out, a.(map[string]any))
	}
	return out
}

// pollOne polls until one assignment arrives.
func (c *client) pollOne(worker string) map[string]any {
	c.t.Helper()
	return testkit.Poll(c.t, "an assignment for worker "+worker, func() (map[string]any, bool) {
		if as := c.poll(worker, 1, "1s"); len(as) > 0 {
			return as[0], true
		}
		return nil, false
	})
}

func (c *client) complete(worker string, a map[string]any, output any) resp {
	c.t.Helper()
	return c.do("POST", fmt.Sprintf("/api/v1/workers/%s/step-runs/%s/complete", worker, a["step_run_id"]),
		map[string]any{"lease_id": a["lease_id"], "output": output})
}

func (c *client) fail(worker string, a map[string]any, msg string, retryable bool) resp {
	c.t.Helper()
	return c.do("POST", fmt.Sprintf("/api/v1/workers/%s/step-runs/%s/fail", worker, a["step_run_id"]),
		map[string]any{"lease_id": a["lease_id"], "error": msg, "retryable": retryable})
}

func (c *client) run(id string) map[string]any {
	c.t.Helper()
	return c.must(200, "GET", "/api/v1/runs/"+id, nil)
}

// waitRun polls a run until its status is want.
func (c *client) waitRun(id, want string) map[string]any {
	c.t.Helper()
	return testkit.Poll(c.t, fmt.Sprintf("run %s to be %s", id, want), func() (map[string]any, bool) {
		r := c.run(id)
		return r, r["status"] == want
	})
}

func runIDs(push map[string]any) map[string]string {
	out := map[string]string{}
	for _, r := range push["runs"].([]any) {
		m := r.(map[string]any)
		out[m["workflow"].(string)] = m["run_id"].(string)
	}
	return out
}

func steps(run map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, s := range run["steps"].([]any) {
		m := s.(map[string]any)
		out[m["name"].(string)] = m
	}
	return out
}

func items(m map[string]any) []map[string]any {
	var out []map[string]any
	for _, it := range m["items"].([]any) {
		out = append(out, it.(map[string]any))
	}
	return out
}

// send sends req with the client that holds it to openapi.json and reads the reply.
func (c *client) send(req *http.Request) resp {
	c.t.Helper()
	res, err := validatingClient(c.t).Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: data}
}

// doAs is do with the body sent as is under the given Content-Type ("" sends none), as a
// client that does not say application/json would send it.
func (c *client) doAs(method, path, contentType, body string) resp {
	c.t.Helper()
	req, err := http.NewRequest(method, c.url+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return c.send(req)
}
