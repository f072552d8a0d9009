package api_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestEveryTokenRouteAnswers401WithoutAToken walks the operations of openapi.json: each
// one that needs a token (it does not set security to []) answers 401 unauthenticated
// with WWW-Authenticate when none is sent, before it reads anything else, and the
// validating client holds each answer to the document.
func TestEveryTokenRouteAnswers401WithoutAToken(t *testing.T) {
	doc := loadOpenAPI(t)
	forEachStore(t, func(t *testing.T, b *bundle) {
		anon := b.c.with("")
		n := 0
		for _, op := range doc.operations() {
			method, path, _ := strings.Cut(op, " ")
			var o struct {
				Security *[]map[string][]string `json:"security"`
			}
			if err := json.Unmarshal(doc.Paths[path][strings.ToLower(method)], &o); err != nil {
				t.Fatal(err)
			}
			if o.Security != nil && len(*o.Security) == 0 {
				continue // no token needed
			}
			// Any value does for a path parameter: the token is checked first.
			for _, p := range []string{"{id}", "{name}", "{key}", "{step_run_id}", "{tenant_id}"} {
				path = strings.ReplaceAll(path, p, "x")
			}
			var body any
			if method == "POST" || method == "PUT" || method == "PATCH" {
				body = map[string]any{}
			}
			r := anon.do(method, path, body)
			if r.status != 401 || r.header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s without a token: %d %q %s", method, path, r.status, r.header.Get("WWW-Authenticate"), r.body)
				continue
			}
			if method != "HEAD" {
				if code, _ := r.errCodeField(t); code != "unauthenticated" {
					t.Errorf("%s %s without a token: %s", method, path, r.body)
				}
			}
			n++
		}
		if n < 50 {
			t.Fatalf("only %d operations need a token", n)
		}
	})
}
