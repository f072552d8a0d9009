package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// targetGraphQLVsREST is the goal of sendCustomEvent mutations per second, in percent of
// REST single pushes on the same engine.
const targetGraphQLVsREST = 80

// graphqlKey is the key of the graphql scenario's events: type bench, operation graphql.
const graphqlKey = "bench:graphql"

// graphqlMutation is the seed's mutation, as its callers send it.
const graphqlMutation = `mutation SendCustomEvent($input: SendCustomEventInput!) { sendCustomEvent(input: $input) { success workflows { type id runID } } }`

// runGraphQL measures sendCustomEvent mutations (POST /graphql) next to REST single pushes
// of the same event on the same engine: both make the key bench:graphql with the payload
// {"id": "item-<i>", "data": {"seq": <i>}}, which one workflow matches. The two alternate
// (REST, GraphQL, GraphQL, REST), each for half of --events or --duration, so that a drift
// of the machine weighs on both alike.
func (b *bench) runGraphQL(ctx context.Context) ([]row, error) {
	eng, err := b.startEngine(ctx, "graphql")
	if err != nil {
		return nil, err
	}
	defer b.stopEngine(eng)
	if err := putWorkflow(ctx, eng, graphqlKey); err != nil {
		return nil, err
	}
	conc := b.cfg.Concurrency
	hc := newHTTPClient(2 * conc)
	lc := newLoadClient(hc, eng.URL, eng.Token)
	gc := &graphqlClient{hc: hc, url: strings.TrimRight(eng.URL, "/") + "/graphql", auth: "Bearer " + eng.Token}
	restBodies, gqlBodies := make([][]byte, 1024), make([][]byte, 1024)
	for i := range restBodies {
		restBodies[i] = restItemBody(i)
		gqlBodies[i] = graphqlBody(i)
	}
	var rejected atomic.Int64
	sends := map[string]func(ctx context.Context, i int) error{
		"REST": func(ctx context.Context, i int) error {
			return lc.postRetrying(ctx, "/events", restBodies[i%len(restBodies)], &rejected)
		},
		"GraphQL": func(ctx context.Context, i int) error {
			return gc.sendRetrying(ctx, gqlBodies[i%len(gqlBodies)], &rejected)
		},
	}
	for _, kind := range []string{"REST", "GraphQL"} {
		if _, _, err := closedLoop(ctx, conc, 4*conc, 0, sends[kind]); err != nil {
			return nil, fmt.Errorf("graphql warm-up (%s): %w", kind, err)
		}
	}
	n, d := b.cfg.Events, b.cfg.Duration
	if n == 0 && d == 0 {
		n = defaultPushEvents
	}
	if d > 0 {
		n = 0
	}
	type total struct {
		sent    int
		elapsed time.Duration
		cpu     time.Duration // of this process: engine, HTTP server, load generator
		lats    []time.Duration
	}
	totals := map[string]*total{"REST": {}, "GraphQL": {}}
	m := startMeasure()
	for _, kind := range []string{"REST", "GraphQL", "GraphQL", "REST"} {
		b.log.Info("graphql: running", "kind", kind, "events", n/2, "duration", d/2, "concurrency", conc)
		start, cpu := time.Now(), processCPU()
		sent, lats, err := closedLoop(ctx, conc, n/2, d/2, sends[kind])
		if err != nil {
			return nil, fmt.Errorf("graphql (%s): %w", kind, err)
		}
		t := totals[kind]
		t.sent += sent
		t.elapsed += time.Since(start)
		t.cpu += processCPU() - cpu
		t.lats = append(t.lats, lats...)
	}
	end := time.Now()
	rest := perSecond(totals["REST"].sent, totals["REST"].elapsed)
	gql := perSecond(totals["GraphQL"].sent, totals["GraphQL"].elapsed)
	b.log.Info("graphql: done", "rest_per_s", math.Round(rest), "graphql_per_s", math.Round(gql), "rejected", rejected.Load())
	note := func(kind string) string {
		t := totals[kind]
		return fmt.Sprintf("%s events, %d producers, %s", thousands(int64(t.sent)), conc, t.elapsed.Round(time.Millisecond))
	}
	// CPU per event: steadier than events per second on a machine that other work shares,
	// and what limits throughput once the commits are no longer the bottleneck.
	cpuPer := func(kind string) float64 {
		t := totals[kind]
		if t.sent == 0 || t.cpu <= 0 {
			return math.NaN()
		}
		return float64(t.cpu.Microseconds()) / float64(t.sent)
	}
	p := percentiles(totals["GraphQL"].lats, 0.5, 0.99)
	ratioNote := "same engine, same event, alternating"
	if r := rejected.Load(); r > 0 {
		ratioNote += fmt.Sprintf("; %d overloaded replies retried", r)
	}
	return []row{
		{Scenario: "graphql", Metric: "REST single pushes/s", Value: rest, Unit: "ev/s", Note: note("REST")},
		{Scenario: "graphql", Metric: "sendCustomEvent mutations/s", Value: gql, Unit: "ev/s", Note: note("GraphQL")},
		{Scenario: "graphql", Metric: "sendCustomEvent vs REST (per s)", Value: 100 * gql / rest, Unit: "%",
			Target: atLeast(targetGraphQLVsREST), Note: ratioNote},
		{Scenario: "graphql", Metric: "sendCustomEvent vs REST (CPU per event)", Value: 100 * cpuPer("GraphQL") / cpuPer("REST"), Unit: "%",
			Note: fmt.Sprintf("%.0f µs vs %.0f µs of this process's CPU per event (engine, HTTP, load generator)", cpuPer("GraphQL"), cpuPer("REST"))},
		{Scenario: "graphql", Metric: "mutation reply p50 / p99", Value: p[0], Unit: "ms", Note: fmt.Sprintf("p99 %s", formatValue(p[1], "ms"))},
		m.cpuRow("graphql", end),
	}, nil
}

