package api_test

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/engine"
	"github.com/heraldhq/herald/internal/store"
)

var updateRolesDoc = flag.Bool("update-roles-doc", false, "rewrite the role table in docs/api.md from roleTable")

// roleCall is one request of the role table.
type roleCall struct {
	method, path string
	body         any
	// as, when set, is the token that sends the request instead of the role's own (a
	// fresh token of that role, for a request that revokes its sender).
	as string
}

// roleRow is one row of the role × action table of docs/api.md: the status each role gets
// for a request in its own tenant and, where the request names an object (an id, a name,
// a key), the status every role gets when that object is another tenant's.
type roleRow struct {
	area, action, request   string
	member, admin, operator int
	other                   int // 0: the request names no object
	// gate, when set, is the role the route itself needs: a caller without it is refused
	// before the object is looked up, so it gets 403 for another tenant's object too.
	gate store.Role
	// call prepares what the request needs and returns it as a token of role in tenant
	// acme sends it; with other, it names an object of tenant default instead.
	call func(f *roleEnv, role store.Role, other bool) roleCall
}

// roleTable is the table docs/api.md shows (TestRoleTableIsDocumented keeps them equal)
// and TestRoles walks on both stores. The callers are tokens of tenant "acme"; "another
// tenant" is "default", whose operator token (the bootstrap token) sets up its objects.
var roleTable = []roleRow{
	{area: "Tokens", action: "create a member token", request: "`POST /api/v1/tokens` `{\"name\": \"ci\"}`",
		member: 403, admin: 201, operator: 201,
		call: func(f *roleEnv, _ store.Role, _ bool) roleCall {
			return roleCall{method: "POST", path: "/api/v1/tokens", body: map[string]any{"name": f.name("ci")}}
		}},
	{area: "Tokens", action: "create a tenant admin token", request: "`POST /api/v1/tokens` `{\"name\": \"ci\", \"role\": \"admin\"}`",
		member: 403, admin: 201, operator: 201,
		call: func(f *roleEnv, _ store.Role, _ bool) roleCall {
			return roleCall{method: "POST", path: "/api/v1/tokens", body: map[string]any{"name": f.name("ci"), "role": "admin"}}
		}},
	{area: "Tokens", action: "create a tenant admin token, the field from before roles", request: "`POST /api/v1/tokens` `{\"name\": \"ci\", \"admin\": true}`",
		member: 403, admin: 201, operator: 201,
		call: func(f *roleEnv, _ store.Role, _ bool) roleCall {
			return roleCall{method: "POST", path: "/api/v1/tokens", body: map[string]any{"name": f.name("ci"), "admin": true}}
		}},
	{area: "Tokens", action: "create an operator token", request: "`POST /api/v1/tokens` `{\"name\": \"ci\", \"role\": \"operator\"}`",
		member: 403, admin: 403, operator: 201,
		call: func(f *roleEnv, _ store.Role, _ bool) roleCall {
			return roleCall{method: "POST", path: "/api/v1/tokens", body: map[string]any{"name": f.name("ci"), "role": "operator"}}
		}},
	{area: "Tokens", action: "create a token of an unknown role", request: "`POST /api/v1/tokens` `{\"name\": \"ci\", \"role\": \"root\"}`",
		member: 400, admin: 400, operator: 400,
		call: func(f *roleEnv, _ store.Role, _ bool) roleCall {
			return roleCall{method: "POST", path: "/api/v1/tokens", body: map[string]any{"name": f.name("ci"), "role": "root"}}
		}},
	{area: "Tokens", action: "create a token in another tenant", request: "`POST /api/v1/tokens` `{\"name\": \"ci\", \"tenant\": \"default\"}`",
		member: 403, admin: 403, operator: 201,
		call: func(f *roleEnv, _ store.Role, _ bool) roleCall {
			return roleCall{method: "POST", path: "/api/v1/tokens", body: map[string]any{"name": f.name("ci"), "tenant": "default"}}
		}},
	{area: "Tokens", action: "create a token in a tenant that does not exist", request: "`POST /api/v1/tokens` `{\"name\": \"ci\", \"tenant\": \"nope\"}`",
		member: 403, admin: 403, operator: 400,
		call: func(f *roleEnv, _ store.Role, _ bool) roleCall {
			return roleCall{method: "POST", path: "/api/v1/tokens", body: map[string]any{"name": f.name("ci"), "tenant": "nope"}}
		}},
	{area: "Tokens", action: "list its tenant's tokens", request: "`GET /api/v1/tokens`",
		member: 200, admin: 200, operator: 200,
		call: func(f *roleEnv, _ store.Role, _ bool) roleCall {
			return roleCall{method: "GET", path: "/api/v1/tokens"}
		}},
	{area: "Tokens", action: "list another tenant's tokens", request: "`GET /api/v1/tokens?tenant=default`",
		member: 403, admin: 403, operator: 200,
		call: func(f *roleEnv, _ store.Role, _ bool) roleCall {
			return roleCall{method: "GET", path: "/api/v1/tokens?tenant=default"}
		}},
	{area: "Tokens", action: "revoke itself", request: "`DELETE /api/v1/tokens/{its own id}`",
		member: 204, admin: 204, operator: 204,
		call: func(f *roleEnv, role store.Role, _ bool) roleCall {
			id, secret := f.token(role, false)
			return roleCall{method: "DELETE", path: "/api/v1/tokens/" + id, as: secret}
		}},
	{area: "Tokens", action: "revoke a member token", request: "`DELETE /api/v1/tokens/{id}`",
		member: 403, admin: 204, operator: 204, other: 404,
		call: func(f *roleEnv, _ store.Role, other bool) roleCall {
			id, _ := f.token(store.RoleMember, other)
			return roleCall{method: "DELETE", path: "/api/v1/tokens/" + id}
		}},
	{area: "Tokens", action: "revoke a tenant admin token", request: "`DELETE /api/v1/tokens/{id}`",
		member: 403, admin: 204, operator: 204, other: 404,
		call: func(f *roleEnv, _ store.Role, other bool) roleCall {
			id, _ := f.token(store.RoleAdmin, other)
			return roleCall{method: "DELETE", path: "/api/v1/tokens/" + id}
		}},
	{area: "Tokens", action: "revoke an operator token", request: "`DELETE /api/v1/tokens/{id}`",
		member: 403, admin: 403, operator: 204, other: 404,
		call: func(f *roleEnv, _ store.Role, other bool) roleCall {
			id, _ := f.token(store.RoleOperator, other)
			return roleCall{method: "DELETE", path: "/api/v1/tokens/" + id}
		}},
	{area: "Tokens", action: "revoke a token of another tenant, naming it", request: "`DELETE /api/v1/tokens/{id}?tenant=default`",
		member: 403, admin: 403, operator: 204,
		call: func(f *roleEnv, _ store.Role, _ bool) roleCall {
			id, _ := f.token(store.RoleMember, true)
			return roleCall{method: "DELETE", path: "/api/v1/tokens/" + id + "?tenant=default"}
		}},

	{area: "Tenants and metrics", action: "create a tenant", request: "`POST /api/v1/tenants`",
		member: 403, admin: 403, operator: 201,
		call: func(f *roleEnv, _ store.Role, _ bool) roleCall {
			return roleCall{method: "POST", path: "/api/v1/tenants", body: map[string]any{"name": f.name("tenant")}}
		}},
	{area: "Tenants and metrics", action: "list tenants", request: "`GET /api/v1/tenants`",
		member: 403, admin: 403, operator: 200,
		call: func(f *roleEnv, _ store.Role, _ bool) roleCall {
			return roleCall{method: "GET", path: "/api/v1/tenants"}
		}},
	{area: "Tenants and metrics", action: "read the server's metrics", request: "`GET /metrics`",
		member: 403, admin: 403, operator: 200,
		call: func(f *roleEnv, _ store.Role, _ bool) roleCall { return roleCall{method: "GET", path: "/metrics"} }},

	{area: "Events", action: "push an event", request: "`POST /api/v1/events`",
		member: 201, admin: 201, operator: 201,
		call: func(f *roleEnv, _ store.Role, _ bool) roleCall {
			return roleCall{method: "POST", path: "/api/v1/events", body: map[string]any{"key": "k.push"}}
		}},
	{area: "Events", action: "push events in bulk", request: "`POST /api/v1/events/bulk`",
		member: 201, admin: 201, operator: 201,
		call: func(f *roleEnv, _ store.Role, _ bool) roleCall {
			return roleCall{method: "POST", path: "/api/v1/events/bulk", body: map[string]any{"events": []any{map[string]any{"key": "k.bulk"}}}}
		}},
	{area: "Events", action: "list events", request: "`GET /api/v1/events`",
		member: 200, admin: 200, operator: 200,
		call: func(f *roleEnv, _ store.Role, _ bool) roleCall {
			return roleCall{method: "GET", path: "/api/v1/events"}
		}},
	{area: "Events", action: "get an event", request: "`GET /api/v1/events/{id}`",
		member: 200, admin: 200, operator: 200, other: 404,
		call: func(f *roleEnv, _ store.Role, other bool) roleCall {
			return roleCall{method: "GET", path: "/api/v1/events/" + f.event(f.setup(other))}
		}},
	{area: "Events", action: "replay an event", request: "`POST /api/v1/events/{id}/replay`",
		member: 201, admin: 201, operator: 201, other: 404,
		call: func(f *roleEnv, _ store.Role, other bool) roleCall {
			return roleCall{method: "POST", path: "/api/v1/events/" + f.event(f.setup(other)) + "/replay"}
		}},
	{area: "Events", action: "cancel a delayed event", request: "`POST /api/v1/events/{id}/cancel`",
		member: 200, admin: 200, operator: 200, other: 404,
		call: func(f *roleEnv, _ store.Role, other bool) roleCall {
			return roleCall{method: "POST", path: "/api/v1/events/" + f.scheduled(f.setup(other)) + "/cancel"}
		}},

	{area: "Workflows and runs", action: "put a workflow", request: "`PUT /api/v1/workflows/{name}`",
		member: 200, admin: 200, operator: 200,
		call: func(f *roleEnv, _ store.Role, _ bool) roleCall {
			name := f.name("wf")
			return roleCall{method: "PUT", path: "/api/v1/workflows/" + name, body: simpleWorkflow(name, "k."+name, "s")}
		}},
	{area: "Workflows and runs", action: "list workflows", request: "`GET /api/v1/workflows`",
		member: 200, admin: 200, operator: 200,
		call: func(f *roleEnv, _ store.Role, _ bool) roleCall {
			return roleCall{method: "GET", path: "/api/v1/workflows"}
		}},
	{area: "Workflows and runs", action: "get a workflow", request: "`GET /api/v1/workflows/{name}`",
		member: 200, admin: 200, operator: 200, other: 404,
		call: func(f *roleEnv, _ store.Role, other bool) roleCall {
			return roleCall{method: "GET", path: "/api/v1/workflows/" + f.workflow(f.setup(other))}
		}},
	{area: "Workflows and runs", action: "disable a workflow", request: "`POST /api/v1/workflows/{name}/disable`",
		member: 200, admin: 200, operator: 200, other: 404,
		call: func(f *roleEnv, _ store.Role, other bool) roleCall {
			return roleCall{method: "POST", path: "/api/v1/workflows/" + f.workflow(f.setup(other)) + "/disable"}
		}},
	{area: "Workflows and runs", action: "enable a workflow", request: "`POST /api/v1/workflows/{name}/enable`",
		member: 200, admin: 200, operator: 200, other: 404,
		call: func(f *roleEnv, _ store.Role, other bool) roleCall {
			return roleCall{method: "POST", path: "/api/v1/workflows/" + f.workflow(f.setup(other)) + "/enable"}
		}},
	{area: "Workflows and runs", action: "start a run", request: "`POST /api/v1/workflows/{name}/runs`",
		member: 201, admin: 201, operator: 201, other: 404,
		call: func(f *roleEnv, _ store.Role, other bool) roleCall {
			return roleCall{method: "POST", path: "/api/v1/workflows/" + f.workflow(f.setup(other)) + "/runs"}
		}},
	{area: "Workflows and runs", action: "list runs", request: "`GET /api/v1/runs`",
		member: 200, admin: 200, operator: 200,
		call: func(f *roleEnv, _ store.Role, _ bool) roleCall { return roleCall{method: "GET", path: "/api/v1/runs"} }},
	{area: "Workflows and runs", action: "get a run", request: "`GET /api/v1/runs/{id}`",
		member: 200, admin: 200, operator: 200, other: 404,
		call: func(f *roleEnv, _ store.Role, other bool) roleCall {
			return roleCall{method: "GET", path: "/api/v1/runs/" + f.run(f.setup(other))}
		}},
	{area: "Workflows and runs", action: "cancel a run", request: "`POST /api/v1/runs/{id}/cancel`",
		member: 200, admin: 200, operator: 200, other: 404,
		call: func(f *roleEnv, _ store.Role, other bool) roleCall {
			return roleCall{method: "POST", path: "/api/v1/runs/" + f.run(f.setup(other)) + "/cancel"}
		}},

	{area: "Filters", action: "create a filter", request: "`POST /api/v1/workflows/{name}/filters`",
		member: 201, admin: 201, operator: 201, other: 404,
		call: func(f *roleEnv, _ store.Role, other bool) roleCall {
			return roleCall{method: "POST", path: "/api/v1/workflows/" + f.workflow(f.setup(other)) + "/filters", body: map[string]any{"scope": "s1"}}
		}},
	{area: "Filters", action: "list filters", request: "`GET /api/v1/workflows/{name}/filters`",
		member: 200, admin: 200, operator: 200, other: 404,
		call: func(f *roleEnv, _ store.Role, other bool) roleCall {
			return roleCall{method: "GET", path: "/api/v1/workflows/" + f.workflow(f.setup(other)) + "/filters"}
		}},
	{area: "Filters", action: "get a filter", request: "`GET /api/v1/workflows/{name}/filters/{id}`",
		member: 200, admin: 200, operator: 200, other: 404,
		call: func(f *roleEnv, _ store.Role, other bool) roleCall {
			wf, id := f.filter(f.setup(other))
			return roleCall{method: "GET", path: "/api/v1/workflows/" + wf + "/filters/" + id}
		}},
	{area: "Filters", action: "delete a filter", request: "`DELETE /api/v1/workflows/{name}/filters/{id}`",
		member: 204, admin: 204, operator: 204, other: 404,
		call: func(f *roleEnv, _ store.Role, other bool) roleCall {
			wf, id := f.filter(f.setup(other))
			return roleCall{method: "DELETE", path: "/api/v1/workflows/" + wf + "/filters/" + id}
		}},

	{area: "Payload schemas", action: "register a schema", request: "`PUT /api/v1/event-schemas/{key}`",
		gate: store.RoleAdmin, member: 403, admin: 201, operator: 201,
		call: func(f *roleEnv, _ store.Role, _ bool) roleCall {
			return roleCall{method: "PUT", path: "/api/v1/event-schemas/" + f.name("schema"), body: map[string]any{"schema": map[string]any{"type": "object"}}}
		}},
	{area: "Payload schemas", action: "list schemas", request: "`GET /api/v1/event-schemas`",
		member: 200, admin: 200, operator: 200,
		call: func(f *roleEnv, _ store.Role, _ bool) roleCall {
			return roleCall{method: "GET", path: "/api/v1/event-schemas"}
		}},
	{area: "Payload schemas", action: "get a schema", request: "`GET /api/v1/event-schemas/{key}`",
		member: 200, admin: 200, operator: 200, other: 404,
		call: func(f *roleEnv, _ store.Role, other bool) roleCall {
			return roleCall{method: "GET", path: "/api/v1/event-schemas/" + f.schema(f.setup(other))}
		}},
	{area: "Payload schemas", action: "delete a schema", request: "`DELETE /api/v1/event-schemas/{key}`",
		gate: store.RoleAdmin, member: 403, admin: 204, operator: 204, other: 404,
		call: func(f *roleEnv, _ store.Role, other bool) roleCall {
			return roleCall{method: "DELETE", path: "/api/v1/event-schemas/" + f.schema(f.setup(other))}
		}},

	{area: "Webhooks", action: "create a webhook", request: "`POST /api/v1/webhooks`",
		gate: store.RoleAdmin, member: 403, admin: 201, operator: 201,
		call: func(f *roleEnv, _ store.Role, _ bool) roleCall {
			return roleCall{method: "POST", path: "/api/v1/webhooks", body: roleWebhook(f.name("hook"))}
		}},
	{area: "Webhooks", action: "list webhooks", request: "`GET /api/v1/webhooks`",
		member: 200, admin: 200, operator: 200,
		call: func(f *roleEnv, _ store.Role, _ bool) roleCall {
			return roleCall{method: "GET", path: "/api/v1/webhooks"}
		}},
	{area: "Webhooks", action: "get a webhook", request: "`GET /api/v1/webhooks/{name}`",
		member: 200, admin: 200, operator: 200, other: 404,
		call: func(f *roleEnv, _ store.Role, other bool) roleCall {
			return roleCall{method: "GET", path: "/api/v1/webhooks/" + f.webhook(f.setup(other))}
		}},
	{area: "Webhooks", action: "update a webhook", request: "`PATCH /api/v1/webhooks/{name}`",
		gate: store.RoleAdmin, member: 403, admin: 200, operator: 200, other: 404,
		call: func(f *roleEnv, _ store.Role, other bool) roleCall {
			return roleCall{method: "PATCH", path: "/api/v1/webhooks/" + f.webhook(f.setup(other)), body: map[string]any{"secret": "rotated"}}
		}},
	{area: "Webhooks", action: "list a webhook's deliveries", request: "`GET /api/v1/webhooks/{name}/deliveries`",
		member: 200, admin: 200, operator: 200, other: 404,
		call: func(f *roleEnv, _ store.Role, other bool) roleCall {
			return roleCall{method: "GET", path: "/api/v1/webhooks/" + f.webhook(f.setup(other)) + "/deliveries"}
		}},
	{area: "Webhooks", action: "delete a webhook", request: "`DELETE /api/v1/webhooks/{name}`",
		gate: store.RoleAdmin, member: 403, admin: 204, operator: 204, other: 404,
		call: func(f *roleEnv, _ store.Role, other bool) roleCall {
			return roleCall{method: "DELETE", path: "/api/v1/webhooks/" + f.webhook(f.setup(other))}
		}},

	{area: "Workers", action: "register a worker", request: "`POST /api/v1/workers`",
		member: 201, admin: 201, operator: 201,
		call: func(f *roleEnv, _ store.Role, _ bool) roleCall {
			return roleCall{method: "POST", path: "/api/v1/workers", body: map[string]any{"name": "w", "workflows": []string{f.workflow(f.own)}}}
		}},
	{area: "Workers", action: "poll for steps", request: "`POST /api/v1/workers/{id}/poll`",
		member: 200, admin: 200, operator: 200, other: 404,
		call: func(f *roleEnv, _ store.Role, other bool) roleCall {
			c := f.setup(other)
			return roleCall{method: "POST", path: "/api/v1/workers/" + c.registerWorker(f.workflow(c)) + "/poll", body: map[string]any{"wait": "0s"}}
		}},
	{area: "Workers", action: "heartbeat", request: "`POST /api/v1/workers/{id}/heartbeat`",
		member: 200, admin: 200, operator: 200, other: 404,
		call: func(f *roleEnv, _ store.Role, other bool) roleCall {
			worker, a := f.lease(f.setup(other))
			return roleCall{method: "POST", path: "/api/v1/workers/" + worker + "/heartbeat",
				body: map[string]any{"step_runs": []any{map[string]any{"step_run_id": a["step_run_id"], "lease_id": a["lease_id"]}}}}
		}},
	{area: "Workers", action: "complete a step", request: "`POST /api/v1/workers/{id}/step-runs/{step_run_id}/complete`",
		member: 200, admin: 200, operator: 200, other: 404,
		call: func(f *roleEnv, _ store.Role, other bool) roleCall {
			worker, a := f.lease(f.setup(other))
			return roleCall{method: "POST", path: fmt.Sprintf("/api/v1/workers/%s/step-runs/%s/complete", worker, a["step_run_id"]),
				body: map[string]any{"lease_id": a["lease_id"], "output": map[string]any{}}}
		}},
	{area: "Workers", action: "fail a step", request: "`POST /api/v1/workers/{id}/step-runs/{step_run_id}/fail`",
		member: 200, admin: 200, operator: 200, other: 404,
		call: func(f *roleEnv, _ store.Role, other bool) roleCall {
			worker, a := f.lease(f.setup(other))
			return roleCall{method: "POST", path: fmt.Sprintf("/api/v1/workers/%s/step-runs/%s/fail", worker, a["step_run_id"]),
				body: map[string]any{"lease_id": a["lease_id"], "error": "boom"}}
		}},
}

