package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald"
)

// Targets on the reference machine (2 cores shared by engine, generator and worker).
const (
	targetPushPerSec     = 5_000
	targetBulkPerSec     = 50_000
	targetLatencyP50MS   = 5
	targetLatencyP99MS   = 25
	targetCompletePerSec = 2_000
)

// Scenario defaults used when the flags leave them at zero.
const (
	defaultPushEvents     = 20_000
	defaultBulkEvents     = 200_000
	defaultCompleteEvents = 20_000
	defaultLatencyFor     = 10 * time.Second
)

// benchConfig is the whole configuration of a benchmark run, filled from the flags.
type benchConfig struct {
	// Scenario is all, push, bulk, latency or complete.
	Scenario string
	// Events is the event count of the count-based scenarios; 0 takes each scenario's
	// default (push 20,000, bulk 200,000, complete 20,000).
	Events int
	// Concurrency is the number of concurrent producers of the push scenario.
	Concurrency int
	// BulkSize is the number of events per bulk request (1–1000).
	BulkSize int
	// BulkConcurrency is the number of concurrent bulk requests.
	BulkConcurrency int
	// Rate is the open-loop push rate of the latency scenario, in events per second.
	Rate int
	// Duration, when positive, makes push and bulk run for that long instead of a count,
	// and sets the latency scenario's length (default 10s).
	Duration time.Duration
	// Workers is the number of SDK workers of the latency and complete scenarios.
	Workers int
	// Slots is each worker's slot count.
	Slots int
	// Store says which store the engine uses.
	Store storeOptions
	// Dir is the parent of the engines' data directories.
	Dir string
	// Chaos holds the settings of the chaos scenario alone.
	Chaos chaosSettings
}

// bench runs scenarios. Each scenario starts its own fresh engine, so that one's leftovers
// (queued steps nobody runs) cannot slow the next.
type bench struct {
	cfg    benchConfig
	log    *slog.Logger // progress
	engLog *slog.Logger // the engine's and the workers' own logs
}

// measure is a wall-clock and CPU-time window.
type measure struct {
	start time.Time
	cpu0  time.Duration // this process
	mcpu0 time.Duration // the whole machine
}

func startMeasure() measure {
	return measure{start: time.Now(), cpu0: processCPU(), mcpu0: machineCPU()}
}

// cpuRow returns the informational row of the CPU the process and the rest of the
// machine used on average since m started, up to end, in cores.
func (m measure) cpuRow(scenario string, end time.Time) row {
	d := end.Sub(m.start).Seconds()
	if d <= 0 {
		return row{Scenario: scenario, Metric: "CPU used by the benchmark process", Value: math.NaN(), Unit: "cores"}
	}
	self := (processCPU() - m.cpu0).Seconds() / d
	r := row{Scenario: scenario, Metric: "CPU used by the benchmark process", Value: self, Unit: "cores"}
	if mc := machineCPU(); mc > 0 {
		others := max((mc-m.mcpu0).Seconds()/d-self, 0)
		r.Note = fmt.Sprintf("other processes used %.2f cores meanwhile", others)
		if others > 0.2 {
			r.Note = "**" + r.Note + ": the machine was not quiet, numbers are pessimistic**"
		}
	}
	return r
}

// startEngine starts a fresh engine for scenario name.
func (b *bench) startEngine(ctx context.Context, name string) (*engineUnderTest, error) {
	eng, err := startEngine(ctx, b.cfg.Dir, name, b.cfg.Store, b.engLog)
	if err != nil {
		return nil, err
	}
	b.log.Info("engine started", "scenario", name, "url", eng.URL, "data_dir", eng.DataDir)
	return eng, nil
}

// stopEngine stops eng, logging a failure.
func (b *bench) stopEngine(eng *engineUnderTest) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := eng.stop(ctx); err != nil {
		b.log.Warn("stopping engine", "err", err)
	}
}

// putWorkflow stores the bench workflow, triggered by key, through the Go SDK client.
func putWorkflow(ctx context.Context, eng *engineUnderTest, key string) error {
	c, err := herald.NewClient(herald.ClientConfig{URL: eng.URL, Token: eng.Token})
	if err != nil {
		return err
	}
	_, _, err = c.PutWorkflow(ctx, benchWorkflowDef(key))
	return err
}

