package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/server"
	"github.com/heraldhq/herald/internal/testenv"
)

// readTimeout is the bound these tests set: small, so that nothing waits for the default.
const readTimeout = 500 * time.Millisecond

// dribble is how a slow client sends: one byte every dribbleGap, for far longer than
// readTimeout in all (200 bytes take 4 s), so that only the bound can end the request early.
const dribbleGap = 20 * time.Millisecond

// slowRequest sends head at once, then body one byte at a time, and returns the server's
// response, or nil when the server closed the connection without one. sentAll reports
// whether the whole body went out (false: the server cut the client off first).
func slowRequest(t *testing.T, addr, head string, body []byte) (res *http.Response, resBody []byte, sentAll bool) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	sent := make(chan bool, 1)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(dribbleGap)
		defer tick.Stop()
		for i := range body {
			select {
			case <-stop:
				sent <- false
				return
			case <-tick.C:
			}
			if _, err := conn.Write(body[i : i+1]); err != nil {
				sent <- false
				return
			}
		}
		sent <- true
	}()
	// A safety net for a broken server, far above both the bound and the dribble.
	_ = conn.SetReadDeadline(time.Now().Add(time.Minute))
	res, err = http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "reset") {
			return nil, nil, <-sent
		}
		t.Fatalf("reading the response: %v", err)
	}
	resBody, _ = io.ReadAll(res.Body)
	res.Body.Close()
	// The response came: learn whether everything had gone out before it.
	select {
	case sentAll = <-sent:
	default:
		sentAll = false
	}
	return res, resBody, sentAll
}

// TestReadTimeoutCutsOffSlowClients: with --read-timeout, a client that sends its body (or
// its headers) too slowly is cut off at the bound on every route, the unauthenticated
// webhook URL included, and nothing is stored; a worker's long poll, whose wait is
// response time, runs past the bound, and a bulk push sent at once still works.
func TestReadTimeoutCutsOffSlowClients(t *testing.T) {
	t.Parallel()
	for _, st := range []string{"sqlite", "postgres"} {
		t.Run(st, func(t *testing.T) {
			t.Parallel()
			o := testenv.Options{ReadTimeout: readTimeout}
			if st == "postgres" {
				o.DatabaseURL = pgtest.NewDatabase(t)
			}
			env := testenv.StartWith(t, o)
			addr := strings.TrimPrefix(env.URL, "http://")
			c := newRaw(env.URL, env.Token)
			ctx := context.Background()

			// An event whose body arrives slower than the bound: 408, nothing stored.
			body := []byte(fmt.Sprintf(`{"key":"slow","payload":{"pad":%q}}`, strings.Repeat("x", 160)))
			head := fmt.Sprintf("POST /api/v1/events HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", addr, env.Token, len(body))
			res, rb, sentAll := slowRequest(t, addr, head, body)
			if res == nil || res.StatusCode != http.StatusRequestTimeout || sentAll {
				t.Fatalf("slow event body: response %v %s (whole body sent: %v), want 408 before the body was sent", status(res), rb, sentAll)
			}
			var e struct {
				Error struct{ Code, Message string }
			}
			if err := json.Unmarshal(rb, &e); err != nil || e.Error.Code != "request_timeout" || e.Error.Message == "" {
				t.Fatalf("slow event body: error body %s, want code request_timeout", rb)
			}
			if r, err := c.do(ctx, "GET", "/events?key=slow", nil); err != nil || r.status != 200 || bytes.Contains(r.body, []byte(`"slow"`)) {
				t.Fatalf("events after the refused push: %v %v, want none", r, err)
			}

			// The same on a webhook's receive URL, which needs no token; the delivery is
			// recorded as refused with 408.
			hook, err := c.do(ctx, "POST", "/webhooks", map[string]any{"name": "gh", "source": "github", "secret": "s3cret", "event_key_expression": "'gh:push'"})
			if err != nil || hook.status != 201 {
				t.Fatalf("creating a webhook: %v %v", hook, err)
			}
			var h struct{ URL string }
			if err := json.Unmarshal(hook.body, &h); err != nil {
				t.Fatal(err)
			}
			path := strings.TrimPrefix(h.URL, env.URL)
			head = fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nX-Hub-Signature-256: sha256=00\r\nContent-Length: %d\r\n\r\n", path, addr, len(body))
			res, rb, sentAll = slowRequest(t, addr, head, body)
			if res == nil || res.StatusCode != http.StatusRequestTimeout || sentAll {
				t.Fatalf("slow webhook delivery: response %v %s (whole body sent: %v), want 408 before the body was sent", status(res), rb, sentAll)
			}
			d, err := c.do(ctx, "GET", "/webhooks/gh/deliveries", nil)
			if err != nil || d.status != 200 || !bytes.Contains(d.body, []byte(`"status_code":408`)) || !bytes.Contains(d.body, []byte(`"outcome":"refused"`)) {
				t.Fatalf("deliveries: %v %v, want one refused with 408", d, err)
			}

			// Headers sent too slowly: the server closes the connection without reading on.
			res, _, sentAll = slowRequest(t, addr, "GET /healthz HTTP/1.1\r\nHost: "+addr+"\r\n", []byte("X-Slow: "+strings.Repeat("a", 192)))
			if res != nil || sentAll {
				t.Fatalf("slow headers: response %v (all sent: %v), want the connection closed first", status(res), sentAll)
			}

			// A long poll waits its whole wait, four times the bound: the wait is response
			// time, not time to read the request.
			if r, err := c.do(ctx, "PUT", "/workflows/idle", map[string]any{"name": "idle", "triggers": []string{"never"}, "steps": []map[string]any{{"name": "s"}}}); err != nil || r.status != 200 {
				t.Fatalf("putting a workflow: %v %v", r, err)
			}
			w := mustRegisterRaw(t, c, "poller", "idle")
			start := time.Now()
			as, err := w.poll(ctx, 1, 4*readTimeout)
			if err != nil || len(as) != 0 {
				t.Fatalf("long poll: %v %v, want no assignment and no error", as, err)
			}
			if waited := time.Since(start); waited < 4*readTimeout {
				t.Fatalf("long poll ended after %s, before its wait of %s: cut off at the read timeout", waited, 4*readTimeout)
			}

			// A bulk push of 1 MiB sent at once is read within the bound and accepted,
			// however long its commit takes.
			evs := make([]map[string]any, 256)
			for i := range evs {
				evs[i] = map[string]any{"key": "bulk", "payload": map[string]any{"pad": strings.Repeat("y", 4000)}}
			}
			r, err := c.do(ctx, "POST", "/events/bulk", map[string]any{"events": evs})
			if err != nil || r.status != 201 {
				t.Fatalf("bulk push: %v %v, want 201", r, err)
			}
		})
	}
}

