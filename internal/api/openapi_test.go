package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/api"
)

// openAPIDoc is the part of the OpenAPI document these tests read.
type openAPIDoc struct {
	OpenAPI    string                                `json:"openapi"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas struct {
			ErrorCode struct {
				Enum []string `json:"enum"`
			} `json:"ErrorCode"`
		} `json:"schemas"`
	} `json:"components"`
}

func loadOpenAPI(t *testing.T) openAPIDoc {
	t.Helper()
	var d openAPIDoc
	if err := json.Unmarshal(api.OpenAPIDocument(), &d); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return d
}

// operations lists the document's operations as "METHOD /path".
func (d openAPIDoc) operations() []string {
	var out []string
	for path, item := range d.Paths {
		for method := range item {
			switch method {
			case "get", "put", "post", "delete", "patch", "head", "options", "trace":
				out = append(out, strings.ToUpper(method)+" "+path)
			}
		}
	}
	sort.Strings(out)
	return out
}

// TestOpenAPIDescribesEveryRoute walks the router's route table: every route must have its
// path and method in the document, and every operation of the document must be a route.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	t.Parallel()
	// The route table does not depend on the engine; Metrics makes GET /metrics a route,
	// as it is in herald serve.
	a := api.New(nil, api.Config{Metrics: http.NotFoundHandler()})
	var routes []string
	for _, p := range a.Patterns() {
		if p == api.NotFoundPattern {
			continue // every other path under /api/ answers 404 not_found
		}
		method, path, ok := strings.Cut(p, " ")
		if !ok || !strings.HasPrefix(path, "/") {
			t.Errorf("route %q has no method or no absolute path: the document cannot describe it", p)
			continue
		}
		// A {name...} wildcard is one path parameter of the document.
		path = strings.ReplaceAll(path, "...}", "}")
		routes = append(routes, method+" "+path)
		if method == http.MethodGet {
			// net/http's ServeMux serves HEAD with a GET pattern: the same handler, no body.
			routes = append(routes, http.MethodHead+" "+path)
		}
	}
	if len(routes) < 40 {
		t.Fatalf("only %d routes recorded: %v", len(routes), routes)
	}
	ops := loadOpenAPI(t).operations()
	for _, r := range routes {
		if !slices.Contains(ops, r) {
			t.Errorf("route %s is not described in openapi.json", r)
		}
	}
	for _, o := range ops {
		if !slices.Contains(routes, o) {
			t.Errorf("openapi.json describes %s, which the router does not serve", o)
		}
	}
}

// TestOpenAPIDocumentIsServed checks that GET /api/v1/openapi.json serves the embedded
// document without a token and that the document is valid OpenAPI 3.1.
func TestOpenAPIDocumentIsServed(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		r := b.c.with("").do("GET", "/api/v1/openapi.json", nil)
		if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
			t.Fatalf("GET /api/v1/openapi.json: %d %s", r.status, r.header.Get("Content-Type"))
		}
		if !bytes.Equal(r.body, api.OpenAPIDocument()) {
			t.Fatal("the served document is not the embedded openapi.json")
		}
	})
	c, err := contract()
	if err != nil {
		t.Fatal(err)
	}
	ok, errs := c.v.ValidateDocument()
	if !ok {
		t.Fatalf("openapi.json is not a valid OpenAPI document: %s", describe(errs))
	}
	if d := loadOpenAPI(t); !strings.HasPrefix(d.OpenAPI, "3.1.") {
		t.Fatalf("openapi = %q, want 3.1.x", d.OpenAPI)
	}
}

// TestOpenAPIErrorCodesMatchTheDocs checks that the error codes of docs/api.md's Errors
// table and the document's ErrorCode enum are the same set.
func TestOpenAPIErrorCodesMatchTheDocs(t *testing.T) {
	t.Parallel()
	md, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(md), "\n## Errors\n")
	if !ok {
		t.Fatal("docs/api.md has no Errors section")
	}
	table, _, _ = strings.Cut(table, "\n## ")
	row := regexp.MustCompile("(?m)^\\| [0-9]{3} \\| ([^|]*)\\|")
	code := regexp.MustCompile("`([a-z_]+)`")
	var documented []string
	for _, m := range row.FindAllStringSubmatch(table, -1) {
		for _, c := range code.FindAllStringSubmatch(m[1], -1) {
			documented = append(documented, c[1])
		}
	}
	enum := loadOpenAPI(t).Components.Schemas.ErrorCode.Enum
	if len(documented) < 10 || len(enum) == 0 {
		t.Fatalf("documented %v, enum %v", documented, enum)
	}
	for _, c := range documented {
		if !slices.Contains(enum, c) {
			t.Errorf("docs/api.md documents error code %q; openapi.json's ErrorCode lacks it", c)
		}
	}
	for _, c := range enum {
		if !slices.Contains(documented, c) {
			t.Errorf("openapi.json's ErrorCode has %q; docs/api.md's Errors table lacks it", c)
		}
	}
}

// TestContractCheckCatchesDrift feeds the exchange check exchanges that drift from the
// document, and ones that do not, so that the validation every API test relies on is
// known to fail when it should.
func TestContractCheckCatchesDrift(t *testing.T) {
	t.Parallel()
	event := `{"id":"0193a000-0000-7000-8000-000000000000","key":"k","payload":{},"source":"api",` +
		`"created_at":"2026-11-23T18:37:00.123Z","triggers":[],"status":"delivered"}`
	cases := []struct {
		name          string
		method, path  string
		reqBody       string
		status        int
		resBody       string
		headers       http.Header
		wantProblem   bool
		wantSubstring string
	}{
		{name: "a push as documented", method: "POST", path: "/api/v1/events", reqBody: `{"key":"k"}`,
			status: 201, resBody: `{"event":` + event + `,"runs":[],"duplicate":false}`},
		{name: "a reply missing a required field", method: "POST", path: "/api/v1/events", reqBody: `{"key":"k"}`,
			status: 201, resBody: `{"event":` + event + `,"runs":[]}`, wantProblem: true, wantSubstring: "duplicate"},
		{name: "a reply with a field the document lacks", method: "POST", path: "/api/v1/events", reqBody: `{"key":"k"}`,
			status: 201, resBody: `{"event":` + event + `,"runs":[],"duplicate":false,"extra":1}`, wantProblem: true},
		{name: "an undocumented status", method: "GET", path: "/api/v1/runs", status: http.StatusTeapot,
			resBody: `{"error":{"code":"internal","message":"x"}}`, wantProblem: true},
		{name: "an error code the status does not have", method: "GET", path: "/api/v1/runs/x", status: 404,
			resBody: `{"error":{"code":"conflict","message":"x"}}`, wantProblem: true},
		{name: "a refused request the server accepted", method: "POST", path: "/api/v1/events/bulk", reqBody: `{"events":[{"key":"k"}],"nope":1}`,
			status: 201, resBody: `{"items":[{"event":` + event + `,"runs":[],"duplicate":false}]}`, wantProblem: true, wantSubstring: "refuses the request"},
		{name: "a refused request the server refused", method: "POST", path: "/api/v1/events/bulk", reqBody: `{"events":[{"key":"k"}],"nope":1}`,
			status: 400, resBody: `{"error":{"code":"invalid_argument","message":"unknown field \"nope\"","field":"nope"}}`},
		{name: "a route the document lacks, answered", method: "GET", path: "/api/v1/nope", status: 200, resBody: `{}`,
			wantProblem: true, wantSubstring: "no such route"},
		{name: "a route the document lacks, not found", method: "GET", path: "/api/v1/nope", status: 404,
			resBody: `{"error":{"code":"not_found","message":"no such endpoint"}}`},
		{name: "a metrics text", method: "GET", path: "/metrics", status: 200, resBody: "# HELP x\nx 1\n",
			headers: http.Header{"Content-Type": {"text/plain; version=0.0.4; charset=utf-8"}}},
	}
	for _, tc := range cases {
		req, err := http.NewRequest(tc.method, "http://127.0.0.1:1"+tc.path, strings.NewReader(tc.reqBody))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer hrld_x")
		if tc.reqBody != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		h := tc.headers
		if h == nil {
			h = http.Header{"Content-Type": {"application/json"}}
		}
		res := &http.Response{StatusCode: tc.status, Header: h, Request: req}
		problems := checkExchange(req, []byte(tc.reqBody), res, []byte(tc.resBody))
		switch {
		case tc.wantProblem && len(problems) == 0:
			t.Errorf("%s: no problem found", tc.name)
		case !tc.wantProblem && len(problems) > 0:
			t.Errorf("%s: %v", tc.name, problems)
		case tc.wantSubstring != "" && !strings.Contains(strings.Join(problems, "\n"), tc.wantSubstring):
			t.Errorf("%s: problems %v do not mention %q", tc.name, problems, tc.wantSubstring)
		}
	}
}