// closedLoop runs producers goroutines that each call send(i) with i = 0, 1, 2, … taken
// from a shared counter, until n items were sent (n > 0) or d elapsed (d > 0). It returns
// the number of items sent, each send's duration, and the first error.
func closedLoop(ctx context.Context, producers, n int, d time.Duration, send func(ctx context.Context, i int) error) (int, []time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next, sent atomic.Int64
	var firstErr error
	var errOnce sync.Once
	lats := make([][]time.Duration, producers)
	start := time.Now()
	var wg sync.WaitGroup
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, 1024)
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if n > 0 && i >= n {
					break
				}
				t0 := time.Now()
				if d > 0 && t0.Sub(start) >= d {
					break
				}
				if err := send(ctx, i); err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("item %d: %w", i, err); cancel() })
					break
				}
				mine = append(mine, time.Since(t0))
				sent.Add(1)
			}
			lats[p] = mine
		}()
	}
	wg.Wait()
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	return int(sent.Load()), all, firstErr
}

// runPush measures single-event pushes: producers closed-loop POST /api/v1/events with one
// event each, one workflow matching the key.
func (b *bench) runPush(ctx context.Context) ([]row, error) {
	const key = "bench.push"
	eng, err := b.startEngine(ctx, "push")
	if err != nil {
		return nil, err
	}
	defer b.stopEngine(eng)
	if err := putWorkflow(ctx, eng, key); err != nil {
		return nil, err
	}
	conc := b.cfg.Concurrency
	lc := newLoadClient(newHTTPClient(2*conc), eng.URL, eng.Token)
	bodies := make([][]byte, 1024)
	for i := range bodies {
		bodies[i] = eventBody(key, i)
	}
	var rejected atomic.Int64
	send := func(ctx context.Context, i int) error {
		return lc.postRetrying(ctx, "/events", bodies[i%len(bodies)], &rejected)
	}
	// Warm up: open the connections and let the engine settle.
	if _, _, err := closedLoop(ctx, conc, 4*conc, 0, send); err != nil {
		return nil, fmt.Errorf("push warm-up: %w", err)
	}
	n, d := b.cfg.Events, b.cfg.Duration
	if n == 0 && d == 0 {
		n = defaultPushEvents
	}
	if d > 0 {
		n = 0
	}
	b.log.Info("push: running", "events", n, "duration", d, "concurrency", conc)
	m := startMeasure()
	sent, lats, err := closedLoop(ctx, conc, n, d, send)
	end := time.Now()
	if err != nil {
		return nil, fmt.Errorf("push: %w", err)
	}
	elapsed := end.Sub(m.start)
	p := percentiles(lats, 0.5, 0.99)
	rate := perSecond(sent, elapsed)
	b.log.Info("push: done", "events", sent, "elapsed", elapsed.Round(time.Millisecond), "ev_per_s", math.Round(rate), "rejected", rejected.Load())
	note := fmt.Sprintf("%s events, %d producers, %s", thousands(int64(sent)), conc, elapsed.Round(time.Millisecond))
	if r := rejected.Load(); r > 0 {
		note += fmt.Sprintf(", %d 429/503 retried", r)
	}
	return []row{
		{Scenario: "push", Metric: "single-event pushes/s", Value: rate, Unit: "ev/s", Target: atLeast(b.target(targetPushPerSec, pgTargetPushPerSec)), Note: note},
		{Scenario: "push", Metric: "push reply p50 / p99", Value: p[0], Unit: "ms", Note: fmt.Sprintf("p99 %s", formatValue(p[1], "ms"))},
		m.cpuRow("push", end),
	}, nil
}

