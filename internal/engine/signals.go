package engine

import "time"

// Clock tells the engine the time. The engine reads the time of the world (when an event
// was received, when a delayed event is due, when a lease ends) from its Config.Clock;
// tests give it one they move by hand instead of sleeping until a wall-clock moment.
// Durations the engine measures for itself (timers, metrics) stay on the wall clock.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
}

// wallClock is the default Clock.
type wallClock struct{}

// Now returns time.Now.
func (wallClock) Now() time.Time { return time.Now() }

// now is the engine's clock, in UTC and millisecond precision like the stores.
func (bs *base) now() time.Time { return bs.cfg.Clock.Now().UTC().Truncate(time.Millisecond) }

// Now returns the engine's time (its Config.Clock), in UTC and millisecond precision: what
// a relative time such as a push's delay counts from.
func (bs *base) Now() time.Time { return bs.now() }

// Signals lets a test wait for the engine's background work instead of sleeping: each
// duty sends on its channel when it has done one pass, and a poll sends when it found
// nothing to claim and waits. Give a NewSignals to Config.Signals before New; production
// leaves it nil. A send never blocks the engine: a signal nobody reads is dropped once the
// channel's buffer is full, so a test drains (Drain) before the action it then waits on.
type Signals struct {
	// Swept receives after each pass of the lease sweeper (SweepOnce from the loop).
	Swept chan struct{}
	// Delivered receives after each pass of the delayed-event delivery loop.
	Delivered chan struct{}
	// Relayed receives after each pass of the outbox relay.
	Relayed chan struct{}
	// Pruned receives after each pass of the retention duty.
	Pruned chan struct{}
	// Parked receives the worker's id each time a poll found nothing to claim and starts
	// waiting for a wake-up (its waiter is registered by then, so work pushed after the
	// signal wakes it).
	Parked chan string
}

// signalBuffer is how many signals of one kind wait unread before more are dropped.
const signalBuffer = 64

// NewSignals returns Signals whose channels are ready to receive.
func NewSignals() *Signals {
	return &Signals{
		Swept:     make(chan struct{}, signalBuffer),
		Delivered: make(chan struct{}, signalBuffer),
		Relayed:   make(chan struct{}, signalBuffer),
		Pruned:    make(chan struct{}, signalBuffer),
		Parked:    make(chan string, signalBuffer),
	}
}

// Drain discards the signals already sent on ch, so that the next receive is of a pass
// that starts after this call returns (or was running when it was called).
func Drain[T any](ch chan T) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// The duties and Poll call these; each is a no-op on nil Signals (production).
func (s *Signals) swept() {
	if s != nil {
		send(s.Swept, struct{}{})
	}
}

func (s *Signals) delivered() {
	if s != nil {
		send(s.Delivered, struct{}{})
	}
}

func (s *Signals) relayed() {
	if s != nil {
		send(s.Relayed, struct{}{})
	}
}

func (s *Signals) pruned() {
	if s != nil {
		send(s.Pruned, struct{}{})
	}
}

func (s *Signals) parked(workerID string) {
	if s != nil {
		send(s.Parked, workerID)
	}
}

// send sends v on ch without blocking: a full buffer drops the signal.
func send[T any](ch chan T, v T) {
	select {
	case ch <- v:
	default:
	}
}
