package testkit

import (
	"sync"
	"time"
)

// Clock is a clock a test sets, for an engine that reads the time from a clock it is given
// (its Now method is all such a clock needs). It is safe for concurrent use.
//
// Ids stay UUIDv7 of the wall clock, and stores bound an id's time by the row's creation
// time, so a test starts a Clock at time.Now() and only moves it forward.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock that reads start until it is moved.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d and returns its new time.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}
