package store

import (
	"testing"
	"time"
)

func TestValidID(t *testing.T) {
	for _, c := range []struct {
		id   string
		want bool
	}{
		{"01a20ae6-6a6a-74cd-a147-f0dd6907f63d", true},
		{TimeID(time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)), true},
		{"01A20AE6-6A6A-74CD-A147-F0DD6907F63D", false}, // Herald writes lowercase
		{"01a20ae66a6a74cda147f0dd6907f63d", false},
		{"{01a20ae6-6a6a-74cd-a147-f0dd6907f63d}", false},
		{"01a20ae6-6a6a-74cd-a147-f0dd6907f63g", false},
		{"01a20ae6x6a6a-74cd-a147-f0dd6907f63d", false},
		{"", false},
	} {
		if got := ValidID(c.id); got != c.want {
			t.Errorf("ValidID(%q) = %v, want %v", c.id, got, c.want)
		}
	}
}