func status(res *http.Response) string {
	if res == nil {
		return "none"
	}
	return res.Status
}

func TestReadTimeoutValidation(t *testing.T) {
	t.Parallel()
	for _, d := range []time.Duration{0, 99 * time.Millisecond, 2 * time.Hour} {
		cfg := server.Defaults()
		cfg.ReadTimeout = d
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "read-timeout") {
			t.Errorf("ReadTimeout %s: Validate = %v, want an error naming read-timeout", d, err)
		}
	}
	if cfg := server.Defaults(); cfg.Validate() != nil || cfg.ReadTimeout != 30*time.Second {
		t.Errorf("default read timeout %s does not validate: %v", cfg.ReadTimeout, cfg.Validate())
	}
}

// TestMetricsListenerCutsOffSlowClients: the token-free listener of --metrics-addr has the
// main listener's bounds. It had only a fixed 10 s for headers and no read or idle bound,
// so a client trickling its headers held a connection past --read-timeout. (The store
// plays no part: SQLite only.)
func TestMetricsListenerCutsOffSlowClients(t *testing.T) {
	t.Parallel()
	env := testenv.StartWith(t, testenv.Options{ReadTimeout: readTimeout, MetricsAddr: "127.0.0.1:0"})
	u := env.Server.MetricsURL()
	addr := strings.TrimSuffix(strings.TrimPrefix(u, "http://"), "/metrics")

	// A whole request is served.
	res, rb, _ := slowRequest(t, addr, "GET /metrics HTTP/1.1\r\nHost: "+addr+"\r\nConnection: close\r\n\r\n", nil)
	if res == nil || res.StatusCode != http.StatusOK || !bytes.Contains(rb, []byte("herald_")) {
		t.Fatalf("GET /metrics: %v %.200s", status(res), rb)
	}
	// Headers that arrive slower than the bound (200 bytes at one per 20 ms, 4 s in all):
	// the connection is closed before they are all sent.
	res, _, sentAll := slowRequest(t, addr, "GET /metrics HTTP/1.1\r\nHost: "+addr+"\r\n", []byte("X-Slow: "+strings.Repeat("a", 192)))
	if res != nil || sentAll {
		t.Fatalf("slow headers on the metrics listener: response %v (all sent: %v), want the connection closed first", status(res), sentAll)
	}
}
