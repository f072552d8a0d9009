package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// workerOps are the worker protocol's calls FuzzWorkerProtocol makes, by the fuzzed
// selector; {worker} is the target's registered worker, {step} a step-run.
var workerOps = []string{
	"/api/v1/workers",
	"/api/v1/workers/{worker}/poll",
	"/api/v1/workers/{worker}/heartbeat",
	"/api/v1/workers/{worker}/step-runs/{step}/complete",
	"/api/v1/workers/{worker}/step-runs/{step}/fail",
}

// assignment is what FuzzWorkerProtocol reads of a poll's assignment.
type assignment struct {
	StepRunID string `json:"step_run_id"`
	LeaseID   string `json:"lease_id"`
	RunID     string `json:"run_id"`
}

// FuzzWorkerProtocol sends arbitrary bodies to the worker protocol's calls: register, poll,
// heartbeat, complete and fail. With live set, the call is about a step the target's worker
// holds (an event is pushed and claimed first): "$LEASE" and "$STEP" in the body stand for
// its lease and step-run ids. A poll's client goes away after 30 ms, as a worker that stops
// waiting does. An accepted completion records its output (a JSON object, as sent), an
// accepted failure its message (UTF-8, at most 8 KiB); a refused report records nothing:
// the step is still the worker's to report.
func FuzzWorkerProtocol(f *testing.F) {
	for _, s := range []struct {
		op   uint8
		body string
		live bool
	}{
		{0, `{"name":"w1","workflows":["orders"],"slots":5}`, false},
		{0, `{"workflows":["orders","orders","big"]}`, false},
		{0, `{"workflows":["nope"]}`, false},
		{0, `{"workflows":[]}`, false},
		{0, `{"name":"a\u0000b","workflows":["orders"]}`, false},
		{0, `{"workflows":["orders"],"slots":1001}`, false},
		{0, `{"workflows":["orders"],"slots":-1}`, false},
		{0, `{"workflows":"orders"}`, false},
		{1, `{"max":1,"wait":"0s"}`, false},
		{1, `{"max":101}`, false},
		{1, `{"wait":"61s"}`, false},
		{1, `{"wait":"-1s"}`, false},
		{1, `{"wait":10}`, false},
		{1, `{"wait":"1h"}`, false},
		{1, ``, false},
		{1, `{"max":3,"wait":"5s"}`, true},
		{2, `{"step_runs":[{"step_run_id":"$STEP","lease_id":"$LEASE"}]}`, true},
		{2, `{"step_runs":[{"step_run_id":"$STEP","lease_id":"x"},{"step_run_id":"y","lease_id":"$LEASE"}]}`, true},
		{2, `{}`, false},
		{2, `{"step_runs":[{"step_run_id":"x","lease_id":"y"}]}`, false},
		{3, `{"lease_id":"$LEASE","output":{"sent":true,"n":[1,2.5,{"x":null}]}}`, true},
		{3, `{"lease_id":"$LEASE"}`, true},
		{3, `{"lease_id":"$LEASE","output":[1]}`, true},
		{3, `{"lease_id":"$LEASE","output":{"a":"\u0000"}}`, true},
		{3, `{"lease_id":"$LEASE","output":{"a":1e400}}`, true},
		{3, `{"lease_id":"x","output":{}}`, true},
		{3, `{"lease_id":"","output":{}}`, false},
		{3, `{"lease_id":"x"}`, false},
		{4, `{"lease_id":"$LEASE","error":"boom","retryable":false}`, true},
		{4, `{"lease_id":"$LEASE","error":"` + strings.Repeat("é", 5000) + `"}`, true},
		{4, "{\"lease_id\":\"$LEASE\",\"error\":\"a\\u0000b\xff\"}", true},
		{4, `{"lease_id":"$LEASE","retryable":"no"}`, true},
		{4, `{"lease_id":"x","error":"e"}`, false},
	} {
		f.Add(s.op, []byte(s.body), s.live)
	}
	fs := pushWorld(f)
	workers := map[*fuzzStore]string{}
	for i, r := range fs.setup(f, 201, "POST", "/api/v1/workers", `{"name":"fuzz","workflows":["orders"],"slots":1000}`) {
		var out struct{ ID string }
		if err := json.Unmarshal(r.body, &out); err != nil {
			f.Fatal(err)
		}
		workers[fs.stores[i]] = out.ID
	}
	f.Fuzz(func(t *testing.T, op uint8, body []byte, live bool) {
		path := workerOps[int(op)%len(workerOps)]
		held := map[*fuzzStore]assignment{}
		for _, s := range fs.stores {
			switch {
			case !live || strings.HasSuffix(path, "/workers"):
			case strings.HasSuffix(path, "/poll"):
				pushOrder(t, s) // something to claim
			default:
				held[s] = claim(t, s, workers[s])
			}
		}
		req := fuzzRequest{method: "POST", header: http.Header{"Content-Type": {"application/json"}}}
		req.pathOf = func(s *fuzzStore) string {
			step := held[s].StepRunID
			if step == "" {
				step = "0190a3e1-0000-7000-8000-000000000000"
			}
			return strings.NewReplacer("{worker}", workers[s], "{step}", step).Replace(path)
		}
		req.bodyOf = func(s *fuzzStore) []byte {
			return []byte(strings.NewReplacer("$LEASE", held[s].LeaseID, "$STEP", held[s].StepRunID).Replace(string(body)))
		}
		if strings.HasSuffix(path, "/poll") {
			req.ctx = func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(30*time.Millisecond, cancel)
				return ctx, cancel
			}
		}
		for _, r := range fs.do(t, req) {
			a := held[r.store]
			sent := req.bodyOf(r.store)
			switch {
			case strings.HasSuffix(path, "/poll") && r.status == http.StatusOK:
				var out struct{ Assignments []assignment }
				if err := json.Unmarshal(r.body, &out); err != nil {
					t.Fatal(err)
				}
				var max struct{ Max int }
				_ = json.Unmarshal(sent, &max)
				if max.Max == 0 { // absent or 0: the default, 1
					max.Max = 1
				}
				if len(out.Assignments) > max.Max {
					t.Fatalf("%s: %d assignments for max %d", r.store.name, len(out.Assignments), max.Max)
				}
				for _, x := range out.Assignments {
					finish(t, r.store, workers[r.store], x)
				}
			case a.StepRunID == "":
			case strings.HasSuffix(path, "/complete"):
				st := stepOf(t, r.store, a)
				if r.status != http.StatusOK {
					if st.Status != "running" || st.Output != nil {
						t.Fatalf("%s: a refused completion (%d) left the step %+v", r.store.name, r.status, st)
					}
					break
				}
				var in struct{ Output json.RawMessage }
				if err := json.Unmarshal(sent, &in); err != nil {
					t.Fatalf("%s: accepted %q: %v", r.store.name, sent, err)
				}
				if st.Status != "succeeded" || !sameJSON(st.Output, emptyOr(in.Output)) {
					t.Fatalf("%s: completed with %s, the step is %s with %s", r.store.name, in.Output, st.Status, st.Output)
				}
			case strings.HasSuffix(path, "/fail"):
				st := stepOf(t, r.store, a)
				if r.status != http.StatusOK {
					if st.Status != "running" || st.Error != "" {
						t.Fatalf("%s: a refused failure (%d) left the step %+v", r.store.name, r.status, st)
					}
					break
				}
				if st.Status == "running" || st.Status == "succeeded" || st.Error == "" || len(st.Error) > 8192 ||
					!utf8.ValidString(st.Error) || strings.ContainsRune(st.Error, 0) {
					t.Fatalf("%s: failed with %q, the step is %+v", r.store.name, sent, st)
				}
			case strings.HasSuffix(path, "/heartbeat") && r.status == http.StatusOK:
				var out struct{ Cancelled []string }
				if err := json.Unmarshal(r.body, &out); err != nil || out.Cancelled == nil {
					t.Fatalf("%s: %v: %s", r.store.name, err, r.body)
				}
				for _, id := range out.Cancelled {
					if !bytes.Contains(sent, []byte(id)) {
						t.Fatalf("%s: heartbeat of %q says %q is lost", r.store.name, sent, id)
					}
				}
			}
			if a.StepRunID != "" {
				finish(t, r.store, workers[r.store], a)
			}
		}
	})
}