// roleEnv is an engine with tenants "default" (the bootstrap operator token) and "acme"
// (a token of each role), and helpers that make the objects the requests need.
type roleEnv struct {
	t      *testing.T
	boot   *client // the operator token of tenant default, created at first start
	own    *client // the operator token of acme: sets up acme's objects
	actors map[store.Role]*client
	n      int
}

func newRoleEnv(t *testing.T, b *bundle) *roleEnv {
	f := &roleEnv{t: t, boot: b.c, actors: map[store.Role]*client{}}
	f.boot.must(201, "POST", "/api/v1/tenants", map[string]any{"name": "acme"})
	for _, role := range []store.Role{store.RoleMember, store.RoleAdmin, store.RoleOperator} {
		m := f.boot.must(201, "POST", "/api/v1/tokens", map[string]any{"name": "acme-" + string(role), "tenant": "acme", "role": role})
		f.actors[role] = b.c.with(m["secret"].(string))
	}
	f.own = f.actors[store.RoleOperator]
	return f
}

// name returns a name not used before in this engine.
func (f *roleEnv) name(prefix string) string {
	f.n++
	return fmt.Sprintf("%s-%d", prefix, f.n)
}

// setup is the client that makes objects in acme, or in default when other.
func (f *roleEnv) setup(other bool) *client {
	if other {
		return f.boot
	}
	return f.own
}

