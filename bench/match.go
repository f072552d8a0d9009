package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// matchSetup is one trigger-index size of the match scenario: how many workflows of each
// kind the tenant has besides the hot one that every pushed event triggers.
type matchSetup struct {
	name                             string
	exact, patterns, exprs, filtered int
	total                            int // workflows, the hot one included
}

// matchSetups are the two sizes the match scenario compares: 10 workflows, and 10,000
// (5,000 exact keys, 1,000 wildcard patterns, 1,000 triggers with CEL expressions, and
// the rest with runtime filters).
func matchSetups() []matchSetup {
	return []matchSetup{
		{name: "10 workflows", exact: 5, patterns: 1, exprs: 1, filtered: 2, total: 10},
		{name: "10,000 workflows", exact: 5000, patterns: 1000, exprs: 1000, filtered: 2999, total: 10000},
	}
}

// matchHotKey is the key of every event the match scenario pushes.
const matchHotKey = "bench.match"

// matchScope is the scope of every pushed event and of every runtime filter.
const matchScope = "tenant-1"

// runMatch measures single-event pushes with a small and a large trigger index: the hot
// workflow (a trigger with a CEL expression and a runtime filter of the events' scope)
// matches every event, and the other workflows, of every kind, match none, so that the
// difference between the two figures is the cost of matching against a large index.
// Expressions and filters of workflows whose key does not match are never evaluated:
// that is the point of the index, and what the large setup checks.
func (b *bench) runMatch(ctx context.Context) ([]row, error) {
	var rows []row
	rates := make([]float64, 0, 2)
	for _, su := range matchSetups() {
		rate, reg, err := b.matchOnce(ctx, su)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", su.name, err)
		}
		rates = append(rates, rate)
		rows = append(rows, row{Scenario: "match", Metric: "single-event pushes/s, " + su.name, Value: rate, Unit: "ev/s",
			Note: fmt.Sprintf("%d exact, %d patterns, %d CEL triggers, %d with filters, + 1 hot (CEL trigger and filter); registered in %s",
				su.exact, su.patterns, su.exprs, su.filtered, reg.Round(time.Millisecond))})
	}
	rows = append(rows, row{Scenario: "match", Metric: "10,000 workflows vs 10 (pushes/s)", Value: 100 * rates[1] / rates[0], Unit: "%",
		Target: atLeast(80), Note: "within 20% of the 10-workflow figure"})
	return rows, nil
}

