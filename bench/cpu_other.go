//go:build !linux

package main

import "time"

// processCPU is not measured on this platform.
func processCPU() time.Duration { return 0 }

// machineCPU is not measured on this platform.
func machineCPU() time.Duration { return 0 }

// loadAverage is not known on this platform.
func loadAverage() string { return "" }