// token creates a token of role in acme (in default when other): its id and secret.
func (f *roleEnv) token(role store.Role, other bool) (id, secret string) {
	tenant := "acme"
	if other {
		tenant = "default"
	}
	m := f.boot.must(201, "POST", "/api/v1/tokens", map[string]any{"name": f.name("tok"), "tenant": tenant, "role": role})
	return m["token"].(map[string]any)["id"].(string), m["secret"].(string)
}

func (f *roleEnv) workflow(c *client) string {
	name := f.name("wf")
	c.putWorkflow(simpleWorkflow(name, "k."+name, "s"))
	return name
}

func (f *roleEnv) event(c *client) string {
	return c.push("k.nothing", nil)["event"].(map[string]any)["id"].(string)
}

func (f *roleEnv) scheduled(c *client) string {
	m := c.must(201, "POST", "/api/v1/events", map[string]any{"key": "k.later", "delay": "1h"})
	return m["event"].(map[string]any)["id"].(string)
}

func (f *roleEnv) run(c *client) string {
	return c.must(201, "POST", "/api/v1/workflows/"+f.workflow(c)+"/runs", nil)["run_id"].(string)
}

func (f *roleEnv) filter(c *client) (workflow, id string) {
	workflow = f.workflow(c)
	return workflow, c.must(201, "POST", "/api/v1/workflows/"+workflow+"/filters", map[string]any{"scope": "s1"})["id"].(string)
}

