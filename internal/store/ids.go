package store

import "time"

// TimeID returns the smallest UUIDv7 string of the millisecond of t. Every id of a row
// created by the engine at t or later sorts at or above it, so stores use it to bound
// scans by the primary key.
func TimeID(t time.Time) string {
	ms := t.UnixMilli()
	if ms < 0 {
		ms = 0
	}
	const hex = "0123456789abcdef"
	var b [12]byte
	for i := 11; i >= 0; i-- {
		b[i] = hex[ms&0xf]
		ms >>= 4
	}
	return string(b[:8]) + "-" + string(b[8:12]) + "-0000-0000-000000000000"
}

// ValidID reports whether s has the form of the ids Herald makes (NewID, TimeID): a UUID
// in lowercase hyphenated text. The PostgreSQL store keys events, runs and step-runs by
// uuid columns, so there a string of any other form names none of them.
func ValidID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return true
}
