package dashboard

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strings"
	"time"
)

// chart is a time series chart rendered server-side as inline SVG (no script, no library).
type chart struct {
	Title string
	// Note is a line under the title.
	Note   string
	Start  time.Time
	Bucket time.Duration
	N      int
	// Bars stacks the series as bars; otherwise they are lines.
	Bars bool
	// Integer keeps the axis' ticks whole numbers (counts).
	Integer bool
	Series  []series
	// Format renders a value on the axis and in tooltips.
	Format func(float64) string
}

// series is one labelled row of values, one per bucket; a negative value is "no data"
// (a gap in a line).
type series struct {
	Label  string
	Color  string
	Values []float64
}

// Chart geometry, in SVG user units.
const (
	chartW, chartH             = 720.0, 190.0
	padL, padR, padT, padB     = 52.0, 12.0, 10.0, 26.0
	plotW, plotH               = chartW - padL - padR, chartH - padT - padB
	gridLines                  = 4
	colorMuted, colorGrid      = "#6b7280", "#e5e7eb"
	colorAxisText, fontSizeSVG = "#4b5563", 11
)

// palette gives well-known labels stable colors.
var palette = map[string]string{
	"api": "#2563eb", "run": "#7c3aed", "webhook": "#0891b2", "replay": "#d97706",
	"succeeded": "#16a34a", "failed": "#dc2626", "cancelled": "#9ca3af", "running": "#2563eb", "queued": "#f59e0b",
	"p50": "#2563eb", "p95": "#d97706", "p99": "#dc2626",
}

var fallbackColors = []string{"#0d9488", "#db2777", "#65a30d", "#4f46e5", "#ea580c"}

func colorFor(label string, i int) string {
	if c, ok := palette[label]; ok {
		return c
	}
	return fallbackColors[i%len(fallbackColors)]
}

// niceMax rounds v up to 1, 2 or 5 times a power of ten.
func niceMax(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// Empty reports whether the chart has no data at all: no bar, no point of a line.
func (c chart) Empty() bool {
	for _, s := range c.Series {
		for _, v := range s.Values {
			if v > 0 || (!c.Bars && v == 0) {
				return false
			}
		}
	}
	return true
}

// SVG renders the chart.
func (c chart) SVG() template.HTML {
	format := c.Format
	if format == nil {
		format = func(v float64) string { return trimFloat(v) }
	}
	maxV := 0.0
	for i := 0; i < c.N; i++ {
		sum := 0.0
		for _, s := range c.Series {
			v := s.Values[i]
			if v < 0 {
				continue
			}
			if c.Bars {
				sum += v
			} else {
				sum = math.Max(sum, v)
			}
		}
		maxV = math.Max(maxV, sum)
	}
	step := niceMax(maxV / gridLines)
	if c.Integer && step < 1 {
		step = 1
	}
	top := step * gridLines
	y := func(v float64) float64 { return padT + plotH - v/top*plotH }
	slot := plotW / float64(c.N)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %g %g" role="img" aria-label="%s" preserveAspectRatio="xMidYMid meet">`,
		chartW, chartH, html.EscapeString(c.Title))
	// Grid and y axis labels.
	for i := 0; i <= gridLines; i++ {
		v := top * float64(i) / gridLines
		yy := y(v)
		fmt.Fprintf(&b, `<line x1="%g" x2="%g" y1="%.1f" y2="%.1f" stroke="%s" stroke-width="1"/>`, padL, chartW-padR, yy, yy, colorGrid)
		fmt.Fprintf(&b, `<text x="%g" y="%.1f" text-anchor="end" font-size="%d" fill="%s">%s</text>`,
			padL-6, yy+4, fontSizeSVG, colorAxisText, html.EscapeString(format(v)))
	}
	// X axis labels: about six, at bucket starts.
	labelEvery := max(1, c.N/6)
	for i := 0; i < c.N; i += labelEvery {
		t := c.Start.Add(time.Duration(i) * c.Bucket).UTC()
		label := t.Format("15:04")
		if c.Bucket >= time.Hour {
			label = t.Format("Jan 2 15:04")
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%g" text-anchor="middle" font-size="%d" fill="%s">%s</text>`,
			padL+slot*float64(i)+slot/2, chartH-8, fontSizeSVG, colorAxisText, label)
	}
	if c.Bars {
		for i := 0; i < c.N; i++ {
			base := 0.0
			t := c.Start.Add(time.Duration(i) * c.Bucket).UTC().Format("15:04")
			for _, s := range c.Series {
				v := s.Values[i]
				if v <= 0 {
					continue
				}
				x := padL + slot*float64(i) + slot*0.12
				fmt.Fprintf(&b, `<rect x="%.2f" y="%.2f" width="%.2f" height="%.2f" fill="%s"><title>%s %s: %s</title></rect>`,
					x, y(base+v), math.Max(slot*0.76, 0.8), y(base)-y(base+v), s.Color, t, html.EscapeString(s.Label), html.EscapeString(format(v)))
				base += v
			}
		}
	} else {
		// Draw the first series last, so that it is on top where lines overlap.
		for k := len(c.Series) - 1; k >= 0; k-- {
			s := c.Series[k]
			var pts []string
			flush := func() {
				if len(pts) == 1 {
					var px, py float64
					fmt.Sscanf(pts[0], "%g,%g", &px, &py)
					fmt.Fprintf(&b, `<circle cx="%g" cy="%g" r="2.5" fill="%s"/>`, px, py, s.Color)
				} else if len(pts) > 1 {
					fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2" stroke-linejoin="round"/>`,
						strings.Join(pts, " "), s.Color)
				}
				pts = pts[:0]
			}
			for i, v := range s.Values {
				if v < 0 {
					flush()
					continue
				}
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", padL+slot*float64(i)+slot/2, y(v)))
			}
			flush()
		}
	}
	fmt.Fprintf(&b, `<line x1="%g" x2="%g" y1="%g" y2="%g" stroke="%s" stroke-width="1"/>`, padL, chartW-padR, padT+plotH, padT+plotH, colorMuted)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// Legend renders the series' labels with their colors.
func (c chart) Legend() template.HTML {
	var b strings.Builder
	b.WriteString(`<ul class="legend">`)
	for _, s := range c.Series {
		fmt.Fprintf(&b, `<li><svg width="10" height="10" aria-hidden="true"><rect width="10" height="10" rx="2" fill="%s"/></svg> %s</li>`,
			s.Color, html.EscapeString(s.Label))
	}
	b.WriteString(`</ul>`)
	return template.HTML(b.String())
}

func trimFloat(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	s := fmt.Sprintf("%.2f", v)
	return strings.TrimRight(strings.TrimRight(s, "0"), ".")
}

// fmtMS renders a number of milliseconds as a duration.
func fmtMS(v float64) string {
	return fmtDuration(time.Duration(v * float64(time.Millisecond)))
}

func fmtPercent(v float64) string { return trimFloat(v) + "%" }
