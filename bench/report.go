package main

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// target is a goal a measurement is compared with.
type target struct {
	// Value is the goal, in the row's unit.
	Value float64
	// AtMost is true when lower is better (latencies): the row meets the goal when its
	// value is at most Value; otherwise it must be at least Value.
	AtMost bool
	// Equal is true when the value must be exactly Value (an invariant's count).
	Equal bool
}

// met reports whether v meets the target.
func (t target) met(v float64) bool {
	switch {
	case t.Equal:
		return v == t.Value
	case t.AtMost:
		return v <= t.Value
	}
	return v >= t.Value
}

// op is the target's comparison as printed.
func (t target) op() string {
	switch {
	case t.Equal:
		return "="
	case t.AtMost:
		return "≤"
	}
	return "≥"
}

// row is one line of the result table.
type row struct {
	// Scenario names the scenario that produced the row.
	Scenario string
	// Metric says what was measured.
	Metric string
	// Value is the measurement in Unit.
	Value float64
	// Unit is "ev/s", "runs/s", "ms", "cores", ….
	Unit string
	// Target is the goal, or nil for an informational row.
	Target *target
	// Note adds context (counts, errors).
	Note string
	// Invariant marks a row whose target is a correctness invariant, not a performance
	// goal: when it is not met, the run fails (non-zero exit).
	Invariant bool
}

// atLeast and atMost build targets.
func atLeast(v float64) *target {
	if v == 0 {
		return nil // no target for this store
	}
	return &target{Value: v}
}

func atMost(v float64) *target {
	if v == 0 {
		return nil
	}
	return &target{Value: v, AtMost: true}
}

// exactly is the target of a value that must equal v.
func exactly(v float64) *target { return &target{Value: v, Equal: true} }

// writeTable writes rows as a markdown table.
func writeTable(w io.Writer, rows []row) {
	fmt.Fprintln(w, "| scenario | metric | measured | target | result | notes |")
	fmt.Fprintln(w, "|---|---|--:|--:|---|---|")
	for _, r := range rows {
		tgt, res := "", ""
		if r.Target != nil {
			tgt = r.Target.op() + " " + formatValue(r.Target.Value, r.Unit)
			res = "met"
			if math.IsNaN(r.Value) || !r.Target.met(r.Value) {
				res = "**NOT met**"
			}
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", r.Scenario, r.Metric, formatValue(r.Value, r.Unit), tgt, res, r.Note)
	}
}

// failedInvariants returns the metrics of the invariant rows whose target is not met.
func failedInvariants(rows []row) []string {
	var out []string
	for _, r := range rows {
		if r.Invariant && r.Target != nil && (math.IsNaN(r.Value) || !r.Target.met(r.Value)) {
			out = append(out, r.Scenario+": "+r.Metric)
		}
	}
	return out
}

// formatValue prints v with a precision that suits its unit.
func formatValue(v float64, unit string) string {
	switch {
	case math.IsNaN(v):
		return "n/a"
	case unit == "ms":
		if v < 10 {
			return fmt.Sprintf("%.2f ms", v)
		}
		return fmt.Sprintf("%.1f ms", v)
	case unit == "cores":
		return fmt.Sprintf("%.2f cores", v)
	default:
		return strings.TrimSpace(thousands(int64(math.Round(v))) + " " + unit)
	}
}

// thousands formats n with comma separators: 12345 → "12,345".
func thousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// percentiles returns the q-quantiles (0 < q ≤ 1) of ds, nearest-rank, in milliseconds;
// NaN when ds is empty. ds is sorted in place.
func percentiles(ds []time.Duration, qs ...float64) []float64 {
	out := make([]float64, len(qs))
	if len(ds) == 0 {
		for i := range out {
			out[i] = math.NaN()
		}
		return out
	}
	slices.Sort(ds)
	for i, q := range qs {
		k := int(math.Ceil(q*float64(len(ds)))) - 1
		k = min(max(k, 0), len(ds)-1)
		out[i] = float64(ds[k]) / float64(time.Millisecond)
	}
	return out
}

// perSecond is n over d, per second.
func perSecond(n int, d time.Duration) float64 {
	if d <= 0 {
		return math.NaN()
	}
	return float64(n) / d.Seconds()
}

// medianRows merges the rows of repeated runs of one scenario, which have the same rows
// in the same order: each row takes the median value (the lower middle one for an even
// count) and the note of the run that produced it, plus every run's value.
func medianRows(reps [][]row) []row {
	if len(reps) == 0 {
		return nil
	}
	if len(reps) == 1 {
		return reps[0]
	}
	out := make([]row, len(reps[0]))
	for i := range reps[0] {
		runs := make([]row, 0, len(reps))
		for _, rs := range reps {
			if i < len(rs) {
				runs = append(runs, rs[i])
			}
		}
		vals := make([]string, len(runs))
		for j, r := range runs {
			vals[j] = formatValue(r.Value, r.Unit)
		}
		sorted := slices.Clone(runs)
		slices.SortStableFunc(sorted, func(a, b row) int { return cmpNaNLast(a.Value, b.Value) })
		med := sorted[(len(sorted)-1)/2]
		med.Note = strings.TrimPrefix(med.Note+"; ", "; ") + fmt.Sprintf("median of %d runs: %s", len(runs), strings.Join(vals, ", "))
		out[i] = med
	}
	return out
}

// cmpNaNLast compares floats, NaN after every number.
func cmpNaNLast(a, b float64) int {
	switch {
	case math.IsNaN(a) && math.IsNaN(b):
		return 0
	case math.IsNaN(a):
		return 1
	case math.IsNaN(b):
		return -1
	}
	return cmp.Compare(a, b)
}
