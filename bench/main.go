// Command bench measures a real Herald engine: it starts the engine in-process on a
// fresh SQLite store in a temporary directory, drives it over HTTP on loopback, and
// prints a markdown table of the measurements next to their targets.
//
// Scenarios (each on its own fresh engine):
//
//   - push: single-event pushes (POST /api/v1/events) by --concurrency closed-loop
//     producers, one workflow matching the key;
//   - bulk: bulk pushes (POST /api/v1/events/bulk) of --bulk-size events, --bulk-concurrency
//     requests at a time;
//   - latency: push → first-step-start latency at --rate events/s, open-loop, measured at a
//     Go SDK worker polling over HTTP from the push time carried in the payload;
//   - complete: completed single-step runs per second, events bulk-pushed while SDK
//     workers run the steps;
//   - replicas (PostgreSQL only): single-event pushes through two replicas on one database;
//   - webhook: verified webhook deliveries per second;
//   - dashboard: dashboard page times over 100,000 stored events;
//   - match: single-event pushes with 10 workflows and with 10,000 (exact keys, wildcard
//     patterns, CEL trigger expressions and runtime filters), and their ratio;
//   - graphql: sendCustomEvent mutations (POST /graphql) next to REST single pushes of the
//     same event on the same engine, and their ratio.
//
// One scenario checks correctness rather than speed, and runs only when named:
//
//   - chaos: the herald binary runs as a child process (`herald serve`), and so do SDK
//     workers; producers push at --rate while a controller SIGKILLs and restarts the
//     engine and the workers at random intervals and, on PostgreSQL, terminates the
//     engine's database connections; at the end it accounts acknowledged events against
//     stored ones, runs per event, finished runs and leases held twice (chaos.go). It
//     exits non-zero when an invariant fails.
//
// Usage:
//
//	go run ./bench [--scenario all|push|bulk|latency|complete|...|graphql] [--events N] [--concurrency N]
//	    [--rate N] [--duration D] [--sqlite-synchronous FULL|NORMAL] [--keep] [--cpuprofile FILE]
//	go run ./bench --scenario chaos [--database-url URL] [--duration 10m] [--rate 100]
//	    [--workers 3] [--chaos-interval 5s] [--seed N] [--herald-bin PATH]
//
// Progress goes to stderr (log/slog), the table to stdout. The generator, the worker and
// the engine share the machine's cores: the CPU column says how much the process used.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strings"
	"time"
)

func main() {
	if os.Getenv(chaosWorkerEnv) == "1" {
		os.Exit(chaosWorkerMain()) // a worker process of the chaos scenario
	}
	var cfg benchConfig
	var keep bool
	var repeat int
	var cpuProfile, tracePath, logLevel string
	flag.StringVar(&cfg.Scenario, "scenario", "all", "scenario to run: all, push, bulk, latency, complete, replicas (PostgreSQL only), webhook, dashboard, match or graphql; or chaos (not part of all)")
	flag.IntVar(&cfg.Events, "events", 0, "events per count-based scenario (0: push 20000, bulk 200000, complete 20000)")
	flag.IntVar(&cfg.Concurrency, "concurrency", 64, "concurrent producers of the push scenario")
	flag.IntVar(&cfg.BulkSize, "bulk-size", 1000, "events per bulk request (1-1000)")
	flag.IntVar(&cfg.BulkConcurrency, "bulk-concurrency", 4, "concurrent bulk requests (bulk and complete scenarios)")
	flag.IntVar(&cfg.Rate, "rate", 500, "open-loop push rate of the latency scenario, events/s (chaos: 100 unless set)")
	flag.DurationVar(&cfg.Duration, "duration", 0, "run push and bulk for this long instead of --events; length of the latency scenario (0: 10s) and of the chaos scenario (0: 1m)")
	flag.IntVar(&cfg.Workers, "workers", 1, "SDK workers in the latency and complete scenarios (chaos: worker processes, 3 unless set)")
	flag.DurationVar(&cfg.Chaos.Interval, "chaos-interval", 5*time.Second, "chaos: mean time between two chaos actions (each waits a random 0.5-1.5 times this)")
	flag.Int64Var(&cfg.Chaos.Seed, "seed", 0, "chaos: seed of the random chaos schedule (0: from the clock; the seed used is printed)")
	flag.StringVar(&cfg.Chaos.HeraldBin, "herald-bin", "", "chaos: the herald binary to run (default: go build ./cmd/herald into the run's directory)")
	flag.IntVar(&cfg.Slots, "slots", 1000, "slots of each SDK worker")
	flag.StringVar(&cfg.Store.SQLiteSynchronous, "sqlite-synchronous", "FULL", "SQLite synchronous pragma: FULL (server default) or NORMAL")
	flag.StringVar(&cfg.Store.DatabaseURL, "database-url", "", "run the engines on PostgreSQL (a fresh database per engine on this server) and add the two-replica scenario")
	flag.IntVar(&repeat, "repeat", 1, "run each scenario this many times (each on a fresh engine) and report the median")
	flag.BoolVar(&keep, "keep", false, "keep the temporary data directory")
	flag.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run (engine, generator, worker) to this file")
	flag.StringVar(&tracePath, "trace", "", "write a runtime execution trace of the whole run to this file (go tool trace)")
	flag.StringVar(&logLevel, "engine-log", "warn", "level of the engine's and workers' own logs on stderr: debug, info, warn, error or off")
	flag.Parse()
	if cfg.Scenario == "chaos" {
		set := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["rate"] {
			cfg.Rate = defaultChaosRate
		}
		if !set["workers"] {
			cfg.Workers = defaultChaosWorkers
		}
	}

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if err := run(cfg, repeat, keep, profiles{CPU: cpuProfile, Trace: tracePath}, logLevel, log, os.Stdout); err != nil {
		log.Error("bench failed", "err", err)
		os.Exit(1)
	}
}

