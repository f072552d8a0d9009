package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
)

// The double-lease check.
//
// A lease is the engine's promise that one worker alone may run a step-run attempt and
// report its result. The engine says so only in its replies, and each reply tells something
// it held at some instant between the request's sending and the reply's reading:
//
//   - a poll reply grants lease L with an expiry e: L is held from the grant (before the
//     reply was read) until e, unless released earlier;
//   - a heartbeat reply that does not list L's step-run as cancelled extended L to the
//     reply's lease_expires_at (never past the step's deadline);
//   - a complete or fail reply 200 accepted L's result: L was the step-run's current
//     lease when the result was written, after the request was sent, and that write
//     released L. A reply of 409 or another 4xx changed nothing; a request with no reply
//     (an error, or no reply recorded: the worker was killed while waiting for it) or a
//     5xx/429 may or may not have released L, at some time after it was sent.
//
// From these, each lease gets an interval during which the engine's own replies prove it
// held: from the moment its grant reply was read, to
//
//   - the sending of its accepted result, when one was accepted (the engine accepted it,
//     so no other lease of the step-run was granted before that write);
//   - otherwise the latest expiry announced for it, or the sending of a result whose
//     outcome is unknown, whichever is earlier.
//
// Two leases of one step-run whose intervals overlap were held at once: the engine granted
// one while its replies still promised the other, or accepted (extended, completed) one
// after it had granted the other. That is the violation the check counts. Re-executions are
// not: after a lease expired (the worker was killed, or the engine was down past the
// expiry) the step-run may be leased again and run twice, the first run's late result
// being refused with 409 — at-least-once delivery, fenced.
//
// The intervals are narrowed to what is certain (grants count from the reply, releases
// from the request), so the check reports only overlaps the replies prove, never one that
// the uncertainty of a request's timing could explain. Heartbeat replies announce the
// expiry at nanosecond precision while the stores keep milliseconds (SQLite) or
// microseconds (PostgreSQL), so their expiry counts 1 ms early. The engine and the workers
// read one clock: they run on the same machine.

// leaseExpiryTolerance is subtracted from heartbeat expiries (see above).
const leaseExpiryTolerance int64 = 1e6 // 1 ms in ns

// leaseSpan is what the records say about one lease.
type leaseSpan struct {
	StepRun, Lease, Worker string
	// File is the record file of the worker process that held it.
	File string
	// Asked is when the poll that granted it was sent; Granted when its reply was read.
	Asked, Granted int64
	// Promised is the latest expiry the engine announced for the lease, capped at the
	// step's Deadline.
	Promised, Deadline int64
	// Accepted is when the result the engine accepted was sent; 0 when none was.
	Accepted int64
	// MaybeReleased is when the earliest result of unknown outcome was sent; 0 when none.
	MaybeReleased int64
	// Grants counts the grants of this lease id (more than one is itself a violation).
	Grants int
	// AcceptedResults counts the results accepted (more than one is a violation);
	// Completed is set when one of them was a completion.
	AcceptedResults int
	Completed       bool
}

// held returns the interval [from, to) during which the lease was provably held.
func (s *leaseSpan) held() (from, to int64) {
	if s.Accepted != 0 {
		return s.Granted, s.Accepted
	}
	to = s.Promised
	if s.MaybeReleased != 0 && s.MaybeReleased < to {
		to = s.MaybeReleased
	}
	return s.Granted, to
}

// leaseOverlap is a pair of leases of one step-run held at once.
type leaseOverlap struct {
	A, B leaseSpan
	// Overlap is how long both were provably held, in ns.
	Overlap int64
}

// String describes the overlap for the report.
func (o leaseOverlap) String() string {
	af, at := o.A.held()
	bf, bt := o.B.held()
	return fmt.Sprintf("step-run %s: lease %s (worker %s, %s) held [%d, %d) and lease %s (worker %s, %s) held [%d, %d): %.3f ms at once",
		o.A.StepRun, o.A.Lease, o.A.Worker, filepath.Base(o.A.File), af, at, o.B.Lease, o.B.Worker, filepath.Base(o.B.File), bf, bt, float64(o.Overlap)/1e6)
}

