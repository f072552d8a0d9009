package engine

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/heraldhq/herald/internal/store"
)

// Errors the engine returns besides the store's sentinels.
var (
	// ErrOverloaded means the ingest queue is full: the caller should retry later (429).
	ErrOverloaded = errors.New("overloaded: ingest queue is full")
	// ErrPermission means the caller's token may not do this (403).
	ErrPermission = errors.New("permission denied")
	// ErrUnauthenticated means the token is missing, unknown or revoked (401).
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrClosed means the engine is shutting down (503).
	ErrClosed = errors.New("engine is shutting down")
)

// FieldError is bad input, naming the field to blame (400).
type FieldError struct {
	Field   string
	Message string
}

// Error implements error.
func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// MaxKeyLen is the longest event key, in bytes.
const MaxKeyLen = 255

// MaxNameLen is the longest workflow or step name, in bytes.
const MaxNameLen = 128

// ValidateKey checks an event key: 1–255 bytes of A-Z a-z 0-9 and . _ - : /.
func ValidateKey(field, key string) error {
	if key == "" {
		return fieldErr(field, "must not be empty")
	}
	if len(key) > MaxKeyLen {
		return fieldErr(field, "is %d bytes long; the limit is %d", len(key), MaxKeyLen)
	}
	for i := 0; i < len(key); i++ {
		if !keyByte(key[i]) {
			return fieldErr(field, "contains %q at byte %d; allowed are A-Z a-z 0-9 . _ - : /", key[i], i)
		}
	}
	return nil
}

// MaxScopeLen is the longest event or filter scope, in bytes.
const MaxScopeLen = MaxScopeBytes

// ValidateScope checks an event's scope: at most 1024 bytes of UTF-8 without control
// characters ("" is no scope). A webhook's scope expression may give any bytes (from a
// header), and PostgreSQL's text refuses what is not UTF-8.
func ValidateScope(field, scope string) error {
	if len(scope) > MaxScopeLen {
		return fieldErr(field, "is %d bytes long; the limit is %d", len(scope), MaxScopeLen)
	}
	if !utf8.ValidString(scope) {
		return fieldErr(field, "is not valid UTF-8")
	}
	for i := 0; i < len(scope); i++ {
		if scope[i] < 0x20 || scope[i] == 0x7f {
			return fieldErr(field, "contains a control character at byte %d", i)
		}
	}
	return nil
}

// CheckText checks text stored as it is (an expression, a webhook's username or signature
// prefix): UTF-8 without the character U+0000, which PostgreSQL's text cannot hold
// (SQLSTATE 22021, which answered 500 where SQLite stored it).
func CheckText(field, s string) error {
	if !utf8.ValidString(s) {
		return fieldErr(field, "is not valid UTF-8")
	}
	if i := strings.IndexByte(s, 0); i >= 0 {
		return fieldErr(field, "contains the character U+0000 at byte %d", i)
	}
	return nil
}

// ValidateTrigger checks a trigger: an event key, or a pattern that is an event key
// prefix followed by a final "*" ("user:*", or "*" alone for every key). A "*" anywhere
// else is refused.
func ValidateTrigger(field, key string) error {
	prefix, ok := strings.CutSuffix(key, "*")
	if !ok {
		return ValidateKey(field, key)
	}
	if len(key) > MaxKeyLen {
		return fieldErr(field, "is %d bytes long; the limit is %d", len(key), MaxKeyLen)
	}
	for i := 0; i < len(prefix); i++ {
		if prefix[i] == '*' {
			return fieldErr(field, "contains \"*\" at byte %d; a wildcard is allowed only as the last character", i)
		}
		if !keyByte(prefix[i]) {
			return fieldErr(field, "contains %q at byte %d; allowed are A-Z a-z 0-9 . _ - : / and a final *", prefix[i], i)
		}
	}
	return nil
}

func keyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == '_' || c == '-' || c == ':' || c == '/'
}

// Bounds of what one listing of events or runs accepts, through the API and the dashboard
// alike. A listing is one SQL statement, each metadata filter a term of it: about 500 made
// SQLite refuse the statement ("Expression tree is too large", a 500) where PostgreSQL ran
// it. Both stores take the same bounded filters; more is refused with 400 naming the field.
const (
	// MaxMetadataFilters is the most metadata filters one listing takes.
	MaxMetadataFilters = 20
	// MaxMetadataFilterValueLen is the longest value a metadata filter compares, in bytes.
	MaxMetadataFilterValueLen = 1024
)

// CheckMetadataFilter checks one metadata filter's value; field names the parameter it
// came in. A query's percent-escapes may decode to any byte, and PostgreSQL's text refuses
// what is not UTF-8 (as no stored metadata is anything else, such a value would match
// nothing).
func CheckMetadataFilter(field, name, value string) error {
	if len(value) > MaxMetadataFilterValueLen {
		return fieldErr(field, "the value compared with %q is %d bytes; the limit is %d", name, len(value), MaxMetadataFilterValueLen)
	}
	if !utf8.ValidString(name) || !utf8.ValidString(value) {
		return fieldErr(field, "the filter on %q is not valid UTF-8", name)
	}
	return nil
}