// restItemBody is the REST push of the graphql scenario's event i.
func restItemBody(i int) []byte {
	b := []byte(`{"key":"` + graphqlKey + `","payload":{"id":"item-`)
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, `","data":{"seq":`...)
	b = strconv.AppendInt(b, int64(i), 10)
	return append(b, `}}}`...)
}

// graphqlBody is the sendCustomEvent request of the graphql scenario's event i.
func graphqlBody(i int) []byte {
	q, _ := json.Marshal(graphqlMutation)
	b := append([]byte(`{"query":`), q...)
	b = append(b, `,"variables":{"input":{"type":"bench","operation":"graphql","payload":{"id":"item-`...)
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, `","data":{"seq":`...)
	b = strconv.AppendInt(b, int64(i), 10)
	return append(b, `}}}}}`...)
}

// graphqlClient posts pre-encoded GraphQL requests.
type graphqlClient struct {
	hc        *http.Client
	url, auth string
}

// graphqlErrors is the errors member of a GraphQL reply.
type graphqlErrors struct {
	Errors []struct {
		Message    string `json:"message"`
		Extensions struct {
			Code       string `json:"code"`
			RetryAfter int    `json:"retryAfter"`
		} `json:"extensions"`
	} `json:"errors"`
}

// send posts body and checks that the mutation succeeded. An error reply is an
// *apiStatusError, with status 429 or 503 when the engine asked to retry later.
func (c *graphqlClient) send(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header["Authorization"] = []string{c.auth}
	req.Header["Content-Type"] = []string{"application/json"}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	reply, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode == http.StatusOK && bytes.HasPrefix(reply, []byte(`{"data":{"sendCustomEvent":{"success":true`)) {
		return nil
	}
	e := &apiStatusError{Status: resp.StatusCode, Body: string(reply)}
	var ge graphqlErrors
	if json.Unmarshal(reply, &ge) == nil && len(ge.Errors) > 0 {
		switch ge.Errors[0].Extensions.Code {
		case "OVERLOADED":
			e.Status = http.StatusTooManyRequests
		case "UNAVAILABLE":
			e.Status = http.StatusServiceUnavailable
		}
		e.RetryAfter = time.Duration(ge.Errors[0].Extensions.RetryAfter) * time.Second
	}
	return e
}

// sendRetrying is send, retried when the engine is overloaded or unavailable, as
// loadClient.postRetrying does for REST.
func (c *graphqlClient) sendRetrying(ctx context.Context, body []byte, rejected *atomic.Int64) error {
	const maxWait = 100 * time.Millisecond
	for {
		err := c.send(ctx, body)
		se, ok := err.(*apiStatusError)
		if !ok || !se.temporary() {
			return err
		}
		rejected.Add(1)
		t := time.NewTimer(min(max(se.RetryAfter, time.Millisecond), maxWait))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (gave up retrying: %w)", err, ctx.Err())
		case <-t.C:
		}
	}
}
