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
// the GraphQL handler (sendCustomEvent) on a SQLite engine, 64 producers at a time as the
// bench program's graphql scenario does, and reports the process's CPU time per event
// (cpu-ns/op) besides the wall time: on a shared machine the CPU time is the steadier
// figure. Each run starts its own engine; run it with a fixed count, e.g.
//
//	go test -run '^$' -bench Push -benchtime 4000x -count 6 ./internal/graphql
func BenchmarkPush(b *testing.B) {
	b.Run("REST", func(b *testing.B) {
		benchPush(b, "/api/v1/events", func(h http.Handler, i int) {
			body := []byte(`{"key":"bench:graphql","payload":{"id":"item-` + strconv.Itoa(i) + `","data":{"seq":` + strconv.Itoa(i) + `}}}`)
			rec := serve(h, "/api/v1/events", body)
			if rec.Code != http.StatusCreated {
				b.Fatalf("REST push: %d %s", rec.Code, rec.Body)
			}
		})
	})
	b.Run("GraphQL", func(b *testing.B) {
		benchPush(b, "/graphql", func(h http.Handler, i int) {
			body := []byte(`{"query":"` + benchMutation + `","variables":{"input":{"type":"bench","operation":"graphql","payload":{"id":"item-` +
				strconv.Itoa(i) + `","data":{"seq":` + strconv.Itoa(i) + `}}}}}`)
			rec := serve(h, "/graphql", body)
			if rec.Code != http.StatusOK || !bytes.HasPrefix(rec.Body.Bytes(), []byte(`{"data":{"sendCustomEvent":{"success":true,"workflows":[{`)) {
				b.Fatalf("sendCustomEvent: %d %s", rec.Code, rec.Body)
			}
		})
	})
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

// benchPush runs push b.N times from 64 goroutines against a fresh engine with one
// workflow listening to bench:graphql.
func benchPush(b *testing.B, path string, push func(h http.Handler, i int)) {
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
	var seq atomic.Int64
	b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
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
