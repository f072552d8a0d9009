package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/internal/server"
)

// The chaos scenario: see docs/architecture.md, "Chaos scenario".

// Defaults of the chaos scenario, where the shared flags are not set.
const (
	defaultChaosRate     = 100
	defaultChaosWorkers  = 3
	defaultChaosDuration = time.Minute
)

// Fixed settings of the chaos scenario.
const (
	// chaosLease and chaosSweep are the engine's --lease-duration and --sweep-interval:
	// short, so that leases of killed workers expire, and are re-leased, many times a run.
	chaosLease = 3 * time.Second
	chaosSweep = 100 * time.Millisecond
	// chaosProducerCount producers push the events; every fourth pushes bulks of chaosBulk events.
	chaosProducerCount = 8
	chaosBulk          = 10
	// chaosResolve bounds how long, after the run, a producer keeps retrying the push it
	// has in hand. Once the chaos stops, the runs get to finish as long as some run
	// finishes every chaosStall (a backlog on a busy machine takes minutes), and at most
	// chaosDrain in all.
	chaosResolve = 2 * time.Minute
	chaosStall   = 2 * time.Minute
	chaosDrain   = 30 * time.Minute
	// chaosStart bounds an engine start (healthy on /healthz).
	chaosStart = time.Minute
)

// chaosSettings are the settings of the chaos scenario alone (its flags).
type chaosSettings struct {
	// Interval is the mean time between chaos actions.
	Interval time.Duration
	// Seed seeds the chaos schedule; 0 takes one from the clock.
	Seed int64
	// HeraldBin is the herald binary; empty builds one.
	HeraldBin string
	// Keep keeps the run's directory even when every invariant held.
	Keep bool
	// actions, when set (tests), is the chaos schedule: the actions in order, repeated.
	actions []chaosAction
	// minAcked, when set (tests), makes the run go on past its duration, chaos included,
	// until that many events are acknowledged (at most four durations more): a loaded
	// machine pushes more slowly, and a run that did too little proves nothing.
	minAcked int
}

// chaosAction is one kind of fault the controller injects.
type chaosAction string

const (
	chaosKillEngine  chaosAction = "kill-engine"
	chaosKillWorker  chaosAction = "kill-worker"
	chaosTerminatePG chaosAction = "terminate-pg"
)

// chaosCounters are the faults injected and what they caused.
type chaosCounters struct {
	engineKills, engineStarts, workerKills, workerStarts atomic.Int64
	pgTerminations, pgBackends, vacuums                  atomic.Int64
	engineDiedAlone, workerDiedAlone                     atomic.Int64
	engineDown                                           atomic.Int64 // ns the engine was down, killed to healthy
}

// chaosRun is one run of the chaos scenario.
type chaosRun struct {
	b    *bench
	log  *slog.Logger
	dir  string // the run's directory: engine data, logs, worker records
	bin  string // herald binary
	self string // this program, re-executed as worker processes
	addr string // the engine's fixed address
	url  string // http://addr
	// dbURL is the engine's PostgreSQL database ("" for SQLite); pgBase the server's URL
	// the controller connects to for pg_terminate_backend.
	dbURL, dbName, pgBase string
	dropDB                func()
	// vacuum is set when the server's autovacuum is off: the controller then vacuums the
	// engine's database itself (vacuumLoop).
	vacuum    bool
	masterKey string
	token     string

	mu       sync.Mutex // guards rnd, engine, workers
	rnd      *rand.Rand
	engine   *childProc
	workers  []*childProc // by slot; nil while a killed worker waits to restart
	restarts sync.WaitGroup

	n chaosCounters
}

// runChaos runs the chaos scenario and returns its table. An invariant that fails shows
// as a row whose target is not met (main then exits non-zero); an error means the run
// itself could not be carried out.
func (b *bench) runChaos(ctx context.Context) ([]row, error) {
	s := b.cfg.Chaos
	seed := s.Seed
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	dir, err := os.MkdirTemp("", "herald-chaos-")
	if err != nil {
		return nil, err
	}
	c := &chaosRun{b: b, log: b.log, dir: dir, rnd: rand.New(rand.NewPCG(uint64(seed), 0)), masterKey: b.cfg.Store.masterKey}
	b.log.Info("chaos: starting", "dir", dir, "seed", seed)
	rows, keep, err := c.run(ctx)
	if c.dropDB != nil && !keep && err == nil && !s.Keep {
		c.dropDB()
	}
	if keep || err != nil || s.Keep {
		b.log.Info("chaos: keeping the run's directory (engine.log, worker-*.log, records/)", "dir", dir, "database", c.dbName)
	} else {
		os.RemoveAll(dir)
	}
	for i := range rows {
		rows[i].Scenario = "chaos"
	}
	if len(rows) > 0 {
		rows[0].Note = strings.TrimPrefix(rows[0].Note+fmt.Sprintf("; seed %d", seed), "; ")
	}
	return rows, err
}

