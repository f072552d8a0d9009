package main

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
	"time"
)

// processCPU returns the CPU time (user + system) this process has used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// machineCPU returns the CPU time all processes of the machine have used so far (busy
// time summed over the cores, from /proc/stat), or 0 when unknown. Comparing it with
// processCPU tells how much other processes competed with the benchmark.
func machineCPU() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 8 || string(f[0]) != "cpu" {
		return 0
	}
	// user nice system idle iowait irq softirq steal …: busy = all but idle and iowait.
	var busy int64
	for i, s := range f[1:] {
		if i == 3 || i == 4 || i >= 8 {
			continue
		}
		v, err := strconv.ParseInt(string(s), 10, 64)
		if err != nil {
			return 0
		}
		busy += v
	}
	const clockTicks = 100 // USER_HZ, 100 on every Linux architecture Go supports
	return time.Duration(busy) * (time.Second / clockTicks)
}

// loadAverage returns the 1, 5 and 15 minute load averages from /proc/loadavg, or "".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := bytes.Fields(b)
	if len(f) < 3 {
		return ""
	}
	return string(bytes.Join(f[:3], []byte(" ")))
}