// runBulk measures bulk pushes: a few concurrent POST /api/v1/events/bulk of BulkSize
// events each.
func (b *bench) runBulk(ctx context.Context) ([]row, error) {
	const key = "bench.bulk"
	eng, err := b.startEngine(ctx, "bulk")
	if err != nil {
		return nil, err
	}
	defer b.stopEngine(eng)
	if err := putWorkflow(ctx, eng, key); err != nil {
		return nil, err
	}
	conc, size := b.cfg.BulkConcurrency, b.cfg.BulkSize
	lc := newLoadClient(newHTTPClient(2*conc), eng.URL, eng.Token)
	bodies := make([][]byte, 2*conc)
	for i := range bodies {
		bodies[i] = bulkBody(key, i*size, size)
	}
	var rejected atomic.Int64
	send := func(ctx context.Context, i int) error {
		return lc.postRetrying(ctx, "/events/bulk", bodies[i%len(bodies)], &rejected)
	}
	if _, _, err := closedLoop(ctx, conc, conc, 0, send); err != nil {
		return nil, fmt.Errorf("bulk warm-up: %w", err)
	}
	n, d := b.cfg.Events, b.cfg.Duration
	if n == 0 && d == 0 {
		n = defaultBulkEvents
	}
	reqs := 0
	if d == 0 {
		reqs = max(1, (n+size-1)/size)
	}
	b.log.Info("bulk: running", "events", reqs*size, "duration", d, "batch", size, "concurrency", conc)
	m := startMeasure()
	sent, lats, err := closedLoop(ctx, conc, reqs, d, send)
	end := time.Now()
	if err != nil {
		return nil, fmt.Errorf("bulk: %w", err)
	}
	elapsed := end.Sub(m.start)
	events := sent * size
	rate := perSecond(events, elapsed)
	p := percentiles(lats, 0.5, 0.99)
	b.log.Info("bulk: done", "events", events, "elapsed", elapsed.Round(time.Millisecond), "ev_per_s", math.Round(rate), "rejected", rejected.Load())
	note := fmt.Sprintf("%s events in %d requests of %d, %d concurrent, %s", thousands(int64(events)), sent, size, conc, elapsed.Round(time.Millisecond))
	if r := rejected.Load(); r > 0 {
		note += fmt.Sprintf(", %d 429/503 retried", r)
	}
	return []row{
		{Scenario: "bulk", Metric: "bulk-pushed events/s", Value: rate, Unit: "ev/s", Target: atLeast(b.target(targetBulkPerSec, pgTargetBulkPerSec)), Note: note},
		{Scenario: "bulk", Metric: "bulk request p50 / p99", Value: p[0], Unit: "ms", Note: fmt.Sprintf("p99 %s", formatValue(p[1], "ms"))},
		m.cpuRow("bulk", end),
	}, nil
}

// timedInput is the payload of a latency probe.
type timedInput struct {
	Seq int   `json:"seq"`
	TNS int64 `json:"t_ns"`
}