// run sets up, runs the chaos, drains and accounts. keep says whether an invariant failed.
func (c *chaosRun) run(ctx context.Context) (rows []row, keep bool, err error) {
	cfg := c.b.cfg
	duration := cfg.Duration
	if duration == 0 {
		duration = defaultChaosDuration
	}
	defer c.stopAll()
	if err := c.setup(ctx); err != nil {
		return nil, true, err
	}
	client, err := herald.NewClient(herald.ClientConfig{URL: c.url, Token: c.token})
	if err != nil {
		return nil, true, err
	}
	// The workflows exist before the first push (the workers store the same definitions
	// again, which makes no new version).
	for _, wf := range chaosWorkflows(nil) {
		if _, _, err := client.PutWorkflow(ctx, wf.Definition()); err != nil {
			return nil, true, fmt.Errorf("storing workflow %s: %w", wf.Name, err)
		}
	}
	c.workers = make([]*childProc, cfg.Workers)
	for slot := range cfg.Workers {
		if err := c.startWorker(slot); err != nil {
			return nil, true, err
		}
	}

	c.log.Info("chaos: running", "duration", duration, "rate", cfg.Rate, "workers", cfg.Workers, "interval", cfg.Chaos.Interval,
		"store", cfg.Store.describe(), "engine", c.url)
	prod := newChaosProducers(c.url, c.token, cfg.Rate)
	pushCtx, stopPushing := context.WithCancel(ctx)
	resolveCtx, stopResolving := context.WithCancel(context.Background())
	defer stopResolving()
	prodDone := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(prodDone)
		prod.run(pushCtx, resolveCtx)
	}()
	if c.vacuum {
		vctx, stopVacuum := context.WithCancel(ctx)
		vacuumDone := make(chan struct{})
		go func() {
			defer close(vacuumDone)
			c.vacuumLoop(vctx)
		}()
		defer func() { stopVacuum(); <-vacuumDone }()
	}
	chaosCtx, stopChaos := context.WithTimeout(ctx, duration)
	defer stopChaos()
	if minAcked := cfg.Chaos.minAcked; minAcked > 0 {
		stopChaos()
		chaosCtx, stopChaos = context.WithTimeout(ctx, 5*duration)
		defer stopChaos()
		go func() {
			defer stopChaos()
			select {
			case <-time.After(duration):
			case <-chaosCtx.Done():
				return
			}
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for prod.ackCount() < minAcked {
				select {
				case <-tick.C:
				case <-chaosCtx.Done():
					return
				}
			}
		}()
	}
	chaosErr := c.chaos(chaosCtx)
	pushEnd := time.Now()
	stopPushing()
	c.restarts.Wait()
	if chaosErr == nil {
		chaosErr = c.revive(ctx)
	}
	// Producers finish the push they have in hand, retrying it (the engine is up now).
	select {
	case <-prodDone:
	case <-time.After(chaosResolve):
		stopResolving()
		<-prodDone
	}
	if chaosErr != nil {
		return nil, true, chaosErr
	}
	if ctx.Err() != nil {
		return nil, true, ctx.Err()
	}
	c.log.Info("chaos: chaos stopped, draining", "acknowledged", prod.ackCount(), "engine_kills", c.n.engineKills.Load(),
		"worker_kills", c.n.workerKills.Load(), "pg_terminations", c.n.pgTerminations.Load())

	drainStart := time.Now()
	drainErr := c.drain(ctx, client)
	drained := time.Since(drainStart)
	if drainErr != nil {
		c.log.Warn("chaos: runs did not all finish", "err", drainErr)
	}
	// Workers stop before their records are read; the engine stays up for the accounting.
	// Each must stop cleanly on SIGTERM (a worker built with -race, in the tests, exits
	// with a failure if it saw a data race).
	var unclean []string
	c.mu.Lock()
	for _, w := range c.workers {
		if w != nil && !w.exited() {
			if err := w.terminate(30 * time.Second); err != nil {
				unclean = append(unclean, err.Error())
			}
		}
	}
	c.mu.Unlock()
	files, err := filepath.Glob(filepath.Join(c.dir, "records", "*.jsonl"))
	if err != nil {
		return nil, true, err
	}
	leases, err := checkLeases(files)
	if err != nil {
		return nil, true, fmt.Errorf("reading worker records: %w", err)
	}
	acc, err := c.account(ctx, client, prod)
	if err != nil {
		return nil, true, fmt.Errorf("accounting: %w", err)
	}
	c.mu.Lock()
	if err := c.engine.terminate(30 * time.Second); err != nil {
		unclean = append(unclean, err.Error())
	}
	c.mu.Unlock()
	for _, u := range unclean {
		c.log.Error("chaos: a process did not stop cleanly", "err", u)
	}
	rows = c.table(prod, acc, leases, pushEnd.Sub(start), drained, drainErr, unclean)
	return rows, len(failedInvariants(rows)) > 0, nil
}

