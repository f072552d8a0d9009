package testkit_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/internal/testkit"
)

// recorder is a testing.TB whose Fatal ends only the goroutine calling it and keeps the
// message, so that a test can check how a wait fails.
type recorder struct {
	testing.TB
	mu  sync.Mutex
	msg string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.mu.Lock()
	r.msg = fmt.Sprintf(format, args...)
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *recorder) Fatal(args ...any) { r.Fatalf("%s", fmt.Sprint(args...)) }

// failure runs f as a test body and returns the message it failed with, "" if it passed.
func failure(t *testing.T, f func(tb testing.TB)) string {
	t.Helper()
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.msg
}

func TestTimeout(t *testing.T) {
	t.Setenv(testkit.EnvWait, "")
	if d := testkit.Timeout(); d != 30*time.Second {
		t.Fatalf("Timeout() = %s, want 30s", d)
	}
	t.Setenv(testkit.EnvWait, "90s")
	if d := testkit.Timeout(); d != 90*time.Second {
		t.Fatalf("Timeout() with %s=90s = %s", testkit.EnvWait, d)
	}
	for _, bad := range []string{"soon", "-1s", "0"} {
		t.Setenv(testkit.EnvWait, bad)
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), testkit.EnvWait) {
					t.Errorf("%s=%q: recovered %v, want a panic naming the variable", testkit.EnvWait, bad, r)
				}
			}()
			testkit.Timeout()
		}()
	}
}

func TestEventually(t *testing.T) {
	t.Parallel()
	calls := 0
	testkit.Eventually(t, "the third call", func() bool { calls++; return calls == 3 })
	if calls != 3 {
		t.Fatalf("cond called %d times, want 3", calls)
	}
	// A bound that has passed already still checks once.
	calls = 0
	if msg := failure(t, func(tb testing.TB) {
		testkit.EventuallyWithin(tb, -time.Second, "nothing", func() bool { calls++; return false })
	}); !strings.Contains(msg, "waiting for nothing") || calls != 1 {
		t.Fatalf("EventuallyWithin(-1s) called cond %d times and failed with %q", calls, msg)
	}
	if msg := failure(t, func(tb testing.TB) {
		testkit.EventuallyWithin(tb, 30*time.Millisecond, "the impossible", func() bool { return false })
	}); msg != "timed out after 30ms waiting for the impossible" {
		t.Fatalf("failure = %q", msg)
	}
	if msg := failure(t, func(tb testing.TB) {
		testkit.EventuallyWithin(tb, time.Millisecond, "a true condition", func() bool { return true })
	}); msg != "" {
		t.Fatalf("a condition that holds failed: %q", msg)
	}
}

func TestPoll(t *testing.T) {
	t.Parallel()
	n := 0
	if got := testkit.Poll(t, "n to reach 3", func() (int, bool) { n++; return n, n == 3 }); got != 3 {
		t.Fatalf("Poll returned %d, want the value that satisfied it (3)", got)
	}
	n = 0
	if msg := failure(t, func(tb testing.TB) {
		testkit.PollWithin(tb, 30*time.Millisecond, "n to go negative", func() (int, bool) { n++; return n, false })
	}); msg != fmt.Sprintf("timed out after 30ms waiting for n to go negative (last: %d)", n) {
		t.Fatalf("failure = %q (n %d)", msg, n)
	}
}

func TestReceive(t *testing.T) {
	ch := make(chan int, 1)
	ch <- 7
	if v := testkit.Receive(t, "a value", ch); v != 7 {
		t.Fatalf("Receive = %d, want 7", v)
	}
	done := make(chan struct{})
	close(done)
	testkit.Receive(t, "a closed channel", done)

	t.Setenv(testkit.EnvWait, "20ms")
	if msg := failure(t, func(tb testing.TB) { testkit.Receive(tb, "a message", make(chan string)) }); msg != "timed out after 20ms waiting for a message" {
		t.Fatalf("failure = %q", msg)
	}
}

