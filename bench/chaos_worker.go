package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/heraldhq/herald"
)

// The worker processes of the chaos scenario are this program re-executed with
// chaosWorkerEnv set (see main), so that the controller can SIGKILL them. They run Go SDK
// workers whose HTTP transport records every lease the engine grants, extends or takes
// back, and every result reported, to a file the controller reads at the end.
const (
	// chaosWorkerEnv, set to "1", makes this program a chaos worker process.
	chaosWorkerEnv = "HERALD_CHAOS_WORKER"
	// chaosRecordsEnv names the worker's record file.
	chaosRecordsEnv = "HERALD_CHAOS_RECORDS"
	// chaosWorkerNameEnv is the worker's name.
	chaosWorkerNameEnv = "HERALD_CHAOS_WORKER_NAME"
)

// Event key and workflows of the chaos scenario: two workflows listen to the key, one a
// four-step DAG (a diamond: reserve → charge and pack → ship), one a single step.
const (
	chaosKey      = "chaos.order"
	chaosFulfil   = "chaos-fulfil"
	chaosNotify   = "chaos-notify"
	chaosSlots    = 32
	chaosPollWait = 5 * time.Second
	// chaosFailRate is the chance that a step's first attempt fails (retryably), so that
	// retries happen under chaos too.
	chaosFailRate = 0.03
	// One step-run in chaosSlowOneIn is slow: its body takes 1-4 s rather than 0-20 ms.
	chaosSlowOneIn = 50
)

// chaosWorkflows returns the workflows of the chaos scenario, every step running run.
func chaosWorkflows(run func(ctx context.Context, sc *herald.StepContext) (any, error)) []herald.Workflow {
	retry := herald.RetryPolicy{MaxAttempts: 5, InitialBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}
	step := func(name string, parents ...string) herald.Step {
		return herald.Step{Name: name, Parents: parents, Timeout: 30 * time.Second, Retry: retry, Run: run}
	}
	return []herald.Workflow{
		{Name: chaosFulfil, Triggers: []string{chaosKey}, Steps: []herald.Step{
			step("reserve"), step("charge", "reserve"), step("pack", "reserve"), step("ship", "charge", "pack"),
		}},
		{Name: chaosNotify, Triggers: []string{chaosKey}, Steps: []herald.Step{step("email")}},
	}
}

// chaosRecord is one line of a worker's record file. Times are Unix nanoseconds of the
// machine's wall clock, which the engine (on the same machine) uses too.
type chaosRecord struct {
	// Kind is "grant" (a poll reply handed a lease), "heartbeat" (a heartbeat reply),
	// "report" (a complete or fail request is about to be sent), "result" (its reply or
	// error), "exec" (a step body ran to its end).
	Kind string `json:"k"`
	// Worker is the engine's id of the worker.
	Worker string `json:"w,omitempty"`
	// StepRun and Lease name the step-run and the lease.
	StepRun string `json:"sr,omitempty"`
	Lease   string `json:"l,omitempty"`
	// Sent is when the request was sent; Received when its reply was read. For "exec",
	// when the step body started and ended.
	Sent     int64 `json:"s,omitempty"`
	Received int64 `json:"r,omitempty"`
	// Expires is the lease expiry the reply announced; Deadline the step's deadline.
	Expires  int64 `json:"e,omitempty"`
	Deadline int64 `json:"d,omitempty"`
	// Action is "complete" or "fail" (report, result).
	Action string `json:"a,omitempty"`
	// Status is the HTTP status of a result's reply; 0 when no reply came (Err says why).
	Status int    `json:"st,omitempty"`
	Err    string `json:"err,omitempty"`
	// Leases are the leases a heartbeat named; Cancelled the step-runs its reply said are
	// no longer the worker's.
	Leases    []leaseRecord `json:"ls,omitempty"`
	Cancelled []string      `json:"c,omitempty"`
	// Attempt is the step-run's attempt (grant, exec).
	Attempt int `json:"att,omitempty"`
}

// leaseRecord names a lease in a heartbeat record.
type leaseRecord struct {
	StepRun string `json:"step_run_id"`
	Lease   string `json:"lease_id"`
}

