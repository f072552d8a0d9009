package engine

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testkit"
)

// testReq is a request of n items.
type testReq struct {
	n    int
	name string
}

func (r testReq) size() int { return r.n }

// commitLog records, in order, when each request's batch started and ended committing.
type commitLog struct {
	mu     sync.Mutex
	events []string
	cond   *sync.Cond
}

func newCommitLog() *commitLog {
	l := &commitLog{}
	l.cond = sync.NewCond(&l.mu)
	return l
}

func (l *commitLog) add(e string) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.cond.Broadcast()
	l.mu.Unlock()
}

// waitFor waits (5 s at most) until e was logged.
func (l *commitLog) waitFor(t *testing.T, e string) bool {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	timer := time.AfterFunc(5*time.Second, func() { l.mu.Lock(); l.cond.Broadcast(); l.mu.Unlock() })
	defer timer.Stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		for _, x := range l.events {
			if x == e {
				return true
			}
		}
		if time.Now().After(deadline) {
			return false
		}
		l.cond.Wait()
	}
}

func (l *commitLog) snapshot() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.events...)
}

func (l *commitLog) index(e string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, x := range l.events {
		if x == e {
			return i
		}
	}
	return -1
}

// startBatcher runs a batcher of max items with two loops whose commit calls hold(names)
// with the batch's requests before logging their end; wait is its holdMax.
func startBatcher(t *testing.T, maxItems int, wait time.Duration, log *commitLog, hold func(names []string)) *batcher[testReq] {
	b := newBatcher(maxItems, func(_ context.Context, reqs []testReq) {
		var names []string
		for _, r := range reqs {
			names = append(names, r.name)
			log.add("start " + r.name)
		}
		hold(names)
		for _, r := range reqs {
			log.add("end " + r.name)
		}
	})
	b.holdMax = wait
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); b.run(context.Background()) }()
	}
	t.Cleanup(func() { b.close(); wg.Wait() })
	return b
}

// TestLargeBatchesCommitInParallel: a batch of at least a quarter of the maximum commits
// while another is in flight (the first commit waits until the second starts).
func TestLargeBatchesCommitInParallel(t *testing.T) {
	log := newCommitLog()
	var once sync.Once
	b := startBatcher(t, 100, holdMax, log, func(names []string) {
		if names[0] == "a" {
			once.Do(func() {
				if !log.waitFor(t, "start b") {
					t.Error("b did not commit while a was in flight")
				}
			})
		}
	})
	b.submit(testReq{n: 30, name: "a"})
	if !log.waitFor(t, "start a") {
		t.Fatal("a never committed")
	}
	b.submit(testReq{n: 30, name: "b"})
	if !log.waitFor(t, "end a") || !log.waitFor(t, "end b") {
		t.Fatal("the batches did not finish")
	}
}

// TestSmallBatchesWaitForTheCommitInFlight: a small batch is not committed beside another
// commit; it gathers the requests that arrive meanwhile and commits them together once the
// first commit ends.
func TestSmallBatchesWaitForTheCommitInFlight(t *testing.T) {
	log := newCommitLog()
	release := make(chan struct{})
	b := startBatcher(t, 100, time.Minute, log, func(names []string) {
		if names[0] == "a" {
			<-release
		}
	})
	b.submit(testReq{n: 1, name: "a"})
	if !log.waitFor(t, "start a") {
		t.Fatal("a never committed")
	}
	b.submit(testReq{n: 1, name: "b"})
	b.submit(testReq{n: 1, name: "c"})
	// Both requests are taken by the idle loop (the queue empties).
	testkit.Eventually(t, "the idle loop to take b and c", func() bool { return len(b.in) == 0 })
	close(release)
	if !log.waitFor(t, "end b") || !log.waitFor(t, "end c") {
		t.Fatal("b and c never committed")
	}
	if log.index("start b") < log.index("end a") {
		t.Errorf("b committed beside a: %v", log.snapshot())
	}
	if log.index("start c") > log.index("end b") {
		t.Errorf("b and c were not committed together: %v", log.snapshot())
	}
}

// TestSmallBatchWaitsAtMostHoldMax: a commit stuck for long (a lock) does not hold a small
// batch longer than holdMax.
func TestSmallBatchWaitsAtMostHoldMax(t *testing.T) {
	log := newCommitLog()
	b := startBatcher(t, 100, holdMax, log, func(names []string) {
		if names[0] == "a" && !log.waitFor(t, "end b") {
			t.Error("b waited for the stuck commit")
		}
	})
	b.submit(testReq{n: 1, name: "a"})
	if !log.waitFor(t, "start a") {
		t.Fatal("a never committed")
	}
	b.submit(testReq{n: 1, name: "b"})
	if !log.waitFor(t, "end a") {
		t.Fatal("a never ended")
	}
}
