// Package testkit is how Herald's tests wait: for a condition, a value, a message on a
// channel, a run or an event. Every wait is bounded by one timeout (Timeout) and fails the
// test, in the test's own words, when the bound passes; none is a sleep.
//
// The package imports only the standard library and the root herald package (the Go SDK),
// so that any test can use it, including the engine's own internal tests.
package testkit

import (
	"fmt"
	"os"
	"testing"
	"time"
)

// EnvWait names the variable that overrides Timeout, as a Go duration ("2m").
const EnvWait = "HERALD_TEST_WAIT"

// interval is how often Eventually and Poll check their condition.
const interval = 10 * time.Millisecond

// Timeout is how long a wait lasts before it fails the test: 30 s, or the duration in
// HERALD_TEST_WAIT (a slow or loaded machine may need longer; a passing test never waits
// for it). It panics if HERALD_TEST_WAIT is set but is not a positive duration.
func Timeout() time.Duration {
	v := os.Getenv(EnvWait)
	if v == "" {
		return 30 * time.Second
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		panic(fmt.Sprintf("testkit: %s=%q: want a positive duration such as 90s", EnvWait, v))
	}
	return d
}

// poll calls get until it reports ok or d has passed since poll started, every interval
// (counted from the end of one call to the start of the next); it returns the last value
// and whether it was ok. get runs at least once, however small d is.
func poll[T any](d, every time.Duration, get func() (T, bool)) (T, bool) {
	deadline := time.Now().Add(d)
	var timer *time.Timer
	for {
		v, ok := get()
		if ok {
			return v, true
		}
		if !time.Now().Before(deadline) {
			return v, false
		}
		if timer == nil {
			timer = time.NewTimer(every)
			defer timer.Stop()
		} else {
			timer.Reset(every)
		}
		<-timer.C
	}
}

// Eventually checks cond every 10 ms until it holds, and fails the test ("timed out after
// 30s waiting for <what>") if it does not within Timeout. cond runs on the test's
// goroutine, so it may call t.Fatal.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	EventuallyWithin(t, Timeout(), what, cond)
}

// EventuallyWithin is Eventually with its own bound d, for the waits whose bound is what
// the test asserts ("a replica sees the change within a second"). cond runs at least once,
// even when d is not positive.
func EventuallyWithin(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	if _, ok := poll(d, interval, func() (struct{}, bool) { return struct{}{}, cond() }); !ok {
		t.Fatalf("timed out after %s waiting for %s", round(d), what)
	}
}

// Poll calls get every 10 ms until it reports ok, and returns the value that did. If none
// does within Timeout it fails the test, naming what and the last value get returned.
func Poll[T any](t testing.TB, what string, get func() (T, bool)) T {
	t.Helper()
	return PollWithin(t, Timeout(), what, get)
}

// PollWithin is Poll with its own bound d; get runs at least once.
func PollWithin[T any](t testing.TB, d time.Duration, what string, get func() (T, bool)) T {
	t.Helper()
	v, ok := poll(d, interval, get)
	if !ok {
		t.Fatalf("timed out after %s waiting for %s (last: %+v)", round(d), what, v)
	}
	return v
}

// Receive waits for a value on ch and returns it; it fails the test if none arrives
// within Timeout. A closed channel gives its zero value at once (a closed done channel is
// the signal it carries).
func Receive[T any](t testing.TB, what string, ch <-chan T) T {
	t.Helper()
	d := Timeout()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		t.Fatalf("timed out after %s waiting for %s", round(d), what)
		var zero T
		return zero
	}
}

// Quiet fails the test if ch holds a value, or is closed, right now; it does not wait.
// It checks that something has not happened yet, once a signal said it could have.
func Quiet[T any](t testing.TB, what string, ch <-chan T) {
	t.Helper()
	select {
	case v, ok := <-ch:
		if !ok {
			t.Fatalf("%s: the channel is closed, want nothing yet", what)
		}
		t.Fatalf("%s: received %+v, want nothing yet", what, v)
	default:
	}
}

// round shortens a bound for a message: 873.412ms reads 873ms.
func round(d time.Duration) time.Duration {
	if d >= time.Millisecond {
		return d.Round(time.Millisecond)
	}
	return d
}
