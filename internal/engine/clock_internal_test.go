package engine

import "time"

// now is the wall clock in the stores' precision, for tests that build rows by hand.
func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }
