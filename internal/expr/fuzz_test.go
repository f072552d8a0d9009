package expr

import (
	"encoding/json"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cel.dev/cel-go/cel"
)

// maxFuzzString is the size of the long string FuzzEval builds into each payload: about a
// full event body.
const maxFuzzString = 1 << 20

// FuzzEval compiles random expressions in the trigger and the webhook environments and
// evaluates those that compile over random payloads. A payload is the fuzzed JSON object
// (or the fuzzed bytes as `input.raw`) with `input.big`, piece repeated up to 1 MiB, and
// `input.items`, a list of up to 100,000 numbers, so that short inputs can stand for
// large bodies. Each evaluation must end (the fuzzer reports one that hangs; the deadline
// is 100 ms here), fail only with an *Error, and hold less than MaxEvalBytes of heap at
// any time (sampled while it runs, with the collector made eager so that the heap in use
// is close to what is live).
// The seed corpus (testdata/fuzz/FuzzEval) holds the amplifications that used to crash
// the process: replace of a string by itself, join and format of repeated strings, +
// chains, bytes() in a loop, list concatenation, deep equality of shared lists, regular
// expressions with huge programs.
func FuzzEval(f *testing.F) {
	// The bounds of production, but a shorter deadline: inputs that loop until it are
	// many, and each would cost the fuzzer a second.
	l := defaultLimits
	l.timeout = 100 * time.Millisecond
	trig, err := newEnv(cel.BoolType, l, triggerVars()...)
	if err != nil {
		f.Fatal(err)
	}
	hook, err := newEnv(cel.StringType, l, webhookVars()...)
	if err != nil {
		f.Fatal(err)
	}
	allItems := make([]any, 100_000)
	for i := range allItems {
		allItems[i] = float64(i % 10)
	}
	f.Add(`input.amount > 100`, []byte(`{"amount": 150}`), "", uint32(0))
	f.Add(`'stripe:' + input.type`, []byte(`{"type": "invoice.paid"}`), "", uint32(0))
	old := debug.SetGCPercent(25)
	f.Cleanup(func() { debug.SetGCPercent(old) })
	f.Fuzz(func(t *testing.T, src string, payload []byte, piece string, reps uint32) {
		input := map[string]any{}
		if err := json.Unmarshal(payload, &input); err != nil || input == nil {
			input = map[string]any{"raw": string(payload)}
		}
		if piece != "" {
			input["big"] = strings.Repeat(piece, int(min(reps, maxFuzzString))/len(piece)+1)[:min(int(reps), maxFuzzString)]
		}
		input["items"] = allItems[:min(int(reps), len(allItems))]
		headers := map[string]string{"x-piece": piece, "content-type": "application/json"}

		for _, env := range []*Env{trig, hook} {
			p, err := env.Compile(src)
			if err != nil {
				if !IsError(err) {
					t.Fatalf("Compile(%q) failed with %T: %v", src, err, err)
				}
				continue
			}
			var evalErr error
			peak := peakHeap(func() {
				if env == trig {
					_, evalErr = evalBool(p, event(input))
				} else {
					_, evalErr = evalString(p, map[string]any{"input": input, "headers": headers})
				}
			})
			if evalErr != nil && !IsError(evalErr) {
				t.Fatalf("%q failed with %T: %v", src, evalErr, evalErr)
			}
			if peak > MaxEvalBytes {
				t.Fatalf("%q held %s of heap; the bound is %s (error: %v)", src, bytesString(int64(peak)), bytesString(MaxEvalBytes), evalErr)
			}
		}
	})
}

// peakHeap runs f and returns by how much the heap in use grew at most meanwhile,
// sampled every 100 µs (an allocation that matters takes longer than that to fill).
func peakHeap(f func()) uint64 {
	const heap = "/memory/classes/heap/objects:bytes"
	read := func() uint64 {
		s := []metrics.Sample{{Name: heap}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	base := read()
	var peak atomic.Uint64
	note := func(v uint64) {
		for {
			p := peak.Load()
			if v <= p || peak.CompareAndSwap(p, v) {
				return
			}
		}
	}
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(100 * time.Microsecond)
		defer t.Stop()
		for {
			note(read())
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	f()
	close(stop)
	<-stopped
	note(read())
	if p := peak.Load(); p > base {
		return p - base
	}
	return 0
}
