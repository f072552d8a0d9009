package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/pgtest"
)

// The chaos scenario's worker processes are this test binary re-executed (see main).
func TestMain(m *testing.M) {
	if os.Getenv(chaosWorkerEnv) == "1" {
		os.Exit(chaosWorkerMain())
	}
	os.Exit(m.Run())
}

// TestChaosScenario runs the chaos scenario briefly on each store, with every kind of
// fault injected at least once, and requires every invariant of its table to hold: no
// acknowledged event lost, one run per event and matching workflow, every run finished,
// no step-run leased twice at once. (`go run ./bench --scenario chaos --duration 10m` is
// the long run.)
func TestChaosScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the engine and workers as processes for about a minute")
	}
	bin, err := buildHerald(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
			key := make([]byte, 32)
			rand.Read(key)
			cfg := benchConfig{Rate: 30, Workers: 2, Duration: 12 * time.Second,
				Store: storeOptions{SQLiteSynchronous: "FULL", masterKey: base64.StdEncoding.EncodeToString(key)},
				Chaos: chaosSettings{Interval: 1500 * time.Millisecond, HeraldBin: bin,
					actions: []chaosAction{chaosKillEngine, chaosKillWorker}, minAcked: 120}}
			if store == "postgres" {
				cfg.Store.DatabaseURL = pgtest.NewDatabase(t) // the scenario makes its own database on that server
				cfg.Chaos.actions = []chaosAction{chaosKillEngine, chaosTerminatePG, chaosKillWorker}
			}
			log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
			b := &bench{cfg: cfg, log: log, engLog: log}
			rows, err := b.runChaos(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			var sb strings.Builder
			writeTable(&sb, rows)
			t.Logf("\n%s", sb.String())
			if bad := failedInvariants(rows); len(bad) > 0 {
				t.Fatalf("invariants not met: %v", bad)
			}
			value := func(metric string) float64 {
				for _, r := range rows {
					if r.Metric == metric {
						return r.Value
					}
				}
				t.Fatalf("no row %q", metric)
				return 0
			}
			if value("acknowledged events") < 100 || value("engine SIGKILLs") < 1 || value("worker SIGKILLs") < 1 || value("step executions") < 100 {
				t.Fatal("the run did too little to prove anything")
			}
			if store == "postgres" && value("pg_terminate_backend rounds") < 1 {
				t.Fatal("no database connection was terminated")
			}
		})
	}
}
