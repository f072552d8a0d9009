package dashboard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"html/template"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"json":     jsonTree,
	"jsonText": jsonText,
	"time":     fmtTime,
	"ago":      ago,
	"dur":      fmtDuration,
	"between":  between,
	"short":    shortID,
	"query":    query,
	"join":     strings.Join,
	"plural": func(n int, one, many string) string {
		if n == 1 {
			return one
		}
		return many
	},
	"add": func(a, b int) int { return a + b },
	"ms":  func(v int64) time.Duration { return time.Duration(v) * time.Millisecond },
	"toggleArgs": func(w store.Workflow, csrf, back string) toggleData {
		return toggleData{W: w, CSRF: csrf, Back: back}
	},
}

// toggleData is what the active switch's template needs.
type toggleData struct {
	W    store.Workflow
	CSRF string
	Back string
}

// fmtTime renders a time as a <time> element: UTC text, localized by the page's script.
func fmtTime(v any) template.HTML {
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x
	case *time.Time:
		if x == nil {
			return template.HTML(`<span class="muted">—</span>`)
		}
		t = *x
	}
	if t.IsZero() {
		return template.HTML(`<span class="muted">—</span>`)
	}
	t = t.UTC()
	return template.HTML(fmt.Sprintf(`<time datetime="%s" title="%s">%s</time>`,
		t.Format(time.RFC3339Nano), t.Format("2006-01-02 15:04:05.000 UTC"), t.Format("2006-01-02 15:04:05 UTC")))
}

// ago is a rough age: "3s ago", "5m ago".
func ago(t time.Time) string {
	d := time.Since(t)
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

// fmtDuration renders a duration compactly: 850ms, 1.25s, 3m20s.
func fmtDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0"
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		s := strconv.FormatFloat(d.Seconds(), 'f', 2, 64)
		return strings.TrimRight(strings.TrimRight(s, "0"), ".") + "s"
	}
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0 && d < time.Hour:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.Round(time.Second).String()
}

// quote writes s as a JSON string without escaping HTML characters (the page escapes
// them).
func quote(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(buf.String(), "\n")
}

// between is the duration from a to b, "—" when either is missing.
func between(a, b *time.Time) string {
	if a == nil || b == nil {
		return "—"
	}
	return fmtDuration(b.Sub(*a))
}

func shortID(id string) string {
	if len(id) > 13 {
		return id[len(id)-12:]
	}
	return id
}

// query builds "?k=v&..." from pairs, skipping empty values.
func query(kv ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			q.Set(kv[i], kv[i+1])
		}
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// jsonText is JSON indented for a textarea.
func jsonText(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "{}"
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return string(raw)
	}
	return buf.String()
}

// maxTreeBytes is the largest JSON shown as a collapsible tree; larger is shown as text.
const maxTreeBytes = 256 << 10

// jsonTree renders JSON as nested <details> elements: collapsible without script, keys in
// their original order.
func jsonTree(raw json.RawMessage) template.HTML {
	if len(bytes.TrimSpace(raw)) == 0 {
		return template.HTML(`<span class="muted">none</span>`)
	}
	if len(raw) > maxTreeBytes {
		return template.HTML(`<pre class="json">` + html.EscapeString(jsonText(raw)) + `</pre>`)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	n, err := parseNode(dec)
	if err != nil {
		return template.HTML(`<pre class="json">` + html.EscapeString(string(raw)) + `</pre>`)
	}
	var b strings.Builder
	b.WriteString(`<div class="json">`)
	n.render(&b, "", 0)
	b.WriteString(`</div>`)
	return template.HTML(b.String())
}

type jnode struct {
	kind byte // o (object), a (array), s, n, b (true/false), z (null)
	text string
	keys []string
	kids []*jnode
}

func parseNode(dec *json.Decoder) (*jnode, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch v := tok.(type) {
	case json.Delim:
		n := &jnode{kind: 'a'}
		if v == '{' {
			n.kind = 'o'
		}
		for dec.More() {
			if n.kind == 'o' {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				n.keys = append(n.keys, k)
			}
			kid, err := parseNode(dec)
			if err != nil {
				return nil, err
			}
			n.kids = append(n.kids, kid)
		}
		if _, err := dec.Token(); err != nil {
			return nil, err
		}
		return n, nil
	case string:
		return &jnode{kind: 's', text: quote(v)}, nil
	case json.Number:
		return &jnode{kind: 'n', text: v.String()}, nil
	case bool:
		return &jnode{kind: 'b', text: strconv.FormatBool(v)}, nil
	case nil:
		return &jnode{kind: 'z', text: "null"}, nil
	}
	return nil, io.ErrUnexpectedEOF
}

func (n *jnode) render(b *strings.Builder, key string, depth int) {
	label := ""
	if key != "" {
		label = `<span class="jk">` + html.EscapeString(key) + `</span>: `
	}
	if n.kind != 'o' && n.kind != 'a' {
		fmt.Fprintf(b, `<div class="jl">%s<span class="jv j%c">%s</span></div>`, label, n.kind, html.EscapeString(n.text))
		return
	}
	open, close, unit := "{", "}", "key"
	if n.kind == 'a' {
		open, close, unit = "[", "]", "item"
	}
	if len(n.kids) == 0 {
		fmt.Fprintf(b, `<div class="jl">%s<span class="jp">%s%s</span></div>`, label, open, close)
		return
	}
	attr := ""
	if depth < 3 {
		attr = " open"
	}
	s := ""
	if len(n.kids) != 1 {
		s = "s"
	}
	fmt.Fprintf(b, `<details class="jnode"%s><summary>%s<span class="jp">%s</span><span class="jc"> %d %s%s </span><span class="jp jclose">%s</span></summary><div class="jbody">`,
		attr, label, open, len(n.kids), unit, s, close)
	for i, kid := range n.kids {
		k := ""
		if n.kind == 'o' {
			k = quote(n.keys[i])
		} else {
			k = strconv.Itoa(i)
		}
		kid.render(b, k, depth+1)
	}
	fmt.Fprintf(b, `</div><span class="jp">%s</span></details>`, close)
}