func (f *roleEnv) schema(c *client) string {
	key := f.name("schema")
	c.must(201, "PUT", "/api/v1/event-schemas/"+key, map[string]any{"schema": map[string]any{"type": "object"}})
	return key
}

func (f *roleEnv) webhook(c *client) string {
	name := f.name("hook")
	c.must(201, "POST", "/api/v1/webhooks", roleWebhook(name))
	return name
}

// lease starts a run of a new workflow and leases its step to a new worker.
func (f *roleEnv) lease(c *client) (worker string, a map[string]any) {
	wf := f.workflow(c)
	c.must(201, "POST", "/api/v1/workflows/"+wf+"/runs", nil)
	worker = c.registerWorker(wf)
	return worker, c.pollOne(worker)
}

func roleWebhook(name string) map[string]any {
	return map[string]any{"name": name, "source": "github", "secret": "s3cret", "event_key_expression": "'github:' + headers['x-github-event']"}
}

// TestRoles walks the role × action table of docs/api.md on both stores: every request
// as a member, a tenant admin and an operator of its tenant, and, where it names an
// object, naming another tenant's.
func TestRoles(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		f := newRoleEnv(t, b)
		for _, row := range roleTable {
			for _, role := range []store.Role{store.RoleMember, store.RoleAdmin, store.RoleOperator} {
				want := map[store.Role]int{store.RoleMember: row.member, store.RoleAdmin: row.admin, store.RoleOperator: row.operator}[role]
				f.check(row, role, false, want)
				if row.other != 0 {
					other := row.other
					if row.gate != "" && !(engine.Principal{Role: role}).Has(row.gate) {
						other = 403
					}
					f.check(row, role, true, other)
				}
			}
		}
	})
}