// setup builds (or finds) the herald binary, picks the engine's port and database, and
// starts the engine.
func (c *chaosRun) setup(ctx context.Context) error {
	var err error
	if c.self, err = os.Executable(); err != nil {
		return fmt.Errorf("finding this program to run workers: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(c.dir, "records"), 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(c.dir, "data"), 0o700); err != nil {
		return err
	}
	c.bin = c.b.cfg.Chaos.HeraldBin
	if c.bin == "" {
		c.log.Info("chaos: building herald")
		if c.bin, err = buildHerald(ctx, c.dir); err != nil {
			return err
		}
	}
	// A fixed port for every start of the engine: a free one now.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	c.addr = ln.Addr().String()
	ln.Close()
	c.url = "http://" + c.addr
	if base := c.b.cfg.Store.DatabaseURL; base != "" {
		if c.dbURL, c.dropDB, err = freshDatabase(ctx, base); err != nil {
			return err
		}
		c.pgBase = base
		if c.vacuum, err = autovacuumOff(ctx, base); err != nil {
			return err
		}
		if c.vacuum {
			c.log.Warn("chaos: autovacuum is off on this PostgreSQL server: the controller runs VACUUM ANALYZE on the engine's database every 30 s instead (without it, dead rows pile up and the engine slows down over a long run)")
		}
		u := c.dbURL
		c.dbName = u[strings.LastIndex(u, "/")+1:]
		if i := strings.IndexByte(c.dbName, '?'); i >= 0 {
			c.dbName = c.dbName[:i]
		}
	}
	if err := c.startEngine(ctx); err != nil {
		return err
	}
	tok, err := os.ReadFile(filepath.Join(c.dir, "data", server.TokenFile))
	if err != nil {
		return fmt.Errorf("reading the operator token: %w", err)
	}
	c.token = strings.TrimSpace(string(tok))
	return nil
}

// startEngine starts `herald serve` on the run's port and data and waits until it is
// healthy. A start that fails is tried again, for up to chaosStart.
func (c *chaosRun) startEngine(ctx context.Context) error {
	args := []string{"serve", "--addr", c.addr, "--data-dir", filepath.Join(c.dir, "data"),
		"--lease-duration", chaosLease.String(), "--sweep-interval", chaosSweep.String(), "--log-level", "warn"}
	env := childEnv()
	if c.dbURL != "" {
		args = append(args, "--database-url", c.dbURL)
		env = append(env, "HERALD_MASTER_KEY="+c.masterKey)
	}
	deadline := time.Now().Add(chaosStart)
	for {
		p, err := startChildProc("engine", c.bin, args, env, filepath.Join(c.dir, "engine.log"))
		if err != nil {
			return err
		}
		err = waitHealthy(ctx, c.url, p, time.Until(deadline))
		if err == nil {
			c.mu.Lock()
			c.engine = p
			c.mu.Unlock()
			c.n.engineStarts.Add(1)
			return nil
		}
		p.kill()
		if ctx.Err() != nil || time.Now().After(deadline) {
			return fmt.Errorf("%w: %v (see %s)", errEngineDown, err, filepath.Join(c.dir, "engine.log"))
		}
		c.log.Warn("chaos: engine start failed, trying again", "err", err)
		time.Sleep(200 * time.Millisecond)
	}
}

// startWorker starts the worker process of a slot.
func (c *chaosRun) startWorker(slot int) error {
	n := c.n.workerStarts.Add(1)
	name := fmt.Sprintf("chaos-w%d-%d", slot, n)
	env := childEnv(chaosWorkerEnv+"=1", "HERALD_URL="+c.url, "HERALD_TOKEN="+c.token,
		chaosRecordsEnv+"="+filepath.Join(c.dir, "records", name+".jsonl"), chaosWorkerNameEnv+"="+name)
	p, err := startChildProc(name, c.self, nil, env, filepath.Join(c.dir, fmt.Sprintf("worker-%d.log", slot)))
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.workers[slot] = p
	c.mu.Unlock()
	return nil
}

// chaos injects faults at random intervals until ctx ends. It returns an error only when
// the engine cannot be started again.
func (c *chaosRun) chaos(ctx context.Context) error {
	s := c.b.cfg.Chaos
	for i := 0; ; i++ {
		c.mu.Lock()
		wait := s.Interval/2 + time.Duration(c.rnd.Int64N(int64(s.Interval)))
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		if err := c.revive(ctx); err != nil {
			return err
		}
		var act chaosAction
		if len(s.actions) > 0 {
			act = s.actions[i%len(s.actions)]
		} else {
			acts := []chaosAction{chaosKillEngine, chaosKillWorker}
			if c.dbURL != "" {
				acts = append(acts, chaosTerminatePG)
			}
			c.mu.Lock()
			act = acts[c.rnd.IntN(len(acts))]
			c.mu.Unlock()
		}
		var err error
		switch act {
		case chaosKillEngine:
			err = c.killEngine()
		case chaosKillWorker:
			c.killWorker()
		case chaosTerminatePG:
			if c.dbURL != "" {
				err = c.terminateBackends(ctx)
			}
		}
		if err != nil {
			return err
		}
	}
}

// randDuration returns a random duration in [0, d).
func (c *chaosRun) randDuration(d time.Duration) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Duration(c.rnd.Int64N(int64(d)))
}