func TestQuiet(t *testing.T) {
	t.Parallel()
	ch := make(chan error, 1)
	testkit.Quiet(t, "an empty channel", ch)
	ch <- context.Canceled
	if msg := failure(t, func(tb testing.TB) { testkit.Quiet(tb, "the held push", ch) }); msg != "the held push: received context canceled, want nothing yet" {
		t.Fatalf("failure = %q", msg)
	}
	done := make(chan struct{})
	close(done)
	if msg := failure(t, func(tb testing.TB) { testkit.Quiet(tb, "Run", done) }); msg != "Run: the channel is closed, want nothing yet" {
		t.Fatalf("failure = %q", msg)
	}
}

func TestClock(t *testing.T) {
	t.Parallel()
	start := time.Now()
	c := testkit.NewClock(start)
	if !c.Now().Equal(start) {
		t.Fatalf("Now() = %s, want the start %s", c.Now(), start)
	}
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Advance(time.Second)
			_ = c.Now()
		}()
	}
	wg.Wait()
	if got := c.Now(); !got.Equal(start.Add(10 * time.Second)) {
		t.Fatalf("after ten advances of 1s: %s, want %s", got, start.Add(10*time.Second))
	}
	if got := c.Advance(time.Minute); !got.Equal(start.Add(70 * time.Second)) {
		t.Fatalf("Advance returned %s", got)
	}
	later := start.Add(time.Hour)
	c.Set(later)
	if !c.Now().Equal(later) {
		t.Fatalf("after Set: %s, want %s", c.Now(), later)
	}
}

// TestRunsAndEvents drives the run and event waits against a real engine on each store: a
// run without a worker is cancelled, which ends it.
func TestRunsAndEvents(t *testing.T) {
	testenv.ForEachStore(t, testenv.Options{}, func(t *testing.T, env *testenv.Env) {
		ctx := context.Background()
		c, err := herald.NewClient(herald.ClientConfig{URL: env.URL, Token: env.Token})
		if err != nil {
			t.Fatal(err)
		}
		def := herald.WorkflowDefinition{Name: "idle", Triggers: []string{"k"}, Steps: []herald.StepDefinition{{Name: "s"}}}
		if _, _, err := c.PutWorkflow(ctx, def); err != nil {
			t.Fatal(err)
		}
		res, err := c.Push(ctx, herald.Event{Key: "k"})
		if err != nil || len(res.Runs) != 1 {
			t.Fatalf("Push = %+v, %v", res, err)
		}
		id := res.Runs[0].RunID
		if ev := testkit.WaitEvent(t, c, res.Event.ID); ev.Status != herald.EventDelivered || len(ev.Runs) != 1 {
			t.Fatalf("WaitEvent = %+v", ev)
		}
		if r := testkit.WaitRunStatus(t, c, id, herald.StatusQueued); r.ID != id {
			t.Fatalf("WaitRunStatus(queued) = %+v", r)
		}
		if _, err := c.CancelRun(ctx, id); err != nil {
			t.Fatal(err)
		}
		if r := testkit.WaitRun(t, c, id); r.Status != herald.StatusCancelled {
			t.Fatalf("WaitRun = %s, want cancelled", r.Status)
		}
		testkit.WaitRunStatus(t, c, id, herald.StatusCancelled)
		testkit.WaitRuns(t, c, 1, herald.StatusCancelled)
		// A run that ended otherwise fails at once, with its state (not at the timeout).
		if msg := failure(t, func(tb testing.TB) { testkit.WaitRunStatus(tb, c, id, herald.StatusSucceeded) }); !strings.Contains(msg, "run "+id+" (idle) is cancelled") || !strings.HasSuffix(msg, "want succeeded") || strings.Contains(msg, "after") {
			t.Fatalf("WaitRunStatus(succeeded) of a cancelled run failed with %q", msg)
		}
		if msg := failure(t, func(tb testing.TB) { testkit.WaitRuns(tb, c, 0, herald.StatusCancelled) }); msg != "1 runs cancelled, only 0 expected" {
			t.Fatalf("WaitRuns(0) failed with %q", msg)
		}
	})
}