// leaseCheck is the outcome of checking the worker records.
type leaseCheck struct {
	// Leases counts the leases granted; StepRuns the step-runs they were for.
	Leases, StepRuns int
	// Overlaps are the pairs of leases held at once.
	Overlaps []leaseOverlap
	// RegrantedLeases lists lease ids granted more than once.
	RegrantedLeases []string
	// Recompleted lists what shows a step-run finishing twice: a lease with two accepted
	// results, a step-run with two accepted completions, or one leased again after a
	// completion was accepted (the second lease was asked for after the first was granted,
	// so it came later: either the engine accepted a result of a lease it had replaced, or
	// it ran a finished step again).
	Recompleted []string
	// Refused counts the results refused with 409 (stale lease): late results of
	// re-leased steps.
	Refused int
	// Unknown counts the results whose outcome is unknown (no reply, 5xx, or the worker
	// killed before it recorded the reply).
	Unknown int
	// Executions counts step bodies that ran to their end; Rerun the attempts whose body
	// ran more than once (re-executions after a lost lease: at-least-once delivery).
	Executions, Rerun int
	// Revoked counts the leases a heartbeat reply said were no longer the worker's.
	Revoked int
	// Orphans counts heartbeat or result records naming a lease with no grant record.
	Orphans int
	// TornLines counts unreadable last lines of record files (a process killed mid-write).
	TornLines int
}

// violations is the number of double leases: overlapping pairs plus re-granted ids.
func (c *leaseCheck) violations() int { return len(c.Overlaps) + len(c.RegrantedLeases) }

// recordSource calls visit with every record of every worker process, file by file in
// a fixed order. The check reads the records twice, so a source must be repeatable.
type recordSource func(visit func(file string, r chaosRecord)) error

// fileRecords is the recordSource of record files, read line by line (a long run's files
// hold hundreds of megabytes). A torn last line (a process killed mid-write) is skipped
// and counted in *torn at each reading; a bad line elsewhere is an error.
func fileRecords(files []string, torn *int) recordSource {
	files = slices.Clone(files)
	sort.Strings(files)
	return func(visit func(string, chaosRecord)) error {
		*torn = 0
		for _, f := range files {
			if err := readRecordFile(f, torn, visit); err != nil {
				return err
			}
		}
		return nil
	}
}