// killEngine SIGKILLs the engine, waits up to 5 s (longer than a lease, at times, so that
// leases expire while it is down), and starts it again on the same port and data.
func (c *chaosRun) killEngine() error {
	c.mu.Lock()
	e := c.engine
	c.mu.Unlock()
	e.kill()
	killed := time.Now()
	c.n.engineKills.Add(1)
	time.Sleep(c.randDuration(5 * time.Second))
	// Started even when the run is ending: the drain needs it.
	err := c.startEngine(context.Background())
	c.n.engineDown.Add(int64(time.Since(killed)))
	c.log.Info("chaos: engine killed and restarted", "down", time.Since(killed).Round(time.Millisecond))
	return err
}

// killWorker SIGKILLs a running worker process and starts another in its slot after up
// to 3 s (in the background: chaos goes on meanwhile).
func (c *chaosRun) killWorker() {
	c.mu.Lock()
	var up []int
	for i, w := range c.workers {
		if w != nil {
			up = append(up, i)
		}
	}
	if len(up) == 0 {
		c.mu.Unlock()
		return
	}
	slot := up[c.rnd.IntN(len(up))]
	w := c.workers[slot]
	c.workers[slot] = nil
	c.mu.Unlock()
	w.kill()
	c.n.workerKills.Add(1)
	c.log.Info("chaos: worker killed", "worker", w.name)
	delay := c.randDuration(3 * time.Second)
	c.restarts.Add(1)
	go func() {
		defer c.restarts.Done()
		time.Sleep(delay)
		if err := c.startWorker(slot); err != nil {
			c.log.Error("chaos: restarting a worker", "err", err)
		}
	}()
}

