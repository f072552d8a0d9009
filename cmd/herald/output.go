package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// table writes tab-separated rows aligned in columns.
type table struct {
	tw *tabwriter.Writer
}

// newTable starts a table on w with the given column headers (none for a
// key/value listing).
func newTable(w io.Writer, headers ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	if len(headers) > 0 {
		t.row(toAny(headers)...)
	}
	return t
}

// row writes one row; each cell is formatted with %v and "" shows as "-".
func (t *table) row(cells ...any) {
	parts := make([]string, len(cells))
	for i, c := range cells {
		s := cleanCell(fmt.Sprint(c))
		if s == "" {
			s = "-"
		}
		parts[i] = s
	}
	fmt.Fprintln(t.tw, strings.Join(parts, "\t"))
}

// flush writes the aligned table out.
func (t *table) flush() error {
	return t.tw.Flush()
}

// cleanCell keeps a cell on one line and out of the column separators.
func cleanCell(s string) string {
	return strings.NewReplacer("\t", " ", "\n", " ", "\r", " ").Replace(s)
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// timeLayout is how timestamps appear in tables (local time).
const timeLayout = "2006-01-02 15:04:05"

// fmtTime formats a timestamp for a table; the zero time shows as "".
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format(timeLayout)
}

// fmtTimePtr is fmtTime for an optional timestamp.
func fmtTimePtr(t *time.Time) string {
	if t == nil {
		return ""
	}
	return fmtTime(*t)
}

// fmtSpan renders the time between start and end; when end is unset the span
// is still growing and is measured to now and marked with "…".
func fmtSpan(start, end *time.Time, now time.Time) string {
	if start == nil || start.IsZero() {
		return ""
	}
	if end == nil || end.IsZero() {
		return fmtDuration(now.Sub(*start)) + "…"
	}
	return fmtDuration(end.Sub(*start))
}

// fmtDuration rounds d to a precision that suits its size.
func fmtDuration(d time.Duration) string {
	switch {
	case d < 0:
		d = 0
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// fmtSetting renders a configured duration such as a step timeout: "1m"
// rather than "1m0s"; zero shows as "" (the engine's default).
func fmtSetting(d time.Duration) string {
	if d == 0 {
		return ""
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// compactJSON renders a JSON value on one line; an empty value shows as "".
func compactJSON(v any) string {
	if raw, ok := v.(json.RawMessage); ok {
		if len(raw) == 0 {
			return ""
		}
		var b bytes.Buffer
		if err := json.Compact(&b, raw); err == nil {
			return b.String()
		}
		return string(raw)
	}
	if v == nil {
		return ""
	}
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(data)
}

// jsonPage is a page of a listing in the JSON shape of the HTTP API.
type jsonPage[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// pageJSON builds a jsonPage; an empty page has "items": [], not null.
func pageJSON[T any](items []T, next string) jsonPage[T] {
	if items == nil {
		items = []T{}
	}
	return jsonPage[T]{Items: items, NextCursor: next}
}

// printNextCursor tells the user how to get the next page, if any.
func printNextCursor(w io.Writer, cursor string) {
	if cursor != "" {
		fmt.Fprintf(w, "\nmore results: --cursor %s\n", cursor)
	}
}