// matchOnce registers su's workflows on a fresh engine and measures pushes/s.
func (b *bench) matchOnce(ctx context.Context, su matchSetup) (float64, time.Duration, error) {
	eng, err := b.startEngine(ctx, "match")
	if err != nil {
		return 0, 0, err
	}
	defer b.stopEngine(eng)
	conc := b.cfg.Concurrency
	hc := newHTTPClient(2 * conc)
	api := &apiCaller{hc: hc, base: eng.URL + "/api/v1", auth: "Bearer " + eng.Token}

	regStart := time.Now()
	type reg struct {
		name, def, filter string
	}
	var regs []reg
	regs = append(regs, reg{"hot", fmt.Sprintf(`{"name":"hot","triggers":[{"key":%q,"expression":"input.i >= 0"}],"steps":[{"name":"work"}]}`, matchHotKey),
		`{"scope":"` + matchScope + `","expression":"input.i >= 0","payload":{"from":"filter"}}`})
	for i := range su.exact {
		regs = append(regs, reg{name: "exact-" + strconv.Itoa(i), def: fmt.Sprintf(`{"name":"exact-%d","triggers":["cold.exact.%d"],"steps":[{"name":"work"}]}`, i, i)})
	}
	for i := range su.patterns {
		// Prefixes of 40 different lengths, as many a matcher checks per key: a pattern
		// index's cost is the number of distinct prefix lengths up to the key's length.
		prefix := "c" + strings.Repeat("p", i%40) + strconv.Itoa(i) + "."
		regs = append(regs, reg{name: "pattern-" + strconv.Itoa(i), def: fmt.Sprintf(`{"name":"pattern-%d","triggers":["%s*"],"steps":[{"name":"work"}]}`, i, prefix)})
	}
	for i := range su.exprs {
		regs = append(regs, reg{name: "expr-" + strconv.Itoa(i), def: fmt.Sprintf(`{"name":"expr-%d","triggers":[{"key":"cold.expr.%d","expression":"input.amount > %d"}],"steps":[{"name":"work"}]}`, i, i, i)})
	}
	for i := range su.filtered {
		regs = append(regs, reg{name: "filtered-" + strconv.Itoa(i), def: fmt.Sprintf(`{"name":"filtered-%d","triggers":["cold.filtered.%d"],"steps":[{"name":"work"}]}`, i, i),
			filter: fmt.Sprintf(`{"scope":%q,"expression":"input.i > %d","payload":{"n":%d}}`, matchScope, i, i)})
	}
	if len(regs) != su.total {
		return 0, 0, fmt.Errorf("setup has %d workflows, want %d", len(regs), su.total)
	}
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(regs) {
					return
				}
				r := regs[i]
				err := api.do(ctx, http.MethodPut, "/workflows/"+r.name, r.def)
				if err == nil && r.filter != "" {
					err = api.do(ctx, http.MethodPost, "/workflows/"+r.name+"/filters", r.filter)
				}
				if err != nil {
					once.Do(func() { firstErr = fmt.Errorf("registering %s: %w", r.name, err) })
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return 0, 0, firstErr
	}
	regTime := time.Since(regStart)

	lc := newLoadClient(hc, eng.URL, eng.Token)
	bodies := make([][]byte, 1024)
	for i := range bodies {
		bodies[i] = []byte(fmt.Sprintf(`{"key":%q,"scope":%q,"payload":{"i":%d,"amount":%d}}`, matchHotKey, matchScope, i, i))
	}
	var rejected atomic.Int64
	send := func(ctx context.Context, i int) error {
		return lc.postRetrying(ctx, "/events", bodies[i%len(bodies)], &rejected)
	}
	if _, _, err := closedLoop(ctx, conc, 4*conc, 0, send); err != nil {
		return 0, 0, fmt.Errorf("warm-up: %w", err)
	}
	// The hot workflow must have been triggered, once per event: the filter and the
	// expression let it through.
	if n, err := api.countHotRuns(ctx); err != nil || n == 0 {
		return 0, 0, fmt.Errorf("the hot workflow did not run during the warm-up (runs %d, err %v)", n, err)
	}
	n, d := b.cfg.Events, b.cfg.Duration
	if n == 0 && d == 0 {
		n = defaultPushEvents
	}
	if d > 0 {
		n = 0
	}
	b.log.Info("match: running", "setup", su.name, "events", n, "duration", d)
	start := time.Now()
	sent, _, err := closedLoop(ctx, conc, n, d, send)
	elapsed := time.Since(start)
	if err != nil {
		return 0, 0, err
	}
	rate := perSecond(sent, elapsed)
	b.log.Info("match: done", "setup", su.name, "events", sent, "ev_per_s", math.Round(rate), "registered_in", regTime.Round(time.Millisecond))
	return rate, regTime, nil
}

// apiCaller sends small JSON requests to the engine's API.
type apiCaller struct {
	hc         *http.Client
	base, auth string
}

// do sends body with method to path (relative to /api/v1) and fails on a non-2xx reply.
func (c *apiCaller) do(ctx context.Context, method, path, body string) error {
	_, err := c.call(ctx, method, path, body)
	return err
}

func (c *apiCaller) call(ctx context.Context, method, path, body string) ([]byte, error) {
	var rd io.Reader
	if body != "" {
		rd = bytes.NewReader([]byte(body))
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", c.auth)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, &apiStatusError{Status: resp.StatusCode, Body: string(b)}
	}
	return b, nil
}

// countHotRuns counts (up to one page) the hot workflow's runs.
func (c *apiCaller) countHotRuns(ctx context.Context) (int, error) {
	b, err := c.call(ctx, http.MethodGet, "/runs?workflow=hot&limit=10", "")
	if err != nil {
		return 0, err
	}
	return bytes.Count(b, []byte(`"workflow":"hot"`)), nil
}
