package main

import (
	"testing"
	"time"
)

func TestFmtSetting(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		0:                            "",
		500 * time.Millisecond:       "500ms",
		30 * time.Second:             "30s",
		time.Minute:                  "1m",
		90 * time.Second:             "1m30s",
		2 * time.Hour:                "2h",
		2*time.Hour + 30*time.Minute: "2h30m",
		2*time.Hour + 30*time.Second: "2h0m30s",
		24 * time.Hour:               "24h",
	} {
		if got := fmtSetting(d); got != want {
			t.Errorf("fmtSetting(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestFmtDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		-time.Second:                          "0s",
		1234567 * time.Nanosecond:             "1ms",
		1234 * time.Millisecond:               "1.2s",
		61*time.Second + 600*time.Millisecond: "1m2s",
	} {
		if got := fmtDuration(d); got != want {
			t.Errorf("fmtDuration(%s) = %q, want %q", d, got, want)
		}
	}
}