// CheckMetadataFilterCount refuses more than MaxMetadataFilters metadata filters in one
// listing; field names the parameter.
func CheckMetadataFilterCount(field string, n int) error {
	if n > MaxMetadataFilters {
		return fieldErr(field, "too many metadata filters: a listing takes at most %d", MaxMetadataFilters)
	}
	return nil
}

// ValidateName checks a workflow, step, token or tenant name: 1–128 bytes of
// A-Z a-z 0-9 . _ -.
func ValidateName(field, name string) error {
	if name == "" {
		return fieldErr(field, "must not be empty")
	}
	if len(name) > MaxNameLen {
		return fieldErr(field, "is %d bytes long; the limit is %d", len(name), MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fieldErr(field, "contains %q at byte %d; allowed are A-Z a-z 0-9 . _ -", c, i)
		}
	}
	return nil
}

// jsonObject checks that raw is a JSON object; empty means {}. It returns the compacted
// object.
func jsonObject(field string, raw json.RawMessage) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return json.RawMessage("{}"), nil
	}
	if raw[0] != '{' {
		return nil, fieldErr(field, "must be a JSON object")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, fieldErr(field, "is not valid JSON: %v", err)
	}
	if why := store.Unstorable(buf.Bytes()); why != "" {
		return nil, fieldErr(field, "%s", why)
	}
	return buf.Bytes(), nil
}

// metadataObject checks additional_metadata: an object of strings, numbers and booleans.
// It returns the object with each number in its canonical form (CanonicalNumber), a
// name given twice once (the last value, as JSON readers take it), and names in order.
func metadataObject(field string, raw json.RawMessage) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil || len(bytes.TrimSpace(raw[dec.InputOffset():])) > 0 {
		return nil, fieldErr(field, "must be a JSON object of strings, numbers and booleans")
	}
	if why := store.Unstorable(raw); why != "" {
		return nil, fieldErr(field, "%s", why)
	}
	// In name order, so that metadata with several bad values is always refused for the
	// same one.
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		switch v := m[k].(type) {
		case json.Number:
			m[k] = json.Number(CanonicalNumber(string(v)))
		case string, bool:
		default:
			return nil, fieldErr(field+"."+k, "must be a string, number or boolean")
		}
	}
	if len(m) == 0 {
		return nil, nil
	}
	out, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", field, err)
	}
	return out, nil
}

// CanonicalNumber writes a JSON number (within store.NumberInRange) as PostgreSQL's
// numeric does: in plain decimal, with as many digits after the point as it was written
// with once its exponent is applied, and no sign on zero (1e2 is 100, 1.50e1 is 15.0, 1e-2
// is 0.01, -0.0 is 0.0). Metadata is filtered by the text of its numbers
// (metadata[n]=100), and jsonb keeps them in this form: metadata is stored so on every
// store, so that a filter finds the same events on both.
func CanonicalNumber(n string) string {
	s, neg := strings.CutPrefix(n, "-")
	exp := 0
	if k := strings.IndexAny(s, "eE"); k >= 0 {
		exp, _ = strconv.Atoi(s[k+1:])
		s = s[:k]
	}
	intPart, frac, _ := strings.Cut(s, ".")
	digits := intPart + frac
	point := len(intPart) + exp // where the point goes in digits
	scale := max(0, len(frac)-exp)
	if point < 0 {
		digits, point = strings.Repeat("0", -point)+digits, 0
	}
	if len(digits) < point+scale {
		digits += strings.Repeat("0", point+scale-len(digits))
	}
	ip, fp := strings.TrimLeft(digits[:point], "0"), digits[point:]
	if ip == "" {
		ip = "0"
	}
	out := ip
	if scale > 0 {
		out += "." + fp
	}
	if neg && strings.Trim(digits, "0") != "" {
		out = "-" + out
	}
	return out
}

// MaxTriggers is the most triggers a workflow has: an event may be evaluated against
// each of them.
const MaxTriggers = 100

// Step defaults.
const (
	DefaultStepTimeout    = 60 * time.Second
	MaxStepTimeout        = 24 * time.Hour
	DefaultMaxAttempts    = 3
	DefaultInitialBackoff = time.Second
	DefaultMaxBackoff     = time.Minute
	DefaultMultiplier     = 2.0
)

