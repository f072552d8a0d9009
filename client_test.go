package herald

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseAPIError(t *testing.T) {
	t.Parallel()
	h := http.Header{}
	h.Set("Retry-After", "2")
	e := parseAPIError(429, h, []byte(`{"error":{"code":"overloaded","message":"ingest queue full"}}`))
	if e.StatusCode != 429 || e.Code != "overloaded" || e.Message != "ingest queue full" || e.RetryAfter != 2*time.Second {
		t.Fatalf("parsed %+v", e)
	}
	if !e.temporary() {
		t.Error("429 is not temporary")
	}

	e = parseAPIError(400, nil, []byte(`{"error":{"code":"invalid_argument","message":"key must not be empty","field":"key"}}`))
	want := `HTTP 400 invalid_argument: key must not be empty (field "key")`
	if e.Error() != want {
		t.Fatalf("Error() = %q, want %q", e.Error(), want)
	}
	if e.temporary() {
		t.Error("400 is temporary")
	}

	// Not the documented shape: the text is kept as the message.
	e = parseAPIError(502, nil, []byte("  bad gateway\n"))
	if e.Code != "" || e.Message != "bad gateway" || e.Error() != "HTTP 502: bad gateway" {
		t.Fatalf("parsed %+v (%q)", e, e.Error())
	}
	e = parseAPIError(404, nil, nil)
	if e.Error() != "HTTP 404: Not Found" {
		t.Fatalf("Error() = %q", e.Error())
	}
	e = parseAPIError(500, nil, []byte(strings.Repeat("x", 2000)))
	if len(e.Message) > 600 {
		t.Fatalf("long body kept whole: %d bytes", len(e.Message))
	}

	// errors.As finds it through wrapping.
	var err error = fmt.Errorf("herald: pushing event: %w", parseAPIError(409, nil, []byte(`{"error":{"code":"conflict","message":"x"}}`)))
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Code != "conflict" {
		t.Fatalf("errors.As failed on %v", err)
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 18, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":                              0,
		"3":                             3 * time.Second,
		"0.5":                           500 * time.Millisecond,
		"0":                             0,
		"-4":                            0,
		"soon":                          0,
		"Mon, 23 Nov 2026 18:00:10 GMT": 10 * time.Second,
		"Mon, 23 Nov 2026 17:00:00 GMT": 0,
	} {
		if got := parseRetryAfter(v, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	for attempt := range 20 {
		d := backoff(attempt, 100*time.Millisecond, 5*time.Second)
		ceil := min(100*time.Millisecond<<min(attempt, 10), 5*time.Second)
		if d > ceil || d < ceil*8/10 {
			t.Errorf("backoff(%d) = %v, want in [%v, %v]", attempt, d, ceil*8/10, ceil)
		}
	}
}

func TestNewClient(t *testing.T) {
	t.Parallel()
	c, err := NewClient(ClientConfig{})
	if err != nil || c.URL() != DefaultURL {
		t.Fatalf("NewClient({}) = %v, %v", c, err)
	}
	c, err = NewClient(ClientConfig{URL: "https://herald.example.com/base/", Token: " t \n"})
	if err != nil || c.URL() != "https://herald.example.com/base" || c.token != "t" {
		t.Fatalf("NewClient = %+v, %v", c, err)
	}
	for _, bad := range []string{"127.0.0.1:7420", "ftp://x", "http://", "http://x/?a=b", "://"} {
		if _, err := NewClient(ClientConfig{URL: bad}); err == nil {
			t.Errorf("NewClient(%q) succeeded", bad)
		}
	}
}

// TestClientFromEnv changes the environment and the working directory, so it
// does not run in parallel.
func TestClientFromEnv(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("HERALD_URL", "")
	t.Setenv("HERALD_TOKEN", "")
	t.Setenv("HERALD_DATA_DIR", "")

	if _, err := ClientFromEnv(); err == nil || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "HERALD_TOKEN") {
		t.Fatalf("without a token: %v", err)
	}

	if err := os.MkdirAll(filepath.Join(dir, ".herald"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".herald", "token"), []byte("hrld_file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := ClientFromEnv()
	if err != nil || c.token != "hrld_file" || c.URL() != DefaultURL {
		t.Fatalf("from ./.herald/token: %+v, %v", c, err)
	}

	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "token"), []byte("hrld_datadir"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HERALD_DATA_DIR", other)
	if c, err = ClientFromEnv(); err != nil || c.token != "hrld_datadir" {
		t.Fatalf("from HERALD_DATA_DIR: %+v, %v", c, err)
	}

	t.Setenv("HERALD_TOKEN", "hrld_env")
	t.Setenv("HERALD_URL", "http://10.1.2.3:9000")
	if c, err = ClientFromEnv(); err != nil || c.token != "hrld_env" || c.URL() != "http://10.1.2.3:9000" {
		t.Fatalf("from the environment: %+v, %v", c, err)
	}
}

func TestPushRequestJSON(t *testing.T) {
	t.Parallel()
	b, err := pushBody(Event{Key: "k"}, "", "")
	if err != nil || string(b) != `{"key":"k"}` {
		t.Fatalf("bare event = %s, %v", b, err)
	}
	b, err = pushBody(Event{Key: "k", Payload: map[string]int{"n": 1}, AdditionalMetadata: map[string]any{"src": "x"}}, "r", "s")
	want := `{"key":"k","payload":{"n":1},"additional_metadata":{"src":"x"},"parent_run_id":"r","parent_step_run_id":"s"}`
	if err != nil || string(b) != want {
		t.Fatalf("event with lineage = %s, want %s (%v)", b, want, err)
	}
}

func TestPushRequestIdempotencyKeyJSON(t *testing.T) {
	t.Parallel()
	b, err := pushBody(Event{Key: "k", IdempotencyKey: "i-1"}, "", "")
	if want := `{"key":"k","idempotency_key":"i-1"}`; err != nil || string(b) != want {
		t.Fatalf("event with idempotency key = %s, want %s (%v)", b, want, err)
	}
}

// pushBody is the body Push (or a step's push, with runID and stepRunID) sends for ev.
func pushBody(ev Event, runID, stepRunID string) ([]byte, error) {
	req, err := eventPush(ev)
	if err != nil {
		return nil, err
	}
	req.ParentRunID, req.ParentStepRunID = runID, stepRunID
	return json.Marshal(req)
}

func TestRunDecodesInline(t *testing.T) {
	t.Parallel()
	in := `{"id":"r1","workflow":"w","version":2,"status":"running","event_id":"e1","input":{"a":1},"error":"",
		"created_at":"2026-11-23T18:37:00.123Z","started_at":"2026-11-23T18:37:01Z","finished_at":null,
		"steps":[{"id":"s1","name":"a","parents":[],"status":"succeeded","attempt":1,"max_attempts":3,
		"worker_id":"w1","output":{"ok":true},"error":"","queued_at":"2026-11-23T18:37:00Z","started_at":null,"finished_at":null}]}`
	var r Run
	if err := json.Unmarshal([]byte(in), &r); err != nil {
		t.Fatal(err)
	}
	if r.ID != "r1" || r.Version != 2 || r.StartedAt == nil || r.FinishedAt != nil || r.Done() {
		t.Fatalf("run = %+v", r.RunSummary)
	}
	s := r.Step("a")
	if s == nil || s.MaxAttempts != 3 || string(s.Output) != `{"ok":true}` || r.Step("zz") != nil {
		t.Fatalf("step = %+v", s)
	}
}

func TestTruncateUTF8(t *testing.T) {
	t.Parallel()
	if got := truncateUTF8("héllo", 2); got != "h" {
		t.Fatalf("truncateUTF8 split a rune: %q", got)
	}
	if got := truncateUTF8("abc", 5); got != "abc" {
		t.Fatalf("truncateUTF8 = %q", got)
	}
}