// scenarioNames lists the scenarios in the order "all" runs them, then those "all" leaves
// out (onlyNamed).
func scenarioNames() []string {
	return []string{"push", "bulk", "latency", "complete", "replicas", "webhook", "dashboard", "match", "graphql", "chaos"}
}

// onlyNamed reports whether a scenario runs only when --scenario names it: chaos checks
// invariants for minutes rather than measuring.
func onlyNamed(name string) bool { return name == "chaos" }

// validate checks the configuration and names the bad flag.
func (c benchConfig) validate() error {
	switch {
	case c.Scenario != "all" && !slices.Contains(scenarioNames(), c.Scenario):
		return fmt.Errorf("--scenario: must be all, %s; not %q", strings.Join(scenarioNames(), ", "), c.Scenario)
	case c.Events < 0:
		return fmt.Errorf("--events: must not be negative")
	case c.Concurrency < 1:
		return fmt.Errorf("--concurrency: must be at least 1")
	case c.BulkSize < 1 || c.BulkSize > 1000:
		return fmt.Errorf("--bulk-size: must be between 1 and 1000")
	case c.BulkConcurrency < 1:
		return fmt.Errorf("--bulk-concurrency: must be at least 1")
	case c.Rate < 1 || c.Rate > 1_000_000:
		return fmt.Errorf("--rate: must be between 1 and 1000000")
	case c.Duration < 0:
		return fmt.Errorf("--duration: must not be negative")
	case c.Workers < 1:
		return fmt.Errorf("--workers: must be at least 1")
	case c.Slots < 1 || c.Slots > 1000:
		return fmt.Errorf("--slots: must be between 1 and 1000")
	case c.Store.SQLiteSynchronous != "FULL" && c.Store.SQLiteSynchronous != "NORMAL":
		return fmt.Errorf("--sqlite-synchronous: must be FULL or NORMAL, not %q", c.Store.SQLiteSynchronous)
	case c.Chaos.Interval < 100*time.Millisecond:
		return fmt.Errorf("--chaos-interval: must be at least 100ms")
	}
	return nil
}

