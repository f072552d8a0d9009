package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ms is a time in the tests' records: milliseconds from an arbitrary origin, in ns.
func ms(v float64) int64 { return int64(v * 1e6) }

func grant(worker, stepRun, lease string, asked, got, expires float64) chaosRecord {
	return chaosRecord{Kind: "grant", Worker: worker, StepRun: stepRun, Lease: lease, Sent: ms(asked), Received: ms(got),
		Expires: ms(expires), Deadline: ms(60_000), Attempt: 1}
}

func heartbeat(worker string, sent, got, expires float64, leases map[string]string, cancelled ...string) chaosRecord {
	r := chaosRecord{Kind: "heartbeat", Worker: worker, Sent: ms(sent), Received: ms(got), Expires: ms(expires), Cancelled: cancelled}
	for sr, l := range leases {
		r.Leases = append(r.Leases, leaseRecord{StepRun: sr, Lease: l})
	}
	return r
}

func result(worker, stepRun, lease, action string, sent float64, status int) chaosRecord {
	r := chaosRecord{Kind: "result", Worker: worker, StepRun: stepRun, Lease: lease, Action: action, Sent: ms(sent), Received: ms(sent + 1), Status: status}
	if status == 0 {
		r.Err = "connection refused"
	}
	return r
}

// TestLeaseCheck holds the double-lease check to its definition (chaos_check.go): two
// leases of a step-run count as held at once only when the engine's replies prove it.
func TestLeaseCheck(t *testing.T) {
	const sr = "sr-1"
	cases := []struct {
		name        string
		a, b        []chaosRecord // the records of two worker processes
		overlaps    int
		regranted   int
		recompleted int
	}{
		{
			name: "re-leased after the expiry of a killed worker's lease",
			a:    []chaosRecord{grant("A", sr, "L1", 0, 1, 3000)},
			b:    []chaosRecord{grant("B", sr, "L2", 2900, 3100, 6100), result("B", sr, "L2", "complete", 3120, 200)},
		},
		{
			name:     "re-leased before the expiry the grant announced",
			a:        []chaosRecord{grant("A", sr, "L1", 0, 1, 3000)},
			b:        []chaosRecord{grant("B", sr, "L2", 1900, 2000, 5000), result("B", sr, "L2", "complete", 2020, 200)},
			overlaps: 1,
		},
		{
			name:     "re-leased twice to one worker before the expiry",
			a:        []chaosRecord{grant("A", sr, "L1", 0, 1, 3000), grant("A", sr, "L2", 1000, 1001, 4000)},
			overlaps: 1,
		},
		{
			name: "re-leased before an expiry a heartbeat extended",
			a: []chaosRecord{grant("A", sr, "L1", 0, 1, 3000),
				heartbeat("A", 1000, 1002, 4000, map[string]string{sr: "L1"})},
			b:        []chaosRecord{grant("B", sr, "L2", 3400, 3500, 6500)},
			overlaps: 1,
		},
		{
			name: "a heartbeat that reported the lease lost extends nothing",
			a: []chaosRecord{grant("A", sr, "L1", 0, 1, 3000),
				heartbeat("A", 3200, 3202, 6200, map[string]string{sr: "L1"}, sr)},
			b: []chaosRecord{grant("B", sr, "L2", 3400, 3500, 6500)},
		},
		{
			name: "a heartbeat's expiry counts 1 ms early (the stores keep milliseconds)",
			a: []chaosRecord{grant("A", sr, "L1", 0, 1, 3000),
				heartbeat("A", 1000, 1002, 4000.5, map[string]string{sr: "L1"})},
			b: []chaosRecord{grant("B", sr, "L2", 3999.6, 3999.7, 7000)},
		},
		{
			name: "a heartbeat extends no further than the step's deadline",
			a: []chaosRecord{func() chaosRecord { g := grant("A", sr, "L1", 0, 1, 3000); g.Deadline = ms(3500); return g }(),
				heartbeat("A", 2000, 2002, 5000, map[string]string{sr: "L1"})},
			b: []chaosRecord{grant("B", sr, "L2", 3550, 3600, 6600)},
		},
		{
			name: "a failure accepted before the retry was granted",
			a:    []chaosRecord{grant("A", sr, "L1", 0, 1, 3000), result("A", sr, "L1", "fail", 500, 200)},
			b:    []chaosRecord{grant("B", sr, "L2", 550, 600, 3600), result("B", sr, "L2", "complete", 620, 200)},
		},
		{
			name:     "a result accepted after another lease was granted",
			a:        []chaosRecord{grant("A", sr, "L1", 0, 1, 3000), result("A", sr, "L1", "fail", 700, 200)},
			b:        []chaosRecord{grant("B", sr, "L2", 550, 600, 3600)},
			overlaps: 1,
		},
		{
			name: "a result without reply may have released the lease",
			a:    []chaosRecord{grant("A", sr, "L1", 0, 1, 3000), result("A", sr, "L1", "fail", 500, 0)},
			b:    []chaosRecord{grant("B", sr, "L2", 550, 600, 3600)},
		},
		{
			name: "a report whose worker was killed before the reply may have released it",
			a: []chaosRecord{grant("A", sr, "L1", 0, 1, 3000),
				{Kind: "report", Worker: "A", StepRun: sr, Lease: "L1", Action: "fail", Sent: ms(500)}},
			b: []chaosRecord{grant("B", sr, "L2", 550, 600, 3600)},
		},
		{
			name: "a report answered is not unanswered",
			a: []chaosRecord{grant("A", sr, "L1", 0, 1, 3000),
				{Kind: "report", Worker: "A", StepRun: sr, Lease: "L1", Action: "fail", Sent: ms(500)}, result("A", sr, "L1", "fail", 500, 409)},
			b:        []chaosRecord{grant("B", sr, "L2", 550, 600, 3600)},
			overlaps: 1,
		},
		{
			name: "a 503 may have released it too",
			a:    []chaosRecord{grant("A", sr, "L1", 0, 1, 3000), result("A", sr, "L1", "fail", 500, 503)},
			b:    []chaosRecord{grant("B", sr, "L2", 550, 600, 3600)},
		},
		{
			name:     "a refused result released nothing",
			a:        []chaosRecord{grant("A", sr, "L1", 0, 1, 3000), result("A", sr, "L1", "fail", 500, 409)},
			b:        []chaosRecord{grant("B", sr, "L2", 550, 600, 3600)},
			overlaps: 1,
		},
		{
			name: "a late result refused after the re-lease",
			a:    []chaosRecord{grant("A", sr, "L1", 0, 1, 3000), result("A", sr, "L1", "complete", 4000, 409)},
			b:    []chaosRecord{grant("B", sr, "L2", 3050, 3100, 6100), result("B", sr, "L2", "complete", 3120, 200)},
		},
		{
			name: "a stale completion accepted after the re-lease",
			a:    []chaosRecord{grant("A", sr, "L1", 0, 1, 3000), result("A", sr, "L1", "complete", 4000, 200)},
			b: []chaosRecord{grant("B", sr, "L2", 3050, 3100, 6100),
				heartbeat("B", 4100, 4101, 7100, map[string]string{sr: "L2"}, sr)},
			overlaps:    1,
			recompleted: 1,
		},
		{
			name:        "a completed step leased again",
			a:           []chaosRecord{grant("A", sr, "L1", 0, 1, 3000), result("A", sr, "L1", "complete", 100, 200)},
			b:           []chaosRecord{grant("B", sr, "L2", 200, 300, 3300), result("B", sr, "L2", "complete", 320, 200)},
			recompleted: 2, // leased after completing (L2 after L1), and two completions
		},
		{
			name:        "two results of one lease accepted",
			a:           []chaosRecord{grant("A", sr, "L1", 0, 1, 3000), result("A", sr, "L1", "complete", 100, 200), result("A", sr, "L1", "complete", 200, 200)},
			recompleted: 1,
		},
		{
			name:      "one lease granted twice",
			a:         []chaosRecord{grant("A", sr, "L1", 0, 1, 3000)},
			b:         []chaosRecord{grant("B", sr, "L1", 0, 2, 3000)},
			regranted: 1,
		},
		{
			name: "leases of other step-runs never conflict",
			a:    []chaosRecord{grant("A", "sr-1", "L1", 0, 1, 3000)},
			b:    []chaosRecord{grant("B", "sr-2", "L2", 0, 1, 3000)},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &leaseCheck{}
			if err := checkRecords(c, memRecords(map[string][]chaosRecord{"a.jsonl": tc.a, "b.jsonl": tc.b})); err != nil {
				t.Fatal(err)
			}
			if len(c.Overlaps) != tc.overlaps || len(c.RegrantedLeases) != tc.regranted || len(c.Recompleted) != tc.recompleted {
				t.Fatalf("overlaps %d (want %d), regranted %d (want %d), recompleted %d (want %d): %v %v %v",
					len(c.Overlaps), tc.overlaps, len(c.RegrantedLeases), tc.regranted, len(c.Recompleted), tc.recompleted,
					overlapStrings(c.Overlaps), c.RegrantedLeases, c.Recompleted)
			}
			if c.violations() != tc.overlaps+tc.regranted {
				t.Fatalf("violations %d", c.violations())
			}
		})
	}
}