// runLatency measures push → first-step-start latency: events are pushed open-loop at
// Rate per second (each on its own schedule, not waiting for earlier replies), each
// carrying the time just before its push request; an SDK worker polling over HTTP records,
// when the step's assignment reaches it, how long ago that was.
func (b *bench) runLatency(ctx context.Context) ([]row, error) {
	const key = "bench.latency"
	eng, err := b.startEngine(ctx, "latency")
	if err != nil {
		return nil, err
	}
	defer b.stopEngine(eng)
	d := b.cfg.Duration
	if d == 0 {
		d = defaultLatencyFor
	}
	rate := b.cfg.Rate
	total := int(math.Round(float64(rate) * d.Seconds()))
	if total < 1 {
		return nil, errors.New("latency: rate × duration is less than one event")
	}
	const warmups = 100
	lat := make([]atomic.Int64, total) // ns; 0 = not received yet
	var received, warmReceived, dupes atomic.Int64
	step := func(_ context.Context, sc *herald.StepContext) (any, error) {
		at := time.Now().UnixNano()
		var in timedInput
		if err := sc.Input(&in); err != nil {
			return nil, herald.NonRetryable(err)
		}
		switch {
		case in.Seq < 0:
			warmReceived.Add(1)
		case in.Seq < total:
			if lat[in.Seq].CompareAndSwap(0, max(at-in.TNS, 1)) {
				received.Add(1)
			} else {
				dupes.Add(1)
			}
		}
		return nil, nil
	}
	// Store the workflow first, so that no warm-up event is pushed before it exists (the
	// workers store the same definition again, which creates no new version).
	if err := putWorkflow(ctx, eng, key); err != nil {
		return nil, err
	}
	ws, err := startWorkers(ctx, workerOptions{URL: eng.URL, Token: eng.Token, Key: key, Workers: b.cfg.Workers, Slots: b.cfg.Slots, Step: step, Log: b.engLog})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := ws.stop(); err != nil {
			b.log.Warn("stopping workers", "err", err)
		}
	}()
	lc := newLoadClient(newHTTPClient(256), eng.URL, eng.Token)
	var rejected atomic.Int64
	var sendErr atomic.Pointer[error]
	var pushMu sync.Mutex
	pushLats := make([]time.Duration, 0, total)
	var wg sync.WaitGroup
	// openLoop pushes n events at rate, seq computed by seqOf; it returns the largest
	// delay between an event's scheduled and actual send time.
	openLoop := func(n int, seqOf func(i int) int) time.Duration {
		interval := time.Second / time.Duration(rate)
		start := time.Now()
		var maxLag time.Duration
		for i := range n {
			due := start.Add(time.Duration(i) * interval)
			if w := time.Until(due); w > 0 {
				time.Sleep(w)
			} else if -w > maxLag {
				maxLag = -w
			}
			if ctx.Err() != nil || sendErr.Load() != nil {
				break
			}
			wg.Add(1)
			go func(seq int) {
				defer wg.Done()
				t0 := time.Now()
				body := timedEventBody(make([]byte, 0, 80), key, seq, t0.UnixNano())
				if err := lc.postRetrying(ctx, "/events", body, &rejected); err != nil {
					sendErr.CompareAndSwap(nil, &err)
					return
				}
				if seq >= 0 {
					el := time.Since(t0)
					pushMu.Lock()
					pushLats = append(pushLats, el)
					pushMu.Unlock()
				}
			}(seqOf(i))
		}
		return maxLag
	}
	// Warm up until the worker is registered and polling, and connections are open.
	b.log.Info("latency: warming up", "events", warmups)
	openLoop(warmups, func(int) int { return -1 })
	if err := waitFor(ctx, 30*time.Second, func() bool { return warmReceived.Load() >= warmups }); err != nil {
		return nil, fmt.Errorf("latency warm-up: %d of %d warm-up steps reached the worker: %w", warmReceived.Load(), warmups, err)
	}
	b.log.Info("latency: running", "rate", rate, "duration", d, "events", total, "workers", b.cfg.Workers, "slots", b.cfg.Slots)
	m := startMeasure()
	maxLag := openLoop(total, func(i int) int { return i })
	sendEnd := time.Now()
	wg.Wait()
	if p := sendErr.Load(); p != nil {
		return nil, fmt.Errorf("latency: push: %w", *p)
	}
	_ = waitFor(ctx, 10*time.Second, func() bool { return received.Load() >= int64(total) })
	cpu := m.cpuRow("latency", time.Now())
	lats := make([]time.Duration, 0, total)
	missing := 0
	for i := range lat {
		v := lat[i].Load()
		if v == 0 {
			missing++
			v = math.MaxInt64 // never started: counts as infinitely late
		}
		lats = append(lats, time.Duration(v))
	}
	p := percentiles(lats, 0.5, 0.95, 0.99, 1)
	pp := percentiles(pushLats, 0.5, 0.99)
	achieved := perSecond(total, sendEnd.Sub(m.start))
	b.log.Info("latency: done", "p50_ms", p[0], "p95_ms", p[1], "p99_ms", p[2], "max_ms", p[3], "missing", missing, "achieved_rate", math.Round(achieved), "max_send_lag", maxLag)
	note := fmt.Sprintf("%s events at %d/s (achieved %.0f/s, max send lag %s), %d workers × %d slots", thousands(int64(total)), rate, achieved, maxLag.Round(100*time.Microsecond), b.cfg.Workers, b.cfg.Slots)
	if missing > 0 {
		note += fmt.Sprintf(", **%d never reached the worker**", missing)
	}
	if r := rejected.Load(); r > 0 {
		note += fmt.Sprintf(", %d 429/503 retried", r)
	}
	if n := dupes.Load(); n > 0 {
		note += fmt.Sprintf(", %d duplicate deliveries", n)
	}
	maxNote := fmt.Sprintf("max %s", formatValue(p[3], "ms"))
	if missing > 0 {
		maxNote = "max: ∞ (missing events)"
	}
	return []row{
		{Scenario: "latency", Metric: "push → step start p50", Value: p[0], Unit: "ms", Target: atMost(b.target(targetLatencyP50MS, pgTargetLatencyP50MS)), Note: note},
		{Scenario: "latency", Metric: "push → step start p95", Value: p[1], Unit: "ms"},
		{Scenario: "latency", Metric: "push → step start p99", Value: p[2], Unit: "ms", Target: atMost(b.target(targetLatencyP99MS, 0)), Note: maxNote},
		{Scenario: "latency", Metric: "push reply p50 / p99", Value: pp[0], Unit: "ms", Note: fmt.Sprintf("p99 %s", formatValue(pp[1], "ms"))},
		cpu,
	}, nil
}