// run runs the selected scenarios and writes the table to out.
func run(cfg benchConfig, repeat int, keep bool, prof profiles, engineLogLevel string, log *slog.Logger, out io.Writer) error {
	cfg.Store.SQLiteSynchronous = strings.ToUpper(cfg.Store.SQLiteSynchronous)
	if err := cfg.validate(); err != nil {
		return err
	}
	if repeat < 1 {
		return fmt.Errorf("--repeat: must be at least 1")
	}
	if repeat > 1 && cfg.Scenario == "chaos" {
		return fmt.Errorf("--repeat: the chaos scenario runs once (run it again to repeat it)")
	}
	cfg.Chaos.Keep = keep
	engLog, err := engineLogger(engineLogLevel)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	dir, err := os.MkdirTemp("", "herald-bench-")
	if err != nil {
		return err
	}
	cfg.Dir = dir
	if keep {
		log.Info("keeping data directory", "dir", dir)
	} else {
		defer os.RemoveAll(dir)
	}

	stopProfiles, err := prof.start()
	if err != nil {
		return err
	}
	defer stopProfiles()

	loadBefore := loadAverage()
	log.Info("starting", "scenario", cfg.Scenario, "load_average", loadBefore)
	key := make([]byte, 32)
	rand.Read(key)
	cfg.Store.masterKey = base64.StdEncoding.EncodeToString(key)
	b := &bench{cfg: cfg, log: log, engLog: engLog}
	runners := map[string]func(context.Context) ([]row, error){
		"push": b.runPush, "bulk": b.runBulk, "latency": b.runLatency, "complete": b.runComplete, "replicas": b.runReplicas,
		"webhook": b.runWebhook, "dashboard": b.runDashboard, "match": b.runMatch, "graphql": b.runGraphQL, "chaos": b.runChaos,
	}
	var rows []row
	var failed []string
	for _, name := range scenarioNames() {
		if name == "replicas" && cfg.Store.DatabaseURL == "" {
			continue // two replicas need a shared database
		}
		if cfg.Scenario != name && (cfg.Scenario != "all" || onlyNamed(name)) {
			continue
		}
		var reps [][]row
		for rep := range repeat {
			if repeat > 1 {
				log.Info("repetition", "scenario", name, "run", rep+1, "of", repeat)
			}
			rs, err := runners[name](ctx)
			if err != nil {
				if ctx.Err() != nil {
					return err
				}
				log.Error("scenario failed", "scenario", name, "err", err)
				failed = append(failed, name)
				reps = nil
				rows = append(rows, row{Scenario: name, Metric: "error", Value: math.NaN(), Note: err.Error()})
				break
			}
			reps = append(reps, rs)
		}
		rows = append(rows, medianRows(reps)...)
	}

	fmt.Fprintf(out, "Herald benchmark — %s, GOMAXPROCS=%d (%d CPUs), %s/%s, %s, %s, load average before %s, after %s\n\n",
		runtime.Version(), runtime.GOMAXPROCS(0), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH,
		cfg.Store.describe(), time.Now().UTC().Format(time.RFC3339), loadBefore, loadAverage())
	writeTable(out, rows)
	if len(failed) > 0 {
		return fmt.Errorf("scenarios failed: %s", strings.Join(failed, ", "))
	}
	if bad := failedInvariants(rows); len(bad) > 0 {
		return fmt.Errorf("invariants not met: %s", strings.Join(bad, "; "))
	}
	return nil
}

// profiles names the profile files to write; empty means none.
type profiles struct {
	// CPU is the CPU profile (--cpuprofile).
	CPU string
	// Trace is the execution trace (--trace).
	Trace string
}

// start starts the profiles; the returned function stops them and closes the files.
func (p profiles) start() (stop func(), err error) {
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	if p.CPU != "" {
		f, err := os.Create(p.CPU)
		if err != nil {
			return stop, fmt.Errorf("--cpuprofile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return stop, fmt.Errorf("--cpuprofile: %w", err)
		}
		stops = append(stops, func() { pprof.StopCPUProfile(); f.Close() })
	}
	if p.Trace != "" {
		f, err := os.Create(p.Trace)
		if err != nil {
			stop()
			return func() {}, fmt.Errorf("--trace: %w", err)
		}
		if err := trace.Start(f); err != nil {
			f.Close()
			stop()
			return func() {}, fmt.Errorf("--trace: %w", err)
		}
		stops = append(stops, func() { trace.Stop(); f.Close() })
	}
	return stop, nil
}

// engineLogger returns the logger given to the engine and the workers.
func engineLogger(level string) (*slog.Logger, error) {
	if level == "off" {
		return slog.New(slog.DiscardHandler), nil
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--engine-log: %w", err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})).With("from", "herald"), nil
}