// NormalizeWorkflow validates a workflow definition, applies defaults and returns it with
// the hash of its content (equal hashes: same version).
func NormalizeWorkflow(def store.WorkflowDef) (store.WorkflowDef, string, error) {
	if err := ValidateName("name", def.Name); err != nil {
		return def, "", err
	}
	if len(def.Description) > 4096 {
		return def, "", fieldErr("description", "is longer than 4096 bytes")
	}
	if len(def.Triggers) > MaxTriggers {
		// Every trigger whose key an event matches may be evaluated on it.
		return def, "", fieldErr("triggers", "a workflow has at most %d triggers, got %d", MaxTriggers, len(def.Triggers))
	}
	seenTrig := map[store.Trigger]bool{}
	trig := []store.Trigger{}
	for i, t := range def.Triggers {
		f := fmt.Sprintf("triggers[%d]", i)
		if t.Expression != "" {
			if err := ValidateTrigger(f+".key", t.Key); err != nil {
				return def, "", err
			}
			if err := CheckExpression(f+".expression", t.Expression); err != nil {
				return def, "", err
			}
		} else if err := ValidateTrigger(f, t.Key); err != nil {
			return def, "", err
		}
		if !seenTrig[t] {
			seenTrig[t] = true
			trig = append(trig, t)
		}
	}
	def.Triggers = trig
	if len(def.Steps) == 0 {
		return def, "", fieldErr("steps", "a workflow needs at least one step")
	}
	if len(def.Steps) > 500 {
		return def, "", fieldErr("steps", "a workflow has at most 500 steps")
	}
	idx := map[string]int{}
	for i, st := range def.Steps {
		f := fmt.Sprintf("steps[%d]", i)
		if err := ValidateName(f+".name", st.Name); err != nil {
			return def, "", err
		}
		if _, dup := idx[st.Name]; dup {
			return def, "", fieldErr(f+".name", "step %q is defined twice", st.Name)
		}
		idx[st.Name] = i
	}
	for i := range def.Steps {
		st := &def.Steps[i]
		f := fmt.Sprintf("steps[%d]", i)
		seen := map[string]bool{}
		for j, p := range st.Parents {
			if _, ok := idx[p]; !ok {
				return def, "", fieldErr(fmt.Sprintf("%s.parents[%d]", f, j), "unknown step %q", p)
			}
			if p == st.Name {
				return def, "", fieldErr(fmt.Sprintf("%s.parents[%d]", f, j), "a step cannot be its own parent")
			}
			if seen[p] {
				return def, "", fieldErr(fmt.Sprintf("%s.parents[%d]", f, j), "parent %q is listed twice", p)
			}
			seen[p] = true
		}
		if st.Parents == nil {
			st.Parents = []string{}
		}
		if st.TimeoutMS == 0 {
			st.TimeoutMS = DefaultStepTimeout.Milliseconds()
		}
		if st.TimeoutMS < time.Second.Milliseconds() || st.TimeoutMS > MaxStepTimeout.Milliseconds() {
			return def, "", fieldErr(f+".timeout", "must be between 1s and 24h")
		}
		r := &st.Retry
		if r.MaxAttempts == 0 {
			r.MaxAttempts = DefaultMaxAttempts
		}
		if r.MaxAttempts < 1 || r.MaxAttempts > 100 {
			return def, "", fieldErr(f+".retry.max_attempts", "must be between 1 and 100")
		}
		if r.InitialBackoffMS == 0 {
			r.InitialBackoffMS = DefaultInitialBackoff.Milliseconds()
		}
		if r.MaxBackoffMS == 0 {
			r.MaxBackoffMS = DefaultMaxBackoff.Milliseconds()
		}
		if r.InitialBackoffMS < 0 || r.MaxBackoffMS < r.InitialBackoffMS || r.MaxBackoffMS > (24*time.Hour).Milliseconds() {
			return def, "", fieldErr(f+".retry", "backoffs must satisfy 0 < initial_backoff <= max_backoff <= 24h")
		}
		if r.Multiplier == 0 {
			r.Multiplier = DefaultMultiplier
		}
		if r.Multiplier < 1 || r.Multiplier > 10 {
			return def, "", fieldErr(f+".retry.multiplier", "must be between 1 and 10")
		}
	}
	if cyc := findCycle(def.Steps, idx); cyc != "" {
		return def, "", fieldErr("steps", "the steps form a cycle through %q", cyc)
	}
	b, err := json.Marshal(def)
	if err != nil {
		return def, "", fmt.Errorf("encoding workflow: %w", err)
	}
	sum := sha256.Sum256(b)
	return def, hex.EncodeToString(sum[:]), nil
}

// findCycle returns a step on a cycle, or "".
func findCycle(steps []store.StepDef, idx map[string]int) string {
	const (
		white = iota
		grey
		black
	)
	color := make([]int, len(steps))
	var visit func(i int) string
	visit = func(i int) string {
		color[i] = grey
		for _, p := range steps[i].Parents {
			j := idx[p]
			switch color[j] {
			case grey:
				return steps[j].Name
			case white:
				if c := visit(j); c != "" {
					return c
				}
			}
		}
		color[i] = black
		return ""
	}
	for i := range steps {
		if color[i] == white {
			if c := visit(i); c != "" {
				return c
			}
		}
	}
	return ""
}
