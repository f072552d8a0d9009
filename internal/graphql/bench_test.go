package graphql_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/heraldhq/herald/internal/api"
	"github.com/heraldhq/herald/internal/graphql"
	"github.com/heraldhq/herald/internal/testenv"
)

// benchMutation is the seed's mutation as the bench program sends it.
const benchMutation = `mutation SendCustomEvent($input: SendCustomEventInput!) { sendCustomEvent(input: $input) { success workflows { type id runID } } }`

// BenchmarkPush pushes the same event through the REST handler (POST /api/v1/events) and
// the GraphQL handler (sendCustomEvent) on a SQLite engine, and reports the CPU time per
// event: on a shared machine it is a steadier figure than the wall time.
//
// Parallel: 64 producers at a time, as the bench program's graphql scenario; cpu-ns/op is
// the whole process's CPU time per event (handlers, group commit, SQLite, GC).
//
// Serial: one producer on a locked OS thread; handler-cpu-ns/op is that thread's CPU time
// per event, the request's own cost (decoding, GraphQL execution, validation, the answer,
// GC assists) without the commit, which another goroutine does.
//
// Each run starts its own engine; run it with a fixed count, e.g.
//
//	go test -run '^$' -bench Push -benchtime 3000x -count 6 ./internal/graphql
func BenchmarkPush(b *testing.B) {
	for _, mode := range []string{"Parallel", "Serial"} {
		b.Run(mode+"/REST", func(b *testing.B) {
			benchPush(b, mode == "Serial", "/api/v1/events", func(h http.Handler, i int) {
				body := []byte(`{"key":"bench:graphql","payload":{"id":"item-` + strconv.Itoa(i) + `","data":{"seq":` + strconv.Itoa(i) + `}}}`)
				rec := serve(h, "/api/v1/events", body)
				if rec.Code != http.StatusCreated {
					b.Fatalf("REST push: %d %s", rec.Code, rec.Body)
				}
			})
		})
		b.Run(mode+"/GraphQL", func(b *testing.B) {
			benchPush(b, mode == "Serial", "/graphql", func(h http.Handler, i int) {
				body := []byte(`{"query":"` + benchMutation + `","variables":{"input":{"type":"bench","operation":"graphql","payload":{"id":"item-` +
					strconv.Itoa(i) + `","data":{"seq":` + strconv.Itoa(i) + `}}}}}`)
				rec := serve(h, "/graphql", body)
				if rec.Code != http.StatusOK || !bytes.HasPrefix(rec.Body.Bytes(), []byte(`{"data":{"sendCustomEvent":{"success":true,"workflows":[{`)) {
					b.Fatalf("sendCustomEvent: %d %s", rec.Code, rec.Body)
				}
			})
		})
	}
}

// token is the bearer token of serve's requests, set by benchPush.
var token string

func serve(h http.Handler, path string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// benchPush runs push b.N times, from 64 goroutines or from one on a locked thread,
// against a fresh engine with one workflow listening to bench:graphql.
func benchPush(b *testing.B, serial bool, path string, push func(h http.Handler, i int)) {
	env := testenv.StartWith(b, testenv.Options{})
	token = env.Token
	eng := env.Server.Engine()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	rest := api.New(eng, api.Config{Logger: quiet})
	var h http.Handler = rest
	if path == "/graphql" {
		h = graphql.New(eng, graphql.Config{Logger: quiet})
	}
	req := httptest.NewRequest("PUT", "/api/v1/workflows/bench", bytes.NewReader([]byte(
		`{"name":"bench","triggers":["bench:graphql"],"steps":[{"name":"act"}]}`)))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	rest.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("putting the workflow: %d %s", rec.Code, rec.Body)
	}
	for i := range 200 { // warm up: caches, the SQLite page cache
		push(h, -1-i)
	}
	b.ReportAllocs()
	if serial {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		cpu, thread := processCPU(), threadCPU()
		b.ResetTimer()
		for i := range b.N {
			push(h, i)
		}
		b.StopTimer()
		b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
		b.ReportMetric(float64(threadCPU()-thread)/float64(b.N), "handler-cpu-ns/op")
		return
	}
	var seq atomic.Int64
	b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
	cpu := processCPU()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			push(h, int(seq.Add(1)))
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
}