// runComplete measures completed single-step runs per second: N events are bulk-pushed
// while SDK workers run their steps; the clock runs from the first push to the last
// completion the engine accepted, counted at the workers' HTTP transport, and the count is
// then confirmed with GET /api/v1/runs?status=succeeded.
func (b *bench) runComplete(ctx context.Context) ([]row, error) {
	const key = "bench.complete"
	eng, err := b.startEngine(ctx, "complete")
	if err != nil {
		return nil, err
	}
	defer b.stopEngine(eng)
	n := b.cfg.Events
	if n == 0 {
		n = defaultCompleteEvents
	}
	size, conc := b.cfg.BulkSize, b.cfg.BulkConcurrency
	reqs := (n + size - 1) / size
	n = reqs * size
	const warmups = 1
	want := int64(n + warmups)
	allDone := make(chan struct{})
	counter := &completionCounter{onAccepted: func(c int64) {
		if c == want {
			close(allDone)
		}
	}}
	if err := putWorkflow(ctx, eng, key); err != nil {
		return nil, err
	}
	ws, err := startWorkers(ctx, workerOptions{URL: eng.URL, Token: eng.Token, Key: key, Workers: b.cfg.Workers, Slots: b.cfg.Slots, Counter: counter, Log: b.engLog})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := ws.stop(); err != nil {
			b.log.Warn("stopping workers", "err", err)
		}
	}()
	lc := newLoadClient(newHTTPClient(2*conc), eng.URL, eng.Token)
	var rejected atomic.Int64
	// Warm up: push one event and wait until its run completes, so that the workers are
	// registered and polling.
	warmBody := eventBody(key, -1)
	if err := lc.postRetrying(ctx, "/events", warmBody, &rejected); err != nil {
		return nil, fmt.Errorf("complete warm-up: %w", err)
	}
	if err := waitFor(ctx, 30*time.Second, func() bool { return counter.accepted.Load() >= warmups }); err != nil {
		return nil, fmt.Errorf("complete warm-up: the run did not complete: %w", err)
	}
	bodies := make([][]byte, reqs)
	for i := range bodies {
		bodies[i] = bulkBody(key, i*size, size)
	}
	b.log.Info("complete: running", "events", n, "batch", size, "bulk_concurrency", conc, "workers", b.cfg.Workers, "slots", b.cfg.Slots)
	m := startMeasure()
	_, _, err = closedLoop(ctx, conc, reqs, 0, func(ctx context.Context, i int) error {
		return lc.postRetrying(ctx, "/events/bulk", bodies[i], &rejected)
	})
	pushed := time.Now()
	if err != nil {
		return nil, fmt.Errorf("complete: pushing: %w", err)
	}
	b.log.Info("complete: all events pushed", "elapsed", pushed.Sub(m.start).Round(time.Millisecond), "completed_so_far", counter.accepted.Load()-warmups)
	timeout := max(60*time.Second, time.Duration(n)*time.Millisecond)
	select {
	case <-allDone:
	case <-time.After(timeout):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	end := time.Unix(0, counter.lastNS.Load())
	cpu := m.cpuRow("complete", time.Now())
	done := int(counter.accepted.Load() - warmups)
	elapsed := end.Sub(m.start)
	rate := perSecond(done, elapsed)
	if done < n {
		rate = math.NaN()
	}
	vctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	succeeded, err := lc.countRuns(vctx, "succeeded")
	if err != nil {
		return nil, fmt.Errorf("complete: counting succeeded runs: %w", err)
	}
	b.log.Info("complete: done", "completed", done, "elapsed", elapsed.Round(time.Millisecond), "runs_per_s", math.Round(rate), "succeeded_runs", succeeded)
	note := fmt.Sprintf("%s runs (pushed in bulk in %s), %d workers × %d slots, %s; GET /runs?status=succeeded: %s",
		thousands(int64(n)), pushed.Sub(m.start).Round(time.Millisecond), b.cfg.Workers, b.cfg.Slots, elapsed.Round(time.Millisecond), thousands(int64(succeeded)))
	if succeeded != n+warmups {
		note += fmt.Sprintf(" **(expected %d)**", n+warmups)
	}
	if done < n {
		note += fmt.Sprintf(", **only %d completed within %s**", done, timeout)
	}
	if r := rejected.Load(); r > 0 {
		note += fmt.Sprintf(", %d 429/503 retried", r)
	}
	return []row{
		{Scenario: "complete", Metric: "completed single-step runs/s", Value: rate, Unit: "runs/s", Target: atLeast(b.target(targetCompletePerSec, 0)), Note: note},
		cpu,
	}, nil
}

