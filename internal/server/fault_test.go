package server_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/internal/server"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/internal/testkit"
)

// The fault tests run the engine or a worker in a child process (this test binary,
// re-executed with HERALD_FAULT_MODE set) so that they can kill it with SIGKILL.
func TestMain(m *testing.M) {
	switch os.Getenv("HERALD_FAULT_MODE") {
	case "serve":
		os.Exit(childServe())
	case "worker":
		os.Exit(childWorker())
	}
	os.Exit(m.Run())
}

func childServe() int {
	cfg := server.Defaults()
	cfg.DataDir = os.Getenv("HERALD_FAULT_DIR")
	// A replica on a shared PostgreSQL database (replica_test.go), else SQLite in DataDir.
	cfg.DatabaseURL = os.Getenv("HERALD_FAULT_DATABASE_URL")
	if cfg.DatabaseURL != "" {
		cfg.MasterKey = testenv.SharedMasterKey() // the key of the other replicas
	}
	cfg.Addr = "127.0.0.1:0"
	cfg.LeaseDuration = 2 * time.Second
	cfg.SweepInterval = 50 * time.Millisecond
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := server.Open(context.Background(), cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("URL %s\n", srv.URL())
	if err := srv.Serve(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// hangingWorkflow's step announces itself on stdout and then blocks until cancelled.
func hangingWorkflow(run func(ctx context.Context, sc *herald.StepContext) (any, error)) herald.Workflow {
	return herald.Workflow{
		Name: "fragile", Triggers: []string{"job:start"},
		Steps: []herald.Step{{Name: "work", Timeout: time.Minute, Run: run}},
	}
}

func childWorker() int {
	c, err := herald.ClientFromEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	w := herald.NewWorker(c, herald.WorkerConfig{Name: "doomed", Slots: 1, PollWait: time.Second})
	err = w.Register(hangingWorkflow(func(ctx context.Context, sc *herald.StepContext) (any, error) {
		fmt.Printf("STARTED %s\n", sc.StepRunID())
		<-ctx.Done()
		return nil, ctx.Err()
	}))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := w.Run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// child is a re-executed test binary.
type child struct {
	cmd   *exec.Cmd
	lines chan string
}

func startChild(t *testing.T, env ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ch := &child{cmd: cmd, lines: make(chan string, 100)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			ch.lines <- sc.Text()
		}
		close(ch.lines)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return ch
}

// expect waits for a stdout line starting with prefix and returns the rest.
func (c *child) expect(t *testing.T, prefix string) string {
	t.Helper()
	return testkit.Poll(t, fmt.Sprintf("the child to print %q", prefix), func() (string, bool) {
		for {
			select {
			case l, ok := <-c.lines:
				if !ok {
					t.Fatalf("child exited before printing %q", prefix)
				}
				if rest, found := strings.CutPrefix(l, prefix); found {
					return strings.TrimSpace(rest), true
				}
			default:
				return "", false
			}
		}
	})
}

func (c *child) kill9(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	_ = c.cmd.Wait()
}

func startServe(t *testing.T, dir string) (*child, *herald.Client) {
	t.Helper()
	ch := startChild(t, "HERALD_FAULT_MODE=serve", "HERALD_FAULT_DIR="+dir)
	url := ch.expect(t, "URL ")
	tok, err := os.ReadFile(filepath.Join(dir, server.TokenFile))
	if err != nil {
		t.Fatal(err)
	}
	c, err := herald.NewClient(herald.ClientConfig{URL: url, Token: strings.TrimSpace(string(tok))})
	if err != nil {
		t.Fatal(err)
	}
	return ch, c
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestKill9LosesNoAcknowledgedEvent kills the engine with SIGKILL while producers push,
// restarts it, and checks that every acknowledged event is there with exactly the runs
// its reply listed, that no stored event is half-triggered, and that every run completes.
func TestKill9LosesNoAcknowledgedEvent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	srv, c := startServe(t, dir)

	noop := func(ctx context.Context, sc *herald.StepContext) (any, error) { return map[string]any{"ok": true}, nil }
	wfs := []herald.Workflow{
		{Name: "fulfil", Triggers: []string{"order:placed"}, Steps: []herald.Step{
			{Name: "reserve", Run: noop}, {Name: "ship", Parents: []string{"reserve"}, Run: noop}}},
		{Name: "notify", Triggers: []string{"order:placed"}, Steps: []herald.Step{{Name: "email", Run: noop}}},
	}
	for _, wf := range wfs {
		if _, _, err := c.PutWorkflow(ctx, wf.Definition()); err != nil {
			t.Fatal(err)
		}
	}

	var mu sync.Mutex
	acked := map[string][]string{} // event id → run ids from the reply
	var n atomic.Int64
	record := func(r herald.PushResult) {
		var ids []string
		for _, run := range r.Runs {
			ids = append(ids, run.RunID)
		}
		mu.Lock()
		acked[r.Event.ID] = ids
		mu.Unlock()
		n.Add(1)
	}
	var wg sync.WaitGroup
	for p := 0; p < 6; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for i := 0; ; i++ {
				if p%2 == 0 {
					r, err := c.Push(ctx, herald.Event{Key: "order:placed", Payload: map[string]any{"p": p, "i": i}})
					if err != nil {
						return // the engine died
					}
					record(*r)
					continue
				}
				evs := make([]herald.Event, 10)
				for j := range evs {
					evs[j] = herald.Event{Key: "order:placed", Payload: map[string]any{"p": p, "i": i, "j": j}}
				}
				rs, err := c.BulkPush(ctx, evs)
				if err != nil {
					return
				}
				for _, r := range rs {
					record(r)
				}
			}
		}(p)
	}
	testkit.Eventually(t, "400 events acknowledged before the kill", func() bool { return n.Load() >= 400 })
	srv.kill9(t)
	wg.Wait()
	if len(acked) < 100 {
		t.Fatalf("only %d events acknowledged before the kill", len(acked))
	}
	t.Logf("%d events acknowledged before kill -9", len(acked))

	restarted := time.Now()
	_, c = startServe(t, dir)
	t.Logf("restarted in %s", time.Since(restarted))
	// Every acknowledged event is stored with exactly the runs its reply listed, and no
	// stored event is half-triggered: each has its two runs, and every run exists.
	stored := map[string][]string{}
	for cursor := ""; ; {
		page, err := c.ListEvents(ctx, herald.ListEventsParams{Cursor: cursor, Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range page.Items {
			if len(ev.Triggers) != 2 {
				t.Fatalf("event %s has %d triggers", ev.ID, len(ev.Triggers))
			}
			for _, tr := range ev.Triggers {
				stored[ev.ID] = append(stored[ev.ID], tr.RunID)
			}
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	for id, runs := range acked {
		got, ok := stored[id]
		if !ok {
			t.Fatalf("acknowledged event %s lost", id)
		}
		if fmt.Sprint(sorted(got)) != fmt.Sprint(sorted(runs)) {
			t.Fatalf("event %s has runs %v, its reply listed %v", id, got, runs)
		}
	}
	events, runs := len(stored), 2*len(stored)
	if n := countRuns(t, c, ""); n != runs {
		t.Fatalf("%d runs stored, events list %d", n, runs)
	}
	// One of the acknowledged events in full, with its steps.
	for id := range acked {
		ev, err := c.GetEvent(ctx, id)
		if err != nil || len(ev.Runs) != 2 {
			t.Fatalf("event %s: %v, %d runs", id, err, len(ev.Runs))
		}
		break
	}

	// Every run completes once a worker runs.
	t.Logf("verified %d events, %d runs in %s", events, runs, time.Since(restarted))
	wctx, cancel := context.WithCancel(ctx)
	w := herald.NewWorker(c, herald.WorkerConfig{Name: "survivor", Slots: 100, Logger: quietLogger()})
	if err := w.Register(wfs...); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	}()
	testkit.WaitRuns(t, c, runs, herald.StatusSucceeded)
	t.Logf("all runs succeeded after %s", time.Since(restarted))
}

// TestWorkerKilledMidStepRunsElsewhere kills a worker process with SIGKILL while it runs a
// step; after its lease expires the step runs on another worker and the run succeeds.
func TestWorkerKilledMidStepRunsElsewhere(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := testenv.Start(t) // lease 2s
	c, err := herald.NewClient(herald.ClientConfig{URL: env.URL, Token: env.Token})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.PutWorkflow(ctx, hangingWorkflow(nil).Definition()); err != nil {
		t.Fatal(err)
	}
	res, err := c.Push(ctx, herald.Event{Key: "job:start", Payload: map[string]any{"n": 1}})
	if err != nil {
		t.Fatal(err)
	}
	runID := res.Runs[0].RunID

	doomed := startChild(t, "HERALD_FAULT_MODE=worker", "HERALD_URL="+env.URL, "HERALD_TOKEN="+env.Token)
	stepRunID := doomed.expect(t, "STARTED ")
	doomed.kill9(t)

	wctx, cancel := context.WithCancel(ctx)
	w := herald.NewWorker(c, herald.WorkerConfig{Name: "survivor", Slots: 1, Logger: quietLogger()})
	var ranHere atomic.Value
	if err := w.Register(hangingWorkflow(func(ctx context.Context, sc *herald.StepContext) (any, error) {
		ranHere.Store(sc.StepRunID())
		return map[string]any{"by": "survivor"}, nil
	})); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	defer func() {
		cancel()
		<-done
	}()
	run := testkit.WaitRunStatus(t, c, runID, herald.StatusSucceeded)
	st := run.Steps[0]
	if st.ID != stepRunID || ranHere.Load() != stepRunID {
		t.Fatalf("step %s ran elsewhere than expected (killed worker had %s, survivor %v)", st.ID, stepRunID, ranHere.Load())
	}
	if st.Attempt != 1 {
		t.Fatalf("the lost worker consumed a retry: attempt %d", st.Attempt)
	}
	if !strings.Contains(string(st.Output), "survivor") {
		t.Fatalf("output %s", st.Output)
	}
}

func sorted(xs []string) []string {
	out := append([]string(nil), xs...)
	sort.Strings(out)
	return out
}

// countRuns counts the runs with a status ("" for all), page by page.
func countRuns(t *testing.T, c *herald.Client, status string) int {
	t.Helper()
	return len(listAllRuns(t, c, status))
}
