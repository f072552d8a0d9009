// Package metrics exposes Herald's Prometheus metrics. Each server creates its own
// registry (no global state); Metrics implements engine.Observer, so the engine reports
// into it without knowing Prometheus.
//
// Metric names (all documented in docs/architecture.md):
//
//	herald_events_ingested_total{source}          counter   events committed, by source (api, run, webhook, replay)
//	herald_runs_total{status}                     counter   runs that ended, by status (succeeded, failed, cancelled)
//	herald_step_queue_seconds                     histogram time from a step-run being ready to its claim by a worker
//	herald_step_execution_seconds{outcome}        histogram time from claim to result (succeeded, failed)
//	herald_queue_depth                            gauge     step-runs waiting in the queue (all tenants)
//	herald_webhook_verification_failures_total    counter   webhook deliveries refused for a bad signature or credentials
//	herald_store_commit_seconds{op}               histogram store transactions of the write paths (ingest, finish, expire)
//	herald_store_commit_errors_total{op}          counter   those transactions that failed
//
// plus the Go runtime and process collectors (go_*, process_*).
package metrics

import (
	"context"
	"log/slog"
	"math"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is a registry with Herald's collectors.
type Metrics struct {
	reg             *prometheus.Registry
	eventsIngested  *prometheus.CounterVec
	runsFinished    *prometheus.CounterVec
	stepQueue       prometheus.Histogram
	stepExecution   *prometheus.HistogramVec
	storeCommit     *prometheus.HistogramVec
	storeErrors     *prometheus.CounterVec
	webhookFailures prometheus.Counter
}

// New creates a registry with Herald's collectors, the Go runtime's and the process's.
// queueDepths, when not nil, is called at each scrape for herald_queue_depth (the sum
// over tenants).
func New(queueDepths func(ctx context.Context) (map[string]int, error), log *slog.Logger) *Metrics {
	if log == nil {
		log = slog.Default()
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		eventsIngested: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_events_ingested_total", Help: "Events committed, by source (api, run, webhook, replay).",
		}, []string{"source"}),
		runsFinished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_runs_total", Help: "Runs that ended, by final status (succeeded, failed, cancelled).",
		}, []string{"status"}),
		stepQueue: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "herald_step_queue_seconds", Help: "Time from a step-run becoming ready to its claim by a worker.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}),
		stepExecution: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "herald_step_execution_seconds", Help: "Time from a step's claim to its result, by outcome (succeeded, failed).",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 1800},
		}, []string{"outcome"}),
		storeCommit: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "herald_store_commit_seconds", Help: "Store transactions of the write paths, by operation (ingest, finish, expire).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"op"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_store_commit_errors_total", Help: "Store transactions of the write paths that failed, by operation.",
		}, []string{"op"}),
		webhookFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_webhook_verification_failures_total", Help: "Webhook deliveries refused because their signature or credentials did not verify.",
		}),
	}
	m.reg.MustRegister(m.eventsIngested, m.runsFinished, m.stepQueue, m.stepExecution, m.storeCommit, m.storeErrors,
		m.webhookFailures, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if queueDepths != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "herald_queue_depth", Help: "Step-runs waiting in the queue (ready, or waiting for a retry's backoff), all tenants.",
		}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			m, err := queueDepths(ctx)
			if err != nil {
				log.Warn("reading queue depth for metrics", "err", err)
				return math.NaN()
			}
			n := 0
			for _, v := range m {
				n += v
			}
			return float64(n)
		}))
	}
	// Series that exist from the start, at zero, so that rates work before the first event.
	for _, s := range []string{"api", "run", "webhook", "replay"} {
		m.eventsIngested.WithLabelValues(s)
	}
	for _, s := range []string{"succeeded", "failed", "cancelled"} {
		m.runsFinished.WithLabelValues(s)
	}
	for _, s := range []string{"succeeded", "failed"} {
		m.stepExecution.WithLabelValues(s)
	}
	for _, op := range []string{"ingest", "finish", "expire"} {
		m.storeCommit.WithLabelValues(op)
		m.storeErrors.WithLabelValues(op)
	}
	return m
}

// Registry returns the registry, to add collectors or gather in tests.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// EventsIngested implements engine.Observer.
func (m *Metrics) EventsIngested(source string, n int) {
	m.eventsIngested.WithLabelValues(source).Add(float64(n))
}

// RunsFinished implements engine.Observer.
func (m *Metrics) RunsFinished(status string, n int) {
	m.runsFinished.WithLabelValues(status).Add(float64(n))
}

// StepStarted implements engine.Observer.
func (m *Metrics) StepStarted(queued time.Duration) {
	m.stepQueue.Observe(max(queued, 0).Seconds())
}

// StepFinished implements engine.Observer.
func (m *Metrics) StepFinished(execution time.Duration, succeeded bool) {
	outcome := "failed"
	if succeeded {
		outcome = "succeeded"
	}
	m.stepExecution.WithLabelValues(outcome).Observe(max(execution, 0).Seconds())
}

// StoreCommit implements engine.Observer.
func (m *Metrics) StoreCommit(op string, d time.Duration, err error) {
	m.storeCommit.WithLabelValues(op).Observe(d.Seconds())
	if err != nil {
		m.storeErrors.WithLabelValues(op).Inc()
	}
}

// WebhookVerificationFailed implements engine.Observer.
func (m *Metrics) WebhookVerificationFailed() { m.webhookFailures.Inc() }