// claim pushes an event for the worker's workflow and claims a step.
func claim(t *testing.T, s *fuzzStore, worker string) assignment {
	t.Helper()
	pushOrder(t, s)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		r := s.serve(context.Background(), fuzzRequest{method: "POST", path: "/api/v1/workers/" + worker + "/poll", body: []byte(`{"max":1,"wait":"1s"}`)})
		var out struct{ Assignments []assignment }
		if err := json.Unmarshal(r.body, &out); err != nil || r.status != http.StatusOK {
			t.Fatalf("%s: poll: %d %s", s.name, r.status, r.body)
		}
		if len(out.Assignments) > 0 {
			return out.Assignments[0]
		}
	}
	t.Fatalf("%s: no step to claim within 10s", s.name)
	return assignment{}
}

// pushOrder pushes an event that starts a run of workflow orders.
func pushOrder(t *testing.T, s *fuzzStore) {
	t.Helper()
	push := s.serve(context.Background(), fuzzRequest{method: "POST", path: "/api/v1/events", body: []byte(`{"key":"order:new","payload":{"n":1}}`)})
	if push.status != http.StatusCreated {
		t.Fatalf("%s: push: %d %s", s.name, push.status, push.body)
	}
}

// finish completes a held step, if it still is, so that steps do not pile up.
func finish(t *testing.T, s *fuzzStore, worker string, a assignment) {
	t.Helper()
	r := s.serve(context.Background(), fuzzRequest{method: "POST", path: fmt.Sprintf("/api/v1/workers/%s/step-runs/%s/complete", worker, a.StepRunID),
		body: []byte(fmt.Sprintf(`{"lease_id":%q}`, a.LeaseID))})
	if r.status != http.StatusOK && r.status != http.StatusConflict {
		t.Fatalf("%s: completing %s: %d %s", s.name, a.StepRunID, r.status, r.body)
	}
}

type stepState struct {
	Status string          `json:"status"`
	Output json.RawMessage `json:"output"`
	Error  string          `json:"error"`
}

// stepOf reads a held step's state.
func stepOf(t *testing.T, s *fuzzStore, a assignment) stepState {
	t.Helper()
	r := s.serve(context.Background(), fuzzRequest{method: "GET", path: "/api/v1/runs/" + a.RunID})
	var run struct {
		Steps []struct {
			ID string `json:"id"`
			stepState
		} `json:"steps"`
	}
	if err := json.Unmarshal(r.body, &run); err != nil || r.status != http.StatusOK {
		t.Fatalf("%s: run %s: %d %s", s.name, a.RunID, r.status, r.body)
	}
	for _, st := range run.Steps {
		if st.ID == a.StepRunID {
			return st.stepState
		}
	}
	t.Fatalf("%s: run %s has no step %s: %s", s.name, a.RunID, a.StepRunID, r.body)
	return stepState{}
}