// waitFor polls cond every millisecond until it holds, timeout passes or ctx ends.
func waitFor(ctx context.Context, timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not done within %s", timeout)
		}
		time.Sleep(time.Millisecond)
	}
	return nil
}

// Targets on PostgreSQL (issue 3); 0 means none.
const (
	pgTargetPushPerSec   = 3_000
	pgTargetBulkPerSec   = 30_000
	pgTargetLatencyP50MS = 10
)

// target picks the SQLite or the PostgreSQL target of a metric.
func (b *bench) target(sqlite, pg float64) float64 {
	if b.cfg.Store.DatabaseURL != "" {
		return pg
	}
	return sqlite
}

// runReplicas measures single-event pushes through two engine replicas sharing one
// PostgreSQL database: half the producers push to each. Compare with the push scenario.
func (b *bench) runReplicas(ctx context.Context) ([]row, error) {
	const key = "bench.replicas"
	a, err := b.startEngine(ctx, "replicas")
	if err != nil {
		return nil, err
	}
	defer b.stopEngine(a)
	r, err := startReplica(ctx, b.cfg.Dir, a, b.cfg.Store, b.engLog)
	if err != nil {
		return nil, err
	}
	defer b.stopEngine(r)
	b.log.Info("replica started", "scenario", "replicas", "url", r.URL, "data_dir", r.DataDir)
	if err := putWorkflow(ctx, a, key); err != nil {
		return nil, err
	}
	conc := b.cfg.Concurrency
	lcs := []*loadClient{
		newLoadClient(newHTTPClient(conc), a.URL, a.Token),
		newLoadClient(newHTTPClient(conc), r.URL, r.Token),
	}
	bodies := make([][]byte, 1024)
	for i := range bodies {
		bodies[i] = eventBody(key, i)
	}
	var rejected atomic.Int64
	send := func(ctx context.Context, i int) error {
		return lcs[i%2].postRetrying(ctx, "/events", bodies[i%len(bodies)], &rejected)
	}
	if _, _, err := closedLoop(ctx, conc, 4*conc, 0, send); err != nil {
		return nil, fmt.Errorf("replicas warm-up: %w", err)
	}
	n, d := b.cfg.Events, b.cfg.Duration
	if n == 0 && d == 0 {
		n = defaultPushEvents
	}
	if d > 0 {
		n = 0
	}
	b.log.Info("replicas: running", "events", n, "duration", d, "concurrency", conc)
	m := startMeasure()
	sent, lats, err := closedLoop(ctx, conc, n, d, send)
	end := time.Now()
	if err != nil {
		return nil, fmt.Errorf("replicas: %w", err)
	}
	elapsed := end.Sub(m.start)
	p := percentiles(lats, 0.5, 0.99)
	rate := perSecond(sent, elapsed)
	note := fmt.Sprintf("%s events, %d producers over 2 replicas, %s", thousands(int64(sent)), conc, elapsed.Round(time.Millisecond))
	if r := rejected.Load(); r > 0 {
		note += fmt.Sprintf(", %d 429/503 retried", r)
	}
	rows := []row{
		{Scenario: "replicas", Metric: "single-event pushes/s, 2 replicas", Value: rate, Unit: "ev/s", Target: atLeast(pgTargetPushPerSec), Note: note},
		{Scenario: "replicas", Metric: "push reply p50 / p99", Value: p[0], Unit: "ms", Note: fmt.Sprintf("p99 %s", formatValue(p[1], "ms"))},
		m.cpuRow("replicas", end),
	}
	// The same load on one replica, right after, for the comparison the target asks.
	one, err := b.runPush(ctx)
	if err != nil {
		return nil, fmt.Errorf("replicas: one replica: %w", err)
	}
	return append(rows, row{Scenario: "replicas", Metric: "2 replicas vs 1 (pushes/s)", Value: 100 * rate / one[0].Value, Unit: "%",
		Target: atLeast(100), Note: fmt.Sprintf("one replica: %s", formatValue(one[0].Value, "ev/s"))}), nil
}