// check sends row's request as role and compares the status with want; a refusal must
// carry the error body with its code.
func (f *roleEnv) check(row roleRow, role store.Role, other bool, want int) {
	f.t.Helper()
	call := row.call(f, role, other)
	c := f.actors[role]
	if call.as != "" {
		c = c.with(call.as)
	}
	r := c.do(call.method, call.path, call.body)
	where := "its tenant's"
	if other {
		where = "another tenant's"
	}
	if r.status != want {
		f.t.Errorf("%s: %s (%s, %s object): status %d, want %d: %s", row.area, row.action, role, where, r.status, want, r.body)
		return
	}
	if code := map[int]string{403: "permission_denied", 404: "not_found", 400: "invalid_argument"}[want]; code != "" {
		if got, _ := r.errCodeField(f.t); got != code {
			f.t.Errorf("%s: %s (%s, %s object): code %q, want %q", row.area, row.action, role, where, got, code)
		}
	}
}

// roleTableMarkdown renders roleTable as docs/api.md shows it.
func roleTableMarkdown() string {
	var sb strings.Builder
	sb.WriteString("| action | request | member | tenant admin | operator | another tenant's object |\n")
	sb.WriteString("|---|---|:-:|:-:|:-:|:-:|\n")
	area := ""
	for _, r := range roleTable {
		if r.area != area {
			area = r.area
			fmt.Fprintf(&sb, "| **%s** | | | | | |\n", area)
		}
		other := "—"
		if r.other != 0 {
			other = fmt.Sprint(r.other)
		}
		fmt.Fprintf(&sb, "| %s | %s | %d | %d | %d | %s |\n", r.action, r.request, r.member, r.admin, r.operator, other)
	}
	return sb.String()
}