// TestLeaseCheckCounts checks the informational counts: re-executions are counted per
// attempt (a retry after a failure is no re-execution), refusals and unknown outcomes.
func TestLeaseCheckCounts(t *testing.T) {
	exec := func(sr string, attempt int) chaosRecord {
		return chaosRecord{Kind: "exec", StepRun: sr, Attempt: attempt}
	}
	c := &leaseCheck{}
	err := checkRecords(c, memRecords(map[string][]chaosRecord{
		"a": {grant("A", "s1", "L1", 0, 1, 3000), exec("s1", 1), result("A", "s1", "L1", "fail", 10, 200),
			grant("A", "s1", "L2", 20, 21, 3021), exec("s1", 2), result("A", "s1", "L2", "complete", 30, 0),
			grant("A", "s2", "L3", 0, 1, 3000), exec("s2", 1), result("A", "s2", "L3", "complete", 4000, 409),
			heartbeat("A", 100, 101, 3100, map[string]string{"s9": "L9"})},
		"b": {grant("B", "s2", "L4", 3001, 3002, 6002), exec("s2", 1), result("B", "s2", "L4", "complete", 3010, 200)},
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Leases != 4 || c.StepRuns != 2 || c.Executions != 4 || c.Rerun != 1 || c.Refused != 1 || c.Unknown != 1 || c.Orphans != 1 || c.violations() != 0 {
		t.Fatalf("%+v", c)
	}
}

// TestReadRecordsSkipsATornLastLine: a process killed while writing leaves a partial last
// line, which is counted, not fatal; a bad line elsewhere is an error.
func TestReadRecordsSkipsATornLastLine(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.jsonl")
	body := `{"k":"grant","w":"A","sr":"s1","l":"L1","s":1,"r":2,"e":3000000000,"d":60000000000}` + "\n" + `{"k":"exec","sr":"s1"`
	if err := os.WriteFile(good, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := checkLeases([]string{good})
	if err != nil {
		t.Fatal(err)
	}
	if c.Leases != 1 || c.TornLines != 1 {
		t.Fatalf("%+v", c)
	}
	bad := filepath.Join(dir, "bad.jsonl")
	if err := os.WriteFile(bad, []byte("{oops\n"+body), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := checkLeases([]string{bad}); err == nil || !strings.Contains(err.Error(), "bad.jsonl:1") {
		t.Fatalf("err = %v", err)
	}
}
