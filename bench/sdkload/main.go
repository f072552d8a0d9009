// Command sdkload measures the Go SDK against a running engine, as the other SDKs'
// benchmarks measure theirs (sdks/typescript's `npm run bench` runs it next to its own
// figures, on the same kind of engine and with the same parameters):
//
//   - push: producers push single events with Client.Push in a closed loop;
//   - complete: events are pushed in bulk to a one-step workflow that a Worker runs, and
//     the completions the engine accepted are counted.
//
// It prints one JSON object with the figures. The engine is given by -url and -token (or
// HERALD_URL and HERALD_TOKEN) and should be fresh: each scenario stores a workflow.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald"
)

// result is what sdkload prints.
type result struct {
	Scenario  string  `json:"scenario"`
	Events    int     `json:"events"`
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"per_second"`
	P50MS     float64 `json:"p50_ms,omitempty"`
	P99MS     float64 `json:"p99_ms,omitempty"`
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "sdkload:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("sdkload", flag.ContinueOnError)
	url := fs.String("url", os.Getenv("HERALD_URL"), "engine URL (env HERALD_URL)")
	token := fs.String("token", os.Getenv("HERALD_TOKEN"), "API token (env HERALD_TOKEN)")
	scenario := fs.String("scenario", "push", "push or complete")
	events := fs.Int("events", 5000, "events to push")
	concurrency := fs.Int("concurrency", 64, "concurrent producers (push)")
	slots := fs.Int("slots", 100, "worker slots (complete)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *url == "" || *token == "" {
		return errors.New("-url and -token (or HERALD_URL and HERALD_TOKEN) are required")
	}
	if *events < 1 {
		return errors.New("-events must be at least 1")
	}
	ctx := context.Background()
	var res result
	var err error
	switch *scenario {
	case "push":
		res, err = push(ctx, *url, *token, *events, *concurrency)
	case "complete":
		res, err = complete(ctx, *url, *token, *events, *slots)
	default:
		return fmt.Errorf("unknown -scenario %q (push or complete)", *scenario)
	}
	if err != nil {
		return err
	}
	return json.NewEncoder(out).Encode(res)
}

// oneStep is the workflow both scenarios trigger: one step that does nothing.
func oneStep(key string) herald.Workflow {
	return herald.Workflow{
		Name:     "sdk-bench",
		Triggers: []string{key},
		Steps: []herald.Step{{Name: "work", Run: func(context.Context, *herald.StepContext) (any, error) {
			return nil, nil
		}}},
	}
}

// push measures single-event pushes by concurrency producers in a closed loop, after a
// warm-up that opens the connections.
func push(ctx context.Context, url, token string, n, concurrency int) (result, error) {
	c, err := herald.NewClient(herald.ClientConfig{URL: url, Token: token})
	if err != nil {
		return result{}, err
	}
	const key = "sdk.bench.push"
	def := oneStep(key).Definition()
	if _, _, err := c.PutWorkflow(ctx, def); err != nil {
		return result{}, err
	}
	send := func(ctx context.Context, i int) error {
		_, err := c.Push(ctx, herald.Event{Key: key, Payload: map[string]any{"i": i}})
		return err
	}
	if _, err := closedLoop(ctx, concurrency, 4*concurrency, send); err != nil {
		return result{}, fmt.Errorf("warm-up: %w", err)
	}
	start := time.Now()
	lats, err := closedLoop(ctx, concurrency, n, send)
	elapsed := time.Since(start)
	if err != nil {
		return result{}, err
	}
	slices.Sort(lats)
	pct := func(q float64) float64 {
		return float64(lats[min(len(lats)-1, int(q*float64(len(lats))))].Microseconds()) / 1000
	}
	return result{Scenario: "push", Events: n, Seconds: elapsed.Seconds(), PerSecond: float64(n) / elapsed.Seconds(), P50MS: pct(0.5), P99MS: pct(0.99)}, nil
}

// closedLoop runs send n times on `producers` goroutines and returns each call's latency.
func closedLoop(ctx context.Context, producers, n int, send func(context.Context, int) error) ([]time.Duration, error) {
	var next atomic.Int64
	lats := make([]time.Duration, n)
	var wg sync.WaitGroup
	var firstErr error
	var once sync.Once
	for range producers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t := time.Now()
				if err := send(ctx, i); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				lats[i] = time.Since(t)
			}
		})
	}
	wg.Wait()
	return lats, firstErr
}

// counter counts the completions the engine accepted (200 replies to .../complete).
type counter struct {
	next     http.RoundTripper
	accepted atomic.Int64
	lastNS   atomic.Int64
}

// RoundTrip implements http.RoundTripper.
func (c *counter) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusOK && strings.HasSuffix(req.URL.Path, "/complete") {
		c.lastNS.Store(time.Now().UnixNano())
		c.accepted.Add(1)
	}
	return resp, err
}

// complete measures completed steps per second: a worker with `slots` slots runs the
// steps of n events pushed in bulk (1,000 per request, 4 at once) once it is polling.
func complete(ctx context.Context, url, token string, n, slots int) (result, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 2 * slots
	cnt := &counter{next: tr}
	wc, err := herald.NewClient(herald.ClientConfig{URL: url, Token: token, HTTPClient: &http.Client{Transport: cnt}})
	if err != nil {
		return result{}, err
	}
	c, err := herald.NewClient(herald.ClientConfig{URL: url, Token: token})
	if err != nil {
		return result{}, err
	}
	const key = "sdk.bench.complete"
	// Store the workflow first, so that the warm-up event triggers it whenever the worker starts polling.
	if _, _, err := c.PutWorkflow(ctx, oneStep(key).Definition()); err != nil {
		return result{}, err
	}
	w := herald.NewWorker(wc, herald.WorkerConfig{Name: "sdk-bench", Slots: slots, Logger: slog.New(slog.DiscardHandler)})
	if err := w.Register(oneStep(key)); err != nil {
		return result{}, err
	}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	defer func() { stop(); <-done }()

	// Warm-up: one event, completed, so that the worker is registered and polling.
	if err := waitPush(ctx, c, key, cnt, 1); err != nil {
		return result{}, fmt.Errorf("warm-up: %w", err)
	}
	start := time.Now()
	batches := (n + 999) / 1000
	_, err = closedLoop(ctx, 4, batches, func(ctx context.Context, b int) error {
		size := min(1000, n-b*1000)
		evs := make([]herald.Event, size)
		for i := range evs {
			evs[i] = herald.Event{Key: key, Payload: map[string]any{"i": b*1000 + i}}
		}
		_, err := c.BulkPush(ctx, evs)
		return err
	})
	if err != nil {
		return result{}, err
	}
	deadline := time.Now().Add(max(time.Minute, time.Duration(n)*time.Millisecond))
	for cnt.accepted.Load() < int64(n+1) {
		if time.Now().After(deadline) {
			return result{}, fmt.Errorf("only %d of %d steps completed in time", cnt.accepted.Load()-1, n)
		}
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Unix(0, cnt.lastNS.Load()).Sub(start)
	return result{Scenario: "complete", Events: n, Seconds: elapsed.Seconds(), PerSecond: float64(n) / elapsed.Seconds()}, nil
}

// waitPush pushes one event and waits until want completions were accepted.
func waitPush(ctx context.Context, c *herald.Client, key string, cnt *counter, want int64) error {
	if _, err := c.Push(ctx, herald.Event{Key: key}); err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for cnt.accepted.Load() < want {
		if time.Now().After(deadline) {
			return errors.New("the step did not complete within 30s")
		}
		time.Sleep(time.Millisecond)
	}
	return nil
}
