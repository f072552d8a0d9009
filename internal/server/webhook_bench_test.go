//go:build unix

package server_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/internal/server"
)

// BenchmarkWebhookDeliveries measures verified webhook deliveries per second end to end:
// concurrent senders post GitHub-signed (HMAC-SHA256) 2 KiB JSON bodies over HTTP to an
// engine on the embedded store with the production defaults (synchronous=FULL); each
// delivery is verified, its key computed by a CEL expression, checked for a replay
// (X-GitHub-Delivery), and committed with the run it triggers and its delivery record.
//
//	go test -run '^$' -bench WebhookDeliveries -benchtime 20000x ./internal/server
//
// HERALD_BENCH_SQLITE_SYNCHRONOUS=NORMAL measures without an fsync per commit.
func BenchmarkWebhookDeliveries(b *testing.B) {
	cfg := server.Defaults()
	cfg.DataDir = b.TempDir()
	cfg.Addr = "127.0.0.1:0"
	cfg.Logger = quietLogger()
	if sync := os.Getenv("HERALD_BENCH_SQLITE_SYNCHRONOUS"); sync != "" {
		cfg.SQLiteSynchronous = sync // NORMAL: commits survive a crash of the process, not power loss
	}
	srv, err := server.Open(b.Context(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	b.Cleanup(func() {
		_ = srv.Shutdown(b.Context())
		<-done
	})
	cl, err := herald.NewClient(herald.ClientConfig{URL: srv.URL(), Token: srv.AdminToken})
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := cl.PutWorkflow(b.Context(), herald.WorkflowDefinition{
		Name: "on-push", Triggers: []string{"github:push:main"}, Steps: []herald.StepDefinition{{Name: "build"}},
	}); err != nil {
		b.Fatal(err)
	}
	const secret = "bench-secret"
	w, err := cl.CreateWebhook(b.Context(), herald.WebhookParams{
		Name: "gh", Source: herald.WebhookGitHub, Secret: secret,
		EventKeyExpression: "'github:' + headers['x-github-event'] + ':' + input.ref.split('/')[2]",
	})
	if err != nil {
		b.Fatal(err)
	}
	body := benchBody(2048)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	sig := "sha256=" + hex.EncodeToString(m.Sum(nil))
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 256
	hc := &http.Client{Transport: tr}

	var seq atomic.Int64
	b.SetParallelism(32) // 32 senders per core
	b.ResetTimer()
	start, cpu0 := time.Now(), processCPU()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("POST", w.URL, strings.NewReader(string(body)))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-GitHub-Event", "push")
			req.Header.Set("X-GitHub-Delivery", "d-"+strconv.FormatInt(seq.Add(1), 10))
			req.Header.Set("X-Hub-Signature-256", sig)
			res, err := hc.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 200 {
				b.Errorf("delivery: status %d", res.StatusCode)
				return
			}
		}
	})
	elapsed, cpu := time.Since(start), processCPU()-cpu0
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "deliveries/s")
	// CPU per delivery (engine and senders together, as on one machine) tells the
	// throughput the 2 cores would give undisturbed, when other processes share them.
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/delivery")
}

// processCPU is the CPU time (user + system) this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchBody is a GitHub-push-like JSON body of about n bytes.
func benchBody(n int) []byte {
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
