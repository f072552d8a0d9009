//go:build unix

package engine

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/postgres"
	"github.com/heraldhq/herald/internal/store/sqlite"
	"github.com/heraldhq/herald/internal/testkit"
)

func TestMain(m *testing.M) {
	if os.Getenv(childSQLite) != "" || os.Getenv(childPostgres) != "" {
		os.Exit(deliveryChild())
	}
	os.Exit(m.Run())
}

// deliveryChild runs an engine until it is killed: by the test, or by itself when it is
// about to deliver an item of the crash key, as if that item made it run out of memory.
func deliveryChild() int {
	ctx := context.Background()
	var st store.Store
	var err error
	if url := os.Getenv(childPostgres); url != "" {
		st, err = postgres.Open(ctx, postgres.Config{URL: url})
	} else {
		st, err = sqlite.Open(ctx, sqlite.Config{Path: os.Getenv(childSQLite), Synchronous: "NORMAL"})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	e, err := New(ctx, st, Config{SweepInterval: 50 * time.Millisecond, Logger: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// Claims end quickly, so that the test restarts the child often without waiting long.
	e.claimFor = 300 * time.Millisecond
	crash := os.Getenv(childCrashKey)
	e.beforeDelivery = func(key string) {
		if key == crash {
			fmt.Println("CRASHING")
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // SIGKILL cannot be caught: the process ends here
		}
	}
	e.Start()
	fmt.Println("STARTED")
	select {}
}

// child is an engine process started by a crash test.
type child struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when it has exited
}

// startChild starts an engine process on the store env names that kills itself when it
// is about to deliver an item of crashKey.
func startChild(t *testing.T, storeEnv, crashKey string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), storeEnv, childCrashKey+"="+crashKey)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
		}
		_ = cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-c.done
	})
	return c
}

// crashLoop restarts an engine process each time it dies, as a supervisor would, until
// ended reports that the poisoned item is no longer pending; it returns the process left
// running and how many times one died (killed by SIGKILL). It fails the test when the
// item is still pending after 2 × MaxDeliveryAttempts + 2 deaths: the crash loop the
// attempts are there to end.
func crashLoop(t *testing.T, storeEnv, crashKey string, ended func() bool) (*child, int) {
	t.Helper()
	deaths := 0
	c := startChild(t, storeEnv, crashKey)
	// A dozen engine starts: four ordinary waits.
	testkit.PollWithin(t, 4*testkit.Timeout(), "the poisoned item to be no longer pending (deaths so far)", func() (int, bool) {
		if ended() {
			return deaths, true
		}
		select {
		case <-c.done:
			st, ok := c.cmd.ProcessState.Sys().(syscall.WaitStatus)
			if !ok || !st.Signaled() || st.Signal() != syscall.SIGKILL {
				t.Fatalf("the engine process ended with %v, want killed by SIGKILL", c.cmd.ProcessState)
			}
			deaths++
			if deaths > 2*MaxDeliveryAttempts+2 {
				t.Fatalf("the engine process died %d times delivering the same item: a crash loop", deaths)
			}
			c = startChild(t, storeEnv, crashKey)
		default:
		}
		return deaths, false
	})
	return c, deaths
}

// TestCrashLoopOfADelayedEventEnds: a delayed event whose delivery kills the process (a
// child engine process that sends itself SIGKILL when it is about to deliver it, as the
// OOM killer would) is claimed again after each restart and kills the process again —
// MaxDeliveryAttempts times, and then the next claim marks it failed instead. The event
// claimed in the same batch is delivered after the first restart, and the process left
// running keeps delivering. On the code before attempts were counted, the process died
// at every restart.
func TestCrashLoopOfADelayedEventEnds(t *testing.T) {
	testStores(t, func(t *testing.T, st store.Store, storeEnv string) {
		_, tenant := deliveryEngine(t, st)
		ids := storeDue(t, st, tenant, "order:paid", "order:poison")
		ended := func() bool {
			s, err := st.ScheduledGet(context.Background(), tenant, ids[1])
			return err == nil && s.Status != store.ScheduledPending
		}
		alive, deaths := crashLoop(t, storeEnv, "order:poison", ended)
		s, _ := waitScheduled(t, st, tenant, ids[1])
		if s.Status != store.ScheduledFailed || s.Error != exhaustedReason() || s.Attempts != MaxDeliveryAttempts+1 {
			t.Errorf("poisoned event is %s with error %q after %d claims; want failed, %q, after %d",
				s.Status, s.Error, s.Attempts, exhaustedReason(), MaxDeliveryAttempts+1)
		}
		if deaths != MaxDeliveryAttempts {
			t.Errorf("the process died %d times, want %d (once per counted attempt)", deaths, MaxDeliveryAttempts)
		}
		wantNotDelivered(t, st, tenant, ids[1])
		wantDelivered(t, st, tenant, ids[0])

		// The process left running delivers what comes due next.
		later := storeDue(t, st, tenant, "order:later")
		wantDelivered(t, st, tenant, later[0])
		select {
		case <-alive.done:
			t.Fatalf("the engine process ended: %v", alive.cmd.ProcessState)
		default:
		}
	})
}

// TestCrashLoopOfAnOutboxEntryEnds: the same for an outbox entry, whose relay kills the
// process: after MaxDeliveryAttempts deaths the next claim refuses it (its error says
// why), and the relay goes on with the other entries.
func TestCrashLoopOfAnOutboxEntryEnds(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	st, err := postgres.Open(context.Background(), postgres.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	pool := outboxPool(t, url)
	_, tenant := deliveryEngine(t, st)
	ids := writeOutbox(t, pool, "order:paid", "order:poison")
	ended := func() bool {
		var refused bool
		err := pool.QueryRow(context.Background(), `SELECT error IS NOT NULL FROM herald_outbox WHERE id = $1`, ids[1]).Scan(&refused)
		return err == nil && refused
	}
	alive, deaths := crashLoop(t, childPostgres+"="+url, "order:poison", ended)
	if reason, refused := waitOutbox(t, pool, ids[1]); !refused || reason != exhaustedReason() {
		t.Errorf("poisoned entry: refused %v with %q, want %q", refused, reason, exhaustedReason())
	}
	if deaths != MaxDeliveryAttempts {
		t.Errorf("the process died %d times, want %d (once per counted attempt)", deaths, MaxDeliveryAttempts)
	}
	wantNotDelivered(t, st, tenant, ids[1])
	wantRelayed(t, st, pool, tenant, ids[0])
	later := writeOutbox(t, pool, "order:later")
	wantRelayed(t, st, pool, tenant, later[0])
	select {
	case <-alive.done:
		t.Fatalf("the engine process ended: %v", alive.cmd.ProcessState)
	default:
	}
}