const (
	roleDocPath  = "../../docs/api.md"
	roleDocBegin = "<!-- role table: generated from internal/api/roles_test.go (go test ./internal/api -run TestRoleTableIsDocumented -update-roles-doc) -->\n"
	roleDocEnd   = "<!-- end of role table -->\n"
)

// TestRoleTableIsDocumented holds the table in docs/api.md to the one TestRoles walks.
func TestRoleTableIsDocumented(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(roleDocPath)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	i, j := strings.Index(doc, roleDocBegin), strings.Index(doc, roleDocEnd)
	if i < 0 || j < i {
		t.Fatalf("docs/api.md has no role table between %q and %q", roleDocBegin, roleDocEnd)
	}
	want := roleTableMarkdown()
	if got := doc[i+len(roleDocBegin) : j]; got != want {
		if *updateRolesDoc {
			if err := os.WriteFile(roleDocPath, []byte(doc[:i+len(roleDocBegin)]+want+doc[j:]), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("the role table in docs/api.md is not the one TestRoles walks; run\n\tgo test ./internal/api -run TestRoleTableIsDocumented -update-roles-doc\nwant:\n%s", want)
	}
}

// TestRolesHoldRevoke pins hole (a) of the admin flag, in the wire terms of before roles
// (so that it runs against a Herald from before them too): a token that is not an admin
// revoking its tenant's admin tokens, the bootstrap token included. The refusals leave the
// tokens as they were.
func TestRolesHoldRevoke(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		boot := b.c
		var bootID string
		for _, tok := range items(boot.must(200, "GET", "/api/v1/tokens", nil)) {
			bootID = tok["id"].(string) // the only token yet: the one the first start made
		}
		plain := boot.must(201, "POST", "/api/v1/tokens", map[string]any{"name": "plain"})
		admin := boot.must(201, "POST", "/api/v1/tokens", map[string]any{"name": "second-admin", "admin": true})
		member := boot.with(plain["secret"].(string))
		adminID := admin["token"].(map[string]any)["id"].(string)

		// A member revokes neither an admin token nor the bootstrap token; a tenant admin
		// does not revoke the bootstrap token either.
		for _, id := range []string{adminID, bootID} {
			if r := member.do("DELETE", "/api/v1/tokens/"+id, nil); r.status != 403 {
				t.Errorf("a member revoking admin token %s: status %d, want 403: %s", id, r.status, r.body)
			}
		}
		if r := boot.with(admin["secret"].(string)).do("DELETE", "/api/v1/tokens/"+bootID, nil); r.status != 403 {
			t.Errorf("a second admin token of default revoking the bootstrap token: status %d, want 403: %s", r.status, r.body)
		}
		for _, c := range []*client{boot, boot.with(admin["secret"].(string))} {
			if r := c.do("GET", "/api/v1/events", nil); r.status != 200 {
				t.Errorf("an admin token after the refusals: status %d, want 200", r.status)
			}
		}
	})
}

