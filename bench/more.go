package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/internal/dashboard"
)

// Targets of the webhook and dashboard scenarios.
const (
	targetWebhookPerSec = 3_000
	targetPageMS        = 200
	dashboardEvents     = 100_000
)

// runWebhook measures verified webhook deliveries per second: concurrent senders post
// GitHub-signed (HMAC-SHA256) 2 KiB JSON bodies; each delivery is verified on its raw
// bytes, its key computed by a CEL expression, checked for a replay (X-GitHub-Delivery),
// and committed with the run it triggers and its delivery record.
func (b *bench) runWebhook(ctx context.Context) ([]row, error) {
	eng, err := b.startEngine(ctx, "webhook")
	if err != nil {
		return nil, err
	}
	defer b.stopEngine(eng)
	cl, err := herald.NewClient(herald.ClientConfig{URL: eng.URL, Token: eng.Token})
	if err != nil {
		return nil, err
	}
	if _, _, err := cl.PutWorkflow(ctx, herald.WorkflowDefinition{
		Name: "on-push", Triggers: []string{"github:push:main"}, Steps: []herald.StepDefinition{{Name: "build"}},
	}); err != nil {
		return nil, err
	}
	const secret = "bench-secret"
	w, err := cl.CreateWebhook(ctx, herald.WebhookParams{
		Name: "gh", Source: herald.WebhookGitHub, Secret: secret,
		EventKeyExpression: "'github:' + headers['x-github-event'] + ':' + input.ref.split('/')[2]",
	})
	if err != nil {
		return nil, err
	}
	body := githubPushBody(2048)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	sig := "sha256=" + hex.EncodeToString(m.Sum(nil))
	conc := b.cfg.Concurrency
	hc := newHTTPClient(2 * conc)
	var seq atomic.Int64
	send := func(ctx context.Context, i int) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, strings.NewReader(string(body)))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-GitHub-Delivery", "d-"+strconv.FormatInt(seq.Add(1), 10))
		req.Header.Set("X-Hub-Signature-256", sig)
		res, err := hc.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("delivery: status %d", res.StatusCode)
		}
		return nil
	}
	if _, _, err := closedLoop(ctx, conc, 4*conc, 0, send); err != nil {
		return nil, fmt.Errorf("webhook warm-up: %w", err)
	}
	n := b.cfg.Events
	if n == 0 {
		n = defaultPushEvents
	}
	b.log.Info("webhook: running", "deliveries", n, "concurrency", conc)
	meas := startMeasure()
	sent, lats, err := closedLoop(ctx, conc, n, b.cfg.Duration, send)
	end := time.Now()
	if err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	elapsed := end.Sub(meas.start)
	p := percentiles(lats, 0.5, 0.99)
	return []row{
		{Scenario: "webhook", Metric: "verified deliveries/s", Value: perSecond(sent, elapsed), Unit: "del/s", Target: atLeast(targetWebhookPerSec),
			Note: fmt.Sprintf("%s deliveries, 2 KiB, HMAC-SHA256, CEL key, %d senders, %s", thousands(int64(sent)), conc, elapsed.Round(time.Millisecond))},
		{Scenario: "webhook", Metric: "delivery reply p50 / p99", Value: p[0], Unit: "ms", Note: fmt.Sprintf("p99 %s", formatValue(p[1], "ms"))},
		meas.cpuRow("webhook", end),
	}, nil
}

// githubPushBody is a GitHub-push-like JSON body of about n bytes.
func githubPushBody(n int) []byte {
	var sb strings.Builder
	sb.WriteString(`{"ref":"refs/heads/main","before":"9049f1265b7d61be4a8904a9a27120d2064dab3b","after":"0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c","repository":{"id":1296269,"full_name":"octocat/Hello-World"},"commits":[`)
	for i := 0; sb.Len() < n-120; i++ {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `{"id":"%040d","message":"Fix all the bugs (%d)","author":{"name":"Monalisa Octocat","email":"support@github.com"}}`, i, i)
	}
	sb.WriteString(`],"pusher":{"name":"octocat"}}`)
	return []byte(sb.String())
}

// runDashboard stores 100,000 events (with their runs) and times the dashboard's pages,
// signed in like a person: each page is fetched several times and its p50 and slowest
// time are reported against the 200 ms target.
func (b *bench) runDashboard(ctx context.Context) ([]row, error) {
	const key = "bench.dash"
	eng, err := b.startEngine(ctx, "dashboard")
	if err != nil {
		return nil, err
	}
	defer b.stopEngine(eng)
	if err := putWorkflow(ctx, eng, key); err != nil {
		return nil, err
	}
	lc := newLoadClient(newHTTPClient(8), eng.URL, eng.Token)
	var rejected atomic.Int64
	b.log.Info("dashboard: loading events", "events", dashboardEvents)
	reqs := dashboardEvents / 1000
	if _, _, err := closedLoop(ctx, 4, reqs, 0, func(ctx context.Context, i int) error {
		return lc.postRetrying(ctx, "/events/bulk", bulkBody(key, i*1000, 1000), &rejected)
	}); err != nil {
		return nil, fmt.Errorf("dashboard load: %w", err)
	}
	cl, err := herald.NewClient(herald.ClientConfig{URL: eng.URL, Token: eng.Token})
	if err != nil {
		return nil, err
	}
	page, err := cl.ListEvents(ctx, herald.ListEventsParams{Limit: 1})
	if err != nil || len(page.Items) == 0 {
		return nil, fmt.Errorf("dashboard: listing events: %v", err)
	}
	ev := page.Items[0]
	hc := &http.Client{Timeout: 30 * time.Second}
	if err := dashboard.SignIn(ctx, hc, eng.URL, eng.Token); err != nil {
		return nil, fmt.Errorf("dashboard: signing in: %w", err)
	}
	pages := []struct{ name, path string }{
		{"events", "/events"},
		{"events, key prefix filter", "/events?prefix=bench."},
		{"event page", "/events/" + ev.ID},
		{"runs", "/runs"},
		{"runs, status filter", "/runs?status=queued"},
		{"workflows", "/workflows"},
		{"metrics (last hour)", "/stats"},
	}
	var rows []row
	for _, pg := range pages {
		var ds []time.Duration
		for range 15 {
			start := time.Now()
			res, err := hc.Get(eng.URL + pg.path)
			if err != nil {
				return nil, fmt.Errorf("dashboard %s: %w", pg.path, err)
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				return nil, fmt.Errorf("dashboard %s: status %d", pg.path, res.StatusCode)
			}
			ds = append(ds, time.Since(start))
		}
		p := percentiles(ds, 0.5, 1)
		rows = append(rows, row{Scenario: "dashboard", Metric: pg.name + " p50", Value: p[0], Unit: "ms", Target: atMost(targetPageMS),
			Note: fmt.Sprintf("%s, %s events stored; slowest of 15: %s", pg.path, thousands(dashboardEvents), formatValue(p[1], "ms"))})
	}
	return rows, nil
}