// recorder appends records to a file, one write(2) per record. A record written survives
// the process's SIGKILL (it is in the kernel's page cache); it is not synced, since the
// scenario kills processes, not the machine.
type recorder struct {
	mu sync.Mutex
	f  *os.File
}

func openRecorder(path string) (*recorder, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening record file: %w", err)
	}
	return &recorder{f: f}, nil
}

func (r *recorder) write(rec chaosRecord) {
	b, err := json.Marshal(rec)
	if err != nil {
		panic(err) // a chaosRecord always encodes
	}
	b = append(b, '\n')
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.f.Write(b); err != nil {
		fmt.Fprintln(os.Stderr, "chaos worker: writing record:", err)
		os.Exit(3) // a worker that cannot record must not run steps unseen
	}
}

// recordingTransport records the lease traffic of a Go SDK worker: poll replies (leases
// granted), heartbeats (leases extended or taken back) and complete/fail reports, with the
// times they were sent and answered. Everything else passes through.
type recordingTransport struct {
	next http.RoundTripper
	rec  *recorder
}

// RoundTrip implements http.RoundTripper.
func (t *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rest, ok := strings.CutPrefix(req.URL.Path, "/api/v1/workers/")
	if !ok || req.Method != http.MethodPost {
		return t.next.RoundTrip(req)
	}
	parts := strings.Split(rest, "/")
	switch {
	case len(parts) == 2 && parts[1] == "poll":
		return t.poll(req, parts[0])
	case len(parts) == 2 && parts[1] == "heartbeat":
		return t.heartbeat(req, parts[0])
	case len(parts) == 4 && parts[1] == "step-runs" && (parts[3] == "complete" || parts[3] == "fail"):
		return t.report(req, parts[0], parts[2], parts[3])
	}
	return t.next.RoundTrip(req)
}