// TestRolesHoldTenants pins hole (b) of the admin flag, in the wire terms of before roles:
// an admin token of another tenant creating tokens in tenant default, reading the
// server's metrics and managing tenants. The refusals store nothing.
func TestRolesHoldTenants(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		boot := b.c
		boot.must(201, "POST", "/api/v1/tenants", map[string]any{"name": "b"})
		bAdmin := boot.with(boot.must(201, "POST", "/api/v1/tokens", map[string]any{"name": "b-admin", "tenant": "b", "admin": true})["secret"].(string))
		for _, body := range []map[string]any{{"name": "x", "tenant": "default"}, {"name": "x", "tenant": "default", "admin": true}} {
			if r := bAdmin.do("POST", "/api/v1/tokens", body); r.status != 403 {
				t.Errorf("b's admin creating a token in default %v: status %d, want 403: %s", body, r.status, r.body)
			}
		}
		for _, call := range [][2]string{{"GET", "/metrics"}, {"GET", "/api/v1/tenants"}, {"POST", "/api/v1/tenants"}} {
			if r := bAdmin.do(call[0], call[1], map[string]any{"name": "c"}); r.status != 403 {
				t.Errorf("b's admin: %s %s: status %d, want 403", call[0], call[1], r.status)
			} else if want := call[0] + " " + call[1] + " needs an operator token"; !strings.Contains(string(r.body), want) {
				t.Errorf("b's admin: %s %s: %s, want the message to say %q", call[0], call[1], r.body, want)
			}
		}
		bAdmin.must(201, "POST", "/api/v1/tokens", map[string]any{"name": "b-ci"}) // its own tenant's, it may
		if r := boot.do("GET", "/metrics", nil); r.status != 200 {
			t.Errorf("the bootstrap token reading /metrics: status %d, want 200", r.status)
		}
		if toks := items(boot.must(200, "GET", "/api/v1/tokens", nil)); len(toks) != 1 {
			t.Errorf("default has %d tokens, want only the bootstrap token: %v", len(toks), toks)
		}
		if ts := items(boot.must(200, "GET", "/api/v1/tenants", nil)); len(ts) != 2 {
			t.Errorf("tenants = %v, want default and b", ts)
		}
	})
}