// terminateBackends terminates every connection of the engine's database
// (pg_terminate_backend), as a database failover or an administrator would.
func (c *chaosRun) terminateBackends(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, c.pgBase)
	if err != nil {
		c.log.Warn("chaos: connecting to PostgreSQL to terminate backends", "err", err)
		return nil
	}
	defer conn.Close(context.Background())
	var n int64
	err = conn.QueryRow(cctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = $1 AND pid <> pg_backend_pid()`, c.dbName).Scan(&n)
	if err != nil {
		c.log.Warn("chaos: terminating backends", "err", err)
		return nil
	}
	c.n.pgTerminations.Add(1)
	c.n.pgBackends.Add(n)
	c.log.Info("chaos: engine's database connections terminated", "backends", n)
	return nil
}

// autovacuumOff reports whether the PostgreSQL server of url runs without autovacuum.
func autovacuumOff(ctx context.Context, url string) (bool, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return false, fmt.Errorf("connecting to --database-url: %w", err)
	}
	defer conn.Close(context.Background())
	var on string
	if err := conn.QueryRow(ctx, "SHOW autovacuum").Scan(&on); err != nil {
		return false, fmt.Errorf("reading the autovacuum setting: %w", err)
	}
	return on != "on", nil
}

// vacuumLoop runs VACUUM ANALYZE on the engine's database every 30 s until ctx ends, as
// autovacuum would (for a server that has it off). A round that fails (its connection
// terminated by the chaos, say) is tried again at the next.
func (c *chaosRun) vacuumLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(30 * time.Second):
		}
		conn, err := pgx.Connect(ctx, c.dbURL)
		if err != nil {
			continue
		}
		if _, err := conn.Exec(ctx, "VACUUM (ANALYZE)"); err == nil {
			c.n.vacuums.Add(1)
		} else if ctx.Err() == nil {
			c.log.Info("chaos: VACUUM failed, trying again later", "err", err)
		}
		conn.Close(context.Background())
	}
}

// revive restarts the processes that exited without being killed (and counts them: the
// engine and the workers are meant to survive everything but SIGKILL).
func (c *chaosRun) revive(ctx context.Context) error {
	c.mu.Lock()
	e := c.engine
	var dead []int
	for i, w := range c.workers {
		if w != nil && w.diedAlone() {
			dead = append(dead, i)
			c.log.Error("chaos: a worker process exited on its own", "worker", w.name, "err", w.err, "log", filepath.Join(c.dir, fmt.Sprintf("worker-%d.log", i)))
		}
	}
	c.mu.Unlock()
	for _, slot := range dead {
		c.n.workerDiedAlone.Add(1)
		if err := c.startWorker(slot); err != nil {
			return err
		}
	}
	if e.diedAlone() {
		c.n.engineDiedAlone.Add(1)
		c.log.Error("chaos: the engine exited on its own", "err", e.err, "log", filepath.Join(c.dir, "engine.log"))
		return c.startEngine(ctx)
	}
	return nil
}

// stopAll stops the engine and any worker still running.
func (c *chaosRun) stopAll() {
	c.restarts.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, w := range c.workers {
		if w != nil && !w.exited() {
			w.kill()
		}
	}
	if c.engine != nil && !c.engine.exited() {
		if err := c.engine.terminate(30 * time.Second); err != nil {
			c.log.Warn("chaos: stopping the engine", "err", err)
		}
	}
}

// drain waits until no run is queued or running. It gives up when no run has ended for
// chaosStall (work is stuck: the table then shows runs unfinished), or after chaosDrain.
func (c *chaosRun) drain(ctx context.Context, client *herald.Client) error {
	start, progress := time.Now(), time.Now()
	ended := -1.0
	for {
		busy := false
		for _, st := range []string{herald.StatusQueued, herald.StatusRunning} {
			page, err := client.ListRuns(ctx, herald.ListRunsParams{Status: st, Limit: 1})
			if err != nil {
				return err
			}
			busy = busy || len(page.Items) > 0
		}
		if !busy {
			return nil
		}
		if n, err := c.runsEnded(ctx); err != nil {
			return err
		} else if n != ended {
			ended, progress = n, time.Now()
		}
		switch {
		case time.Since(progress) > chaosStall:
			return fmt.Errorf("runs still queued or running, and none ended for %s", chaosStall)
		case time.Since(start) > chaosDrain:
			return fmt.Errorf("runs still queued or running %s after the chaos stopped", chaosDrain)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// runsEnded reads the engine's count of ended runs (herald_runs_total, every status) from
// its Prometheus metrics; it counts from the engine's last start.
func (c *chaosRun) runsEnded(ctx context.Context) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("reading metrics: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("reading metrics: HTTP %d: %v", resp.StatusCode, err)
	}
	var n float64
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, "herald_runs_total{") {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			return 0, fmt.Errorf("reading metrics: %q: %w", line, err)
		}
		n += v
	}
	return n, nil
}

// chaosAck is an acknowledged push: the event's idempotency key and the runs the reply
// listed, by workflow.
type chaosAck struct {
	key  string
	runs map[string]string
}

// chaosProducers push events at a steady rate, each event with its own idempotency key,
// and retry a push until it is acknowledged (a 2xx reply): on connection errors, 429,
// 5xx. Retrying with the same key is what resolves a push whose reply was lost: the
// engine answers the original event (duplicate), stored once.
type chaosProducers struct {
	hc         *http.Client
	base, auth string
	rate       int

	mu   sync.Mutex
	acks map[string]chaosAck // by event id
	// keyEvent maps each acknowledged key to its event id; conflicts lists keys
	// acknowledged with two event ids, or two keys acknowledged as one event.
	keyEvent   map[string]string
	conflicts  []string
	unresolved map[string]bool // keys never acknowledged (the push was given up)
	refused    []string        // first refusals (4xx other than 429), for the report

	sent, attempts, duplicates                                       atomic.Int64
	errConn, errTimeout, err429, err503, err5xx, err4xx, errDecoding atomic.Int64
}

func newChaosProducers(url, token string, rate int) *chaosProducers {
	hc := newHTTPClient(2 * chaosProducerCount)
	hc.Timeout = 30 * time.Second
	return &chaosProducers{hc: hc, base: url + "/api/v1", auth: "Bearer " + token, rate: rate,
		acks: map[string]chaosAck{}, keyEvent: map[string]string{}, unresolved: map[string]bool{}}
}

// ackCount returns the number of acknowledged events.
func (p *chaosProducers) ackCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.acks)
}

// run pushes until pushCtx ends; a push in hand then is retried until it is acknowledged
// or resolveCtx ends.
func (p *chaosProducers) run(pushCtx, resolveCtx context.Context) {
	var wg sync.WaitGroup
	for i := range chaosProducerCount {
		batch := 1
		if i%4 == 3 {
			batch = chaosBulk
		}
		// Each producer's share of the rate, in pushes of batch events.
		interval := time.Duration(float64(time.Second) * float64(batch*chaosProducerCount) / float64(p.rate))
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(interval) // drops ticks while a push is retried
			defer t.Stop()
			for n := 0; ; n++ {
				select {
				case <-pushCtx.Done():
					return
				case <-t.C:
				}
				keys := make([]string, batch)
				for j := range keys {
					keys[j] = fmt.Sprintf("p%d-%d-%d", i, n, j)
				}
				p.push(resolveCtx, keys)
			}
		}()
	}
	wg.Wait()
}

// chaosEventJSON is one event of a push: the idempotency key is also in the payload, so
// that a stored event can be matched to its push.
func chaosEventJSON(key string) string {
	return `{"key":"` + chaosKey + `","idempotency_key":"` + key + `","payload":{"ik":"` + key + `"}}`
}

// push pushes the events of keys (one push, or a bulk push of several) until acknowledged.
func (p *chaosProducers) push(ctx context.Context, keys []string) {
	path, body := "/events", chaosEventJSON(keys[0])
	if len(keys) > 1 {
		evs := make([]string, len(keys))
		for i, k := range keys {
			evs[i] = chaosEventJSON(k)
		}
		path, body = "/events/bulk", `{"events":[`+strings.Join(evs, ",")+`]}`
	}
	p.sent.Add(int64(len(keys)))
	for attempt := 0; ; attempt++ {
		p.attempts.Add(1)
		status, reply, retryAfter, err := p.post(ctx, path, body)
		wait := min(50*time.Millisecond<<min(attempt, 5), time.Second)
		switch {
		case err != nil:
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				p.errTimeout.Add(1)
			} else {
				p.errConn.Add(1)
			}
		case status >= 200 && status < 300:
			if err := p.record(keys, reply); err != nil {
				p.errDecoding.Add(1)
				p.giveUp(keys, fmt.Sprintf("%s: %v", path, err))
			}
			return
		case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable:
			if status == http.StatusTooManyRequests {
				p.err429.Add(1)
			} else {
				p.err503.Add(1)
			}
			if retryAfter > 0 {
				wait = min(retryAfter, time.Second)
			}
		case status >= 500:
			p.err5xx.Add(1)
		default:
			p.err4xx.Add(1)
			p.giveUp(keys, fmt.Sprintf("%s: HTTP %d: %s", path, status, bytes.TrimSpace(reply)))
			return
		}
		select {
		case <-ctx.Done():
			p.giveUp(keys, "")
			return
		case <-time.After(wait):
		}
	}
}

// giveUp records keys as never acknowledged.
func (p *chaosProducers) giveUp(keys []string, why string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, k := range keys {
		p.unresolved[k] = true
	}
	if why != "" && len(p.refused) < 5 {
		p.refused = append(p.refused, why)
	}
}

// post sends one request and returns the reply's status, body and Retry-After.
func (p *chaosProducers) post(ctx context.Context, path, body string) (int, []byte, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.base+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, 0, err
	}
	req.Header.Set("Authorization", p.auth)
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.hc.Do(req)
	if err != nil {
		return 0, nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, 0, err // a reply cut short is no acknowledgement
	}
	var ra time.Duration
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		ra = time.Duration(s) * time.Second
	}
	return resp.StatusCode, b, ra, nil
}

// record records the acknowledgement of keys from a 2xx reply.
func (p *chaosProducers) record(keys []string, reply []byte) error {
	var results []herald.PushResult
	if len(keys) == 1 {
		var r herald.PushResult
		if err := json.Unmarshal(reply, &r); err != nil {
			return err
		}
		results = []herald.PushResult{r}
	} else {
		var r struct {
			Items []herald.PushResult `json:"items"`
		}
		if err := json.Unmarshal(reply, &r); err != nil {
			return err
		}
		results = r.Items
	}
	if len(results) != len(keys) {
		return fmt.Errorf("%d results for %d events", len(results), len(keys))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, r := range results {
		k := keys[i]
		if r.Duplicate {
			p.duplicates.Add(1)
		}
		if r.Event.ID == "" {
			return errors.New("a result without an event id")
		}
		runs := map[string]string{}
		for _, run := range r.Runs {
			if _, dup := runs[run.Workflow]; dup {
				runs[run.Workflow] += "," + run.RunID // two runs of one workflow: flagged by the accounting
				continue
			}
			runs[run.Workflow] = run.RunID
		}
		if prev, ok := p.acks[r.Event.ID]; ok && prev.key != k {
			p.conflicts = append(p.conflicts, fmt.Sprintf("keys %s and %s acknowledged as one event %s", prev.key, k, r.Event.ID))
		}
		if prev, ok := p.keyEvent[k]; ok && prev != r.Event.ID {
			p.conflicts = append(p.conflicts, fmt.Sprintf("key %s acknowledged as events %s and %s", k, prev, r.Event.ID))
		}
		p.keyEvent[k] = r.Event.ID
		p.acks[r.Event.ID] = chaosAck{key: k, runs: runs}
	}
	return nil
}

// chaosAccount is what the engine stored, compared with what was acknowledged.
type chaosAccount struct {
	stored         int
	missing        []string // acknowledged event ids not stored
	unacknowledged int      // stored events whose push was never acknowledged (given up)
	unexplained    []string // stored events that match no push
	storedTwice    []string // idempotency keys stored as two events
	badRuns        []string // events without exactly one run per matching workflow, or other runs than the reply's
	runs           int
	orphanRuns     []string // runs of no stored event's trigger
	succeeded      int
	failed         []string // failed or cancelled runs, with their error
	unfinished     int
}

// account reads every chaos event and run back from the engine and compares them with
// the acknowledgements.
func (c *chaosRun) account(ctx context.Context, client *herald.Client, p *chaosProducers) (*chaosAccount, error) {
	a := &chaosAccount{}
	want := []string{chaosFulfil, chaosNotify}
	storedByKey := map[string]string{}
	eventRuns := map[string]string{} // run id → event id, from the events' triggers
	storedIDs := map[string]bool{}
	for cursor := ""; ; {
		page, err := client.ListEvents(ctx, herald.ListEventsParams{Cursor: cursor, Limit: 500}) // every event: the engine has only the scenario's
		if err != nil {
			return nil, err
		}
		for _, ev := range page.Items {
			a.stored++
			storedIDs[ev.ID] = true
			var pl struct {
				IK string `json:"ik"`
			}
			_ = json.Unmarshal(ev.Payload, &pl)
			if prev, dup := storedByKey[pl.IK]; dup {
				a.storedTwice = append(a.storedTwice, fmt.Sprintf("key %s: events %s and %s", pl.IK, prev, ev.ID))
			}
			storedByKey[pl.IK] = ev.ID
			ack, acked := p.acks[ev.ID]
			switch {
			case acked && ack.key != pl.IK:
				a.unexplained = append(a.unexplained, fmt.Sprintf("event %s stored with key %s, acknowledged for key %s", ev.ID, pl.IK, ack.key))
			case !acked && p.unresolved[pl.IK]:
				a.unacknowledged++
			case !acked:
				a.unexplained = append(a.unexplained, fmt.Sprintf("event %s (key %q) was never pushed, or its push was acknowledged as another event", ev.ID, pl.IK))
			}
			got := map[string]string{}
			var problems []string
			for _, tr := range ev.Triggers {
				switch {
				case tr.RunID == "":
					problems = append(problems, fmt.Sprintf("%s skipped (%s)", tr.Workflow, tr.Skipped))
				case got[tr.Workflow] != "":
					problems = append(problems, fmt.Sprintf("two runs of %s", tr.Workflow))
				default:
					got[tr.Workflow] = tr.RunID
					eventRuns[tr.RunID] = ev.ID
				}
			}
			for _, wf := range want {
				if got[wf] == "" {
					problems = append(problems, "no run of "+wf)
				}
			}
			if len(got) != len(want) {
				problems = append(problems, fmt.Sprintf("%d runs", len(got)))
			}
			if acked && !mapsEqual(got, ack.runs) {
				problems = append(problems, fmt.Sprintf("runs %v, the reply listed %v", got, ack.runs))
			}
			if len(problems) > 0 {
				a.badRuns = append(a.badRuns, fmt.Sprintf("event %s: %s", ev.ID, strings.Join(slices.Compact(problems), "; ")))
			}
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	for id := range p.acks {
		if !storedIDs[id] {
			a.missing = append(a.missing, id)
		}
	}
	for cursor := ""; ; {
		page, err := client.ListRuns(ctx, herald.ListRunsParams{Cursor: cursor, Limit: 500})
		if err != nil {
			return nil, err
		}
		for _, r := range page.Items {
			a.runs++
			if eventRuns[r.ID] != r.EventID || r.EventID == "" {
				a.orphanRuns = append(a.orphanRuns, fmt.Sprintf("run %s of %s (event %s)", r.ID, r.Workflow, r.EventID))
			}
			switch r.Status {
			case herald.StatusSucceeded:
				a.succeeded++
			case herald.StatusFailed, herald.StatusCancelled:
				a.failed = append(a.failed, fmt.Sprintf("run %s of %s %s: %s", r.ID, r.Workflow, r.Status, r.Error))
			default:
				a.unfinished++
			}
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	slices.Sort(a.missing)
	return a, nil
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// firstFew joins up to three of xs for a table note.
func firstFew(xs []string) string {
	if len(xs) == 0 {
		return ""
	}
	s := strings.Join(xs[:min(3, len(xs))], "; ")
	if len(xs) > 3 {
		s += fmt.Sprintf("; and %d more", len(xs)-3)
	}
	return s
}

// table builds the report of a chaos run.
func (c *chaosRun) table(p *chaosProducers, a *chaosAccount, l *leaseCheck, pushed, drained time.Duration, drainErr error, unclean []string) []row {
	acked := float64(len(p.acks))
	inv := func(metric string, v float64, unit string, want float64, note string) row {
		if v != want {
			note = "**" + strings.TrimSpace(note) + "**"
		}
		return row{Metric: metric, Value: v, Unit: unit, Target: exactly(want), Note: note, Invariant: true}
	}
	info := func(metric string, v float64, unit, note string) row {
		return row{Metric: metric, Value: v, Unit: unit, Note: note}
	}
	producerErrs := p.errConn.Load() + p.errTimeout.Load() + p.err429.Load() + p.err503.Load() + p.err5xx.Load() + p.err4xx.Load() + p.errDecoding.Load()
	storedNote := fmt.Sprintf("%d acknowledged not stored; %d stored for pushes given up", len(a.missing), a.unacknowledged)
	if len(a.missing) > 0 {
		storedNote += ": lost " + firstFew(a.missing)
	}
	if len(a.unexplained)+len(a.storedTwice) > 0 {
		storedNote += "; " + firstFew(append(slices.Clone(a.unexplained), a.storedTwice...))
	}
	downNote := fmt.Sprintf("%d starts, down %s in all", c.n.engineStarts.Load(), time.Duration(c.n.engineDown.Load()).Round(time.Millisecond))
	rows := []row{
		info("acknowledged events", acked, "events", fmt.Sprintf("%s pushed in %s at %.0f/s (target %d/s: a producer waits while the engine is down; %d producers, a quarter in bulks of %d); %d acknowledged by a retry whose first reply was lost (duplicate: true)",
			thousands(p.sent.Load()), pushed.Round(time.Second), perSecond(int(p.sent.Load()), pushed), p.rate, chaosProducerCount, chaosBulk, p.duplicates.Load())),
		inv("stored events (= acknowledged)", float64(a.stored), "events", acked+float64(a.unacknowledged), storedNote),
		inv("acknowledged events lost", float64(len(a.missing)), "events", 0, firstFew(a.missing)),
		inv("pushes never acknowledged", float64(len(p.unresolved)), "events", 0, firstFew(p.refused)),
		inv("idempotency keys stored twice or acknowledged as another event", float64(len(a.storedTwice)+len(p.conflicts)), "", 0, firstFew(append(slices.Clone(a.storedTwice), p.conflicts...))),
		inv("events without exactly one run per matching workflow", float64(len(a.badRuns)), "events", 0, firstFew(a.badRuns)),
		inv("runs (= 2 per stored event)", float64(a.runs), "runs", float64(2*a.stored), firstFew(a.orphanRuns)),
		inv("runs finished", float64(a.succeeded+len(a.failed)), "runs", float64(a.runs), fmt.Sprintf("%d succeeded, %d failed; drained in %s%s", a.succeeded, len(a.failed), drained.Round(100*time.Millisecond), errNote(drainErr))),
		inv("runs failed", float64(len(a.failed)), "runs", 0, firstFew(a.failed)),
		inv("step-runs leased to two workers at once", float64(l.violations()), "", 0, strings.TrimSuffix(fmt.Sprintf("%s leases of %s step-runs checked; %s",
			thousands(int64(l.Leases)), thousands(int64(l.StepRuns)), firstFew(append(overlapStrings(l.Overlaps), l.RegrantedLeases...))), "; ")),
		inv("step-runs completed twice, or leased after completing", float64(len(l.Recompleted)), "", 0, firstFew(l.Recompleted)),
		info("step executions", float64(l.Executions), "", fmt.Sprintf("%d attempts ran again after their lease was lost (at-least-once); %d leases taken back at a heartbeat; %d late results refused with 409; %d results with no reply",
			l.Rerun, l.Revoked, l.Refused, l.Unknown)),
		info("engine SIGKILLs", float64(c.n.engineKills.Load()), "", downNote),
		info("worker SIGKILLs", float64(c.n.workerKills.Load()), "", fmt.Sprintf("%d worker processes started, %d slots", c.n.workerStarts.Load(), len(c.workers))),
		inv("processes that exited on their own", float64(c.n.engineDiedAlone.Load()+c.n.workerDiedAlone.Load()), "", 0,
			fmt.Sprintf("engine %d, workers %d", c.n.engineDiedAlone.Load(), c.n.workerDiedAlone.Load())),
		inv("processes that did not stop cleanly on SIGTERM at the end", float64(len(unclean)), "", 0, firstFew(unclean)),
		info("producer errors, retried", float64(producerErrs), "", fmt.Sprintf("%d push attempts: %d connection, %d timeout, %d 503, %d 429, %d other 5xx, %d 4xx, %d undecodable",
			p.attempts.Load(), p.errConn.Load(), p.errTimeout.Load(), p.err503.Load(), p.err429.Load(), p.err5xx.Load(), p.err4xx.Load(), p.errDecoding.Load())),
	}
	if c.dbURL != "" {
		note := fmt.Sprintf("%d engine backends terminated", c.n.pgBackends.Load())
		if c.vacuum {
			note += fmt.Sprintf("; autovacuum is off on this server: %d VACUUM ANALYZE rounds by the controller", c.n.vacuums.Load())
		}
		rows = append(rows, info("pg_terminate_backend rounds", float64(c.n.pgTerminations.Load()), "", note))
	}
	if l.Orphans+l.TornLines > 0 {
		rows = append(rows, info("worker records without their grant, torn", float64(l.Orphans), "", fmt.Sprintf("%d torn last lines", l.TornLines)))
	}
	return rows
}

func errNote(err error) string {
	if err == nil {
		return ""
	}
	return ": " + err.Error()
}

func overlapStrings(overlaps []leaseOverlap) []string {
	out := make([]string, len(overlaps))
	for i, o := range overlaps {
		out[i] = o.String()
	}
	return out
}
