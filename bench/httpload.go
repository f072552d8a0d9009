package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// newHTTPClient returns a client whose transport keeps up to conns idle connections to
// the engine, so that a load generator with that many requests in flight never opens a
// connection twice. It has no overall timeout: callers bound requests with contexts.
func newHTTPClient(conns int) *http.Client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &http.Client{Transport: tr}
}

// loadClient sends pre-encoded requests to the engine's API as cheaply as net/http
// allows: the URL and the Authorization header are built once, replies are discarded.
type loadClient struct {
	hc   *http.Client
	base string // engine URL + "/api/v1"
	auth string // "Bearer <token>"
}

// newLoadClient returns a loadClient for the engine at baseURL with token.
func newLoadClient(hc *http.Client, baseURL, token string) *loadClient {
	return &loadClient{hc: hc, base: strings.TrimRight(baseURL, "/") + "/api/v1", auth: "Bearer " + token}
}

// apiStatusError is a non-2xx reply.
type apiStatusError struct {
	Status     int
	RetryAfter time.Duration
	Body       string
}

func (e *apiStatusError) Error() string {
	return fmt.Sprintf("HTTP %d: %s", e.Status, strings.TrimSpace(e.Body))
}

// temporary reports whether the engine asked to retry later (429 or 503).
func (e *apiStatusError) temporary() bool {
	return e.Status == http.StatusTooManyRequests || e.Status == http.StatusServiceUnavailable
}

// post sends body to path (relative to /api/v1) and discards a 2xx reply. A non-2xx
// reply is an *apiStatusError.
func (c *loadClient) post(ctx context.Context, path string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header["Authorization"] = []string{c.auth}
	req.Header["Content-Type"] = []string{"application/json"}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		_, err := io.Copy(io.Discard, resp.Body)
		return err
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	e := &apiStatusError{Status: resp.StatusCode, Body: string(b)}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	return e
}

// postRetrying is post, retried on 429 and 503 after the wait the engine asks for (at
// most maxWait). rejected counts the refused attempts.
func (c *loadClient) postRetrying(ctx context.Context, path string, body []byte, rejected *atomic.Int64) error {
	const maxWait = 100 * time.Millisecond
	for {
		err := c.post(ctx, path, body)
		se, ok := err.(*apiStatusError)
		if !ok || !se.temporary() {
			return err
		}
		rejected.Add(1)
		t := time.NewTimer(min(max(se.RetryAfter, time.Millisecond), maxWait))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (gave up retrying: %w)", err, ctx.Err())
		case <-t.C:
		}
	}
}

// countRuns counts the runs with status by paging GET /api/v1/runs?status=.
func (c *loadClient) countRuns(ctx context.Context, status string) (int, error) {
	n := 0
	cursor := ""
	for {
		u := c.base + "/runs?limit=500&status=" + status
		if cursor != "" {
			u += "&cursor=" + cursor
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return 0, err
		}
		req.Header["Authorization"] = []string{c.auth}
		resp, err := c.hc.Do(req)
		if err != nil {
			return 0, err
		}
		var page struct {
			Items      []json.RawMessage `json:"items"`
			NextCursor string            `json:"next_cursor"`
		}
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			return 0, &apiStatusError{Status: resp.StatusCode, Body: string(b)}
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			return 0, fmt.Errorf("decoding runs page: %w", err)
		}
		n += len(page.Items)
		if page.NextCursor == "" {
			return n, nil
		}
		cursor = page.NextCursor
	}
}

// eventBody returns the JSON body of one push of key with payload {"i": i}.
func eventBody(key string, i int) []byte {
	b := make([]byte, 0, 64)
	b = append(b, `{"key":"`...)
	b = append(b, key...)
	b = append(b, `","payload":{"i":`...)
	b = strconv.AppendInt(b, int64(i), 10)
	return append(b, `}}`...)
}

// bulkBody returns the JSON body of a bulk push of n events of key, numbered from first.
func bulkBody(key string, first, n int) []byte {
	b := make([]byte, 0, 16+n*48)
	b = append(b, `{"events":[`...)
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, eventBody(key, first+i)...)
	}
	return append(b, `]}`...)
}

// timedEventBody returns the body of one push of key whose payload carries its sequence
// number and the push time in Unix nanoseconds: {"seq": seq, "t_ns": tNS}.
func timedEventBody(dst []byte, key string, seq int, tNS int64) []byte {
	b := append(dst[:0], `{"key":"`...)
	b = append(b, key...)
	b = append(b, `","payload":{"seq":`...)
	b = strconv.AppendInt(b, int64(seq), 10)
	b = append(b, `,"t_ns":`...)
	b = strconv.AppendInt(b, tNS, 10)
	return append(b, `}}`...)
}