// TestTokenRoles: the token object shows its role, and "admin" still means what it did
// on the wire; the first start's token is an operator.
func TestTokenRoles(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		toks := items(b.c.must(200, "GET", "/api/v1/tokens", nil))
		if len(toks) != 1 || toks[0]["role"] != "operator" || toks[0]["admin"] != true || toks[0]["tenant"] != "default" {
			t.Fatalf("the first start's token = %v, want an operator of default", toks)
		}
		role := func(body map[string]any) (string, bool) {
			t.Helper()
			tok := b.c.must(201, "POST", "/api/v1/tokens", body)["token"].(map[string]any)
			return tok["role"].(string), tok["admin"].(bool)
		}
		for _, c := range []struct {
			body  map[string]any
			role  string
			admin bool
		}{
			{map[string]any{"name": "a"}, "member", false},
			{map[string]any{"name": "b", "admin": false}, "member", false},
			{map[string]any{"name": "c", "admin": true}, "admin", true},
			{map[string]any{"name": "d", "role": "admin", "admin": true}, "admin", true},
			{map[string]any{"name": "e", "role": "member"}, "member", false},
			{map[string]any{"name": "f", "role": "operator"}, "operator", true},
		} {
			if r, a := role(c.body); r != c.role || a != c.admin {
				t.Errorf("token %v: role %q, admin %v; want %q, %v", c.body, r, a, c.role, c.admin)
			}
		}
		for _, body := range []map[string]any{{"name": "g", "role": "operator", "admin": true}, {"name": "h", "role": "member", "admin": true}} {
			r := b.c.do("POST", "/api/v1/tokens", body)
			if code, field := r.errCodeField(t); r.status != 400 || code != "invalid_argument" || field != "admin" {
				t.Errorf("token %v: status %d %s %q, want 400 naming admin", body, r.status, code, field)
			}
		}
		if r := b.c.do("POST", "/api/v1/tokens", map[string]any{"name": "i", "role": "root"}); r.status != 400 {
			t.Errorf("role root: status %d, want 400", r.status)
		} else if _, field := r.errCodeField(t); field != "role" {
			t.Errorf("role root: field %q, want role", field)
		}
		if n := len(items(b.c.must(200, "GET", "/api/v1/tokens", nil))); n != 7 {
			t.Errorf("default has %d tokens, want 7 (the refused ones stored nothing)", n)
		}
		// An operator lists another tenant's tokens, with their roles.
		b.c.must(201, "POST", "/api/v1/tenants", map[string]any{"name": "acme"})
		b.c.must(201, "POST", "/api/v1/tokens", map[string]any{"name": "acme-admin", "tenant": "acme", "role": "admin"})
		acme := items(b.c.must(200, "GET", "/api/v1/tokens?tenant=acme", nil))
		if len(acme) != 1 || acme[0]["name"] != "acme-admin" || acme[0]["tenant"] != "acme" || acme[0]["role"] != "admin" {
			t.Errorf("acme's tokens = %v", acme)
		}
		if r := b.c.do("GET", "/api/v1/tokens?tenant=nope", nil); r.status != 400 {
			t.Errorf("tokens of an unknown tenant: status %d, want 400", r.status)
		}
	})
}