func readRecordFile(path string, torn *int, visit func(string, chaosRecord)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	for line := 1; ; line++ {
		l, err := r.ReadBytes('\n')
		if err == io.EOF {
			if len(l) > 0 {
				*torn++ // written partly when the process died
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		var rec chaosRecord
		if err := json.Unmarshal(l, &rec); err != nil {
			return fmt.Errorf("%s:%d: %w", path, line, err)
		}
		visit(path, rec)
	}
}

// memRecords is the recordSource of records in memory, by file name.
func memRecords(byFile map[string][]chaosRecord) recordSource {
	files := slices.Sorted(maps.Keys(byFile))
	return func(visit func(string, chaosRecord)) error {
		for _, f := range files {
			for _, r := range byFile[f] {
				visit(f, r)
			}
		}
		return nil
	}
}

// checkLeases reads the record files and checks that no step-run was leased twice at once.
func checkLeases(files []string) (*leaseCheck, error) {
	c := &leaseCheck{}
	if err := checkRecords(c, fileRecords(files, &c.TornLines)); err != nil {
		return nil, err
	}
	return c, nil
}

// checkRecords fills c from the records of the worker processes.
func checkRecords(c *leaseCheck, src recordSource) error {
	spans := map[string]*leaseSpan{} // by lease id
	// Grants first, so that every later record finds its lease whatever the file order.
	err := src(func(f string, r chaosRecord) {
		if r.Kind != "grant" {
			return
		}
		if s, ok := spans[r.Lease]; ok {
			s.Grants++
			return
		}
		spans[r.Lease] = &leaseSpan{StepRun: r.StepRun, Lease: r.Lease, Worker: r.Worker, File: f, Asked: r.Sent, Granted: r.Received,
			Promised: min(r.Expires, r.Deadline), Deadline: r.Deadline, Grants: 1}
	})
	if err != nil {
		return err
	}
	execs := map[string]int{}
	// A report whose result was never recorded (its process was killed in between) has an
	// unknown outcome: it may have released the lease.
	unanswered := map[string]chaosRecord{} // by lease and sending time
	reportKey := func(r chaosRecord) string { return r.Lease + "/" + strconv.FormatInt(r.Sent, 10) }
	err = src(func(_ string, r chaosRecord) {
		switch r.Kind {
		case "report":
			unanswered[reportKey(r)] = r
		case "heartbeat":
			cancelled := map[string]bool{}
			for _, id := range r.Cancelled {
				cancelled[id] = true
			}
			c.Revoked += len(r.Cancelled)
			for _, l := range r.Leases {
				s := spans[l.Lease]
				if s == nil {
					c.Orphans++
					continue
				}
				if !cancelled[l.StepRun] {
					s.Promised = max(s.Promised, min(r.Expires-leaseExpiryTolerance, s.Deadline))
				}
			}
		case "result":
			delete(unanswered, reportKey(r))
			s := spans[r.Lease]
			if s == nil {
				c.Orphans++
				return
			}
			switch {
			case r.Status >= 200 && r.Status < 300:
				s.AcceptedResults++
				s.Completed = s.Completed || r.Action == "complete"
				if s.Accepted == 0 || r.Sent < s.Accepted {
					s.Accepted = r.Sent
				}
			case r.Status == 409:
				c.Refused++
			case r.Status == 0 || r.Status >= 500 || r.Status == 429:
				c.Unknown++
				if s.MaybeReleased == 0 || r.Sent < s.MaybeReleased {
					s.MaybeReleased = r.Sent
				}
			}
		case "exec":
			c.Executions++
			execs[r.StepRun+"/"+strconv.Itoa(r.Attempt)]++
		}
	})
	if err != nil {
		return err
	}
	for _, r := range unanswered {
		if s := spans[r.Lease]; s != nil {
			c.Unknown++
			if s.MaybeReleased == 0 || r.Sent < s.MaybeReleased {
				s.MaybeReleased = r.Sent
			}
		}
	}
	for _, n := range execs {
		if n > 1 {
			c.Rerun++
		}
	}
	// Group by step-run and compare every pair of its leases.
	byStep := map[string][]*leaseSpan{}
	for _, s := range spans {
		byStep[s.StepRun] = append(byStep[s.StepRun], s)
		if s.Grants > 1 {
			c.RegrantedLeases = append(c.RegrantedLeases, s.Lease)
		}
		if s.AcceptedResults > 1 {
			c.Recompleted = append(c.Recompleted, fmt.Sprintf("lease %s of step-run %s: %d results accepted", s.Lease, s.StepRun, s.AcceptedResults))
		}
	}
	c.Leases, c.StepRuns = len(spans), len(byStep)
	for _, ls := range byStep {
		slices.SortFunc(ls, func(a, b *leaseSpan) int {
			return cmp.Or(cmp.Compare(a.Granted, b.Granted), cmp.Compare(a.Lease, b.Lease))
		})
		completions := 0
		for i, a := range ls {
			if a.Completed {
				completions++
			}
			for _, b := range ls[i+1:] {
				af, at := a.held()
				bf, bt := b.held()
				if from, to := max(af, bf), min(at, bt); from < to {
					c.Overlaps = append(c.Overlaps, leaseOverlap{A: *a, B: *b, Overlap: to - from})
				}
			}
			for _, b := range ls {
				if a.Completed && b != a && b.Asked > a.Granted {
					c.Recompleted = append(c.Recompleted, fmt.Sprintf("step-run %s: lease %s completed it, and lease %s was granted after it (a stale result accepted, or a finished step leased again)",
						a.StepRun, a.Lease, b.Lease))
				}
			}
		}
		if completions > 1 {
			c.Recompleted = append(c.Recompleted, fmt.Sprintf("step-run %s: %d completions accepted", ls[0].StepRun, completions))
		}
	}
	sort.Strings(c.RegrantedLeases)
	sort.Strings(c.Recompleted)
	slices.SortFunc(c.Overlaps, func(a, b leaseOverlap) int {
		return cmp.Or(cmp.Compare(a.A.StepRun, b.A.StepRun), cmp.Compare(a.A.Lease, b.A.Lease))
	})
	return nil
}