// requestBody returns a copy of req's body without consuming it.
func requestBody(req *http.Request) ([]byte, error) {
	if req.GetBody == nil {
		return nil, fmt.Errorf("chaos worker: request to %s has no GetBody", req.URL.Path)
	}
	rc, err := req.GetBody()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// readReply reads resp's body and puts it back for the caller.
func readReply(resp *http.Response) ([]byte, error) {
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return b, nil
}

func (t *recordingTransport) poll(req *http.Request, worker string) (*http.Response, error) {
	sent := time.Now().UnixNano()
	resp, err := t.next.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	body, err := readReply(resp)
	if err != nil {
		return nil, err // the SDK sees a failed poll and runs nothing of it
	}
	received := time.Now().UnixNano()
	var reply struct {
		Assignments []struct {
			StepRunID      string    `json:"step_run_id"`
			LeaseID        string    `json:"lease_id"`
			Attempt        int       `json:"attempt"`
			Deadline       time.Time `json:"deadline"`
			LeaseExpiresAt time.Time `json:"lease_expires_at"`
		} `json:"assignments"`
	}
	if err := json.Unmarshal(body, &reply); err != nil {
		return nil, fmt.Errorf("chaos worker: decoding poll reply: %w", err)
	}
	// Recorded before the SDK sees the reply, so before any step of it runs.
	for _, a := range reply.Assignments {
		t.rec.write(chaosRecord{Kind: "grant", Worker: worker, StepRun: a.StepRunID, Lease: a.LeaseID, Sent: sent, Received: received,
			Expires: a.LeaseExpiresAt.UnixNano(), Deadline: a.Deadline.UnixNano(), Attempt: a.Attempt})
	}
	return resp, nil
}

func (t *recordingTransport) heartbeat(req *http.Request, worker string) (*http.Response, error) {
	reqBody, err := requestBody(req)
	if err != nil {
		return nil, err
	}
	var hb struct {
		StepRuns []leaseRecord `json:"step_runs"`
	}
	if err := json.Unmarshal(reqBody, &hb); err != nil {
		return nil, fmt.Errorf("chaos worker: decoding heartbeat request: %w", err)
	}
	sent := time.Now().UnixNano()
	resp, err := t.next.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	body, err := readReply(resp)
	if err != nil {
		return nil, err
	}
	received := time.Now().UnixNano()
	var reply struct {
		LeaseExpiresAt time.Time `json:"lease_expires_at"`
		Cancelled      []string  `json:"cancelled"`
	}
	if err := json.Unmarshal(body, &reply); err != nil {
		return nil, fmt.Errorf("chaos worker: decoding heartbeat reply: %w", err)
	}
	if len(hb.StepRuns) > 0 {
		t.rec.write(chaosRecord{Kind: "heartbeat", Worker: worker, Sent: sent, Received: received,
			Expires: reply.LeaseExpiresAt.UnixNano(), Leases: hb.StepRuns, Cancelled: reply.Cancelled})
	}
	return resp, nil
}

func (t *recordingTransport) report(req *http.Request, worker, stepRun, action string) (*http.Response, error) {
	reqBody, err := requestBody(req)
	if err != nil {
		return nil, err
	}
	var rep struct {
		LeaseID string `json:"lease_id"`
	}
	if err := json.Unmarshal(reqBody, &rep); err != nil {
		return nil, fmt.Errorf("chaos worker: decoding %s request: %w", action, err)
	}
	sent := time.Now().UnixNano()
	// Recorded before sending: once sent, the engine may act on it even if this process
	// dies before the reply.
	t.rec.write(chaosRecord{Kind: "report", Worker: worker, StepRun: stepRun, Lease: rep.LeaseID, Action: action, Sent: sent})
	resp, err := t.next.RoundTrip(req)
	res := chaosRecord{Kind: "result", Worker: worker, StepRun: stepRun, Lease: rep.LeaseID, Action: action, Sent: sent}
	if err != nil {
		res.Err = err.Error()
	} else {
		res.Status = resp.StatusCode
	}
	res.Received = time.Now().UnixNano()
	t.rec.write(res)
	return resp, err
}

// chaosWorkerMain is the body of a chaos worker process: Go SDK workers for the chaos
// workflows, one after another (a worker whose Run fails, say because the engine was down
// when it started, is replaced after a pause), until SIGTERM.
func chaosWorkerMain() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	rec, err := openRecorder(os.Getenv(chaosRecordsEnv))
	if err != nil {
		log.Error("chaos worker", "err", err)
		return 1
	}
	hc := newHTTPClient(2 * chaosSlots)
	hc.Transport = &recordingTransport{next: hc.Transport, rec: rec}
	client, err := herald.NewClient(herald.ClientConfig{URL: os.Getenv("HERALD_URL"), Token: os.Getenv("HERALD_TOKEN"), HTTPClient: hc})
	if err != nil {
		log.Error("chaos worker", "err", err)
		return 1
	}
	run := func(ctx context.Context, sc *herald.StepContext) (any, error) {
		start := time.Now().UnixNano()
		// A short body, so that kills land mid-step too. A few step-runs are slow (each of
		// their attempts takes 1-4 s): they live through heartbeats and, when the engine
		// is down past their lease, lose it while running, and run again elsewhere while
		// the first run goes on.
		d := time.Duration(rand.IntN(20)) * time.Millisecond
		h := fnv.New32a()
		h.Write([]byte(sc.StepRunID()))
		if h.Sum32()%chaosSlowOneIn == 0 {
			d = time.Second + time.Duration(rand.Int64N(int64(3*time.Second)))
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, context.Cause(ctx)
		}
		var err error
		if sc.Attempt() == 1 && rand.Float64() < chaosFailRate {
			err = fmt.Errorf("injected failure of attempt 1")
		}
		rec.write(chaosRecord{Kind: "exec", StepRun: sc.StepRunID(), Attempt: sc.Attempt(), Sent: start, Received: time.Now().UnixNano()})
		return map[string]any{"step": sc.Step()}, err
	}
	name := os.Getenv(chaosWorkerNameEnv)
	for ctx.Err() == nil {
		w := herald.NewWorker(client, herald.WorkerConfig{Name: name, Slots: chaosSlots, PollWait: chaosPollWait,
			ShutdownTimeout: 5 * time.Second, Logger: log})
		if err := w.Register(chaosWorkflows(run)...); err != nil {
			log.Error("chaos worker", "err", err)
			return 1
		}
		err := w.Run(ctx)
		if err == nil {
			break
		}
		log.Warn("chaos worker: worker stopped, starting another", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
	return 0
}
