//go:build !linux

package graphql_test

import "time"

// processCPU is unknown here: cpu-ns/op reads 0.
func processCPU() time.Duration { return 0 }

// threadCPU is unknown here: handler-cpu-ns/op reads 0.
func threadCPU() time.Duration { return 0 }
