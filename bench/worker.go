package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald"
)

// benchWorkflow is the name of the one-step workflow every scenario triggers.
const benchWorkflow = "bench"

// benchWorkflowDef returns the definition of the bench workflow triggered by key: one
// step, "work", that does nothing.
func benchWorkflowDef(key string) herald.WorkflowDefinition {
	return herald.WorkflowDefinition{
		Name:     benchWorkflow,
		Triggers: []string{key},
		Steps:    []herald.StepDefinition{{Name: "work"}},
	}
}

// completionCounter is an http.RoundTripper that counts the step completions the engine
// accepted (200 replies to .../complete) and remembers when the last one arrived.
type completionCounter struct {
	next     http.RoundTripper
	accepted atomic.Int64
	lastNS   atomic.Int64 // Unix ns of the latest accepted completion
	// onAccepted, when set, is called after each accepted completion with the new count.
	onAccepted func(n int64)
}

// RoundTrip implements http.RoundTripper.
func (c *completionCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusOK && strings.HasSuffix(req.URL.Path, "/complete") {
		c.lastNS.Store(time.Now().UnixNano())
		n := c.accepted.Add(1)
		if c.onAccepted != nil {
			c.onAccepted(n)
		}
	}
	return resp, err
}

// workerOptions configures startWorkers.
type workerOptions struct {
	// URL and Token address the engine.
	URL, Token string
	// Key is the event key that triggers the bench workflow.
	Key string
	// Workers is how many SDK workers to run (each with its own poll loop).
	Workers int
	// Slots is each worker's slot count.
	Slots int
	// Step is the step's body; nil means "return nil, nil".
	Step func(ctx context.Context, sc *herald.StepContext) (any, error)
	// Counter, when set, wraps the workers' HTTP transport to count completions.
	Counter *completionCounter
	// Log receives the workers' logs.
	Log *slog.Logger
}

// runningWorkers is a set of SDK workers; stop ends them.
type runningWorkers struct {
	cancel context.CancelFunc
	done   chan error
	n      int
}

// startWorkers starts o.Workers Go SDK workers (herald.Worker) polling over HTTP for the
// bench workflow. The workflow definition is stored by the workers themselves.
func startWorkers(ctx context.Context, o workerOptions) (*runningWorkers, error) {
	hc := newHTTPClient(2 * o.Slots * o.Workers)
	if o.Counter != nil {
		o.Counter.next = hc.Transport
		hc = &http.Client{Transport: o.Counter}
	}
	client, err := herald.NewClient(herald.ClientConfig{URL: o.URL, Token: o.Token, HTTPClient: hc})
	if err != nil {
		return nil, err
	}
	step := o.Step
	if step == nil {
		step = func(context.Context, *herald.StepContext) (any, error) { return nil, nil }
	}
	wf := herald.Workflow{Name: benchWorkflow, Triggers: []string{o.Key}, Steps: []herald.Step{{Name: "work", Run: step}}}
	ctx, cancel := context.WithCancel(ctx)
	rw := &runningWorkers{cancel: cancel, done: make(chan error, o.Workers), n: o.Workers}
	for i := range o.Workers {
		w := herald.NewWorker(client, herald.WorkerConfig{
			Name: fmt.Sprintf("bench-%d", i), Slots: o.Slots, PollWait: 20 * time.Second,
			ShutdownTimeout: 2 * time.Second, Logger: o.Log,
		})
		if err := w.Register(wf); err != nil {
			cancel()
			return nil, err
		}
		go func() { rw.done <- w.Run(ctx) }()
	}
	return rw, nil
}

// stop cancels the workers and waits for them to return.
func (rw *runningWorkers) stop() error {
	rw.cancel()
	var errs []error
	for range rw.n {
		errs = append(errs, <-rw.done)
	}
	return errors.Join(errs...)
}
